"""Helpers the Molecule testinfra suites share: lab hosts and lab variables.

Molecule runs the suites with the scenario's inventory in
MOLECULE_INVENTORY_FILE; hosts are picked from it by group, so a suite names
the hosts it proves (build servers, or the mirror) instead of running
everywhere.
"""
from __future__ import annotations

import os
import shlex
import uuid

import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner


def inventory() -> str:
    return os.environ["MOLECULE_INVENTORY_FILE"]


def group_hosts(group: str) -> list[str]:
    """testinfra_hosts for the members of an inventory group."""
    return AnsibleRunner(inventory()).get_hosts(group)


def host(name: str):
    return testinfra.get_host("ansible://" + name, ansible_inventory=inventory())


def mirror():
    """The lab's mirror host (first of the `mirrors` group)."""
    return host(group_hosts("mirrors")[0])


def lab_vars(of_host) -> dict:
    return of_host.ansible.get_variables()


def as_login_user(user: str, command: str) -> str:
    """A command line that runs `command` in a login shell of `user`."""
    return "su - %s -c %s" % (user, shlex.quote(command))


def as_service(command: str, user: str | None = None) -> str:
    """A command line that runs `command` (sh syntax) as a systemd service started now, and prints its output.

    The unit is a file under /run/systemd/system started with systemctl, not systemd-run, which needs D-Bus: root
    reaches systemd over its private socket, and the lab's Debian 13 has no D-Bus. The exit code is the service's.
    """
    unit = "lab-service-%s" % uuid.uuid4().hex[:12]
    script, output, unit_file = "/run/%s.sh" % unit, "/run/%s.out" % unit, "/run/systemd/system/%s.service" % unit
    lines = ["[Service]", "Type=oneshot"] + (["User=%s" % user] if user else []) + [
        "ExecStart=/bin/sh %s" % script, "StandardOutput=file:%s" % output]
    return (
        "printf '%%s\\n' %s > %s && chmod 0755 %s && printf '%%s\\n' %s > %s && systemctl daemon-reload"
        " && systemctl start %s.service; rc=$?; cat %s 2>/dev/null; rm -f %s %s %s;"
        " systemctl reset-failed %s.service 2>/dev/null; systemctl daemon-reload; exit $rc"
        % (shlex.quote(command), script, script, " ".join(shlex.quote(line) for line in lines), unit_file,
           unit, output, script, output, unit_file, unit))


# The access logs of the lab's Python index and npm registry: their logging fronts (access_front.py on the
# mirror host) write one line per request on the plain and the TLS port alike.
MIRROR_ACCESS_LOGS = {"pypi": "/var/log/buildfleet/pypi-access.log", "npm": "/var/log/buildfleet/npm-access.log"}


def mirror_requests(kind: str) -> list[str]:
    """The requests the lab's Python index (kind 'pypi') or npm registry ('npm') served so far, oldest first.

    One line per request: `<client> <scheme>:<port> <METHOD> <path> <status> ua=<user agent>`, e.g.
    `127.0.0.1 https:15447 GET /simple/buildfleet-hello/ 200 ua=pip/23.0.1 {...}`. Take len() before a client
    runs and look at the lines after it: PyPI and npm may answer through this network's package proxy too, so an
    install is proven by these lines only.
    """
    if kind not in MIRROR_ACCESS_LOGS:
        raise ValueError("mirror_requests: kind must be one of %s, not %r" % (sorted(MIRROR_ACCESS_LOGS), kind))
    log = mirror().file(MIRROR_ACCESS_LOGS[kind])
    return log.content_string.splitlines() if log.exists else []
