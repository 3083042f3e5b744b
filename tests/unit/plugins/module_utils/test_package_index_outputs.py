# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pip.conf, uv.toml and the global npmrc merged, kept and removed; read back by the real pip and npm where present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._package_index_outputs import (
    BEGIN,
    END,
    holds_block,
    merge_npmrc,
    merge_pip_conf,
    merge_uv_toml,
    plan_npmrc,
    plan_pip_conf,
    plan_uv_toml,
    uv_settings,
)

INDEX = 'https://pypi.corp.example/simple/'
EXTRA = ['http://pypi.team.example:8080/simple/', 'https://pypi.other.example/simple/']
BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
REGISTRY = 'https://npm.corp.example/'
SCOPES = {'@corp': 'https://npm.corp.example/corp/', '@team': 'http://127.0.0.1:4873/'}

HOST_PIP_CONF = """# The host's own settings
[global]
timeout = 60

[install]
no-compile = true
"""

HOST_UV_TOML = """# The host's own settings
native-tls = true

[pip]
compile-bytecode = true

[[index]]
name = "internal"
url = "https://internal.example/simple/"
explicit = true
"""

HOST_NPMRC = """; The host's own settings
fund=false
audit=false
[section]
ignored=1
"""


def pip_reads(path, tmp_path):
    """What the real pip reads from ``path`` (pip config debug, this file only), as {key: value}."""
    environment = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(tmp_path),
                   'XDG_CONFIG_DIRS': str(tmp_path / 'none'), 'PIP_CONFIG_FILE': str(path)}
    completed = subprocess.run([sys.executable, '-m', 'pip', 'config', 'debug'], capture_output=True, text=True,
                               env=environment, check=True, timeout=120)
    values, inside, key = {}, False, None
    for line in completed.stdout.splitlines():
        if not line.startswith('    '):  # a kind of file ('global:') or a file ('  /etc/pip.conf, exists: True')
            inside = line.strip().startswith('%s,' % path)
            key = None
        elif inside and re.match(r'^    [a-z:]+\.[a-z-]+: ', line):
            key, value = line.strip().split(': ', 1)
            values[key] = value
        elif inside and key is not None:
            values[key] += '\n' + line.strip()  # a value's continuation lines
    return values


def npm_reads(path, tmp_path, *keys):
    npm = shutil.which('npm')
    if npm is None:
        pytest.skip('npm is not installed here')
    completed = subprocess.run([npm, '--globalconfig', str(path), '--userconfig', str(tmp_path / 'no-user-npmrc'),
                                'config', 'get'] + list(keys), capture_output=True, text=True, check=True,
                               timeout=120, cwd=str(tmp_path), env=dict(os.environ, HOME=str(tmp_path)))
    if len(keys) == 1:
        return {keys[0]: completed.stdout.strip()}
    return dict(line.split('=', 1) for line in completed.stdout.splitlines() if '=' in line)


# ---------------------------------------------------------------------------
# pip.conf
# ---------------------------------------------------------------------------

def test_pip_plan_trusts_only_http_hosts_and_takes_the_bundle():
    assert plan_pip_conf(INDEX, EXTRA, BUNDLE) == {
        'index-url': [INDEX], 'extra-index-url': EXTRA, 'trusted-host': ['pypi.team.example:8080'], 'cert': [BUNDLE]}
    assert plan_pip_conf(INDEX) == {'index-url': [INDEX]}
    assert plan_pip_conf(None) == {}


@pytest.mark.parametrize('host_text', [None, '', HOST_PIP_CONF, '[install]\nno-compile = true\n'],
                         ids=['no-file', 'empty', 'global-and-install', 'no-global'])
def test_pip_conf_merge_keeps_the_hosts_lines_and_pip_reads_the_policy(host_text, tmp_path):
    plan = plan_pip_conf(INDEX, EXTRA, BUNDLE)
    merged = merge_pip_conf(host_text, plan, 'pip.conf')
    assert merge_pip_conf(merged, plan, 'pip.conf') == merged  # a second run changes nothing
    for line in (host_text or '').splitlines():
        assert line in merged.splitlines()
    path = tmp_path / 'pip.conf'
    path.write_text(merged)
    read = pip_reads(path, tmp_path)
    assert read['global.index-url'] == INDEX
    assert read['global.extra-index-url'].split() == EXTRA
    assert read['global.trusted-host'] == 'pypi.team.example:8080'
    assert read['global.cert'] == BUNDLE
    if host_text == HOST_PIP_CONF:
        assert read['global.timeout'] == '60' and read['install.no-compile'] == 'true'
    removed = merge_pip_conf(merged, {}, 'pip.conf')
    assert removed == (host_text or None)  # byte for byte what the host had; no file when it had none (or empty)


