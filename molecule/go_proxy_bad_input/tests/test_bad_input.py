"""Bad policy values are refused before anything is written: a clear message names the variable and the value,
/etc stays byte for byte as the baseline left it, and the injection attempt never runs.

Each case applies apply_policy.yml once, for both build servers, with one bad value over the baseline.
"""
from __future__ import annotations

import pytest
from golab import APPLY_POLICY, SUM_GOLANG_ORG_KEY, build_server_fingerprints, run_playbook
from labinfra import as_login_user, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

PWNED = "/tmp/pwned"
LAB = lab_vars(lab_host(testinfra_hosts[0]))

# id: (variables over the baseline, what the message must say)
CASES = {
    "command substitution in GOPRIVATE": (
        {"go_proxy_private": ["corp.example.com/$(touch %s)" % PWNED]},
        "go_proxy_private entry 'corp.example.com/$(touch /tmp/pwned)' contains a '$'",
    ),
    "backtick in GONOSUMDB": (
        {"go_proxy_nosumdb": ["corp.example.com/`touch %s`" % PWNED]},
        "go_proxy_nosumdb entry 'corp.example.com/`touch /tmp/pwned`' contains a backtick",
    ),
    "direct before a URL": (
        {"go_proxy_urls": ["direct", LAB["lab_goproxy_url"]]},
        "go_proxy_urls entry 'direct' is a keyword, not a URL; give it as the fallback instead",
    ),
    "GOSUMDB off without go_proxy_allow_sumdb_off": (
        {"go_proxy_sumdb": "off"},
        "go_proxy_sumdb is 'off', which turns off checksum verification of every module; "
        "set go_proxy_allow_sumdb_off: true",
    ),
    "GOSUMDB off unquoted (YAML false)": (
        {"go_proxy_sumdb": False},
        "go_proxy_sumdb is False (a bool): YAML reads a bare off as false, so write 'off' in quotes",
    ),
    "three-field GOSUMDB": (
        {"go_proxy_sumdb": SUM_GOLANG_ORG_KEY + " https://sum.corp.example.com extra"},
        "go_proxy_sumdb '%s https://sum.corp.example.com extra' has 3 fields" % SUM_GOLANG_ORG_KEY,
    ),
    "-insecure in GOFLAGS": (
        {"go_proxy_flags": ["-mod=mod", "-insecure"]},
        "go_proxy_flags entry '-insecure' is refused: Go 1.17 and newer fail every command with -insecure",
    ),
    "quote in a GOFLAGS value": (
        {"go_proxy_flags": ["-ldflags='-s'"]},
        "go_proxy_flags entry '-ldflags='-s'' contains a single quote",
    ),
    "newline in a proxy URL": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"] + "\nexport GOFLAGS=-insecure"]},
        "go_proxy_urls entry '%s\\nexport GOFLAGS=-insecure' contains a newline" % LAB["lab_goproxy_url"],
    ),
    "'#' that pam_env would cut": (
        {"go_proxy_private": ["corp.example.com/x#y"]},
        "go_proxy_private entry 'corp.example.com/x#y' contains '#', where /etc/environment (pam_env) would cut the value",
    ),
    "unit name that is a path": (
        {"go_proxy_systemd_units": ["../../../etc/cron.d/evil"]},
        "go_proxy_systemd_units entry '../../../etc/cron.d/evil' is not a service name",
    ),
    "a proxy URL with another scheme": (
        {"go_proxy_urls": ["htp://goproxy.corp.example.com"]},
        "go_proxy_urls entry 'htp://goproxy.corp.example.com' has scheme 'htp'; use https, http or file",
    ),
    "a proxy without a scheme": (
        {"go_proxy_urls": ["goproxy.corp.example.com"]},
        "go_proxy_urls entry 'goproxy.corp.example.com' has no scheme",
    ),
    "a space in a proxy URL": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"] + "/ x"]},
        "go_proxy_urls entry '%s/ x' contains a space" % LAB["lab_goproxy_url"],
    ),
    "a GOFLAGS entry that is not a flag": (
        {"go_proxy_flags": ["mod=mod"]},
        "go_proxy_flags entry 'mod=mod' is not shaped -flag or -flag=value",
    ),
    "';' in GOPRIVATE": (
        {"go_proxy_private": ["corp.example.com;touch %s" % PWNED]},
        "go_proxy_private entry 'corp.example.com;touch /tmp/pwned' contains a ';'",
    ),
    "backslash in GONOPROXY": (
        {"go_proxy_noproxy": ["corp.example.com\\x"]},
        "go_proxy_noproxy entry 'corp.example.com\\x' contains a backslash",
    ),
    "GOSUMDB name without its key": (
        {"go_proxy_sumdb": "sum.corp.example.com"},
        "go_proxy_sumdb 'sum.corp.example.com' names the database 'sum.corp.example.com' without its public key",
    ),
    "no proxy": (
        {"go_proxy_urls": []},
        "go_proxy_urls is empty",
    ),
    "gate mode that does not exist": (
        {"go_proxy_validate": "lenient"},
        "value of go_proxy_validate must be one of: strict, prune, warn, off, got: lenient",
    ),
}


@pytest.fixture(scope="module")
def baseline():
    """/etc of every build server as converge (the baseline policy) left it."""
    return build_server_fingerprints()


_RUNS = {}
_FINGERPRINTS_AFTER = {}


def refused(case):
    """Apply one case, once for both hosts; return its run (and note /etc of each host right after it)."""
    if case not in _RUNS:
        _RUNS[case] = run_playbook(APPLY_POLICY, CASES[case][0])
        _FINGERPRINTS_AFTER[case] = build_server_fingerprints()
    return _RUNS[case]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_value_fails_the_host_with_a_message_naming_it(host, baseline, case):
    run = refused(case)
    assert run.rc != 0
    assert run.recap()[host.backend.host]["failed"] == 1, run.output
    assert CASES[case][1] in run.text, run.output


@pytest.mark.parametrize("case", list(CASES))
def test_bad_value_changes_no_file_under_etc(host, baseline, case):
    refused(case)
    assert _FINGERPRINTS_AFTER[case][host.backend.host] == baseline[host.backend.host]


def test_the_injection_never_ran(host):
    """Open every kind of session the policy would reach; none runs the command substitution."""
    host.check_output(as_login_user("builder", "true"))
    host.check_output("env -i su builder --shell=/bin/sh --command=true")
    host.check_output("systemd-run --quiet --wait --pipe --collect --property=User=builder /bin/true")
    assert not host.file(PWNED).exists
