# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The python_mirrors role on localhost: its shape, refused values, the gate against a real index, check mode.

Nothing here writes to this machine: validate and gate write nothing, and apply runs in check mode only.
"""

from __future__ import annotations

import json
import re

from pathlib import Path

import pytest
import yaml

from local_mirrors import Answer, MirrorServer

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'python_mirrors'
SPECS = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
SECRET = 'PyIdxSecret7'
PAGE = b'<html><body><a href="/p/buildfleet_hello-1.0.0-py3-none-any.whl">x</a></body></html>'

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.python_mirrors
        tasks_from: %(entry)s
      vars: %(variables)s
"""


def test_entry_points_are_main_validate_gate_apply_with_the_same_options():
    assert sorted(SPECS) == ['apply', 'gate', 'main', 'validate']
    assert all(SPECS[entry]['options'] == SPECS['main']['options'] for entry in SPECS)


def test_the_role_writes_only_through_its_one_writer_task_and_stores_no_fact():
    tasks = {path.name: path.read_text() for path in (ROLE / 'tasks').glob('*.yml')}
    assert 'set_fact' not in ''.join(tasks.values())
    writers = re.findall(r'buildfleet\.mirrors\.python_index_config:', ''.join(tasks.values()))
    assert len(writers) == 1 and 'register: python_mirrors_result' in tasks['apply.yml']


def run_play(ansible_cli, tmp_path, entry, *options, **variables):
    (tmp_path / 'play.yml').write_text(PLAY % dict(entry=entry, variables=json.dumps(variables)))
    return ansible_cli('ansible-playbook', *options, 'play.yml')


@pytest.mark.parametrize('variables, message', [
    ({'python_mirrors_index_url': 'https://pypi.corp.example/simple/\nno-index = true'},
     'python_mirrors_index_url'),
    ({'python_mirrors_index_url': 'http://pypi.corp.example/simple/'}, 'python_mirrors_allow_http: true'),
    ({'python_mirrors_index_url': ''}, 'python_mirrors_index_url is not set'),
    ({'python_mirrors_index_url': 'https://pypi.corp.example/simple/', 'python_mirrors_probe_package': 'a b'},
     'python_mirrors_probe_package'),
])
def test_validate_refuses_naming_the_variable(ansible_cli, tmp_path, variables, message):
    rc, stdout, stderr = run_play(ansible_cli, tmp_path, 'validate', **variables)
    assert rc != 0
    assert message in stdout, stdout


def test_credentials_in_a_url_are_never_printed_even_at_vvvv(ansible_cli, tmp_path):
    rc, stdout, stderr = run_play(ansible_cli, tmp_path, 'validate', '-vvvv',
                                  python_mirrors_index_url='https://ci:%s@pypi.corp.example/simple/' % SECRET)
    assert rc != 0 and 'python_mirrors_index_url' in stdout
    assert SECRET not in stdout + stderr


@pytest.fixture(scope='module')
def index():
    server = MirrorServer({'/simple/buildfleet-hello/': Answer(200, {'Content-Type': 'text/html'}, PAGE)})
    yield server
    server.close()


def test_the_gate_refuses_an_index_without_the_probe_package(ansible_cli, tmp_path, index):
    rc, stdout, stderr = run_play(ansible_cli, tmp_path, 'gate', python_mirrors_index_url=index.url + '/simple/',
                                  python_mirrors_allow_http=True, python_mirrors_probe_package='not-there')
    assert rc != 0
    text = ' '.join(stdout.split())
    assert 'python_mirrors_validate is strict and 1 of 1 indexes did not serve not-there' in text, stdout


def test_the_gate_prunes_a_dead_extra_index_and_passes_with_a_warning(ansible_cli, tmp_path, index, closed_port):
    rc, stdout, stderr = run_play(ansible_cli, tmp_path, 'gate', python_mirrors_index_url=index.url + '/simple/',
                                  python_mirrors_extra_index_urls=[closed_port + '/simple/'],
                                  python_mirrors_allow_http=True, python_mirrors_probe_package='buildfleet-hello',
                                  python_mirrors_validate='prune')
    assert rc == 0, stdout
    assert '[WARNING] python_mirrors_validate is prune' in ' '.join(stdout.split())


def test_apply_in_check_mode_tells_what_would_change_and_writes_nothing(ansible_cli, tmp_path, index):
    before = {path: Path(path).read_bytes() if Path(path).exists() else None
              for path in ('/etc/pip.conf', '/etc/uv/uv.toml', '/etc/xdg/uv/uv.toml')}
    rc, stdout, stderr = run_play(ansible_cli, tmp_path, 'main', '--check', '--diff',
                                  python_mirrors_index_url=index.url + '/simple/', python_mirrors_allow_http=True,
                                  python_mirrors_probe_package='buildfleet-hello')
    assert rc == 0, stdout
    assert 'index-url = %s/simple/' % index.url in stdout
    after = {path: Path(path).read_bytes() if Path(path).exists() else None for path in before}
    assert after == before
