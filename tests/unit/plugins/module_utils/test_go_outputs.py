# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The outputs of the Go module policy, each in its own syntax, read back by the real parsers where there is one."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    ENVIRONMENT_MARKER,
    GO_ENV_MARKER,
    Paths,
    UnitNameError,
    changed_units,
    is_go_env_version,
    mismatches,
    parse_env_output,
    plan,
    render_etc_environment,
    render_go_env,
    render_manager_dropin,
    render_profile,
    render_unit_dropin,
    service_names,
    unit_patterns,
)

POLICY = {
    'GOPROXY': 'https://goproxy.corp.example.com/?via=ci%2Fagent,direct',
    'GOSUMDB': 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 https://goproxy.corp.example.com/sumdb',
    'GOFLAGS': '-mod=readonly -trimpath',
}
BEGIN = GO_ENV_MARKER.format(mark='BEGIN')
END = GO_ENV_MARKER.format(mark='END')


@pytest.mark.parametrize('shell', ['sh', 'bash'])
def test_profile_gives_a_real_shell_every_value_as_it_is(tmp_path, shell):
    profile = tmp_path / 'go-proxy.sh'
    profile.write_text(render_profile(POLICY))
    script = '. %s && printf "%%s\\n" "$GOPROXY" "$GOSUMDB" "$GOFLAGS"' % profile
    out = subprocess.run([shell, '-c', script], capture_output=True, text=True, check=True, env={'PATH': '/usr/bin:/bin'})
    assert out.stdout.splitlines() == [POLICY['GOPROXY'], POLICY['GOSUMDB'], POLICY['GOFLAGS']]


def test_systemd_outputs_quote_each_assignment_and_double_percent():
    manager = render_manager_dropin(POLICY)
    unit = render_unit_dropin(POLICY)
    assert '[Manager]\n' in manager and '[Service]\n' in unit
    assert 'DefaultEnvironment="GOPROXY=https://goproxy.corp.example.com/?via=ci%%2Fagent,direct"\n' in manager
    assert 'Environment="GOFLAGS=-mod=readonly -trimpath"\n' in unit


def test_etc_environment_replaces_in_place_keeps_other_lines_and_drops_duplicates():
    before = '# Local settings\nLANG="C.UTF-8"\nGOPROXY=https://old.example\nGOAMD64=v2\nexport GOPROXY=https://second.example\n'
    after = render_etc_environment(before, {'GOPROXY': 'https://new.example,direct', 'GOPRIVATE': 'corp.example.com'})
    assert after == (
        '# Local settings\nLANG="C.UTF-8"\nGOPROXY="https://new.example,direct"\nGOAMD64=v2\n'
        '%s GOPROXY GOPRIVATE\nGOPRIVATE="corp.example.com"\n' % ENVIRONMENT_MARKER)
    # Same policy again: the same text.
    assert render_etc_environment(after, {'GOPROXY': 'https://new.example,direct', 'GOPRIVATE': 'corp.example.com'}) == after


def test_etc_environment_forgets_only_the_variables_the_role_owned():
    before = 'LANG=C\n%s GOPROXY GOFLAGS\nGOPROXY="a"\nGOFLAGS="-x"\nGOAMD64=v2\n' % ENVIRONMENT_MARKER
    assert render_etc_environment(before, {'GOPROXY': 'b'}) == 'LANG=C\n%s GOPROXY\nGOPROXY="b"\nGOAMD64=v2\n' % ENVIRONMENT_MARKER
    assert render_etc_environment(before, {}) == 'LANG=C\nGOAMD64=v2\n'


def test_go_env_block_goes_first_and_comes_out_byte_for_byte():
    package = '# This file contains the initial defaults for go command configuration.\nGOPROXY=https://proxy.golang.org,direct\nGOSUMDB=sum.golang.org\n'
    with_policy = render_go_env(package, {'GOPROXY': 'https://a.example,off', 'GOFLAGS': '-mod=mod -x'})
    assert with_policy == '%s\nGOPROXY=https://a.example,off\nGOFLAGS=-mod=mod -x\n%s\n%s' % (BEGIN, END, package)
    # Replaced in place, never a second block.
    again = render_go_env(with_policy, {'GOPROXY': 'https://b.example'})
    assert again == '%s\nGOPROXY=https://b.example\n%s\n%s' % (BEGIN, END, package)
    assert render_go_env(again, {}) == package


@pytest.mark.parametrize('first_line, reads_go_env', [
    ('go1.21.0', True), ('go1.24.4', True), ('go1.100rc1', True), ('go1.19.8', False), ('go1.2', False),
    ('devel go1.23', False),
])
def test_which_go_reads_go_env(first_line, reads_go_env):
    assert is_go_env_version(first_line) is reads_go_env


