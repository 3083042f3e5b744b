"""A policy whose proxy URL carries a secret query token is shown in check mode with --diff and applied, at -vvv,
with no token in the output: not in the diff of any file, the gate's probes, the modules' arguments, nor
go_proxy_result. (User info in a URL is refused since issue 14, see test_bad_input.py: credentials go to
go_proxy_credentials.)

Runs after test_bad_input.py (it changes the hosts), and puts the baseline policy back at the end.
"""
from __future__ import annotations

import pytest
from golab import APPLY_POLICY, SUM_GOLANG_ORG_KEY, go_env, run_playbook
from labinfra import as_login_user, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

LAB = lab_vars(lab_host(testinfra_hosts[0]))
SECRETS = ("Bw3Query",)


# A query token in the second proxy (the lab serves it and ignores the token), and the lab's GOSUMDB URL.
POLICY = {
    "go_proxy_urls": [LAB["lab_goproxy_url"], LAB["lab_goproxy_url"] + "/?token=Bw3Query"],
    "go_proxy_sumdb": "%s %s/sumdb/sum.golang.org" % (SUM_GOLANG_ORG_KEY, LAB["lab_goproxy_url"]),
}


@pytest.fixture(scope="module")
def runs():
    check_mode = run_playbook(APPLY_POLICY, POLICY, "--check", "--diff", "-vvv")
    applied = run_playbook(APPLY_POLICY, POLICY, "--diff", "-vvv")
    goproxy = {name: go_env(lab_host(name), as_login_user("builder", "{go_env}"))["GOPROXY"] for name in testinfra_hosts}
    yield check_mode, applied, goproxy
    assert run_playbook(APPLY_POLICY).rc == 0  # the baseline again


def test_check_mode_diff_shows_no_credential(host, runs):
    check_mode = runs[0]
    assert check_mode.rc == 0, check_mode.output
    assert "+export GOPROXY=" in check_mode.output  # the diff was shown
    assert [secret for secret in SECRETS if secret in check_mode.output] == []


def test_applying_shows_no_credential(host, runs):
    applied = runs[1]
    assert applied.rc == 0, applied.output
    assert "task path:" in applied.output and "+export GOPROXY=" in applied.output
    assert [secret for secret in SECRETS if secret in applied.output] == []
    assert applied.go_proxy_results()[host.backend.host]["changed"] is True


def test_the_token_reached_go(host, runs):
    """Hidden from the output, not from the policy: a login shell's go gets it."""
    assert runs[2][host.backend.host] == "%s,%s,direct" % tuple(POLICY["go_proxy_urls"])
