# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_engine_info against this machine's own Docker Engine (or its absence), compared with asking it directly."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys

from conftest import clean_environment

SBIN = '/usr/local/sbin:/usr/sbin:/sbin'


def run_module(tmp_path, path=None):
    environment = clean_environment()
    if path is not None:
        environment['PATH'] = path
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {'_ansible_tmpdir': str(tmp_path)}}))
    completed = subprocess.run(
        [sys.executable, '-m', 'ansible_collections.buildfleet.mirrors.plugins.modules.docker_engine_info', str(args_file)],
        capture_output=True, text=True, env=environment, cwd=str(tmp_path), timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_reports_the_engine_as_dockerd_and_docker_info_report_it(tmp_path):
    result = run_module(tmp_path)
    dockerd = shutil.which('dockerd', path=os.environ.get('PATH', '') + ':' + SBIN)
    assert result['changed'] is False
    assert result['installed'] is bool(dockerd)
    assert result['python_version'] == platform.python_version()
    if dockerd:
        version = re.search(r'[0-9]+\.[0-9]+(\.[0-9]+)?', subprocess.check_output([dockerd, '--version'], text=True)).group(0)
        major_minor = tuple(int(part) for part in version.split('.')[:2])
        assert (result['dockerd'], result['version']) == (dockerd, version)
        assert result['mirror_path'] is (major_minor >= (24, 0))
        assert result['validate'] is (major_minor >= (23, 0))
    docker = shutil.which('docker')
    info = subprocess.run([docker, 'info', '--format', '{{json .RegistryConfig}}'], capture_output=True, text=True,
                          check=False) if docker else None
    running = bool(info and info.returncode == 0 and isinstance(json.loads(info.stdout or 'null'), dict))
    assert result['running'] is running
    if running:
        assert result['registry_config'] == json.loads(info.stdout)
    else:
        assert result['registry_config'] is None
    assert result['systemd'] is os.path.isdir('/run/systemd/system')
