"""buildfleet.mirrors.ci_agent through ansible-pull, as the README's cloud-init runs it on an agent (see ../molecule.yml)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from labinfra import as_login_user, lab_vars
from playbook import parse_recap

AGENT = "buildfleet-bookworm"
testinfra_hosts = [AGENT]

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
EXAMPLES = PROJECT / "examples"
DROPIN = "/etc/systemd/system/gitlab-runner.service.d/go-proxy.conf"
RECORD = "/var/lib/gitlab-runner/go-env.json"
# What the go command uses with no configuration (Go 1.19 on bookworm).
GO_DEFAULT_GOPROXY = "https://proxy.golang.org,direct"


def readme_runcmd() -> list[str]:
    """The runcmd of the cloud-config in the README's "CI agents" section (converge.yml reads the same)."""
    readme = (PROJECT / "README.md").read_text()
    block = re.search(r"(?s)### CI agents: .*?```yaml\n(#cloud-config\n.*?)```", readme)
    assert block, "README.md has no cloud-config block in its CI agents section"
    return yaml.safe_load(block.group(1))["runcmd"]


def lab_ansible_pull(host) -> str:
    """The README's ansible-pull command, with the lab repository's URL."""
    (pull,) = [command for command in readme_runcmd() if command.startswith("ansible-pull ")]
    url = re.search(r"-U (\S+)", pull).group(1)
    return pull.replace(url, "file://" + lab_vars(host)["lab_policy_repo"])


def expected_goproxy(host) -> str:
    # go_proxy_fallback "off" in the lab's group_vars/build_servers.yml.
    return lab_vars(host)["lab_goproxy_url"] + ",off"


def ansible_inventory(*options: str) -> dict:
    """`ansible-inventory --list` run in examples/ as a user would, with examples/ansible.cfg and none of Molecule's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    result = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "--list", *options],
                            cwd=EXAMPLES, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def group_members(inventory: dict, group: str) -> set[str]:
    """Every host of a group, its child groups' included."""
    entry = inventory.get(group, {})
    members = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        members |= group_members(inventory, child)
    return members


def test_fleet_inventory_does_not_hold_localhost():
    """The fleet's runs (ansible.cfg: inventory/hosts.yml) never see the agents' localhost entry."""
    inventory = ansible_inventory()
    assert "localhost" not in group_members(inventory, "all")
    assert "ci-agent-01.corp.example.com" in group_members(inventory, "ci_agents")


def test_agent_inventory_gives_localhost_the_fleet_group_vars():
    """examples/inventory/ci_agent.yml: localhost in ci_agents under build_servers, with both groups' variables."""
    inventory = ansible_inventory("-i", "inventory/ci_agent.yml")
    assert group_members(inventory, "ci_agents") == {"localhost"}
    assert group_members(inventory, "build_servers") == {"localhost"}
    localhost = inventory["_meta"]["hostvars"]["localhost"]
    assert localhost["ansible_connection"] == "local"
    assert localhost["go_proxy_systemd_units"] == ["gitlab-runner.service"]  # group_vars/ci_agents.yml
    assert localhost["go_proxy_urls"][0] == "https://goproxy.corp.example.com"  # group_vars/build_servers.yml


def test_collection_installed_from_requirements(host):
    out = host.check_output("ansible-galaxy collection list buildfleet.mirrors")
    assert "/usr/share/ansible/collections/ansible_collections" in out
    assert re.search(r"^buildfleet\.mirrors\s+\d+\.\d+\.\d+", out, re.MULTILINE)


def test_agent_unit_has_the_go_policy_dropin(host):
    dropin = host.file(DROPIN)
    assert dropin.is_file
    assert expected_goproxy(host) in dropin.content_string
    value = host.check_output("systemctl show --property=Environment --value gitlab-runner.service")
    assert "GOPROXY=%s" % expected_goproxy(host) in value.split()


