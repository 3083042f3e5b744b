"""What the role refuses, each with /etc of every build server unchanged (sha256 of every file).

converge.yml runs again with one change to the policy: the main registry down (port of lab_closed_url), the probe
package missing from the registry, a scope without @, a newline in the URL, http without node_mirrors_allow_http.
Then state absent gives the host's global npmrc back byte for byte (test_node_mirrors_removal.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from golab import attempt, run_playbook
from labinfra import group_hosts

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
CLOSED = "http://127.0.0.1:15001/"


def test_converge_again_changes_nothing():
    run = run_playbook(CONVERGE)
    assert run.rc == 0, run.output
    for name, counters in run.recap.items():
        if name in testinfra_hosts:
            assert counters["changed"] == 0, run.output


@pytest.mark.parametrize("extra, message", [
    ({"node_mirrors_registry": CLOSED},
     "node_mirrors_validate is strict and 1 of 2 npm registries did not serve their probe package"),
    ({"node_mirrors_probe_package": "buildfleet-not-there"},
     "(buildfleet-not-there): answered HTTP 404"),
    ({"node_mirrors_scopes": {"corp": "http://127.0.0.1:15448/"}, "node_mirrors_scope_probe_packages": {}},
     "node_mirrors_scopes key 'corp' is not an npm scope"),
    ({"node_mirrors_registry": "http://127.0.0.1:15448/\nregistry=http://evil.example/"},
     "node_mirrors_registry"),
    ({"node_mirrors_allow_http": False},
     "node_mirrors_allow_http: true"),
], ids=["registry down", "probe package missing", "scope without @", "newline in the URL", "http without opt-in"])
def test_a_refused_policy_leaves_every_host_untouched(extra, message):
    tried = attempt({"__node_extra": extra}, playbook=CONVERGE)
    assert tried.run.rc != 0
    assert message in tried.run.text, tried.run.output
    assert tried.after == tried.before
