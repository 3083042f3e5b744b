"""A second policy (other_proxies.yml) over the first: values replaced in place, lines of dropped variables gone,
the manager drop-in gone with what it gave services, and a second run changes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from golab import (
    GO_DEFAULT_GOSUMDB,
    RUNNER_DROPIN,
    access_log_count,
    attempt,
    go_env,
    go_version,
    run_playbook,
    unit_environment,
)
from labinfra import as_login_user, as_service, group_hosts, lab_vars, mirror

testinfra_hosts = group_hosts("build_servers")

PLAYBOOK = Path(__file__).resolve().parents[2] / "other_proxies.yml"


@pytest.fixture(scope="module")
def runs():
    """The second policy in check mode, then applied twice, before any test of this module looks at the hosts."""
    return attempt(None, "--check", "--diff", playbook=PLAYBOOK), run_playbook(PLAYBOOK), run_playbook(PLAYBOOK)


def policy(host) -> dict[str, str]:
    """What `go env` must report under other_proxies.yml."""
    proxy = lab_vars(host)["lab_goproxy_url"]
    return {
        "GOPROXY": "%s/?via=second-policy|%s|off" % (proxy, proxy),
        "GOSUMDB": GO_DEFAULT_GOSUMDB,  # no longer set
        "GOPRIVATE": "corp.example.com",
        "GONOPROXY": "none",
        "GONOSUMDB": "corp.example.com",
        "GOINSECURE": "",
        "GOFLAGS": "",  # no longer set
        "GOTOOLCHAIN": "local" if go_version(host) >= (1, 21) else "",
    }


def test_check_mode_shows_the_change_and_makes_none(host, runs):
    check_mode = runs[0]
    assert check_mode.run.rc == 0, check_mode.run.output
    assert check_mode.run.recap[host.backend.host]["changed"] > 0
    # --diff shows the new values, as each file will hold them.
    goproxy = policy(host)["GOPROXY"]
    assert "+export GOPROXY='%s'" % goproxy in check_mode.run.output
    assert '+GOPROXY="%s"' % goproxy in check_mode.run.output
    assert '-GOSUMDB="' in check_mode.run.output
    assert check_mode.after[host.backend.host] == check_mode.before[host.backend.host]


def test_the_second_policy_changes_the_hosts_then_nothing(host, runs):
    first, second = runs[1:]
    assert first.rc == 0, first.output
    assert first.recap[host.backend.host]["changed"] > 0
    assert second.rc == 0, second.output
    assert second.recap[host.backend.host]["changed"] == 0, second.output
    # the role's output says the same: files written the first time, none the second
    assert {"/etc/profile.d/go-proxy.sh", "/etc/environment"} <= set(first.go_proxy_results()[host.backend.host]["written"])
    assert second.go_proxy_results()[host.backend.host]["written"] == []
    assert second.go_proxy_results()[host.backend.host]["changed"] is False


def test_login_shell_sees_the_second_policy(host, runs):
    assert go_env(host, as_login_user("builder", "{go_env}")) == policy(host)


def test_etc_environment_has_one_line_per_variable_and_none_for_dropped_ones(host, runs):
    expected = policy(host)
    assert host.file("/etc/environment").content_string == (
        "# Local settings\n"
        'LANG="C.UTF-8"\n'
        'GOPROXY="%(GOPROXY)s"\n'
        "GOAMD64=v2\n"
        "# Managed by Ansible (buildfleet.mirrors.go_proxy): GOPROXY GOPRIVATE GONOPROXY GOTOOLCHAIN\n"
        'GOPRIVATE="%(GOPRIVATE)s"\n'
        'GONOPROXY="%(GONOPROXY)s"\n'
        'GOTOOLCHAIN="local"\n'
    ) % expected


def test_manager_dropin_is_gone_and_services_started_now_get_go_defaults(host, runs):
    assert not host.file("/etc/systemd/system.conf.d/go-proxy.conf").exists
    # The directory held nothing else: it goes too.
    assert not host.file("/etc/systemd/system.conf.d").exists
    # daemon-reload alone took DefaultEnvironment's variables away from services started now.
    environment = host.check_output(as_service("/usr/bin/env")).splitlines()
    assert [line for line in environment if line.startswith("GO")] == []


def test_runner_was_restarted_with_the_second_policy_from_its_own_dropin(host, runs):
    assert unit_environment(host, "lab-runner.service") == {
        "GOPROXY": policy(host)["GOPROXY"], "GOPRIVATE": "corp.example.com", "GONOPROXY": "none",
        "GOTOOLCHAIN": "local"}
    assert host.file(RUNNER_DROPIN).exists
    assert json.loads(host.file("/var/lib/lab-runner/go-env.json").content_string) == policy(host)


def test_dropin_of_a_unit_no_longer_listed_is_gone_with_its_directory(host, runs):
    assert not host.file("/etc/systemd/system/gitlab-runner.service.d").exists


def test_go_with_no_environment_gets_the_second_policy_and_the_package_defaults(host, runs):
    if go_version(host) < (1, 21):
        pytest.skip("Go %d.%d does not read $GOROOT/go.env" % go_version(host))
    seen = go_env(host, "env -i {go_env}")
    assert seen["GOPROXY"] == policy(host)["GOPROXY"]
    # The role's block no longer sets GOSUMDB: the package's line below it counts again.
    assert seen["GOSUMDB"] == GO_DEFAULT_GOSUMDB


def test_login_shell_downloads_through_the_first_proxy_of_the_second_policy(host, runs):
    lab = lab_vars(host)
    module = "%s@%s" % (lab["lab_private_module"], lab["lab_private_module_version"])
    request = "GET /%s/@v/%s.zip?via=second-policy" % (lab["lab_private_module"], lab["lab_private_module_version"])
    served_before = access_log_count(mirror(), lab["lab_goproxy_access_log"], request)
    # No -modcacherw any more: the cache is read-only and needs chmod before rm.
    job = ('work=$(mktemp -d) && cd "$work" && GOMODCACHE="$work/mod" go mod download -json %s'
           ' ; rc=$? ; chmod -R u+w "$work" ; rm -rf "$work" ; exit $rc' % module)
    result = host.run(as_login_user("builder", job))
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == lab["lab_private_module_version"]
    assert access_log_count(mirror(), lab["lab_goproxy_access_log"], request) == served_before + 1
