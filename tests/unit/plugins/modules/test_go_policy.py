# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""go_policy as Ansible runs it (arguments file in, JSON out) on a host tree in a temporary directory.

The consumers it verifies with are the machine's own (a login shell reads the
real /etc/profile, not the temporary tree), so a run that verifies here finds
that login shells do not get the policy: that is how the rollback is tested.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from conftest import COLLECTIONS_ROOT, ModuleRun, clean_environment, run_collection_module

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import HEADER
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import LOCK_DIR, LOCK_FILE

POLICY = {'GOPROXY': 'https://goproxy.corp.example.com,direct', 'GOPRIVATE': 'corp.example.com',
          'GONOPROXY': 'none', 'GOFLAGS': '-mod=readonly -trimpath'}
PACKAGE_GO_ENV = 'GOPROXY=https://proxy.golang.org,direct\nGOSUMDB=sum.golang.org\n'


@pytest.fixture
def root(tmp_path):
    """A host tree: /etc/environment with local lines, a Go 1.24 with its go.env, a Go 1.19 without one."""
    root = tmp_path / 'root'
    (root / 'etc' / 'profile.d').mkdir(parents=True)
    (root / 'etc' / 'systemd' / 'system').mkdir(parents=True)
    (root / 'etc' / 'environment').write_text('# Local settings\nLANG="C.UTF-8"\nGOPROXY=https://old.example\n')
    for version, first_line in (('1.24', 'go1.24.4'), ('1.19', 'go1.19.8')):
        goroot = root / 'usr' / 'lib' / ('go-' + version)
        goroot.mkdir(parents=True)
        (goroot / 'VERSION').write_text(first_line + '\ntime 2025-06-01T00:00:00Z\n')
        (goroot / 'bin').mkdir()
        (goroot / 'bin' / 'go').write_text('#!/bin/sh\nexit 1\n')
        os.chmod(goroot / 'bin' / 'go', 0o755)
    (root / 'usr' / 'lib' / 'go-1.24' / 'go.env').write_text(PACKAGE_GO_ENV)
    return root


@pytest.fixture
def run(tmp_path, root):
    def run_module(check_mode=False, diff=False, **module_args):
        module_args.setdefault('verify', 'never')
        module_args.setdefault('goroot_parents', [str(root / 'usr/lib')])
        # No systemd runs here unless a test gives it a fake one (systemd_runtime_dir present, systemctl on PATH).
        module_args.setdefault('systemd_runtime_dir', str(root / 'run/systemd/system'))
        module_args.update(profile_d_path=str(root / 'etc/profile.d/go-proxy.sh'),
                           etc_environment_path=str(root / 'etc/environment'),
                           systemd_dir=str(root / 'etc/systemd'))
        return run_collection_module('go_policy', tmp_path, module_args, check_mode, diff)
    return run_module


