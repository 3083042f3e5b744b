# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""go_policy with credentials: the netrc file, the NETRC lines, the group, the diff, the rollback, the real go.

Run as Ansible runs the module (arguments file in, JSON out) on a host tree in a temporary directory. The
credentials check with the real go uses the go command of this machine against an HTTPS proxy on 127.0.0.1
that wants basic auth (skipped without go).
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import ModuleRun, clean_environment
from local_mirrors import AuthProxy, make_tls_files

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import NETRC_HEADER

MODULE, VERSION = 'corp.example.com/private/lib', 'v1.0.0'
LOGIN, PASSWORD = 'ci-build', 'Pw-7kq2.Zx!'
OLD_PASSWORD = 'Old-9mX4.Qv'
PROXY = 'https://goproxy.corp.example.com:8443'
POLICY = {'GOPROXY': PROXY + ',off', 'GONOSUMDB': 'corp.example.com'}
CREDENTIALS = [{'machine': 'goproxy.corp.example.com:8443', 'login': LOGIN, 'password': PASSWORD}]
# A group of every Debian system that no test changes (membership is not needed to own a file).
GROUP = 'staff'


def group_id(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pytest.skip('no group %s on this machine' % name)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / 'root'
    (root / 'etc' / 'profile.d').mkdir(parents=True)
    (root / 'etc' / 'systemd' / 'system').mkdir(parents=True)
    (root / 'etc' / 'environment').write_text('LANG="C.UTF-8"\n')
    return root


@pytest.fixture
def run(tmp_path, root):
    def run_module(check_mode=False, diff=False, env=None, **module_args):
        module_args.setdefault('environment', POLICY)
        module_args.setdefault('verify', 'never')
        module_args.setdefault('goroot_parents', [str(root / 'usr/lib')])
        module_args.setdefault('systemd_runtime_dir', str(root / 'run/systemd/system'))
        module_args.update(profile_d_path=str(root / 'etc/profile.d/go-proxy.sh'),
                           etc_environment_path=str(root / 'etc/environment'),
                           systemd_dir=str(root / 'etc/systemd'))
        module_args.setdefault('netrc_path', str(root / 'etc/go-proxy/netrc'))
        (tmp_path / 'tmp').mkdir(exist_ok=True)
        arguments = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff,
                         _ansible_tmpdir=str(tmp_path / 'tmp'))
        (tmp_path / 'args.json').write_text(json.dumps({'ANSIBLE_MODULE_ARGS': arguments}))
        completed = subprocess.run(
            [sys.executable, '-m', 'ansible_collections.buildfleet.mirrors.plugins.modules.go_policy',
             str(tmp_path / 'args.json')],
            capture_output=True, text=True, env=clean_environment(**(env or {})), cwd=str(tmp_path),
            timeout=300, check=False)
        return ModuleRun(completed)
    return run_module


def tree(root):
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = open(path, 'rb').read() if stat.S_ISREG(info.st_mode) else None
            found[os.path.relpath(path, root)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                  info.st_uid, info.st_gid, content)
    return found


def attributes(path):
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid


def no_secret(run, *secrets):
    output = run.stdout + run.stderr
    return [secret for secret in (PASSWORD, OLD_PASSWORD) + secrets if secret in output] == []


