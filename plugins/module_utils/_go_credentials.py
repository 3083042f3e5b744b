# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Credentials for Go module proxies and checksum databases, as the go command reads them from a netrc file.

How Go matches a netrc ``machine`` to a request (read in the go command's sources, cmd/go/internal/auth):

- Go 1.13 to 1.23 (Debian 11: 1.15, Debian 12: 1.19) compare it with the URL's host name *without* the port
  (``req.URL.Hostname()``); the first matching line wins.
- Go 1.24 and newer (Debian 13: 1.24) compare it with the URL's host *with* the port as written (``u.Host``,
  golang/go#37130); the first line for a machine wins too.
- Both send the credentials only over https, preemptively, as HTTP basic auth.

So a proxy on a port needs two lines, ``host`` (old Go) and ``host:port`` (Go 1.24+), and a proxy without a port
one. :func:`netrc_machines` gives the lines for a URL, :func:`render_netrc` the whole file.

Go's netrc parser (the same in every version here) splits each line on whitespace and reads the tokens in pairs;
it knows no quoting, no escapes and no comments. A login or password with whitespace cannot be written at all,
and quotes or backslashes would reach Go verbatim while other netrc readers (curl, Python) unquote them: both are
refused. Each check names the variable the caller passes in and never shows a login or a password. Pure Python,
no Ansible import.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    parse_gosumdb,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
    type_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)


CREDENTIAL_KEYS = ('machine', 'login', 'password')

# A DNS name as a proxy URL carries it: labels of letters, digits and inner hyphens (underscores are seen in
# internal names), separated by dots.
_HOST_LABEL = r'[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
_DNS_NAME = re.compile(r'^%s(?:\.%s)*\.?$' % (_HOST_LABEL, _HOST_LABEL))
_PORT = re.compile(r'^[0-9]{1,5}$')

# systemd's strict rule for user and group names (valid_user_group_name without relaxed mode), which is what a
# unit's SupplementaryGroups= and every shadow tool accept: a letter or '_' first, then letters, digits, '_' and
# '-', at most 31 characters (utmp compatibility).
_GROUP_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_-]{0,30}$')

NETRC_HEADER = '# Managed by buildfleet.mirrors go_proxy: edits here are overwritten\n'


@dataclass(frozen=True)
class Machine:
    """A parsed ``machine`` value: the host name (IPv6 without brackets), and the port or None."""

    host: str
    port: int | None

    def matches(self, url_host, url_port):
        """Whether this machine names the endpoint ``url_host``:``url_port`` (the effective port)."""
        return self.host.lower() == url_host.lower() and (self.port is None or self.port == url_port)


@dataclass(frozen=True)
class CredentialTarget:
    """A URL that the go command may send credentials to, and the variable it comes from (for messages)."""

    url: str
    name: str


@dataclass
class GoCredential:
    """One validated entry of the credentials list and the netrc machine lines Go needs for it."""

    machine: str
    login: str = field(repr=False)
    password: str = field(repr=False)
    netrc_machines: list = field(default_factory=list)
    urls: list = field(default_factory=list)

    def as_dict(self):
        return {'machine': self.machine, 'login': self.login, 'password': self.password,
                'netrc_machines': list(self.netrc_machines), 'urls': list(self.urls)}


def _entry_subject(name, index, machine=None):
    """'go_proxy_credentials[0] (machine 'goproxy.corp.example.com')': never a login or a password."""
    subject = '%s[%d]' % (name, index)
    if isinstance(machine, str) and machine:
        subject += ' (machine %s)' % show(machine)
    return subject


def parse_machine(value, subject):
    """Parse a machine value, ``host`` or ``host:port`` (``[v6]`` or ``[v6]:port`` for IPv6); return a Machine."""
    if not isinstance(value, str) or not value:
        raise PolicyError('%s machine must be a host name or host:port, got %s'
                          % (subject, 'nothing' if value in (None, '') else show(value)))
    # From here on, ``subject`` shows the machine: 'go_proxy_credentials[0] (machine 'x')'.
    if '://' in value or '/' in value or '@' in value:
        raise PolicyError('%s: a machine is a host name or host:port, such as goproxy.corp.example.com or '
                          'goproxy.corp.example.com:8443, without a scheme, a path or credentials' % subject)
    port = None
    if value.startswith('['):
        close = value.find(']')
        host, rest = value[1:close], value[close + 1:] if close != -1 else ''
        if close == -1 or (rest and not rest.startswith(':')):
            raise PolicyError('%s: the machine has a malformed IPv6 literal; write [address] or [address]:port'
                              % subject)
        port_text = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise PolicyError('%s: the machine is not an IPv6 address in brackets' % subject) from None
    else:
        host, dummy, port_text = value.partition(':')
        port_text = port_text if dummy else None
        if not _DNS_NAME.match(host):
            raise PolicyError('%s: the machine is not a host name or host:port (letters, digits, dots and '
                              'hyphens, then an optional :port)' % subject)
    if port_text is not None:
        if not _PORT.match(port_text) or not 0 < int(port_text) < 65536:
            raise PolicyError('%s: the machine has a port that is not a number from 1 to 65535' % subject)
        port = int(port_text)
    return Machine(host.rstrip('.'), port)


