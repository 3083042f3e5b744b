# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""daemon.json merge, flag conflicts and docker info comparison, without Ansible."""

from __future__ import annotations

import json

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    DaemonJsonError,
    apply_policy,
    config_file_in_argv,
    describe_flag_conflicts,
    detect_indent,
    flag_conflicts,
    flags_in_argv,
    flags_in_text,
    managed_values,
    mirror_hosts,
    normalize_mirror,
    parse_daemon_json,
    registry_config_problems,
    render_daemon_json,
)

LAB = {'bridge': 'none', 'iptables': False, 'ip6tables': False}
MIRROR = 'https://mirror.corp.example.com/'
MIRROR2 = 'https://mirror2.corp.example.com/'
OLD = 'https://old.corp.example.com/'


# ---------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('', {}),
    ('  \n', {}),
    ('{}', {}),
    ('\ufeff{"debug": true}', {'debug': True}),
    ('{"bridge": "none", "iptables": false}', {'bridge': 'none', 'iptables': False}),
])
def test_parse_daemon_json(text, expected):
    assert parse_daemon_json(text) == expected


def test_parse_keeps_key_order():
    assert list(parse_daemon_json('{"z": 1, "a": 2, "m": 3}')) == ['z', 'a', 'm']


@pytest.mark.parametrize('text, fragment', [
    ('{"bridge": "none",}', 'is not valid JSON (Expecting property name'),
    ('{"bridge": "none"', 'is not valid JSON'),
    ('bridge: none', 'is not valid JSON'),
    ('["registry-mirrors"]', 'holds a JSON list, not an object'),
    ('"text"', 'holds a JSON str, not an object'),
])
def test_parse_refuses_what_dockerd_cannot_read(text, fragment):
    with pytest.raises(DaemonJsonError) as caught:
        parse_daemon_json(text, '/etc/docker/daemon.json')
    message = str(caught.value)
    assert message.startswith('/etc/docker/daemon.json ')
    assert fragment in message
    assert 'left untouched' in message


@pytest.mark.parametrize('text, expected', [
    ('{\n  "a": 1\n}', 2),
    ('{\n    "a": 1\n}', 4),
    ('{\n\t"a": 1\n}', '\t'),
    ('{"a": 1}', 2),
    ('', 2),
])
def test_detect_indent(text, expected):
    assert detect_indent(text) == expected


def test_render_keeps_unicode_and_order_and_ends_with_a_newline():
    text = render_daemon_json({'labels': ['site=Zürich'], 'bridge': 'none'}, 4)
    assert text == '{\n    "labels": [\n        "site=Zürich"\n    ],\n    "bridge": "none"\n}\n'
    assert json.loads(text) == {'labels': ['site=Zürich'], 'bridge': 'none'}


@pytest.mark.parametrize('url, expected', [
    ('https://m.example', 'https://m.example/'),
    ('https://m.example/', 'https://m.example/'),
    ('https://m.example/hub', 'https://m.example/hub/'),
])
def test_normalize_mirror_as_dockerd(url, expected):
    assert normalize_mirror(url) == expected


# ---------------------------------------------------------------------------
# apply_policy
# ---------------------------------------------------------------------------

def test_present_replace_sets_the_list_and_keeps_every_other_key_in_place():
    config = dict(LAB, **{'registry-mirrors': [OLD], 'log-opts': {'max-size': '10m'}})
    result = apply_policy(config, 'present', 'replace', [MIRROR, MIRROR2])
    assert result == dict(LAB, **{'registry-mirrors': [MIRROR, MIRROR2], 'log-opts': {'max-size': '10m'}})
    assert list(result) == ['bridge', 'iptables', 'ip6tables', 'registry-mirrors', 'log-opts']
    assert config['registry-mirrors'] == [OLD], 'the input is not modified'


def test_present_appends_a_missing_key_at_the_end():
    assert list(apply_policy(LAB, 'present', 'replace', [MIRROR])) == ['bridge', 'iptables', 'ip6tables',
                                                                       'registry-mirrors']