def test_writes_the_netrc_for_root_alone_and_points_login_shells_and_the_units_at_it(run, root):
    done = run(credentials=CREDENTIALS, systemd_units=['lab-runner'])
    assert done.rc == 0, done.result
    netrc = root / 'etc/go-proxy/netrc'
    assert netrc.read_text() == NETRC_HEADER + (
        'machine goproxy.corp.example.com login %s password %s\n'
        'machine goproxy.corp.example.com:8443 login %s password %s\n' % (LOGIN, PASSWORD, LOGIN, PASSWORD))
    assert attributes(netrc) == (0o600, 0, 0)
    assert attributes(root / 'etc/go-proxy') == (0o755, 0, 0)
    profile = (root / 'etc/profile.d/go-proxy.sh').read_text()
    assert 'if [ -r %s ]; then' % netrc in profile and 'NETRC=%s\n' % netrc in profile
    dropin = (root / 'etc/systemd/system/lab-runner.service.d/go-proxy.conf').read_text()
    assert dropin.endswith('Environment="NETRC=%s"\n' % netrc)
    assert 'SupplementaryGroups' not in dropin
    # Never where every user or every service would be pointed at a file they cannot read.
    assert 'NETRC' not in (root / 'etc/environment').read_text()
    assert 'NETRC' not in (root / 'etc/systemd/system.conf.d/go-proxy.conf').read_text()
    assert str(netrc) in done.result['written']
    assert no_secret(done)

    before = tree(root)
    again = run(credentials=CREDENTIALS, systemd_units=['lab-runner'])
    assert again.rc == 0 and again.result['changed'] is False, again.result
    assert tree(root) == before


def test_with_a_group_the_group_reads_the_file_and_each_service_gets_the_group(run, root):
    gid = group_id(GROUP)
    done = run(credentials=CREDENTIALS, credentials_group=GROUP, systemd_units=['lab-runner', 'jenkins'])
    assert done.rc == 0, done.result
    assert attributes(root / 'etc/go-proxy/netrc') == (0o640, 0, gid)
    for unit in ('lab-runner', 'jenkins'):
        dropin = (root / ('etc/systemd/system/%s.service.d/go-proxy.conf' % unit)).read_text()
        assert dropin.endswith('Environment="NETRC=%s"\nSupplementaryGroups=%s\n'
                               % (root / 'etc/go-proxy/netrc', GROUP))
    # Dropping the group narrows the file again: the attributes alone are a change.
    narrowed = run(credentials=CREDENTIALS, systemd_units=['lab-runner', 'jenkins'])
    assert narrowed.rc == 0 and narrowed.result['changed'] is True
    assert attributes(root / 'etc/go-proxy/netrc') == (0o600, 0, 0)


def test_a_group_that_does_not_exist_fails_before_anything_is_written(run, root):
    before = tree(root)
    failed = run(credentials=CREDENTIALS, credentials_group='no-such-group-14')
    assert failed.rc == 1
    assert failed.result['msg'].startswith("credentials_group 'no-such-group-14' does not exist on this host")
    assert tree(root) == before
    # Check mode goes on with a warning: a task before this one may create the group in a real run.
    checked = run(check_mode=True, credentials=CREDENTIALS, credentials_group='no-such-group-14')
    assert checked.rc == 0, checked.result
    assert checked.result['changed'] is True
    assert 'no-such-group-14' in json.dumps(checked.result.get('warnings')), checked.result
    assert tree(root) == before


def test_check_mode_diff_masks_every_password_the_old_one_included(run, root):
    old = [dict(CREDENTIALS[0], password=OLD_PASSWORD)]
    assert run(credentials=old).rc == 0
    before = tree(root)
    checked = run(check_mode=True, diff=True, credentials=CREDENTIALS)
    assert checked.rc == 0, checked.result
    assert checked.result['changed'] is True
    assert checked.result['written'] == [str(root / 'etc/go-proxy/netrc')]
    diff, = checked.result['diff']
    assert diff['before'] == diff['after'] == NETRC_HEADER + (
        'machine goproxy.corp.example.com login %s password ********\n'
        'machine goproxy.corp.example.com:8443 login %s password ********\n' % (LOGIN, LOGIN))
    assert no_secret(checked)
    assert tree(root) == before


@pytest.mark.parametrize('credentials, message', [
    ([{'machine': 'other.corp.example.com', 'login': LOGIN, 'password': PASSWORD}],
     "credentials[0] (machine 'other.corp.example.com') matches no https:// proxy or checksum database"),
    ([{'machine': 'goproxy.corp.example.com', 'login': LOGIN, 'password': 'two words' + PASSWORD}],
     "credentials[0] (machine 'goproxy.corp.example.com') password contains whitespace"),
    ([{'machine': 'goproxy.corp.example.com', 'password': PASSWORD}],
     'missing required arguments: login'),
])
def test_bad_credentials_are_refused_without_showing_the_password(run, root, credentials, message):
    before = tree(root)
    refused = run(credentials=credentials)
    assert refused.rc == 1
    assert message in refused.result['msg']
    assert no_secret(refused)
    assert tree(root) == before


