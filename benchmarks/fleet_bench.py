# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet benchmark (not a test): buildfleet.mirrors.site on a 10-host lab against fact gathering alone.

The lab: nine build servers (bookworm, trixie, bookworm...) and the mirror
host, made by Molecule from the instance settings of the base configuration
(.config/molecule/config.yml, first platform), in a scenario generated under
.build/fleet-bench/. The runs go through an inventory repo laid out like
examples/ (ansible.cfg, inventory/hosts.yml, the demo's lab policy in
inventory/group_vars/build_servers.yml, site.yml importing
buildfleet.mirrors.site), all with the same forks:

1. facts: a playbook whose one task is ansible.builtin.setup (gather_subset
   all, what `gather_facts: true` does), and the same with gather_subset min
   (what the docker_mirrors role gathers);
2. site.yml, first run (applies the policy);
3. site.yml again, the no-op re-run (changed=0 expected).

Each timed run is a fresh ansible-playbook process; repeated runs report the
best. Prints wall times, the no-op/facts ratios and the tasks each host ran
(each task with an ok, changed or failed result for the host; skipped tasks
shown apart, and the PLAY RECAP's ok beside it, since ansible-core 2.19 counts
include statements there too), then the tasks that dominate the no-op run (one more run with
ansible.posix.profile_tasks, not timed). The collection's goal: a no-op
re-run <= 1.5x fact gathering; this step's (one writer task per role): <= 2.0x,
and <= 8 task results per host for the two roles (each later role adds at most two).

Holds the lab lock (/tmp/buildfleet-lab.lock) from start to end, and removes
every container it started, whatever happens.

    .venv/bin/python benchmarks/fleet_bench.py [--build-servers 9] [--forks 10] [--repeat 2]
    make bench-fleet BENCH_ARGS="--repeat 3"
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / ".config" / "molecule" / "config.yml"
LAB_ENV = REPO / "tests" / "images" / "lab.env"
DEMO_POLICY = REPO / "scripts" / "demo" / "inventory" / "group_vars" / "build_servers.yml"
PREPARE = REPO / "molecule" / "_shared" / "prepare_lab.yml"
WORK = REPO / ".build" / "fleet-bench"
SCENARIO = "fleet_bench"
LAB_LOCK = Path(os.environ.get("LAB_LOCK", "/tmp/buildfleet-lab.lock"))
SUITES = ("bookworm", "trixie")
GOAL_RATIO = 1.5       # the collection's goal
STEP_RATIO = 2.0       # with one writer task per role
GOAL_TASKS = 8         # task results per host of a no-op run of the two roles

ANSIBLE_CFG = """\
# The benchmark's inventory repo, like examples/ (forks given on the command line).
[defaults]
inventory = inventory/hosts.yml
stdout_callback = ansible.builtin.default
interpreter_python = auto_silent

[connection]
# The lab's hosts are containers (docker exec); on a real fleet, SSH pipelining.
pipelining = true
"""

FACTS_PLAYBOOK = """\
---
- name: Gather facts, nothing else (the baseline)
  hosts: build_servers
  gather_facts: false
  tasks:
    - name: Gather the facts
      ansible.builtin.setup:
        gather_subset: "{{ bench_gather_subset }}"
"""

SITE_PLAYBOOK = """\
---
- name: Enforce the package-mirror policy
  ansible.builtin.import_playbook: buildfleet.mirrors.site
"""


def log(message: str) -> None:
    print("fleet-bench: %s" % message, file=sys.stderr, flush=True)


