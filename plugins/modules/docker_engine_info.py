#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_engine_info
short_description: Tell which Docker Engine a host has, whether it runs, and with which registry settings
version_added: 0.1.0
description:
  - Reads, in one task, what the P(buildfleet.mirrors.docker_mirrors#role) role needs to know before it validates a
    mirror policy and writes C(daemon.json). It runs C(dockerd --version) and
    C(docker info --format '{{json .RegistryConfig}}'), and looks whether systemd runs the host.
  - The engine's version decides what it accepts. Docker Engine 24 and newer take a path in a registry mirror URL
    (RV(mirror_path)); 23 and newer have C(dockerd --validate) (RV(validate)).
  - Docker 26's client answers C(null) with exit code 0 when the daemon is down; only a registry configuration in the
    answer counts as running.
  - It never changes anything.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options: {}
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, in check mode as in a normal run.
  diff_mode:
    support: none
  idempotent:
    description: It never changes anything.
    support: full
  platform:
    platforms: posix
seealso:
  - module: buildfleet.mirrors.docker_daemon_config
"""

EXAMPLES = r"""
- name: Read the engine
  buildfleet.mirrors.docker_engine_info:
  register: engine

- name: Say whether a mirror URL may have a path here
  ansible.builtin.debug:
    msg: "Docker {{ engine.version }}: a path in a mirror URL is {{ 'accepted' if engine.mirror_path else 'refused' }}"
"""

RETURN = r"""
installed:
  description: Whether C(dockerd) was found (in C(PATH) or the sbin directories).
  returned: always
  type: bool
dockerd:
  description: The path of C(dockerd); empty when it is not installed.
  returned: always
  type: str
  sample: /usr/sbin/dockerd
version:
  description: The engine's version, such as V(26.1.5); empty when dockerd is not installed.
  returned: always
  type: str
  sample: 20.10.24
running:
  description: Whether the daemon answers C(docker info).
  returned: always
  type: bool
registry_config:
  description: The C(RegistryConfig) the running daemon reports (its mirrors and insecure registries); null when it
    does not run.
  returned: always
  type: dict
systemd:
  description: Whether systemd runs the host (C(/run/systemd/system) exists), so that dockerd can be reloaded
    through it.
  returned: always
  type: bool
mirror_path:
  description: Whether the engine accepts a path in a registry mirror URL (Docker 24 and newer).
  returned: always
  type: bool
validate:
  description: Whether the engine has C(dockerd --validate) (Docker 23 and newer).
  returned: always
  type: bool
python_version:
  description: The version of the Python that runs modules on the host.
  returned: always
  type: str
  sample: 3.11.2
python:
  description: The path of that Python.
  returned: always
  type: str
"""

import json
import os
import platform
import re
import sys

from ansible.module_utils.basic import AnsibleModule

SBIN_DIRECTORIES = ['/usr/local/sbin', '/usr/sbin', '/sbin']


def _version_tuple(version):
    return tuple(int(part) for part in version.split('.')[:2])


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    result = dict(changed=False, installed=False, dockerd='', version='', running=False, registry_config=None,
                  systemd=os.path.isdir('/run/systemd/system'), mirror_path=False, validate=False,
                  python_version=platform.python_version(), python=sys.executable)

    dockerd = module.get_bin_path('dockerd', opt_dirs=SBIN_DIRECTORIES)
    if dockerd:
        rc, out, err = module.run_command([dockerd, '--version'])
        match = re.search(r'[0-9]+\.[0-9]+(\.[0-9]+)?', out) if rc == 0 else None
        result.update(installed=True, dockerd=dockerd)
        if match:
            result['version'] = match.group(0)
            result['mirror_path'] = _version_tuple(result['version']) >= (24, 0)
            result['validate'] = _version_tuple(result['version']) >= (23, 0)

    docker = module.get_bin_path('docker', opt_dirs=SBIN_DIRECTORIES)
    if docker:
        rc, out, err = module.run_command([docker, 'info', '--format', '{{json .RegistryConfig}}'])
        if rc == 0:
            try:
                config = json.loads(out or 'null')
            except ValueError:
                config = None
            if isinstance(config, dict):
                result.update(running=True, registry_config=config)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