def test_present_merge_puts_the_policy_first_and_keeps_the_others():
    config = {'registry-mirrors': [OLD, 'https://mirror.corp.example.com']}
    result = apply_policy(config, 'present', 'merge', [MIRROR])
    assert result['registry-mirrors'] == [MIRROR, OLD]


def test_present_merge_on_a_missing_key_is_the_policy():
    assert apply_policy(LAB, 'present', 'merge', [MIRROR])['registry-mirrors'] == [MIRROR]


@pytest.mark.parametrize('existing', [
    [MIRROR, MIRROR2],
    ['https://mirror.corp.example.com', 'https://mirror2.corp.example.com'],
])
def test_a_host_that_complies_keeps_its_own_spelling(existing):
    config = dict(LAB, **{'registry-mirrors': existing})
    result = apply_policy(config, 'present', 'replace', [MIRROR, MIRROR2])
    assert result == config
    assert result['registry-mirrors'] is existing


def test_order_is_priority_so_a_new_order_is_a_change():
    config = {'registry-mirrors': [MIRROR2, MIRROR]}
    assert apply_policy(config, 'present', 'replace', [MIRROR, MIRROR2])['registry-mirrors'] == [MIRROR, MIRROR2]


def test_unmanaged_insecure_registries_are_left_alone():
    config = {'insecure-registries': ['10.0.0.0/8']}
    assert apply_policy(config, 'present', 'replace', [MIRROR], None) == {'insecure-registries': ['10.0.0.0/8'],
                                                                          'registry-mirrors': [MIRROR]}


@pytest.mark.parametrize('strategy, expected', [
    ('replace', ['reg.example:5000']),
    ('merge', ['reg.example:5000', '10.0.0.0/8']),
])
def test_managed_insecure_registries(strategy, expected):
    config = {'insecure-registries': ['10.0.0.0/8', 'reg.example:5000']}
    result = apply_policy(config, 'present', strategy, None, ['reg.example:5000'])
    assert result == {'insecure-registries': expected}


def test_an_empty_managed_insecure_list_empties_the_key():
    assert apply_policy({'insecure-registries': ['10.0.0.0/8']}, 'present', 'replace', None, []) == {
        'insecure-registries': []}


def test_absent_replace_removes_the_keys_and_keeps_the_rest():
    config = dict(LAB, **{'registry-mirrors': [MIRROR], 'insecure-registries': ['reg.example:5000']})
    assert apply_policy(config, 'absent', 'replace', [], []) == LAB


def test_absent_leaves_unmanaged_insecure_registries():
    config = dict(LAB, **{'registry-mirrors': [MIRROR], 'insecure-registries': ['reg.example:5000']})
    assert apply_policy(config, 'absent', 'replace', [], None) == dict(LAB, **{
        'insecure-registries': ['reg.example:5000']})


def test_absent_merge_removes_only_the_policy_entries():
    config = {'registry-mirrors': [OLD, MIRROR]}
    assert apply_policy(config, 'absent', 'merge', ['https://mirror.corp.example.com']) == {
        'registry-mirrors': [OLD]}
    assert apply_policy({'registry-mirrors': [MIRROR]}, 'absent', 'merge', [MIRROR]) == {}


def test_absent_on_a_file_without_the_keys_changes_nothing():
    assert apply_policy(LAB, 'absent', 'replace', [], []) == LAB


@pytest.mark.parametrize('value', ['https://old.example', [1, 2], {'a': 'b'}])
def test_merge_refuses_an_existing_value_dockerd_would_refuse(value):
    with pytest.raises(DaemonJsonError) as caught:
        apply_policy({'registry-mirrors': value}, 'present', 'merge', [MIRROR], path='/etc/docker/daemon.json')
    assert '/etc/docker/daemon.json sets "registry-mirrors" to %s' % json.dumps(value) in str(caught.value)


def test_replace_overwrites_an_existing_value_of_the_wrong_type():
    assert apply_policy({'registry-mirrors': 'https://old.example'}, 'present', 'replace', [MIRROR]) == {
        'registry-mirrors': [MIRROR]}


@pytest.mark.parametrize('state, strategy', [('latest', 'replace'), ('present', 'union')])
def test_apply_policy_refuses_unknown_modes(state, strategy):
    with pytest.raises(ValueError):
        apply_policy({}, state, strategy, [MIRROR])