def tree(root):
    """Every path under root with its type, mode and owner, and every file's bytes."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = open(path, 'rb').read() if stat.S_ISREG(info.st_mode) else None
            found[os.path.relpath(path, root)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                  info.st_uid, info.st_gid, content)
    return found


def read(root, path):
    return (root / path).read_text()


def test_writes_every_output_then_changes_nothing(run, root):
    first = run(environment=POLICY, systemd_units=['lab-runner'], goroot_env=True)
    assert first.rc == 0, first.result
    assert first.result['changed'] is True
    assert {entry['path'][len(str(root)):]: entry['action'] for entry in first.result['files']} == {
        '/etc/profile.d/go-proxy.sh': 'created',
        '/etc/environment': 'updated',
        '/etc/systemd/system.conf.d/go-proxy.conf': 'created',
        '/etc/systemd/system/lab-runner.service.d/go-proxy.conf': 'created',
        '/usr/lib/go-1.24/go.env': 'updated',
    }
    assert first.result['goroots'] == [str(root / 'usr/lib/go-1.24')]  # Go 1.19 reads no go.env
    assert first.result['changed_units'] == ['lab-runner.service']
    assert read(root, 'etc/environment') == (
        '# Local settings\nLANG="C.UTF-8"\nGOPROXY="https://goproxy.corp.example.com,direct"\n'
        '# Managed by Ansible (buildfleet.mirrors.go_proxy): GOPROXY GOPRIVATE GONOPROXY GOFLAGS\n'
        'GOPRIVATE="corp.example.com"\nGONOPROXY="none"\nGOFLAGS="-mod=readonly -trimpath"\n')
    assert read(root, 'usr/lib/go-1.24/go.env').endswith('\n' + PACKAGE_GO_ENV)
    # The host's own files were backed up before they changed; the backups hold what was there.
    backups = first.result['backup_files']
    assert sorted(backups) == [str(root / 'etc/environment'), str(root / 'usr/lib/go-1.24/go.env')]
    assert open(backups[str(root / 'usr/lib/go-1.24/go.env')]).read() == PACKAGE_GO_ENV
    for path in ('etc/profile.d/go-proxy.sh', 'etc/systemd/system/lab-runner.service.d/go-proxy.conf'):
        info = os.stat(root / path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o644, 0, 0)

    before = tree(root)
    second = run(environment=POLICY, systemd_units=['lab-runner'], goroot_env=True)
    assert second.rc == 0, second.result
    assert (second.result['changed'], second.result['files'], second.result['backup_files']) == (False, [], {})
    assert tree(root) == before


def test_check_mode_tells_the_change_with_a_diff_and_writes_nothing(run, root):
    before = tree(root)
    checked = run(check_mode=True, diff=True, environment=POLICY)
    assert checked.rc == 0, checked.result
    assert checked.result['changed'] is True
    diffs = {diff['after_header']: diff for diff in checked.result['diff']}
    profile = diffs[str(root / 'etc/profile.d/go-proxy.sh')]
    assert profile['before'] == '' and "export GOFLAGS='-mod=readonly -trimpath'\n" in profile['after']
    environment = diffs[str(root / 'etc/environment')]
    assert 'GOPROXY=https://old.example\n' in environment['before']
    assert 'GOPROXY="https://goproxy.corp.example.com,direct"\n' in environment['after']
    assert tree(root) == before


def test_a_new_policy_replaces_values_in_place_and_drops_the_units_no_longer_listed(run, root):
    assert run(environment=POLICY, systemd_units=['lab-runner', 'gitlab-runner']).rc == 0
    (root / 'etc/systemd/system/gitlab-runner.service.d/local.conf').write_text('[Service]\nNice=5\n')
    second = run(environment={'GOPROXY': 'https://b.example|off'}, systemd_units=['lab-runner'])
    assert second.rc == 0, second.result
    assert read(root, 'etc/environment') == (
        '# Local settings\nLANG="C.UTF-8"\nGOPROXY="https://b.example|off"\n'
        '# Managed by Ansible (buildfleet.mirrors.go_proxy): GOPROXY\n')
    assert not (root / 'etc/systemd/system/gitlab-runner.service.d/go-proxy.conf').exists()
    # The directory holds the host's own drop-in: it stays.
    assert (root / 'etc/systemd/system/gitlab-runner.service.d/local.conf').exists()
    assert second.result['changed_units'] == ['lab-runner.service', 'gitlab-runner.service']


def test_absent_removes_every_file_line_and_block_and_leaves_the_rest(run, root):
    (root / 'etc/systemd/system/other.service.d').mkdir()
    (root / 'etc/systemd/system/other.service.d/go-proxy.conf').write_text('[Service]\nEnvironment=GOFLAGS=-x\n')
    assert run(environment=POLICY, systemd_units=['lab-runner'], goroot_env=True).rc == 0
    removed = run(state='absent')
    assert removed.rc == 0, removed.result
    assert removed.result['changed'] is True
    for path in ('etc/profile.d/go-proxy.sh', 'etc/systemd/system.conf.d', 'etc/systemd/system/lab-runner.service.d'):
        assert not (root / path).exists(), path
    assert read(root, 'etc/environment') == '# Local settings\nLANG="C.UTF-8"\n'
    assert read(root, 'usr/lib/go-1.24/go.env') == PACKAGE_GO_ENV
    # A drop-in of that name without the role's header is not the role's.
    assert (root / 'etc/systemd/system/other.service.d/go-proxy.conf').exists()
    assert run(state='absent').result['changed'] is False


def test_a_consumer_that_does_not_get_the_policy_puts_every_file_back(run, root):
    """verify=always: the machine's login shell reads its own /etc/profile, so it does not get the policy."""
    (root / 'etc/profile.d/go-proxy.sh').write_text('export GOPROXY=https://old.example\n')
    os.chmod(root / 'etc/profile.d/go-proxy.sh', 0o600)
    before = tree(root)
    failed = run(environment=POLICY, systemd_units=['lab-runner'], goroot_env=True, etc_environment=True,
                 systemd_default_environment=False, verify='always')
    assert failed.rc == 1
    assert failed.result['failed'] is True
    message = failed.result['msg']
    assert message.startswith('The policy was written but not every consumer gets it: login shells (%s) get GOPROXY='
                              % (root / 'etc/profile.d/go-proxy.sh'))
    assert 'instead of https://goproxy.corp.example.com,direct' in message
    assert message.endswith('(buildfleet.mirrors.go_proxy put every file back as it was before this run)')
    # Byte for byte, modes and owners included; no backup and no new directory left behind.
    assert tree(root) == before
    assert failed.result['changed'] is False


