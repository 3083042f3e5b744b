"""buildfleet.mirrors.audit on a converged fleet, drifted one way per run (see conftest.py)."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from auditfleet import DOCKER_DRIFTED, GO_DRIFTED, KEPT_REPORTS, UNIT, WRONG_PASSWORD, build_servers
from labinfra import host as lab_host, lab_vars

RUNS = ["compliant", "compliant, check mode", "go drift", "go drift, never", "docker drift", "docker drift, medium", "registry down"]
REGISTRY_DOWN = [("mirror.down", None), ("mirror.down", None)]  # docker.io's mirror and ghcr.io's (the same server)
EXPECTED = {
    "compliant": {},
    "compliant, check mode": {},
    "go drift": {GO_DRIFTED: [("go.override_weakens", "go:user:builder"),
                              ("go.upstream_fallback", "go:unit:%s" % UNIT)]},
    "docker drift": {DOCKER_DRIFTED: [("docker.not_applied", "docker:daemon")]},
    "registry down": {name: REGISTRY_DOWN for name in build_servers()},
}
EXPECTED["go drift, never"] = EXPECTED["go drift"]
EXPECTED["docker drift, medium"] = EXPECTED["docker drift"]
EXIT_CODES = {"compliant": 0, "compliant, check mode": 0, "go drift": 2, "go drift, never": 0, "docker drift": 0, "docker drift, medium": 2,
              "registry down": 2}


@pytest.mark.parametrize("name", RUNS)
def test_exactly_the_expected_findings_on_exactly_those_hosts(runs, name):
    run = runs[name].run
    assert run.report is not None, run.output
    expected = dict((host, EXPECTED[name].get(host, [])) for host in build_servers())
    assert run.findings() == expected


@pytest.mark.parametrize("name", RUNS)
def test_the_exit_code_follows_fail_on(runs, name):
    assert runs[name].run.rc == EXIT_CODES[name], runs[name].run.output


@pytest.mark.parametrize("name", RUNS)
def test_the_audit_changes_nothing_on_any_host(runs, name):
    audited = runs[name]
    for host in build_servers():
        changed = sorted(path for path in audited.before[host].keys() | audited.after[host].keys()
                         if audited.before[host].get(path) != audited.after[host].get(path))
        assert changed == [], host


@pytest.mark.parametrize("name", RUNS)
def test_no_task_reports_a_change(runs, name):
    run = runs[name].run
    for host in build_servers():
        assert run.recap[host]["changed"] == 0


def test_every_consumer_is_listed_with_its_source(runs):
    record = runs["compliant"].run.report["hosts"][GO_DRIFTED]
    ids = [consumer["id"] for consumer in record["consumers"]]
    for consumer in ("go:login-shell", "go:pam", "go:systemd-manager", "go:unit:%s" % UNIT, "go:root",
                     "docker:daemon", "containerd:docker.io", "containerd:ghcr.io"):
        assert consumer in ids
    assert all(probe["reachable"] for probe in record["probes"])
    assert {probe["kind"] for probe in record["probes"]} == {"goproxy", "registry"}


def test_the_drifted_user_file_is_the_evidence(runs):
    record = runs["go drift"].run.report["hosts"][GO_DRIFTED]
    finding = [item for item in record["findings"] if item["check"] == "go.override_weakens"][0]
    assert finding["evidence"]["source"] == "/home/builder/.config/go/env"
    assert finding["evidence"]["variables"]["GOSUMDB"]["seen"] == "off"
    assert finding["severity"] == "high"


def test_check_mode_audits_the_same_and_still_writes_the_report(runs):
    normal, check = runs["compliant"].run.report, runs["compliant, check mode"].run.report
    assert check["hosts"].keys() == normal["hosts"].keys()
    for host in build_servers():
        assert [item["id"] for item in check["hosts"][host]["consumers"]] == [
            item["id"] for item in normal["hosts"][host]["consumers"]]


@pytest.mark.parametrize("name", RUNS)
def test_one_line_per_host(runs, name):
    run = runs[name].run
    lines = run.summary_lines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(build_servers())
    for line in lines:
        assert line in run.output  # the playbook printed it


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed on the controller")
def test_the_report_page_of_the_drifted_fleet_in_a_browser(runs):
    """index.html of the go drift run, opened by headless chromium: the page's scripts ran and show each finding."""
    run = runs["go drift"].run
    page = Path(run.report_dir) / "index.html"
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"]
    dom = subprocess.run(chromium + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    text = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(dom)).split())
    assert "Showing all 2 findings on 2 hosts" in text  # written by the page's script, not in the file
    for host, findings in runs["go drift"].run.report["hosts"].items():
        for finding in findings["findings"]:
            assert finding["summary"] in text
    KEPT_REPORTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(chromium + ["--screenshot=%s" % (KEPT_REPORTS / "go-drift.png"), page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert (KEPT_REPORTS / "go-drift.png").stat().st_size > 0


PRIVATE = {"private proxy": None, "private proxy, wrong password": "refused the credentials for machine ",
           "private proxy, no credentials": "asks for credentials (401)"}


@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_the_private_proxy_is_probed_with_the_credentials_and_the_ca_of_the_policy(runs, name):
    """The authenticated GOPROXY over TLS: up with its login, down saying why with a wrong one or none."""
    run = runs[name].run
    assert run.report is not None, run.output
    for host in build_servers():
        record = run.report["hosts"][host]
        goproxy = [probe for probe in record["probes"] if probe["kind"] == "goproxy"]
        assert len(goproxy) == 1, goproxy
        down = [item for item in record["findings"] if item["check"] == "mirror.down"]
        if PRIVATE[name] is None:
            assert goproxy[0]["reachable"] and goproxy[0]["status"] == 200, goproxy
            assert down == []
        else:
            assert not goproxy[0]["reachable"] and PRIVATE[name] in goproxy[0]["reason"], goproxy
            assert [item["severity"] for item in down] == ["high"]
    # No password in the output or the report (the report.xml and index.html come from the same redacted records).
    text = run.output + json.dumps(run.report)
    assert WRONG_PASSWORD not in text
    assert lab_vars(lab_host(build_servers()[0]))["lab_goproxy_password"] not in text
