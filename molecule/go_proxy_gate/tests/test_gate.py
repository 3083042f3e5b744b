"""The gate and the rollback: nothing lands on a host unless its mirrors answer and every consumer then gets the policy.

Each module fixture applies one policy over the baseline of apply_policy.yml (once, for both build servers) and
fingerprints /etc on each before and after. The cases that must leave the hosts alone come first; prune and warn,
which do change them, come last. (Check mode of a policy change is proven in go_proxy_lifecycle.)
"""
from __future__ import annotations

from pathlib import Path

import pytest
from golab import attempt, go_env
from labinfra import as_login_user, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

SHADOW = "/etc/profile.d/zz-local-go.sh"
SITE = Path(__file__).resolve().parents[3] / "playbooks" / "site.yml"


@pytest.fixture(scope="module")
def lab():
    return lab_vars(lab_host(testinfra_hosts[0]))


@pytest.fixture(scope="module")
def strict(lab):
    return attempt({"go_proxy_urls": [lab["lab_closed_url"], lab["lab_goproxy_url"]]})


@pytest.fixture(scope="module")
def strict_through_site(lab):
    """The same dead proxy through buildfleet.mirrors.site, whose one probe task serves both roles' gates."""
    return attempt({"go_proxy_urls": [lab["lab_closed_url"], lab["lab_goproxy_url"]],
                    "buildfleet_site_hosts": "build_servers", "buildfleet_site_docker_mirrors": False}, playbook=SITE)


@pytest.fixture(scope="module")
def shadowed(lab):
    """A hand-written profile.d script, read after the role's, exports another GOPROXY."""
    for name in testinfra_hosts:
        lab_host(name).check_output("printf 'export GOPROXY=https://proxy.golang.org,direct\\n' > %s" % SHADOW)
    try:
        return attempt({"go_proxy_urls": [lab["lab_goproxy_url"] + "/?via=shadowed"]})
    finally:
        for name in testinfra_hosts:
            lab_host(name).check_output("rm -f %s" % SHADOW)


@pytest.fixture(scope="module")
def prune_nothing_left(lab):
    return attempt({"go_proxy_urls": [lab["lab_closed_url"]], "go_proxy_validate": "prune"})


@pytest.fixture(scope="module")
def prune_dead_sumdb(lab):
    # A real Ed25519 verifier key (the policy refuses one Go would refuse) whose database does not answer.
    sumdb = "sum.corp.example.com+d67b3b17+AZKHxjQHbRA8/wKDHoEKai2Chpql/U41cPPBXJNlsiyu " + lab["lab_closed_url"]
    return attempt({"go_proxy_sumdb": sumdb, "go_proxy_validate": "prune"})


def login_shell_goproxy():
    """GOPROXY in a login shell of builder on each build server, read right after a run (the next one changes it)."""
    return {name: go_env(lab_host(name), as_login_user("builder", "{go_env}"))["GOPROXY"] for name in testinfra_hosts}


@pytest.fixture(scope="module")
def prune(lab):
    attempted = attempt({"go_proxy_urls": [lab["lab_closed_url"], lab["lab_goproxy_url"]], "go_proxy_validate": "prune"})
    return attempted, login_shell_goproxy()


@pytest.fixture(scope="module")
def warn(lab):
    attempted = attempt({"go_proxy_urls": [lab["lab_closed_url"], lab["lab_goproxy_url"]], "go_proxy_validate": "warn"})
    return attempted, login_shell_goproxy()


def _name(host):
    return host.backend.host


# --- Refused: no file under /etc changes ------------------------------------------------------------------------

def test_strict_fails_the_host_and_names_the_proxy_that_did_not_answer(host, strict, lab):
    assert strict.run.rc != 0
    assert strict.run.recap[_name(host)]["failed"] == 1
    assert (
        "go_proxy_validate is strict and 1 of 2 mirrors did not answer from %s, so nothing was changed on it: "
        "goproxy %s: connection refused." % (_name(host), lab["lab_closed_url"])
    ) in strict.run.text