@pytest.mark.parametrize('arguments, message', [
    ({'environment': {'GOPRIVATE': '$(touch /tmp/pwned)'}}, "environment value of GOPRIVATE"),
    ({'environment': {'GOPROXY': 'https://a.example', 'PATH': '/x'}}, "environment key 'PATH' is not a GO* variable"),
    ({'environment': {'GOPROXY': 'https://a.example'}, 'systemd_units': ['../../etc/passwd']},
     "systemd_units entry '../../etc/passwd' is not a service name"),
    ({'environment': {'GOPROXY': 'https://a.example#x'}}, 'hold no #'),
    ({}, 'state is present but all of the following are missing: environment'),
])
def test_refuses_bad_input_and_writes_nothing(run, root, arguments, message):
    before = tree(root)
    refused = run(**arguments)
    assert refused.rc == 1
    assert message in refused.result['msg']
    assert tree(root) == before
    assert not os.path.exists('/tmp/pwned')


# --- Without D-Bus: systemd is asked through systemctl and a unit file ---------------------------------------------

FAKE_SYSTEMCTL = textwrap.dedent('''\
    #!{python}
    """systemctl as PID 1 answers it as root over its private socket, without D-Bus (the test's stand-in).

    daemon-reload reads DefaultEnvironment= of system.conf.d (later files win) and the unit files of the runtime
    directory; start runs a oneshot unit loaded by the last reload, with the manager's environment, its output
    into StandardOutput=file:. Every call is logged.
    """
    import glob, json, os, shlex, subprocess, sys
    systemd_dir, runtime, log = os.environ['FAKE_SYSTEMD_DIR'], os.environ['FAKE_RUNTIME_DIR'], os.environ['FAKE_LOG']
    state_file = log + '.state'
    words = [word for word in sys.argv[1:] if not word.startswith('--')]
    with open(log, 'a') as stream:
        stream.write(' '.join(sys.argv[1:]) + '\\n')
    if words[0] == 'daemon-reload':
        if os.environ.get('FAKE_RELOAD_FAILS'):
            sys.exit('Failed to reload daemon: %s' % os.environ['FAKE_RELOAD_FAILS'])
        environment = {{}}
        for conf in sorted(glob.glob(os.path.join(systemd_dir, 'system.conf.d', '*.conf'))):
            for line in open(conf):
                if line.startswith('DefaultEnvironment='):
                    for item in shlex.split(line[len('DefaultEnvironment='):]):
                        name, dummy, value = item.partition('=')
                        environment[name] = value.replace('%%', '%')
        with open(state_file, 'w') as stream:
            json.dump({{'environment': environment, 'units': sorted(os.listdir(runtime))}}, stream)
        sys.exit(0)
    if words[0] == 'start':
        state = json.load(open(state_file)) if os.path.exists(state_file) else {{'environment': {{}}, 'units': []}}
        unit = words[1]
        if os.environ.get('FAKE_START_FAILS'):
            sys.exit('Failed to start %s: %s' % (unit, os.environ['FAKE_START_FAILS']))
        if unit not in state['units']:
            print('Failed to start %s: Unit %s not found.' % (unit, unit), file=sys.stderr)
            sys.exit(5)
        settings = dict(line.strip().partition('=')[::2] for line in open(os.path.join(runtime, unit)) if '=' in line)
        assert settings['Type'] == 'oneshot', settings
        with open(settings['StandardOutput'][len('file:'):], 'wb') as output:
            subprocess.run(shlex.split(settings['ExecStart']), env=dict(state['environment'], PATH='/usr/bin:/bin'),
                           stdout=output, check=True)
        sys.exit(0)
    if words[0] == 'reset-failed':
        sys.exit('Failed to reset failed state of unit %s: Unit %s not loaded.' % (words[1], words[1]))
    if words[0] == 'list-units':
        sys.exit(0)
    sys.exit('unexpected: %s' % sys.argv)
''').format(python=sys.executable)

