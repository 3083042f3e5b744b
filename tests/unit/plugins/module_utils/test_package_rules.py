# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules of Python index and npm registry values (_python_rules, _node_rules, _values' config-file URLs)."""

from __future__ import annotations

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    escaped_package_name,
    validate_package_name,
    validate_registry_url,
    validate_scopes,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    canonical_project_name,
    validate_extra_index_urls,
    validate_index_url,
    validate_project_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError, validate_absolute_path


def refusal(function, *args, **kwargs):
    with pytest.raises(PolicyError) as caught:
        function(*args, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize('url, expected', [
    ('https://pypi.corp.example/simple', 'https://pypi.corp.example/simple/'),
    ('https://pypi.corp.example/simple///', 'https://pypi.corp.example/simple/'),
    ('https://pypi.corp.example:8443/api/pypi/remote/simple/',
     'https://pypi.corp.example:8443/api/pypi/remote/simple/'),
    ('https://[::1]:3141/root/pypi/+simple/', 'https://[::1]:3141/root/pypi/+simple/'),
])
def test_index_urls_come_back_with_one_trailing_slash(url, expected):
    assert validate_index_url(url, 'idx') == expected
    assert validate_registry_url(url, 'reg') == expected


@pytest.mark.parametrize('url, words', [
    ('https://pypi.corp.example/simple/\n[global]', ['a newline']),
    ('https://pypi.corp.example/simple/;comment', ["a ';'"]),
    ('https://pypi.corp.example/#x', ["'#'", 'comment']),
    ('https://pypi.corp.example/${HOME}/', ["a '$'"]),
    ('https://pypi.corp.example/a b/', ['a space']),
    ('https://pypi.corp.example/\x00', ['U+0000']),
    ('pypi.corp.example/simple', ['no scheme']),
    ('ftp://pypi.corp.example/simple', ["scheme 'ftp'"]),
    ('https:///simple', ['no host']),
    ('https://pypi.corp.example/simple?x=1', ['query']),
    ('https://pypi.corp.example:0/simple', ['port 0']),
])
def test_index_urls_that_would_break_a_config_file_or_a_request_are_refused(url, words):
    message = refusal(validate_index_url, url, 'python_mirrors_index_url')
    assert message.startswith('python_mirrors_index_url ')
    for word in words:
        assert word in message


def test_http_needs_the_opt_in_named_in_the_message():
    message = refusal(validate_index_url, 'http://pypi.corp.example/simple/', 'idx', False, 'python_mirrors_allow_http')
    assert 'python_mirrors_allow_http: true' in message
    assert validate_index_url('http://pypi.corp.example/simple', 'idx', True) == 'http://pypi.corp.example/simple/'


@pytest.mark.parametrize('url, secret', [
    ('https://ci:s3cr3t@pypi.corp.example/simple/', 's3cr3t'),
    ('https://tok3n@npm.corp.example/', 'tok3n'),
    ('https://pypi.corp.example/simple/?token=abcd1234', 'abcd1234'),
])
def test_credentials_are_refused_and_never_shown(url, secret):
    for function in (validate_index_url, validate_registry_url):
        message = refusal(function, url, 'v')
        assert secret not in message
        assert 'world-readable' in message or 'query' in message


def test_extra_index_urls_are_a_list_without_repeats():
    assert validate_extra_index_urls(None, 'extra') == []
    assert validate_extra_index_urls(['https://a.example/simple', 'https://b.example/simple/'], 'extra',
                                     'https://main.example/simple/') == ['https://a.example/simple/',
                                                                         'https://b.example/simple/']
    assert 'must be a list' in refusal(validate_extra_index_urls, 'https://a.example/simple/', 'extra')
    assert 'given twice' in refusal(validate_extra_index_urls, ['https://a.example/simple'], 'extra',
                                    'https://a.example/simple/')
    assert "extra entry 'http://a.example/'" in refusal(validate_extra_index_urls, ['http://a.example/'], 'extra')


@pytest.mark.parametrize('project, canonical', [
    ('pip', 'pip'), ('Typing_Extensions', 'typing-extensions'), ('zope.interface', 'zope-interface'),
    ('a', 'a'), ('Foo__-.Bar', 'foo-bar'),
])
def test_project_names_are_normalised_as_pep_503_says(project, canonical):
    assert validate_project_name(project, 'probe') == canonical
    assert canonical_project_name(project) == canonical


@pytest.mark.parametrize('project', ['', '-pip', 'pip-', 'pip\n', 'pi p', '../etc', 'pip/x', 'ünicode', 3])
def test_bad_project_names_are_refused(project):
    assert refusal(validate_project_name, project, 'probe').startswith('probe')


@pytest.mark.parametrize('package, escaped', [
    ('npm', 'npm'), ('@corp/tool', '@corp%2ftool'), ('lodash.merge', 'lodash.merge'),
    ('@a-b.c_~/d-e', '@a-b.c_~%2fd-e'),
])
def test_npm_package_names_and_their_escaped_form(package, escaped):
    assert validate_package_name(package, 'probe') == package
    assert escaped_package_name(package) == escaped


@pytest.mark.parametrize('package', ['', 'NPM', '.hidden', '_under', '@corp', '@corp/', 'corp/tool', '@Corp/tool',
                                     'a b', 'x' * 215, '@corp/tool/extra', 'npm\n'])
def test_bad_npm_package_names_are_refused(package):
    assert refusal(validate_package_name, package, 'probe').startswith('probe')


def test_scopes_map_to_registry_urls():
    assert validate_scopes(None, 'scopes') == {}
    assert validate_scopes({'@corp': 'https://npm.corp.example', '@a.b-c_~': 'https://x.example/npm/'}, 'scopes') == {
        '@corp': 'https://npm.corp.example/', '@a.b-c_~': 'https://x.example/npm/'}
    assert 'must be a mapping' in refusal(validate_scopes, ['@corp'], 'scopes')


@pytest.mark.parametrize('scope, words', [
    ('corp', ['needs the @ in front: @corp']),
    ('@Corp', ['not an npm scope']),
    ('@', ['not an npm scope']),
    ('@corp:registry', ['not an npm scope']),
    ('@corp\n', ['not an npm scope', '\\n']),
])
def test_bad_scopes_are_refused(scope, words):
    message = refusal(validate_scopes, {scope: 'https://npm.corp.example/'}, 'node_mirrors_scopes')
    assert message.startswith('node_mirrors_scopes key')
    for word in words:
        assert word in message


def test_a_scope_registry_is_checked_like_the_main_one():
    message = refusal(validate_scopes, {'@corp': 'http://npm.corp.example/'}, 'node_mirrors_scopes', False,
                      'node_mirrors_allow_http')
    assert message.startswith("node_mirrors_scopes['@corp'] 'http://npm.corp.example/'")
    assert 'node_mirrors_allow_http' in message


def test_absolute_paths_for_a_ca_bundle():
    bundle = '/etc/ssl/certs/ca-certificates.crt'
    assert validate_absolute_path(bundle, 'cafile') == bundle
    assert 'not an absolute path' in refusal(validate_absolute_path, 'certs/ca.pem', 'cafile')
    assert "'#'" in refusal(validate_absolute_path, '/etc/ssl/#ca.pem', 'cafile')
    assert 'a newline' in refusal(validate_absolute_path, '/etc/ssl/ca.pem\nregistry=http://evil/', 'cafile')
