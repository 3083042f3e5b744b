"""After the good run, real clients on each build server: go as a member of the group (login shells), as an
outsider, and from the two listed services (one runs as the outsider); curl, ctr and podman through the TLS registry
mirror (they verify certificates on the loopback); docker pull through it (dockerd does not verify there, see
LAB-TRAPS: its CA handling is shown by the certs.d files only)."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from golab import unit_environment
from labinfra import group_hosts, mirror
from pmfleet import GROUP, NETRC, UNITS

testinfra_hosts = group_hosts("build_servers")

# Go programs (ctr, podman, go) read the system trust from these; pointed at nothing, only a CA file the collection
# wrote for the consumer itself can make the mirror's certificate trusted.
NO_SYSTEM_TRUST = "SSL_CERT_FILE=/dev/null SSL_CERT_DIR=/nonexistent"


@pytest.fixture(autouse=True)
def converged(fleet):
    """Every test here reads the host after the good run (and the second one)."""
    assert fleet.good.rc == 0, "the good run failed: nothing to prove on the hosts"


def go_download(module: str, version: str) -> str:
    """A command (sh) that downloads module@version into a fresh module cache and removes it, keeping go's exit code."""
    return ("d=$(mktemp -d) && cd \"$d\" && GOMODCACHE=\"$d/mod\" GOCACHE=\"$d/cache\" go mod download -json %s@%s;"
            " rc=$?; chmod -R u+w \"$d\"; rm -rf \"$d\"; exit $rc" % (module, version))


def log_count(lab: dict, user: str, request: str) -> int:
    log = mirror().file(lab["lab_goproxy_access_log"])
    return log.content_string.count('user=%s "%s ' % (user, request)) if log.exists else 0


def private_zip(lab: dict) -> str:
    return "GET /%s/@v/%s.zip" % (lab["lab_auth_module"], lab["lab_auth_module_version"])


def test_the_credentials_file_is_for_root_and_the_group_only(host):
    netrc = host.file(NETRC)
    assert netrc.is_file and netrc.user == "root" and netrc.group == GROUP and netrc.mode == 0o640


@pytest.mark.parametrize("su", ["su - member -c", "su -l member -c"])
def test_a_member_downloads_the_private_module_in_a_login_shell(host, lab, su):
    before = log_count(lab, lab["lab_goproxy_login"], private_zip(lab))
    done = host.run("%s %s" % (su, shlex.quote(go_download(lab["lab_auth_module"], lab["lab_auth_module_version"]))))
    assert done.rc == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["Version"] == lab["lab_auth_module_version"]
    # The proxy saw this download under its login.
    assert log_count(lab, lab["lab_goproxy_login"], private_zip(lab)) == before + 1


def test_an_outsider_gets_the_proxys_refusal_not_a_netrc_error(host, lab):
    info = "GET /%s/@v/%s.info" % (lab["lab_auth_module"], lab["lab_auth_module_version"])
    before = log_count(lab, "-", info)
    done = host.run("su - outsider -c %s" % shlex.quote(go_download(lab["lab_auth_module"],
                                                                    lab["lab_auth_module_version"])))
    output = done.stdout + done.stderr
    assert done.rc != 0
    assert "401 Unauthorized" in output, output
    assert "netrc" not in output.lower(), output
    # The request reached the proxy without credentials.
    assert log_count(lab, "-", info) > before


def test_an_outsider_cannot_read_the_credentials_and_is_not_pointed_at_them(host):
    read = host.run("su - outsider -c 'cat %s'" % NETRC)
    assert read.rc != 0 and "Permission denied" in read.stderr, read.stdout + read.stderr
    assert host.check_output("su - outsider -c 'echo ${NETRC-unset}'") == "unset"
    assert host.check_output("su - member -c 'echo ${NETRC-unset}'") == NETRC


def test_an_outsider_still_downloads_public_modules(host, lab):
    done = host.run("su - outsider -c %s" % shlex.quote(go_download(lab["lab_private_module"],
                                                                    lab["lab_private_module_version"])))
    assert done.rc == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["Version"] == lab["lab_private_module_version"]


@pytest.mark.parametrize("unit", UNITS)
def test_a_listed_service_downloads_the_private_module_whatever_its_user(host, lab, unit):
    who = unit.split("-")[-1].split(".")[0]
    assert host.check_output("systemctl show --property=User --value %s" % unit) == who
    assert GROUP in host.check_output("systemctl show --property=SupplementaryGroups --value %s" % unit).split()
    assert unit_environment(host, unit).get("NETRC") == NETRC
    before = log_count(lab, lab["lab_goproxy_login"], private_zip(lab))
    started = host.run("systemctl start %s" % unit)
    output = host.file("/var/log/pm-fetch-%s.log" % who).content_string
    assert started.rc == 0, output
    assert "user=%s " % who in output
    assert '"Version": "%s"' % lab["lab_auth_module_version"] in output, output
    assert log_count(lab, lab["lab_goproxy_login"], private_zip(lab)) == before + 1


def test_curl_reaches_the_tls_registry_mirror_with_the_system_trust(host, lab, fleet):
    assert fleet.fresh[host.backend.get_hostname()]["curl registry mirror exit code"] == "60"
    head = host.check_output("curl -sS -o /dev/null -D - --max-time 20 %s/v2/" % lab["lab_registry_tls_url"])
    assert " 200" in head.splitlines()[0], head


