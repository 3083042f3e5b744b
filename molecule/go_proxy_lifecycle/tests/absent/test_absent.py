"""go_proxy_state: absent (absent.yml) removes every file, line and block the role wrote, and Go is back to its defaults."""
from __future__ import annotations

from pathlib import Path

import pytest
from golab import GO_DEFAULT_GOPROXY, GO_DEFAULT_GOSUMDB, RUNNER_DROPIN, attempt, go_env, go_version, run_playbook, unit_environment
from labinfra import as_login_user, as_service, group_hosts

testinfra_hosts = group_hosts("build_servers")

PLAYBOOK = Path(__file__).resolve().parents[2] / "absent.yml"


@pytest.fixture(scope="module")
def runs():
    """State absent applied twice, before any test of this module looks at the hosts."""
    return run_playbook(PLAYBOOK), run_playbook(PLAYBOOK)


def test_absent_changes_the_hosts_then_nothing(host, runs):
    first, second = runs
    assert first.rc == 0, first.output
    assert first.recap[host.backend.host]["changed"] > 0
    assert second.rc == 0, second.output
    assert second.recap[host.backend.host]["changed"] == 0, second.output


@pytest.mark.parametrize("path", [
    "/etc/profile.d/go-proxy.sh",
    "/etc/systemd/system.conf.d",
    RUNNER_DROPIN,
    # The drop-in directory held nothing else.
    "/etc/systemd/system/lab-runner.service.d",
])
def test_every_file_the_role_wrote_is_gone(host, runs, path):
    assert not host.file(path).exists


def test_etc_environment_keeps_only_the_lines_the_role_does_not_own(host, runs):
    # The hand-written GOPROXY line became the role's when the policy replaced it, so it goes too.
    assert host.file("/etc/environment").content_string == '# Local settings\nLANG="C.UTF-8"\nGOAMD64=v2\n'


CONSUMERS = {
    "login shell": as_login_user("builder", "{go_env}"),
    "systemd service": as_service("{go_env}", user="builder"),
    "go with no environment": "env -i {go_env}",
}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_go_is_back_to_its_defaults(host, runs, consumer):
    seen = go_env(host, CONSUMERS[consumer])
    assert (seen["GOPROXY"], seen["GOSUMDB"], seen["GOPRIVATE"], seen["GONOPROXY"], seen["GOFLAGS"]) == (
        GO_DEFAULT_GOPROXY, GO_DEFAULT_GOSUMDB, "", "", "")


def test_goroot_go_env_is_the_package_file_again(host, runs):
    if go_version(host) < (1, 21):
        pytest.skip("Go %d.%d has no $GOROOT/go.env" % go_version(host))
    # dpkg's own checksum of the file it installed: byte for byte what the package shipped.
    goroot = "usr/lib/go-%d.%d" % go_version(host)
    md5 = host.check_output("md5sum /%s/go.env" % goroot).split()[0]
    shipped = host.file("/var/lib/dpkg/info/golang-%d.%d-go.md5sums" % go_version(host)).content_string
    assert "%s  %s/go.env\n" % (md5, goroot) in shipped


def test_runner_unit_has_no_policy_left(host, runs):
    assert unit_environment(host, "lab-runner.service") == {}


CONVERGE = Path(__file__).resolve().parents[3] / "go_proxy" / "converge.yml"


@pytest.fixture(scope="module")
def checked_after_absent(runs):
    """The first policy again, in check mode, on the hosts state absent left without any policy."""
    return attempt(None, "--check", "--diff", playbook=CONVERGE)


def test_check_mode_on_a_host_without_the_policy_shows_it_and_changes_nothing(host, checked_after_absent):
    assert checked_after_absent.run.rc == 0, checked_after_absent.run.output
    assert checked_after_absent.run.recap[host.backend.host]["changed"] > 0
    assert "+export GOPROXY=" in checked_after_absent.run.output
    assert checked_after_absent.after[host.backend.host] == checked_after_absent.before[host.backend.host]
