"""Mirrors of a registry other than Docker Hub (ghcr.io), proven with the real clients against the lab mirror.

The lab has no route to any real registry: a pull of ghcr.io/acme/hello that succeeds came from the lab
mirror, and the mirror's own log shows the request (containerd-style clients name the upstream registry in
the query, ?ns=ghcr.io). test_registries_fallback.py, which runs after this file, changes the policy.
"""
from __future__ import annotations

import json
import re

import pytest
from labinfra import group_hosts
from test_docker_mirrors import MANAGED_BY, RegistryLog, mirror_netloc, mirror_url

testinfra_hosts = group_hosts("build_servers")

GHCR_IMAGE = "ghcr.io/acme/hello:latest"
HUB_IMAGE = "docker.io/library/hello:latest"
HELLO = "Hello from the buildfleet lab mirror"
BUILDKITD_TOML = "/etc/buildkit/buildkitd.toml"
TOML_AS_JSON = "python3 -c 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], \"rb\"))))' %s"


def toml(host, path):
    return json.loads(host.check_output(TOML_AS_JSON % path))


def docker_major(host):
    return int(re.search(r"(\d+)\.", host.check_output("dockerd --version")).group(1))


def containerd_store(host):
    status = json.loads(host.check_output("docker info --format '{{json .DriverStatus}}'"))
    return ["driver-type", "io.containerd.snapshotter.v1"] in status


def converge_record(host):
    return json.loads(host.file("/var/tmp/buildfleet-converge-result.json").content_string)


# ---------------------------------------------------------------------------
# What the run that changed the host proved, and what it left behind
# ---------------------------------------------------------------------------

def test_the_converge_proved_each_path_dockerd_mirrors_with_a_pull(host):
    result = converge_record(host)["result"]
    pulled = [line for line in result["verified"] if line.startswith("dockerd pulled ")]
    expected = [HUB_IMAGE] + ([GHCR_IMAGE] if containerd_store(host) else [])
    assert [line.split()[2] for line in pulled] == expected, result
    assert result["unproven"] == [], result


def test_the_converge_left_no_probe_image_behind(host):
    images = converge_record(host)["images"]
    assert not [image for image in images if re.search(r"(^|/)(library/)?hello:latest$|acme/hello", image)], images


def test_the_result_says_what_dockerd_does_not_mirror(host):
    limits = converge_record(host)["result"]["limits"]
    dockerd = [line for line in limits if line.startswith("dockerd: pulls of ghcr.io")]
    if containerd_store(host):
        assert dockerd == [], limits
    elif docker_major(host) >= 28:
        assert dockerd and "graphdriver" in dockerd[0], limits
    else:
        assert dockerd and "reads no hosts.toml" in dockerd[0], limits
    assert any(line.startswith("buildkitd: running buildkitd daemons") for line in limits), limits


# ---------------------------------------------------------------------------
# The files, and the real clients
# ---------------------------------------------------------------------------

def test_ghcr_hosts_toml_for_containerd_falls_back_to_ghcr(host):
    path = "/etc/containerd/certs.d/ghcr.io/hosts.toml"
    assert host.file(path).content_string.startswith("# " + MANAGED_BY)
    assert toml(host, path) == {"server": "https://ghcr.io",
                                "host": {mirror_url(host).rstrip("/"): {"capabilities": ["pull", "resolve"]}}}


def test_dockerd_gets_its_own_hosts_toml_from_docker_28_on(host):
    path = "/etc/docker/certs.d/ghcr.io/hosts.toml"
    if docker_major(host) < 28:
        assert not host.file(path).exists
    else:
        assert toml(host, path)["host"] == {mirror_url(host).rstrip("/"): {"capabilities": ["pull", "resolve"]}}


def test_ctr_pulls_ghcr_through_the_hosts_dir(host):
    """containerd 1.6 (bookworm), 1.7 (trixie) and 2.1 (the Docker 28 instances) each read the file."""
    host.run("ctr --namespace buildfleet-test images rm %s" % GHCR_IMAGE)
    log = RegistryLog()
    pulled = host.run("ctr --namespace buildfleet-test images pull --hosts-dir /etc/containerd/certs.d %s" % GHCR_IMAGE)
    host.run("ctr --namespace buildfleet-test images rm %s" % GHCR_IMAGE)
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    assert log.requests(r'"(GET|HEAD) /v2/acme/hello/manifests/latest\?ns=ghcr\.io HTTP/1\.1" 200 .*"containerd/')


