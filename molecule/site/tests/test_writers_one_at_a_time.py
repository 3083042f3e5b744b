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


def _policy_b(lab: dict) -> dict:
    """Differs from the scenario's policy in a Go variable and in the registry mirror (the same registry by name)."""
    return {
        "go_proxy_private": ["corp.example.com", "other.example.com"],
        "docker_mirrors_registry_mirrors": [lab["lab_registry_url"].replace("127.0.0.1", "localhost")],
    }


def _converge(extra: dict | None) -> PlaybookRun:
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "--inventory", str(Path(inventory()).parent),
               str(CONVERGE), "--limit", HOST]
    if extra:
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
    policy_b = _policy_b(lab)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(_converge, [None, policy_b]))
    host = lab_host(HOST)
    outputs = {
        path: host.file(path).content_string
        for path in ("/etc/profile.d/go-proxy.sh", "/etc/environment", "/etc/systemd/system.conf.d/go-proxy.conf",
                     "/etc/docker/daemon.json")
    }
    running = json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))
    yield runs, outputs, running, policy_b
    restore = run_converge("--limit", HOST)
    assert restore.rc == 0, restore.output


def test_both_runs_succeed_one_after_the_other(raced):
    runs = raced[0]
    for run in runs:
        assert run.rc == 0, run.output


def test_every_go_output_carries_one_policy_whole(raced, lab):
    dummy, outputs, dummy2, policy_b = raced
    values = set()
    for path in ("/etc/profile.d/go-proxy.sh", "/etc/environment", "/etc/systemd/system.conf.d/go-proxy.conf"):
        found = _go_private(outputs[path])
        assert len(found) == 1, (path, outputs[path])
        values |= found
    assert len(values) == 1, outputs
    assert values <= {"corp.example.com", ",".join(policy_b["go_proxy_private"])}


def test_daemon_json_and_dockerd_carry_one_policy_whole(raced, lab):
    dummy, outputs, running, policy_b = raced
    written = json.loads(outputs["/etc/docker/daemon.json"])["registry-mirrors"]
    choices = ([lab["lab_registry_url"]], policy_b["docker_mirrors_registry_mirrors"])
    normalised = [[url.rstrip("/") + "/" for url in choice] for choice in choices]
    assert [url.rstrip("/") + "/" for url in written] in normalised, written
    assert [url.rstrip("/") + "/" for url in running] == [url.rstrip("/") + "/" for url in written]