# What systemd-run prints on a host where systemd runs but no D-Bus daemon is installed.
NO_BUS_SYSTEMD_RUN = '#!/bin/sh\necho "Failed to connect to bus: No such file or directory" >&2\nexit 1\n'


@pytest.fixture
def systemd_host(tmp_path, root):
    """A host tree on which systemd runs without D-Bus: the runtime unit directory, systemctl, a systemd-run that fails."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('systemctl', FAKE_SYSTEMCTL), ('systemd-run', NO_BUS_SYSTEMD_RUN)):
        (bin_dir / name).write_text(text)
        os.chmod(bin_dir / name, 0o755)
    runtime = root / 'run/systemd/system'
    runtime.mkdir(parents=True)
    log = tmp_path / 'systemctl.log'
    environment = dict(PATH='%s:%s' % (bin_dir, os.environ.get('PATH', '/usr/bin:/bin')),
                       FAKE_SYSTEMD_DIR=str(root / 'etc/systemd'), FAKE_RUNTIME_DIR=str(runtime), FAKE_LOG=str(log))

    def run_module(**module_args):
        module_args.setdefault('verify', 'always')
        module_args.update(profile_d_path=str(root / 'etc/profile.d/go-proxy.sh'),
                           etc_environment_path=str(root / 'etc/environment'), systemd_dir=str(root / 'etc/systemd'),
                           systemd_runtime_dir=str(runtime), goroot_parents=[str(root / 'usr/lib')],
                           profile_d=False, etc_environment=False)
        args_file = tmp_path / 'args.json'
        (tmp_path / 'tmp').mkdir(exist_ok=True)
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(module_args, _ansible_tmpdir=str(tmp_path / 'tmp'))}))
        completed = subprocess.run(
            [sys.executable, '-m', 'ansible_collections.buildfleet.mirrors.plugins.modules.go_policy', str(args_file)],
            capture_output=True, text=True, env=clean_environment(**environment), cwd=str(tmp_path), timeout=300,
            check=False)
        run = ModuleRun(completed)
        run.calls = log.read_text().splitlines() if log.exists() else []
        return run

    run_module.runtime = runtime
    return run_module


def leftover_probes():
    return [name for name in os.listdir(LOCK_DIR) if name.startswith('buildfleet-go-policy-verify-')]


def test_systemd_services_are_verified_without_dbus(systemd_host, root):
    """Regression: systemd-run needs D-Bus, so every run on a host without it was rolled back."""
    done = systemd_host(environment=POLICY)
    assert done.rc == 0, done.result
    assert done.result['verified'] == ['systemd services (%s)' % (root / 'etc/systemd/system.conf.d/go-proxy.conf')]
    starts = [call for call in done.calls if call.startswith('start ')]
    assert len(starts) == 1 and starts[0].split()[-1].startswith('buildfleet-go-policy-verify-')
    # The unit was loaded before it was started, and systemd reloaded again once it was gone.
    assert done.calls.index('daemon-reload') < done.calls.index(starts[0])
    assert done.calls[-1] == 'daemon-reload'
    assert os.listdir(systemd_host.runtime) == [] and leftover_probes() == []
    assert (root / 'etc/systemd/system.conf.d/go-proxy.conf').exists()


def test_a_systemd_service_that_gets_other_values_rolls_back_and_names_the_override(systemd_host, root):
    (root / 'etc/systemd/system.conf.d').mkdir(parents=True)
    (root / 'etc/systemd/system.conf.d/zz-local.conf').write_text(
        '[Manager]\nDefaultEnvironment="GOPROXY=https://user:hunter2@other.example"\n')
    before = tree(root)
    failed = systemd_host(environment=POLICY)
    assert failed.rc == 1
    message = failed.result['msg']
    assert ('systemd services (%s) get GOPROXY=https://***@other.example instead of '
            'https://goproxy.corp.example.com,direct' % (root / 'etc/systemd/system.conf.d/go-proxy.conf')) in message
    assert "Something read after the role's files sets these variables" in message
    assert 'hunter2' not in failed.stdout + failed.stderr
    assert tree(root) == before
    assert failed.calls[-1] == 'daemon-reload'  # the rollback reloaded systemd on the files put back
    assert leftover_probes() == []


@pytest.mark.parametrize('fails', ['FAKE_START_FAILS', 'FAKE_RELOAD_FAILS'])
def test_a_systemd_that_cannot_be_asked_is_said_plainly(systemd_host, root, fails, monkeypatch):
    """No override is suggested when the consumer never answered (the unit failed, or systemd refused a reload)."""
    assert systemd_host(environment=POLICY).rc == 0
    before = tree(root)
    monkeypatch.setenv(fails, 'Access denied')
    failed = systemd_host(environment=POLICY)  # nothing to change; verify=always asks again
    assert failed.rc == 1, failed.result
    message = failed.result['msg']
    assert message.startswith('The policy was written but not every consumer could be checked: systemd services (%s) '
                              'could not be asked: systemctl ' % (root / 'etc/systemd/system.conf.d/go-proxy.conf'))
    assert ('start --no-ask-password buildfleet-go-policy-verify-' if fails == 'FAKE_START_FAILS'
            else 'daemon-reload failed (rc 1): Failed to reload daemon: Access denied') in message
    assert 'Something read after' not in message and 'override' not in message
    assert tree(root) == before
    assert os.listdir(systemd_host.runtime) == [] and leftover_probes() == []


# --- One writer at a time -------------------------------------------------------------------------------------------

HOLD_THE_LOCK = textwrap.dedent('''
    import sys
    from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import HostLock
    with HostLock(5, holder='buildfleet.mirrors.docker_mirrors (docker_daemon_config)'):
        print('locked', flush=True)
        sys.stdin.readline()
''')


@pytest.fixture
def lock_holder():
    """Another run holding the host's lock (/run/buildfleet-mirrors/writer.lock) in a real process."""
    process = subprocess.Popen([sys.executable, '-c', HOLD_THE_LOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ, PYTHONPATH=str(COLLECTIONS_ROOT)))
    assert process.stdout.readline() == 'locked\n'

    def release():
        if process.poll() is None:
            process.stdin.write('\n')
            process.stdin.flush()
        process.wait(timeout=30)

    process.release = release
    yield process
    release()


