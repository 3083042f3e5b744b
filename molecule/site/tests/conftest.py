"""The fleet runs, made once for every test of the session (see ../molecule.yml and sitefleet.py)."""
from __future__ import annotations

import pytest
from labinfra import host as lab_host, lab_vars
from sitefleet import Fleet, build_servers, fingerprints, run_converge

_RUNS: dict = {}


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    fresh = fingerprints()
    check = run_converge("--check", "--diff")
    after_check = fingerprints()
    first = run_converge()
    after_first = fingerprints()
    second = run_converge()
    _RUNS.update({"check pass (--check --diff)": check, "first run": first, "second run": second})
    return Fleet(fresh, check, after_check, first, after_first, second, fingerprints())


@pytest.fixture(scope="session")
def lab() -> dict:
    """The lab's variables (lab_registry_url, lab_closed_url...), as any build server sees them."""
    return lab_vars(lab_host(build_servers()[0]))


def pytest_terminal_summary(terminalreporter):
    """Each fleet run's summary lines and PLAY RECAP, for whoever reads the verify log."""
    for title, run in _RUNS.items():
        terminalreporter.section("fleet %s: exit code %d" % (title, run.rc), sep="-")
        for line in run.summary_lines() + run.recap_lines():
            terminalreporter.write_line(line)
