# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""python_index_config as Ansible runs it (arguments file in, JSON out), on files in a temporary directory.

The clients are real: this machine's pip (the test's own Python) and uv (on PATH, or BUILDFLEET_TEST_UV; the uv
tests are skipped without one) verify against a real simple index on 127.0.0.1 that serves a wheel built here. The
files live in a temporary XDG config directory that the module passes to the clients as XDG_CONFIG_DIRS, so pip
and uv read them as system files; this machine's own /etc/pip.conf is read too, as on any host.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from conftest import run_collection_module
from local_mirrors import Answer, MirrorServer

PROJECT = 'buildfleet-hello'
WHEEL = 'buildfleet_hello-1.0.0-py3-none-any.whl'
HTML = {'Content-Type': 'text/html'}
SECRET = 'IdxSecret42'
HOST_PIP_CONF = '# the host\'s own settings\n[global]\ntimeout = 30\n\n[freeze]\nall = true\n'
HOST_UV_TOML = '# the host\'s own settings\nnative-tls = false\n\n[pip]\ngenerate-hashes = false\n'


def build_wheel():
    """A pure wheel of buildfleet-hello 1.0.0 that pip and uv install."""
    files = {
        'buildfleet_hello/__init__.py': b'GREETING = "hello from the lab index"\n',
        'buildfleet_hello-1.0.0.dist-info/METADATA': b'Metadata-Version: 2.1\nName: buildfleet-hello\nVersion: 1.0.0\n',
        'buildfleet_hello-1.0.0.dist-info/WHEEL': (
            b'Wheel-Version: 1.0\nGenerator: buildfleet-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n'),
    }
    record = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            record.append('%s,sha256=%s,%d' % (name, digest, len(data)))
        record.append('buildfleet_hello-1.0.0.dist-info/RECORD,,')
        wheel.writestr('buildfleet_hello-1.0.0.dist-info/RECORD', '\n'.join(record) + '\n')
    return buffer.getvalue()


@pytest.fixture(scope='module')
def index():
    """A PEP 503 simple index serving buildfleet-hello (and nothing else: pip and uv get 404 for other projects)."""
    wheel = build_wheel()
    digest = hashlib.sha256(wheel).hexdigest()
    page = ('<!DOCTYPE html><html><body><a href="/packages/%s#sha256=%s">%s</a></body></html>\n'
            % (WHEEL, digest, WHEEL)).encode()
    server = MirrorServer({
        '/simple/%s/' % PROJECT: Answer(200, HTML, page),
        '/packages/%s' % WHEEL: Answer(200, {'Content-Type': 'application/octet-stream'}, wheel),
    })
    yield server
    server.close()


def uv_command():
    return shutil.which('uv') or os.environ.get('BUILDFLEET_TEST_UV')


@pytest.fixture
def layout(tmp_path):
    xdg = tmp_path / 'xdg'
    (xdg / 'pip').mkdir(parents=True)
    etc = tmp_path / 'etc'
    (etc / 'profile.d').mkdir(parents=True)
    (etc / 'systemd' / 'system').mkdir(parents=True)
    (etc / 'environment').write_text('LANG="C.UTF-8"\n')
    return {'pip': xdg / 'pip' / 'pip.conf', 'uv': xdg / 'uv' / 'uv.toml', 'xdg': xdg,
            'profile': etc / 'profile.d' / 'python-mirrors.sh', 'environment': etc / 'environment',
            'systemd': etc / 'systemd'}


@pytest.fixture
def run(tmp_path, layout):
    def run_module(check_mode=False, diff=False, **module_args):
        module_args.setdefault('verify', 'never')
        module_args.setdefault('uv_command', uv_command() or str(tmp_path / 'no-uv'))
        module_args.update(pip_conf_path=str(layout['pip']), uv_toml_path=str(layout['uv']),
                           xdg_config_dirs=[str(layout['xdg'])], profile_d_path=str(layout['profile']),
                           etc_environment_path=str(layout['environment']), systemd_dir=str(layout['systemd']),
                           systemd_runtime_dir=str(layout['xdg'] / 'no-systemd'),
                           python=sys.executable)
        return run_collection_module('python_index_config', tmp_path, module_args, check_mode, diff)
    return run_module


