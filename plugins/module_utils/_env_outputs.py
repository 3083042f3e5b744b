# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The environment outputs every role of the collection shares: one writer, each role owning its own variables.

A role that exports variables (go_proxy's GO*, python_mirrors' PIP_*/UV_*, node_mirrors' npm_config_*/YARN_*)
describes itself with an :class:`EnvOwner`; the functions here render, for that owner alone:

- its login-shell file, ``/etc/profile.d/<role-with-dashes>.sh``;
- its marked lines in ``/etc/environment`` (PAM sessions), a file the roles share: each owner's marker line
  lists the variables it wrote, so a run of one role never touches another role's lines nor the host's;
- its systemd drop-ins, ``<unit>.d/<role-with-dashes>.conf`` (Environment=) and
  ``system.conf.d/<role-with-dashes>.conf`` (DefaultEnvironment=).

An owner refuses any variable outside its own set (``EnvOwner.check``), so no role can write another's.
Pure functions on strings and paths, no I/O.
"""

from __future__ import annotations

import os
import re
import shlex

from dataclasses import dataclass, field

from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    refuse_unsafe_characters,
)

# A systemd service name that may be used in a path: no '/', no '..', no escapes. Matched whole
# (fullmatch; '$' would let a trailing newline through).
UNIT_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9:_.@-]*')
NON_SERVICE_SUFFIX = re.compile(r'\.(socket|timer|target|mount|automount|path|slice|scope|device|swap)$')
_ASSIGNMENT = re.compile(r'^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=')


class UnitNameError(ValueError):
    pass


@dataclass(frozen=True)
class EnvOwner:
    """A role that exports environment variables, and what it may export.

    ``role`` names the role (go_proxy); ``subject`` is what the variables are ("The Go module policy");
    ``names`` is a regular expression a variable name must match whole; ``value_note`` says why values are
    quoted (shown in the files' comments).
    """

    role: str
    subject: str
    names: str
    value_note: str = 'values may hold spaces'
    units_option: str = field(default='systemd_units')

    @property
    def header(self):
        return 'Managed by Ansible (buildfleet.mirrors.%s); local changes are overwritten.' % self.role

    @property
    def environment_marker(self):
        """The comment line in /etc/environment that lists the variables the role owns there."""
        return '# Managed by Ansible (buildfleet.mirrors.%s):' % self.role

    @property
    def file_name(self):
        return self.role.replace('_', '-')

    @property
    def dropin_name(self):
        return self.file_name + '.conf'

    @property
    def profile_d(self):
        return '/etc/profile.d/%s.sh' % self.file_name

    def check(self, environment, option='environment'):
        """The environment as text, or PolicyError naming the variable: only this owner's names, safe values.

        A value may hold single spaces between parts (GOFLAGS, a GOSUMDB key and URL, a list of indexes) and
        none of the characters that break a shell, pam_env or a unit file line ('#', quotes, '$', '\\', newline).
        """
        checked = {}
        for name, value in (environment or {}).items():
            if not isinstance(name, str) or not re.fullmatch(self.names, name):
                raise PolicyError('%s key %r is not a variable of %s (%s)' % (option, name, self.role, self.subject))
            text = '' if value is None else str(value)
            if not text or '#' in text:
                raise PolicyError('%s value of %s must be non-empty and hold no #' % (option, name))
            for part in text.split(' '):
                refuse_unsafe_characters(part, '%s value of %s' % (option, name))
            checked[name] = text
        return checked


def service_names(units, name='systemd_units'):
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


def render_profile(owner, environment):
    """The owner's /etc/profile.d file: shell-quoted exports."""
    lines = [
        '# ' + owner.header,
        '# %s for login shells (/etc/profile sources this file).' % owner.subject,
        '# Values are shell-quoted; %s.' % owner.value_note,
    ]
    lines += ['export %s=%s' % (name, shlex.quote(value)) for name, value in environment.items()]
    return '\n'.join(lines) + '\n'


def _render_systemd_dropin(owner, section, key, reader, environment):
    lines = [
        '# ' + owner.header,
        '# %s for %s.' % (owner.subject, reader),
        '# Each assignment is double-quoted (%s);' % owner.value_note,
        "# '%' is doubled because systemd expands %-specifiers here.",
        '[%s]' % section,
    ]
    lines += ['%s=%s' % (key, _systemd_assignment(name, value)) for name, value in environment.items()]
    return '\n'.join(lines) + '\n'


def render_manager_dropin(owner, environment):
    """system.conf.d/<owner>.conf: DefaultEnvironment for every service started afterwards."""
    return _render_systemd_dropin(owner, 'Manager', 'DefaultEnvironment',
                                  'every service systemd starts after a daemon-reload', environment)


def render_unit_dropin(owner, environment):
    """<unit>.d/<owner>.conf: Environment= for one service, whatever DefaultEnvironment says."""
    return _render_systemd_dropin(owner, 'Service', 'Environment', 'this service', environment)


def environment_owned(text, owner):
    """The variables an earlier run of the owner wrote into /etc/environment, from its marker line."""
    for line in text.splitlines():
        if line.startswith(owner.environment_marker):
            return line[len(owner.environment_marker):].split()
    return []


def render_etc_environment(before, environment, owner):
    """/etc/environment with the owner's lines, every other line (the host's, other roles') kept as it is.

    A variable of the owner takes the place of its first line (a later line for
    it goes), a variable the owner wrote before and no longer sets goes, and
    the marker line lists the variables the owner has now. pam_env strips one
    pair of double quotes and knows no escapes; checked values hold no quote,
    '$', '\\', '#' or newline.
    """
    owned = environment_owned(before, owner)
    marker = owner.environment_marker + ' ' + ' '.join(environment)
    lines, written, marked = [], [], False
    for line in before.splitlines():
        match = _ASSIGNMENT.match(line)
        name = match.group(1) if match else ''
        if line.startswith(owner.environment_marker):
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


def is_ours(text, owner):
    """Whether a file's text carries the owner's managed-by header."""
    return any(line == '# ' + owner.header for line in text.splitlines())


class EnvPaths:
    """Where an owner's environment outputs live; the defaults are the host's own, tests give their own."""

    def __init__(self, owner, profile_d=None, etc_environment='/etc/environment', systemd_dir='/etc/systemd'):
        self.owner = owner
        self.profile_d = profile_d or owner.profile_d
        self.etc_environment = etc_environment
        self.manager_dropin = os.path.join(systemd_dir, 'system.conf.d', owner.dropin_name)
        self.unit_dir = os.path.join(systemd_dir, 'system')

    def unit_dropin(self, service):
        return os.path.join(self.unit_dir, service + '.d', self.owner.dropin_name)

    def dropin_pattern(self):
        """The glob of every unit drop-in the owner may have written (the caller keeps those that carry its header)."""
        return os.path.join(self.unit_dir, '*.d', self.owner.dropin_name)


def plan_environment(paths, environment, want, services, read, old_unit_dropins, render_profile_text=None,
                     render_dropin_text=None):
    """{path: text, or None for no file} for the owner's environment outputs, in writing order.

    ``environment`` is empty for state absent. ``want`` says which outputs are on (keys profile_d,
    etc_environment, systemd_default_environment); an output turned off is removed where an earlier run of the
    owner wrote it (a file of its own only when it carries its header; in /etc/environment only its lines).
    ``services`` get a drop-in each; ``old_unit_dropins`` (written before, carrying the header) of units no longer
    listed go. ``render_profile_text`` / ``render_dropin_text`` let an owner add to its files (go_proxy adds the
    NETRC block).
    """
    owner = paths.owner
    present = bool(environment)
    render_profile_text = render_profile_text or (lambda values: render_profile(owner, values))
    render_dropin_text = render_dropin_text or (lambda values: render_unit_dropin(owner, values))
    targets = {}

    def own_file(path, wanted, render):
        if wanted:
            targets[path] = render(environment)
        else:
            current = read(path)
            if current is not None and is_ours(current, owner):
                targets[path] = None

    own_file(paths.profile_d, present and want.get('profile_d'), render_profile_text)
    current = read(paths.etc_environment)
    if present and want.get('etc_environment'):
        targets[paths.etc_environment] = render_etc_environment(current or '', environment, owner)
    elif current is not None and owner.environment_marker in current:
        targets[paths.etc_environment] = render_etc_environment(current, {}, owner)
    own_file(paths.manager_dropin, present and want.get('systemd_default_environment'),
             lambda values: render_manager_dropin(owner, values))
    wanted_dropins = [paths.unit_dropin(service) for service in (services if present else [])]
    for dropin in wanted_dropins:
        targets[dropin] = render_dropin_text(environment)
    for dropin in old_unit_dropins:
        if dropin not in wanted_dropins:
            targets[dropin] = None
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
    """'<consumer> get NAME=<seen> instead of <value>' for every variable the consumer does not get."""
    return ['%s get %s=%s instead of %s' % (consumer, name, redact(seen.get(name) or '(unset)'), redact(value))
            for name, value in environment.items() if seen.get(name) != value]