def test_service_names_add_the_suffix_once_and_refuse_what_is_no_service():
    assert service_names(['gitlab-runner', 'gitlab-runner.service', 'actions-runner@.service']) == [
        'gitlab-runner.service', 'actions-runner@.service']
    for bad in ['../etc/x', 'runner.timer', 'a b', '', '-x']:
        with pytest.raises(UnitNameError, match='go_proxy_systemd_units entry'):
            service_names([bad])


def test_plan_removes_what_is_turned_off_and_leaves_shared_files_it_never_wrote():
    paths = Paths('/p/go-proxy.sh', '/p/environment', '/p/systemd')
    files = {'/p/environment': 'LANG=C\n', '/g/go.env': 'GOPROXY=x\n'}
    targets = plan(paths, 'present', {'GOPROXY': 'https://a.example'},
                   {'profile_d': False, 'etc_environment': False, 'systemd_default_environment': True, 'goroot_env': False},
                   ['lab-runner.service'], ['/g'], files.get, ['/p/systemd/system/old.service.d/go-proxy.conf'])
    assert '/p/go-proxy.sh' not in targets  # not wanted and absent: nothing to remove
    assert '/p/environment' not in targets  # not wanted and holds no line of ours: left alone
    assert '/g/go.env' in targets and targets['/g/go.env'] == 'GOPROXY=x\n'
    assert targets['/p/systemd/system.conf.d/go-proxy.conf'].startswith('# Managed by Ansible')
    assert targets['/p/systemd/system/lab-runner.service.d/go-proxy.conf'].endswith('Environment="GOPROXY=https://a.example"\n')
    assert targets['/p/systemd/system/old.service.d/go-proxy.conf'] is None
    assert changed_units(paths, list(targets)) == ['lab-runner.service', 'old.service']


def test_plan_absent_wants_nothing():
    paths = Paths('/p/go-proxy.sh', '/p/environment', '/p/systemd')
    files = {'/p/environment': 'LANG=C\n%s GOPROXY\nGOPROXY="a"\n' % ENVIRONMENT_MARKER}
    everything = {'profile_d': True, 'etc_environment': True, 'systemd_default_environment': True, 'goroot_env': True}
    targets = plan(paths, 'absent', {'GOPROXY': 'a'}, everything, ['x.service'], [], files.get, [])
    assert targets == {'/p/environment': 'LANG=C\n'}
    files.update({'/p/go-proxy.sh': render_profile({'GOPROXY': 'a'}),
                  '/p/systemd/system.conf.d/go-proxy.conf': render_manager_dropin({'GOPROXY': 'a'})})
    targets = plan(paths, 'absent', {'GOPROXY': 'a'}, everything, ['x.service'], [], files.get, [])
    assert targets == {'/p/go-proxy.sh': None, '/p/environment': 'LANG=C\n', '/p/systemd/system.conf.d/go-proxy.conf': None}


@pytest.mark.parametrize('state, want', [
    ('absent', {'profile_d': True, 'systemd_default_environment': True}),
    ('present', {'profile_d': False, 'systemd_default_environment': False}),
])
def test_plan_never_removes_a_file_without_the_header(state, want):
    """A go-proxy.sh or manager drop-in the host made itself is not the role's to remove."""
    paths = Paths('/p/go-proxy.sh', '/p/environment', '/p/systemd')
    files = {'/p/go-proxy.sh': 'export GOPROXY=https://local.example\n',
             '/p/systemd/system.conf.d/go-proxy.conf': '[Manager]\nDefaultEnvironment=GOFLAGS=-mod=mod\n'}
    targets = plan(paths, state, {'GOPROXY': 'https://a.example'}, dict(want, etc_environment=False, goroot_env=False),
                   [], [], files.get, [])
    assert targets == {}


def test_unit_patterns_and_mismatch_messages():
    assert unit_patterns(['runner@.service', 'x.service']) == ['runner@*.service', 'x.service']
    seen = parse_env_output('HOME=/\nGOPROXY=https://u:secret@other.example\nGOFLAGS=-a=b=c\n')
    assert seen['GOFLAGS'] == '-a=b=c'
    problems = mismatches('login shells', seen, {'GOPROXY': 'https://a.example', 'GOFLAGS': '-a=b=c', 'GOPRIVATE': 'x'},
                          lambda text: text.replace('secret', '********'))
    assert problems == ['login shells get GOPROXY=https://u:********@other.example instead of https://a.example',
                        'login shells get GOPRIVATE=(unset) instead of x']
