"""The audit runs, made once for every test of the session (see ../molecule.yml and auditfleet.py)."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import pytest
from labinfra import host as lab_host, lab_vars, mirror
from auditfleet import (
    KEPT_REPORTS, WRONG_PASSWORD, AuditRun, build_servers, drift_docker, drift_go, fingerprints, restore_docker, restore_go, run_audit,
    start_registry, stop_registry,
)

_RUNS: dict = {}


@dataclass
class Audited:
    run: AuditRun
    before: dict
    after: dict


def _audit(title: str, fail_on: str = "high", *options: str) -> Audited:
    before = fingerprints()
    run = run_audit(fail_on, *options)
    audited = Audited(run, before, fingerprints())
    _RUNS[title] = run
    kept = KEPT_REPORTS / re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(run.report_dir, kept)
    return audited


@pytest.fixture(scope="session")
def runs() -> dict[str, Audited]:
    lab = lab_vars(lab_host(build_servers()[0]))
    made = {"compliant": _audit("compliant fleet"),
            "compliant, check mode": _audit("compliant fleet, --check", "high", "--check")}
    drift_go()
    try:
        made["go drift"] = _audit("go drift on bookworm, fail_on high")
        made["go drift, never"] = _audit("go drift on bookworm, fail_on never", "never")
    finally:
        restore_go()
    before = drift_docker(lab["lab_closed_url"] + "/")
    try:
        made["docker drift"] = _audit("daemon.json not applied on trixie, fail_on high")
        made["docker drift, medium"] = _audit("daemon.json not applied on trixie, fail_on medium", "medium")
    finally:
        restore_docker(before)
    stop_registry()
    try:
        made["registry down"] = _audit("the registry mirror stopped")
    finally:
        start_registry()
    # The lab's authenticated GOPROXY (over TLS, the lab CA) as the policy's proxy, with its login, a wrong
    # password, and none: the audit's probe uses go_proxy_credentials and the CAs about to be trusted, as site.yml's.
    for title, password in (("private proxy", lab["lab_goproxy_password"]), ("private proxy, wrong password", WRONG_PASSWORD),
                            ("private proxy, no credentials", None)):
        policy = _private_policy(lab, password)
        try:
            made[title] = _audit(title, "never", "-e", "@%s" % policy)
        finally:
            os.unlink(policy)
    return made


def _private_policy(lab: dict, password: str | None) -> str:
    """A vars file (secrets stay out of the command line): the authenticated proxy, the lab CA, the login."""
    ca = mirror().check_output("cat %s" % lab["lab_ca_path"])
    policy = {"go_proxy_urls": [lab["lab_goproxy_auth_url"]], "go_proxy_probe_module": lab["lab_auth_module"],
              "ca_trust_certificates": [{"name": "buildfleet-lab", "content": ca + "\n"}]}
    if password is not None:
        policy["go_proxy_credentials"] = [{"machine": lab["lab_goproxy_auth_url"].split("://", 1)[1],
                                           "login": lab["lab_goproxy_login"], "password": password}]
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="audit-private-", delete=False)
    with handle:
        json.dump(policy, handle)
    return handle.name


def pytest_terminal_summary(terminalreporter):
    for title, run in _RUNS.items():
        terminalreporter.section("audit %s: exit code %d" % (title, run.rc), sep="-")
        for line in run.summary_lines() + run.recap_lines():
            terminalreporter.write_line(line)
