# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit benchmark (not a test): buildfleet.mirrors.audit on the fleet lab against a facts-only playbook.

The lab is benchmarks/fleet_bench.py's (nine build servers, bookworm and trixie
in turn, and the mirror host, made by Molecule; the demo's lab policy in an
inventory repo laid out like examples/), generated under .build/audit-bench/.
After site.yml has applied the policy once (not timed), one run measures:

1. facts: the facts-only playbook (ansible.builtin.setup, gather_subset all and
   min), best of --repeat runs each;
2. the audit (ansible-playbook audit.yml importing buildfleet.mirrors.audit,
   buildfleet_audit_fail_on=never), best of --repeat runs;

and prints the wall times, the audit/facts ratios (the issue's goal: <= 1.5x),
the task results each host got and which of them ran a module on the host (the
goal: one, mirror_audit; the roles' validate tasks run on the controller), and
the audit's per-host lines.

Holds the lab lock (/tmp/buildfleet-lab.lock) from start to end, and removes
every container it started, whatever happens.

    .venv/bin/python benchmarks/audit_bench.py [--build-servers 9] [--forks 10] [--repeat 2]
    make bench-audit BENCH_ARGS="--repeat 3"
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from pathlib import Path


def _load_fleet_bench():
    """benchmarks/fleet_bench.py, the fleet lab and its timed runs, loaded from beside this file."""
    spec = importlib.util.spec_from_file_location("fleet_bench", Path(__file__).resolve().with_name("fleet_bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fleet_bench = _load_fleet_bench()
REPO, Run, best, environment = fleet_bench.REPO, fleet_bench.Run, fleet_bench.best, fleet_bench.environment
lab_lock, molecule, remove_leftovers = fleet_bench.lab_lock, fleet_bench.molecule, fleet_bench.remove_leftovers
# The lab and every log of this benchmark go here, not into fleet_bench's own directory.
fleet_bench.WORK = REPO / ".build" / "audit-bench"
GOAL_RATIO = 1.5

AUDIT_PLAYBOOK = """\
---
- name: Audit the package-mirror policy, read-only
  ansible.builtin.import_playbook: buildfleet.mirrors.audit
"""

# Tasks of the audit that run a module on the host (the rest are asserts and set_facts on the controller, and the
# report task delegated to it).
ON_HOST = ("Read what every consumer gets",)


def log(message: str) -> None:
    print("audit-bench: %s" % message, file=sys.stderr, flush=True)


def results_per_host(run: Run) -> dict[str, list[str]]:
    """The tasks with a result (ok, changed, failed) of each host, by name; delegated results are not the host's."""
    tasks: dict[str, list[str]] = {host: [] for host in run.recap}
    for block in re.split(r"^TASK \[", run.output, flags=re.MULTILINE)[1:]:
        name = block.split("]", 1)[0]
        for host in set(re.findall(r"^(?:ok|changed|fatal|failed): \[([^\]]+)\]", block, re.MULTILINE)):
            if host in tasks:
                tasks[host].append(name)
    return tasks


def host_lines(run: Run) -> list[str]:
    block = run.output.split("TASK [One line per host", 1)[-1].split("TASK [", 1)[0]
    return re.findall(r'^\s+"([^"]+: [^"]+)",?$', block, re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build-servers", type=int, default=9, help="build servers besides the mirror host (default 9)")
    parser.add_argument("--forks", type=int, default=10, help="forks for every run (default 10)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each playbook (default 2)")
    parser.add_argument("--lock-timeout", type=int, default=900, help="seconds to wait for the lab lock (default 900)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    env = environment()
    work = fleet_bench.WORK
    with lab_lock(args.lock_timeout):
        platforms = fleet_bench.write_lab(args.build_servers)
        (work / "audit.yml").write_text(AUDIT_PLAYBOOK)
        try:
            log("starting %d containers (molecule create + prepare; log: %s)" % (len(platforms), work.relative_to(REPO)))
            molecule("destroy", env)
            started = time.monotonic()
            molecule("create", env)
            log("lab up in %.0f s" % (time.monotonic() - started))
            Run("warm-up", "facts.yml", args.forks, env, "-e", "bench_gather_subset=min")
            Run("site.yml, the policy applied", "site.yml", args.forks, env)
            facts_all = best("facts, gather_subset=all", args.repeat, "facts.yml", args.forks, env,
                             "-e", "bench_gather_subset=all")
            facts_min = best("facts, gather_subset=min", args.repeat, "facts.yml", args.forks, env,
                             "-e", "bench_gather_subset=min")
            audit = best("audit", args.repeat, "audit.yml", args.forks, env, "-e", "buildfleet_audit_fail_on=never",
                         "-e", "buildfleet_audit_report_dir=%s" % (work / "mirror-audit"))
        finally:
            log("removing the lab")
            try:
                molecule("destroy", env)
            finally:
                remove_leftovers(platforms)

    per_host = results_per_host(audit)
    on_host = {host: [name for name in names if name.startswith(ON_HOST)] for host, names in per_host.items()}
    figures = {
        "build_servers": len(per_host),
        "forks": args.forks,
        "seconds": {"facts_all": round(facts_all.seconds, 1), "facts_min": round(facts_min.seconds, 1),
                    "audit": round(audit.seconds, 1)},
        "ratio_audit_to_facts_all": round(audit.seconds / facts_all.seconds, 2),
        "ratio_audit_to_facts_min": round(audit.seconds / facts_min.seconds, 2),
        "task_results_per_host": max(len(names) for names in per_host.values()),
        "module_tasks_on_host": max(len(names) for names in on_host.values()),
        "changed": sum(audit.counter("changed")),
        "host_lines": host_lines(audit),
    }
    print()
    print("Audit benchmark: %d build servers + the mirror host, forks=%d, best of %d runs each"
          % (figures["build_servers"], args.forks, args.repeat))
    print()
    print("  %-44s %8s" % ("run", "wall (s)"))
    print("  %-44s %8.1f" % ("facts only, setup gather_subset=all", facts_all.seconds))
    print("  %-44s %8.1f" % ("facts only, setup gather_subset=min", facts_min.seconds))
    print("  %-44s %8.1f   changed in total: %d" % ("buildfleet.mirrors.audit", audit.seconds, figures["changed"]))
    print()
    for label in ("all", "min"):
        ratio = figures["ratio_audit_to_facts_%s" % label]
        print("  audit / facts (%s):  %5.2fx   goal <= %.1fx: %s"
              % (label, ratio, GOAL_RATIO, "met" if ratio <= GOAL_RATIO else "NOT met"))
    print("  task results per host: at most %d:" % figures["task_results_per_host"])
    for name in max(per_host.values(), key=len):
        print("    %s %s" % ("on the host:   " if name.startswith(ON_HOST) else "on controller:", name))
    print("  of them a module on the host: %d   goal 1: %s"
          % (figures["module_tasks_on_host"], "met" if figures["module_tasks_on_host"] == 1 else "NOT met"))
    print("  the audit's lines:")
    for line in figures["host_lines"]:
        print("    %s" % line)
    print()
    print("  Logs of every run and the report: %s" % work.relative_to(REPO))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
