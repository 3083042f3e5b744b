# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that read dockerd's registry settings, for the docker_mirrors role.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The logic lives in module_utils/_daemon_json.py, shared with the
docker_daemon_config module.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    mirror_hosts,
    registry_config_problems,
)


def registry_config_problems_filter(registry_config, registry_mirrors=None, insecure_registries=None):
    return registry_config_problems(registry_config, registry_mirrors, insecure_registries)


def mirror_hosts_filter(registry_mirrors, insecure_registries=None):
    if not isinstance(registry_mirrors, (list, tuple)):
        raise AnsibleFilterError('mirror_hosts expects a list of mirror URLs, got %r' % (registry_mirrors,))
    return mirror_hosts(registry_mirrors, insecure_registries)


class FilterModule:
    """dockerd registry filters of buildfleet.mirrors."""

    def filters(self):
        return {
            'registry_config_problems': registry_config_problems_filter,
            'mirror_hosts': mirror_hosts_filter,
        }
