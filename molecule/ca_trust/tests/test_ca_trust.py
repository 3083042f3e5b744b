"""The ca_trust role proven by real clients against a real TLS server on each build server.

Each build server has its own CA (prepare.yml) that the role installed in converge. A TLS server started here with
``openssl s_server`` on a free 127.0.0.1 port serves a certificate that CA signed; curl, Python's default SSL context
and openssl (CAfile and the CApath hash links) must trust it. Bad input (an expired CA, a private key) fails with the
trust store unchanged and no key body in the output at -vvv. State absent is proven in test_ca_trust_removal.py,
which pytest runs after this module.
"""
from __future__ import annotations

import base64
import contextlib
import json
import re
import textwrap
from pathlib import Path

import pytest
from golab import run_playbook
from labinfra import group_hosts, host as lab_host

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
PKI = "/root/ca-trust-pki"
OWN_DIR = "/usr/local/share/ca-certificates/buildfleet-mirrors"
CA_FILE = OWN_DIR + "/ca-trust-scenario.crt"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
UNIT = "ca-trust-tls.service"


def trust_store_fingerprint(host) -> list[str]:
    """Every path of the trust store (type, mode, link target) and the sha256 of every file in it."""
    return host.check_output(
        "find /usr/local/share/ca-certificates /etc/ssl/certs -printf '%p %y %m %l\\n' | LC_ALL=C sort"
        " && find /usr/local/share/ca-certificates /etc/ssl/certs -type f -print0 | LC_ALL=C sort -z"
        " | xargs -0 sha256sum").splitlines()


def fingerprints() -> dict[str, list[str]]:
    return {name: trust_store_fingerprint(lab_host(name)) for name in testinfra_hosts}


def results(output: str) -> dict[str, dict]:
    found = {}
    for token in re.findall(r"CA_TRUST_RESULT=([A-Za-z0-9+/=]+)", output):
        shown = json.loads(base64.b64decode(token))
        found[shown["host"]] = shown["result"]
    return found


def der_b64(host, path: str) -> str:
    """The base64 of a certificate file's DER on one line, to look for it in the bundle."""
    return host.check_output("openssl x509 -in %s -outform DER | base64 -w0" % path)


def in_bundle(host, path: str) -> bool:
    bundle = "".join(host.file(BUNDLE).content_string.split())
    return der_b64(host, path) in bundle


@contextlib.contextmanager
def serving(host):
    """openssl s_server on a free 127.0.0.1 port with the server certificate the scenario's CA signed; its URL."""
    port = int(host.check_output(
        "python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'"))
    unit = textwrap.dedent("""\
        [Service]
        ExecStart=/usr/bin/openssl s_server -accept 127.0.0.1:%d -cert %s/server.crt -key %s/server.key -www -quiet
        """ % (port, PKI, PKI))
    host.run_expect([0], "cat > /run/systemd/system/%s <<'EOF'\n%sEOF" % (UNIT, unit))
    host.run_expect([0], "systemctl daemon-reload && systemctl start %s" % UNIT)
    host.run_expect([0], "for i in $(seq 50); do python3 -c 'import socket; socket.create_connection("
                         "(\"127.0.0.1\", %d), 1)' 2>/dev/null && exit 0; sleep 0.2; done; exit 1" % port)
    try:
        yield "https://127.0.0.1:%d/" % port
    finally:
        host.run("systemctl stop %s; rm -f /run/systemd/system/%s; systemctl daemon-reload" % (UNIT, UNIT))


@pytest.fixture
def tls_server(host):
    with serving(host) as url:
        yield url


CLIENTS = {
    "curl": "curl --silent --show-error --fail --max-time 20 --output /dev/null {url}",
    "python": "python3 -c 'import urllib.request; urllib.request.urlopen(\"{url}\", timeout=20).read()'",
    "openssl s_client (CAfile)": "openssl s_client -connect {hostport} -verify_return_error -CAfile "
                                 + BUNDLE + " </dev/null",
    "openssl verify (CApath hash links)": "openssl verify -CApath /etc/ssl/certs " + PKI + "/server.crt",
}


