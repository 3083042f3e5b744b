# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""validate_python_mirrors and validate_node_mirrors: the role-keyed policies, normalised or refused by name."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.filter.policy import FilterModule

FILTERS = FilterModule().filters()


def refused(name, policy):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS[name](policy)
    return caught.value.message


def test_python_policy_normalised_with_its_defaults():
    assert FILTERS['validate_python_mirrors']({
        'python_mirrors_index_url': 'https://pypi.corp.example/simple',
        'python_mirrors_extra_index_urls': ['https://pypi.corp.example/internal/simple'],
        'python_mirrors_probe_package': 'Typing_Extensions',
        'other_role_variable': 'ignored',
    }) == {
        'python_mirrors_state': 'present',
        'python_mirrors_index_url': 'https://pypi.corp.example/simple/',
        'python_mirrors_extra_index_urls': ['https://pypi.corp.example/internal/simple/'],
        'python_mirrors_probe_package': 'typing-extensions',
        'python_mirrors_allow_http': False,
        'python_mirrors_uv': True,
        'python_mirrors_environment': False,
    }


def test_node_policy_normalised_with_its_defaults():
    assert FILTERS['validate_node_mirrors']({
        'node_mirrors_registry': 'http://npm.corp.example:4873',
        'node_mirrors_scopes': {'@corp': 'http://npm.corp.example:4873/corp'},
        'node_mirrors_allow_http': True,
    }) == {
        'node_mirrors_state': 'present',
        'node_mirrors_registry': 'http://npm.corp.example:4873/',
        'node_mirrors_scopes': {'@corp': 'http://npm.corp.example:4873/corp/'},
        'node_mirrors_probe_package': 'npm',
        'node_mirrors_scope_probe_packages': {},
        'node_mirrors_allow_http': True,
        'node_mirrors_environment': False,
    }


@pytest.mark.parametrize('name, policy, words', [
    ('validate_python_mirrors', {}, ['python_mirrors_index_url is not set', 'python_mirrors_state: absent']),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'http://pypi.corp.example/simple/'},
     ["python_mirrors_index_url 'http://pypi.corp.example/simple/'", 'python_mirrors_allow_http: true']),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'https://pypi.corp.example/simple/\nx'},
     ['python_mirrors_index_url', 'a newline']),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'https://u:hunter2@pypi.corp.example/simple/'},
     ["python_mirrors_index_url 'https://***@pypi.corp.example/simple/' carries credentials"]),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'https://pypi.corp.example/simple/',
                                 'python_mirrors_extra_index_urls': ['http://x.example/simple/']},
     ["python_mirrors_extra_index_urls entry 'http://x.example/simple/'"]),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'https://pypi.corp.example/simple/',
                                 'python_mirrors_probe_package': 'no such name'},
     ["python_mirrors_probe_package 'no such name'"]),
    ('validate_python_mirrors', {'python_mirrors_index_url': 'https://pypi.corp.example/simple/',
                                 'python_mirrors_uv': 'yes'}, ["python_mirrors_uv must be true or false, got 'yes'"]),
    ('validate_python_mirrors', {'python_mirrors_state': 'gone'}, ["python_mirrors_state is 'gone'"]),
    ('validate_python_mirrors', ['not', 'a', 'dict'], ['must be a dict of python_mirrors_* variables']),
    ('validate_node_mirrors', {}, ['node_mirrors_registry is not set']),
    ('validate_node_mirrors', {'node_mirrors_registry': 'https://npm.corp.example/', 'node_mirrors_scopes': {
        'corp': 'https://npm.corp.example/'}}, ["node_mirrors_scopes key 'corp'", '@corp']),
    ('validate_node_mirrors', {'node_mirrors_registry': 'https://npm.corp.example/;x'}, ["node_mirrors_registry", ';']),
    ('validate_node_mirrors', {'node_mirrors_registry': 'https://npm.corp.example/',
                               'node_mirrors_probe_package': '@corp'}, ["node_mirrors_probe_package '@corp'"]),
    ('validate_node_mirrors', {'node_mirrors_registry': 'https://npm.corp.example/?_authToken=npm_SECRET'},
     ['node_mirrors_registry', 'credentials']),
])
def test_bad_policies_are_refused_by_variable(name, policy, words):
    message = refused(name, policy)
    for word in words:
        assert word in message
    assert 'hunter2' not in message and 'npm_SECRET' not in message


def test_absent_needs_no_valid_url():
    assert FILTERS['validate_python_mirrors']({'python_mirrors_state': 'absent'})['python_mirrors_index_url'] is None
    removed = FILTERS['validate_node_mirrors']({'node_mirrors_state': 'absent', 'node_mirrors_registry': 'htp://x'})
    assert removed['node_mirrors_state'] == 'absent' and removed['node_mirrors_scopes'] == {}


def test_node_probes_main_registry_first_then_each_scope_with_its_package_each_pair_once():
    policy = {
        'node_mirrors_registry': 'https://npm.corp.example',
        'node_mirrors_scopes': {'@corp': 'https://npm.corp.example/corp', '@ops': 'https://npm.corp.example',
                                '@lab': 'https://npm.lab.example/'},
        'node_mirrors_scope_probe_packages': {'@corp': '@corp/tool'},
    }
    assert FILTERS['node_mirrors_probes'](policy) == [
        {'url': 'https://npm.corp.example/', 'package': 'npm'},
        {'url': 'https://npm.corp.example/corp/', 'package': '@corp/tool'},
        # @ops is the main registry with the main package: asked once.
        {'url': 'https://npm.lab.example/', 'package': 'npm'},
    ]
    assert FILTERS['node_mirrors_probes']({'node_mirrors_state': 'absent'}) == []


@pytest.mark.parametrize('packages, words', [
    ({'@other': 'x'}, ["node_mirrors_scope_probe_packages key '@other' is not a scope of node_mirrors_scopes (@corp)"]),
    ({'@corp': 'Not A Name'}, ["node_mirrors_scope_probe_packages[@corp] 'Not A Name'"]),
    (['@corp'], ['node_mirrors_scope_probe_packages must be a mapping of scope to package']),
])
def test_scope_probe_packages_refused_by_name(packages, words):
    message = refused('validate_node_mirrors', {
        'node_mirrors_registry': 'https://npm.corp.example/', 'node_mirrors_scopes': {'@corp': 'https://c.example/'},
        'node_mirrors_scope_probe_packages': packages})
    for word in words:
        assert word in message


def test_python_probes_main_index_first():
    assert FILTERS['python_mirrors_probes']({
        'python_mirrors_index_url': 'https://pypi.corp.example/simple',
        'python_mirrors_extra_index_urls': ['https://pypi.corp.example/ml/simple/']}) == [
        'https://pypi.corp.example/simple/', 'https://pypi.corp.example/ml/simple/']
    assert FILTERS['python_mirrors_probes']({'python_mirrors_state': 'absent'}) == []
    assert 'python_mirrors_index_url is not set' in refused('python_mirrors_probes', {})
