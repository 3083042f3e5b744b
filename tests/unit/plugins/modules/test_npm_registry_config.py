# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""npm_registry_config as Ansible runs it (arguments file in, JSON out), verified by this machine's real npm.

Every run that writes is given ``globalconfig``, a file in a temporary directory, and the module points npm (and
pnpm) at it with ``npm_config_globalconfig``: the machine's own global npmrc is only ever read, in check mode.
The registries are real HTTP servers on 127.0.0.1 serving packuments, and ``npm view`` asks them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ModuleRun, clean_environment

from local_mirrors import Answer, MirrorServer

NPM = shutil.which('npm')
PNPM = shutil.which('pnpm')
pytestmark = pytest.mark.skipif(NPM is None, reason='needs the real npm')

NPM_TYPE = {'Content-Type': 'application/json'}
HOST_LINES = '# the host\'s own settings\nfund=false\nloglevel=warn\n'
BEGIN = '# BEGIN buildfleet.mirrors'
ETC_ENVIRONMENT = 'LANG="C.UTF-8"\nGOPROXY="https://goproxy.corp.example"\n'


def packument(name):
    return json.dumps({'name': name, 'dist-tags': {'latest': '1.0.0'},
                       'versions': {'1.0.0': {'name': name, 'version': '1.0.0',
                                              'dist': {'tarball': 'http://127.0.0.1:9/x.tgz',
                                                       'shasum': '0' * 40}}}}).encode()


@pytest.fixture
def registry():
    server = MirrorServer({'/buildfleet-hello': Answer(200, NPM_TYPE, packument('buildfleet-hello'))})
    yield server
    server.close()


@pytest.fixture
def corp():
    server = MirrorServer({'/@corp%2fhello': Answer(200, NPM_TYPE, packument('@corp/hello'))})
    yield server
    server.close()


@pytest.fixture
def npmrc(tmp_path):
    path = tmp_path / 'usr' / 'etc' / 'npmrc'
    path.parent.mkdir(parents=True)
    path.write_text(HOST_LINES)
    return path


def run_module(work_dir, module_args, check_mode=False, diff=False, path=None):
    tmpdir = work_dir / 'tmp'
    tmpdir.mkdir(exist_ok=True)
    arguments = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_tmpdir=str(tmpdir))
    args_file = work_dir / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': arguments}))
    environment = clean_environment()
    if path is not None:
        environment['PATH'] = path
    completed = subprocess.run(
        [sys.executable, '-m', 'ansible_collections.buildfleet.mirrors.plugins.modules.npm_registry_config',
         str(args_file)], capture_output=True, text=True, env=environment, cwd=str(work_dir), timeout=300,
        check=False)
    return ModuleRun(completed)


@pytest.fixture
def etc(tmp_path):
    """The environment outputs' host tree: /etc/environment with the host's lines, a systemd directory."""
    root = tmp_path / 'etc'
    (root / 'profile.d').mkdir(parents=True)
    (root / 'systemd' / 'system').mkdir(parents=True)
    (root / 'environment').write_text(ETC_ENVIRONMENT)
    return root


@pytest.fixture
def run(tmp_path, npmrc, etc):
    def run_it(check_mode=False, diff=False, path=None, **module_args):
        module_args.setdefault('globalconfig', str(npmrc))
        # Never the machine's own environment files; no systemd runs here.
        module_args.update(profile_d_path=str(etc / 'profile.d' / 'node-mirrors.sh'),
                           etc_environment_path=str(etc / 'environment'), systemd_dir=str(etc / 'systemd'),
                           systemd_runtime_dir=str(tmp_path / 'no-systemd'))
        return run_module(tmp_path, module_args, check_mode, diff, path)
    return run_it


def npm_get(npmrc, *keys):
    """What the real npm reads from the file, asked as a user would (a clean environment)."""
    home = os.path.dirname(str(npmrc))
    done = subprocess.run([NPM, 'config', 'get'] + list(keys), capture_output=True, text=True, check=True,
                          env={'PATH': os.path.dirname(NPM) + ':/usr/bin:/bin', 'HOME': home,
                               'npm_config_globalconfig': str(npmrc)}, cwd=home)
    return done.stdout


def backups_of(npmrc):
    return sorted(name for name in os.listdir(npmrc.parent) if name != 'npmrc')


# ---------------------------------------------------------------------------
# Present: the block, what npm reads, the packages fetched through it
# ---------------------------------------------------------------------------

