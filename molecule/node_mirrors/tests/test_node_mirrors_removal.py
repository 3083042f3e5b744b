"""State absent takes out only the role's block: the host's global npmrc comes back byte for byte, and npm then
reads the public default registry again. Runs after the other suites of the scenario."""
from __future__ import annotations

from pathlib import Path

from golab import run_playbook
from labinfra import group_hosts, host as lab_host

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOST_LINES = "# set by the host's own provisioning\nfund=false\n"


def test_state_absent_gives_the_host_file_back():
    run = run_playbook(CONVERGE, {"__node_extra": {"node_mirrors_state": "absent"}})
    assert run.rc == 0, run.output
    for name in testinfra_hosts:
        host = lab_host(name)
        path = host.check_output("cd / && HOME=/nonexistent npm config get globalconfig").strip()
        assert host.file(path).content_string == HOST_LINES
        assert host.check_output("cd / && env -i HOME=/nonexistent PATH=/usr/bin:/bin npm config get registry"
                                 ).strip() == "https://registry.npmjs.org/"
    again = run_playbook(CONVERGE, {"__node_extra": {"node_mirrors_state": "absent"}})
    assert again.rc == 0 and all(counters["changed"] == 0 for counters in again.recap.values()), again.output
