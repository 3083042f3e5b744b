"""State absent gives the build servers' files back byte for byte, and pip no longer asks the lab index.

Runs after test_python_mirrors.py (file order), once the consumers have been proven on the converged hosts.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
from golab import attempt
from labinfra import as_login_user, group_hosts, mirror_requests

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOST_PIP_CONF = "# Local pip settings\n[global]\ntimeout = 60\n"
PROFILE = "/etc/profile.d/python-mirrors.sh"
DROPIN = "/etc/systemd/system/lab-py-runner.service.d/python-mirrors.conf"


def results(run) -> dict[str, dict]:
    shown = {}
    for token in re.findall(r"PYTHON_MIRRORS_RESULT=([A-Za-z0-9+/=]+)", run.output):
        record = json.loads(base64.b64decode(token))
        shown[record["host"]] = record["result"]
    return shown


# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def absent():
    run = attempt({"python_mirrors_state": "absent"}, playbook=CONVERGE)
    assert run.run.rc == 0, run.run.output
    return run


def test_absent_gives_the_hosts_files_back(host, absent):
    assert host.file("/etc/pip.conf").content_string == HOST_PIP_CONF
    assert not host.file("/etc/uv/uv.toml").exists and not host.file("/etc/uv").exists
    assert not host.file(PROFILE).exists and not host.file(DROPIN).exists
    assert "python_mirrors" not in host.file("/etc/environment").content_string
    assert results(absent.run)[host.backend.host]["changed"] is True


def test_after_absent_pip_no_longer_asks_the_lab_index(host, absent):
    seen = len(mirror_requests("pypi"))
    host.run(as_login_user("builder", "python3 -m pip download --no-deps --no-cache-dir -d /tmp/x-%s buildfleet-hello"
                           % uuid.uuid4().hex[:8]))
    assert mirror_requests("pypi")[seen:] == []