def test_podman_pulls_ghcr_through_the_dropin(host):
    if not host.exists("podman"):
        assert host.system_info.codename != "trixie", "the trixie instances must have podman"
        pytest.skip("podman is installed on the trixie instances only")
    registries = json.loads(host.check_output("podman info --format '{{json .Registries}}'"))
    assert registries["ghcr.io"]["Mirrors"] == [
        {"Location": mirror_netloc(host), "Insecure": True, "PullFromMirror": ""}]
    log = RegistryLog()
    pulled = host.run("podman pull %s" % GHCR_IMAGE)
    host.run("podman rmi %s" % GHCR_IMAGE)
    assert pulled.rc == 0, pulled.stderr
    assert log.requests(r'"(GET|HEAD) /v2/acme/hello/manifests/latest HTTP/1\.1" 200 .*"containers/')


def test_docker_pull_of_ghcr_takes_the_mirror_on_the_containerd_store(host):
    if not containerd_store(host):
        # The graphdriver would go to ghcr.io itself (the lab sends nothing there): the fallback tests below show
        # it with a stand-in registry, and the result's limits say it.
        pytest.skip("dockerd mirrors ghcr.io only with the containerd image store (Docker 28 and newer)")
    host.run("docker image rm %s" % GHCR_IMAGE)
    log = RegistryLog()
    pulled = host.run("docker pull %s" % GHCR_IMAGE)
    host.run("docker image rm %s" % GHCR_IMAGE)
    assert pulled.rc == 0, pulled.stderr
    assert log.requests(r'"(GET|HEAD) /v2/acme/hello/manifests/latest\?ns=ghcr\.io HTTP/1\.1" 200')


@pytest.mark.parametrize("base", ["hello", GHCR_IMAGE])
def test_docker_build_pulls_its_from_image_through_the_mirror(host, base):
    if base == GHCR_IMAGE and docker_major(host) < 28:
        # BuildKit (buildx) reads /etc/docker/certs.d on both stores; the legacy builder of 20.10 and 26 does not.
        pytest.skip("docker build takes ghcr.io through the mirror with BuildKit on Docker 28 and newer")
    host.run("docker image rm %s" % base)
    context = host.check_output("mktemp -d")
    host.run_expect([0], "printf 'FROM %s\\nLABEL org.buildfleet.test=from-mirror\\n' > %s/Dockerfile" % (base, context))
    log = RegistryLog()
    built = host.run("docker build --network host --tag buildfleet-test/from-mirror %s" % context)
    host.run("docker image rm buildfleet-test/from-mirror %s; rm -rf %s" % (base, context))
    assert built.rc == 0, built.stdout + built.stderr
    repository = "library/hello" if base == "hello" else "acme/hello"
    assert log.requests(r'"(GET|HEAD) /v2/%s/manifests/latest(\?ns=\S+)? HTTP/1\.1" 200' % repository)


def test_buildkitd_toml_got_the_mirrors_and_kept_the_hosts_own_settings(host):
    config = toml(host, BUILDKITD_TOML)
    netloc = mirror_netloc(host)
    assert config["debug"] is True
    assert config["worker"]["oci"] == {"enabled": True, "gc": True, "gcpolicy": [{"keepBytes": 10240000000}]}
    assert config["registry"]["docker.io"] == {"ca": ["/etc/ssl/certs/ca-certificates.crt"], "mirrors": [netloc]}
    assert config["registry"]["ghcr.io"] == {"mirrors": [netloc]}
    assert config["registry"][netloc] == {"http": True}
    text = host.file(BUILDKITD_TOML).content_string
    assert "# Keep the cache small on CI agents." in text and "# The corporate CA for Docker Hub's mirror." in text
    assert host.file(BUILDKITD_TOML).mode == 0o640
    backups = host.check_output("ls -1 %s.*~" % BUILDKITD_TOML).splitlines()
    assert len(backups) == 1 and "mirrors" not in host.file(backups[0]).content_string
