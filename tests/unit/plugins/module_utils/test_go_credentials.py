# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Go proxy credentials: validation, the netrc lines Go needs, the rendered file read back by real parsers.

test_go_credentials_real_go.py shows the rendered file to real go commands.
"""

from __future__ import annotations

import netrc
import os
import shutil
import subprocess
import tempfile

from pathlib import Path

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    credentials_for_url,
    netrc_machines,
    NETRC_HEADER,
    parse_machine,
    PolicyError,
    refuse_credentials_in_urls,
    render_netrc,
    render_netrc_profile,
    render_netrc_unit_dropin,
    validate_go_credentials,
    validate_group_name,
)

SECRET = 'Zq8-Secret.Value'
LOGIN = 'ci-login-Kx3'
PROXY = 'https://goproxy.corp.example.com'
PORTED = 'https://athens.corp.example.com:8443/go'
SUMDB = 'https://sum.corp.example.com'
PLAIN = 'http://plain.corp.example.com'
TARGETS = [CredentialTarget(PROXY, 'go_proxy_urls entry'), CredentialTarget(PORTED, 'go_proxy_urls entry'),
           CredentialTarget(PLAIN, 'go_proxy_urls entry'), CredentialTarget(SUMDB, 'go_proxy_sumdb URL')]


def entry(machine, login=LOGIN, password=SECRET):
    return {'machine': machine, 'login': login, 'password': password}


def refused(credentials, targets=tuple(TARGETS)):
    with pytest.raises(PolicyError) as caught:
        validate_go_credentials(credentials, targets, 'go_proxy_credentials')
    message = str(caught.value)
    assert SECRET not in message and LOGIN not in message
    return message


def go_parse_netrc(text):
    """The go command's parseNetrc (cmd/go/internal/auth/netrc.go, the same in Go 1.15, 1.19 and 1.24), ported.

    Each line is split on whitespace and read in pairs; no quoting, no comments.
    """
    lines, current, in_macro = [], {}, False
    for line in text.split('\n'):
        if in_macro:
            in_macro = line != ''
            continue
        fields = line.split()
        index = 0
        while index < len(fields) - 1:
            key, value = fields[index], fields[index + 1]
            if key == 'machine':
                current = {'machine': value}
            elif key in ('login', 'password'):
                current[key] = value
            elif key == 'macdef':
                in_macro = True
            if current.get('machine') and current.get('login') and current.get('password'):
                lines.append((current['machine'], current['login'], current['password']))
                current = {}
            index += 2
        if index < len(fields) and fields[index] == 'default':
            break
    return lines


# ---------------------------------------------------------------------------
# machine values and the lines Go matches
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('url, lines', [
    ('https://goproxy.corp.example.com', ['goproxy.corp.example.com']),
    ('https://goproxy.corp.example.com/', ['goproxy.corp.example.com']),
    ('https://goproxy.corp.example.com:8443/go', ['goproxy.corp.example.com', 'goproxy.corp.example.com:8443']),
    ('https://goproxy.corp.example.com:443', ['goproxy.corp.example.com', 'goproxy.corp.example.com:443']),
    ('https://127.0.0.1:15443', ['127.0.0.1', '127.0.0.1:15443']),
    ('https://[fd00::1]:8443/', ['fd00::1', '[fd00::1]:8443']),
    ('https://[fd00::1]/', ['fd00::1', '[fd00::1]']),
    ('https://u:p@goproxy.corp.example.com:8443', ['goproxy.corp.example.com', 'goproxy.corp.example.com:8443']),
    ('file:///srv/goproxy', []),
])
def test_netrc_machines_are_what_each_go_version_compares(url, lines):
    """Go < 1.24 compares URL.Hostname() (no port, no brackets), Go 1.24+ URL.Host (as written, with the port)."""
    assert netrc_machines(url) == lines


@pytest.mark.parametrize('value, host, port', [
    ('goproxy.corp.example.com', 'goproxy.corp.example.com', None),
    ('goproxy.corp.example.com:8443', 'goproxy.corp.example.com', 8443),
    ('127.0.0.1:15443', '127.0.0.1', 15443),
    ('[fd00::1]:8443', 'fd00::1', 8443),
    ('[fd00::1]', 'fd00::1', None),
    ('goproxy', 'goproxy', None),
])
def test_parse_machine(value, host, port):
    machine = parse_machine(value, 'x')
    assert (machine.host, machine.port) == (host, port)


@pytest.mark.parametrize('value, message', [
    ('https://goproxy.corp.example.com', 'without a scheme, a path or credentials'),
    ('goproxy.corp.example.com/go', 'without a scheme, a path or credentials'),
    ('ci@goproxy.corp.example.com', 'without a scheme, a path or credentials'),
    ('goproxy.corp.example.com:0', 'not a number from 1 to 65535'),
    ('goproxy.corp.example.com:99999', 'not a number from 1 to 65535'),
    ('goproxy.corp.example.com:https', 'not a number from 1 to 65535'),
    ('goproxy corp', "(machine 'goproxy corp'): the machine is not a host name or host:port"),
    ('-goproxy.corp', 'is not a host name or host:port'),
    ('[fd00::1', 'malformed IPv6 literal'),
    ('[nothost]:1', 'is not an IPv6 address'),
    ('', 'machine must be a host name or host:port, got nothing'),
    (None, 'machine must be a host name or host:port, got nothing'),
    (8443, 'machine must be a host name or host:port, got 8443 (a int)'),
])
def test_a_bad_machine_is_refused_with_its_entry(value, message):
    text = refused([entry(value)])
    assert text.startswith('go_proxy_credentials[0]')
    assert message in text


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def test_a_host_machine_covers_the_host_on_every_port_of_the_policy():
    first, = validate_go_credentials([entry('athens.corp.example.com')], TARGETS)
    assert first.netrc_machines == ['athens.corp.example.com', 'athens.corp.example.com:8443']
    assert first.urls == [PORTED]
    assert 'Zq8' not in repr(first)  # the dataclass repr hides the secrets


def test_a_host_port_machine_names_that_port_only_and_443_is_the_https_default():
    ported, = validate_go_credentials([entry('athens.corp.example.com:8443')], TARGETS)
    assert ported.netrc_machines == ['athens.corp.example.com', 'athens.corp.example.com:8443']
    default, = validate_go_credentials([entry('goproxy.corp.example.com:443')], TARGETS)
    assert default.netrc_machines == ['goproxy.corp.example.com']
    assert 'matches no https:// proxy' in refused([entry('athens.corp.example.com:9443')])


def test_machines_match_host_names_without_regard_to_case():
    credential, = validate_go_credentials([entry('GoProxy.Corp.Example.com')], TARGETS)
    assert credential.netrc_machines == ['goproxy.corp.example.com']  # as the URL writes it: Go compares exactly


def test_the_checksum_database_is_a_target_too():
    credential, = validate_go_credentials([entry('sum.corp.example.com')], TARGETS)
    assert credential.urls == [SUMDB]


@pytest.mark.parametrize('credentials', [None, []])
def test_no_credentials(credentials):
    assert validate_go_credentials(credentials, TARGETS) == []


@pytest.mark.parametrize('credentials, message', [
    ([entry('nowhere.corp.example.com')],
     "go_proxy_credentials[0] (machine 'nowhere.corp.example.com') matches no https:// proxy or checksum database "
     'of the policy, so Go would never send it; the https hosts are: athens.corp.example.com:8443, '
     'goproxy.corp.example.com, sum.corp.example.com'),
    ([entry('plain.corp.example.com')],
     "go_proxy_credentials[0] (machine 'plain.corp.example.com') names only plain http URLs (go_proxy_urls entry "
     "'http://plain.corp.example.com'); Go sends netrc credentials over https only"),
    ('goproxy.corp.example.com ci ' + SECRET, 'go_proxy_credentials must be a list of {machine, login, password}, '
                                              'got a str'),
    ({'machine': PROXY[8:]}, 'go_proxy_credentials must be a list'),
    ([SECRET], 'go_proxy_credentials[0] must be a dict with machine, login and password, got a str'),
    ([dict(entry(PROXY[8:]), passwd=SECRET)], "has the unknown key(s) 'passwd'"),
    ([{'machine': PROXY[8:], 'login': LOGIN}], "go_proxy_credentials[0] (machine 'goproxy.corp.example.com') has no "
                                               'password'),
    ([entry(PROXY[8:], password=None)], 'has no password'),
    ([entry(PROXY[8:], login='')], 'login is empty'),
    ([entry(PROXY[8:], password=123456)], 'password must be a string (quote it in YAML), got a int'),
    ([entry(PROXY[8:], password='Zq8 Secret')], 'password contains whitespace'),
    ([entry(PROXY[8:], password='Zq8-Secret\n')], 'password contains whitespace'),
    ([entry(PROXY[8:], password='Zq8\u00a0Secret')], 'password contains whitespace'),
    ([entry(PROXY[8:], password='Zq8\x00Secret')], 'password contains a control character'),
    ([entry(PROXY[8:], password='"Zq8-Secret"')], 'password contains a quote or a backslash'),
    ([entry(PROXY[8:], password="Zq8'Secret")], 'password contains a quote or a backslash'),
    ([entry(PROXY[8:], password='Zq8\\Secret')], 'password contains a quote or a backslash'),
    ([entry(PROXY[8:], login='ci login')], 'login contains whitespace'),
    ([entry(PROXY[8:], password='#Zq8Secret')], "starts with '#'"),
])
def test_refusals_name_the_entry_and_never_show_a_login_or_password(credentials, message):
    text = refused(credentials)
    assert message in text
    assert 'Zq8' not in text


def test_two_logins_for_one_endpoint_are_refused():
    message = refused([entry('goproxy.corp.example.com'), entry('goproxy.corp.example.com:443', login='other')])
    assert message == (
        "go_proxy_credentials[0] (machine 'goproxy.corp.example.com') and go_proxy_credentials[1] (machine "
        "'goproxy.corp.example.com:443') both give credentials for 'goproxy.corp.example.com' (Go before 1.24 "
        'ignores the port: one login per host name); Go uses only the first, so give one entry per host name')


def test_two_ports_of_one_host_need_one_login_because_old_go_ignores_ports():
    targets = [CredentialTarget('https://m.corp.example.com:8443', 'go_proxy_urls entry'),
               CredentialTarget('https://m.corp.example.com:9443', 'go_proxy_urls entry')]
    message = refused([entry('m.corp.example.com:8443'), entry('m.corp.example.com:9443', password='other')], targets)
    assert "both give credentials for 'm.corp.example.com' (Go before 1.24 ignores the port" in message
    same = validate_go_credentials([entry('m.corp.example.com:8443'), entry('m.corp.example.com:9443')], targets)
    assert render_netrc(same).count('machine m.corp.example.com login') == 1


def test_userinfo_in_a_policy_url_is_refused_redacted():
    targets = [CredentialTarget('https://ci:Zq8-Secret@goproxy.corp.example.com', 'go_proxy_urls entry')]
    with pytest.raises(PolicyError) as caught:
        refuse_credentials_in_urls(targets)
    assert str(caught.value).startswith("go_proxy_urls entry carries credentials in the URL "
                                        "('https://***@goproxy.corp.example.com')")
    assert 'Zq8' not in str(caught.value)
    refuse_credentials_in_urls([CredentialTarget(PROXY + '/@v/list', 'go_proxy_urls entry')])  # '@' in a path


# ---------------------------------------------------------------------------
# the netrc text
# ---------------------------------------------------------------------------

CREDENTIALS = [entry('goproxy.corp.example.com'), entry('athens.corp.example.com:8443', 'athens', 'Pw2'),
               entry('sum.corp.example.com', 'sum', 'Pw3')]


def test_render_netrc_writes_every_line_go_needs_sorted():
    text = render_netrc(validate_go_credentials(CREDENTIALS, TARGETS))
    assert text == NETRC_HEADER + (
        'machine athens.corp.example.com login athens password Pw2\n'
        'machine athens.corp.example.com:8443 login athens password Pw2\n'
        'machine goproxy.corp.example.com login %s password %s\n'
        'machine sum.corp.example.com login sum password Pw3\n' % (LOGIN, SECRET))


def test_render_netrc_is_deterministic_and_takes_dicts_too():
    validated = validate_go_credentials(CREDENTIALS, TARGETS)
    assert render_netrc(validated) == render_netrc(list(reversed(validated)))
    assert render_netrc(validated) == render_netrc([credential.as_dict() for credential in validated])
    assert render_netrc([]) == NETRC_HEADER


def test_go_and_python_read_the_rendered_file_alike(tmp_path):
    """Go's pairwise parser sees the header as noise; Python's netrc (as curl) skips it as a comment."""
    text = render_netrc(validate_go_credentials(CREDENTIALS, TARGETS))
    go_lines = go_parse_netrc(text)
    assert [machine for machine, dummy, dummy in go_lines] == [
        'athens.corp.example.com', 'athens.corp.example.com:8443', 'goproxy.corp.example.com', 'sum.corp.example.com']
    assert go_lines[2] == ('goproxy.corp.example.com', LOGIN, SECRET)
    path = tmp_path / 'netrc'
    path.write_text(text)
    path.chmod(0o600)
    parsed = netrc.netrc(str(path))
    assert parsed.authenticators('goproxy.corp.example.com') == (LOGIN, '', SECRET)
    assert sorted(parsed.hosts) == sorted(machine for machine, dummy, dummy in go_lines)


def test_credentials_for_url_is_what_go_sends():
    validated = validate_go_credentials(CREDENTIALS, TARGETS)
    assert credentials_for_url(PROXY + '/corp.example.com/lib/@v/list', validated) == (LOGIN, SECRET)
    assert credentials_for_url('https://athens.corp.example.com:8443/go/x/@v/list', validated) == ('athens', 'Pw2')
    assert credentials_for_url('https://athens.corp.example.com/go', validated) == ('athens', 'Pw2')  # old Go would
    assert credentials_for_url('http://goproxy.corp.example.com/', validated) is None
    assert credentials_for_url('https://elsewhere.example.com/', validated) is None


# ---------------------------------------------------------------------------
# the group
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (None, None), ('', None), ('go-mirror', 'go-mirror'), ('_builders', '_builders'),
    ('Build_Users-2', 'Build_Users-2'), ('g' * 31, 'g' * 31),
])
def test_group_names(value, expected):
    assert validate_group_name(value) == expected


@pytest.mark.parametrize('value', ['1000', 'go mirror', '-go', 'go$', 'go;id', 'g' * 32, 'go.mirror', '2go', 'gö'])
def test_bad_group_names(value):
    with pytest.raises(PolicyError) as caught:
        validate_group_name(value)
    assert str(caught.value).startswith('go_proxy_credentials_group ')
    assert 'is not a group name' in str(caught.value)


def test_a_group_must_be_a_string():
    with pytest.raises(PolicyError, match=r'go_proxy_credentials_group must be a group name \(a string\), got 100'):
        validate_group_name(100)


# ---------------------------------------------------------------------------
# delivery: the profile.d snippet (run by a real sh, as root and as a user who cannot read the file)
# ---------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('setpriv'),
                                reason='needs root and setpriv to run sh as another user')


@pytest.fixture
def shared_dir():
    """A directory other users can enter (pytest's tmp_path is closed to them)."""
    base = Path(tempfile.mkdtemp(prefix='buildfleet-gocreds-'))
    base.chmod(0o755)
    yield base
    shutil.rmtree(str(base), ignore_errors=True)


def netrc_seen_by(snippet, user=None, inherited=None):
    """What NETRC is after a login shell of ``user`` sources the snippet ('unset' when it is not set)."""
    environment = {'PATH': '/usr/bin:/bin'}
    if inherited is not None:
        environment['NETRC'] = inherited
    command = ['sh', '-c', '. "$0"; printf %s "${NETRC-unset}"', str(snippet)]
    if user is not None:
        command = ['setpriv', '--reuid=' + user, '--regid=nogroup', '--clear-groups', '--'] + command
    return subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=60).stdout