def test_present_writes_the_block_above_the_host_lines_and_npm_fetches_through_it(run, npmrc, registry, corp):
    done = run(registry=registry.url, scopes={'@corp': corp.url + '/'}, allow_http=True,
               verify_package='buildfleet-hello', verify_scope_packages={'@corp': '@corp/hello'})
    assert done.result.get('failed') is not True, done.result
    assert done.result['changed'] is True
    assert done.result['written'] == [str(npmrc)] and done.result['npmrc'] == str(npmrc)
    assert done.result['files'] == [{'path': str(npmrc), 'action': 'updated'}]
    text = npmrc.read_text()
    assert text == ('%s\n# Managed by Ansible (buildfleet.mirrors): the lines up to END are replaced by every run; '
                    'others are kept.\nregistry=%s/\n@corp:registry=%s/\n# END buildfleet.mirrors\n\n%s'
                    % (BEGIN, registry.url, corp.url, HOST_LINES))
    assert oct(npmrc.stat().st_mode & 0o777) == '0o644'
    # The host's file was backed up beside it, before the change.
    backup = done.result['backups'][str(npmrc)]
    assert open(backup).read() == HOST_LINES
    # npm read the file back, and fetched both packages, each from its own registry.
    assert done.result['verified'] == ['npm config get (%s)' % npmrc, 'npm view buildfleet-hello version (1.0.0)',
                                       'npm view @corp/hello version (1.0.0)']
    assert '/buildfleet-hello' in registry.paths and '/@corp%2fhello' in corp.paths
    assert '/@corp%2fhello' not in registry.paths
    assert npm_get(npmrc, 'registry', '@corp:registry', 'fund') == (
        'registry=%s/\n@corp:registry=%s/\nfund=false\n' % (registry.url, corp.url))


def test_a_second_run_gives_the_same_bytes_and_no_backup(run, npmrc, registry):
    first = run(registry=registry.url, allow_http=True, cafile='/etc/ssl/certs/ca-certificates.crt')
    assert first.result['changed'] is True, first.result
    written = npmrc.read_bytes()
    backups = backups_of(npmrc)
    second = run(registry=registry.url + '/', allow_http=True, cafile='/etc/ssl/certs/ca-certificates.crt')
    assert second.result['changed'] is False and second.result['written'] == [], second.result
    assert npmrc.read_bytes() == written and backups_of(npmrc) == backups
    assert 'cafile=/etc/ssl/certs/ca-certificates.crt\n' in written.decode()
    # verify=changed asks nobody when nothing changed; always asks again.
    assert second.result['verified'] == []
    third = run(registry=registry.url, allow_http=True, cafile='/etc/ssl/certs/ca-certificates.crt', verify='always')
    assert third.result['changed'] is False and third.result['verified'] == ['npm config get (%s)' % npmrc]


def test_check_mode_with_diff_writes_nothing_and_shows_the_file_after(run, npmrc, registry):
    done = run(check_mode=True, diff=True, registry=registry.url, allow_http=True)
    assert done.result['changed'] is True and done.result['written'] == [str(npmrc)]
    assert npmrc.read_text() == HOST_LINES and backups_of(npmrc) == []
    diff = done.result['diff'][0]
    assert diff['before'] == HOST_LINES and diff['after'].startswith(BEGIN + '\n')
    assert 'registry=%s/\n' % registry.url in diff['after'] and diff['after'].endswith(HOST_LINES)
    assert registry.paths == []


def test_a_file_that_is_not_there_is_created_and_state_absent_removes_it(run, npmrc, registry):
    npmrc.unlink()
    done = run(registry=registry.url, allow_http=True)
    assert done.result['files'] == [{'path': str(npmrc), 'action': 'created'}], done.result
    assert done.result['backups'] == {}
    removed = run(state='absent')
    assert removed.result['files'] == [{'path': str(npmrc), 'action': 'removed'}], removed.result
    assert not npmrc.exists()
    again = run(state='absent')
    assert again.result['changed'] is False and 'nothing to remove' in again.result['msg']


def test_state_absent_gives_the_host_file_back_byte_for_byte(run, npmrc, registry, corp):
    original = b'; a comment\nfund=false\n\n[section]\nregistry=http://ignored.example/\n'
    npmrc.write_bytes(original)
    done = run(registry=registry.url, scopes={'@corp': corp.url}, allow_http=True)
    assert done.result['changed'] is True, done.result
    assert npmrc.read_bytes() != original
    removed = run(state='absent', diff=True)
    assert removed.result['changed'] is True and removed.result['files'][0]['action'] == 'updated'
    assert npmrc.read_bytes() == original
    assert removed.result['verified'] == []


