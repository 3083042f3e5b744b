"""node_mirrors_environment exports the registry for login shells, PAM sessions and a listed service, and false
takes it away again; then state absent takes out only the role's block: the host's global npmrc comes back byte
for byte, and npm reads the public default registry again. Runs after the other suites of the scenario."""
from __future__ import annotations

from pathlib import Path

from golab import run_playbook
from labinfra import as_login_user, group_hosts, host as lab_host, lab_vars

testinfra_hosts = group_hosts("build_servers")

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
HOST_LINES = "# set by the host's own provisioning\nfund=false\n"


def test_the_environment_outputs_reach_shells_pam_and_a_listed_service_and_go_again():
    run = run_playbook(CONVERGE, {"__node_extra": {"node_mirrors_environment": True,
                                                   "node_mirrors_systemd_units": ["lab-npm-agent"]}})
    assert run.rc == 0, run.output
    for name in testinfra_hosts:
        host = lab_host(name)
        url = lab_vars(host)["lab_npm_url"]
        for command in (as_login_user("builder", "env"), "su builder -s /bin/sh -c env",
                        "systemctl show --property=Environment --value lab-npm-agent.service"):
            out = host.check_output(command)
            assert "npm_config_registry=%s" % url in out and "YARN_NPM_REGISTRY_SERVER=%s" % url in out, (command, out)
        # a service started now with that unit's drop-in: npm there resolves the registry from its environment
        assert host.file("/etc/systemd/system/lab-npm-agent.service.d/node-mirrors.conf").exists
    off = run_playbook(CONVERGE)
    assert off.rc == 0, off.output
    for name in testinfra_hosts:
        host = lab_host(name)
        assert "npm_config_registry" not in host.check_output(as_login_user("builder", "env"))
        assert not host.file("/etc/profile.d/node-mirrors.sh").exists
        assert not host.file("/etc/systemd/system/lab-npm-agent.service.d").exists


def test_state_absent_gives_the_host_file_back():
    run = run_playbook(CONVERGE, {"__node_extra": {"node_mirrors_state": "absent"}})
    assert run.rc == 0, run.output
    for name in testinfra_hosts:
        host = lab_host(name)
        path = host.check_output("cd / && HOME=/nonexistent npm config get globalconfig").strip()
        assert host.file(path).content_string == HOST_LINES
        # pnpm's own global npmrc (/usr/etc/npmrc on Debian), which the role created: gone again.
        assert not host.file("/usr/etc/npmrc").exists
        assert host.check_output("cd / && env -i HOME=/nonexistent PATH=/usr/bin:/bin npm config get registry"
                                 ).strip() == "https://registry.npmjs.org/"
    again = run_playbook(CONVERGE, {"__node_extra": {"node_mirrors_state": "absent"}})
    assert again.rc == 0 and all(counters["changed"] == 0 for counters in again.recap.values()), again.output