@needs_root
def test_the_profile_snippet_points_only_readers_at_the_file(shared_dir):
    credentials = shared_dir / 'netrc'
    credentials.write_text(render_netrc([]))
    credentials.chmod(0o640)  # root:root here; the role makes it root:<group>
    snippet = shared_dir / 'go-proxy-netrc.sh'
    snippet.write_text(render_netrc_profile(str(credentials)))
    snippet.chmod(0o644)
    assert netrc_seen_by(snippet) == str(credentials)
    assert netrc_seen_by(snippet, 'nobody') == 'unset'
    # 'su' (no dash) from a member to an outsider carries NETRC along: the outsider's login shell drops it
    assert netrc_seen_by(snippet, 'nobody', inherited=str(credentials)) == 'unset'
    # a NETRC the user chose for another file is theirs
    assert netrc_seen_by(snippet, 'nobody', inherited='/home/other/.netrc') == '/home/other/.netrc'
    assert netrc_seen_by(snippet, inherited='/root/own.netrc') == '/root/own.netrc'
    credentials.chmod(0o644)  # once readable, the outsider gets it too: readability is the only test
    assert netrc_seen_by(snippet, 'nobody') == str(credentials)


def test_the_profile_snippet_is_plain_posix_sh(shared_dir):
    snippet = shared_dir / 'go-proxy-netrc.sh'
    snippet.write_text(render_netrc_profile('/etc/go-proxy/netrc'))
    for shell in ('sh', 'dash', 'bash'):
        if shutil.which(shell):
            subprocess.run([shell, '-n', str(snippet)], check=True, timeout=60)
    assert netrc_seen_by(snippet) in ('unset', '/etc/go-proxy/netrc')


def test_the_unit_dropin():
    assert render_netrc_unit_dropin('/etc/go-proxy/netrc', 'go-mirror').splitlines()[1:] == [
        '[Service]', 'Environment="NETRC=/etc/go-proxy/netrc"', 'SupplementaryGroups=go-mirror']
    assert 'SupplementaryGroups' not in render_netrc_unit_dropin('/etc/go-proxy/netrc')


@pytest.mark.parametrize('path', ['etc/netrc', '/etc/go proxy/netrc', '/etc/$HOME/netrc', '/etc/../netrc', '/', ''])
def test_delivery_paths_must_be_plain_and_absolute(path):
    with pytest.raises(PolicyError, match='must be absolute'):
        render_netrc_profile(path)
    with pytest.raises(PolicyError, match='must be absolute'):
        render_netrc_unit_dropin(path)