def test_a_run_waits_for_the_lock_and_fails_naming_its_holder_with_nothing_written(run, root, lock_holder):
    before = tree(root)
    waited = run(environment=POLICY, lock_timeout=1)
    assert waited.rc == 1
    assert waited.result['msg'] == (
        'another buildfleet.mirrors run (pid %d, buildfleet.mirrors.docker_mirrors (docker_daemon_config), since %s) '
        'holds the host lock %s; waited 1 s (lock_timeout)'
        % (lock_holder.pid, waited.result['msg'].split(', since ')[1].split(')')[0], os.path.join(LOCK_DIR, LOCK_FILE)))
    assert tree(root) == before


def test_a_run_goes_on_once_the_other_run_released_the_lock(run, root, lock_holder):
    threading.Timer(1, lock_holder.release).start()
    done = run(environment=POLICY, lock_timeout=120)
    assert done.rc == 0, done.result
    assert (root / 'etc/profile.d/go-proxy.sh').exists()


def test_check_mode_takes_no_lock(run, root, lock_holder):
    checked = run(check_mode=True, environment=POLICY, lock_timeout=0)
    assert checked.rc == 0, checked.result
    assert checked.result['changed'] is True


def test_a_negative_lock_timeout_is_refused(run, root):
    before = tree(root)
    refused = run(environment=POLICY, lock_timeout=-1)
    assert refused.rc == 1
    assert refused.result['msg'] == 'lock_timeout must be 0 or more seconds, got -1'
    assert tree(root) == before


