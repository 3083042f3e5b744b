"""The runs themselves: each refusal fails every build server with a clear reason and leaves it as it was, the good
run converges, the second changes nothing, and no run prints a password or a certificate body, even at -vvv."""
from __future__ import annotations

import pytest
from pmfleet import REFUSALS, build_servers, changed_paths, secrets


def test_the_build_servers_start_without_the_lab_ca(fleet):
    # Nothing of the collection is there yet, and the trust store is Debian's own (prepare_lab.yml left it alone).
    for name in build_servers():
        paths = fleet.fresh[name]
        assert not any(path.startswith("/etc/go-proxy") for path in paths), name
        assert not any(path.startswith("/usr/local/share/ca-certificates/") for path in paths), name


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refusal_fails_every_build_server_and_leaves_it_as_it_was(fleet, case):
    refusal = fleet.refusals[case]
    run = refusal.run
    assert run.rc == 2, run.output[-3000:]
    for fragment in REFUSALS[case][1]:
        assert fragment in run.text, (fragment, run.output[-3000:])
    for name in build_servers():
        assert run.recap[name]["failed"] == 1 and run.recap[name]["changed"] == 0, run.recap
        assert changed_paths(refusal.before[name], refusal.after[name]) == [], name


def test_the_good_run_converges_every_build_server(fleet):
    run = fleet.good
    assert run.rc == 0, run.output[-5000:]
    for name in build_servers():
        assert run.recap[name]["failed"] == 0 and run.recap[name]["changed"] > 0, run.recap


def test_the_second_run_changes_nothing(fleet):
    run = fleet.second
    assert run.rc == 0, run.output[-5000:]
    for name in build_servers():
        assert run.recap[name]["failed"] == 0 and run.recap[name]["changed"] == 0, run.recap
        assert changed_paths(fleet.after_good[name], fleet.after_second[name]) == [], name


def test_converge_restarts_neither_dockerd_nor_a_running_container(fleet):
    for name in build_servers():
        for key in ("dockerd pid", "pm-long started"):
            assert fleet.after_second[name][key] == fleet.fresh[name][key], (name, key)


def test_no_run_prints_a_password_or_a_certificate_body(fleet):
    shown = secrets()
    assert all(shown.values())
    for title, run in fleet.runs.items():
        for what, values in shown.items():
            leaked = [value for value in values if value in run.output]
            assert not leaked, "%s printed %s" % (title, what)