def test_pip_conf_policy_change_replaces_only_the_block():
    first = merge_pip_conf(HOST_PIP_CONF, plan_pip_conf(INDEX, EXTRA), 'pip.conf')
    second = merge_pip_conf(first, plan_pip_conf('https://new.example/simple/'), 'pip.conf')
    assert second == merge_pip_conf(HOST_PIP_CONF, plan_pip_conf('https://new.example/simple/'), 'pip.conf')
    assert 'extra-index-url' not in second and 'new.example' in second


@pytest.mark.parametrize('host_text, words', [
    ('[global]\nindex-url = https://pypi.org/simple\n', ['index-url in [global]']),
    ('[install]\nindex_url = https://pypi.org/simple\n', ['index-url in [install]']),
    ('[download]\nno-index = true\n', ['no-index in [download]']),
    ('[global]\n--extra-index-url = https://x/\n', ['extra-index-url in [global]']),
])
def test_pip_conf_keys_that_would_override_the_policy_are_conflicts(host_text, words):
    with pytest.raises(ValueError) as caught:
        merge_pip_conf(host_text, plan_pip_conf(INDEX), '/etc/pip.conf')
    for word in ['/etc/pip.conf', 'left untouched'] + words:
        assert word in str(caught.value)
    # Removing the policy never refuses: the host's lines are not the collection's business then.
    assert merge_pip_conf(host_text, {}, '/etc/pip.conf') == host_text


@pytest.mark.parametrize('host_text', ['[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n',
                                       '[install]\ntrusted-host = pypi.example\n'])
def test_a_hosts_cert_or_trusted_host_is_a_conflict_only_when_the_policy_writes_one(host_text, tmp_path):
    merged = merge_pip_conf(host_text, plan_pip_conf(INDEX), 'pip.conf')
    assert holds_block(merged) and merge_pip_conf(merged, {}, 'pip.conf') == host_text
    with pytest.raises(ValueError, match='already sets'):
        merge_pip_conf(host_text, plan_pip_conf('http://127.0.0.1:9/simple/', cert=BUNDLE), 'pip.conf')


def test_pip_conf_that_pip_cannot_read_is_left_alone():
    with pytest.raises(ValueError, match='cannot be read as pip reads it'):
        merge_pip_conf('[global]\ntimeout = 1\ntimeout = 2\n', plan_pip_conf(INDEX), 'pip.conf')


def test_a_block_edited_by_hand_is_refused():
    broken = HOST_PIP_CONF + BEGIN + '\nindex-url = x\n'
    with pytest.raises(ValueError, match='edited by hand'):
        merge_pip_conf(broken, plan_pip_conf(INDEX), 'pip.conf')
    assert holds_block(merge_pip_conf(HOST_PIP_CONF, plan_pip_conf(INDEX), 'pip.conf'))
    assert not holds_block(HOST_PIP_CONF)


# ---------------------------------------------------------------------------
# uv.toml
# ---------------------------------------------------------------------------

def test_uv_plan_puts_the_default_index_last():
    assert plan_uv_toml(INDEX, EXTRA) == [{'url': EXTRA[0]}, {'url': EXTRA[1]}, {'url': INDEX, 'default': True}]
    assert plan_uv_toml(None) == []


@pytest.mark.parametrize('host_text', [None, HOST_UV_TOML, 'native-tls = true'],
                         ids=['no-file', 'tables', 'no-newline'])
