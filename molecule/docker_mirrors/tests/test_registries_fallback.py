"""docker_mirrors_fallback, proven by whether a client ever connects to the registry itself.

This file runs after test_docker_mirrors.py and test_registries.py (pytest takes the files in order, and each
file's tests host by host): it runs the role again with other policies, on every host at once.
"""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from golab import run_playbook
from labinfra import group_hosts, lab_vars
from labinfra import host as lab_host
from test_registries import containerd_store, docker_major, toml

testinfra_hosts = group_hosts("build_servers")

RUN_ROLE = Path(__file__).resolve().parents[1] / "run_role.yml"


# ---------------------------------------------------------------------------
# docker_mirrors_fallback, proven by whether a client ever connects to the registry itself
# ---------------------------------------------------------------------------

class Upstream:
    """A stand-in upstream registry: a TCP listener on 127.0.0.1 that only counts who connects to it.

    Every instance shares the host's network, so a client on any of them that falls back to the registry
    itself connects here (and gets nothing: the pull still fails)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.name = "127.0.0.1:%d" % self.server.getsockname()[1]
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, dummy = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            conn.close()

    def count(self):
        with self.lock:
            return self.connections

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def upstream():
    registry = Upstream()
    yield registry
    registry.close()


def apply(registries, fallback):
    lab = lab_vars(lab_host(group_hosts("build_servers")[0]))
    run = run_playbook(RUN_ROLE, {
        "docker_mirrors_registry_mirrors": [lab["lab_registry_url"]],
        "docker_mirrors_insecure_registries": [lab["lab_registry_url"].split("://", 1)[1]],
        "docker_mirrors_registries": registries, "docker_mirrors_fallback": fallback,
        # The dead mirror is the point of these runs: the gate would refuse it.
        "docker_mirrors_validate": "off",
        "docker_mirrors_containerd": True, "docker_mirrors_containers_registries_conf": True})
    assert run.rc == 0, run.output
    return run


def pulls(name, image, upstream):
    """{client: (rc, output, connections to the registry itself)} of a pull of image by each client of one host."""
    target = lab_host(name)
    commands = {"ctr": "ctr --namespace buildfleet-test images pull --hosts-dir /etc/containerd/certs.d %s" % image}
    if target.exists("podman"):
        commands["podman"] = "podman pull --retry 0 %s" % image
    if docker_major(target) >= 28:
        commands["docker"] = "docker pull %s" % image
    said = {}
    for client, command in commands.items():
        before = upstream.count()
        done = target.run(command)
        said[client] = (done.rc, done.stdout + done.stderr, upstream.count() - before)
    target.run("ctr --namespace buildfleet-test images rm %s; podman rmi %s; docker image rm %s"
               % (image, image, image))
    return said


@pytest.fixture(scope="module")
def fallback_outcomes(upstream):
    """What each client did, on each host, for three policies of the stand-in registry (its image acme/hello).

    (a dead mirror, then the lab mirror; no fallback): the pull works from the lab mirror;
    (the dead mirror only; fallback) and (the dead mirror only; no fallback): the pull fails, and only the
    fallback connects to the registry itself. Each entry: {host: {client: (rc, output, connections)}}. dockerd
    is asked on Docker 28 and newer only (older engines read no hosts.toml)."""
    lab = lab_vars(lab_host(group_hosts("build_servers")[0]))
    image = "%s/acme/hello:latest" % upstream.name
    outcomes = {}
    for case, mirrors, fallback in [("served", [lab["lab_closed_url"], lab["lab_registry_url"]], False),
                                    ("down, fallback", [lab["lab_closed_url"]], True),
                                    ("down, no fallback", [lab["lab_closed_url"]], False)]:
        apply({upstream.name: mirrors}, fallback)
        outcomes[case] = {name: pulls(name, image, upstream) for name in group_hosts("build_servers")}
    return outcomes


def clients(host, outcomes, case):
    """The outcomes of one case on this host: the clients that read the files, and dockerd's graphdriver apart."""
    said = dict(outcomes[case][host.backend.get_hostname()])
    graphdriver = said.pop("docker", None) if not containerd_store(host) else None
    return said, graphdriver


def test_without_fallback_the_files_name_no_way_to_the_registry(host, upstream, fallback_outcomes):
    lab = lab_vars(host)
    hosts_toml = toml(host, "/etc/containerd/certs.d/%s/hosts.toml" % upstream.name)
    # One mirror is both the server and the one host (containerd 1.6 refuses a file without a host).
    assert hosts_toml == {"server": lab["lab_closed_url"], "capabilities": ["pull", "resolve"],
                          "host": {lab["lab_closed_url"]: {"capabilities": ["pull", "resolve"]}}}
    dropin = toml(host, "/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf")
    assert [entry for entry in dropin["registry"] if entry["prefix"] == upstream.name] == [
        {"prefix": upstream.name, "location": upstream.name, "blocked": True,
         "mirror": [{"location": lab["lab_closed_url"].split("://", 1)[1], "insecure": True}]}]


def test_without_fallback_every_client_pulls_from_the_last_mirror(host, fallback_outcomes):
    said, graphdriver = clients(host, fallback_outcomes, "served")
    assert said and all(rc == 0 and connections == 0 for rc, output, connections in said.values()), said


def test_with_its_mirror_down_only_the_fallback_reaches_the_registry(host, fallback_outcomes):
    with_fallback, dummy = clients(host, fallback_outcomes, "down, fallback")
    without, dummy = clients(host, fallback_outcomes, "down, no fallback")
    assert all(rc != 0 and connections >= 1 for rc, output, connections in with_fallback.values()), with_fallback
    assert all(rc != 0 and connections == 0 for rc, output, connections in without.values()), without
    if "podman" in without:
        assert "is blocked" in without["podman"][1], without


def test_dockerd_with_the_graphdriver_ignores_the_hosts_toml_and_goes_to_the_registry(host, fallback_outcomes):
    """What docker_mirrors_result.limits says of Docker 28 with the graphdriver, shown with the stand-in registry."""
    said, graphdriver = clients(host, fallback_outcomes, "served")
    if graphdriver is None:
        pytest.skip("Docker 28 and newer with the graphdriver only")
    rc, output, connections = graphdriver
    assert rc != 0 and connections >= 1, graphdriver
