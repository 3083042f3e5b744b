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

import os
import stat

import pytest

from conftest import run_collection_module

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
    (root / 'usr' / 'lib' / 'go-1.24' / 'go.env').write_text(PACKAGE_GO_ENV)
    return root


@pytest.fixture
def run(tmp_path, root):
    def run_module(check_mode=False, diff=False, **module_args):
        module_args.setdefault('verify', 'never')
        module_args.update(profile_d_path=str(root / 'etc/profile.d/go-proxy.sh'),
                           etc_environment_path=str(root / 'etc/environment'),
                           systemd_dir=str(root / 'etc/systemd'), goroot_parents=[str(root / 'usr/lib')])
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