# --- Symlinks and modes ---------------------------------------------------------------------------------------------

@pytest.fixture
def packaged_go_env(root):
    """go.env as Debian ships it: a symlink into /usr/share."""
    share = root / 'usr/share/go-1.24'
    share.mkdir(parents=True)
    (share / 'go.env').write_text(PACKAGE_GO_ENV)
    os.chmod(share / 'go.env', 0o644)
    link = root / 'usr/lib/go-1.24/go.env'
    link.unlink()
    link.symlink_to('../../share/go-1.24/go.env')
    return link


def test_a_rollback_puts_a_symlinked_go_env_back_as_the_symlink(run, root, packaged_go_env):
    """Regression: the rollback wrote the text 'None' where the symlink was, with mode 0777."""
    before = tree(root)
    failed = run(environment=POLICY, goroot_env=True, verify='always')  # the machine's login shell fails it
    assert failed.rc == 1
    assert failed.result['msg'].endswith('(buildfleet.mirrors.go_proxy put every file back as it was before this run)')
    assert os.readlink(packaged_go_env) == '../../share/go-1.24/go.env'
    assert tree(root) == before


def test_a_symlinked_go_env_is_left_alone_when_its_text_needs_no_change(run, root, packaged_go_env):
    """Regression: with goroot_env false, every run replaced the package's symlink by a copy."""
    before = tree(root)
    done = run(environment=POLICY, profile_d=False, etc_environment=False, systemd_default_environment=False)
    assert done.rc == 0, done.result
    assert (done.result['changed'], done.result['written']) == (False, [])
    assert tree(root) == before


def test_a_symlinked_go_env_is_replaced_by_a_file_when_the_policy_goes_into_it(run, root, packaged_go_env):
    done = run(environment=POLICY, goroot_env=True)
    assert done.rc == 0, done.result
    info = os.lstat(packaged_go_env)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644
    assert read(root, 'usr/share/go-1.24/go.env') == PACKAGE_GO_ENV  # the package's own file is untouched
    assert read(root, 'usr/lib/go-1.24/go.env').endswith('\n' + PACKAGE_GO_ENV)


def test_the_mode_of_the_hosts_own_files_is_never_widened(run, root):
    os.chmod(root / 'etc/environment', 0o600)
    done = run(environment=POLICY)
    assert done.rc == 0, done.result
    assert stat.S_IMODE(os.stat(root / 'etc/environment').st_mode) == 0o600
    assert 'GOPRIVATE="corp.example.com"\n' in read(root, 'etc/environment')
    backup = done.result['backup_files'][str(root / 'etc/environment')]
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert run(environment=POLICY).result['changed'] is False


# --- Files this collection did not write ----------------------------------------------------------------------------

FOREIGN_PROFILE = 'export GOPROXY=https://local.example\n'
FOREIGN_DROPIN = '[Manager]\nDefaultEnvironment=GOFLAGS=-mod=mod\n'


@pytest.fixture
def foreign_files(root):
    (root / 'etc/profile.d/go-proxy.sh').write_text(FOREIGN_PROFILE)
    (root / 'etc/systemd/system.conf.d').mkdir()
    (root / 'etc/systemd/system.conf.d/go-proxy.conf').write_text(FOREIGN_DROPIN)