def client_command(name: str, url: str) -> str:
    return CLIENTS[name].format(url=url, hostport=url.split("//")[1].rstrip("/"))


def test_the_ca_is_one_file_of_the_collection_and_in_the_bundle(host):
    ca = host.file(CA_FILE)
    assert ca.is_file and ca.mode == 0o644 and ca.user == "root"
    assert host.file(OWN_DIR).is_directory
    assert in_bundle(host, PKI + "/ca.crt")
    # Its hash link (openssl rehash) points at the collection's file.
    assert host.file("/etc/ssl/certs/ca-trust-scenario.pem").linked_to == CA_FILE


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_clients_trust_the_server_the_ca_signed(host, tls_server, client):
    done = host.run(client_command(client, tls_server))
    assert done.rc == 0, done.stdout + done.stderr


# id: (files to trust, tasks_from, what the message must say)
BAD_INPUT = {
    "expired CA": ([{"name": "expired", "path": PKI + "/expired.crt"}], "main",
                   "ca_trust_certificates[0] (name expired) certificate (line 1, CN=ca_trust expired CA) expired on "
                   "2001-01-01T00:00:00Z"),
    "private key": ([{"name": "ca-trust-scenario", "path": PKI + "/ca.crt"},
                     {"name": "oops", "path": PKI + "/stray.key"}], "main",
                    "ca_trust_certificates[1] (name oops)"),
    "private key given to the module on the host": ([{"name": "oops", "path": PKI + "/stray.key"}], "apply",
                                                    "certificates (ca_trust_certificates)[0] (name oops)"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_with_the_trust_store_unchanged(case):
    files, tasks_from, expected = BAD_INPUT[case]
    before = fingerprints()
    run = run_playbook(CONVERGE, {"__ca_trust_files": files, "__ca_trust_tasks_from": tasks_from}, "-vvv")
    after = fingerprints()
    assert run.rc != 0
    assert expected in run.text, run.output[-3000:]
    if "key" in case:
        assert "PRIVATE KEY" in run.text.split(expected, 1)[1][:300]
    for name in testinfra_hosts:
        assert run.recap[name]["failed"] == 1 and run.recap[name]["changed"] == 0
    assert after == before
    for name in testinfra_hosts:
        body = [line for line in lab_host(name).file(PKI + "/stray.key").content_string.splitlines()
                if line and not line.startswith("-----")]
        assert body and not any(line in run.output for line in body)


HOOK = "/etc/ca-certificates/update.d/zz-ca-trust-scenario"


def test_a_bundle_without_the_new_ca_after_the_update_puts_everything_back():
    """A hook of update-ca-certificates (run after the bundle is written) puts the old bundle back, so the new CA is
    missing from it: the writer must restore every file, update again and fail naming the CA, host unchanged."""
    hosts = [lab_host(name) for name in testinfra_hosts]
    try:
        for host in hosts:
            host.run_expect([0], "cp %s %s/bundle.saved" % (BUNDLE, PKI))
            host.run_expect([0], "printf '#!/bin/sh\\ncat >/dev/null\\ncp %s/bundle.saved %s\\n' > %s"
                            " && chmod 0755 %s" % (PKI, BUNDLE, HOOK, HOOK))
        before = fingerprints()
        run = run_playbook(CONVERGE, {"__ca_trust_files": [{"name": "ca-trust-scenario", "path": PKI + "/ca.crt"},
                                                           {"name": "second", "path": PKI + "/second.crt"}]})
        after = fingerprints()
    finally:
        for host in hosts:
            host.run("rm -f %s %s/bundle.saved" % (HOOK, PKI))
    assert run.rc != 0
    assert "after the update, %s does not hold second (CN=ca_trust second CA" % BUNDLE in run.text, run.output[-3000:]
    assert "Every file this run changed was restored byte for byte" in run.text
    assert "and the trust store was updated from them again" in run.text
    for name in testinfra_hosts:
        assert run.recap[name]["failed"] == 1 and run.recap[name]["changed"] == 0
    assert after == before