def index_url(server):
    return server.url + '/simple/'


def tree(root):
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = open(path, 'rb').read() if stat.S_ISREG(info.st_mode) else None
            found[os.path.relpath(path, root)] = (stat.S_IMODE(info.st_mode), content)
    return found


# ---------------------------------------------------------------------------
# Writing, idempotence, check mode, removal
# ---------------------------------------------------------------------------

def test_writes_both_files_then_changes_nothing_and_absent_gives_the_host_files_back(run, layout, index):
    layout['pip'].write_text(HOST_PIP_CONF)
    first = run(index_url=index_url(index), allow_http=True)
    assert first.rc == 0, first.result
    assert first.result['changed'] is True
    assert first.result['files'] == [{'path': str(layout['pip']), 'action': 'updated'},
                                     {'path': str(layout['uv']), 'action': 'created'}]
    pip_conf = layout['pip'].read_text()
    assert pip_conf.startswith("# the host's own settings\n[global]\n# BEGIN buildfleet.mirrors\n")
    assert 'index-url = %s\ntrusted-host = 127.0.0.1:%d\n' % (index_url(index), index.port) in pip_conf
    assert layout['uv'].read_text().endswith('[[index]]\nurl = "%s"\ndefault = true\n# END buildfleet.mirrors\n'
                                             % index_url(index))
    # The host's file was backed up (it held lines of its own); the file the module created was not.
    backups = first.result['backup_files']
    assert list(backups) == [str(layout['pip'])] and open(backups[str(layout['pip'])]).read() == HOST_PIP_CONF
    assert stat.S_IMODE(os.stat(layout['uv']).st_mode) == 0o644
    os.unlink(backups[str(layout['pip'])])

    before = tree(layout['xdg'])
    second = run(index_url=index_url(index), allow_http=True)
    assert second.rc == 0, second.result
    assert (second.result['changed'], second.result['written'], second.result['backup_files']) == (False, [], {})
    assert tree(layout['xdg']) == before

    removed = run(state='absent')
    assert removed.rc == 0, removed.result
    assert removed.result['files'] == [{'path': str(layout['pip']), 'action': 'updated'},
                                       {'path': str(layout['uv']), 'action': 'removed'}]
    assert layout['pip'].read_bytes() == HOST_PIP_CONF.encode()
    assert not layout['uv'].exists() and not layout['uv'].parent.exists()
    again = run(state='absent')
    assert again.rc == 0 and again.result['changed'] is False


def test_check_mode_shows_each_file_before_and_after_and_writes_nothing(run, layout, index):
    layout['pip'].write_text(HOST_PIP_CONF)
    before = tree(layout['xdg'])
    checked = run(check_mode=True, diff=True, index_url=index_url(index), allow_http=True, verify='always')
    assert checked.rc == 0, checked.result
    assert checked.result['changed'] is True and checked.result['verified'] == []
    diffs = {diff['after_header']: diff for diff in checked.result['diff']}
    pip_diff = diffs[str(layout['pip'])]
    assert pip_diff['before'] == HOST_PIP_CONF and 'index-url = %s' % index_url(index) in pip_diff['after']
    uv_diff = diffs[str(layout['uv'])]
    assert uv_diff['before_header'] == '%s (absent)' % layout['uv'] and '[[index]]' in uv_diff['after']
    assert 'would be created' in checked.result['msg']
    assert tree(layout['xdg']) == before


def test_uv_false_takes_the_tables_out_of_uv_toml_and_keeps_the_hosts_lines(run, layout, index):
    layout['uv'].parent.mkdir()
    layout['uv'].write_text(HOST_UV_TOML)
    assert run(index_url=index_url(index), allow_http=True).rc == 0
    assert '[[index]]' in layout['uv'].read_text()
    off = run(index_url=index_url(index), allow_http=True, uv=False)
    assert off.rc == 0, off.result
    assert off.result['written'] == [str(layout['uv'])]
    assert layout['uv'].read_text() == HOST_UV_TOML