# ---------------------------------------------------------------------------
# Refused before any write
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('line, key', [
    ('registry=https://registry.npmjs.org/', 'registry'),
    ('@corp:registry = https://old.example/', '@corp:registry'),
    ('cafile=/root/corp.pem', 'cafile'),
])
def test_a_key_of_the_host_that_would_override_the_policy_fails_naming_file_key_and_line(
        run, npmrc, registry, line, key):
    original = HOST_LINES + line + '\n'
    npmrc.write_text(original)
    done = run(registry=registry.url, scopes={'@corp': registry.url + '/corp/'}, allow_http=True,
               cafile='/etc/ssl/certs/ca-certificates.crt')
    assert done.result.get('failed') is True
    assert '%s already sets %s (line 4)' % (npmrc, key) in done.result['msg']
    assert npmrc.read_text() == original and backups_of(npmrc) == []
    assert done.result['written'] == [] and done.result['changed'] is False


@pytest.mark.parametrize('arguments, expected', [
    (dict(registry='http://127.0.0.1:9/'), "registry 'http://127.0.0.1:9/'"),
    (dict(registry='https://npm.corp.example/\nregistry=https://evil.example/'), 'registry'),
    (dict(registry='https://npm.corp.example/', scopes={'corp': 'https://npm.corp.example/'}), '@corp'),
    (dict(registry='https://npm.corp.example/', scopes={'@corp': 'https://npm.corp.example/x;y'}),
     "scopes['@corp']"),
    (dict(registry='https://npm.corp.example/', verify_scope_packages={'@other': '@other/x'}), '@other'),
    (dict(registry='https://npm.corp.example/', scopes={'@corp': 'https://npm.corp.example/'},
          verify_scope_packages={'@corp': 'left-pad'}), 'not a package of the scope @corp'),
    (dict(registry='https://npm.corp.example/', cafile='relative/ca.pem'), 'cafile'),
    (dict(registry='https://npm.corp.example/', cafile='/nonexistent/ca.pem'), 'does not exist'),
    (dict(state='present'), 'registry'),
])
def test_bad_input_is_refused_naming_the_option_with_the_host_untouched(run, npmrc, arguments, expected):
    done = run(**arguments)
    assert done.result.get('failed') is True, done.result
    assert expected in done.result['msg']
    assert npmrc.read_text() == HOST_LINES and backups_of(npmrc) == []


def test_http_needs_allow_http_and_the_message_names_it(run, npmrc):
    done = run(registry='http://127.0.0.1:9/')
    assert 'allow_http' in done.result['msg']


def test_credentials_in_a_url_are_refused_and_never_shown(run, npmrc):
    done = run(registry='https://ci:S3cretNpmToken@npm.corp.example/')
    assert done.result.get('failed') is True
    assert 'S3cretNpmToken' not in done.stdout + done.stderr
    assert npmrc.read_text() == HOST_LINES


# ---------------------------------------------------------------------------
# Verification fails: every file back, the client's reason
# ---------------------------------------------------------------------------

def test_a_package_the_registry_lacks_puts_the_file_back_with_npms_reason(run, npmrc, registry):
    done = run(registry=registry.url, allow_http=True, verify_package='left-pad')
    assert done.result.get('failed') is True
    assert 'npm view left-pad version through the written configuration failed' in done.result['msg']
    assert 'E404' in done.result['msg'] or '404' in done.result['msg']
    assert 'put back byte for byte (%s)' % npmrc in done.result['msg']
    assert npmrc.read_text() == HOST_LINES and backups_of(npmrc) == []
    assert done.result['written'] == [] and done.result['changed'] is False
    assert '/left-pad' in registry.paths


def test_a_registry_that_is_down_puts_a_created_file_away_again(run, npmrc, tmp_path):
    npmrc.unlink()
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    done = run(registry='http://127.0.0.1:%d/' % port, allow_http=True, verify_package='buildfleet-hello')
    assert done.result.get('failed') is True
    assert 'ECONNREFUSED' in done.result['msg'] or 'connect' in done.result['msg'], done.result['msg']
    assert not npmrc.exists() and os.listdir(npmrc.parent) == []


# ---------------------------------------------------------------------------
# The file npm names; npm absent
# ---------------------------------------------------------------------------

