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

from dataclasses import dataclass

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _env_outputs as _env
# Re-exported for go_policy, the audit and their tests.
# pylint: disable=unused-import
from ansible_collections.buildfleet.mirrors.plugins.module_utils._env_outputs import (  # noqa: F401
    EnvOwner,
    UnitNameError,
    changed_units,
    mismatches,
    parse_env_output,
    unit_patterns,
)
# pylint: enable=unused-import
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    is_our_netrc,
    netrc_unit_lines,
    render_netrc_profile,
)

# The go_proxy role as an owner of environment variables: the shared writer (_env_outputs) renders its files.
GO_OWNER = EnvOwner('go_proxy', 'The Go module policy', r'GO[A-Za-z0-9_]*',
                    value_note='GOFLAGS and a GOSUMDB URL may hold spaces', units_option='go_proxy_systemd_units')
HEADER = GO_OWNER.header
# The comment line in /etc/environment that lists the variables the role owns,
# so that a variable dropped from the policy (or state absent) removes only ours.
ENVIRONMENT_MARKER = GO_OWNER.environment_marker
GO_ENV_MARKER = '# {mark} buildfleet.mirrors.go_proxy (Managed by Ansible; in go.env the first value of a variable wins)'
DROPIN_NAME = GO_OWNER.dropin_name

# The first line of $GOROOT/VERSION of Go 1.21 and newer (go1.21.0, go1.24.4, go1.100rc1).
GO_ENV_VERSION = re.compile(r'^go1\.(2[1-9]|[3-9][0-9]|[1-9][0-9]{2,})([.a-z]|$)')


def service_names(units, name='go_proxy_systemd_units'):
    """Unit names with their .service suffix, in order, each once (the shared rule, named for go_proxy)."""
    return _env.service_names(units, name)


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
    text = _env.render_profile(GO_OWNER, environment)
    if netrc_path:
        text += render_netrc_profile(netrc_path, header=False)
    return text


def render_manager_dropin(environment):
    """/etc/systemd/system.conf.d/go-proxy.conf: DefaultEnvironment for every service started afterwards."""
    return _env.render_manager_dropin(GO_OWNER, environment)


def render_unit_dropin(environment, netrc_path=None, group=None):
    """/etc/systemd/system/<unit>.d/go-proxy.conf: Environment= for one service, whatever DefaultEnvironment says.

    With ``netrc_path``, the service also gets NETRC and, with ``group``, that group as a supplementary group, so
    that it reads the credentials whatever user it runs as.
    """
    text = _env.render_unit_dropin(GO_OWNER, environment)
    if netrc_path:
        text += '# The Go proxy credentials (read at the next start of the service).\n'
        text += '\n'.join(netrc_unit_lines(netrc_path, group)) + '\n'
    return text


def environment_owned(text):
    """The variables an earlier run wrote into /etc/environment, from its marker line."""
    return _env.environment_owned(text, GO_OWNER)


def render_etc_environment(before, environment):
    """/etc/environment with the policy's lines, every other line (the host's, other roles') kept as it is."""
    return _env.render_etc_environment(before, environment, GO_OWNER)


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
    return _env.is_ours(text, GO_OWNER)


class Paths(_env.EnvPaths):
    """Where the outputs live; the defaults are the host's own, tests give a root of their own."""

    def __init__(self, profile_d='/etc/profile.d/go-proxy.sh', etc_environment='/etc/environment',
                 systemd_dir='/etc/systemd'):
        super().__init__(GO_OWNER, profile_d, etc_environment, systemd_dir)


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
    The profile, /etc/environment and the systemd drop-ins come from the shared
    environment writer (_env_outputs), with go_proxy as their owner.

    ``netrc`` (a :class:`NetrcOutput`) is the credentials file: written first when it has a text (the profile
    and the unit drop-ins then point at it), removed when it has none and an earlier run wrote it. NETRC never
    goes into /etc/environment nor the manager's DefaultEnvironment: pam_env cannot test whether the user can
    read the file, and every service would get it.
    """
    present = state == 'present'
    environment = environment if present else {}
    targets = {}
    credentials = present and netrc is not None and netrc.text is not None
    netrc_path = netrc.path if credentials else None
    if credentials:
        targets[netrc.path] = netrc.text
    elif netrc is not None:
        current = read(netrc.path)
        if current is not None and is_our_netrc(current):
            targets[netrc.path] = None

    targets.update(_env.plan_environment(
        paths, environment, want, services, read, old_unit_dropins,
        render_profile_text=lambda values: render_profile(values, netrc_path),
        render_dropin_text=lambda values: render_unit_dropin(values, netrc_path,
                                                             netrc.group if credentials else None)))

    for goroot in goroots:
        go_env = os.path.join(goroot, 'go.env')
        current = read(go_env)
        if present and want.get('goroot_env'):
            targets[go_env] = render_go_env(current or '', environment)
        elif current is not None:
            targets[go_env] = render_go_env(current, {})
    return targets