def test_credentials_for_http_only_are_refused(run, root):
    refused = run(environment={'GOPROXY': 'http://goproxy.corp.example.com,off'},
                  credentials=[dict(CREDENTIALS[0], machine='goproxy.corp.example.com')])
    assert refused.rc == 1
    assert 'names only plain http URLs' in refused.result['msg']


def test_a_pruned_proxy_keeps_its_credentials(run, root):
    """The gate left the proxy out of GOPROXY for this run: its credentials are still valid."""
    done = run(environment={'GOPROXY': 'https://other.example,off'}, pruned=[PROXY], credentials=CREDENTIALS)
    assert done.rc == 0, done.result
    assert 'goproxy.corp.example.com:8443' in (root / 'etc/go-proxy/netrc').read_text()


@pytest.mark.parametrize('bad', ['-modfile=/etc/passwd', 'corp.example.com/lib@v1.0.0', 'a b'])
def test_a_verify_module_that_is_no_module_path_is_refused(run, root, bad):
    refused = run(credentials=CREDENTIALS, verify_module=bad)
    assert refused.rc == 1 and "verify_module %r is not a module path" % bad in refused.result['msg']


def test_no_credentials_any_more_removes_the_file_its_directory_and_the_lines(run, root):
    assert run(credentials=CREDENTIALS, systemd_units=['lab-runner']).rc == 0
    done = run(systemd_units=['lab-runner'])
    assert done.rc == 0, done.result
    assert not (root / 'etc/go-proxy').exists()
    assert 'NETRC' not in (root / 'etc/profile.d/go-proxy.sh').read_text()
    assert 'NETRC' not in (root / 'etc/systemd/system/lab-runner.service.d/go-proxy.conf').read_text()
    assert run(systemd_units=['lab-runner']).result['changed'] is False


def test_absent_removes_only_a_netrc_the_collection_wrote(run, root):
    assert run(credentials=CREDENTIALS).rc == 0
    assert run(state='absent').rc == 0
    assert not (root / 'etc/go-proxy').exists()
    (root / 'etc/go-proxy').mkdir()
    (root / 'etc/go-proxy/netrc').write_text('machine x login y password z\n')
    kept = run(state='absent')
    assert kept.rc == 0 and kept.result['changed'] is False
    assert (root / 'etc/go-proxy/netrc').read_text() == 'machine x login y password z\n'


FAKE_SYSTEMCTL = '''#!/bin/sh
# systemctl that knows one service, running as the user of FAKE_UNIT_USER.
case "$1" in
  show) printf 'User=%s\\nDynamicUser=no\\n' "$FAKE_UNIT_USER" ;;
  daemon-reload) ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
'''


@pytest.mark.parametrize('user, refused', [('builder', True), ('root', False), ('', False)])
def test_a_service_of_another_user_needs_the_group(run, root, tmp_path, user, refused):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'systemctl').write_text(FAKE_SYSTEMCTL)
    (bin_dir / 'systemctl').chmod(0o755)
    (root / 'run/systemd/system').mkdir(parents=True)
    before = tree(root)
    done = run(credentials=CREDENTIALS, systemd_units=['lab-runner'],
               env={'PATH': '%s:%s' % (bin_dir, os.environ['PATH']), 'FAKE_UNIT_USER': user})
    if refused:
        assert done.rc == 1
        assert done.result['msg'].startswith("systemd_units entry lab-runner.service runs as user 'builder', which "
                                             'cannot read %s' % (root / 'etc/go-proxy/netrc'))
        assert tree(root) == before
    else:
        assert done.rc == 0, done.result
    if user == 'builder':
        with_group = run(credentials=CREDENTIALS, credentials_group=GROUP, systemd_units=['lab-runner'],
                         env={'PATH': '%s:%s' % (bin_dir, os.environ['PATH']), 'FAKE_UNIT_USER': user})
        assert with_group.rc == 0, with_group.result