def test_without_globalconfig_the_file_is_the_one_npm_names(tmp_path):
    said = subprocess.run([NPM, 'config', 'get', 'globalconfig'], capture_output=True, text=True, check=True,
                          env={'PATH': os.path.dirname(NPM) + ':/usr/bin:/bin', 'HOME': str(tmp_path)},
                          cwd=str(tmp_path)).stdout.strip()
    # Check mode only: this machine's own global npmrc is read, never written.
    done = run_module(tmp_path, dict(registry='https://npm.corp.example/'), check_mode=True)
    assert done.result.get('failed') is not True, done.result
    assert done.result['npmrc'] == said and done.result['npm'] == NPM
    assert done.result['written'] in ([said], [])


def test_without_npm_the_file_is_etc_npmrc_and_a_warning_says_so(tmp_path):
    empty = tmp_path / 'bin'
    empty.mkdir()
    done = run_module(tmp_path, dict(registry='https://npm.corp.example/'), check_mode=True, path=str(empty))
    assert done.result.get('failed') is not True, done.result
    assert done.result['npm'] is None and done.result['npmrc'] == '/etc/npmrc'
    assert 'npm is not installed: the policy goes to /etc/npmrc' in json.dumps(done.result.get('warnings'))


# ---------------------------------------------------------------------------
# pnpm reads the same file (when this machine has pnpm)
# ---------------------------------------------------------------------------

@pytest.mark.skipif(PNPM is None, reason='needs the real pnpm')
def test_pnpm_is_asked_too_and_gets_the_policy(run, npmrc, registry, corp):
    done = run(registry=registry.url, scopes={'@corp': corp.url}, allow_http=True)
    assert done.result.get('failed') is not True, done.result
    assert done.result['pnpm'] == PNPM and done.result['pnpm_npmrc'] == str(npmrc)
    assert 'pnpm config get (%s)' % npmrc in done.result['verified']


# ---------------------------------------------------------------------------
# Environment outputs (the shared writer), written and put away
# ---------------------------------------------------------------------------

def test_environment_exports_the_registry_for_shells_pam_and_listed_services_and_false_removes_it(
        run, npmrc, etc, registry):
    url = registry.url + '/'
    done = run(registry=registry.url, allow_http=True, export_environment=True, systemd_units=['lab-runner'],
               verify='never')
    assert done.result.get('failed') is not True, done.result
    profile = etc / 'profile.d' / 'node-mirrors.sh'
    dropin = etc / 'systemd' / 'system' / 'lab-runner.service.d' / 'node-mirrors.conf'
    assert done.result['written'] == [str(npmrc), str(profile), str(etc / 'environment'), str(dropin)]
    assert "export npm_config_registry=%s\nexport YARN_NPM_REGISTRY_SERVER=%s\n" % (url, url) in profile.read_text()
    assert (etc / 'environment').read_text() == ETC_ENVIRONMENT + (
        '# Managed by Ansible (buildfleet.mirrors.node_mirrors): npm_config_registry YARN_NPM_REGISTRY_SERVER\n'
        'npm_config_registry="%s"\nYARN_NPM_REGISTRY_SERVER="%s"\n' % (url, url))
    assert 'Environment="npm_config_registry=%s"' % url in dropin.read_text()
    # The host's /etc/environment was backed up; the module's own files were not (they are made from the policy).
    assert sorted(done.result['backups']) == sorted([str(npmrc), str(etc / 'environment')])
    again = run(registry=registry.url, allow_http=True, export_environment=True, systemd_units=['lab-runner'],
                verify='never')
    assert again.result['changed'] is False, again.result
    off = run(registry=registry.url, allow_http=True, export_environment=False, verify='never')
    assert off.result['files'] == [{'path': str(profile), 'action': 'removed'},
                                   {'path': str(etc / 'environment'), 'action': 'updated'},
                                   {'path': str(dropin), 'action': 'removed'}], off.result
    assert (etc / 'environment').read_text() == ETC_ENVIRONMENT
    assert not profile.exists() and not dropin.parent.exists()
    assert npmrc.read_text().startswith(BEGIN)  # the npmrc keeps the policy


def test_a_login_shell_that_does_not_get_the_registry_puts_every_file_back(run, npmrc, etc, registry):
    """This machine's login shells read the real /etc/profile.d, not the test's: the check fails, all goes back."""
    done = run(registry=registry.url, allow_http=True, export_environment=True)
    assert done.result.get('failed') is True
    profile = etc / 'profile.d' / 'node-mirrors.sh'
    assert ('login shells (%s) get npm_config_registry=(unset) instead of %s/' % (profile, registry.url)
            in done.result['msg'])
    assert npmrc.read_text() == HOST_LINES and (etc / 'environment').read_text() == ETC_ENVIRONMENT
    assert not (etc / 'profile.d' / 'node-mirrors.sh').exists() and backups_of(npmrc) == []
    assert sorted(os.listdir(etc)) == ['environment', 'profile.d', 'systemd']


