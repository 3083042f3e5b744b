"""Two runs at once on one host (an ansible-pull at boot and a fleet job, say) with different policies: the writers
take one host-wide lock, so both runs succeed one after the other and every output of each role carries one of the
two policies whole, never a mix. Without the lock the two runs interleave their writes, and a run whose verification
sees the other's values rolls back over them.

Runs last (file order): it leaves the host with one of the two policies, then puts the scenario's policy back.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from labinfra import host as lab_host, inventory
from playbook import PlaybookRun
from sitefleet import CONVERGE, healthy_hosts, run_converge

HOST = healthy_hosts()[-1]


def _policies(lab: dict) -> list[dict]:
    """Two policies, each different from the scenario's (so both runs write and verify): a Go variable and the
    registry mirrors (the lab's one registry, by two names)."""
    by_name = lab["lab_registry_url"].replace("127.0.0.1", "localhost")
    return [
        {"go_proxy_private": ["corp.example.com", "one.example.com"],
         "docker_mirrors_registry_mirrors": [by_name]},
        {"go_proxy_private": ["corp.example.com", "two.example.com"],
         "docker_mirrors_registry_mirrors": [by_name, lab["lab_registry_url"]]},
    ]


def _converge(extra: dict) -> PlaybookRun:
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "--inventory", str(Path(inventory()).parent),
               str(CONVERGE), "--limit", HOST]
    command += ["--extra-vars", json.dumps(extra)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
    print("$ %s\n%s%s" % (" ".join(command), done.stdout, done.stderr))
    return PlaybookRun(done.returncode, done.stdout + done.stderr)


def _go_private(text: str) -> set[str]:
    """Every GOPRIVATE value written in a file (shell, pam_env or systemd syntax)."""
    return set(re.findall(r"GOPRIVATE=[\"']?([^\"'\s]+)", text))


@pytest.fixture(scope="module")
def raced(fleet, lab):
    """Both runs started together; afterwards the scenario's policy is put back for whoever runs next."""
    policies = _policies(lab)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(_converge, policies))
    host = lab_host(HOST)
    outputs = {
        path: host.file(path).content_string
        for path in ("/etc/profile.d/go-proxy.sh", "/etc/environment", "/etc/systemd/system.conf.d/go-proxy.conf",
                     "/etc/docker/daemon.json")
    }
    running = json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))
    yield runs, outputs, running, policies
    restore = run_converge("--limit", HOST)
    assert restore.rc == 0, restore.output


def test_both_runs_succeed_one_after_the_other(raced):
    runs = raced[0]
    for run in runs:
        assert run.rc == 0, run.output


def test_every_go_output_carries_one_policy_whole(raced):
    dummy, outputs, dummy2, policies = raced
    values = set()
    for path in ("/etc/profile.d/go-proxy.sh", "/etc/environment", "/etc/systemd/system.conf.d/go-proxy.conf"):
        found = _go_private(outputs[path])
        assert len(found) == 1, (path, outputs[path])
        values |= found
    assert len(values) == 1, outputs
    assert values <= {",".join(policy["go_proxy_private"]) for policy in policies}


def test_daemon_json_and_dockerd_carry_one_policy_whole(raced):
    dummy, outputs, running, policies = raced
    written = json.loads(outputs["/etc/docker/daemon.json"]).get("registry-mirrors")
    normalised = [[url.rstrip("/") + "/" for url in policy["docker_mirrors_registry_mirrors"]] for policy in policies]
    assert written and [url.rstrip("/") + "/" for url in written] in normalised, written
    assert [url.rstrip("/") + "/" for url in running] == [url.rstrip("/") + "/" for url in written]
