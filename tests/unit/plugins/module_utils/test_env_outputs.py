# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared environment writer: each role owns its variables, in its own files and its own lines of the shared one."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _env_outputs as env
from ansible_collections.buildfleet.mirrors.plugins.module_utils._consumers import login_shell, pam_session
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    GO_OWNER,
    Paths,
    plan,
    render_etc_environment,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

PIP = env.EnvOwner('python_mirrors', 'The Python index policy', r'(PIP|UV)_[A-Z0-9_]+')
NPM = env.EnvOwner('node_mirrors', 'The npm registry policy', r'npm_config_[a-z0-9_@:-]+|YARN_NPM_REGISTRY_SERVER')


def test_owner_names_its_files_and_markers():
    assert PIP.profile_d == '/etc/profile.d/python-mirrors.sh'
    assert PIP.dropin_name == 'python-mirrors.conf'
    assert PIP.environment_marker == '# Managed by Ansible (buildfleet.mirrors.python_mirrors):'
    assert GO_OWNER.profile_d == '/etc/profile.d/go-proxy.sh'
    assert Paths().unit_dropin('runner.service') == '/etc/systemd/system/runner.service.d/go-proxy.conf'


@pytest.mark.parametrize('owner, name', [(PIP, 'GOPROXY'), (GO_OWNER, 'PIP_INDEX_URL'), (NPM, 'PIP_INDEX_URL'),
                                         (PIP, 'PATH'), (NPM, 'LD_PRELOAD')])
def test_an_owner_refuses_another_roles_variables(owner, name):
    with pytest.raises(PolicyError, match="key '%s' is not a variable of %s" % (name, owner.role)):
        owner.check({name: 'x'})


@pytest.mark.parametrize('value', ['https://a/simple/\nLD_PRELOAD=/x', 'https://a/$HOME', 'https://a/#frag', ''])
def test_an_owner_refuses_values_that_break_a_file(value):
    with pytest.raises(PolicyError, match='PIP_INDEX_URL'):
        PIP.check({'PIP_INDEX_URL': value})


def test_two_roles_share_etc_environment_without_touching_each_other_or_the_host():
    host = 'PATH="/usr/bin:/bin"\nLANG=C.UTF-8\n'
    with_go = render_etc_environment(host, {'GOPROXY': 'https://go.corp/', 'GOSUMDB': 'off'})
    with_both = env.render_etc_environment(with_go, {'PIP_INDEX_URL': 'https://pypi.corp/simple/'}, PIP)
    assert with_both == with_go + (
        '# Managed by Ansible (buildfleet.mirrors.python_mirrors): PIP_INDEX_URL\n'
        'PIP_INDEX_URL="https://pypi.corp/simple/"\n')
    # go_proxy drops a variable and then goes: python's lines and the host's stay.
    go_again = render_etc_environment(with_both, {'GOPROXY': 'https://go2.corp/'})
    assert 'GOSUMDB' not in go_again and 'PIP_INDEX_URL="https://pypi.corp/simple/"' in go_again
    go_gone = render_etc_environment(go_again, {})
    assert 'GO' not in go_gone.replace('buildfleet', '')
    assert env.render_etc_environment(go_gone, {}, PIP) == host


def test_plan_writes_only_the_owners_files_and_removes_only_what_it_wrote(tmp_path):
    paths = env.EnvPaths(PIP, str(tmp_path / 'python-mirrors.sh'), str(tmp_path / 'environment'), str(tmp_path))
    files = {paths.etc_environment: 'LANG=C\n', paths.unit_dropin('runner.service').replace(
        'python-mirrors.conf', 'go-proxy.conf'): '# ' + GO_OWNER.header + '\n'}
    values = {'PIP_INDEX_URL': 'https://pypi.corp/simple/', 'UV_DEFAULT_INDEX': 'https://pypi.corp/simple/'}
    targets = env.plan_environment(paths, values, {'profile_d': True, 'etc_environment': True}, ['runner.service'],
                                   files.get, [])
    assert list(targets) == [paths.profile_d, paths.etc_environment, paths.unit_dropin('runner.service')]
    assert 'Environment="PIP_INDEX_URL=https://pypi.corp/simple/"' in targets[paths.unit_dropin('runner.service')]
    files.update(targets)
    removal = env.plan_environment(paths, {}, {'profile_d': True, 'etc_environment': True}, ['runner.service'],
                                   files.get, [paths.unit_dropin('runner.service')])
    assert removal == {paths.profile_d: None, paths.etc_environment: 'LANG=C\n',
                       paths.unit_dropin('runner.service'): None}
    # A profile file of the host's own at that path is not the role's: left alone.
    assert env.plan_environment(paths, {}, {'profile_d': True}, [], {paths.profile_d: 'export A=b\n'}.get, []) == {}


