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


def test_tls_registry_answers_v2_with_the_lab_ca(host):
    # The lab scenario's build servers trust the lab CA (prepare_lab.yml): curl takes the system trust store.
    url = lab_vars(host)["lab_registry_tls_url"]
    head = host.check_output("curl -sS -o /dev/null -D - %s/v2/" % url)
    assert " 200" in head.splitlines()[0], head
    assert "docker-distribution-api-version: registry/2.0" in head.lower()


def test_tls_registry_refuses_a_client_without_the_lab_ca(host):
    # Python with only the public CAs Debian ships (a cafile replaces the defaults): it must refuse the mirror's
    # certificate. (curl --cacert would still read /etc/ssl/certs, where the lab CA is.)
    url = lab_vars(host)["lab_registry_tls_url"]
    bundle = host.check_output("mktemp")
    host.check_output("cat /usr/share/ca-certificates/mozilla/*.crt > %s" % bundle)
    refused = host.run(
        "python3 -c 'import ssl, sys, urllib.request; urllib.request.urlopen(sys.argv[2], timeout=20,"
        " context=ssl.create_default_context(cafile=sys.argv[1]))' %s %s/v2/" % (bundle, url))
    host.run("rm -f %s" % bundle)
    assert refused.rc != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr


def test_containerd_pulls_from_the_tls_registry_with_the_system_trust(host):
    # containerd verifies certificates on the loopback (dockerd does not: it takes 127.0.0.0/8 as insecure).
    # containerd 1.6 speaks plain HTTP to a loopback registry unless a hosts.toml says https.
    url = lab_vars(host)["lab_registry_tls_url"]
    hostport = url.split("://", 1)[1]
    hosts_dir = host.check_output("mktemp -d")
    host.check_output("mkdir %s/%s && printf '%%s\\n' 'server = \"%s\"' '[host.\"%s\"]' '  capabilities = [\"pull\", \"resolve\"]'"
                      " > %s/%s/hosts.toml" % (hosts_dir, hostport, url, url, hosts_dir, hostport))
    reference = "%s/acme/hello:latest" % hostport
    pulled = host.run("ctr -n lab-tls images pull --hosts-dir %s %s" % (hosts_dir, reference))
    host.run("ctr -n lab-tls images rm %s; rm -rf %s" % (reference, hosts_dir))
    assert pulled.rc == 0, pulled.stdout + pulled.stderr


def _auth_path(lab: dict, kind: str) -> str:
    module, version = {
        "private": (lab["lab_auth_module"], lab["lab_auth_module_version"]),
        "public": (lab["lab_private_module"], lab["lab_private_module_version"]),
    }[kind]
    return "/%s/@v/%s.info" % (module, version)


# id: (module, credentials, expected status)
AUTH_CASES = {
    "private module, no login": ("private", None, 401),
    "private module, the login": ("private", "right", 200),
    "private module, a wrong password": ("private", "wrong", 401),
    "private module, an unknown login": ("private", "unknown", 401),
    "public module, no login": ("public", None, 200),
    "public module, the login": ("public", "right", 200),
    "public module, a wrong password": ("public", "wrong", 401),
}


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
def test_auth_proxy_serves_the_private_tree_to_its_login_only(host, case):
    kind, credentials, expected = AUTH_CASES[case]
    lab = lab_vars(host)
    user = {None: "", "right": "-u %s:%s" % (lab["lab_goproxy_login"], lab["lab_goproxy_password"]),
            "wrong": "-u %s:not-the-password" % lab["lab_goproxy_login"],
            "unknown": "-u nobody-here:%s" % lab["lab_goproxy_password"]}[credentials]
    out = host.check_output("curl -sS -o /dev/null -D - -w 'STATUS=%%{http_code}\\n' %s %s%s"
                            % (user, lab["lab_goproxy_auth_url"], _auth_path(lab, kind)))
    assert "STATUS=%d" % expected in out, out
    if expected == 401:
        assert 'www-authenticate: basic realm=' in out.lower(), out


@pytest.mark.parametrize("proxy_var", ["lab_goproxy_url", "lab_goproxy_tls_url"])
def test_the_open_proxies_do_not_serve_the_private_module(host, proxy_var):
    lab = lab_vars(host)
    status = host.check_output("curl -sS -o /dev/null -w '%%{http_code}' %s%s"
                               % (lab[proxy_var], _auth_path(lab, "private")))
    assert status == "404"


@pytest.mark.parametrize("with_netrc", [True, False], ids=["netrc", "no netrc"])
def test_go_downloads_the_private_module_with_the_login_only(host, with_netrc):
    lab = lab_vars(host)
    module = "%s@%s" % (lab["lab_auth_module"], lab["lab_auth_module_version"])
    cache = host.check_output("mktemp -d")
    # Go 1.15 and 1.19 match a netrc machine by host, Go 1.24 by host:port (golang/go#37130): both lines.
    hostport = lab["lab_goproxy_auth_url"].split("://", 1)[1]
    host.check_output("umask 077; printf 'machine %%s login %%s password %%s\\n' %s %s %s %s %s %s > %s/netrc"
                      % (hostport.split(":")[0], lab["lab_goproxy_login"], lab["lab_goproxy_password"],
                         hostport, lab["lab_goproxy_login"], lab["lab_goproxy_password"], cache))
    env = ("HOME=%s GOPATH=%s/go GOMODCACHE=%s/mod GOFLAGS=-modcacherw GOPROXY=%s GOPRIVATE=corp.example "
           "GONOPROXY=none NETRC=%s" % (cache, cache, cache, lab["lab_goproxy_auth_url"],
                                        cache + "/netrc" if with_netrc else cache + "/none"))
    zip_line = '"GET /%s/@v/%s.zip ' % (lab["lab_auth_module"], lab["lab_auth_module_version"])
    access_log = mirror().file(lab["lab_goproxy_access_log"])
    before = access_log.content_string.count("user=%s %s" % (lab["lab_goproxy_login"], zip_line))
    result = host.run("cd %s && env %s go mod download -json %s" % (cache, env, module))
    host.run("rm -rf %s" % cache)
    log = access_log.content_string
    assert lab["lab_goproxy_password"] not in log
    if with_netrc:
        assert result.rc == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["Version"] == lab["lab_auth_module_version"]
        # The proxy's log names the login of this very download.
        assert log.count("user=%s %s" % (lab["lab_goproxy_login"], zip_line)) == before + 1
    else:
        assert result.rc != 0
        assert "401 Unauthorized" in result.stdout + result.stderr, result.stdout + result.stderr