def _netrc_token_problem(value):
    """Why a login or password cannot be written as one token of a netrc line that every reader agrees on."""
    if not isinstance(value, str):
        return 'must be a string (quote it in YAML), got a %s' % type_name(value)
    if not value:
        return 'is empty; Go sends netrc credentials only for a machine with both a login and a password'
    for char in value:
        if char.isspace():
            return ("contains whitespace, which Go's netrc parser reads as the end of the value (it knows no "
                    'quoting); a netrc file cannot carry it')
        if unicodedata.category(char) in ('Cc', 'Cf'):
            return 'contains a control character'
        if char in '"\'\\':
            return ('contains a quote or a backslash, which Go reads verbatim while curl and Python unquote it, '
                    'so they would send different credentials')
    if value.startswith('#'):
        return "starts with '#', which netrc readers other than Go take for a comment"
    return None


def _url_endpoint(url):
    """(scheme, host name, effective port, host as written) of an http(s) URL, or None if it has no host.

    The host name is what Go's ``URL.Hostname()`` gives (no port, no IPv6 brackets), the host as written what
    its ``URL.Host`` holds (with the port, if the URL has one).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.rpartition('@')[2]
    if scheme not in ('https', 'http') or not netloc:
        return None
    if netloc.startswith('['):
        close = netloc.find(']')
        if close == -1:
            return None
        hostname, port_text = netloc[1:close], netloc[close + 2:] if netloc[close + 1:close + 2] == ':' else ''
    else:
        hostname, dummy, port_text = netloc.partition(':')
    if not hostname or (port_text and not _PORT.match(port_text)):
        return None
    port = int(port_text) if port_text else (443 if scheme == 'https' else 80)
    return scheme, hostname, port, netloc


def _is_host_name_line(line):
    """Whether a netrc machine line is the port-less form that Go before 1.24 matches."""
    if line.startswith('['):
        return False
    try:
        ipaddress.IPv6Address(line)
        return True
    except ValueError:
        return ':' not in line


def netrc_machines(url):
    """The netrc ``machine`` values the go command of every version matches against a request to ``url``.

    ``host`` for Go 1.13 to 1.23 (``URL.Hostname()``: no port, no brackets), and the host as written in the URL
    (``URL.Host``: with its port) for Go 1.24 and newer; one value when the two are the same.
    """
    endpoint = _url_endpoint(url)
    if endpoint is None:
        return []
    dummy, hostname, dummy_port, netloc = endpoint
    return [hostname] if netloc == hostname else [hostname, netloc]


def refuse_credentials_in_urls(targets, variable='go_proxy_credentials'):
    """Refuse user info in the URLs that Go fetches from: credentials go into ``variable``, the netrc file.

    A URL with ``user:password@`` lands in world-readable files (/etc/profile.d, /etc/environment) and in
    ``systemctl show``; the netrc file, readable by root and one group, is the one place for credentials.
    ``targets`` are :class:`CredentialTarget` items; the message shows the URL redacted.
    """
    for target in targets:
        if isinstance(target.url, str) and '***@' in redact_url(target.url):
            raise PolicyError('%s carries credentials in the URL (%s); give them in %s instead (machine, login, '
                              'password): a URL is written to files every user can read and shown by '
                              'systemctl show' % (target.name, show(target.url), variable))


def validate_go_credentials(credentials, targets, name='go_proxy_credentials'):
    """Validate a list of ``{machine, login, password}``; return a list of :class:`GoCredential`.

    ``targets`` are the :class:`CredentialTarget` URLs of the policy (the proxies, the checksum database).
    Each machine is ``host`` or ``host:port`` and must name the host (and port, when given: an URL without one
    has 443) of at least one ``https://`` target, since Go sends netrc credentials over https only; each
    credential's ``netrc_machines`` holds the lines Go needs for the targets it names, ``urls`` those targets.
    Two entries for the same endpoint, or entries that would give Go before 1.24 two different logins for one
    host (it ignores ports), are refused. ``None`` or an empty list means no credentials (``[]``). Messages
    name ``name``, the entry's index and its machine, never a login or a password.
    """
    if credentials is None or credentials == []:
        return []
    if not isinstance(credentials, (list, tuple)):
        raise PolicyError('%s must be a list of {machine, login, password}, got a %s'
                          % (name, type_name(credentials)))
    endpoints = []
    for target in targets:
        endpoint = _url_endpoint(target.url) if isinstance(target.url, str) else None
        if endpoint is not None:
            endpoints.append((target, endpoint))
    https_hosts = sorted(set(netrc_machines(target.url)[-1] for target, endpoint in endpoints
                             if endpoint[0] == 'https'))

    validated = []
    for index, entry in enumerate(credentials):
        if not isinstance(entry, dict):
            raise PolicyError('%s must be a dict with machine, login and password, got a %s'
                              % (_entry_subject(name, index), type_name(entry)))
        machine_value = entry.get('machine')
        subject = _entry_subject(name, index, machine_value)
        unknown = sorted(str(key) for key in entry if key not in CREDENTIAL_KEYS)
        if unknown:
            raise PolicyError('%s has the unknown key(s) %s; an entry has exactly machine, login and password'
                              % (subject, ', '.join(repr(key) for key in unknown)))
        machine = parse_machine(machine_value, subject)
        for key in ('login', 'password'):
            if key not in entry or entry[key] is None:
                raise PolicyError('%s has no %s; Go sends netrc credentials only for a machine with both a login '
                                  'and a password' % (subject, key))
            problem = _netrc_token_problem(entry[key])
            if problem:
                raise PolicyError('%s %s %s' % (subject, key, problem))

        matched = [(target, endpoint) for target, endpoint in endpoints if machine.matches(endpoint[1], endpoint[2])]
        secure = [(target, endpoint) for target, endpoint in matched if endpoint[0] == 'https']
        if not secure:
            if matched:
                raise PolicyError('%s names only plain http URLs (%s); Go sends netrc credentials over https only, '
                                  'so make the mirror https or drop the entry'
                                  % (subject, ', '.join('%s %s' % (target.name, show(target.url))
                                                        for target, dummy in matched)))
            raise PolicyError('%s matches no https:// proxy or checksum database of the policy, so Go would never '
                              'send it; the https hosts are: %s'
                              % (subject, ', '.join(https_hosts) if https_hosts else 'none'))
        lines = []
        for target, dummy in secure:
            for line in netrc_machines(target.url):
                if line not in lines:
                    lines.append(line)
        validated.append(GoCredential(machine_value, entry['login'], entry['password'], lines,
                                      [redact_url(target.url) for target, dummy in secure]))
    _refuse_conflicts(validated, name)
    return validated


def _refuse_conflicts(validated, name):
    """Two entries giving one netrc machine different credentials: Go would use the first for both."""
    owner = {}
    for index, credential in enumerate(validated):
        for line in credential.netrc_machines:
            if line not in owner:
                owner[line] = index
                continue
            other = validated[owner[line]]
            if (other.login, other.password) == (credential.login, credential.password):
                continue
            old_go = _is_host_name_line(line)
            raise PolicyError(
                '%s and %s both give credentials for %s%s; Go uses only the first, so give one entry per host%s'
                % (_entry_subject(name, owner[line], other.machine), _entry_subject(name, index, credential.machine),
                   show(line), ' (Go before 1.24 ignores the port: one login per host name)' if old_go else '',
                   ' name' if old_go else ''))


def render_netrc(credentials):
    """The netrc text for validated credentials: one line per machine Go needs, sorted, ending with a newline.

    ``credentials`` are :class:`GoCredential` items (or their :meth:`GoCredential.as_dict`). Lines shared by two
    entries with the same login and password are written once. The header comment holds no netrc keyword, so
    Go's pairwise parser, which does not know comments, reads nothing from it. An empty list gives the header
    alone.
    """
    lines = {}
    for credential in credentials:
        if isinstance(credential, dict):
            credential = GoCredential(credential['machine'], credential['login'], credential['password'],
                                      list(credential['netrc_machines']))
        for machine in credential.netrc_machines:
            lines.setdefault(machine, 'machine %s login %s password %s\n'
                             % (machine, credential.login, credential.password))
    return NETRC_HEADER + ''.join(lines[machine] for machine in sorted(lines))


def credentials_for_url(url, credentials):
    """The (login, password) Go sends with a request to ``url``, or None: what a gate probe should send.

    Validated credentials agree between Go versions, so this follows Go 1.24+ (host with port as written) and
    falls back to the host name (Go before 1.24). Plain http gets nothing, as in Go.
    """
    endpoint = _url_endpoint(url) if isinstance(url, str) else None
    if endpoint is None or endpoint[0] != 'https':
        return None
    dummy, hostname, dummy_port, netloc = endpoint
    for wanted in (netloc, hostname):
        for credential in credentials:
            if isinstance(credential, dict):
                machines, login, password = credential['netrc_machines'], credential['login'], credential['password']
            else:
                machines, login, password = credential.netrc_machines, credential.login, credential.password
            if wanted in machines:
                return login, password
    return None


_SAFE_PATH = re.compile(r'^(/[A-Za-z0-9._-]+)+$')


def _checked_path(path):
    if not isinstance(path, str) or not _SAFE_PATH.match(path) or '/../' in path + '/' or '/./' in path + '/':
        raise PolicyError('the netrc path %s must be absolute and hold only letters, digits, ., _, - and /'
                          % show(path))
    return path


def render_netrc_profile(path, header=True):
    """A /etc/profile.d snippet that sets NETRC to ``path`` only for a user who can read the file.

    Go 1.24 and newer fail to load an unreadable NETRC (quietly in 1.24.4, fatally in a 1.24 pre-release), and
    any NETRC hides the user's own ~/.netrc from Go: so a user outside the group keeps Go's default. A NETRC
    the user set to another file is kept; one inherited for this file (``su`` from a member) is dropped when
    the new user cannot read it. POSIX sh, no bashism. ``header=False`` leaves out the managed-by line, for a
    file that has its own.
    """
    path = _checked_path(path)
    return (('# ' + NETRC_HEADER[2:] if header else '')
            + '# Go proxy credentials: NETRC only for those who can read the file (group members and root), so that\n'
            '# nobody else is pointed at a file Go cannot read or loses the ~/.netrc Go reads by default.\n'
            'if [ -r %s ]; then\n'
            '    if [ -z "${NETRC:-}" ]; then\n'
            '        NETRC=%s\n'
            '        export NETRC\n'
            '    fi\n'
            'elif [ "${NETRC:-}" = %s ]; then\n'
            '    unset NETRC\n'
            'fi\n' % (path, path, path))


def netrc_unit_lines(path, group=None):
    """The [Service] assignments that give one systemd service the credentials, whatever user it runs as.

    ``Environment=NETRC=`` points Go at the file, ``SupplementaryGroups=`` (with a group) lets a service that
    runs as another user read it. Both take effect at the service's next start. Never for the manager's
    DefaultEnvironment: every other service would be pointed at a file it cannot read.
    """
    path = _checked_path(path)
    lines = ['Environment="NETRC=%s"' % path]
    if group is not None:
        lines.append('SupplementaryGroups=%s' % validate_group_name(group))
    return lines


def render_netrc_unit_dropin(path, group=None):
    """A whole drop-in with :func:`netrc_unit_lines` under its own header and ``[Service]``."""
    lines = ['# ' + NETRC_HEADER[2:].rstrip('\n'), '[Service]'] + netrc_unit_lines(path, group)
    return '\n'.join(lines) + '\n'


def is_our_netrc(text):
    """Whether a netrc file's text is one this collection wrote (its first line is the header)."""
    return isinstance(text, str) and text.startswith(NETRC_HEADER)