def _hosts_dir_for(host, url: str) -> str:
    """A containerd hosts directory that names the registry itself over https (containerd 1.6 takes a loopback
    registry for plain HTTP otherwise), with no CA: the system trust decides."""
    hostport = url.split("://", 1)[1]
    hosts_dir = host.check_output("mktemp -d")
    host.check_output("mkdir %s/%s && printf '%%s\\n' 'server = \"%s\"' '[host.\"%s\"]' '  capabilities = [\"pull\", \"resolve\"]'"
                      " > %s/%s/hosts.toml" % (hosts_dir, hostport, url, url, hosts_dir, hostport))
    return hosts_dir


def test_ctr_pulls_through_the_tls_mirror_with_the_ca_of_hosts_toml(host, lab):
    hostport = lab["lab_registry_tls_url"].split("://", 1)[1]
    hosts_dir = _hosts_dir_for(host, lab["lab_registry_tls_url"])
    try:
        # Control: without the system trust, the mirror's certificate is refused when no hosts.toml gives a CA.
        control = host.run("%s ctr -n pm images pull --hosts-dir %s %s/library/hello:latest"
                           % (NO_SYSTEM_TRUST, hosts_dir, hostport))
        assert control.rc != 0 and "x509" in control.stderr, control.stdout + control.stderr
        # With the system trust (the lab CA that ca_trust installed), straight from the registry.
        direct = host.run("ctr -n pm images pull --hosts-dir %s %s/library/hello:latest" % (hosts_dir, hostport))
        assert direct.rc == 0, direct.stdout + direct.stderr
    finally:
        host.run("ctr -n pm images rm %s/library/hello:latest; rm -rf %s" % (hostport, hosts_dir))
    # Docker Hub's name through the mirror the role wrote, without the system trust: the CA of its hosts.toml.
    pulled = host.run("%s ctr -n pm images pull --hosts-dir /etc/containerd/certs.d docker.io/library/hello:latest"
                      % NO_SYSTEM_TRUST)
    host.run("ctr -n pm images rm docker.io/library/hello:latest")
    assert pulled.rc == 0, pulled.stdout + pulled.stderr


def _lab_ca_body(lab: dict) -> str:
    return "".join(line for line in mirror().file(lab["lab_ca_path"]).content_string.split()
                   if not line.startswith("-----") and "CERTIFICATE" not in line)


def _holds_lab_ca(host, path: str, lab: dict) -> bool:
    text = host.file(path).content_string
    return _lab_ca_body(lab) in "".join(line for line in text.split() if not line.startswith("-----"))


def test_each_consumer_has_the_ca_of_the_https_mirror(host, lab):
    hostport = lab["lab_registry_tls_url"].split("://", 1)[1]
    for path in ("/etc/docker/certs.d/%s/ca.crt" % hostport, "/etc/containers/certs.d/%s/ca.crt" % hostport):
        assert host.file(path).is_file, path
        assert _holds_lab_ca(host, path, lab), path
    # containerd: the mirror's host table in hosts.toml names a CA file beside it.
    hosts_toml = "/etc/containerd/certs.d/docker.io/hosts.toml"
    tables = json.loads(host.check_output(
        "python3 -c 'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], \"rb\"))))' %s"
        % hosts_toml))
    entry = tables.get("host", {}).get(lab["lab_registry_tls_url"], {})
    cas = entry.get("ca")
    cas = [cas] if isinstance(cas, str) else cas or []
    assert cas, tables
    for ca in cas:
        assert ca.startswith("/etc/containerd/certs.d/docker.io/"), ca
        assert _holds_lab_ca(host, ca, lab), ca


def _registry_log_count(request: str) -> int:
    log = mirror().check_output("journalctl --no-pager -o cat -u buildfleet-registry-tls.service")
    return len(re.findall(re.escape(request), log))


def test_docker_pulls_through_the_tls_mirror_without_a_restart(host, fleet):
    # The tests of test_runs.py compare dockerd's PID and the container's start time across every run.
    before = _registry_log_count("/v2/library/hello/manifests/")
    pulled = host.run("docker pull hello:latest")
    host.run("docker rmi hello:latest")
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
    assert _registry_log_count("/v2/library/hello/manifests/") > before
    name = host.backend.get_hostname()
    assert host.check_output("systemctl show --property=MainPID --value docker.service") == fleet.fresh[name]["dockerd pid"]
    assert host.check_output("docker inspect --format '{{.State.Running}} {{.State.StartedAt}}' pm-long") == (
        "true " + fleet.fresh[name]["pm-long started"])


def test_podman_pulls_through_the_tls_mirror_with_the_ca_of_containers_certs_d(host):
    if host.run("command -v podman").rc != 0:
        pytest.skip("no podman on this platform (Debian 13 only)")
    pulled = host.run("%s podman pull --retry 0 docker.io/library/hello:latest" % NO_SYSTEM_TRUST)
    host.run("podman rmi docker.io/library/hello:latest")
    assert pulled.rc == 0, pulled.stdout + pulled.stderr
