"""Helpers of the audit scenario: runs of buildfleet.mirrors.audit, the drifts between them, and fingerprints.

Each run is the playbook by FQCN against the scenario's inventory, with its
report written into a directory of its own; a run keeps its exit code, its
output and the report.json it wrote.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labinfra import group_hosts, host as lab_host, inventory, mirror
from playbook import PlaybookRun

GO_DRIFTED = "buildfleet-bookworm"
DOCKER_DRIFTED = "buildfleet-trixie"
UNIT = "lab-ci-agent.service"
UNIT_OVERRIDE = "/etc/systemd/system/%s.d/zz-local.conf" % UNIT
BUILDER_GO_ENV = "/home/builder/.config/go/env"
# What a read-only audit must leave as it was: every file the policy concerns, and the homes it reads.
# A password the lab's authenticated GOPROXY refuses (its login's is lab_goproxy_password).
WRONG_PASSWORD = "wrongLabPw4Qx"
WATCHED_PATHS = ("/etc", "/home", "/root", "/usr/lib/go", "/usr/local")


def build_servers() -> list[str]:
    return group_hosts("build_servers")


# Each run's report is kept here (report.json, report.xml, index.html), for whoever reads the verify log.
KEPT_REPORTS = Path(__file__).resolve().parents[3] / ".build" / "molecule-audit"


@dataclass
class AuditRun(PlaybookRun):
    report: dict | None = None
    report_dir: str = ""

    def summary_lines(self) -> list[str]:
        """One line per host, from report.json: compliant, or its findings by severity."""
        lines = []
        for name, entry in (self.report or {}).get("summary", {}).items():
            counts = entry.get("counts", {})
            found = ", ".join("%d %s" % (counts[severity], severity) for severity in ("high", "medium", "low", "info")
                              if counts.get(severity))
            lines.append("%s: %s" % (name, "compliant" if entry.get("compliant") else found
                                     or "not audited: %s" % entry.get("error")))
        return lines

    def findings(self) -> dict[str, list[tuple[str, str | None]]]:
        """{host: sorted (check, consumer)} from report.json."""
        return {name: sorted((item["check"], item["consumer"]) for item in record.get("findings", []))
                for name, record in self.report["hosts"].items()}


def run_audit(fail_on: str = "high", *options: str) -> AuditRun:
    report_dir = tempfile.mkdtemp(prefix="buildfleet-audit-")
    command = [str(Path(sys.executable).with_name("ansible-playbook")),
               "--inventory", str(Path(inventory()).parent), "buildfleet.mirrors.audit", *options,
               "-e", "buildfleet_site_hosts=build_servers", "-e", "buildfleet_audit_fail_on=%s" % fail_on,
               "-e", "buildfleet_audit_report_dir=%s" % report_dir]
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    print("$ %s\n%s%s" % (" ".join(command), result.stdout, result.stderr))
    run = AuditRun(result.returncode, result.stdout + result.stderr, report_dir=report_dir)
    report = Path(report_dir) / "report.json"
    run.report = json.loads(report.read_text()) if report.exists() else None
    return run


def fingerprint(name: str) -> dict[str, str]:
    """Every watched file: type, mode, owner, mtime, sha256; and the mirrors dockerd runs with."""
    host = lab_host(name)
    listing = host.check_output(
        "find %s -xdev -printf '%%p %%y %%m %%u:%%g %%T@ %%l\\n' 2>/dev/null | LC_ALL=C sort; true"
        % " ".join(WATCHED_PATHS))
    sums = host.check_output(
        "find %s -xdev -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0r sha256sum; true"
        % " ".join(WATCHED_PATHS))
    paths = {line.split(" ", 1)[0]: line for line in listing.splitlines()}
    for line in sums.splitlines():
        digest, path = line.split(None, 1)
        paths[path] = paths.get(path, path) + " sha256:" + digest
    paths["dockerd registry-mirrors"] = host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'")
    paths["systemd manager environment"] = host.check_output("systemctl show-environment")
    return paths


def fingerprints() -> dict[str, dict[str, str]]:
    return {name: fingerprint(name) for name in build_servers()}


def drift_go() -> None:
    """bookworm: builder's own `go env -w GOSUMDB=off` (in a login shell), a drop-in that sends GOPROXY upstream."""
    host = lab_host(GO_DRIFTED)
    host.run_test("su - builder -c 'go env -w GOSUMDB=off'")
    assert "GOSUMDB=off" in host.file(BUILDER_GO_ENV).content_string
    host.run_test("mkdir -p %s && printf '[Service]\\nEnvironment=GOPROXY=https://proxy.golang.org,direct\\n' > %s"
                  " && systemctl daemon-reload" % (os.path.dirname(UNIT_OVERRIDE), UNIT_OVERRIDE))


def restore_go() -> None:
    lab_host(GO_DRIFTED).run_test("rm -f %s %s && systemctl daemon-reload" % (BUILDER_GO_ENV, UNIT_OVERRIDE))


def drift_docker(other_mirror: str) -> str:
    """trixie: daemon.json edited by hand and never reloaded; returns the file as it was."""
    host = lab_host(DOCKER_DRIFTED)
    before = host.file("/etc/docker/daemon.json").content_string
    config = json.loads(before)
    config["registry-mirrors"] = [other_mirror]
    host.run_test("printf '%%s' %s > /etc/docker/daemon.json" % _quote(json.dumps(config, indent=2)))
    return before


def restore_docker(before: str) -> None:
    lab_host(DOCKER_DRIFTED).run_test("printf '%%s' %s > /etc/docker/daemon.json" % _quote(before))


def stop_registry() -> None:
    mirror().run_test("systemctl stop buildfleet-registry.service")


def start_registry() -> None:
    mirror().run_test("systemctl start buildfleet-registry.service")
    mirror().run_test("for i in $(seq 50); do curl -fs http://127.0.0.1:15000/v2/ >/dev/null && exit 0; sleep 0.2; done; exit 1")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
