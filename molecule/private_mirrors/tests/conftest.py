"""The runs of converge.yml, made once for the whole session (see ../molecule.yml and pmfleet.py)."""
from __future__ import annotations

import pytest
from labinfra import host as lab_host, lab_vars
from pmfleet import Fleet, build_servers, run_all

_FLEET: list = []


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    if not _FLEET:
        _FLEET.append(run_all())
    return _FLEET[0]


@pytest.fixture(scope="session")
def lab() -> dict:
    """The lab's variables (lab_registry_tls_url, lab_goproxy_login...), as any build server sees them."""
    return lab_vars(lab_host(build_servers()[0]))


def pytest_terminal_summary(terminalreporter):
    """Each run's exit code and PLAY RECAP, for whoever reads the verify log."""
    for fleet in _FLEET:
        for title, run in fleet.runs.items():
            terminalreporter.section("%s: exit code %d" % (title, run.rc), sep="-")
            for line in run.recap_lines():
                terminalreporter.write_line(line)
