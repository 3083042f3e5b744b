"""A policy whose URLs carry credentials is shown in check mode with --diff and applied, at -vvv, with no password
or token in the output: not in the diff of any file, the gate's probes, the modules' arguments, nor go_proxy_result.

Runs after test_bad_input.py (it changes the hosts), and puts the baseline policy back at the end.
"""
from __future__ import annotations

import pytest
from golab import APPLY_POLICY, SUM_GOLANG_ORG_KEY, go_env, run_playbook
from labinfra import as_login_user, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

LAB = lab_vars(lab_host(testinfra_hosts[0]))
SECRETS = ("Qe4First", "Jv8Second", "Bw3Query", "Gs6Sumdb")


def with_credentials(url, userinfo):
    scheme, rest = url.split("://", 1)
    return "%s://%s@%s" % (scheme, userinfo, rest)


# Credentials in the first and the second proxy, in a query token, and in the GOSUMDB URL (the lab serves them all
# and ignores the credentials).
POLICY = {
    "go_proxy_urls": [with_credentials(LAB["lab_goproxy_url"], "ci:Qe4First"),
                      with_credentials(LAB["lab_goproxy_url"], "Jv8Second") + "/?token=Bw3Query"],
    "go_proxy_sumdb": "%s %s/sumdb/sum.golang.org" % (SUM_GOLANG_ORG_KEY,
                                                      with_credentials(LAB["lab_goproxy_url"], "su:Gs6Sumdb")),
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


def test_the_credentials_reached_go(host, runs):
    """Hidden from the output, not from the policy: a login shell's go gets them."""
    assert runs[2][host.backend.host] == "%s,%s,direct" % tuple(POLICY["go_proxy_urls"])