def test_managed_values_normalise_mirrors_and_default_to_empty():
    assert managed_values({'registry-mirrors': ['https://m.example']}) == (['https://m.example/'], [])
    assert managed_values({}, True, False) == ([], None)
    assert managed_values({}, False, True) == (None, [])


# ---------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('argv, expected', [
    (['/usr/sbin/dockerd', '-H', 'fd://'], []),
    (['/usr/sbin/dockerd', '--registry-mirror=https://m.example'], ['registry-mirrors']),
    (['/usr/sbin/dockerd', '--registry-mirror', 'https://m.example'], ['registry-mirrors']),
    (['dockerd', '--insecure-registry=10.0.0.0/8', '--registry-mirror=x'], ['registry-mirrors', 'insecure-registries']),
    (['dockerd', '--registry-mirrors=x'], []),
])
def test_flags_in_argv(argv, expected):
    assert flags_in_argv(argv) == expected


@pytest.mark.parametrize('text, expected', [
    ('[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// --registry-mirror=https://m.example\n',
     ['registry-mirrors']),
    ('DOCKER_OPTS="--registry-mirror https://m.example"\n', ['registry-mirrors']),
    ("Environment='DOCKER_OPTS=--insecure-registry=reg:5000'\n", ['insecure-registries']),
    ('# DOCKER_OPTS="--registry-mirror https://m.example"\n', []),
    ('; ExecStart=/usr/sbin/dockerd --registry-mirror=x\n', []),
    ('ExecStart=/usr/sbin/dockerd --no-registry-mirror --registry-mirrors=x\n', []),
    ('ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n', []),
])
def test_flags_in_text(text, expected):
    assert flags_in_text(text) == expected


def test_flag_conflicts_name_every_source_for_the_keys_asked():
    sources = [
        ('the running dockerd (pid 42)', ['dockerd', '--registry-mirror=x', '--insecure-registry=y']),
        ('the drop-in /etc/systemd/system/docker.service.d/mirror.conf', 'ExecStart=dockerd --registry-mirror=x'),
        ('the unit file /lib/systemd/system/docker.service', 'ExecStart=/usr/sbin/dockerd -H fd://'),
    ]
    assert flag_conflicts(sources, ['registry-mirrors']) == [
        ('registry-mirrors', '--registry-mirror', 'the running dockerd (pid 42)'),
        ('registry-mirrors', '--registry-mirror', 'the drop-in /etc/systemd/system/docker.service.d/mirror.conf'),
    ]
    message = describe_flag_conflicts(flag_conflicts(sources), '/etc/docker/daemon.json')
    assert message.startswith('--registry-mirror is passed to dockerd by the running dockerd (pid 42); the drop-in '
                              '/etc/systemd/system/docker.service.d/mirror.conf; --insecure-registry is passed')
    assert '/etc/docker/daemon.json would set "registry-mirrors", "insecure-registries" too' in message
    assert message.endswith('/etc/docker/daemon.json was left untouched')


@pytest.mark.parametrize('argv, expected', [
    (['dockerd', '--config-file=/srv/docker.json'], '/srv/docker.json'),
    (['dockerd', '--config-file', '/srv/docker.json'], '/srv/docker.json'),
    (['dockerd', '-H', 'fd://'], None),
    (['dockerd', '--config-file'], None),
])
def test_config_file_in_argv(argv, expected):
    assert config_file_in_argv(argv) == expected


# ---------------------------------------------------------------------------
# docker info
# ---------------------------------------------------------------------------

def registry_config(mirrors=None, insecure_hosts=(), cidrs=('127.0.0.0/8',)):
    index = {'docker.io': {'Name': 'docker.io', 'Mirrors': mirrors or [], 'Secure': True, 'Official': True}}
    for host in insecure_hosts:
        index[host] = {'Name': host, 'Mirrors': [], 'Secure': False, 'Official': False}
    return {'AllowNondistributableArtifactsCIDRs': None, 'AllowNondistributableArtifactsHostnames': None,
            'InsecureRegistryCIDRs': list(cidrs), 'IndexConfigs': index, 'Mirrors': mirrors}


