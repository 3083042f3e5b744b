"""The policy on lived-in engines, proven with the real clients (docker, ctr, podman) against the lab mirror."""
from __future__ import annotations

import json
import re
import time

import pytest
from labinfra import group_hosts, lab_vars, mirror

testinfra_hosts = group_hosts("build_servers")

DAEMON_JSON = "/etc/docker/daemon.json"
HOSTS_TOML = "/etc/containerd/certs.d/docker.io/hosts.toml"
CONTAINERS_DROPIN = "/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf"
MANAGED_BY = "Managed by Ansible: buildfleet.mirrors.docker_mirrors."
HELLO = "Hello from the buildfleet lab mirror"


def daemon_json(host):
    return json.loads(host.file(DAEMON_JSON).content_string)


def registry_config(host):
    return json.loads(host.check_output("docker info --format '{{json .RegistryConfig}}'"))


def image_store(host):
    """containerd when dockerd runs the containerd image store (Docker 28's DriverStatus names the snapshotter), else graphdriver."""
    status = json.loads(host.check_output("docker info --format '{{json .DriverStatus}}'"))
    return "containerd" if ["driver-type", "io.containerd.snapshotter.v1"] in status else "graphdriver"


def mirror_url(host):
    return lab_vars(host)["lab_registry_url"] + "/"


def mirror_netloc(host):
    return lab_vars(host)["lab_registry_url"].split("://", 1)[1]


class RegistryLog:
    """The lab registry's own log (journald on the mirror host), read from a point in time on."""

    def __init__(self):
        self.mirror = mirror()
        out = self.mirror.check_output("journalctl -u buildfleet-registry --lines 1 --show-cursor --quiet -o cat")
        self.cursor = re.search(r"^-- cursor: (.+)$", out, re.MULTILINE).group(1)

    def requests(self, pattern, tries=20):
        """Access-log lines since the mark that match pattern; waits for journald to receive them."""
        for attempt in range(tries):
            out = self.mirror.check_output(
                "journalctl -u buildfleet-registry --after-cursor '%s' --quiet -o cat" % self.cursor)
            found = [line for line in out.splitlines() if re.search(pattern, line)]
            if found or attempt == tries - 1:
                return found
            time.sleep(0.5)


# ---------------------------------------------------------------------------
# daemon.json: the policy set, everything else kept
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("key, expected", [
    ("bridge", "none"),
    ("iptables", False),
    ("ip6tables", False),
    ("log-driver", "json-file"),
    ("log-opts", {"max-size": "10m", "max-file": "3"}),
    ("labels", ["buildfleet.lab=docker_mirrors"]),
    ("max-concurrent-downloads", 2),
])
def test_keys_the_policy_does_not_name_are_kept(host, key, expected):
    assert daemon_json(host)[key] == expected


def test_the_engine_keeps_its_image_store(host):
    # trixie-docker28-cs turns the containerd image store on in its daemon.json: a role that drops the key it does
    # not name would switch the engine back to the graphdriver at its next start (and hide the images it has).
    containerd_store = lab_vars(host)["inventory_hostname"].endswith("-cs")
    assert daemon_json(host).get("features") == ({"containerd-snapshotter": True} if containerd_store else None)
    assert image_store(host) == ("containerd" if containerd_store else "graphdriver")


def test_daemon_json_sets_exactly_the_policy(host):
    config = daemon_json(host)
    assert config["registry-mirrors"] == [mirror_url(host)]
    assert config["insecure-registries"] == [mirror_netloc(host)]


def test_the_file_before_the_role_is_kept_as_a_backup(host):
    backups = host.check_output("ls -1 %s.*~" % DAEMON_JSON).splitlines()
    assert len(backups) == 1
    before = json.loads(host.file(backups[0]).content_string)
    assert before["registry-mirrors"] == [lab_vars(host)["lab_closed_url"]]
    assert "insecure-registries" not in before


# ---------------------------------------------------------------------------
# dockerd took it by a reload, and really pulls Docker Hub names from the mirror
# ---------------------------------------------------------------------------

def test_docker_info_lists_exactly_the_policys_mirrors(host):
    config = registry_config(host)
    assert config["Mirrors"] == [mirror_url(host)]
    assert config["IndexConfigs"][mirror_netloc(host)]["Secure"] is False


