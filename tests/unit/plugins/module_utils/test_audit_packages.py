# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit of pip, uv and npm (_audit, options python and node) on temporary trees.

The real pip (``python -I -m pip config list``) and the real npm (``npm config get``) answer, in a clean environment
(``env -i``), with the global configuration files of the tree: pip's global directories are pointed at the tree (pip
always reads /etc/pip.conf otherwise) and npm gets ``--globalconfig`` in the tree. A real sh sources the tree's
profile.d for the login shell. The host's own /etc/pip.conf, PIP_* and npm_config_* never reach a result. uv is not
run by the audit (it has no command that prints its configuration): only its presence is a stand-in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _audit
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import HttpFetcher
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

from local_mirrors import Answer, MirrorServer, closed_port_url

INDEX = 'https://pypi.corp.example/simple/'
EXTRA = 'https://pypi.team.example/simple/'
REGISTRY = 'https://npm.corp.example/'
SCOPE_URL = 'https://npm.corp.example/corp/'
LEAK = 'leak.example'
NPM = shutil.which('npm')
PYTHON = sys.executable

needs_npm = pytest.mark.skipif(NPM is None, reason='npm is not installed here')


def _has_pip():
    try:
        return subprocess.run([PYTHON, '-I', '-m', 'pip', '--version'], capture_output=True, timeout=120,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_pip = pytest.mark.skipif(not _has_pip(), reason='no pip for %s' % PYTHON)

# pip always reads /etc/pip.conf after $XDG_CONFIG_DIRS: the tree's global directories replace both.
PIP_SHIM = ('import sys\nfrom pip._internal.utils import appdirs\n'
            'appdirs.site_config_dirs = lambda appname: [%r, %r]\n'
            'from pip._internal.cli.main import main\nsys.exit(main())\n')


class Tree:
    """A host under a temporary root: real sh, pip and npm pointed at its files; systemctl and uv stand-ins."""

    def __init__(self, root):
        self.root = root
        self.installed = {'python3': PYTHON, 'npm': NPM, 'uv': None, 'systemctl': '/bin/systemctl'}
        self.manager = {}
        self.units = {}
        self.calls = []
        os.makedirs(os.path.join(root, 'run/systemd/system'))
        self.write('/etc/environment', 'LANG=C.UTF-8\n')

    def write(self, path, text):
        full = os.path.join(self.root, path.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w', encoding='utf-8') as stream:
            stream.write(text)

    def run(self, argv):
        self.calls.append(list(argv))
        argv = list(argv)
        if argv[0] == '/usr/bin/env':
            if argv[-6:-4] == [PYTHON, '-I'] and argv[-4:-2] == ['-m', 'pip']:
                directories = (os.path.join(self.root, 'etc/xdg/pip'), os.path.join(self.root, 'etc'))
                argv[-4:-2] = ['-c', PIP_SHIM % directories]
            elif NPM in argv:
                argv.append('--globalconfig=' + os.path.join(self.root, 'usr/etc/npmrc'))
            return _audit._run(argv)
        if argv[:2] == ['/bin/systemctl', 'show-environment']:
            return 0, ''.join('%s=%s\n' % item for item in self.manager.items()), ''
        if argv[:2] == ['/bin/systemctl', 'show']:
            return 0, self.units.get(argv[-1], '') + '\n', ''
        raise AssertionError('unexpected command %r' % argv)

    def which(self, name):
        return self.installed.get(name)

    def view(self):
        return _audit.HostView(self.root, self.run, self.which)

    def fingerprint(self):
        digest = []
        for directory, dummy, files in sorted(os.walk(self.root)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                with open(path, 'rb') as stream:
                    digest.append((path, hashlib.sha256(stream.read()).hexdigest(), os.stat(path).st_mtime_ns))
        return digest


@pytest.fixture
def tree(tmp_path, monkeypatch):
    # What this machine's environment holds must not reach the audit (env -i).
    monkeypatch.setenv('PIP_INDEX_URL', 'https://%s/simple/' % LEAK)
    monkeypatch.setenv('PIP_EXTRA_INDEX_URL', 'https://%s/extra/' % LEAK)
    monkeypatch.setenv('npm_config_registry', 'https://%s/' % LEAK)
    monkeypatch.setenv('UV_DEFAULT_INDEX', 'https://%s/uv/' % LEAK)
    return Tree(str(tmp_path / 'root'))


def python(**extra):
    return dict(dict(index_url=INDEX, extra_index_urls=[], uv=True, probe_package='pip'), **extra)


def node(**extra):
    return dict(dict(registry=REGISTRY, scopes={}, probe_package='npm'), **extra)


def findings(record):
    return sorted((finding['check'], finding['consumer']) for finding in record['findings'])


def summaries(record, consumer):
    return [finding['summary'] for finding in record['findings'] if finding['consumer'] == consumer]


def consumer(record, consumer_id):
    return [item for item in record['consumers'] if item['id'] == consumer_id][0]


def no_leak(record):
    assert LEAK not in json.dumps(record)


# ---------------------------------------------------------------------------
# pip (the real pip)
# ---------------------------------------------------------------------------

@needs_pip
def test_pip_reading_the_policy_from_etc_pip_conf_is_compliant(tree):
    tree.write('/etc/pip.conf', '[global]\nindex-url = %s\nextra-index-url = %s\ntimeout = 60\n' % (INDEX, EXTRA))
    record = _audit.audit(tree.view(), python=python(extra_index_urls=[EXTRA], uv=False))
    assert findings(record) == []
    assert consumer(record, 'pip:global')['values'] == {'global.index-url': INDEX, 'global.extra-index-url': EXTRA}
    assert [item['id'] for item in record['consumers']] == ['pip:global', 'pip:login-shell', 'pip:pam']
    assert record['checks'] == ['python.missing_index', 'python.extra_index']
    no_leak(record)


@needs_pip
def test_pip_without_any_configuration_resolves_pypi_org_once_not_per_source(tree):
    record = _audit.audit(tree.view(), python=python(uv=False))
    assert findings(record) == [('python.missing_index', 'pip:global')]
    assert summaries(record, 'pip:global') == [
        "pip install resolves https://pypi.org/simple/ (from pip's default), not %s" % INDEX]
    assert record['findings'][0]['severity'] == 'high'
    no_leak(record)


@needs_pip
def test_an_install_section_and_a_foreign_extra_index_in_a_later_global_file(tree):
    # /etc/xdg/pip/pip.conf holds the policy; /etc/pip.conf, read after it, sends install elsewhere and adds an index.
    tree.write('/etc/xdg/pip/pip.conf', '[global]\nindex-url = %s\n' % INDEX)
    tree.write('/etc/pip.conf', '[install]\nindex-url = https://pypi.org/simple\n'
                                'extra-index-url = https://pypi.team.example/simple/\n'
                                '    https://evil.example/simple/\n')
    record = _audit.audit(tree.view(), python=python(extra_index_urls=[EXTRA], uv=False))
    assert findings(record) == [('python.extra_index', 'pip:global'), ('python.missing_index', 'pip:global')]
    missing = [item for item in record['findings'] if item['check'] == 'python.missing_index'][0]['summary']
    assert 'pip install resolves https://pypi.org/simple (from install.index-url)' in missing
    extra = [item for item in record['findings'] if item['check'] == 'python.extra_index'][0]
    assert 'https://evil.example/simple/' in extra['summary'] and 'dependency confusion' in extra['summary']
    assert extra['severity'] == 'medium'
    assert EXTRA not in extra['summary'].split('searches', 1)[1]  # the policy's extra index is not foreign


@needs_pip
def test_a_login_shell_pip_index_url_overrides_the_files_and_pam_adds_an_index(tree):
    tree.write('/etc/pip.conf', '[global]\nindex-url = %s\n' % INDEX)
    tree.write('/etc/profile.d/zz-local.sh', 'export PIP_INDEX_URL=https://pypi.org/simple/\n')
    tree.write('/etc/environment', 'LANG=C.UTF-8\nPIP_EXTRA_INDEX_URL="https://evil.example/simple/"\n')
    record = _audit.audit(tree.view(), python=python(uv=False))
    assert findings(record) == [('python.extra_index', 'pip:pam'), ('python.missing_index', 'pip:login-shell')]
    assert summaries(record, 'pip:login-shell') == [
        'pip install resolves https://pypi.org/simple/ (from :env:.index-url), not %s' % INDEX]
    # What the real pip said in the login shell's environment.
    assert consumer(record, 'pip:login-shell')['values'][':env:.index-url'] == 'https://pypi.org/simple/'
    no_leak(record)


@needs_pip
def test_no_index_is_no_policy_index(tree):
    tree.write('/etc/pip.conf', '[global]\nindex-url = %s\n[download]\nno-index = true\n' % INDEX)
    record = _audit.audit(tree.view(), python=python(uv=False))
    assert summaries(record, 'pip:global') == ['pip download uses no index (no-index, from download.no-index)']


@needs_pip
def test_an_exported_policy_must_reach_the_login_shell_pam_and_the_services(tree):
    tree.write('/etc/pip.conf', '[global]\nindex-url = %s\n' % INDEX)
    tree.units['ci-agent.service'] = 'PIP_INDEX_URL=%s' % INDEX
    policy = python(uv=False, environment=True, systemd_units=['ci-agent'])
    record = _audit.audit(tree.view(), python=policy)
    assert findings(record) == [('python.missing_index', 'pip:login-shell'), ('python.missing_index', 'pip:pam')]
    assert summaries(record, 'pip:pam') == ['lacks PIP_INDEX_URL, which the policy exports']
    tree.write('/etc/profile.d/python-mirrors.sh', "export PIP_INDEX_URL='%s'\n" % INDEX)
    tree.write('/etc/environment', 'PIP_INDEX_URL=%s\n' % INDEX)
    record = _audit.audit(tree.view(), python=policy)
    assert findings(record) == []
    assert [item['id'] for item in record['consumers']] == [
        'pip:global', 'pip:login-shell', 'pip:pam', 'pip:unit:ci-agent.service']


def test_a_host_without_pip_lists_it_and_runs_no_pip_check(tree):
    tree.installed['python3'] = None
    record = _audit.audit(tree.view(), python=python(uv=False))
    assert record['consumers'] == [dict(id='pip:global', kind='pip', source='not installed (no python3)', values={})]
    assert record['checks'] == [] and record['findings'] == []


def test_a_python_without_the_pip_module(tree, tmp_path):
    bare = tmp_path / 'bare'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(bare)], check=True, timeout=120)
    tree.installed['python3'] = str(bare / 'bin' / 'python3')
    record = _audit.audit(tree.view(), python=python(uv=False))
    assert record['consumers'][0]['source'].startswith('not installed (') and record['checks'] == []


# ---------------------------------------------------------------------------
# uv (its file, read as uv reads it)
# ---------------------------------------------------------------------------

UV_TOML = '[[index]]\nname = "corp"\nurl = "%s"\ndefault = true\n' % INDEX


@pytest.fixture
def uv_tree(tree):
    tree.installed['uv'] = '/usr/local/bin/uv'
    tree.installed['python3'] = None  # only uv is judged here
    return tree


def test_uv_reading_the_policy_from_etc_uv_is_compliant(uv_tree):
    uv_tree.write('/etc/uv/uv.toml', UV_TOML)
    record = _audit.audit(uv_tree.view(), python=python())
    assert findings(record) == [] and record['checks'] == ['uv.missing_index']
    assert consumer(record, 'uv:global') == dict(id='uv:global', kind='uv', source='/etc/uv/uv.toml',
                                                 values={'index (default)': INDEX})
    no_leak(record)


def test_a_uv_toml_under_etc_xdg_hides_etc_uv(uv_tree):
    uv_tree.write('/etc/uv/uv.toml', UV_TOML)
    uv_tree.write('/etc/xdg/uv/uv.toml', 'native-tls = true\n')
    record = _audit.audit(uv_tree.view(), python=python())
    assert findings(record) == [('uv.missing_index', 'uv:global')]
    assert summaries(record, 'uv:global') == [
        "uv resolves https://pypi.org/simple/ (from uv's default), not %s" % INDEX]
    assert record['findings'][0]['evidence']['source'] == '/etc/xdg/uv/uv.toml'


def test_uv_pip_index_url_and_a_login_shell_default_index(uv_tree):
    uv_tree.write('/etc/uv/uv.toml', UV_TOML + '\n[pip]\nindex-url = "https://pypi.org/simple/"\n')
    uv_tree.write('/etc/profile.d/zz.sh', 'export UV_DEFAULT_INDEX=https://other.example/simple/\n')
    record = _audit.audit(uv_tree.view(), python=python())
    assert findings(record) == [('uv.missing_index', 'uv:global'), ('uv.missing_index', 'uv:login-shell')]
    assert summaries(record, 'uv:global') == [
        'uv pip resolves https://pypi.org/simple/ (from pip.index-url), not %s' % INDEX]
    # The variable wins over [pip] too: one line says it for uv and uv pip.
    assert summaries(record, 'uv:login-shell') == [
        'uv resolves https://other.example/simple/ (from UV_DEFAULT_INDEX), not %s' % INDEX]


def test_an_unreadable_uv_toml_is_a_finding(uv_tree):
    uv_tree.write('/etc/uv/uv.toml', '[[index]\n')
    record = _audit.audit(uv_tree.view(), python=python())
    assert ('uv.missing_index', 'uv:global') in findings(record)
    assert 'not valid TOML' in summaries(record, 'uv:global')[0]


def test_uv_is_not_judged_when_absent_or_outside_the_policy(uv_tree):
    record = _audit.audit(uv_tree.view(), python=python(uv=False))
    assert not any(item['id'].startswith('uv:') for item in record['consumers'])
    uv_tree.installed['uv'] = None
    record = _audit.audit(uv_tree.view(), python=python())
    assert consumer(record, 'uv:global')['source'] == 'not installed'
    assert record['checks'] == [] and record['findings'] == []


# ---------------------------------------------------------------------------
# npm (the real npm)
# ---------------------------------------------------------------------------

@needs_npm
def test_npm_reading_the_policy_from_the_global_npmrc_is_compliant(tree):
    tree.write('/usr/etc/npmrc', 'registry=%s\n@corp:registry=%s\nfund=false\n' % (REGISTRY, SCOPE_URL))
    record = _audit.audit(tree.view(), node=node(scopes={'@corp': SCOPE_URL}))
    assert findings(record) == []
    values = consumer(record, 'npm:global')['values']
    assert values['registry'] == REGISTRY and values['@corp:registry'] == SCOPE_URL
    assert values['globalconfig'] == os.path.join(tree.root, 'usr/etc/npmrc')
    assert record['checks'] == ['npm.missing_registry', 'npm.missing_scope']
    no_leak(record)


@needs_npm
def test_npm_without_configuration_and_a_scope_left_to_the_main_registry(tree):
    record = _audit.audit(tree.view(), node=node(scopes={'@corp': SCOPE_URL}))
    assert findings(record) == [('npm.missing_registry', 'npm:global'), ('npm.missing_scope', 'npm:global')]
    assert summaries(record, 'npm:global') == [
        'npm resolves https://registry.npmjs.org/, not %s' % REGISTRY,
        '@corp packages come from https://registry.npmjs.org/, not %s' % SCOPE_URL]
    tree.write('/usr/etc/npmrc', 'registry=%s\n' % REGISTRY)
    record = _audit.audit(tree.view(), node=node(scopes={'@corp': SCOPE_URL}))
    assert findings(record) == [('npm.missing_scope', 'npm:global')]
    # A scope whose registry is the main one needs no line of its own.
    assert findings(_audit.audit(tree.view(), node=node(scopes={'@corp': REGISTRY}))) == []


@needs_npm
def test_a_login_shell_npm_config_registry_and_a_service_override(tree):
    tree.write('/usr/etc/npmrc', 'registry=%s\n' % REGISTRY)
    tree.write('/etc/profile.d/zz.sh', 'export NPM_CONFIG_REGISTRY=https://registry.npmjs.org/\n')
    tree.units['ci-agent.service'] = 'npm_config_registry=https://registry.yarnpkg.com/'
    record = _audit.audit(tree.view(), node=node(systemd_units=['ci-agent.service']))
    assert findings(record) == [('npm.missing_registry', 'npm:login-shell'),
                                ('npm.missing_registry', 'npm:unit:ci-agent.service')]
    assert summaries(record, 'npm:login-shell') == ['npm resolves https://registry.npmjs.org/, not %s' % REGISTRY]
    no_leak(record)


@needs_npm
def test_the_audit_runs_npm_and_pip_without_writing_anything(tree):
    tree.write('/usr/etc/npmrc', 'registry=%s\n' % REGISTRY)
    tree.write('/etc/pip.conf', '[global]\nindex-url = %s\n' % INDEX)
    before = tree.fingerprint()
    _audit.audit(tree.view(), python=python(uv=False), node=node())
    assert tree.fingerprint() == before
    assert not os.path.exists(_audit.NO_HOME)
    npm_runs = [argv for argv in tree.calls if NPM in argv]
    assert npm_runs and all('--logs-max=0' in argv for argv in npm_runs)


def test_a_host_without_npm_lists_it_and_runs_no_npm_check(tree):
    tree.installed['npm'] = None
    record = _audit.audit(tree.view(), node=node())
    assert record['consumers'] == [dict(id='npm:global', kind='npm', source='not installed', values={})]
    assert record['checks'] == [] and record['findings'] == []


# ---------------------------------------------------------------------------
# Options, output without them, probes
# ---------------------------------------------------------------------------

def test_without_python_and_node_nothing_of_them_runs(tree):
    record = _audit.audit(tree.view(), docker=dict(registry_mirrors=[]))
    assert not any(item['id'].split(':')[0] in ('pip', 'uv', 'npm') for item in record['consumers'])
    assert not any(PYTHON in argv or NPM in argv for argv in tree.calls)


@pytest.mark.parametrize('option, value, words', [
    ('python', python(index_url='https://pypi.corp.example/simple/\nx'), ['python.index_url']),
    ('python', python(index_url='https://ci:s3cr3t@pypi.corp.example/simple/'), ['python.index_url', 'credentials']),
    ('python', python(extra_index_urls=[INDEX]), ['python.extra_index_urls', 'twice']),
    ('python', python(probe_package='not a name'), ['python.probe_package']),
    ('node', node(scopes={'corp': SCOPE_URL}), ['node.scopes']),
    ('node', node(registry='ftp://npm.corp.example/'), ['node.registry']),
    ('node', node(scopes={'@corp': SCOPE_URL}, scope_probe_packages={'@other': '@other/x'}),
     ['node.scope_probe_packages', '@other']),
    ('node', node(systemd_units=['../etc']), ['node.systemd_units']),
])
def test_bad_options_are_refused_naming_them_before_anything_runs(tree, option, value, words):
    with pytest.raises(PolicyError) as error:
        _audit.audit(tree.view(), **{option: value})
    for word in words:
        assert word in str(error.value)
    assert 's3cr3t' not in str(error.value)
    assert tree.calls == []


def test_the_indexes_and_registries_are_probed_with_their_packages(tree):
    tree.installed.update(python3=None, npm=None)
    simple = json.dumps({'meta': {'api-version': '1.1'}, 'name': 'buildfleet-hello', 'files': [
        {'filename': 'buildfleet_hello-1.0.0-py3-none-any.whl', 'url': 'x.whl', 'hashes': {}}]}).encode()
    packument = json.dumps({'name': '@corp/hello', 'versions': {'1.0.0': {}}}).encode()
    server = MirrorServer({
        '/simple/buildfleet-hello/': Answer(200, {'Content-Type': 'application/vnd.pypi.simple.v1+json'}, simple),
        '/npm/@corp%2fhello': Answer(200, {'Content-Type': 'application/json'}, packument),
    })
    dead = closed_port_url()
    try:
        record = _audit.audit(
            tree.view(), python=python(index_url=server.url + '/simple/', probe_package='buildfleet_hello'),
            node=node(registry=dead + '/', scopes={'@corp': server.url + '/npm/'},
                      scope_probe_packages={'@corp': '@corp/hello'}),
            fetch=HttpFetcher(__import__('ssl').create_default_context(), use_proxy=False), timeout=3, slow_ms=10000)
    finally:
        server.close()
    probes = dict(((probe['kind'], probe['package']), probe) for probe in record['probes'])
    assert set(probes) == {('pypi', 'buildfleet-hello'), ('npm', 'npm'), ('npm', '@corp/hello')}
    assert probes[('pypi', 'buildfleet-hello')]['reachable'] and probes[('npm', '@corp/hello')]['reachable']
    assert not probes[('npm', 'npm')]['reachable']
    assert findings(record) == [('mirror.down', None)]
    assert record['findings'][0]['summary'].startswith('npm mirror %s/ (asked for npm) is down' % dead)
    assert record['checks'] == ['mirror.down', 'mirror.slow']


def test_go_and_docker_probes_keep_their_keys(tree):
    server = MirrorServer({'/v2/': Answer(200, {'Docker-Distribution-API-Version': 'registry/2.0'}, b'{}')})
    tree.write('/etc/docker/daemon.json', '{}')
    try:
        record = _audit.audit(tree.view(), docker=dict(registry_mirrors=[server.url + '/']),
                              fetch=HttpFetcher(__import__('ssl').create_default_context(), use_proxy=False),
                              timeout=3)
    finally:
        server.close()
    assert set(record['probes'][0]) == {'url', 'kind', 'registry', 'reachable', 'status', 'latency_ms', 'reason'}


@needs_npm
def test_each_scope_is_its_own_finding_and_its_summary_survives_redaction(tree):
    tree.write('/usr/etc/npmrc', 'registry=%s\n@team:registry=http://127.0.0.1:4873\n' % REGISTRY)
    record = _audit.audit(tree.view(), node=node(scopes={'@corp': SCOPE_URL, '@team': 'http://127.0.0.1:4874/'}))
    assert findings(record) == [('npm.missing_scope', 'npm:global'), ('npm.missing_scope', 'npm:global')]
    assert summaries(record, 'npm:global') == [
        '@corp packages come from %s, not %s' % (REGISTRY, SCOPE_URL),
        '@team packages come from http://127.0.0.1:4873, not http://127.0.0.1:4874/']
    assert [item['evidence']['scope'] for item in record['findings']] == ['@corp', '@team']


def test_uv_toml_read_without_tomllib_gives_what_tomllib_gives(monkeypatch):
    """Debian 11's Python 3.9 has no tomllib: the plain reader finds the same index settings in what the collection
    writes and in a host's usual file, so the audit judges uv there too (not 'could not be read')."""
    import sys

    from ansible_collections.buildfleet.mirrors.plugins.module_utils import _audit
    from ansible_collections.buildfleet.mirrors.plugins.module_utils._package_index_outputs import (
        merge_uv_toml,
        plan_uv_toml,
    )

    host = ('index-url = "https://host.example/simple/"  # the host\'s own\n'
            '[pip]\nindex-url = "https://pip.example/simple/"\n[cache]\ndir = "/x"\n')
    written = merge_uv_toml(None, plan_uv_toml('https://pypi.corp.example/simple/', ['https://extra.example/simple/']))
    expected = [_audit.uv_file_values(text) for text in (written, host)]
    assert expected[0][0]['index (default)'] == 'https://pypi.corp.example/simple/'
    monkeypatch.setitem(sys.modules, 'tomllib', None)
    assert [_audit.uv_file_values(text) for text in (written, host)] == expected
