"""Bad policy values are refused before anything is written: a clear message names the variable and the value,
/etc stays byte for byte as the baseline left it, the injection attempt never runs, and no password or token of
the policy appears in the output, at -vvv.

Each case applies apply_policy.yml once, at -vvv, for both build servers, with one bad value over the baseline.
"""
from __future__ import annotations

import json

import pytest
from golab import APPLY_POLICY, SUM_GOLANG_ORG_KEY, build_server_fingerprints, run_playbook
from labinfra import as_login_user, as_service, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

PWNED = "/tmp/pwned"
LAB = lab_vars(lab_host(testinfra_hosts[0]))
# Credentials the cases put in URLs; none may appear in any output. Each case's secrets are distinct words, so a
# part of one (a password cut at a raw '/' or '@') is found too.
SECRETS = ("Vq3Slash", "Zk8Tail", "Hx5At", "Mw2Sign", "Pn7Second", "Rt4Sumdb", "Yc6Joined", "Ld9Token")


def with_credentials(url, userinfo):
    """http://127.0.0.1:port -> http://<userinfo>@127.0.0.1:port"""
    scheme, rest = url.split("://", 1)
    return "%s://%s@%s" % (scheme, userinfo, rest)


# sum.golang.org's key with one character of the public key changed, and a key one byte short.
TAMPERED_KEY = SUM_GOLANG_ORG_KEY[:-6] + ("B" if SUM_GOLANG_ORG_KEY[-6] != "B" else "C") + SUM_GOLANG_ORG_KEY[-5:]
SHORT_KEY = "sum.corp.example.com+5e1d4e6b+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PERCENT_HELP = "must be percent-encoded; percent-encode every reserved character of a user name or password: / as %2F, @ as %40"

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
    # --- Input that slipped through before (issue 11) ---
    "a raw '/' in a proxy password": (
        {"go_proxy_urls": [with_credentials(LAB["lab_goproxy_url"], "ci:Vq3Slash/Zk8Tail")]},
        "go_proxy_urls entry '%s' has a character in its user name or password (or an @ after the host) that %s"
        % (with_credentials(LAB["lab_goproxy_url"], "***"), PERCENT_HELP),
    ),
    "a raw '@' in a proxy password": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"], with_credentials(LAB["lab_goproxy_url"], "ci:Hx5At@Mw2Sign")]},
        "go_proxy_urls entry '%s' has a character in its user name or password" % with_credentials(
            LAB["lab_goproxy_url"], "***"),
    ),
    "a raw '/' in the password of the GOSUMDB URL": (
        {"go_proxy_sumdb": SUM_GOLANG_ORG_KEY + " " + with_credentials(LAB["lab_goproxy_url"], "su:Rt4Sumdb/Zk8Tail")},
        "go_proxy_sumdb URL '%s' has a character in its user name or password" % with_credentials(
            LAB["lab_goproxy_url"], "***"),
    ),
    "',' inside a proxy URL (two proxies in one entry)": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"] + "," + with_credentials(LAB["lab_goproxy_url"], "ci:Yc6Joined")]},
        "go_proxy_urls entry '%s,%s' contains ',', which separates GOPROXY entries; give one proxy per list item"
        % (LAB["lab_goproxy_url"], with_credentials(LAB["lab_goproxy_url"], "***")),
    ),
    "'|' inside a proxy URL": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"] + "|direct"], "go_proxy_validate": "off"},
        "go_proxy_urls entry '%s|direct' contains '|', which separates GOPROXY entries" % LAB["lab_goproxy_url"],
    ),
    "a GOSUMDB key whose hash does not match": (
        {"go_proxy_sumdb": TAMPERED_KEY},
        "go_proxy_sumdb '%s': the key has hash '033de0ae', which does not match its name and public key, so Go "
        "refuses it" % TAMPERED_KEY,
    ),
    "a GOSUMDB key that is not 33 bytes": (
        {"go_proxy_sumdb": SHORT_KEY},
        "the key has a public key of 32 bytes; an Ed25519 key is 33",
    ),
    "GONOSUMDB of every module without go_proxy_allow_sumdb_off": (
        {"go_proxy_nosumdb": ["*"]},
        "go_proxy_nosumdb entry '*' matches every module, which turns off checksum verification of every module, as "
        "GOSUMDB=off does; name the modules (such as corp.example.com/*), or set go_proxy_allow_sumdb_off: true",
    ),
    "GOPRIVATE of every module (GONOSUMDB unset) without go_proxy_allow_sumdb_off": (
        {"go_proxy_private": ["*/*"]},
        "go_proxy_private entry '*/*' matches every module, which turns off checksum verification of every module",
    ),
    "GOINSECURE of every module without go_proxy_allow_insecure_all": (
        {"go_proxy_insecure": ["*"], "go_proxy_allow_sumdb_off": True},
        "go_proxy_insecure entry '*' matches every module, which fetches every module over plain HTTP or without "
        "certificate checks; name the modules (such as corp.example.com/*), or set go_proxy_allow_insecure_all: true",
    ),
    "go_proxy_systemd_units as a string": (
        {"go_proxy_systemd_units": "lab-runner"},
        "go_proxy_systemd_units must be a list of service names, such as [gitlab-runner], got 'lab-runner' (a string)",
    ),
    "a unit name with a trailing newline": (
        {"go_proxy_systemd_units": ["lab-runner\n"]},
        "go_proxy_systemd_units entry 'lab-runner\\n' is not a service name",
    ),
    # Credentials belong in go_proxy_credentials (issue 14): a URL with user info is refused before the gate.
    "credentials in a proxy URL": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"], with_credentials(LAB["lab_closed_url"], "ci:Pn7Second")]},
        "go_proxy_urls entry carries credentials in the URL ('%s'); give them in go_proxy_credentials instead"
        % with_credentials(LAB["lab_closed_url"], "***"),
    ),
    # A dead proxy with a token, refused by the gate: the gate's message and mirror_check's arguments at -vvv.
    "a dead proxy with a token (strict gate)": (
        {"go_proxy_urls": [LAB["lab_goproxy_url"], LAB["lab_closed_url"] + "/?token=Ld9Token"]},
        "go_proxy_validate is strict and 1 of 2 mirrors did not answer from {host}, so nothing was changed on it: "
        "goproxy %s/?token=***: connection refused." % LAB["lab_closed_url"],
    ),
}