# --- The real go, as root, with the credentials ---------------------------------------------------------------

def _toolchains():
    """The go on PATH, and those of BUILDFLEET_GO_TOOLCHAINS (colon-separated go binaries, such as the 1.15 and 1.24
    of the lab images copied out), each tried as the go the module finds on its PATH."""
    found = []
    for candidate in [shutil.which('go')] + os.environ.get('BUILDFLEET_GO_TOOLCHAINS', '').split(':'):
        if candidate and os.access(candidate, os.X_OK) and candidate not in found:
            found.append(candidate)
    return found


TOOLCHAINS = _toolchains()
needs_go = pytest.mark.skipif(not TOOLCHAINS, reason='no go command on this machine')


def go_environment(go, tls):
    """The module's environment: this go first on PATH, the test CA trusted (as a host's own proxy settings)."""
    return {'PATH': '%s:%s' % (os.path.dirname(go), os.environ['PATH']), 'SSL_CERT_FILE': tls.ca_cert}


@pytest.fixture(scope='module')
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp('go-policy-tls'))


@pytest.fixture(scope='module')
def auth_proxy(tls):
    server = AuthProxy(tls.server_context(), (LOGIN, PASSWORD), MODULE, VERSION)
    yield server
    server.close()


def proxy_policy(proxy):
    return {'GOPROXY': proxy.url + ',off', 'GONOSUMDB': 'corp.example.com'}


def proxy_credentials(proxy, password=PASSWORD):
    return [{'machine': proxy.url[len('https://'):], 'login': LOGIN, 'password': password}]


@needs_go
@pytest.mark.parametrize('go', TOOLCHAINS)
def test_go_downloads_through_the_proxy_with_the_written_credentials(run, root, auth_proxy, tls, go):
    """Each Go finds its own line: the host alone before 1.24, the host with the port from 1.24 on."""
    before = len(auth_proxy.seen)
    done = run(verify='always', profile_d=False, etc_environment=False, systemd_default_environment=False,
               credentials=proxy_credentials(auth_proxy), verify_module=MODULE, environment=proxy_policy(auth_proxy),
               env=go_environment(go, tls))
    assert done.rc == 0, done.result
    assert done.result['verified'] == ['go as root with the credentials (NETRC=%s, %s %s@latest)'
                                       % (root / 'etc/go-proxy/netrc', go, MODULE)]
    seen = auth_proxy.seen[before:]
    assert any(path.endswith('.zip') and verdict == 'right' for path, verdict in seen), seen
    assert no_secret(done)
    # Nothing of the download is left behind.
    assert not [name for name in os.listdir('/tmp') if name.startswith('buildfleet-go-policy-verify-')]


@needs_go
@pytest.mark.parametrize('go', TOOLCHAINS)
def test_a_password_the_proxy_refuses_puts_every_file_back(run, root, auth_proxy, tls, go):
    assert run(credentials=proxy_credentials(auth_proxy, OLD_PASSWORD), environment=proxy_policy(auth_proxy),
               systemd_units=['lab-runner']).rc == 0
    before = tree(root)
    failed = run(verify='always', profile_d=False, etc_environment=False, systemd_default_environment=False,
                 credentials=proxy_credentials(auth_proxy, 'Wrong-3pQ.x'), environment=proxy_policy(auth_proxy),
                 systemd_units=['lab-runner'], verify_module=MODULE, env=go_environment(go, tls))
    assert failed.rc == 1
    message = failed.result['msg']
    assert message.startswith('The policy was written but not every consumer could be checked: go as root with the '
                              'credentials (NETRC=%s' % (root / 'etc/go-proxy/netrc'))
    assert '401 Unauthorized' in message
    assert message.endswith('(buildfleet.mirrors.go_proxy put every file back as it was before this run)')
    assert tree(root) == before  # the old password's file, byte for byte, mode and owner
    assert no_secret(failed, 'Wrong-3pQ.x')