def test_the_long_lived_container_was_never_restarted(host):
    started_before = host.file("/var/tmp/buildfleet-longlived.started").content_string.strip()
    state = json.loads(host.check_output("docker inspect --format '{{json .State}}' buildfleet-longlived"))
    assert state["Running"] is True
    assert state["StartedAt"] == started_before


def test_dockerd_was_reloaded_once_and_never_restarted(host):
    main_pid_before = host.file("/var/tmp/buildfleet-dockerd.pid").content_string.strip()
    assert host.check_output("systemctl show docker.service --property MainPID --value") == main_pid_before
    # systemd logs each `systemctl reload`: one for the converge, none for the idempotence or check runs.
    journal = host.check_output("journalctl --unit docker.service --quiet --output cat")
    reloads = re.findall(r"^Reloaded (docker\.service - )?Docker Application Container Engine", journal, re.MULTILINE)
    assert len(reloads) == 1, journal


def test_docker_pull_of_a_docker_hub_name_comes_from_the_mirror(host):
    host.run("docker rmi hello:latest")
    log = RegistryLog()
    pulled = host.run("docker pull hello")
    assert pulled.rc == 0, pulled.stderr
    # On the containerd image store, dockerd pulls through containerd, which names the upstream registry in a query.
    ns = r"\?ns=docker\.io" if image_store(host) == "containerd" else ""
    assert log.requests(r'"(GET|HEAD) /v2/library/hello/manifests/latest%s HTTP/1\.1" 200 .*"docker/' % ns)
    assert host.check_output("docker run --rm --network none hello") == HELLO


# ---------------------------------------------------------------------------
# containerd and containers/image
# ---------------------------------------------------------------------------

def test_hosts_toml_gives_the_mirror_pull_and_resolve_only(host):
    hosts_toml = host.file(HOSTS_TOML)
    assert hosts_toml.mode == 0o644
    assert hosts_toml.content_string.startswith("# " + MANAGED_BY)
    parsed = json.loads(host.check_output(
        "python3 -c 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], \"rb\"))))' %s"
        % HOSTS_TOML))
    assert parsed == {"server": "https://registry-1.docker.io",
                      "host": {mirror_url(host).rstrip("/"): {"capabilities": ["pull", "resolve"]}}}


def test_ctr_pulls_a_docker_hub_name_through_the_hosts_dir(host):
    host.run("ctr --namespace buildfleet-test images rm docker.io/library/hello:latest")
    log = RegistryLog()
    pulled = host.run("ctr --namespace buildfleet-test images pull --hosts-dir /etc/containerd/certs.d "
                      "docker.io/library/hello:latest")
    host.run("ctr --namespace buildfleet-test images rm docker.io/library/hello:latest")
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    # containerd names the upstream registry in a query on every mirror request.
    assert log.requests(r'"(GET|HEAD) /v2/library/hello/manifests/latest\?ns=docker\.io HTTP/1\.1" 200 .*"containerd/')


def test_containers_dropin_declares_the_mirror(host):
    dropin = host.file(CONTAINERS_DROPIN)
    assert dropin.mode == 0o644
    assert dropin.content_string.startswith("# " + MANAGED_BY)
    parsed = json.loads(host.check_output(
        "python3 -c 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], \"rb\"))))' %s"
        % CONTAINERS_DROPIN))
    # Docker Hub first, then each of docker_mirrors_registries (test_registries.py reads those).
    assert parsed["registry"][0] == {"prefix": "docker.io", "location": "docker.io",
                                     "mirror": [{"location": mirror_netloc(host), "insecure": True}]}


def test_podman_reads_the_mirror_and_pulls_through_it(host):
    if not host.exists("podman"):
        assert host.system_info.codename != "trixie", "the trixie instance must have podman"
        pytest.skip("podman is installed on the trixie instance only")
    registries = json.loads(host.check_output("podman info --format '{{json .Registries}}'"))
    assert registries["docker.io"]["Mirrors"] == [
        {"Location": mirror_netloc(host), "Insecure": True, "PullFromMirror": ""}]
    log = RegistryLog()
    pulled = host.run("podman pull docker.io/library/hello:latest")
    host.run("podman rmi docker.io/library/hello:latest")
    assert pulled.rc == 0, pulled.stderr
    assert log.requests(r'"(GET|HEAD) /v2/library/hello/manifests/latest HTTP/1\.1" 200 .*"containers/')