def test_uv_toml_merge_keeps_every_other_table(host_text):
    plan = plan_uv_toml(INDEX, EXTRA[1:])
    merged = merge_uv_toml(host_text, plan, 'uv.toml')
    assert merge_uv_toml(merged, plan, 'uv.toml') == merged
    document = tomllib.loads(merged)
    before = tomllib.loads(host_text or '')
    assert document['index'][-2:] == [{'url': EXTRA[1]}, {'url': INDEX, 'default': True}]
    assert document['index'][:-2] == before.get('index', [])
    assert dict((k, v) for k, v in document.items() if k != 'index') == dict(
        (k, v) for k, v in before.items() if k != 'index')
    removed = merge_uv_toml(merged, [], 'uv.toml')
    assert removed == (None if host_text is None else host_text if host_text.endswith('\n') else host_text + '\n')


@pytest.mark.parametrize('host_text, words', [
    ('index-url = "https://pypi.org/simple"\n', ['index-url']),
    ('[pip]\nextra-index-url = ["https://x/"]\n', ['pip.extra-index-url']),
    ('[[index]]\nurl = "https://x/"\ndefault = true\n', ['default = true (https://x/)']),
    ('no-index = true\n', ['no-index']),
])
def test_uv_toml_settings_that_would_override_the_policy_are_conflicts(host_text, words):
    with pytest.raises(ValueError) as caught:
        merge_uv_toml(host_text, plan_uv_toml(INDEX), '/etc/uv/uv.toml')
    for word in ['/etc/uv/uv.toml', 'left untouched'] + words:
        assert word in str(caught.value)


def test_uv_toml_that_toml_cannot_read_or_an_inline_index_array_is_refused():
    with pytest.raises(ValueError, match='not valid TOML'):
        merge_uv_toml('[pip\n', plan_uv_toml(INDEX), 'uv.toml')
    with pytest.raises(ValueError):
        merge_uv_toml('index = [{url = "https://x/"}]\n', plan_uv_toml(INDEX), 'uv.toml')


# ---------------------------------------------------------------------------
# npmrc
# ---------------------------------------------------------------------------

def test_npmrc_plan():
    assert plan_npmrc(REGISTRY, SCOPES, BUNDLE) == {
        'registry': REGISTRY, '@corp:registry': SCOPES['@corp'], '@team:registry': SCOPES['@team'], 'cafile': BUNDLE}
    assert plan_npmrc(None) == {}


@pytest.mark.parametrize('host_text', [None, HOST_NPMRC, 'fund=false'], ids=['no-file', 'with-section', 'no-newline'])
def test_npmrc_merge_is_read_by_npm_and_removed_cleanly(host_text, tmp_path):
    plan = plan_npmrc(REGISTRY, SCOPES)
    merged = merge_npmrc(host_text, plan, 'npmrc')
    assert merge_npmrc(merged, plan, 'npmrc') == merged
    assert merged.startswith(BEGIN) and END in merged  # before any [section]: npm reads keys there only
    path = tmp_path / 'npmrc'
    path.write_text(merged)
    read = npm_reads(path, tmp_path, 'registry', '@corp:registry', '@team:registry')
    assert read == {'registry': REGISTRY, '@corp:registry': SCOPES['@corp'], '@team:registry': SCOPES['@team']}
    if host_text == HOST_NPMRC:
        assert npm_reads(path, tmp_path, 'fund') == {'fund': 'false'}
    removed = merge_npmrc(merged, {}, 'npmrc')
    assert removed == (None if host_text is None else host_text if host_text.endswith('\n') else host_text + '\n')


@pytest.mark.parametrize('host_text, words', [
    ('registry=https://registry.npmjs.org/\n', ['registry (line 1)']),
    ('fund=false\n@corp:registry = https://other.example/\n', ['@corp:registry (line 2)']),
    ('cafile=/etc/corp-ca.pem\n', ['cafile (line 1)']),
    ('ca="-----BEGIN CERTIFICATE-----"\n', ['ca (line 1)']),
])
def test_npmrc_keys_that_npm_would_read_instead_are_conflicts(host_text, words):
    with pytest.raises(ValueError) as caught:
        merge_npmrc(host_text, plan_npmrc(REGISTRY, SCOPES, BUNDLE), '/etc/npmrc')
    for word in ['/etc/npmrc', 'left untouched'] + words:
        assert word in str(caught.value)


