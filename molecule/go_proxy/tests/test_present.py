"""The policy of converge.yml reaches every consumer, each through its own file and syntax, proven with go itself."""
from __future__ import annotations

import json

import pytest
from golab import (
    GO_DEFAULT_GOSUMDB,
    RUNNER_DROPIN,
    SUM_GOLANG_ORG_KEY,
    access_log_count,
    go_env,
    go_version,
    unit_environment,
)
from labinfra import as_login_user, as_service, group_hosts, lab_vars, mirror

testinfra_hosts = group_hosts("build_servers")


def policy(host) -> dict[str, str]:
    """What `go env` must report under the policy of converge.yml."""
    proxy = lab_vars(host)["lab_goproxy_url"]
    return {
        "GOPROXY": "%s/?via=ci%%2Fagent,%s,direct" % (proxy, proxy),
        "GOSUMDB": "%s %s/sumdb/sum.golang.org" % (SUM_GOLANG_ORG_KEY, proxy),
        "GOPRIVATE": "corp.example.com",
        "GONOPROXY": "none",
        "GONOSUMDB": "corp.example.com",  # not set: Go falls back to GOPRIVATE
        "GOINSECURE": "",  # not set
        "GOFLAGS": "-modcacherw -trimpath",
        # Go 1.19 does not know GOTOOLCHAIN and reports it empty.
        "GOTOOLCHAIN": "local" if go_version(host) >= (1, 21) else "",
    }


# Each consumer reads one output only, with a clean environment, and go reports what it got.
CONSUMERS = {
    # /etc/profile.d/go-proxy.sh, read by dash and by bash.
    "sh sourcing profile.d": "env -i HOME=/nonexistent PATH=/usr/bin:/bin sh -c '. /etc/profile.d/go-proxy.sh && {go_env}'",
    "bash sourcing profile.d": "env -i HOME=/nonexistent PATH=/usr/bin:/bin bash -c '. /etc/profile.d/go-proxy.sh && {go_env}'",
    # /etc/environment through pam_env: su without '-' starts no login shell, so profile.d plays no part.
    "pam_env (su, no login shell)": "env -i su builder --shell=/bin/sh --command='{go_env}'",
    # The manager's DefaultEnvironment, as a service started now gets it.
    "systemd service": as_service("{go_env}", user="builder"),
}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_each_output_gives_go_the_policy(host, consumer):
    assert go_env(host, CONSUMERS[consumer]) == policy(host)


@pytest.mark.parametrize("variable", ["GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GOFLAGS"])
def test_login_shell_of_builder_shows_the_policy(host, variable):
    assert host.check_output(as_login_user("builder", "go env %s" % variable)) == policy(host)[variable]


def test_go_with_no_environment_reads_goroot_go_env(host):
    """Go 1.21+ reads $GOROOT/go.env; `env -i go env` sees nothing else. Go 1.19 has no such file and gets none."""
    if go_version(host) < (1, 21):
        assert not host.file("/usr/lib/go-1.19/go.env").exists
        pytest.skip("Go %d.%d does not read $GOROOT/go.env" % go_version(host))
    assert go_env(host, "env -i {go_env}") == policy(host)
    go_env_file = host.file("/usr/lib/go-%d.%d/go.env" % go_version(host)).content_string
    # The package's own lines stay below the role's block.
    assert go_env_file.startswith("# BEGIN buildfleet.mirrors.go_proxy")
    assert "\nGOPROXY=https://proxy.golang.org,direct\nGOSUMDB=%s\n" % GO_DEFAULT_GOSUMDB in go_env_file


def _download(host, command):
    """Run a `go mod download` job; return its JSON report, the proxy request count before/after and the cache mode."""
    lab = lab_vars(host)
    zip_request = "GET /%s/@v/%s.zip?via=ci%%2Fagent" % (lab["lab_private_module"], lab["lab_private_module_version"])
    served_before = access_log_count(mirror(), lab["lab_goproxy_access_log"], zip_request)
    result = host.run(command)
    served_after = access_log_count(mirror(), lab["lab_goproxy_access_log"], zip_request)
    return result, served_before, served_after