@pytest.mark.parametrize('arguments', [
    {'state': 'absent'},
    {'environment': POLICY, 'profile_d': False, 'systemd_default_environment': False},
], ids=['absent', 'outputs-off'])
def test_a_file_without_the_collections_header_is_never_removed(run, root, foreign_files, arguments):
    """Regression: state absent and profile_d false removed the host's own go-proxy.sh and manager drop-in."""
    done = run(**arguments)
    assert done.rc == 0, done.result
    assert read(root, 'etc/profile.d/go-proxy.sh') == FOREIGN_PROFILE
    assert read(root, 'etc/systemd/system.conf.d/go-proxy.conf') == FOREIGN_DROPIN
    assert str(root / 'etc/profile.d/go-proxy.sh') not in done.result['written']


def test_a_file_without_the_header_is_backed_up_before_the_policy_replaces_it(run, root, foreign_files):
    done = run(environment=POLICY)
    assert done.rc == 0, done.result
    profile = str(root / 'etc/profile.d/go-proxy.sh')
    assert read(root, 'etc/profile.d/go-proxy.sh').startswith('# ' + HEADER)
    assert open(done.result['backup_files'][profile]).read() == FOREIGN_PROFILE
    dropin = str(root / 'etc/systemd/system.conf.d/go-proxy.conf')
    assert open(done.result['backup_files'][dropin]).read() == FOREIGN_DROPIN
    # Once it is the collection's own, state absent removes it (only /etc/environment, the host's, is backed up).
    removed = run(state='absent')
    assert removed.rc == 0, removed.result
    assert not os.path.exists(profile) and not os.path.exists(dropin)
    assert list(removed.result['backup_files']) == [str(root / 'etc/environment')]


# --- What is not a Go install ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('goroot_env', [False, True])
def test_stray_files_named_like_a_go_install_are_skipped(run, root, goroot_env):
    """Regression: a regular file at /usr/lib/go-* or /usr/local/go made every run end in a traceback."""
    (root / 'usr/lib/go-stray').write_text('not a directory\n')
    (root / 'usr/lib/go-empty').mkdir()
    (root / 'usr/lib/golang').mkdir()
    (root / 'usr/lib/golang/VERSION').write_text('go1.24.4\n')  # a VERSION but no bin/go
    (root / 'usr/local').mkdir(parents=True)
    (root / 'usr/local/go').write_text('')
    done = run(environment=POLICY, goroot_env=goroot_env, goroot_parents=[str(root / 'usr/lib'), str(root / 'usr/local')])
    assert done.rc == 0, done.stderr or done.result
    assert done.result['goroots'] == [str(root / 'usr/lib/go-1.24')]
    assert not (root / 'usr/lib/golang/go.env').exists()


def test_a_link_to_a_go_install_is_the_same_install(run, root):
    """Regression: Debian's /usr/lib/go links to go-1.24; its go.env was written and backed up twice in one run,
    and the second backup of the same second failed the run."""
    (root / 'usr/lib/go').symlink_to('go-1.24')
    done = run(environment=POLICY, goroot_env=True)
    assert done.rc == 0, done.stderr or done.result
    assert done.result['goroots'] == [str(root / 'usr/lib/go-1.24')]
    assert list(done.result['backup_files']) == [str(root / 'etc/environment'), str(root / 'usr/lib/go-1.24/go.env')]
    assert (root / 'usr/lib/go').is_symlink()


# --- The result a role registers ------------------------------------------------------------------------------------

def test_the_result_tells_what_was_written_and_what_the_gate_pruned(run, root):
    pruned = ['https://builder:s3cret-token@dead.corp.example.com', 'https://slow.corp.example.com/?token=abc123']
    first = run(environment=POLICY, pruned=pruned)
    assert first.rc == 0, first.result
    assert first.result['pruned'] == ['https://***@dead.corp.example.com', 'https://slow.corp.example.com/?token=***']
    assert first.result['written'] == [str(root / path) for path in (
        'etc/profile.d/go-proxy.sh', 'etc/environment', 'etc/systemd/system.conf.d/go-proxy.conf')]
    assert first.result['msg'] == 'changed 3 files'
    assert 's3cret-token' not in first.stdout and 'abc123' not in first.stdout
    second = run(environment=POLICY, pruned=pruned)
    assert (second.result['changed'], second.result['written']) == (False, [])
    assert second.result['pruned'] == first.result['pruned']
    assert run(environment=POLICY).result['pruned'] == []
