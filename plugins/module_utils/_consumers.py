# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ask the consumers of a policy what they get: a login shell, a PAM session, a systemd service.

Every writer module of the collection verifies what it wrote by asking the real consumers, each in a clean
environment. The commands are built here once:

- :func:`login_shell` — ``/bin/sh -l`` with an empty environment (it reads /etc/profile and /etc/profile.d);
- :func:`pam_session` — ``su`` to a user, which opens a PAM session (pam_env reads /etc/environment);
- :func:`ask_service` — a oneshot unit started through PID 1 without D-Bus (systemd-run needs the bus;
  systemctl reaches PID 1 over its private socket as root): what a service started now gets;
- :func:`environment_mismatches` — all of them at once for an owner's environment outputs (the package-index
  writers), with the Environment= each listed service will start with.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import time

from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.buildfleet.mirrors.plugins.module_utils._env_outputs import mismatches, parse_env_output
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import LOCK_DIR

# The root-only directory where a verifying service writes its output (the collection's lock directory).
SERVICE_OUTPUT_DIR = LOCK_DIR
CLEAN_PATH = 'PATH=/usr/local/bin:/usr/bin:/bin'


def login_shell(command, home='/nonexistent'):
    """argv of a login shell with an empty environment running ``command`` (a shell command line)."""
    return ['/usr/bin/env', '-i', 'HOME=%s' % home, CLEAN_PATH, '/bin/sh', '-l', '-c', command]


def pam_session(command, user='root'):
    """argv of a PAM session (su) of ``user`` running ``command`` with /bin/sh, from an empty environment."""
    return ['/usr/bin/env', '-i', '/bin/su', '--shell=/bin/sh', '--command=%s' % command, user]


def ask_service(systemctl, argv, runtime_dir, timeout, purpose, prefix, output_dir=SERVICE_OUTPUT_DIR,
                cleanup_share=0.75):
    """Run ``argv`` as a oneshot systemd service now: (its standard output as text, None) or (None, why).

    A unit file goes under the runtime unit directory (``runtime_dir``, /run/systemd/system), its output into
    the root-only ``output_dir``, and both go again, whatever happens. ``purpose`` describes the unit (the
    module that asks), ``prefix`` starts its name. The start may use ``cleanup_share`` of ``timeout``; the
    removal and the second reload the rest.
    """
    if not systemctl:
        return None, 'systemctl is not installed'
    start = time.monotonic()
    ask_deadline = start + timeout * cleanup_share
    name = prefix + secrets.token_hex(6)
    unit = name + '.service'
    unit_path = os.path.join(runtime_dir, unit)
    output = os.path.join(output_dir, name + '.out')
    text = '\n'.join([
        '# A probe of %s: what a service gets from the manager; removed at once.' % purpose,
        '[Unit]',
        'Description=%s verification' % purpose,
        'DefaultDependencies=no',
        '[Service]',
        'Type=oneshot',
        'ExecStart=%s' % ' '.join(argv),
        'StandardInput=null',
        'StandardOutput=file:%s' % output,
        'StandardError=journal',
        '']).encode()

    def run(deadline, *arguments):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired([systemctl] + list(arguments), 0)
        done = subprocess.run([systemctl] + list(arguments), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=remaining, check=False)
        if done.returncode != 0:
            raise OSError('systemctl %s failed (rc %s): %s' % (
                ' '.join(arguments), done.returncode,
                ' '.join(to_text(done.stderr or done.stdout, errors='surrogate_or_replace').split())))
        return done

    try:
        descriptor = os.open(unit_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        return None, 'cannot write the unit file %s: %s' % (unit_path, error.strerror or error)
    try:
        with os.fdopen(descriptor, 'wb') as stream:
            stream.write(text)
        run(ask_deadline, 'daemon-reload')
        run(ask_deadline, 'start', '--no-ask-password', unit)
        try:
            output_descriptor = os.open(output, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as error:
            return None, 'the service %s wrote no output to %s: %s' % (unit, output, error.strerror or error)
        with os.fdopen(output_descriptor, 'rb') as stream:
            return to_text(stream.read(), errors='surrogate_or_replace'), None
    except subprocess.TimeoutExpired:
        return None, 'no answer within %d s' % timeout
    except OSError as error:
        return None, to_native(error)
    finally:
        for path in (unit_path, output):
            try:
                os.unlink(path)
            except OSError:
                pass  # gone already, or a leftover in /run that goes at the next boot
        cleanup_deadline = start + timeout
        for arguments in (('reset-failed', unit), ('daemon-reload',)):
            try:
                run(cleanup_deadline, *arguments)
            except (OSError, subprocess.TimeoutExpired):
                pass  # reset-failed fails for a unit that did not fail; a stale entry goes at the next reload


def environment_mismatches(run, environment, paths, services, systemctl=None, shells=True, redact=str):
    """Ask every consumer of an owner's environment outputs what it gets: (names asked, sentences of what is wrong).

    ``run(argv) -> (rc, out, err)`` runs a command with no environment of the module's own. With ``shells``, a
    login shell (``paths.profile_d``) and a PAM session (``paths.etc_environment``) are asked; with ``systemctl``
    (its path, on a host booted with systemd), each of ``services`` that is loaded shows the Environment= it will
    start with (a template unit has none of its own; a unit not installed yet is skipped: its drop-in waits for it).
    A consumer that cannot be asked raises OSError naming it.
    """
    consumers = []
    if shells:
        consumers = [('login shells (%s)' % paths.profile_d, login_shell('/usr/bin/env')),
                     ('PAM sessions (%s)' % paths.etc_environment, pam_session('/usr/bin/env'))]
    asked, wrong = [], []
    for name, argv in consumers:
        rc, out, err = run(argv)
        if rc != 0:
            raise OSError('%s could not be asked (rc %s): %s' % (name, rc, ' '.join((err or out).split())[-600:]))
        wrong += mismatches(name, parse_env_output(out), environment, redact)
        asked.append(name)
    for service in (services if systemctl else []):
        if service.endswith('@.service'):
            continue
        rc, out, err = run([systemctl, 'show', '--property=LoadState', '--property=Environment', '--', service])
        if rc != 0:
            raise OSError('systemctl show %s failed (rc %s): %s' % (service, rc, ' '.join((err or out).split())))
        settings = dict(line.partition('=')[::2] for line in out.splitlines())
        if settings.get('LoadState') != 'loaded':
            continue
        seen = dict(item.split('=', 1) for item in shlex.split(settings.get('Environment', '')) if '=' in item)
        name = 'the service %s (%s)' % (service, paths.unit_dropin(service))
        wrong += mismatches(name, seen, environment, redact)
        asked.append(name)
    return asked, wrong