_NETRC_PASSWORD = re.compile(r'((?:^|\s)password\s+)(\S+)', re.MULTILINE)


def mask_netrc(text):
    """A netrc text with every password replaced by ``********``: what a diff may show (logins and machines stay)."""
    if not text:
        return text
    return _NETRC_PASSWORD.sub(lambda match: match.group(1) + '********', text)


def policy_targets(environment, extra_urls=()):
    """The :class:`CredentialTarget` URLs of a Go environment: each GOPROXY proxy, the GOSUMDB URL, ``extra_urls``.

    ``environment`` is the dict of GO* variables the writer gets; ``extra_urls`` are proxies the gate left out of
    GOPROXY (their credentials stay valid for the next run). Keywords (``direct``, ``off``) are no URLs.
    """
    targets = []
    for url in re.split(r'[,|]', environment.get('GOPROXY') or ''):
        if url and url not in ('direct', 'off'):
            targets.append(CredentialTarget(url, 'GOPROXY entry'))
    sumdb = environment.get('GOSUMDB')
    if sumdb and sumdb != 'off':
        parsed = parse_gosumdb(sumdb, 'GOSUMDB')
        if parsed is not None:
            targets.append(CredentialTarget(parsed.url, 'GOSUMDB URL'))
    for url in extra_urls:
        targets.append(CredentialTarget(url, 'pruned proxy'))
    return targets


def validate_group_name(value, name='go_proxy_credentials_group'):
    """Check the syntax of a group name (whether it exists is for the host to say); return it, or None if unset."""
    if value is None or value == '':
        return None
    if not isinstance(value, str):
        raise PolicyError('%s must be a group name (a string), got %s' % (name, show(value)))
    if value.isdigit() or not _GROUP_NAME.match(value):
        raise PolicyError('%s %s is not a group name: a letter or _ first, then letters, digits, _ and -, at most '
                          '31 characters (a numeric GID is not accepted)' % (name, show(value)))
    return value
