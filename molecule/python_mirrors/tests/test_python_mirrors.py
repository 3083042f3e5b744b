"""Every pip and uv of a build server through the lab index, proven by the index's own log; the gate, bad input and a
failing client leave /etc untouched; absent gives the host's files back.

The consumer tests run on the converged hosts; the attempts (converge.yml again with extra vars, /etc fingerprinted
around each) change nothing, so pytest may run them in any order. Removal is test_removal.py, which runs after this
file.
"""
from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path

import pytest
from golab import attempt
from labinfra import as_login_user, as_service, group_hosts, host as lab_host, lab_vars, mirror_requests

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOST_PIP_CONF = "# Local pip settings\n[global]\ntimeout = 60\n"
BEGIN = "# BEGIN buildfleet.mirrors"
PROFILE = "/etc/profile.d/python-mirrors.sh"
DROPIN = "/etc/systemd/system/lab-py-runner.service.d/python-mirrors.conf"


@pytest.fixture(scope="module")
def lab():
    return lab_vars(lab_host(testinfra_hosts[0]))


def results(run) -> dict[str, dict]:
    shown = {}
    for token in re.findall(r"PYTHON_MIRRORS_RESULT=([A-Za-z0-9+/=]+)", run.output):
        record = json.loads(base64.b64decode(token))
        shown[record["host"]] = record["result"]
    return shown


# ---------------------------------------------------------------------------
# The files after converge
# ---------------------------------------------------------------------------

def test_pip_conf_holds_the_hosts_lines_and_the_block(host, lab):
    text = host.file("/etc/pip.conf").content_string
    assert text.startswith("# Local pip settings\n[global]\n%s\n" % BEGIN)
    assert "index-url = %s\n" % lab["lab_pypi_url"] in text
    assert "trusted-host = 127.0.0.1:%s\n" % lab["lab_pypi_url"].split(":")[2].split("/")[0] in text
    assert text.endswith("timeout = 60\n")
    assert "break-system-packages" not in text


def test_uv_toml_has_the_index_as_default(host, lab):
    uv_toml = host.file("/etc/uv/uv.toml")
    assert uv_toml.mode == 0o644
    assert '[[index]]\nurl = "%s"\ndefault = true\n' % lab["lab_pypi_url"] in uv_toml.content_string


def test_the_environment_is_exported_to_shells_pam_and_the_runner(host, lab):
    assert "export PIP_INDEX_URL=%s\n" % lab["lab_pypi_url"] in host.file(PROFILE).content_string
    assert 'UV_DEFAULT_INDEX="%s"' % lab["lab_pypi_url"] in host.file("/etc/environment").content_string
    shown = host.check_output("systemctl show --property=Environment --value lab-py-runner.service")
    assert "PIP_INDEX_URL=%s" % lab["lab_pypi_url"] in shlex.split(shown)


# ---------------------------------------------------------------------------
# Real installs as each consumer, seen in the index's log
# ---------------------------------------------------------------------------

def consumer_command(how: str, command: str) -> str:
    if how == "login shell":
        return as_login_user("builder", command)
    if how == "su":
        # A PAM session without a login shell: pam_env (/etc/environment) and the system files only.
        return "su builder -c %s" % shlex.quote(command)
    if how == "no environment at all":
        return "setpriv --reuid=builder --regid=builder --init-groups env -i HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin " \
               "/bin/sh -c %s" % shlex.quote(command)
    return as_service(command, user="builder")


CLIENT_COMMANDS = {
    "pip download": "d=$(mktemp -d) && python3 -m pip download --no-deps --no-cache-dir -d $d {package}"
                    " && ls $d && rm -rf $d",
    "pip install into a venv": "d=$(mktemp -d) && python3 -m venv $d/venv && $d/venv/bin/pip install --no-cache-dir"
                               " {package} && $d/venv/bin/python -c 'import buildfleet_hello; print(\"imported\")'"
                               " && rm -rf $d",
    "uv pip install into a venv": "d=$(mktemp -d) && uv venv --quiet $d/venv && uv pip install --no-cache --python"
                                  " $d/venv/bin/python {package} && $d/venv/bin/python -c"
                                  " 'import buildfleet_hello; print(\"imported\")' && rm -rf $d",
}