# ---------------------------------------------------------------------------
# Verification with the real clients
# ---------------------------------------------------------------------------

def test_pip_reads_the_index_and_downloads_the_probe_package_through_it(run, layout, index):
    seen = len(index.requests)
    done = run(index_url=index_url(index), allow_http=True, uv=False, verify='always', verify_package=PROJECT)
    assert done.rc == 0, done.result['msg']
    assert done.result['verified'] == [
        'pip reads %s (pip config debug, pip config list)' % layout['pip'],
        'pip download --no-deps %s through %s' % (PROJECT, index_url(index))]
    # The index's own log: the project page, then the wheel, asked by pip.
    requests = index.requests[seen:]
    assert [request.path for request in requests] == ['/simple/%s/' % PROJECT, '/packages/%s' % WHEEL]
    assert all(request.headers['User-Agent'].startswith('pip/') for request in requests)


@pytest.mark.skipif(uv_command() is None, reason='uv is not installed here (set BUILDFLEET_TEST_UV to a uv binary)')
def test_uv_installs_the_probe_package_into_a_venv_through_the_index(run, layout, index):
    seen = len(index.requests)
    done = run(index_url=index_url(index), allow_http=True, verify='always', verify_package=PROJECT)
    assert done.rc == 0, done.result['msg']
    assert done.result['verified'][-1] == ('uv pip install --no-deps %s into a venv through %s'
                                           % (PROJECT, index_url(index)))
    agents = [request.headers.get('User-Agent', '') for request in index.requests[seen:]]
    assert any(agent.startswith('uv/') for agent in agents), agents
    assert any(agent.startswith('pip/') for agent in agents), agents


def test_a_probe_package_the_index_lacks_puts_every_file_back_with_pips_reason(run, layout, index):
    layout['pip'].write_text(HOST_PIP_CONF)
    before = tree(layout['xdg'])
    failed = run(index_url=index_url(index), allow_http=True, verify='changed', verify_package='not-on-the-index')
    assert failed.rc == 1, failed.result
    msg = failed.result['msg']
    assert 'pip download --no-deps not-on-the-index failed' in msg
    assert 'No matching distribution found for not-on-the-index' in msg
    assert 'put back byte for byte' in msg
    assert (failed.result['changed'], failed.result['written'], failed.result['backup_files']) == (False, [], {})
    assert tree(layout['xdg']) == before


def test_an_index_that_is_down_puts_every_file_back(run, layout, closed_port):
    failed = run(index_url=closed_port + '/simple/', allow_http=True, uv=False, verify_package=PROJECT,
                 verify='changed')
    assert failed.rc == 1, failed.result
    assert 'pip download --no-deps %s failed' % PROJECT in failed.result['msg']
    assert not layout['pip'].exists() and not layout['uv'].exists()


def test_another_file_pip_reads_that_sets_an_index_fails_the_check_and_everything_goes_back(
        run, layout, index, tmp_path):
    # A second XDG directory that pip reads after the first one, with an [install] index that beats [global].
    other = tmp_path / 'other-xdg'
    (other / 'pip').mkdir(parents=True)
    (other / 'pip' / 'pip.conf').write_text('[install]\nindex-url = https://pypi.org/simple/\n')
    arguments = dict(index_url=index_url(index), allow_http=True, uv=False, verify='always',
                     pip_conf_path=str(layout['pip']), uv_toml_path=str(layout['uv']), python=sys.executable)
    failed = run_collection_module('python_index_config', tmp_path, dict(
        arguments, xdg_config_dirs=[str(layout['xdg']), str(other)]))
    assert failed.rc == 1, failed.result
    assert 'another file pip reads sets install.index-url in %s' % (other / 'pip' / 'pip.conf') in failed.result['msg']
    assert not layout['pip'].exists()