def test_npmrc_a_host_cafile_is_kept_when_the_policy_sets_none(tmp_path):
    """Hosts often point cafile at the system bundle themselves: only a policy with its own cafile conflicts."""
    host_text = 'cafile=/etc/ssl/certs/ca-certificates.crt\n'
    merged = merge_npmrc(host_text, plan_npmrc(REGISTRY, SCOPES), '/etc/npmrc')
    assert merged.endswith('\n\n' + host_text)
    assert merge_npmrc(merged, {}, '/etc/npmrc') == host_text


def test_npmrc_conflict_line_numbers_count_the_block(tmp_path):
    merged = merge_npmrc('fund=false\n', plan_npmrc(REGISTRY), 'npmrc')
    edited = merged + 'registry=https://registry.npmjs.org/\n'
    with pytest.raises(ValueError) as caught:
        merge_npmrc(edited, plan_npmrc(REGISTRY), 'npmrc')
    assert 'registry (line %d)' % len(edited.splitlines()) in str(caught.value)


def test_npm_reads_a_key_in_a_section_as_no_configuration(tmp_path):
    """Why the block goes at the top: npm ignores a registry written after a [section] header."""
    path = tmp_path / 'npmrc'
    path.write_text('[section]\nregistry=https://npm.corp.example/\n')
    assert npm_reads(path, tmp_path, 'registry') == {'registry': 'https://registry.npmjs.org/'}


@pytest.mark.parametrize('host_text', [None, '', '# only a comment\n',
                                       'cache-dir = "/var/cache/uv"\n\n[pip]\ngenerate-hashes = true\n'])
def test_uv_native_tls_goes_in_a_block_at_the_top_and_comes_out_byte_for_byte(host_text):
    import tomllib
    merged = merge_uv_toml(host_text, plan_uv_toml(INDEX), 'uv.toml', uv_settings(native_tls=True))
    assert merged.startswith('# BEGIN buildfleet.mirrors settings\n')
    parsed = tomllib.loads(merged)
    assert parsed['native-tls'] is True and parsed['index'][-1] == {'url': INDEX, 'default': True}
    assert merge_uv_toml(merged, plan_uv_toml(INDEX), 'uv.toml', uv_settings(native_tls=True)) == merged
    # The CA no longer in use: the settings block goes, the tables stay; removal gives the host's text back.
    without = merge_uv_toml(merged, plan_uv_toml(INDEX), 'uv.toml')
    assert without == merge_uv_toml(host_text, plan_uv_toml(INDEX), 'uv.toml')
    assert merge_uv_toml(merged, [], 'uv.toml') == (host_text or None)


def test_a_hosts_own_tls_setting_is_a_conflict_only_when_the_policy_sets_another_value():
    host_text = 'system-certs = false\n'
    assert holds_block(merge_uv_toml(host_text, plan_uv_toml(INDEX), 'uv.toml'))
    with pytest.raises(ValueError, match='system-certs = false'):
        merge_uv_toml(host_text, plan_uv_toml(INDEX), 'uv.toml', uv_settings(native_tls=True))
    # The host trusts the system store already: its line stays, no settings block.
    merged = merge_uv_toml(HOST_UV_TOML, plan_uv_toml(INDEX), 'uv.toml', uv_settings(native_tls=True))
    assert merged == merge_uv_toml(HOST_UV_TOML, plan_uv_toml(INDEX), 'uv.toml')


def test_uv_toml_without_tomllib_writes_its_own_lines_and_refuses_a_host_file_it_cannot_check(monkeypatch):
    """Debian 11's Python 3.9 has no tomllib: the policy's own file is written, a host's settings are refused."""
    import sys

    from ansible_collections.buildfleet.mirrors.plugins.module_utils import _package_index_outputs as outputs

    plan = outputs.plan_uv_toml('https://pypi.corp.example/simple/', [])
    with_tomllib = outputs.merge_uv_toml(None, plan)
    monkeypatch.setitem(sys.modules, 'tomllib', None)  # import tomllib now raises ImportError
    assert outputs.merge_uv_toml(None, plan) == with_tomllib
    assert outputs.merge_uv_toml(with_tomllib, plan) == with_tomllib
    assert outputs.merge_uv_toml(with_tomllib, []) is None
    with pytest.raises(ValueError, match=r'has settings of its own, and this host.s Python \(\d+\.\d+\) has no tomllib'):
        outputs.merge_uv_toml('native-tls = true\n', plan)
