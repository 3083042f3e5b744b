"""One fleet run: the host whose mirror is down fails and is left as it was, the others converge; the summary says so;
a second run changes nothing on the healthy hosts. Assertions read each run's exit code and PLAY RECAP (conftest.py).
"""
from __future__ import annotations

import re

import pytest
from sitefleet import FAILING_HOST, build_servers, changed_paths, healthy_hosts


def test_every_run_fails_exactly_the_host_whose_mirror_is_down(fleet):
    for run in (fleet.check, fleet.first, fleet.second):
        assert run.rc == 2, run.output
        assert {name for name in build_servers() if run.recap[name]["failed"] > 0} == {FAILING_HOST}, run.output
        assert all(run.recap[name]["unreachable"] == 0 for name in build_servers()), run.output


@pytest.mark.parametrize("name", build_servers())
def test_check_mode_on_the_fresh_fleet_changes_nothing(fleet, name):
    assert changed_paths(fleet.fresh[name], fleet.after_check[name]) == []


@pytest.mark.parametrize("name", healthy_hosts())
def test_check_mode_predicts_the_changes_of_the_first_run(fleet, name):
    assert fleet.check.recap[name]["changed"] > 0, fleet.check.output
    assert fleet.check.recap[name]["changed"] == fleet.first.recap[name]["changed"], (fleet.check.output, fleet.first.output)


@pytest.mark.parametrize("name", healthy_hosts())
def test_first_run_converges_the_healthy_hosts(fleet, name):
    assert fleet.first.recap[name]["failed"] == 0, fleet.first.output
    assert fleet.first.recap[name]["changed"] > 0, fleet.first.output
    written = changed_paths(fleet.after_check[name], fleet.after_first[name])
    for path in ("/etc/docker/daemon.json", "/etc/environment", "/etc/profile.d/go-proxy.sh", "dockerd registry-mirrors"):
        assert path in written


@pytest.mark.parametrize("name", healthy_hosts())
def test_second_run_changes_nothing_on_the_healthy_hosts(fleet, name):
    assert fleet.second.recap[name]["failed"] == 0, fleet.second.output
    assert fleet.second.recap[name]["changed"] == 0, fleet.second.output
    assert changed_paths(fleet.after_first[name], fleet.after_second[name]) == []


def test_failing_host_is_left_exactly_as_it_was(fleet):
    # daemon.json, /etc/environment, /etc/profile.d, systemd drop-ins, containerd and containers files,
    # and the mirrors dockerd runs with: across the check pass and both runs.
    assert changed_paths(fleet.fresh[FAILING_HOST], fleet.after_second[FAILING_HOST]) == []
    assert "sha256:" in fleet.fresh[FAILING_HOST]["/etc/docker/daemon.json"]
    assert fleet.first.recap[FAILING_HOST]["changed"] == 0, fleet.first.output


def test_failing_host_fails_at_its_gate_naming_the_dead_mirror(fleet, lab):
    assert "docker_mirrors gate (strict)" in fleet.first.text
    assert "Nothing was written on this host" in fleet.first.text
    assert lab["lab_closed_url"] in fleet.first.text


def _task_block(output: str, title: str) -> str:
    """What the output says under the first TASK header that starts with `title`."""
    for block in output.split("TASK [")[1:]:
        if block.startswith(title):
            return block
    raise AssertionError("no task %r in the output" % title)


def limits_note(name: str) -> str:
    """The summary's note for a host whose dockerd does not mirror ghcr.io: every engine but Docker 28 with the
    containerd image store (the -cs instance) pulls ghcr.io from ghcr.io itself, and the result says so."""
    return "" if name.endswith("-cs") else " (docker_mirrors limits: 1, see docker_mirrors_result.limits)"


def test_failing_host_passed_its_go_gate_yet_got_no_go_policy(fleet, lab):
    # Its Go proxy answers: the go_proxy gate, which runs before the docker_mirrors gate, let it through; the
    # docker_mirrors gate refused it, and only the order (every gate before any write) kept the Go policy off it.
    go_gate = _task_block(fleet.first.output, "buildfleet.mirrors.go_proxy : Refuse the host")
    assert re.search(r"^(skipping|ok): \[%s\]" % re.escape(FAILING_HOST), go_gate, re.MULTILINE), go_gate
    outcome = dict(line.split(": ", 1) for line in fleet.first.summary_lines())
    assert outcome[FAILING_HOST].startswith("FAILED, left as it was: docker_mirrors: docker_mirrors gate (strict)")
    assert "/etc/profile.d/go-proxy.sh" not in fleet.after_second[FAILING_HOST]
    assert "/etc/profile.d/go-proxy.sh" in fleet.after_second[healthy_hosts()[0]]


def test_summary_names_each_host_with_its_outcome(fleet, lab):
    outcome = dict(line.split(": ", 1) for line in fleet.first.summary_lines())
    assert sorted(outcome) == sorted(build_servers()), fleet.first.output
    assert outcome[FAILING_HOST].startswith("FAILED, left as it was: docker_mirrors: docker_mirrors gate (strict)")
    assert lab["lab_closed_url"] in outcome[FAILING_HOST]
    for name in healthy_hosts():
        assert outcome[name] == "policy applied" + limits_note(name)


def test_check_mode_summary_says_what_would_be_applied(fleet):
    outcome = dict(line.split(": ", 1) for line in fleet.check.summary_lines())
    for name in healthy_hosts():
        assert outcome[name] == "policy would be applied (check mode)" + limits_note(name)
