"""Helpers of the site scenario's tests: the fleet runs and the fingerprints of the build servers.

`fleet` runs ../converge.yml (buildfleet.mirrors.site) three times against the
scenario's inventory, exactly as Molecule runs a converge, and keeps a
fingerprint of every build server around each run:

1. `--check --diff` on the fresh fleet (what an auditor runs);
2. the first run;
3. the second run.

Each run must exit 2 (ansible-playbook's code for "a host failed"): the host
whose mirror is down fails every time, by design.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labinfra import group_hosts, host as lab_host, inventory
from playbook import PlaybookRun

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
# host_vars in ../molecule.yml point this host's policy at lab_closed_url.
FAILING_HOST = "buildfleet-bookworm"
# What the roles write, and what a failed host must keep as it was.
WATCHED_PATHS = (
    "/etc/docker",
    "/etc/environment",
    "/etc/profile.d",
    "/etc/systemd/system.conf.d",
    "/etc/systemd/system",
    "/etc/containerd",
    "/etc/containers",
)


def build_servers() -> list[str]:
    return group_hosts("build_servers")


def healthy_hosts() -> list[str]:
    return [name for name in build_servers() if name != FAILING_HOST]


class SiteRun(PlaybookRun):
    """A run of the site playbook, whose last play prints one summary line per host."""

    def summary_lines(self) -> list[str]:
        """The lines of the site playbook's summary task (one per host)."""
        block = self.output.split("Summarise each host", 1)[-1].split("PLAY RECAP", 1)[0]
        # The runs print results as JSON (run_converge): one quoted string per line.
        items = (re.fullmatch(r'\s*("(?:[^"\\]|\\.)*"),?', line) for line in block.splitlines())
        return [json.loads(item.group(1)) for item in items if item]


def run_converge(*options: str) -> SiteRun:
    command = [str(Path(sys.executable).with_name("ansible-playbook")),
               "--inventory", str(Path(inventory()).parent), str(CONVERGE), *options]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                                     # One line per list item, so the summary reads line by line.
                                     ANSIBLE_CALLBACK_RESULT_FORMAT="json"))
    # Shown by pytest -v when a test fails, and kept for a reader of the verify log.
    print("$ %s\n%s%s" % (" ".join(command), result.stdout, result.stderr))
    return SiteRun(result.returncode, result.stdout + result.stderr)


def fingerprint(name: str) -> dict[str, str]:
    """Every watched path: type, mode, owner, link target and, for files, sha256; plus the mirrors dockerd runs with."""
    host = lab_host(name)
    listing = host.check_output(
        "find %s -xdev -printf '%%p %%y %%m %%u:%%g %%l\\n' 2>/dev/null | LC_ALL=C sort; true" % " ".join(WATCHED_PATHS)
    )
    sums = host.check_output(
        "find %s -xdev -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0r sha256sum; true" % " ".join(WATCHED_PATHS)
    )
    paths = {line.split(" ", 1)[0]: line for line in listing.splitlines()}
    for line in sums.splitlines():
        digest, path = line.split(None, 1)
        paths[path] += " sha256:" + digest
    paths["dockerd registry-mirrors"] = host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'")
    return paths


def fingerprints() -> dict[str, dict[str, str]]:
    return {name: fingerprint(name) for name in build_servers()}


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The paths whose fingerprint differs, appeared or disappeared."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


@dataclass
class Fleet:
    """The three runs and the build servers' fingerprints before and after each."""

    fresh: dict[str, dict[str, str]]
    check: SiteRun
    after_check: dict[str, dict[str, str]]
    first: SiteRun
    after_first: dict[str, dict[str, str]]
    second: SiteRun
    after_second: dict[str, dict[str, str]]