def test_login_shell_downloads_the_private_module_through_the_proxy(host):
    lab = lab_vars(host)
    module = "%s@%s" % (lab["lab_private_module"], lab["lab_private_module_version"])
    job = (
        'work=$(mktemp -d) && cd "$work" && export GOMODCACHE="$work/mod"'
        " && go mod download -json %s && stat -c %%a \"$GOMODCACHE/%s\" && chmod -R u+w \"$work\" && rm -rf \"$work\""
        % (module, module)
    )
    result, served_before, served_after = _download(host, as_login_user("builder", job))
    assert result.rc == 0, result.stderr
    report, cache_dir_mode = result.stdout.strip().rsplit("\n", 1)
    assert json.loads(report)["Version"] == lab["lab_private_module_version"]
    # The first proxy of the policy served it: its query (with the %) is in the proxy's log.
    assert served_after == served_before + 1
    # GOFLAGS reached go as two flags: -modcacherw leaves the module cache writable (without it: 0555).
    assert int(cache_dir_mode, 8) & 0o200


def test_ci_agent_service_started_after_converge_downloads_through_the_proxy(host):
    """lab-ci-agent.service (User=builder) is not in go_proxy_systemd_units: it has only DefaultEnvironment."""
    lab = lab_vars(host)
    result, served_before, served_after = _download(host, "systemctl start lab-ci-agent.service")
    assert result.rc == 0, host.run("journalctl -u lab-ci-agent.service --no-pager -n 20").stdout
    report = json.loads(host.file("/var/lib/lab-ci-agent/download.json").content_string)
    assert report["Version"] == lab["lab_private_module_version"]
    assert served_after == served_before + 1
    assert int(host.file("/var/lib/lab-ci-agent/module-dir-mode").content_string, 8) & 0o200
    assert json.loads(host.file("/var/lib/lab-ci-agent/go-env.json").content_string) == policy(host)


def test_runner_unit_has_its_dropin_and_was_restarted_with_the_policy(host):
    """lab-runner.service was started by prepare, before any policy; the role restarted it (go_proxy_restart_units)."""
    dropin_paths = host.check_output("systemctl show --property=DropInPaths --value lab-runner.service")
    assert RUNNER_DROPIN in dropin_paths.split()
    expected = {name: value for name, value in policy(host).items() if name in (
        "GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GOFLAGS", "GOTOOLCHAIN")}
    expected["GOTOOLCHAIN"] = "local"  # systemd's own view, whatever the Go version
    assert unit_environment(host, "lab-runner.service") == expected
    # The record its ExecStartPre wrote when the role restarted it.
    assert json.loads(host.file("/var/lib/lab-runner/go-env.json").content_string) == policy(host)


def test_a_unit_not_installed_yet_has_its_dropin_waiting(host):
    dropin = host.file("/etc/systemd/system/gitlab-runner.service.d/go-proxy.conf")
    assert 'Environment="GOPROXY=%s"' % policy(host)["GOPROXY"].replace("%", "%%") in dropin.content_string
    assert host.check_output("systemctl show --property=LoadState --value gitlab-runner.service") == "not-found"


def test_etc_environment_keeps_its_lines_and_replaces_the_old_goproxy_in_place(host):
    expected = policy(host)
    assert host.file("/etc/environment").content_string == (
        "# Local settings\n"
        'LANG="C.UTF-8"\n'
        'GOPROXY="%(GOPROXY)s"\n'
        "GOAMD64=v2\n"
        "# Managed by Ansible (buildfleet.mirrors.go_proxy): GOPROXY GOSUMDB GOPRIVATE GONOPROXY GOFLAGS GOTOOLCHAIN\n"
        'GOSUMDB="%(GOSUMDB)s"\n'
        'GOPRIVATE="%(GOPRIVATE)s"\n'
        'GONOPROXY="%(GONOPROXY)s"\n'
        'GOFLAGS="%(GOFLAGS)s"\n'
        'GOTOOLCHAIN="local"\n'
    ) % expected


@pytest.mark.parametrize("path", [
    "/etc/profile.d/go-proxy.sh",
    "/etc/environment",
    "/etc/systemd/system.conf.d/go-proxy.conf",
    RUNNER_DROPIN,
])
def test_variables_the_policy_leaves_unset_are_written_nowhere(host, path):
    content = host.file(path).content_string
    assert "GOPROXY=" in content
    assert "GOINSECURE" not in content
    assert "GONOSUMDB" not in content


@pytest.mark.parametrize("path", [
    "/etc/profile.d/go-proxy.sh",
    "/etc/environment",
    "/etc/systemd/system.conf.d/go-proxy.conf",
    RUNNER_DROPIN,
])
def test_outputs_belong_to_root_and_are_world_readable(host, path):
    output = host.file(path)
    assert (output.user, output.group, output.mode) == ("root", "root", 0o644)