# ---------------------------------------------------------------------------
# Refusals: the host untouched
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('host_text, words', [
    ('[install]\nindex-url = https://other.example/simple/\n', ['index-url in [install]']),
    ('[global]\nno-index = true\n', ['no-index in [global]']),
])
def test_a_hosts_own_index_key_is_refused_naming_the_file_and_key(run, layout, index, host_text, words):
    layout['pip'].write_text(host_text)
    before = tree(layout['xdg'])
    refused = run(index_url=index_url(index), allow_http=True)
    assert refused.rc == 1
    for word in [str(layout['pip']), 'left untouched'] + words:
        assert word in refused.result['msg']
    assert tree(layout['xdg']) == before


def test_a_hosts_default_uv_index_is_refused(run, layout, index):
    layout['uv'].parent.mkdir()
    layout['uv'].write_text('[[index]]\nurl = "https://other.example/simple/"\ndefault = true\n')
    refused = run(index_url=index_url(index), allow_http=True)
    assert refused.rc == 1
    assert 'an [[index]] with default = true' in refused.result['msg'] and str(layout['uv']) in refused.result['msg']
    assert not layout['pip'].exists()


@pytest.mark.parametrize('module_args, words', [
    ({'index_url': 'http://127.0.0.1:9/simple/'}, ['index_url', 'plain http://', 'allow_http']),
    ({'index_url': 'https://pypi.corp.example/simple/\nno-index = true'}, ['index_url']),
    ({'index_url': 'https://pypi.corp.example/simple/', 'extra_index_urls': ['https://pypi.corp.example/simple']},
     ['extra_index_urls', 'twice']),
    ({'index_url': 'https://pypi.corp.example/simple/', 'cert': 'relative/bundle.pem'}, ['cert', 'absolute']),
    ({'index_url': 'https://pypi.corp.example/simple/', 'cert': '/nonexistent/bundle.pem'}, ['cert', 'not a file']),
    ({'index_url': 'https://pypi.corp.example/simple/', 'verify_package': '-r requirements'}, ['verify_package']),
    ({'state': 'present'}, ['index_url']),
])
def test_bad_input_is_refused_naming_the_option_and_nothing_is_written(run, layout, module_args, words):
    refused = run(**module_args)
    assert refused.rc == 1, refused.result
    for word in words:
        assert word in refused.result['msg']
    assert not layout['pip'].exists() and not layout['uv'].exists()


def test_credentials_in_an_index_url_are_refused_and_never_printed(run, layout):
    refused = run(index_url='https://ci:%s@pypi.corp.example/simple/' % SECRET,
                  extra_index_urls=['https://pypi.corp.example/extra/?token=%s' % SECRET])
    assert refused.rc == 1
    assert SECRET not in refused.stdout + refused.stderr
    assert 'index_url' in refused.result['msg']
    assert not layout['pip'].exists()


def test_the_result_names_pruned_indexes_redacted(run, layout, index):
    done = run(index_url=index_url(index), allow_http=True, pruned=['https://ci:%s@dead.example/simple/' % SECRET])
    assert done.rc == 0, done.result['msg']
    assert done.result['pruned'] == ['https://***@dead.example/simple/']
    assert SECRET not in done.stdout


def test_ansible_doc_documents_the_module(ansible_cli):
    rc, out, err = ansible_cli('ansible-doc', '--json', 'buildfleet.mirrors.python_index_config')
    assert rc == 0, err
    doc = json.loads(out)['buildfleet.mirrors.python_index_config']['doc']
    assert {'index_url', 'extra_index_urls', 'allow_http', 'cert', 'uv', 'verify', 'verify_package',
            'lock_timeout', 'pruned'} <= set(doc['options'])


