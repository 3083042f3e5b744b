"""The lab proves itself with real clients, before any role exists."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from labinfra import group_hosts, lab_vars, mirror

testinfra_hosts = group_hosts("build_servers")


def test_systemd_is_pid_1_and_booted(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_inner_dockerd_is_active(host):
    assert host.service("docker").is_running
    version = host.check_output("docker version --format '{{.Server.Version}}'")
    assert version[0].isdigit()


@pytest.mark.parametrize("option, expected", [("bridge", "none"), ("iptables", False), ("ip6tables", False)])
def test_inner_dockerd_leaves_the_host_network_alone(host, option, expected):
    daemon_json = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon_json[option] == expected
    # The instance shares the host's network namespace: no docker0 may appear there.
    assert host.run("ip link show docker0").rc != 0


def test_inner_dockerd_runs_a_container_without_any_registry(host):
    out = host.check_output("docker run --rm --network none lab/busybox /bin/busybox echo inner-engine-ok")
    assert out == "inner-engine-ok"


def test_mirror_answers_registry_v2(host):
    url = lab_vars(host)["lab_registry_url"]
    head = host.check_output("curl -s -o /dev/null -D - %s/v2/" % url)
    status_line = head.splitlines()[0]
    assert " 200" in status_line, head
    assert "docker-distribution-api-version: registry/2.0" in head.lower()


def test_mirror_holds_a_docker_hub_named_image(host):
    url = lab_vars(host)["lab_registry_url"]
    reference = "%s/library/hello:latest" % url.split("://", 1)[1]
    host.check_output("docker pull %s" % reference)
    out = host.check_output("docker run --rm --network none %s" % reference)
    assert out == "Hello from the buildfleet lab mirror"
    host.run("docker rmi %s" % reference)


@pytest.mark.parametrize("proxy_var", ["lab_goproxy_url", "lab_goproxy_tls_url"])
def test_go_downloads_a_private_module_from_the_mirror(host, proxy_var):
    lab = lab_vars(host)
    module = "%s@%s" % (lab["lab_private_module"], lab["lab_private_module_version"])
    # A fresh module cache, so the download really goes over the wire.
    cache = host.check_output("mktemp -d")
    env = (
        "HOME=%s GOPATH=%s/go GOMODCACHE=%s/mod GOFLAGS=-modcacherw "
        "GOPROXY=%s GOPRIVATE=corp.example.com GONOPROXY=none" % (cache, cache, cache, lab[proxy_var])
    )
    zip_path = "/%s/@v/%s.zip" % (lab["lab_private_module"], lab["lab_private_module_version"])
    access_log = mirror().file(lab["lab_goproxy_access_log"])
    served_before = access_log.content_string.count(zip_path) if access_log.exists else 0
    result = host.run("cd %s && env %s go mod download -json %s" % (cache, env, module))
    host.run("rm -rf %s" % cache)
    assert result.rc == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["Version"] == lab["lab_private_module_version"]
    assert info["Sum"].startswith("h1:")
    # The mirror's own access log shows this very download.
    assert access_log.content_string.count(zip_path) == served_before + 1


def test_the_lab_leaves_no_copy_of_the_collection_where_ansible_looks():
    # Runs on the controller, after Molecule's own steps: a copy of the collection under a default collections
    # path would shadow this checkout, and any version a user installs later.
    for root in (Path.home() / ".ansible" / "collections", Path("/usr/share/ansible/collections")):
        assert not (root / "ansible_collections" / "buildfleet" / "mirrors").exists(), root