def lab_env() -> dict[str, str]:
    values = {}
    for line in LAB_ENV.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(lab_env())
    env["PATH"] = "%s:%s" % (Path(sys.executable).parent, env.get("PATH", ""))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build" / "collections"))
    env.update(ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    return env


def _lock_timed_out(signum, frame):
    raise TimeoutError


@contextlib.contextmanager
def lab_lock(timeout: int):
    """Hold the lab's flock, as `flock -w timeout /tmp/buildfleet-lab.lock` does (a blocking wait, in line with the others)."""
    with open(LAB_LOCK, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("the lab is busy (%s is held); waiting up to %d s" % (LAB_LOCK, timeout))
            previous = signal.signal(signal.SIGALRM, _lock_timed_out)
            signal.alarm(timeout)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
            except TimeoutError:
                sys.exit("fleet-bench: the lab stayed busy for %d s" % timeout)
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
        yield


def build_server_names(count: int) -> list[str]:
    return ["buildfleet-bench-%02d" % number for number in range(1, count + 1)]


def write_lab(count: int) -> list[dict]:
    """The generated Molecule scenario and the inventory repo; returns the platforms."""
    instance = yaml.safe_load(BASE_CONFIG.read_text())["platforms"][0]  # the mirror host, with every instance setting
    platforms = [dict(instance)]
    for index, name in enumerate(build_server_names(count)):
        suite = SUITES[index % len(SUITES)]
        platforms.append(dict(instance, name=name, image="${BUILDFLEET_IMAGE_PREFIX}/debian:%s" % suite, groups=["build_servers"]))

    if WORK.exists():
        shutil.rmtree(WORK)
    scenario_dir = WORK / "molecule" / SCENARIO
    scenario_dir.mkdir(parents=True)
    molecule_yml = {
        "platforms": platforms,
        "provisioner": {"name": "ansible", "playbooks": {"prepare": str(PREPARE)}},
    }
    (scenario_dir / "molecule.yml").write_text(
        "---\n# Generated by benchmarks/fleet_bench.py from %s.\n" % BASE_CONFIG.relative_to(REPO)
        + yaml.safe_dump(molecule_yml, sort_keys=False)
    )

    (WORK / "inventory" / "group_vars").mkdir(parents=True)
    hosts = {"all": {"vars": {"ansible_connection": "community.docker.docker"},
                     "children": {"build_servers": {"hosts": {name: None for name in build_server_names(count)}}}}}
    (WORK / "inventory" / "hosts.yml").write_text("---\n" + yaml.safe_dump(hosts, sort_keys=False))
    shutil.copy(DEMO_POLICY, WORK / "inventory" / "group_vars" / "build_servers.yml")
    (WORK / "ansible.cfg").write_text(ANSIBLE_CFG)
    (WORK / "facts.yml").write_text(FACTS_PLAYBOOK)
    (WORK / "site.yml").write_text(SITE_PLAYBOOK)
    return platforms


def molecule(action: str, env: dict[str, str]) -> None:
    logfile = WORK / ("molecule-%s.log" % action)
    with open(logfile, "w", encoding="utf-8") as out:
        result = subprocess.run([str(Path(sys.executable).with_name("molecule")), "-c", str(BASE_CONFIG), action, "-s", SCENARIO],
                                cwd=WORK, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        sys.stderr.write(logfile.read_text()[-4000:])
        raise RuntimeError("molecule %s failed (log: %s)" % (action, logfile))


def remove_leftovers(platforms: list[dict]) -> None:
    """Whatever Molecule's destroy left: only the containers this benchmark defines, by name."""
    names = [platform["name"] for platform in platforms]
    found = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=False).stdout.split()
    leftovers = [name for name in names if name in found]
    if leftovers:
        log("removing containers that destroy left: %s" % " ".join(leftovers))
        subprocess.run(["docker", "rm", "--force", "--volumes", *leftovers], capture_output=True, check=False)


class Run:
    """One timed ansible-playbook run, its output and its PLAY RECAP."""

    def __init__(self, label: str, playbook: str, forks: int, env: dict[str, str], *options: str):
        command = [str(Path(sys.executable).with_name("ansible-playbook")), "--forks", str(forks), playbook, *options]
        started = time.monotonic()
        result = subprocess.run(command, cwd=WORK, env=env, capture_output=True, text=True, check=False)
        self.seconds = time.monotonic() - started
        self.label = label
        self.rc = result.returncode
        self.output = result.stdout + result.stderr
        (WORK / ("%s.log" % re.sub(r"\W+", "-", label).strip("-"))).write_text(self.output)
        self.recap = {
            host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
            for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", self.output, re.MULTILINE)
            if host != "localhost"
        }
        if self.rc != 0:
            sys.stderr.write(self.output[-3000:])
            raise RuntimeError("%s: ansible-playbook exited %d" % (label, self.rc))

    def recap_per_host(self) -> dict[str, int]:
        """The PLAY RECAP's ok (which counts the changed ones too) plus failed; ansible-core 2.19 counts every
        include_role and include_tasks statement that ran in ok as well."""
        return {host: counts["ok"] + counts["failed"] for host, counts in self.recap.items()}

    def tasks_per_host(self) -> dict[str, int]:
        """Tasks each host ran, from the output: one per TASK with an ok, changed or failed result for the host
        (an include statement says "included:", a skipped task "skipping:", and neither is counted)."""
        counts = {host: 0 for host in self.recap}
        for block in re.split(r"^TASK \[", self.output, flags=re.MULTILINE)[1:]:
            ran = set(re.findall(r"^(?:ok|changed|fatal|failed): \[([^\]]+)\]", block, re.MULTILINE))
            for host in ran & set(counts):
                counts[host] += 1
        return counts

    def counter(self, key: str) -> list[int]:
        return [counts[key] for counts in self.recap.values()]


def best(label: str, repeat: int, playbook: str, forks: int, env: dict[str, str], *options: str) -> Run:
    runs = [Run("%s #%d" % (label, number), playbook, forks, env, *options) for number in range(1, repeat + 1)]
    for run in runs:
        log("%-28s %6.1f s" % (run.label, run.seconds))
    return min(runs, key=lambda run: run.seconds)


def profile_noop(forks: int, env: dict[str, str]) -> list[tuple[str, float]]:
    """Every task of a no-op run with its wall time across the fleet, slowest first (ansible.posix.profile_tasks;
    one more run, not in the comparison)."""
    profiled = Run("site no-op, profiled", "site.yml", forks, dict(
        env, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
        PROFILE_TASKS_TASK_OUTPUT_LIMIT="all", PROFILE_TASKS_SUMMARY_ONLY="true"))
    summary = profiled.output.split("=" * 20, 1)[-1]
    return [(name.strip(), float(seconds)) for name, seconds in re.findall(r"^(.+?) -{2,} (\d+\.\d+)s$", summary, re.MULTILINE)]


def skipped_everywhere(run: Run) -> int:
    """Tasks of a run that every host skipped: no remote work, but still a round of the strategy."""
    count = 0
    for block in re.split(r"^TASK \[", run.output, flags=re.MULTILINE)[1:]:
        statuses = re.findall(r"^(ok|changed|skipping|fatal|failed|included):", block, re.MULTILINE)
        count += bool(statuses) and set(statuses) == {"skipping"}
    return count


def report(args, facts_all: Run, facts_min: Run, first: Run, noop: Run, tasks: list[tuple[str, float]]) -> dict:
    hosts = len(noop.recap)
    per_host = noop.tasks_per_host()
    figures = {
        "build_servers": hosts,
        "forks": args.forks,
        "seconds": {"facts_all": round(facts_all.seconds, 1), "facts_min": round(facts_min.seconds, 1),
                    "site_first_run": round(first.seconds, 1), "site_noop_rerun": round(noop.seconds, 1)},
        "ratio_noop_to_facts_all": round(noop.seconds / facts_all.seconds, 2),
        "ratio_noop_to_facts_min": round(noop.seconds / facts_min.seconds, 2),
        "tasks_per_host_noop": {"min": min(per_host.values()), "max": max(per_host.values()),
                                "mean": round(statistics.mean(per_host.values()), 1)},
        "recap_ok_per_host_noop": max(noop.recap_per_host().values()),
        "tasks_per_host_first_run": max(first.tasks_per_host().values()),
        "skipped_per_host_noop": max(noop.counter("skipped")),
        "changed_noop": sum(noop.counter("changed")),
        "changed_first_run_per_host": max(first.counter("changed")),
    }

    print()
    print("Fleet benchmark: %d build servers (%s) + the mirror host, forks=%d, best of %d runs each"
          % (hosts, "/".join(SUITES), args.forks, args.repeat))
    print()
    print("  %-44s %8s" % ("run", "wall (s)"))
    print("  %-44s %8.1f" % ("facts only, setup gather_subset=all", facts_all.seconds))
    print("  %-44s %8.1f" % ("facts only, setup gather_subset=min", facts_min.seconds))
    print("  %-44s %8.1f   changed per host: %d" % ("site.yml, first run", first.seconds, figures["changed_first_run_per_host"]))
    print("  %-44s %8.1f   changed in total: %d" % ("site.yml, no-op re-run", noop.seconds, figures["changed_noop"]))
    print()
    ratio_all, ratio_min = figures["ratio_noop_to_facts_all"], figures["ratio_noop_to_facts_min"]
    tasks_max = figures["tasks_per_host_noop"]["max"]
    for label, ratio in (("all", ratio_all), ("min", ratio_min)):
        print("  no-op re-run / facts (%s):  %5.2fx   step <= %.1fx: %s; goal <= %.1fx: %s"
              % (label, ratio, STEP_RATIO, "met" if ratio <= STEP_RATIO else "NOT met",
                 GOAL_RATIO, "met" if ratio <= GOAL_RATIO else "NOT met"))
    print("  tasks run per host, no-op:   %d to %d (mean %.1f; %d more skipped)   goal <= %d: %s"
          % (figures["tasks_per_host_noop"]["min"], tasks_max, figures["tasks_per_host_noop"]["mean"],
             figures["skipped_per_host_noop"], GOAL_TASKS, "met" if tasks_max <= GOAL_TASKS else "NOT met"))
    print("  PLAY RECAP ok per host, no-op: %d (include statements counted too)" % figures["recap_ok_per_host_noop"])
    print("  tasks run per host, first:   %d" % figures["tasks_per_host_first_run"])
    print("  facts only, tasks per host:  %d" % max(facts_all.tasks_per_host().values()))
    print("  no-op tasks skipped by every host: %d (each still one round of the strategy)" % skipped_everywhere(noop))
    if tasks:
        by_role: dict[str, list[float]] = {}
        for name, seconds in tasks:
            by_role.setdefault(name.split(" : ", 1)[0] if " : " in name else "site.yml itself", []).append(seconds)
        print()
        print("  Where the no-op re-run goes (profiled run: %.1f s over %d tasks, %.2f s per task on average):"
              % (sum(seconds for name, seconds in tasks), len(tasks), statistics.mean(seconds for name, seconds in tasks)))
        for role, times in sorted(by_role.items(), key=lambda item: -sum(item[1])):
            print("    %6.1f s  %3d tasks  %s" % (sum(times), len(times), role))
        print("  Slowest tasks:")
        for name, seconds in tasks[:args.top]:
            print("    %6.2f s  %s" % (seconds, name))
        figures["noop_seconds_by_role"] = {role: round(sum(times), 1) for role, times in by_role.items()}
        figures["slowest_noop_tasks"] = [{"task": name, "seconds": seconds} for name, seconds in tasks[:args.top]]
    print()
    print("  Logs of every run: %s" % WORK.relative_to(REPO))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build-servers", type=int, default=9, help="build servers besides the mirror host (default 9)")
    parser.add_argument("--forks", type=int, default=10, help="forks for every run (default 10)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each facts playbook and of the no-op re-run (default 2)")
    parser.add_argument("--top", type=int, default=12, help="slowest tasks to list (default 12; 0: skip the profiled run)")
    parser.add_argument("--lock-timeout", type=int, default=900, help="seconds to wait for the lab lock (default 900)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    env = environment()
    with lab_lock(args.lock_timeout):
        platforms = write_lab(args.build_servers)
        try:
            log("starting %d containers (molecule create + prepare; log: %s)" % (len(platforms), WORK.relative_to(REPO)))
            molecule("destroy", env)
            started = time.monotonic()
            molecule("create", env)
            log("lab up in %.0f s" % (time.monotonic() - started))
            # Not timed: interpreter discovery and Python's first start on each host.
            Run("warm-up", "facts.yml", args.forks, env, "-e", "bench_gather_subset=min")
            facts_all = best("facts, gather_subset=all", args.repeat, "facts.yml", args.forks, env, "-e", "bench_gather_subset=all")
            facts_min = best("facts, gather_subset=min", args.repeat, "facts.yml", args.forks, env, "-e", "bench_gather_subset=min")
            first = best("site.yml, first run", 1, "site.yml", args.forks, env)
            noop = best("site.yml, no-op re-run", args.repeat, "site.yml", args.forks, env)
            tasks = profile_noop(args.forks, env) if args.top else []
            figures = report(args, facts_all, facts_min, first, noop, tasks)
            if args.json:
                args.json.write_text(json.dumps(figures, indent=2) + "\n")
        finally:
            log("removing the lab")
            try:
                molecule("destroy", env)
            finally:
                remove_leftovers(platforms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
