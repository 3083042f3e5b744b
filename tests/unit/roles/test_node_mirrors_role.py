# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node_mirrors role played against localhost: validate refuses by name, the gate judges real registries.

Registries are HTTP servers on 127.0.0.1. Whatever reaches apply runs in check mode: it reads this machine's global
npmrc (which npm names) and writes nothing.
"""

from __future__ import annotations

import json

import pytest

from local_mirrors import Answer, MirrorServer, closed_port_url

NPM_TYPE = {'Content-Type': 'application/json'}
SECRET = 'NpmT0ken-x9'


def packument(name):
    return json.dumps({'name': name, 'dist-tags': {'latest': '1.0.0'},
                       'versions': {'1.0.0': {'name': name, 'version': '1.0.0'}}}).encode()


@pytest.fixture(scope='module')
def registry():
    server = MirrorServer({'/buildfleet-hello': Answer(200, NPM_TYPE, packument('buildfleet-hello')),
                           '/@corp%2fhello': Answer(200, NPM_TYPE, packument('@corp/hello'))})
    yield server
    server.close()


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.node_mirrors
        tasks_from: %(entry)s
      vars: %(vars)s
    - ansible.builtin.debug:
        msg: "RESULT {{ node_mirrors_result | default({}) | to_json }}"
"""


def play(ansible_cli, tmp_path, entry, variables, *options):
    (tmp_path / 'play.yml').write_text(PLAY % dict(entry=entry, vars=json.dumps(variables)))
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', *(list(options) + ['play.yml']))
    assert SECRET not in stdout + stderr
    return rc, stdout, stderr


def result_of(stdout):
    for play_result in json.loads(stdout[stdout.index('{'):])['plays']:
        for task in play_result['tasks']:
            message = task['hosts'].get('localhost', {}).get('msg')
            if isinstance(message, str) and message.startswith('RESULT '):
                return json.loads(message[len('RESULT '):])
    return None


@pytest.mark.parametrize('variables, message', [
    ({'node_mirrors_registry': 'https://npm.corp.example/', 'node_mirrors_scopes': {'corp': 'https://npm.corp.example/'}},
     "node_mirrors_scopes key 'corp' is not an npm scope"),
    ({'node_mirrors_registry': 'https://npm.corp.example/\nregistry=https://evil.example/'},
     'node_mirrors_registry'),
    ({'node_mirrors_registry': 'http://npm.corp.example/'},
     'node_mirrors_allow_http: true'),
    ({'node_mirrors_registry': 'https://ci:%s@npm.corp.example/' % SECRET}, 'node_mirrors_registry'),
    ({'node_mirrors_registry': 'https://npm.corp.example/', 'node_mirrors_scopes': {'@corp': 'https://x.example/'},
      'node_mirrors_scope_probe_packages': {'@other': '@other/x'}},
     "node_mirrors_scope_probe_packages key '@other' is not a scope of node_mirrors_scopes"),
    ({}, 'node_mirrors_registry is not set'),
])
def test_validate_refuses_naming_the_variable(ansible_cli, tmp_path, variables, message):
    rc, stdout, stderr = play(ansible_cli, tmp_path, 'validate', variables)
    assert rc != 0
    assert message in stdout, stdout


def test_the_gate_refuses_a_registry_that_is_down_and_one_without_the_probe_package(ansible_cli, tmp_path, registry):
    down = closed_port_url()
    rc, stdout, stderr = play(ansible_cli, tmp_path, 'main', {
        'node_mirrors_registry': down, 'node_mirrors_allow_http': True, 'node_mirrors_probe_package': 'buildfleet-hello',
        'node_mirrors_scopes': {'@corp': registry.url}, 'node_mirrors_scope_probe_packages': {'@corp': '@corp/gone'}})
    assert rc != 0
    assert 'node_mirrors_validate is strict and 2 of 2 npm registries did not serve' in stdout
    assert 'node_mirrors_registry %s/ (buildfleet-hello)' % down in stdout
    assert 'node_mirrors_scopes[@corp] %s/ (@corp/gone): answered HTTP 404' % registry.url in stdout, stdout
    assert result_of(stdout) is None  # the writer never ran


def test_main_in_check_mode_passes_the_gate_and_the_writer_says_what_it_would_write(ansible_cli, tmp_path, registry):
    before = len(registry.paths)
    rc, stdout, stderr = play(ansible_cli, tmp_path, 'main', {
        'node_mirrors_registry': registry.url, 'node_mirrors_allow_http': True,
        'node_mirrors_probe_package': 'buildfleet-hello', 'node_mirrors_scopes': {'@corp': registry.url + '/'},
        'node_mirrors_scope_probe_packages': {'@corp': '@corp/hello'}}, '--check', '--diff')
    assert rc == 0, stdout + stderr
    assert registry.paths[before:].count('/buildfleet-hello') == 1 and '/@corp%2fhello' in registry.paths[before:]
    result = result_of(stdout)
    assert result['changed'] is True and result['pruned'] == []
    assert 'would be' in result['msg'] and result['verified'] == []


def test_prune_leaves_a_dead_scope_registry_out_and_returns_it(ansible_cli, tmp_path, registry):
    down = closed_port_url()
    rc, stdout, stderr = play(ansible_cli, tmp_path, 'main', {
        'node_mirrors_registry': registry.url, 'node_mirrors_allow_http': True,
        'node_mirrors_probe_package': 'buildfleet-hello', 'node_mirrors_scopes': {'@dead': down},
        'node_mirrors_validate': 'prune'}, '--check', '--diff')
    assert rc == 0, stdout + stderr
    assert 'node_mirrors_validate is prune: left out of the npmrc on localhost' in stdout
    result = result_of(stdout)
    assert result['pruned'] == [down + '/']
    assert '@dead:registry' not in json.dumps(result.get('diff'))
