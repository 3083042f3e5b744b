# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A netrc file rendered by _go_credentials, read by a real go command against an HTTPS proxy that wants basic auth.

The go command on PATH is used (Debian 12: Go 1.19); more toolchains join with BUILDFLEET_GO_TOOLCHAINS, a
colon-separated list of go binaries (for instance the 1.15 and 1.24 of the lab images, copied out). Skipped
when there is no go at all. The proxy listens on 127.0.0.1 with a port, so Go before 1.24 matches the netrc
line ``127.0.0.1`` and Go 1.24+ the line ``127.0.0.1:<port>`` (golang/go#37130).
"""

from __future__ import annotations

import copy
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile

from pathlib import Path

import pytest

from local_mirrors import AuthProxy, make_tls_files

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    render_netrc,
    render_netrc_profile,
    validate_go_credentials,
)

MODULE = 'corp.example.com/private/lib'
VERSION = 'v1.0.0'
LOGIN, PASSWORD = 'ci-build', 'Pw-7kq2.Zx!'


def _toolchains():
    found = []
    for candidate in [shutil.which('go')] + os.environ.get('BUILDFLEET_GO_TOOLCHAINS', '').split(':'):
        if candidate and os.access(candidate, os.X_OK) and os.path.realpath(candidate) not in found:
            found.append(os.path.realpath(candidate))
    return found


TOOLCHAINS = _toolchains()
pytestmark = pytest.mark.skipif(not TOOLCHAINS, reason='no go command on this machine')


def go_version(go):
    output = subprocess.run([go, 'version'], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(re.search(r'go1\.(\d+)', output).group(1))


@pytest.fixture(scope='module')
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp('go-tls'))


@pytest.fixture(scope='module')
def auth_proxy(tls):
    server = AuthProxy(tls.server_context(), (LOGIN, PASSWORD), MODULE, VERSION)
    yield server
    server.close()


@pytest.fixture(scope='module')
def open_proxy(tls):
    server = AuthProxy(tls.server_context(), None, MODULE, VERSION)
    yield server
    server.close()


def go_download(go, proxy_url, work, tls, netrc=None, user=None, groups=None, profile=None):
    """``go mod download`` of the module through ``proxy_url``; return the CompletedProcess.

    As root, or as ``user`` with the supplementary ``groups`` (names); with ``profile``, a login shell's
    profile.d snippet is sourced first (and ``netrc`` is not passed).
    """
    work.mkdir(parents=True, exist_ok=True)
    (work / 'go.mod').write_text('module example.com/consumer\n\ngo 1.15\n')
    environment = {
        'PATH': os.path.dirname(go) + ':/usr/bin:/bin', 'HOME': str(work / 'home'), 'GOPATH': str(work / 'gopath'),
        'GOCACHE': str(work / 'cache'), 'GOENV': 'off', 'GO111MODULE': 'on', 'GOTOOLCHAIN': 'local',
        'GOPROXY': proxy_url, 'GONOSUMDB': 'corp.example.com', 'GOFLAGS': '-mod=mod', 'SSL_CERT_FILE': tls.ca_cert,
        'GOROOT': os.path.dirname(os.path.dirname(go)),
    }
    if netrc is not None:
        environment['NETRC'] = str(netrc)
    command = [go, 'mod', 'download', '-json', '%s@%s' % (MODULE, VERSION)]
    if profile is not None:
        command = ['sh', '-c', '. "$0"; exec "$@"', str(profile)] + command
    if user is not None:
        supplementary = ['--groups=' + ','.join(groups)] if groups else ['--clear-groups']
        command = ['setpriv', '--reuid=%s' % user, '--regid=%s' % pwd.getpwnam(user).pw_gid] + supplementary + [
            '--'] + command
        subprocess.run(['chown', '-R', user, str(work)], check=True)
    return subprocess.run(command, cwd=str(work), env=environment, capture_output=True, text=True, timeout=300,
                          check=False)


def rendered_netrc(proxy_url, path, machine='127.0.0.1'):
    credentials = validate_go_credentials([{'machine': machine, 'login': LOGIN, 'password': PASSWORD}],
                                          [CredentialTarget(proxy_url, 'go_proxy_urls entry')])
    path.write_text(render_netrc(credentials))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize('go', TOOLCHAINS)
@pytest.mark.parametrize('machine', ['127.0.0.1', '127.0.0.1:{port}'])
def test_go_sends_the_rendered_credentials(go, machine, auth_proxy, tls, tmp_path):
    """Whichever form the policy gives, the rendered file has the line each Go version matches."""
    machine = machine.format(port=auth_proxy.url.rsplit(':', 1)[1])
    netrc = rendered_netrc(auth_proxy.url, tmp_path / 'netrc', machine)
    before = len(auth_proxy.seen)
    completed = go_download(go, auth_proxy.url, tmp_path / 'work', tls, netrc)
    assert completed.returncode == 0, completed.stderr
    downloaded = json.loads(completed.stdout)
    assert downloaded['Version'] == VERSION and os.path.isfile(downloaded['Zip'])
    seen = auth_proxy.seen[before:]
    assert any(path.endswith('.zip') for path, dummy in seen)
    assert all(verdict == 'right' for dummy, verdict in seen if verdict != 'none'), seen
    assert PASSWORD not in completed.stdout + completed.stderr


@pytest.mark.parametrize('go', TOOLCHAINS)
def test_each_go_version_matches_only_its_own_form_of_the_machine(go, auth_proxy, tls, tmp_path):
    """Why both lines are written: Go before 1.24 matches the host alone, Go 1.24+ the host with its port."""
    port = auth_proxy.url.rsplit(':', 1)[1]
    minor = go_version(go)
    for machine, works in (('127.0.0.1', minor < 24), ('127.0.0.1:' + port, minor >= 24)):
        netrc = tmp_path / ('only-' + machine.replace(':', '-'))
        netrc.write_text('machine %s login %s password %s\n' % (machine, LOGIN, PASSWORD))
        completed = go_download(go, auth_proxy.url, tmp_path / ('work-' + machine.replace(':', '-')), tls, netrc)
        assert (completed.returncode == 0) is works, (machine, completed.stderr)
        if not works:
            assert '401 Unauthorized' in completed.stdout + completed.stderr


@pytest.mark.parametrize('go', TOOLCHAINS)
def test_a_wrong_password_gets_the_proxys_refusal(go, auth_proxy, tls, tmp_path):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login %s password wrong\nmachine 127.0.0.1:%s login %s password wrong\n'
                     % (LOGIN, auth_proxy.url.rsplit(':', 1)[1], LOGIN))
    completed = go_download(go, auth_proxy.url, tmp_path / 'work', tls, netrc)
    assert completed.returncode != 0
    assert '401 Unauthorized' in completed.stdout + completed.stderr


ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT or not shutil.which('setpriv'), reason='needs root and setpriv to run '
                                'go as another user')


@needs_root
@pytest.mark.parametrize('go', TOOLCHAINS)
def test_an_unreadable_netrc_is_not_fatal_but_gives_no_credentials(go, auth_proxy, open_proxy, tls, tmp_path):
    """What a user outside the group meets if NETRC points to the group's file (the trap the delivery avoids).

    Go 1.15 and 1.19 ignore the read error; Go 1.24.4 records it and prints it only with -x. Public modules
    (an open proxy) still download, the authenticated proxy answers 401: the user sees the proxy's refusal,
    not a netrc error. (A Go 1.24 pre-release made this fatal: base.Fatalf "could not parse netrc".)
    """
    base = Path(tempfile.mkdtemp(prefix='buildfleet-gocreds-'))  # pytest's own tmp_path is closed to other users
    try:
        base.chmod(0o755)
        shared_tls = copy.copy(tls)
        shared_tls.ca_cert = shutil.copy(tls.ca_cert, str(base / 'ca.pem'))
        netrc = rendered_netrc(auth_proxy.url, base / 'netrc')  # root's, mode 0600: nobody cannot read it
        public = go_download(go, open_proxy.url, base / 'public', shared_tls, netrc, user='nobody')
        assert public.returncode == 0, public.stderr
        private = go_download(go, auth_proxy.url, base / 'private', shared_tls, netrc, user='nobody')
        assert private.returncode != 0
        assert '401 Unauthorized' in private.stdout + private.stderr
        for completed in (public, private):
            assert 'netrc' not in (completed.stdout + completed.stderr).lower()
            assert PASSWORD not in completed.stdout + completed.stderr
    finally:
        shutil.rmtree(str(base), ignore_errors=True)


@needs_root
@pytest.mark.parametrize('go', TOOLCHAINS)
def test_the_recommended_delivery_serves_members_and_spares_the_others(go, auth_proxy, open_proxy, tls):
    """root:<group> 0640 and the profile.d snippet: a member downloads through the authenticated proxy, an
    outsider gets the proxy's 401 there and still downloads public modules.

    'staff' stands for go_proxy_credentials_group: setpriv gives nobody the group for one run, nothing on this
    machine is changed.
    """
    group = 'staff'
    try:
        grp.getgrnam(group)
    except KeyError:
        pytest.skip('no group %s on this machine' % group)
    base = Path(tempfile.mkdtemp(prefix='buildfleet-gocreds-'))
    try:
        base.chmod(0o755)
        shared_tls = copy.copy(tls)
        shared_tls.ca_cert = shutil.copy(tls.ca_cert, str(base / 'ca.pem'))
        netrc = rendered_netrc(auth_proxy.url, base / 'netrc')
        shutil.chown(str(netrc), 'root', group)
        netrc.chmod(0o640)
        profile = base / 'go-proxy-netrc.sh'
        profile.write_text(render_netrc_profile(str(netrc)))
        member = go_download(go, auth_proxy.url, base / 'member', shared_tls, user='nobody', groups=[group],
                             profile=profile)
        assert member.returncode == 0, member.stdout + member.stderr
        outsider = go_download(go, auth_proxy.url, base / 'outsider', shared_tls, user='nobody', profile=profile)
        assert outsider.returncode != 0
        assert '401 Unauthorized' in outsider.stdout + outsider.stderr
        public = go_download(go, open_proxy.url, base / 'public', shared_tls, user='nobody', profile=profile)
        assert public.returncode == 0, public.stdout + public.stderr
        for completed in (member, outsider, public):
            assert PASSWORD not in completed.stdout + completed.stderr
    finally:
        shutil.rmtree(str(base), ignore_errors=True)
