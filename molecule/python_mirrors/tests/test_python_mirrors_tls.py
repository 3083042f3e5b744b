"""The lab index over https, signed by the lab CA, handed to the role as ca_trust_certificates (the corporate CA).

Runs after test_python_mirrors.py (file order) and changes the hosts, so everything is captured in one module
fixture: the run, each host's python_mirrors_result, the files it left and the index's log around it. The writer's
own checks are the clients' proof: pip downloads and uv installs the lab package through the https index, pip with
the system bundle as cert and uv with system-certs (its own roots do not know the lab CA).
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from golab import attempt
from labinfra import group_hosts, host as lab_host, lab_vars, mirror, mirror_requests

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"


@pytest.fixture(scope="module")
def tls():
    lab = dict(lab_vars(lab_host(testinfra_hosts[0])))
    # pip 24.2 and newer (truststore) cannot check a certificate for an IP address (pypa/pip#12906); the lab
    # certificate also names localhost, as a corporate index has a name.
    lab["lab_pypi_tls_url"] = lab["lab_pypi_tls_url"].replace("//127.0.0.1:", "//localhost:")
    ca = mirror().file(lab["lab_ca_path"]).content_string
    seen = len(mirror_requests("pypi"))
    attempted = attempt({"python_mirrors_index_url": lab["lab_pypi_tls_url"], "python_mirrors_allow_http": False,
                         "ca_trust_certificates": [{"name": "lab", "content": ca}]}, playbook=CONVERGE)
    shown = {}
    for token in re.findall(r"PYTHON_MIRRORS_RESULT=([A-Za-z0-9+/=]+)", attempted.run.output):
        record = json.loads(base64.b64decode(token))
        shown[record["host"]] = record["result"]
    files = {name: {path: lab_host(name).file(path).content_string for path in ("/etc/pip.conf", "/etc/uv/uv.toml")}
             for name in testinfra_hosts}
    return lab, attempted, shown, files, [str(line) for line in mirror_requests("pypi")[seen:]]


def test_the_run_passes_and_the_writer_proved_pip_and_uv_through_the_https_index(host, tls):
    lab, attempted, shown, files, requests = tls
    assert attempted.run.rc == 0, attempted.run.output
    verified = " | ".join(shown[host.backend.host]["verified"])
    assert "pip download --no-deps %s through %s" % (lab["lab_pypi_package"], lab["lab_pypi_tls_url"]) in verified
    assert "uv pip install --no-deps %s into a venv through %s" % (lab["lab_pypi_package"],
                                                                   lab["lab_pypi_tls_url"]) in verified


def test_pip_gets_the_system_bundle_and_uv_the_system_store(host, tls):
    lab, attempted, shown, files, requests = tls
    pip_conf, uv_toml = files[host.backend.host]["/etc/pip.conf"], files[host.backend.host]["/etc/uv/uv.toml"]
    assert "cert = /etc/ssl/certs/ca-certificates.crt\n" in pip_conf and "trusted-host" not in pip_conf
    assert uv_toml.startswith("# BEGIN buildfleet.mirrors settings\n")
    assert re.search(r"^(system-certs|native-tls) = true$", uv_toml, re.MULTILINE)


def test_the_index_log_shows_both_clients(tls):
    lab, attempted, shown, files, requests = tls
    for agent in ("ua=pip/", "ua=uv/"):
        assert any("/simple/%s/" % lab["lab_pypi_package"] in line and agent in line for line in requests), requests