def test_strict_changes_no_file_under_etc(host, strict):
    assert strict.after[_name(host)] == strict.before[_name(host)]
    # apply never ran, so the role has no output for the host
    assert _name(host) not in strict.run.go_proxy_results()


def test_strict_through_the_site_playbook_fails_the_host_untouched_and_says_why(host, strict_through_site, lab):
    run = strict_through_site.run
    assert run.rc != 0
    message = ("go_proxy_validate is strict and 1 of 2 mirrors did not answer from %s, so nothing was changed on it: "
               "goproxy %s: connection refused." % (_name(host), lab["lab_closed_url"]))
    # Every build server fails here, so Ansible runs no summary play: the failure itself names the role.
    assert "go_proxy: " + message in run.text, run.output
    assert strict_through_site.after[_name(host)] == strict_through_site.before[_name(host)]


def test_a_policy_login_shells_would_not_get_fails_and_is_rolled_back(host, shadowed, lab):
    assert shadowed.run.rc != 0
    assert (
        "login shells (/etc/profile.d/go-proxy.sh) get GOPROXY=https://proxy.golang.org,direct "
        "instead of %s/?via=shadowed,direct" % lab["lab_goproxy_url"]
    ) in shadowed.run.text
    assert "put every file back as it was before this run" in shadowed.run.text
    # The files were written (the verify step ran after them), then put back byte for byte.
    assert shadowed.after[_name(host)] == shadowed.before[_name(host)]


def test_prune_fails_when_no_proxy_answers(host, prune_nothing_left, lab):
    assert prune_nothing_left.run.rc != 0
    assert (
        "go_proxy_validate is prune, but no proxy of go_proxy_urls answered from %s, so nothing was changed on it: "
        "goproxy %s: connection refused." % (_name(host), lab["lab_closed_url"])
    ) in prune_nothing_left.run.text
    assert prune_nothing_left.after[_name(host)] == prune_nothing_left.before[_name(host)]


def test_prune_fails_when_the_checksum_database_does_not_answer(host, prune_dead_sumdb, lab):
    """A GOSUMDB cannot be left out without changing which database verifies modules."""
    assert prune_dead_sumdb.run.rc != 0
    assert (
        "go_proxy_validate is prune, but the GOSUMDB database did not answer from %s, so nothing was changed on it: "
        "gosumdb %s: connection refused." % (_name(host), lab["lab_closed_url"])
    ) in prune_dead_sumdb.run.text
    assert prune_dead_sumdb.after[_name(host)] == prune_dead_sumdb.before[_name(host)]


# --- Accepted with a warning --------------------------------------------------------------------------------------

def test_prune_writes_only_the_proxies_that_answer_and_warns(host, prune, lab):
    attempted, goproxy = prune
    assert attempted.run.rc == 0, attempted.run.output
    assert (
        "[WARNING] go_proxy_validate is prune: left out of GOPROXY on %s: goproxy %s: connection refused"
        % (_name(host), lab["lab_closed_url"])
    ) in attempted.run.text
    assert goproxy[_name(host)] == lab["lab_goproxy_url"] + ",direct"
    # go_proxy_result names the proxy left out; what is left is the baseline's policy, so no file was written
    result = attempted.run.go_proxy_results()[_name(host)]
    assert result["pruned"] == [lab["lab_closed_url"]]
    assert (result["changed"], result["written"]) == (False, []), result


def test_warn_writes_every_proxy_and_warns(host, warn, lab):
    attempted, goproxy = warn
    assert attempted.run.rc == 0, attempted.run.output
    assert (
        "[WARNING] go_proxy_validate is warn: written although they did not answer on %s: goproxy %s: connection refused"
        % (_name(host), lab["lab_closed_url"])
    ) in attempted.run.text
    assert goproxy[_name(host)] == "%s,%s,direct" % (lab["lab_closed_url"], lab["lab_goproxy_url"])
    result = attempted.run.go_proxy_results()[_name(host)]
    assert result["pruned"] == []
    assert result["changed"] is True and "/etc/profile.d/go-proxy.sh" in result["written"], result
    assert any("login shells" in consumer for consumer in result["verified"]), result
