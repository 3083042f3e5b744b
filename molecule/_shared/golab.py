"""Helpers the go_proxy scenarios share: running a playbook from a test, asking
a real go client what it gets, and a fingerprint of /etc.

molecule/conftest.py puts this directory on sys.path for every suite. Playbooks run with the environment Molecule gives
the verifier (ANSIBLE_CONFIG, collections path), against the scenario's own
inventory, exactly as Molecule runs converge.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labinfra import group_hosts, host as lab_host, inventory
from playbook import PlaybookRun

APPLY_POLICY = Path(__file__).resolve().parents[1] / "_go_proxy" / "apply_policy.yml"

# Every variable the role may manage, in the order `go env` is asked for them.
GO_VARIABLES = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE", "GOFLAGS", "GOTOOLCHAIN")
# What Go 1.19 and 1.24 use with no configuration (Debian's go.env says the same).
GO_DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
GO_DEFAULT_GOSUMDB = "sum.golang.org"
# The verifier key of sum.golang.org, as the go command has it (cmd/go/internal/modfetch/key.go).
SUM_GOLANG_ORG_KEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

# The drop-in the role writes for lab-runner.service, the CI runner of the prepare fixtures.
RUNNER_DROPIN = "/etc/systemd/system/lab-runner.service.d/go-proxy.conf"


@dataclass
class GoPlaybookRun(PlaybookRun):
    """A playbook run of the go_proxy scenarios, with each host's go_proxy_result."""

    def go_proxy_results(self) -> dict[str, dict]:
        """go_proxy_result of each host whose run reached the end of the play (tasks/show_result.yml), by host."""
        results = {}
        for token in re.findall(r"GO_PROXY_RESULT=([A-Za-z0-9+/=]+)", self.output):
            shown = json.loads(base64.b64decode(token))
            results[shown["host"]] = shown["result"]
        return results


def run_playbook(playbook: Path, extra_vars: dict | None = None, *options: str) -> GoPlaybookRun:
    """Run a playbook against the scenario's inventory; extra_vars override every other variable."""
    command = [str(Path(sys.executable).with_name("ansible-playbook")),
               "--inventory", str(Path(inventory()).parent), str(playbook), *options]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as extra_vars_file:
        if extra_vars:
            json.dump(extra_vars, extra_vars_file)
            extra_vars_file.flush()
            command += ["--extra-vars", "@" + extra_vars_file.name]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    return GoPlaybookRun(result.returncode, result.stdout + result.stderr)


def go_env(host, consumer: str = "{go_env}") -> dict[str, str]:
    """`go env -json` of the GO* variables, run where `consumer` puts {go_env} (a login shell, su, a service...)."""
    out = host.check_output(consumer.format(go_env="/usr/bin/go env -json " + " ".join(GO_VARIABLES)))
    return json.loads(out)


def go_version(host) -> tuple[int, int]:
    """(1, 24) for go1.24.4."""
    out = host.check_output("/usr/bin/go version")
    major, minor = re.search(r"go(\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


def unit_environment(host, unit: str) -> dict[str, str]:
    """The Environment= of a unit as systemd parsed it from its files and drop-ins."""
    value = host.check_output("systemctl show --property=Environment --value %s" % unit)
    return dict(assignment.split("=", 1) for assignment in shlex.split(value))


def etc_fingerprint(host) -> list[str]:
    """Every path under /etc with its type, mode, owner and link target, then the sha256 of every file."""
    return host.check_output(
        "cd /etc && find . -xdev -printf '%p %y %m %u:%g %l\\n' | LC_ALL=C sort"
        " && find . -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum"
    ).splitlines()


def access_log_count(mirror_host, log_path: str, request: str) -> int:
    """How many times the lab proxy's access log shows this request line (for example 'GET /x/@v/v1.zip')."""
    log = mirror_host.file(log_path)
    return log.content_string.count('"%s ' % request) if log.exists else 0


@dataclass
class Attempt:
    """A playbook run with the /etc fingerprint of every build server before and after it."""

    run: PlaybookRun
    before: dict[str, list[str]]
    after: dict[str, list[str]]


def build_server_fingerprints() -> dict[str, list[str]]:
    return {name: etc_fingerprint(lab_host(name)) for name in group_hosts("build_servers")}


def attempt(extra_vars: dict | None, *options: str, playbook: Path = APPLY_POLICY) -> Attempt:
    """Run a playbook (by default apply_policy.yml with extra_vars over its baseline), fingerprinting /etc around it."""
    before = build_server_fingerprints()
    run = run_playbook(playbook, extra_vars, *options)
    return Attempt(run, before, build_server_fingerprints())
