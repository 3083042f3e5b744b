"""Helpers the Molecule testinfra suites share: lab hosts and lab variables.

Molecule runs the suites with the scenario's inventory in
MOLECULE_INVENTORY_FILE; hosts are picked from it by group, so a suite names
the hosts it proves (build servers, or the mirror) instead of running
everywhere.
"""
from __future__ import annotations

import os
import shlex

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