@pytest.fixture(scope="module")
def baseline():
    """/etc of every build server as converge (the baseline policy) left it."""
    return build_server_fingerprints()


_RUNS = {}
_FINGERPRINTS_AFTER = {}


def refused(case):
    """Apply one case at -vvv, once for both hosts; return its run (and note /etc of each host right after it)."""
    if case not in _RUNS:
        _RUNS[case] = run_playbook(APPLY_POLICY, CASES[case][0], "-vvv")
        _FINGERPRINTS_AFTER[case] = build_server_fingerprints()
    return _RUNS[case]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_value_fails_the_host_with_a_message_naming_it(host, baseline, case):
    run = refused(case)
    assert run.rc != 0
    assert run.recap[host.backend.host]["failed"] == 1, run.output
    assert CASES[case][1].format(host=host.backend.host) in run.text, run.output


@pytest.mark.parametrize("case", [case for case in CASES if any(secret in json.dumps(CASES[case][0]) for secret in SECRETS)])
def test_no_password_or_token_is_printed_at_any_verbosity(host, baseline, case):
    """-vvv shows every task's result and module arguments: a credential of the policy appears nowhere."""
    run = refused(case)
    assert "task path:" in run.output  # the run was verbose
    assert [secret for secret in SECRETS if secret in run.output] == []


@pytest.mark.parametrize("case", list(CASES))
def test_bad_value_changes_no_file_under_etc(host, baseline, case):
    refused(case)
    assert _FINGERPRINTS_AFTER[case][host.backend.host] == baseline[host.backend.host]


def test_the_injection_never_ran(host):
    """Open every kind of session the policy would reach; none runs the command substitution."""
    host.check_output(as_login_user("builder", "true"))
    host.check_output("env -i su builder --shell=/bin/sh --command=true")
    host.check_output(as_service("/bin/true", user="builder"))
    assert not host.file(PWNED).exists
