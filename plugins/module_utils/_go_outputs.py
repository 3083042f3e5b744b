# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the go_policy module writes: each output of the Go module policy, in its own syntax, and the plan of a run.

Pure functions on strings and paths, no I/O, so that unit tests hit them
directly. The module (plugins/modules/go_policy.py) reads the host, asks
plan() what to write, writes it, and verifies it with the real consumers.
"""

from __future__ import annotations

import os
import re
import shlex

from dataclasses import dataclass

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    is_our_netrc,
    netrc_unit_lines,
    render_netrc_profile,
)

HEADER = 'Managed by Ansible (buildfleet.mirrors.go_proxy); local changes are overwritten.'
# The comment line in /etc/environment that lists the variables the role owns,
# so that a variable dropped from the policy (or state absent) removes only ours.
ENVIRONMENT_MARKER = '# Managed by Ansible (buildfleet.mirrors.go_proxy):'
GO_ENV_MARKER = '# {mark} buildfleet.mirrors.go_proxy (Managed by Ansible; in go.env the first value of a variable wins)'
DROPIN_NAME = 'go-proxy.conf'

# A systemd service name that may be used in a path: no '/', no '..', no escapes. Matched whole
# (fullmatch; '$' would let a trailing newline through).
UNIT_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9:_.@-]*')
NON_SERVICE_SUFFIX = re.compile(r'\.(socket|timer|target|mount|automount|path|slice|scope|device|swap)$')
# The first line of $GOROOT/VERSION of Go 1.21 and newer (go1.21.0, go1.24.4, go1.100rc1).
GO_ENV_VERSION = re.compile(r'^go1\.(2[1-9]|[3-9][0-9]|[1-9][0-9]{2,})([.a-z]|$)')
_ASSIGNMENT = re.compile(r'^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=')


class UnitNameError(ValueError):
    pass


def service_names(units, name='go_proxy_systemd_units'):
    """Unit names with their .service suffix, in order, each once; refuses names that are no service.

    ``units`` is a list: a string is refused, never read letter by letter as a list of one-letter units.
    """
    if isinstance(units, (str, bytes)) or not isinstance(units, (list, tuple, type(None))):
        raise UnitNameError('%s must be a list of service names, such as [gitlab-runner], got %r (a %s)'
                            % (name, str(units) if isinstance(units, str) else units,
                               'string' if isinstance(units, (str, bytes))
                               else 'dict' if isinstance(units, dict) else type(units).__name__))
    services = []
    for unit in units or []:
        if not isinstance(unit, str) or not UNIT_NAME.fullmatch(unit) or NON_SERVICE_SUFFIX.search(unit):
            raise UnitNameError(
                "%s entry %r is not a service name such as gitlab-runner, gitlab-runner.service or "
                "actions-runner@.service (letters, digits and :_.@- only; Environment= drop-ins apply to services)"
                % (name, unit))
        service = unit if unit.endswith('.service') else unit + '.service'
        if service not in services:
            services.append(service)
    return services


def _systemd_assignment(name, value):
    """One double-quoted NAME=value for Environment= and DefaultEnvironment=; '%' doubled (a specifier there)."""
    text = ('%s=%s' % (name, value)).replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%')
    return '"%s"' % text


@dataclass(frozen=True)
class NetrcOutput:
    """The credentials file of a run: where it goes, its text (None: no credentials), the group that reads it."""

    path: str
    text: str | None = None
    group: str | None = None


def render_profile(environment, netrc_path=None):
    """/etc/profile.d/go-proxy.sh: shell-quoted exports (GOFLAGS and a GOSUMDB URL may hold spaces).

    With ``netrc_path``, a block that sets NETRC for the users who can read that file (and only them) follows.
    """
    lines = [
        '# ' + HEADER,
        '# The Go module policy for login shells (/etc/profile sources this file).',
        '# Values are shell-quoted; GOFLAGS and a GOSUMDB URL may hold spaces.',
    ]
    lines += ['export %s=%s' % (name, shlex.quote(value)) for name, value in environment.items()]
    text = '\n'.join(lines) + '\n'
    if netrc_path:
        text += render_netrc_profile(netrc_path, header=False)
    return text


def _render_systemd_dropin(section, key, reader, environment):
    lines = [
        '# ' + HEADER,
        '# The Go module policy for %s.' % reader,
        '# Each assignment is double-quoted (GOFLAGS and a GOSUMDB URL may hold spaces);',
        "# '%' is doubled because systemd expands %-specifiers here.",
        '[%s]' % section,
    ]
    lines += ['%s=%s' % (key, _systemd_assignment(name, value)) for name, value in environment.items()]
    return '\n'.join(lines) + '\n'


def render_manager_dropin(environment):
    """/etc/systemd/system.conf.d/go-proxy.conf: DefaultEnvironment for every service started afterwards."""
    return _render_systemd_dropin('Manager', 'DefaultEnvironment',
                                  'every service systemd starts after a daemon-reload', environment)


def render_unit_dropin(environment, netrc_path=None, group=None):
    """/etc/systemd/system/<unit>.d/go-proxy.conf: Environment= for one service, whatever DefaultEnvironment says.

    With ``netrc_path``, the service also gets NETRC and, with ``group``, that group as a supplementary group, so
    that it reads the credentials whatever user it runs as.
    """
    text = _render_systemd_dropin('Service', 'Environment', 'this service', environment)
    if netrc_path:
        text += '# The Go proxy credentials (read at the next start of the service).\n'
        text += '\n'.join(netrc_unit_lines(netrc_path, group)) + '\n'
    return text


def environment_owned(text):
    """The variables an earlier run wrote into /etc/environment, from its marker line."""
    for line in text.splitlines():
        if line.startswith(ENVIRONMENT_MARKER):
            return line[len(ENVIRONMENT_MARKER):].split()
    return []


def render_etc_environment(before, environment):
    """/etc/environment with the policy's lines, every other line kept as it is.

    A variable of the policy takes the place of its first line (a later line for
    it goes), a variable the role wrote before and the policy no longer sets
    goes, and the marker line lists the variables the role owns now. pam_env
    strips one pair of double quotes and knows no escapes; the validated values
    hold no quote, '$', '\\', '#' or newline.
    """
    owned = environment_owned(before)
    marker = ENVIRONMENT_MARKER + ' ' + ' '.join(environment)
    lines, written, marked = [], [], False
    for line in before.splitlines():
        match = _ASSIGNMENT.match(line)
        name = match.group(1) if match else ''
        if line.startswith(ENVIRONMENT_MARKER):
            if environment:
                lines.append(marker)
                marked = True
        elif name in environment and name not in written:
            lines.append('%s="%s"' % (name, environment[name]))
            written.append(name)
        elif name not in environment and name not in owned:
            lines.append(line)
    if environment and not marked:
        lines.append(marker)
    lines += ['%s="%s"' % (name, value) for name, value in environment.items() if name not in written]
    return ''.join(line + '\n' for line in lines)


def render_go_env(before, environment):
    """$GOROOT/go.env with the policy in a marked block at the top (in go.env the first value wins).

    An existing block is replaced where it is; with no environment the block goes
    and the package's lines stay byte for byte. go.env takes the rest of the line
    as the value: no quotes, spaces kept.
    """
    begin, end = GO_ENV_MARKER.format(mark='BEGIN'), GO_ENV_MARKER.format(mark='END')
    lines = before.splitlines(True)
    stripped = [line.rstrip('\r\n') for line in lines]
    at = 0
    if begin in stripped:
        start = stripped.index(begin)
        stop = stripped.index(end, start) if end in stripped[start:] else start
        del lines[start:stop + 1]
        at = start
    if environment:
        if at > 0 and not lines[at - 1].endswith('\n'):
            lines[at - 1] += '\n'
        block = [begin + '\n'] + ['%s=%s\n' % item for item in environment.items()] + [end + '\n']
        lines[at:at] = block
    return ''.join(lines)


def is_go_env_version(first_line):
    """Whether a $GOROOT/VERSION first line names a Go that reads go.env (1.21 and newer)."""
    return bool(GO_ENV_VERSION.match(first_line.strip()))


def is_ours(text):
    """Whether a file's text carries the role's managed-by header."""
    return any(line == '# ' + HEADER for line in text.splitlines())


class Paths:
    """Where the outputs live; the defaults are the host's own, tests give a root of their own."""

    def __init__(self, profile_d='/etc/profile.d/go-proxy.sh', etc_environment='/etc/environment',
                 systemd_dir='/etc/systemd'):
        self.profile_d = profile_d
        self.etc_environment = etc_environment
        self.manager_dropin = os.path.join(systemd_dir, 'system.conf.d', DROPIN_NAME)
        self.unit_dir = os.path.join(systemd_dir, 'system')

    def unit_dropin(self, service):
        return os.path.join(self.unit_dir, service + '.d', DROPIN_NAME)