def test_go_plan_is_unchanged_by_the_shared_writer(tmp_path):
    """go_proxy's files keep their bytes: the same header, comments and quoting as before the writer was shared."""
    paths = Paths(str(tmp_path / 'go-proxy.sh'), str(tmp_path / 'environment'), str(tmp_path))
    targets = plan(paths, 'present', {'GOPROXY': 'https://go.corp/,direct', 'GOFLAGS': '-mod=mod -x'},
                   {'profile_d': True, 'systemd_default_environment': True}, ['runner.service'], [],
                   lambda path: None, [])
    assert targets[paths.profile_d] == (
        '# Managed by Ansible (buildfleet.mirrors.go_proxy); local changes are overwritten.\n'
        '# The Go module policy for login shells (/etc/profile sources this file).\n'
        '# Values are shell-quoted; GOFLAGS and a GOSUMDB URL may hold spaces.\n'
        "export GOPROXY=https://go.corp/,direct\nexport GOFLAGS='-mod=mod -x'\n")
    assert targets[paths.manager_dropin].splitlines()[1:5] == [
        '# The Go module policy for every service systemd starts after a daemon-reload.',
        '# Each assignment is double-quoted (GOFLAGS and a GOSUMDB URL may hold spaces);',
        "# '%' is doubled because systemd expands %-specifiers here.", '[Manager]']


def test_a_login_shell_gets_the_profile_it_reads(tmp_path):
    """The real /bin/sh -l of login_shell() reads the profile the shared writer renders (through ENV-free sh)."""
    profile = tmp_path / 'python-mirrors.sh'
    profile.write_text(env.render_profile(PIP, {'PIP_INDEX_URL': 'https://pypi.corp/simple/'}))
    argv = login_shell('. %s; /usr/bin/env' % profile)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    seen = env.parse_env_output(out)
    assert seen['PIP_INDEX_URL'] == 'https://pypi.corp/simple/'
    assert not env.mismatches('login shells', seen, {'PIP_INDEX_URL': 'https://pypi.corp/simple/'}, str)
    assert 'HOME' in seen and seen['HOME'] == '/nonexistent'


def test_pam_session_asks_su_with_an_empty_environment():
    argv = pam_session('/usr/bin/env', 'builder')
    assert argv[:2] == ['/usr/bin/env', '-i'] and argv[-1] == 'builder' and '--command=/usr/bin/env' in argv
    if os.geteuid() == 0 and os.path.exists('/bin/su'):
        out = subprocess.run(pam_session('/usr/bin/env'), capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        seen = env.parse_env_output(out.stdout)
        assert seen.get('HOME') == '/root' and seen.get('SHELL') == '/bin/sh'


def test_environment_mismatches_asks_shells_and_loaded_services_only(tmp_path):
    """One check for every writer: login shell and PAM answers, then what each loaded service will start with."""
    from ansible_collections.buildfleet.mirrors.plugins.module_utils._consumers import environment_mismatches

    paths = env.EnvPaths(PIP, systemd_dir=str(tmp_path))
    wanted = {'PIP_INDEX_URL': 'https://pypi.corp/simple/'}
    answers = {
        'login': (0, 'HOME=/x\nPIP_INDEX_URL=https://pypi.corp/simple/\n', ''),
        'su': (0, 'HOME=/root\n', ''),
        'runner.service': (0, 'LoadState=loaded\nEnvironment="PIP_INDEX_URL=https://pypi.corp/simple/" A=b\n', ''),
        'later.service': (0, 'LoadState=not-found\nEnvironment=\n', ''),
    }
    asked_argv = []

    def run(argv):
        asked_argv.append(argv)
        key = 'su' if '/bin/su' in argv else 'login' if '-l' in argv else argv[-1]
        return answers[key]

    asked, wrong = environment_mismatches(run, wanted, paths, ['runner.service', 'later.service', 'x@.service'],
                                          '/bin/systemctl')
    assert asked == ['login shells (/etc/profile.d/python-mirrors.sh)', 'PAM sessions (/etc/environment)',
                     'the service runner.service (%s)' % paths.unit_dropin('runner.service')]
    assert wrong == ['PAM sessions (/etc/environment) get PIP_INDEX_URL=(unset) instead of https://pypi.corp/simple/']
    assert not any(argv[-1] == 'x@.service' for argv in asked_argv)  # a template has no environment of its own
    asked, wrong = environment_mismatches(run, wanted, paths, ['runner.service'], None, shells=False)
    assert asked == [] and wrong == []
    answers['su'] = (1, '', 'su: Authentication failure')
    with pytest.raises(OSError, match=r'PAM sessions \(/etc/environment\) could not be asked \(rc 1\): su: Auth'):
        environment_mismatches(run, wanted, paths, [], None)
