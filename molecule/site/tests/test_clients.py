"""On the healthy hosts, after the fleet runs, the real clients fetch through the lab mirror, and the mirror's logs show it.

The failing host is left out here: test_fleet.py proves that nothing changed on it.
"""
from __future__ import annotations

import json
import re

import pytest
from labinfra import as_login_user, lab_vars, mirror, mirror_requests
from sitefleet import healthy_hosts

testinfra_hosts = healthy_hosts()
# Every test here reads the hosts as the fleet runs of conftest.py left them.
pytestmark = pytest.mark.usefixtures("fleet")

REGISTRY_UNIT = "buildfleet-registry.service"


def registry_log_count(path: str) -> int:
    """How many requests for this path the lab registry's access log (in its journal) shows, whatever the method.

    Docker 28 on the containerd image store pulls through containerd, which adds the upstream registry as a
    query (`?ns=docker.io`); the other engines send the bare path.
    """
    log = mirror().check_output("journalctl --unit %s --output cat --no-pager --quiet" % REGISTRY_UNIT)
    return len(re.findall(r' %s(\?ns=docker\.io)? HTTP/' % re.escape(path), log))


def goproxy_log_count(log_path: str, request: str) -> int:
    log = mirror().file(log_path)
    return log.content_string.count('"%s HTTP/' % request) if log.exists else 0


def test_dockerd_runs_with_the_policy_mirror(host):
    mirrors = json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))
    assert mirrors == [lab_vars(host)["lab_registry_url"] + "/"]


def test_docker_pull_of_a_docker_hub_name_is_served_by_the_mirror(host):
    # Docker 20.10, 26 and 28 ask for the tag with HEAD, then GET the manifest by digest.
    manifest = "/v2/library/hello/manifests/latest"
    host.run("docker rmi --force hello:latest")
    served_before = registry_log_count(manifest)
    # No registry but the lab mirror is reachable from the lab: Docker Hub itself would fail.
    pull = host.run("docker pull hello")
    assert pull.rc == 0, pull.stderr
    assert "docker.io/library/hello:latest" in pull.stdout
    assert registry_log_count(manifest) > served_before
    out = host.check_output("docker run --rm --network none hello")
    assert out == "Hello from the buildfleet lab mirror"
    host.run("docker rmi --force hello:latest")


def containerd_store(host) -> bool:
    status = json.loads(host.check_output("docker info --format '{{json .DriverStatus}}'"))
    return ["driver-type", "io.containerd.snapshotter.v1"] in status


def test_ctr_pulls_ghcr_through_the_mirror(host):
    """containerd 1.5 and newer read the hosts directory (ctr --hosts-dir); bullseye's 1.4 has no such flag."""
    if "--hosts-dir" not in host.run("ctr images pull --help").stdout:
        pytest.skip("this containerd's ctr has no --hosts-dir (containerd before 1.5)")
    manifest = "/v2/acme/hello/manifests/latest?ns=ghcr.io"
    served_before = mirror().check_output("journalctl --unit %s --output cat --no-pager --quiet"
                                          % REGISTRY_UNIT).count(" %s HTTP/" % manifest)
    pull = host.run("ctr --namespace buildfleet-test images pull --hosts-dir /etc/containerd/certs.d "
                    "ghcr.io/acme/hello:latest")
    host.run("ctr --namespace buildfleet-test images rm ghcr.io/acme/hello:latest")
    assert pull.rc == 0, pull.stdout + pull.stderr
    served = mirror().check_output("journalctl --unit %s --output cat --no-pager --quiet"
                                   % REGISTRY_UNIT).count(" %s HTTP/" % manifest)
    assert served > served_before


def test_dockerd_takes_ghcr_through_the_mirror_on_the_containerd_store(host):
    if not containerd_store(host):
        pytest.skip("dockerd mirrors ghcr.io with the containerd image store only")
    host.run("docker image rm ghcr.io/acme/hello:latest")
    pull = host.run("docker pull ghcr.io/acme/hello:latest")
    host.run("docker image rm ghcr.io/acme/hello:latest")
    assert pull.rc == 0, pull.stderr


def test_go_env_of_the_builder_login_shell_is_the_policy(host):
    lab = lab_vars(host)
    goproxy = host.check_output(as_login_user("builder", "go env GOPROXY"))
    assert goproxy == "%s,off" % lab["lab_goproxy_url"]


def test_go_mod_download_as_builder_is_served_by_the_mirror(host):
    lab = lab_vars(host)
    module, version = lab["lab_private_module"], lab["lab_private_module_version"]
    zip_request = "GET /%s/@v/%s.zip" % (module, version)
    served_before = goproxy_log_count(lab["lab_goproxy_access_log"], zip_request)
    # A fresh module cache, so the module really comes over the wire; everything else is the builder's login shell.
    job = (
        'work=$(mktemp -d) && cd "$work" && go mod init example.com/job >/dev/null 2>&1 '
        '&& GOMODCACHE="$work/mod" go mod download -json %s@%s; rc=$?; rm -rf "$work"; exit $rc' % (module, version)
    )
    result = host.run(as_login_user("builder", job))
    assert result.rc == 0, result.stdout + result.stderr
    info = json.loads(result.stdout)
    assert info["Version"] == version
    assert goproxy_log_count(lab["lab_goproxy_access_log"], zip_request) == served_before + 1


def test_pip_install_as_builder_is_served_by_the_lab_index(host):
    """pip in a fresh venv, from the builder's login shell with no cache, installs the lab project from the index."""
    lab = lab_vars(host)
    before = len(mirror_requests("pypi"))
    job = (
        'work=$(mktemp -d) && cd "$work" && python3 -m venv venv '
        '&& venv/bin/pip install --no-cache-dir --disable-pip-version-check -q %s==%s '
        '&& venv/bin/python -c "import importlib.metadata as m; print(m.version(\'%s\'))"; rc=$?; rm -rf "$work"; exit $rc'
        % (lab["lab_pypi_package"], lab["lab_package_version"], lab["lab_pypi_package"])
    )
    result = host.run(as_login_user("builder", job))
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == lab["lab_package_version"]
    served = mirror_requests("pypi")[before:]
    assert any(" GET /simple/%s/ 200 " % lab["lab_pypi_package"] in line for line in served), served
    assert any(" GET /packages/buildfleet_hello-%s-py3-none-any.whl 200 " % lab["lab_package_version"] in line
               for line in served), served


def test_npm_install_as_builder_is_served_by_the_lab_registry(host):
    """npm in a fresh directory with an empty cache installs the lab package and the @corp one from the registry."""
    lab = lab_vars(host)
    before = len(mirror_requests("npm"))
    job = (
        'work=$(mktemp -d) && cd "$work" && npm install --cache "$work/cache" --no-audit --no-fund --loglevel=error '
        '%s %s >/dev/null && for p in %s %s; do node -p "require(\\"./node_modules/$p/package.json\\").version"; done; '
        'rc=$?; rm -rf "$work"; exit $rc'
        % (lab["lab_npm_package"], lab["lab_npm_scoped_package"], lab["lab_npm_package"], lab["lab_npm_scoped_package"])
    )
    result = host.run(as_login_user("builder", job))
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.split() == [lab["lab_package_version"]] * 2, result.stdout
    served = mirror_requests("npm")[before:]
    assert any(" GET /%s " % lab["lab_npm_package"] in line for line in served), served
    assert any(" GET /@corp%2fhello " in line or " GET /@corp%2Fhello " in line for line in served), served