def test_matching_registry_config_has_no_problem():
    info = registry_config([MIRROR, MIRROR2], ['reg.example:5000'], ['127.0.0.0/8', '10.0.0.0/8'])
    assert registry_config_problems(info, ['https://mirror.corp.example.com', MIRROR2],
                                    ['10.1.2.3/8', 'reg.example:5000']) == []


@pytest.mark.parametrize('mirrors', [None, []])
def test_no_mirrors_matches_an_empty_policy(mirrors):
    assert registry_config_problems(registry_config(mirrors), []) == []


def test_mirrors_are_compared_in_order():
    problems = registry_config_problems(registry_config([MIRROR2, MIRROR]), [MIRROR, MIRROR2])
    assert problems == ['dockerd uses the registry mirrors ["%s", "%s"], but the policy is ["%s", "%s"]'
                        % (MIRROR2, MIRROR, MIRROR, MIRROR2)]


def test_old_mirrors_after_a_refused_reload_are_a_problem():
    assert registry_config_problems(registry_config(None), [MIRROR]) == [
        'dockerd uses the registry mirrors [], but the policy is ["%s"]' % MIRROR]


def test_insecure_registries_are_compared_as_a_set_without_the_defaults():
    info = registry_config(None, ['reg.example:5000', 'other.example'], ['127.0.0.0/8', '::1/128'])
    problems = registry_config_problems(info, None, ['reg.example:5000'])
    assert problems == ['dockerd treats ["other.example", "reg.example:5000"] as insecure registries, '
                        'but the policy is ["reg.example:5000"]']


def test_unmanaged_keys_are_not_compared():
    assert registry_config_problems(registry_config(['https://x.example/'], ['y.example']), None, None) == []


@pytest.mark.parametrize('value', [None, [], 'text'])
def test_a_missing_registry_config_is_a_problem(value):
    assert registry_config_problems(value, [MIRROR])[0].startswith('docker info returned no registry configuration')


# ---------------------------------------------------------------------------
# Other engines
# ---------------------------------------------------------------------------

def test_mirror_hosts():
    hosts = mirror_hosts(['http://127.0.0.1:15000/', 'https://10.1.2.3:8443/', 'https://mirror.example/hub/',
                          'https://reg.example:5000/'], ['10.0.0.0/8', 'reg.example:5000', 'mirror.example'])
    assert hosts == [
        dict(url='http://127.0.0.1:15000', netloc='127.0.0.1:15000', path='', plain_http=True, skip_verify=False),
        dict(url='https://10.1.2.3:8443', netloc='10.1.2.3:8443', path='', plain_http=False, skip_verify=True),
        dict(url='https://mirror.example/hub', netloc='mirror.example', path='/hub', plain_http=False,
             skip_verify=True),
        dict(url='https://reg.example:5000', netloc='reg.example:5000', path='', plain_http=False, skip_verify=True),
    ]


def test_mirror_hosts_verifies_tls_unless_listed():
    assert mirror_hosts(['https://mirror.example/'])[0]['skip_verify'] is False
    assert mirror_hosts(['https://mirror.example/'], ['10.0.0.0/8'])[0]['skip_verify'] is False


# ---------------------------------------------------------------------------
# keep_empty: what a reload needs to forget the mirrors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('config, strategy, expected', [
    ({'registry-mirrors': [MIRROR]}, 'replace', {'registry-mirrors': []}),
    ({'registry-mirrors': [MIRROR]}, 'merge', {'registry-mirrors': []}),
    ({'registry-mirrors': [OLD, MIRROR]}, 'merge', {'registry-mirrors': [OLD]}),
    ({}, 'replace', {'registry-mirrors': []}),
    ({'registry-mirrors': []}, 'replace', {'registry-mirrors': []}),
])
def test_absent_keep_empty_writes_empty_lists(config, strategy, expected):
    assert apply_policy(config, 'absent', strategy, [MIRROR], keep_empty=True) == expected


def test_keep_empty_changes_nothing_for_present():
    assert apply_policy({}, 'present', 'replace', [MIRROR], keep_empty=True) == {'registry-mirrors': [MIRROR]}