def test_a_unit_name_that_is_no_service_is_refused(run, npmrc, registry):
    done = run(registry=registry.url, allow_http=True, export_environment=True, systemd_units=['../evil'])
    assert done.result.get('failed') is True and "systemd_units entry '../evil'" in done.result['msg']
    assert npmrc.read_text() == HOST_LINES


FAKE_PNPM = '''#!/usr/bin/python3
# A stand-in for pnpm with Debian's npm: `config list --json` shows what it read from its own global npmrc.
import json, sys
assert sys.argv[1:] == ['config', 'list', '--json'], sys.argv
values = {'registry': 'https://registry.npmjs.org/'}
try:
    values.update(line.split('=', 1) for line in open('%s').read().splitlines() if '=' in line and line[0] != '#')
except OSError:
    pass
print(json.dumps(values))
'''


@pytest.fixture
def pnpm_elsewhere(tmp_path):
    """A bin directory with npm and a pnpm that reads only <tmp>/usr/local/etc/npmrc; that file's path."""
    other = tmp_path / 'usr' / 'local' / 'etc' / 'npmrc'
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'pnpm').write_text(FAKE_PNPM % other)
    os.chmod(bin_dir / 'pnpm', 0o755)
    os.symlink(NPM, bin_dir / 'npm')
    return '%s:%s:/usr/bin:/bin' % (bin_dir, os.path.dirname(NPM)), other


def test_a_pnpm_that_reads_another_file_gets_the_block_there_too(run, npmrc, registry, pnpm_elsewhere):
    path, other = pnpm_elsewhere
    done = run(path=path, registry=registry.url, allow_http=True, pnpm_globalconfig=str(other))
    assert done.result.get('failed') is not True, done.result
    assert done.result['written'] == [str(npmrc), str(other)] and done.result['pnpm_npmrc'] == str(other)
    assert 'pnpm config get (%s)' % other in done.result['verified']
    assert other.read_text().startswith(BEGIN) and 'registry=%s/\n' % registry.url in other.read_text()
    # The next run manages both files; state absent takes the block out of both (the one it created goes).
    again = run(path=path, registry=registry.url, allow_http=True, pnpm_globalconfig=str(other))
    assert again.result['changed'] is False and again.result['pnpm_npmrc'] == str(other), again.result
    removed = run(path=path, state='absent', pnpm_globalconfig=str(other))
    assert removed.result['written'] == [str(npmrc), str(other)], removed.result
    assert npmrc.read_text() == HOST_LINES and not other.exists()


def test_a_pnpm_that_reads_npms_file_gets_no_other_file(run, npmrc, registry, tmp_path):
    other = tmp_path / 'usr' / 'local' / 'etc' / 'npmrc'
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'pnpm').write_text(FAKE_PNPM % npmrc)
    os.chmod(bin_dir / 'pnpm', 0o755)
    done = run(path='%s:%s:/usr/bin:/bin' % (bin_dir, os.path.dirname(NPM)), registry=registry.url,
               allow_http=True, pnpm_globalconfig=str(other))
    assert done.result.get('failed') is not True, done.result
    assert done.result['written'] == [str(npmrc)] and done.result['pnpm_npmrc'] == str(npmrc)
    assert not other.exists()


def test_a_pnpm_that_gets_the_policy_nowhere_puts_both_files_back(run, npmrc, registry, tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'pnpm').write_text(FAKE_PNPM % (tmp_path / 'nowhere'))
    os.chmod(bin_dir / 'pnpm', 0o755)
    other = tmp_path / 'usr' / 'local' / 'etc' / 'npmrc'
    done = run(path='%s:%s:/usr/bin:/bin' % (bin_dir, os.path.dirname(NPM)), registry=registry.url,
               allow_http=True, pnpm_globalconfig=str(other))
    assert done.result.get('failed') is True
    assert ('pnpm (clean environment, with %s too) gets registry=https://registry.npmjs.org/, not %s/'
            % (other, registry.url)) in done.result['msg']
    assert npmrc.read_text() == HOST_LINES and not other.exists() and not other.parent.exists()
