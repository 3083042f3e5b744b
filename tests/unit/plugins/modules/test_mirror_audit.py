# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_audit as Ansible runs it on a host (this machine): arguments in, one record out, nothing changed."""

from __future__ import annotations

from conftest import run_collection_module
from local_mirrors import API_VERSION, Answer, MirrorServer

SECRET = 'Hunter2Secret'
STATUS_KEYS = {'failed', 'changed', 'skipped', 'unreachable', 'results'}


def data_keys(value):
    if isinstance(value, dict):
        return set(value) | set().union(set(), *(data_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(data_keys(item) for item in value))
    return set()


def test_the_module_returns_a_record_and_masks_credentials(tmp_path):
    registry = MirrorServer({'/v2/': Answer(200, dict(API_VERSION), b'{}')})
    try:
        url = registry.url.replace('http://', 'http://builder:%s@' % SECRET) + '/'
        run = run_collection_module('mirror_audit', tmp_path, dict(
            go=dict(environment=dict(GOPROXY='http://ci:%s@127.0.0.1:1,off' % SECRET), systemd_units=['x.service']),
            docker=dict(registry_mirrors=[url]), timeout=2, slow_ms=10000), check_mode=True)
    finally:
        registry.close()
    assert run.rc == 0, run.stdout
    result = run.result
    assert result['changed'] is False
    record = result['audit']
    assert record['schema'] == 1
    assert SECRET not in run.stdout
    assert not data_keys(record) & STATUS_KEYS
    # This machine does not get the policy (no profile.d script of ours), and the proxy on port 1 is down.
    checks = set(finding['check'] for finding in record['findings'])
    assert {'go.missing_value', 'mirror.down'} <= checks
    assert [probe['reachable'] for probe in record['probes'] if probe['kind'] == 'registry'] == [True]
    assert result['msg'].endswith('high') or ' high' in result['msg']


def test_bad_options_name_the_option(tmp_path):
    run = run_collection_module('mirror_audit', tmp_path, dict(go=dict(environment=dict(GOSUMDB='off'))))
    assert run.rc != 0
    assert 'GOPROXY' in run.result['msg']
    run = run_collection_module('mirror_audit', tmp_path, dict(docker=dict(registry_mirrors=[]), timeout=0))
    assert run.rc != 0 and 'timeout' in run.result['msg']
    run = run_collection_module('mirror_audit', tmp_path, dict(slow_ms=3))
    assert run.rc != 0 and 'go, docker' in run.result['msg']


def test_the_python_and_node_options_as_ansible_passes_them(tmp_path):
    """This machine's pip and npm do not get a policy for 127.0.0.1: findings, never a failure; probes answer."""
    import json

    simple = json.dumps({'meta': {'api-version': '1.1'}, 'name': 'pip', 'files': [
        {'filename': 'pip-24.0-py3-none-any.whl', 'url': 'pip.whl', 'hashes': {}}]}).encode()
    server = MirrorServer({
        '/simple/pip/': Answer(200, {'Content-Type': 'application/vnd.pypi.simple.v1+json'}, simple),
        '/npm': Answer(200, {'Content-Type': 'application/json'}, b'{"name": "npm", "versions": {"1.0.0": {}}}'),
    })
    try:
        run = run_collection_module('mirror_audit', tmp_path, dict(
            python=dict(index_url=server.url + '/simple/', uv=False),
            node=dict(registry=server.url + '/', scopes={'@corp': server.url + '/'}), timeout=3, slow_ms=10000),
            check_mode=True)
    finally:
        server.close()
    assert run.rc == 0, run.stdout
    record = run.result['audit']
    assert not data_keys(record) & STATUS_KEYS
    assert [(probe['kind'], probe['package'], probe['reachable']) for probe in record['probes']] == [
        ('pypi', 'pip', True), ('npm', 'npm', True)]
    ids = [consumer['id'] for consumer in record['consumers']]
    assert ids[0] == 'pip:global' and 'npm:global' in ids
    assert {'python.missing_index', 'npm.missing_registry'} <= set(finding['check'] for finding in record['findings'])


def test_bad_python_and_node_options_name_the_option(tmp_path):
    run = run_collection_module('mirror_audit', tmp_path, dict(
        python=dict(index_url='https://ci:%s@pypi.corp.example/simple/' % SECRET)))
    assert run.rc != 0 and 'python.index_url' in run.result['msg']
    assert SECRET not in run.stdout
    run = run_collection_module('mirror_audit', tmp_path, dict(node=dict(registry='https://npm.corp.example/',
                                                                         scopes={'corp': 'https://x.example/'})))
    assert run.rc != 0 and 'node.scopes' in run.result['msg']
