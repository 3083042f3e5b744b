#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: go_policy
short_description: Write a Go module policy where every shell, service and Go toolchain of the host reads it
version_added: 0.1.0
description:
  - Writes the GO* environment of a Go module policy into each place a consumer on the host reads it, each in its
    own syntax, and removes it from the places the policy no longer names. It is the writing step of the
    P(buildfleet.mirrors.go_proxy#role) role, which validates the policy and gates the host on its proxies first.
  - "The outputs: C(/etc/profile.d/go-proxy.sh) (login shells, shell-quoted), managed lines of C(/etc/environment)
    (pam_env: ssh, su, cron; every other line kept), the systemd manager drop-in
    C(/etc/systemd/system.conf.d/go-proxy.conf) (C(DefaultEnvironment)), an C(Environment=) drop-in per listed
    service, and a marked block at the top of C($GOROOT/go.env) of each Go 1.21 or newer found."
  - One task does the whole change as a transaction. It reads every managed file, writes only those whose content
    or attributes differ (atomically, a temporary file renamed over the old one), reloads systemd when one of its
    files changed, asks each consumer what it really gets (O(verify)), and restarts the running listed services whose
    drop-in changed (O(restart_units)). When any of these steps fails, every file is put back as it was, systemd is
    reloaded again, and the task fails with the reason.
  - C(/etc/environment) and C(go.env) belong to the host and to the Go package; before either is changed a backup
    is made beside it (RV(backup_files)). The other outputs are the module's own, made from the policy alone.
  - Check mode reads the host and tells exactly what would change (with C(--diff), each file before and after),
    without writing, reloading or verifying.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(present) writes the policy; V(absent) removes every file, line and block an earlier run wrote, whatever
        the other options say.
    type: str
    choices: [present, absent]
    default: present
  environment:
    description:
      - The GO* variables and their values, in the order to write them, as the
        P(buildfleet.mirrors.go_environment#filter) filter returns them from a validated policy.
      - Required with O(state=present). Names must be GO* variables; values must hold no newline, quote, C($),
        backtick, C(;), C(\\) or C(#) (the filter refuses them, and so does this module).
    type: dict
  profile_d:
    description: Write C(/etc/profile.d/go-proxy.sh); V(false) removes it.
    type: bool
    default: true
  etc_environment:
    description: Manage the policy's lines in C(/etc/environment); V(false) removes the lines an earlier run wrote.
    type: bool
    default: true
  systemd_default_environment:
    description: Write the systemd manager drop-in (C(DefaultEnvironment)); V(false) removes it.
    type: bool
    default: true
  systemd_units:
    description:
      - Services that get an C(Environment=) drop-in C(/etc/systemd/system/<unit>.d/go-proxy.conf). A name without
        a suffix means C(<name>.service); template units (C(actions-runner@.service)) are fine.
      - The drop-in is written even if the unit is not installed yet. Drop-ins an earlier run wrote for units no
        longer listed are removed, with their directory when nothing else is in it.
    type: list
    elements: str
    default: []
  restart_units:
    description:
      - Restart the running services of O(systemd_units) whose drop-in changed (for a template unit, its running
        instances). A stopped service stays stopped.
    type: bool
    default: false
  goroot_env:
    description:
      - Write the policy at the top of C($GOROOT/go.env) of each Go 1.21 or newer found under O(goroot_parents)
        (C(go-*), C(golang) and C(go) there). V(false) removes the block where an earlier run wrote it.
    type: bool
    default: false
  goroot_parents:
    description: The directories that hold Go installs (Debian's C(/usr/lib/go-1.NN), RHEL's C(/usr/lib/golang),
      the upstream C(/usr/local/go)).
    type: list
    elements: path
    default: [/usr/lib, /usr/local]
  verify:
    description:
      - When to ask each consumer what it gets, with a clean environment (a login shell, a PAM session through
        C(su), a transient systemd service, each Go with no environment at all), and fail (rolling back) when one
        does not get the policy.
      - V(changed) verifies when this run changed a file; V(always) on every run, which also catches a later
        C(/etc/profile.d) script or another drop-in that overrides an unchanged policy; V(never) skips it.
      - Never in check mode, nor with O(state=absent).
    type: str
    choices: [always, changed, never]
    default: changed
  profile_d_path:
    description: The login shell output (another path only for tests and unusual layouts).
    type: path
    default: /etc/profile.d/go-proxy.sh
  etc_environment_path:
    description: The pam_env file.
    type: path
    default: /etc/environment
  systemd_dir:
    description: systemd's configuration directory, which holds C(system.conf.d) and C(system).
    type: path
    default: /etc/systemd
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads every managed file and reports what would change; writes, reloads and verifies nothing.
  diff_mode:
    support: full
    details: One diff per file that would change, with its path as header.
  idempotent:
    description: A second run with the same policy changes nothing and makes no backup.
    support: full
  safe_file_operations:
    description: Each file is written to a temporary file in its directory, then renamed over the old one.
    support: full
  platform:
    platforms: posix
notes:
  - The files are written as C(root:root) with mode C(0644), directories with C(0755).
  - Services already running keep their environment until they restart; only O(restart_units) restarts any.
seealso:
  - plugin: buildfleet.mirrors.go_environment
    plugin_type: filter
  - module: buildfleet.mirrors.mirror_check
"""

EXAMPLES = r"""
- name: Validate the policy (the filter names the variable it refuses)
  ansible.builtin.set_fact:
    go_environment: >-
      {{ {'go_proxy_urls': ['https://goproxy.corp.example.com'], 'go_proxy_private': ['corp.example.com/*'],
          'go_proxy_noproxy': ['none']} | buildfleet.mirrors.go_environment }}

- name: Write it for shells, PAM sessions, services and the CI agent
  buildfleet.mirrors.go_policy:
    environment: "{{ go_environment }}"
    systemd_units: [gitlab-runner]

- name: Remove everything an earlier run wrote
  buildfleet.mirrors.go_policy:
    state: absent
"""

RETURN = r"""
files:
  description: Every file the run created, updated or removed (would, in check mode), with what happened to it.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    action:
      description: V(created), V(updated) or V(removed).
      type: str
  sample: [{path: /etc/profile.d/go-proxy.sh, action: updated}]
backup_files:
  description: The backups made of the host's own files before they were changed, by path.
  returned: always
  type: dict
  sample: {/etc/environment: /etc/environment.4242.2026-12-02@10:11:12~}
goroots:
  description: The Go 1.21 or newer installs found (their C(go.env) is managed with O(goroot_env)).
  returned: always
  type: list
  elements: str
  sample: [/usr/lib/go-1.24]
systemd_reloaded:
  description: Whether systemd was reloaded (C(daemon-reload)) because one of its files changed.
  returned: always
  type: bool
changed_units:
  description: The services whose drop-in changed.
  returned: always
  type: list
  elements: str
  sample: [gitlab-runner.service]
restarted_units:
  description: The running services that were restarted (O(restart_units)).
  returned: always
  type: list
  elements: str
verified:
  description: The consumers that were asked what they get, and got the policy.
  returned: always
  type: list
  elements: str
  sample: [login shells (/etc/profile.d/go-proxy.sh)]
"""

import glob
import json
import os
import stat
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    DROPIN_NAME,
    Paths,
    UnitNameError,
    changed_units,
    is_go_env_version,
    is_ours,
    mismatches,
    parse_env_output,
    plan,
    service_names,
    unit_patterns,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import (
    PolicyError,
    redact_url,
    refuse_unsafe_characters,
    url_secrets,
)

FILE_MODE = 0o644
DIR_MODE = 0o755
VERIFY_TIMEOUT = 60
SYSTEMD_BOOTED = '/run/systemd/system'


class Failure(Exception):
    """A step failed after the first write: roll back, then fail with this message."""


def _read(path):
    try:
        with open(path, 'rb') as stream:
            return to_text(stream.read(), errors='surrogate_or_strict')
    except FileNotFoundError:
        return None


class Snapshot:
    """A path as it was before the run: its text and attributes, or that it did not exist."""

    def __init__(self, path):
        self.path = path
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            self.exists, self.text, self.mode, self.uid, self.gid = False, None, None, None, None
            return
        self.exists = True
        self.mode, self.uid, self.gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
        self.text = _read(path) if stat.S_ISREG(info.st_mode) else None


class GoPolicy:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.paths = Paths(self.params['profile_d_path'], self.params['etc_environment_path'],
                           self.params['systemd_dir'])
        self.systemd_booted = os.path.isdir(SYSTEMD_BOOTED)
        self.result = dict(changed=False, files=[], backup_files={}, goroots=[], systemd_reloaded=False,
                           changed_units=[], restarted_units=[], verified=[])
        self.snapshots = {}       # path -> Snapshot, of every path this run touched
        self.created_dirs = []    # directories this run made, innermost last
        self.removed_dirs = []    # (Snapshot) of directories this run removed

    # --- Input --------------------------------------------------------------------------------------------------
    def environment(self):
        if self.params['state'] == 'absent':
            return {}
        environment = self.params['environment']
        if not environment:
            self.module.fail_json(msg='environment is required with state=present: the GO* variables to write')
        for name, value in environment.items():
            if not isinstance(name, str) or not name.startswith('GO') or not name.isidentifier():
                self.module.fail_json(msg='environment key %r is not a GO* variable name' % (name,))
            self.module.no_log_values.update(url_secrets(to_text(value)))
            try:
                # The one space a value may hold: between the key and the URL of GOSUMDB, and between GOFLAGS entries.
                for part in to_text(value).split(' '):
                    refuse_unsafe_characters(part, 'environment value of %s' % name)
            except PolicyError as error:
                self.module.fail_json(msg=str(error))
            if not to_text(value) or '#' in to_text(value):
                self.module.fail_json(msg='environment value of %s must be non-empty and hold no #, got %r'
                                      % (name, redact_url(to_text(value))))
        return {name: to_text(value) for name, value in environment.items()}

    def services(self):
        try:
            return service_names(self.params['systemd_units'], 'systemd_units')
        except UnitNameError as error:
            self.module.fail_json(msg=str(error))

    # --- What the host has ------------------------------------------------------------------------------------
    def goroots(self):
        found = []
        for parent in self.params['goroot_parents']:
            for pattern in ('go-*', 'golang', 'go'):
                for goroot in sorted(glob.glob(os.path.join(parent, pattern))):
                    version = _read(os.path.join(goroot, 'VERSION'))
                    if version is not None and is_go_env_version(version.splitlines()[0] if version else ''):
                        if goroot not in found:
                            found.append(goroot)
        return found

    def old_unit_dropins(self):
        found = []
        for dropin in sorted(glob.glob(os.path.join(self.paths.unit_dir, '*.d', DROPIN_NAME))):
            text = _read(dropin)
            if text is not None and is_ours(text):
                found.append(dropin)
        return found

    # --- Writing, and putting back ----------------------------------------------------------------------------
    def _snapshot(self, path):
        if path not in self.snapshots:
            self.snapshots[path] = Snapshot(path)
        return self.snapshots[path]

    def _make_dirs(self, directory):
        missing = []
        while directory and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            os.mkdir(path, DIR_MODE)
            os.chown(path, 0, 0)
            os.chmod(path, DIR_MODE)
            self.created_dirs.append(path)

    def _write(self, path, text):
        self._make_dirs(os.path.dirname(path))
        handle, temporary = tempfile.mkstemp(prefix='.go-policy.', dir=os.path.dirname(path))
        with os.fdopen(handle, 'wb') as stream:
            stream.write(to_bytes(text, errors='surrogate_or_strict'))
        os.chown(temporary, 0, 0)
        os.chmod(temporary, FILE_MODE)
        self.module.atomic_move(temporary, path, unsafe_writes=False)
        os.chmod(path, FILE_MODE)

    def _remove(self, path):
        os.unlink(path)
        directory = os.path.dirname(path)
        # A drop-in alone in its directory goes with it; never a directory the host had other files in.
        if os.path.basename(path) == DROPIN_NAME and directory.endswith('.d') and not os.listdir(directory):
            self.removed_dirs.append(Snapshot(directory))
            os.rmdir(directory)

    def _needs_attributes(self, snapshot):
        return snapshot.exists and (snapshot.mode, snapshot.uid, snapshot.gid) != (FILE_MODE, 0, 0)

    def rollback(self):
        """Every touched path back as it was; directories this run made go, those it removed come back."""
        problems = []
        for snapshot in self.removed_dirs:
            try:
                os.makedirs(snapshot.path, exist_ok=True)
                os.chown(snapshot.path, snapshot.uid, snapshot.gid)
                os.chmod(snapshot.path, snapshot.mode)
            except OSError as error:
                problems.append('%s: %s' % (snapshot.path, to_native(error)))
        for path, snapshot in self.snapshots.items():
            try:
                if snapshot.exists:
                    if _read(path) != snapshot.text:
                        self._make_dirs(os.path.dirname(path))
                        handle, temporary = tempfile.mkstemp(prefix='.go-policy.', dir=os.path.dirname(path))
                        with os.fdopen(handle, 'wb') as stream:
                            stream.write(to_bytes(snapshot.text, errors='surrogate_or_strict'))
                        self.module.atomic_move(temporary, path, unsafe_writes=False)
                    os.chown(path, snapshot.uid, snapshot.gid)
                    os.chmod(path, snapshot.mode)
                elif os.path.lexists(path):
                    os.unlink(path)
            except OSError as error:
                problems.append('%s: %s' % (path, to_native(error)))
        for path in self.result['backup_files'].values():
            if os.path.exists(path):
                os.unlink(path)
        for directory in reversed(self.created_dirs):
            try:
                os.rmdir(directory)
            except OSError:
                pass
        if self.result['systemd_reloaded']:
            self.daemon_reload()
        return problems

    # --- systemd ------------------------------------------------------------------------------------------------
    def systemctl(self, *arguments):
        systemctl = self.module.get_bin_path('systemctl', required=True)
        return self.module.run_command([systemctl] + list(arguments))

    def daemon_reload(self):
        rc, out, err = self.systemctl('daemon-reload')
        if rc != 0:
            raise Failure('systemctl daemon-reload failed (rc %s): %s' % (rc, (err or out).strip()))

    def restart(self, services):
        rc, out, err = self.systemctl('list-units', '--state=running', '--no-legend', '--plain', '--',
                                      *unit_patterns(services))
        if rc != 0:
            raise Failure('systemctl list-units failed (rc %s): %s' % (rc, (err or out).strip()))
        running = [line.split()[0] for line in out.splitlines() if line.strip()]
        for unit in running:
            rc, out, err = self.systemctl('restart', unit)
            if rc != 0:
                raise Failure('systemctl restart %s failed (rc %s): %s' % (unit, rc, (err or out).strip()))
            self.result['restarted_units'].append(unit)

    # --- Verification -------------------------------------------------------------------------------------------
    def consumers(self, environment, goroots):
        """(name, argv, output is JSON) of each consumer, each started with a clean environment."""
        params = self.params
        found = []
        if params['profile_d']:
            found.append(('login shells (%s)' % self.paths.profile_d, [
                '/usr/bin/env', '-i', 'HOME=/nonexistent', 'PATH=/usr/bin:/bin', '/bin/sh', '-l', '-c', '/usr/bin/env'],
                False))
        if params['etc_environment']:
            found.append(('PAM sessions (%s)' % self.paths.etc_environment, [
                '/usr/bin/env', '-i', '/bin/su', '--shell=/bin/sh', '--command=/usr/bin/env', 'root'], False))
        if params['systemd_default_environment'] and self.systemd_booted:
            found.append(('systemd services (%s)' % self.paths.manager_dropin, [
                'systemd-run', '--quiet', '--wait', '--pipe', '--collect', '/usr/bin/env'], False))
        if params['goroot_env']:
            for goroot in goroots:
                found.append(('go with no environment (%s/go.env)' % goroot, [
                    '/usr/bin/env', '-i', os.path.join(goroot, 'bin', 'go'), 'env', '-json'], True))
        return found

    def verify(self, environment, goroots):
        consumers = self.consumers(environment, goroots)

        def ask(consumer):
            name, argv, is_json = consumer
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=VERIFY_TIMEOUT,
                                      check=False)
            except (OSError, subprocess.TimeoutExpired) as error:
                return name, None, to_native(error)
            out = to_text(done.stdout, errors='surrogate_or_replace')
            if done.returncode != 0:
                return name, None, 'rc %s: %s' % (done.returncode,
                                                  ' '.join(to_text(done.stderr, errors='surrogate_or_replace').split()))
            try:
                return name, json.loads(out) if is_json else parse_env_output(out), None
            except ValueError as error:
                return name, None, 'unreadable output (%s)' % error

        problems = []
        with ThreadPoolExecutor(max_workers=max(1, len(consumers))) as pool:
            for name, seen, error in pool.map(ask, consumers):
                if error:
                    problems.append('%s could not be asked: %s' % (name, error))
                else:
                    problems += mismatches(name, seen, environment, redact_url)
        if problems:
            raise Failure(
                "The policy was written but not every consumer gets it: %s. Something read after the role's files "
                "sets these variables (a later /etc/profile.d script, another systemd drop-in, a go.env line above "
                "the role's block)." % '; '.join(problems))
        self.result['verified'] = [name for name, dummy, dummy2 in consumers]

    # --- The run ------------------------------------------------------------------------------------------------
    def run(self):
        params = self.params
        environment = self.environment()
        services = self.services()
        goroots = self.goroots()
        self.result['goroots'] = goroots
        want = {key: params[key] for key in ('profile_d', 'etc_environment', 'systemd_default_environment',
                                             'goroot_env')}
        targets = plan(self.paths, params['state'], environment, want, services, goroots, _read,
                       self.old_unit_dropins())

        changes = []  # (path, text or None, action)
        diffs = []
        for path, text in targets.items():
            snapshot = self._snapshot(path)
            if text is None:
                if snapshot.exists:
                    changes.append((path, None, 'removed'))
                    diffs.append(dict(before_header=path, after_header='%s (removed)' % path,
                                      before=snapshot.text or '', after=''))
            elif not snapshot.exists:
                changes.append((path, text, 'created'))
                diffs.append(dict(before_header='%s (absent)' % path, after_header=path, before='', after=text))
            elif snapshot.text != text or self._needs_attributes(snapshot):
                changes.append((path, text, 'updated'))
                diffs.append(dict(before_header=path, after_header=path, before=snapshot.text or '', after=text))
        # Only the snapshots of changed paths matter for a rollback.
        self.snapshots = {path: self.snapshots[path] for path, dummy, dummy2 in changes}
        self.result['files'] = [dict(path=path, action=action) for path, dummy, action in changes]
        self.result['changed'] = bool(changes)
        self.result['changed_units'] = changed_units(self.paths, [path for path, dummy, dummy2 in changes])
        if self.module._diff and diffs:
            self.result['diff'] = diffs
        if self.module.check_mode:
            self.finish('would change %d files' % len(changes) if changes else 'nothing to change')

        try:
            for path, text, action in changes:
                if action == 'removed':
                    self._remove(path)
                    continue
                shared = path == self.paths.etc_environment or os.path.basename(path) == 'go.env'
                if shared and action == 'updated':
                    self.result['backup_files'][path] = self.module.backup_local(path)
                self._write(path, text)
            systemd_paths = [path for path, dummy, dummy2 in changes
                             if path.startswith(params['systemd_dir'].rstrip('/') + '/')]
            if systemd_paths and self.systemd_booted:
                self.daemon_reload()
                self.result['systemd_reloaded'] = True
            verify = params['verify']
            if params['state'] == 'present' and (verify == 'always' or (verify == 'changed' and changes)):
                self.verify(environment, goroots)
            if params['restart_units'] and self.result['changed_units'] and self.systemd_booted:
                self.restart(self.result['changed_units'])
        except (Failure, OSError) as error:
            problems = self.rollback()
            restarted = self.result['restarted_units']
            if restarted:
                # They run with the new environment: start them again on the files put back.
                for unit in restarted:
                    self.systemctl('restart', unit)
            self.result.update(changed=False, backup_files={})
            self.result.pop('diff', None)
            if problems:
                self.module.fail_json(msg='%s. Putting the files back failed too: %s'
                                      % (to_native(error), '; '.join(problems)), **self.result)
            self.module.fail_json(msg='%s (buildfleet.mirrors.go_proxy put every file back as it was before this run)'
                                  % to_native(error), **self.result)
        self.finish('changed %d files' % len(changes) if changes else 'nothing to change')

    def finish(self, msg):
        self.module.exit_json(msg=msg, **self.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            environment=dict(type='dict'),
            profile_d=dict(type='bool', default=True),
            etc_environment=dict(type='bool', default=True),
            systemd_default_environment=dict(type='bool', default=True),
            systemd_units=dict(type='list', elements='str', default=[]),
            restart_units=dict(type='bool', default=False),
            goroot_env=dict(type='bool', default=False),
            goroot_parents=dict(type='list', elements='path', default=['/usr/lib', '/usr/local']),
            verify=dict(type='str', choices=['always', 'changed', 'never'], default='changed'),
            profile_d_path=dict(type='path', default='/etc/profile.d/go-proxy.sh'),
            etc_environment_path=dict(type='path', default='/etc/environment'),
            systemd_dir=dict(type='path', default='/etc/systemd'),
        ),
        required_if=[('state', 'present', ['environment'])],
        supports_check_mode=True,
    )
    GoPolicy(module).run()


if __name__ == '__main__':
    main()