def plan(paths, state, environment, want, services, goroots, read, old_unit_dropins, netrc=None):
    """What each managed file must hold after this run: {path: text, or None for no file}, in writing order.

    ``want`` says which outputs the policy turns on (keys profile_d,
    etc_environment, systemd_default_environment, goroot_env); an output turned
    off, or state absent, is removed where an earlier run wrote it (a file of the
    module's own only when it carries the header). ``read(path)``
    gives a file's text or None. ``old_unit_dropins`` are the drop-ins an earlier
    run wrote (they carry the header); those of units no longer listed go.
    Files the role shares with others (/etc/environment, go.env) are changed
    only where they hold the role's lines, or where the policy wants them.

    ``netrc`` (a :class:`NetrcOutput`) is the credentials file: written first when it has a text (the profile
    and the unit drop-ins then point at it), removed when it has none and an earlier run wrote it. NETRC never
    goes into /etc/environment nor the manager's DefaultEnvironment: pam_env cannot test whether the user can
    read the file, and every service would get it.
    """
    present = state == 'present'
    environment = environment if present else {}
    wants = {key: present and bool(want.get(key)) for key in
             ('profile_d', 'etc_environment', 'systemd_default_environment', 'goroot_env')}
    targets = {}
    credentials = present and netrc is not None and netrc.text is not None
    netrc_path = netrc.path if credentials else None
    if credentials:
        targets[netrc.path] = netrc.text
    elif netrc is not None:
        current = read(netrc.path)
        if current is not None and is_our_netrc(current):
            targets[netrc.path] = None

    def own_file(path, wanted, render):
        # A file turned off goes only when an earlier run wrote it (it carries the header); a file of the
        # host's own at that path is left alone.
        if wanted:
            targets[path] = render(environment)
        else:
            current = read(path)
            if current is not None and is_ours(current):
                targets[path] = None

    own_file(paths.profile_d, wants['profile_d'], lambda values: render_profile(values, netrc_path))

    current = read(paths.etc_environment)
    if wants['etc_environment']:
        targets[paths.etc_environment] = render_etc_environment(current or '', environment)
    elif current is not None and ENVIRONMENT_MARKER in current:
        targets[paths.etc_environment] = render_etc_environment(current, {})

    own_file(paths.manager_dropin, wants['systemd_default_environment'], render_manager_dropin)

    wanted_dropins = [paths.unit_dropin(service) for service in (services if present else [])]
    for dropin in wanted_dropins:
        targets[dropin] = render_unit_dropin(environment, netrc_path, netrc.group if credentials else None)
    for dropin in old_unit_dropins:
        if dropin not in wanted_dropins:
            targets[dropin] = None

    for goroot in goroots:
        go_env = os.path.join(goroot, 'go.env')
        current = read(go_env)
        if wants['goroot_env']:
            targets[go_env] = render_go_env(current or '', environment)
        elif current is not None:
            targets[go_env] = render_go_env(current, {})
    return targets


def changed_units(paths, changed):
    """Services whose drop-in this run changed, from the changed paths ('/etc/systemd/system/x.service.d/...')."""
    services = []
    for path in changed:
        directory = os.path.dirname(path)
        if os.path.dirname(directory) == paths.unit_dir and directory.endswith('.service.d'):
            services.append(os.path.basename(directory)[:-len('.d')])
    return services


def unit_patterns(services):
    """The same as systemctl patterns: a template unit (runner@.service) stands for its instances (runner@*.service)."""
    return [re.sub(r'@\.service$', '@*.service', service) for service in services]


def parse_env_output(text):
    """`env` output as a dict (one NAME=value a line)."""
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition('=')
        if sep and name not in values:
            values[name] = value
    return values


def mismatches(consumer, seen, environment, redact):
    """'<consumer> get NAME=<seen> instead of <value>' for every policy variable the consumer does not get."""
    return ['%s get %s=%s instead of %s' % (consumer, name, redact(seen.get(name) or '(unset)'), redact(value))
            for name, value in environment.items() if seen.get(name) != value]
