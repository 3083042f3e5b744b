"""The audit runs, made once for every test of the session (see ../molecule.yml and auditfleet.py)."""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import pytest
from labinfra import host as lab_host, lab_vars
from auditfleet import (
    KEPT_REPORTS, AuditRun, build_servers, drift_docker, drift_go, fingerprints, restore_docker, restore_go, run_audit,
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
    return made


def pytest_terminal_summary(terminalreporter):
    for title, run in _RUNS.items():
        terminalreporter.section("audit %s: exit code %d" % (title, run.rc), sep="-")
        for line in run.summary_lines() + run.recap_lines():
            terminalreporter.write_line(line)