@pytest.mark.parametrize("client", sorted(CLIENT_COMMANDS))
@pytest.mark.parametrize("how", ["login shell", "su", "systemd service", "no environment at all"])
def test_each_client_installs_through_the_lab_index(host, lab, how, client):
    command = CLIENT_COMMANDS[client].format(package=lab["lab_pypi_package"])
    seen = len(mirror_requests("pypi"))
    out = host.run(consumer_command(how, command))
    assert out.rc == 0, out.stdout + out.stderr
    if client != "pip download":
        assert "imported" in out.stdout
    new = [str(line) for line in mirror_requests("pypi")[seen:]]
    # The project's page and its file, asked by this client (the other host's requests may be there too).
    agent = "ua=uv/" if client.startswith("uv") else "ua=pip/"
    assert any("/simple/%s/" % lab["lab_pypi_package"] in line and agent in line for line in new), new
    assert any(".whl" in line and agent in line for line in new), new


# ---------------------------------------------------------------------------
# Attempts that must leave /etc as it was
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dead_index(lab):
    return attempt({"python_mirrors_index_url": lab["lab_closed_url"] + "/simple/"}, playbook=CONVERGE)


@pytest.fixture(scope="module")
def missing_probe_package():
    return attempt({"python_mirrors_probe_package": "not-in-the-lab-index"}, playbook=CONVERGE)


@pytest.fixture(scope="module")
def newline_in_url(lab):
    return attempt({"python_mirrors_index_url": lab["lab_pypi_url"] + "\nno-index = true"}, playbook=CONVERGE)


@pytest.fixture(scope="module")
def http_without_opt_in():
    return attempt({"python_mirrors_allow_http": False}, playbook=CONVERGE)


@pytest.fixture(scope="module")
def uv_cannot_trust_the_lab_ca(lab):
    """The https index, signed by the lab CA that the system store trusts, but no ca_trust_certificates: pip takes
    it (Debian's pip reads the system store), uv (its own roots) does not. localhost: pip 24.2+ cannot check an IP."""
    url = lab["lab_pypi_tls_url"].replace("//127.0.0.1:", "//localhost:")
    return attempt({"python_mirrors_index_url": url, "python_mirrors_allow_http": False}, playbook=CONVERGE)


@pytest.mark.parametrize("case, words", [
    ("dead_index", ["python_mirrors_validate is strict and 1 of 1 indexes did not serve"]),
    ("missing_probe_package", ["did not serve not-in-the-lab-index"]),
    ("newline_in_url", ["python_mirrors_index_url"]),
    ("http_without_opt_in", ["python_mirrors_allow_http: true"]),
    ("uv_cannot_trust_the_lab_ca", ["uv pip install --no-deps", "put back byte for byte"]),
])
def test_a_refused_or_failed_run_leaves_etc_untouched(request, host, case, words):
    attempted = request.getfixturevalue(case)
    assert attempted.run.rc != 0, attempted.run.output
    for word in words:
        assert word in attempted.run.text, attempted.run.output
    name = host.backend.host
    assert attempted.after[name] == attempted.before[name]


def test_a_second_run_changes_nothing_and_the_writer_verifies_every_client(lab):
    """python_mirrors_verify: always asks pip, uv and the environment's consumers on a run that changes nothing."""
    attempted = attempt({"python_mirrors_verify": "always"}, playbook=CONVERGE)
    assert attempted.run.rc == 0, attempted.run.output
    assert all(counters["changed"] == 0 for counters in attempted.run.recap.values()), attempted.run.recap_lines()
    assert attempted.after == attempted.before
    shown = results(attempted.run)
    assert sorted(shown) == sorted(testinfra_hosts)
    for result in shown.values():
        verified = " | ".join(result["verified"])
        for word in ("pip reads /etc/pip.conf", "pip download --no-deps %s" % lab["lab_pypi_package"],
                     "uv pip install --no-deps %s into a venv" % lab["lab_pypi_package"],
                     "login shells (/etc/profile.d/python-mirrors.sh)", "PAM sessions (/etc/environment)",
                     "the service lab-py-runner.service"):
            assert word in verified, verified