def test_cert_system_bundle_writes_the_first_bundle_that_exists(run, layout, index, tmp_path):
    bundle = tmp_path / 'pki' / 'ca-bundle.crt'
    bundle.parent.mkdir()
    bundle.write_text('')
    # (Not verified here: this machine's own /etc/pip.conf sets cert too, which the pip check rightly refuses.)
    done = run(index_url=index_url(index), allow_http=True, cert_system_bundle=True,
               system_bundles=[str(tmp_path / 'absent.crt'), str(bundle)])
    assert done.rc == 0, done.result['msg']
    assert 'cert = %s\n' % bundle in layout['pip'].read_text()
    # uv trusts the system store then (its own roots know no corporate CA), and the real uv reads the file.
    assert layout['uv'].read_text().startswith('# BEGIN buildfleet.mirrors settings\n')
    # The key the uv of this machine reads without a warning (the test's "uv" is a path that does not exist without one).
    assert '\n%s = true\n' % ('system-certs' if uv_command() else 'native-tls') in layout['uv'].read_text()
    if uv_command():
        environment = {'HOME': str(tmp_path), 'PATH': '/usr/bin:/bin', 'XDG_CONFIG_DIRS': str(layout['xdg']),
                       'UV_PYTHON_DOWNLOADS': 'never'}
        seen = len(index.requests)
        subprocess.run([uv_command(), '--no-cache', 'venv', '--python', sys.executable, str(tmp_path / 'venv')],
                       env=environment, check=True, capture_output=True, cwd=str(tmp_path), timeout=120)
        installed = subprocess.run([uv_command(), '--no-cache', 'pip', 'install', '--python',
                                    str(tmp_path / 'venv/bin/python'), '--no-deps', PROJECT], env=environment,
                                   check=False,
                                   capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
        assert installed.returncode == 0 and 'warning' not in installed.stderr, installed.stderr
        assert '/packages/%s' % WHEEL in [request.path for request in index.requests[seen:]]
    missing = run(index_url=index_url(index), allow_http=True, cert_system_bundle=True,
                  system_bundles=[str(tmp_path / 'absent.crt')])
    assert missing.rc == 1 and 'no system CA bundle' in missing.result['msg']


def test_export_environment_writes_the_variables_for_shells_pam_and_services_and_takes_them_back(
        run, layout, index, tmp_path):
    extra = 'http://127.0.0.1:9/extra/'
    before = tree(tmp_path / 'etc')
    done = run(index_url=index_url(index), extra_index_urls=[extra], allow_http=True, export_environment=True,
               systemd_units=['lab-runner'])
    assert done.rc == 0, done.result['msg']
    profile = layout['profile'].read_text()
    assert "export PIP_INDEX_URL=%s\n" % index_url(index) in profile
    assert "export UV_INDEX=%s\n" % extra in profile and "export PIP_EXTRA_INDEX_URL=%s\n" % extra in profile
    environment = layout['environment'].read_text()
    assert environment.startswith('LANG="C.UTF-8"\n# Managed by Ansible (buildfleet.mirrors.python_mirrors): '
                                  'PIP_INDEX_URL PIP_EXTRA_INDEX_URL UV_DEFAULT_INDEX UV_INDEX\n')
    assert 'UV_DEFAULT_INDEX="%s"' % index_url(index) in environment
    dropin = layout['systemd'] / 'system' / 'lab-runner.service.d' / 'python-mirrors.conf'
    assert 'Environment="PIP_INDEX_URL=%s"' % index_url(index) in dropin.read_text()
    assert done.result['changed_units'] == ['lab-runner.service']
    assert str(layout['environment']) in done.result['backup_files']
    os.unlink(done.result['backup_files'][str(layout['environment'])])
    # Turned off: every output of the environment goes, the files stay.
    off = run(index_url=index_url(index), extra_index_urls=[extra], allow_http=True)
    assert off.rc == 0, off.result
    for backup in off.result['backup_files'].values():
        os.unlink(backup)
    assert tree(tmp_path / 'etc') == before
    assert not layout['profile'].exists() and not dropin.parent.exists()
    assert layout['environment'].read_text() == 'LANG="C.UTF-8"\n'
    assert layout['pip'].exists()


def test_export_environment_refuses_a_unit_that_is_no_service(run, layout, index):
    refused = run(index_url=index_url(index), allow_http=True, export_environment=True, systemd_units=['x.timer'])
    assert refused.rc == 1 and 'systemd_units' in refused.result['msg']
    assert not layout['pip'].exists()
