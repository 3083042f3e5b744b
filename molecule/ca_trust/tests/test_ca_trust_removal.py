"""State absent removes the scenario's CA, and the clients that trusted the server then refuse it.

A module of its own: testinfra runs a module's tests host by host, so the removal (one playbook run for every build
server) must come after every test of test_ca_trust.py, which pytest runs first.
"""
from __future__ import annotations

import pytest
from golab import run_playbook
from labinfra import group_hosts
from test_ca_trust import BUNDLE, CA_FILE, CONVERGE, OWN_DIR, PKI, client_command, in_bundle, results, serving

testinfra_hosts = group_hosts("build_servers")
_RUNS = {}


@pytest.fixture
def removed():
    """The absent run (once for the module) and a second one, which must change nothing."""
    if not _RUNS:
        _RUNS["first"] = run_playbook(CONVERGE, {"ca_trust_state": "absent"})
        _RUNS["again"] = run_playbook(CONVERGE, {"ca_trust_state": "absent"})
    return _RUNS


def test_state_absent_removes_the_ca_its_directory_and_its_link(removed, host):
    run = removed["first"]
    assert run.rc == 0, run.output[-3000:]
    shown = results(run.output)[host.backend.get_hostname()]
    assert shown["changed"] is True and shown["removed"] == [CA_FILE], shown
    assert shown["verified"] == ["the system bundle %s (removed)" % BUNDLE]
    assert not host.file(CA_FILE).exists and not host.file(OWN_DIR).exists
    assert not host.file("/etc/ssl/certs/ca-trust-scenario.pem").exists  # --fresh dropped its link
    assert not in_bundle(host, PKI + "/ca.crt")
    assert host.file(BUNDLE).size > 100000  # the distro's CAs stay


def test_state_absent_again_changes_nothing(removed):
    again = removed["again"]
    assert again.rc == 0, again.output[-3000:]
    assert all(again.recap[name]["changed"] == 0 for name in testinfra_hosts), again.recap


@pytest.mark.parametrize("client, refusal", [
    ("curl", "(60)"),
    ("python", "CERTIFICATE_VERIFY_FAILED"),
    ("openssl verify (CApath hash links)", "unable to get local issuer certificate"),
])
def test_after_absent_the_clients_refuse_the_server(removed, host, client, refusal):
    with serving(host) as url:
        done = host.run(client_command(client, url) + " 2>&1; echo rc=$?")
    assert "rc=0" not in done.stdout and refusal in done.stdout, done.stdout