def test_a_runner_no_variable_names_is_found_and_gets_the_policy(host):
    """actions.runner.corp-build.lab-agent.service is not in go_proxy_systemd_units: ci_agent.yml found it."""
    unit = "actions.runner.corp-build.lab-agent.service"
    assert "go_proxy_systemd_units" in (EXAMPLES / "inventory" / "group_vars" / "ci_agents.yml").read_text()
    assert unit not in (EXAMPLES / "inventory" / "group_vars" / "ci_agents.yml").read_text()
    dropin = host.file("/etc/systemd/system/%s.d/go-proxy.conf" % unit)
    assert dropin.is_file
    value = host.check_output("systemctl show --property=Environment --value %s" % unit)
    assert "GOPROXY=%s" % expected_goproxy(host) in value.split()


def test_found_runner_gets_the_python_and_npm_environment_too(host):
    """ci_agent.yml gives the services it finds to python_mirrors and node_mirrors (their environment is on in
    examples/inventory/group_vars/ci_agents.yml): each writes its own drop-in, and the unit will start with both."""
    lab = lab_vars(host)
    unit = "actions.runner.corp-build.lab-agent.service"
    assert "python_mirrors_environment: true" in (EXAMPLES / "inventory" / "group_vars" / "ci_agents.yml").read_text()
    for dropin in ("python-mirrors.conf", "node-mirrors.conf"):
        assert host.file("/etc/systemd/system/%s.d/%s" % (unit, dropin)).is_file
    value = host.check_output("systemctl show --property=Environment --value %s" % unit).split()
    assert "PIP_INDEX_URL=%s" % lab["lab_pypi_url"] in value
    assert "UV_DEFAULT_INDEX=%s" % lab["lab_pypi_url"] in value
    assert "npm_config_registry=%s" % lab["lab_npm_url"] in value


def test_builder_pip_and_npm_resolve_the_lab_index_and_registry(host):
    lab = lab_vars(host)
    pip = host.check_output(as_login_user("builder", "python3 -m pip config list"))
    assert "global.index-url='%s'" % lab["lab_pypi_url"] in pip.splitlines()
    assert host.check_output(as_login_user("builder", "npm config get registry")) == lab["lab_npm_url"]


def test_agent_gets_the_policy_at_its_next_start(host):
    """Not restarted by ansible-pull (go_proxy_restart_units: false in group_vars/ci_agents.yml); restarted, it has the policy."""
    record = host.file(RECORD)
    if record.mtime < host.file(DROPIN).mtime:
        # Started before the policy and not restarted since: still the old environment.
        assert json.loads(record.content_string)["GOPROXY"] == GO_DEFAULT_GOPROXY
    host.check_output("systemctl restart gitlab-runner.service")
    assert host.service("gitlab-runner.service").is_running
    seen = json.loads(host.file(RECORD).content_string)
    assert seen["GOPROXY"] == expected_goproxy(host)
    assert seen["GOPRIVATE"] == "corp.example.com"
    assert seen["GONOPROXY"] == "none"
    assert seen["GOFLAGS"] == "-modcacherw"


def test_login_shell_of_builder_shows_the_lab_proxy(host):
    assert host.check_output(as_login_user("builder", "go env GOPROXY")) == expected_goproxy(host)


def test_docker_uses_the_lab_registry_mirror(host):
    mirrors = json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))
    assert [mirror.rstrip("/") for mirror in mirrors] == [lab_vars(host)["lab_registry_url"].rstrip("/")]


def test_second_ansible_pull_changes_nothing(host):
    """The README's ansible-pull, run again as at the next boot: the agent is converged, nothing changes."""
    run = host.run(lab_ansible_pull(host))
    print(run.stdout[-3000:])
    assert run.rc == 0, run.stdout + run.stderr
    counts = parse_recap(run.stdout)
    # Only the agent itself: the fleet's inventory/hosts.yml (ansible.cfg) is not read.
    assert list(counts) == ["localhost"]
    assert counts["localhost"]["changed"] == 0
    assert counts["localhost"]["failed"] == 0
    assert counts["localhost"]["ok"] > 0
