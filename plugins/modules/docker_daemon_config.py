#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Set dockerd's registry mirrors and insecure registries in daemon.json, keeping every other key
version_added: 0.1.0
description:
  - Reads C(daemon.json), sets C(registry-mirrors) and, when given, C(insecure-registries), and keeps every other key,
    their order and the file's indentation. The file is written only when what dockerd would load changes, so a
    host that already complies is left alone, whatever the file's formatting.
  - An existing file that is not a JSON object fails the task and is never overwritten.
  - The new file is written atomically (a temporary file renamed over the old one), optionally after a backup, and
    only after O(validate) accepted it. Check mode runs the validation too, so it tells whether the daemon would
    accept the change.
  - Before writing, it looks at how dockerd is started and fails when a flag would conflict with the file
    (C(--registry-mirror) or C(--insecure-registry) on the running daemon's command line, in the unit file, a
    drop-in or an environment file of the unit), or when the running daemon reads another file (C(--config-file)).
    dockerd refuses to start or reload when a setting comes from both a flag and the file.
  - It only writes the file. Apply it with C(systemctl reload docker) (both keys are reloadable) and check the result
    with C(docker info); the P(buildfleet.mirrors.registry_config_problems#filter) filter compares the two.
  - JSON has no comments, so the file carries no managed-by header.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  path:
    description: The daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  state:
    description:
      - V(present) sets the keys, V(absent) removes them (see O(strategy)); every other key is kept.
      - With V(absent), a missing file stays missing.
    type: str
    choices: [present, absent]
    default: present
  registry_mirrors:
    description:
      - Docker Hub mirror URLs in priority order (C(registry-mirrors)). dockerd uses mirrors for Docker Hub images
        only.
      - Checked as dockerd checks them (see P(buildfleet.mirrors.validate_registry_mirrors#filter)) and written as
        dockerd normalises them, with one trailing C(/).
      - Leave it unset to leave C(registry-mirrors) as it is.
    type: list
    elements: str
  insecure_registries:
    description:
      - Registries dockerd may reach over plain HTTP or without verifying their certificate, as C(host[:port]) or a
        CIDR (C(insecure-registries)).
      - Leave it unset to leave C(insecure-registries) as it is. With O(state=present), V([]) empties the list.
    type: list
    elements: str
  strategy:
    description:
      - V(replace) makes each given key exactly the given list (with O(state=absent), removes the key).
      - V(merge) puts the given entries first and keeps the existing entries they do not name after them (with
        O(state=absent), removes only the given entries, and the key when none is left).
    type: str
    choices: [replace, merge]
    default: replace
  keep_empty:
    description:
      - With O(state=absent), write a key that has no entry left as an empty list, adding it when it is missing,
        instead of removing it.
      - dockerd keeps a key's old value when a reload finds the key missing, so only an empty list makes
        C(systemctl reload docker) forget the mirrors. Write the empty lists, reload, then run again without
        O(keep_empty) to remove the keys; dockerd reads a missing key as an empty list when it starts.
    type: bool
    default: false
  allow_path:
    description:
      - Accept a path in a mirror URL. Docker Engine 24 and newer accept one; older engines refuse it.
      - Unset, the host's engine decides (RV(engine.version)); with no engine installed, a path is refused.
    type: bool
  validate:
    description:
      - A command that checks the new file before it replaces the old one; C(%s) stands for the new file's path.
      - Without it, the module still checks that the new file is JSON and that the registry keys are lists of
        strings.
      - Mutually exclusive with O(dockerd_validate).
    type: str
  dockerd_validate:
    description:
      - Check the new file with the host's own C(dockerd --validate --config-file) before it replaces the old one,
        when the engine has that flag (Docker Engine 23 and newer); older engines get the JSON check only.
    type: bool
    default: false
  names:
    description:
      - What to call O(registry_mirrors) and O(insecure_registries) in messages, for a role that passes its own
        variables, for example a dict whose V(registry_mirrors) key is V(docker_mirrors_registry_mirrors).
    type: dict
  backup:
    description: Keep a copy of the old file, next to it, with a timestamp in its name, before replacing it.
    type: bool
    default: false
  check_flags:
    description:
      - Look for C(--registry-mirror), C(--insecure-registry) and C(--config-file) in the running dockerd's command
        line and in the files of O(unit), and fail on a conflict with the keys that are written.
    type: bool
    default: true
  unit:
    description: The systemd unit that runs dockerd, read for O(check_flags).
    type: str
    default: docker.service
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.files
notes:
  - A new file gets mode C(0644) unless O(mode) says otherwise; an existing file keeps its owner, group and mode.
  - Credentials found in URLs anywhere in the file (for example in C(proxies)) are masked in the diff and result.
seealso:
  - module: buildfleet.mirrors.mirror_check
  - name: dockerd configuration file
    description: The keys of daemon.json and which of them dockerd reloads on SIGHUP.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
attributes:
  check_mode:
    support: full
    details: Reads, merges and runs O(validate) on a temporary file, then reports what would change.
  diff_mode:
    support: full
    details: Shows the file before and after, as text.
  idempotent:
    description: A second run with the same options changes nothing and makes no backup.
    support: full
  safe_file_operations:
    description: The new file is written to a temporary file, validated, then renamed over the old one.
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Docker Hub through the corporate mirrors, other daemon.json keys kept
  buildfleet.mirrors.docker_daemon_config:
    registry_mirrors:
      - https://dockerhub-mirror.corp.example.com
      - https://dockerhub-mirror2.corp.example.com
    validate: dockerd --validate --config-file %s
    backup: true
  register: __daemon_config

- name: Add a mirror in front of the ones already there, and one insecure registry
  buildfleet.mirrors.docker_daemon_config:
    registry_mirrors: [https://dockerhub-mirror.corp.example.com]
    insecure_registries: [registry.lab.corp.example.com:5000]
    strategy: merge

- name: Make a running dockerd forget the mirrors - first empty the keys
  buildfleet.mirrors.docker_daemon_config:
    state: absent
    registry_mirrors: []
    keep_empty: true

- name: Reload dockerd, which now reads an empty list
  ansible.builtin.service:
    name: docker
    state: reloaded

- name: Then remove the registry keys, keep the rest of the file
  buildfleet.mirrors.docker_daemon_config:
    state: absent
    registry_mirrors: []
    insecure_registries: []
"""

RETURN = r"""
path:
  description: The file, symbolic links resolved.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
created:
  description: Whether the file did not exist and was (or, in check mode, would be) created.
  returned: always
  type: bool
  sample: false
created_directory:
  description: The directory of the file, when it did not exist (dockerd not installed yet) and was made, mode 0755.
  returned: when the directory was made
  type: str
  sample: /etc/docker
backup_file:
  description: The copy of the old file, when O(backup) made one.
  returned: when a backup was made
  type: str
  sample: /etc/docker/daemon.json.4242.2026-01-31@12:00:00~
registry_mirrors:
  description:
    - The mirrors the file sets afterwards, as dockerd normalises them (what C(docker info) should show after a
      reload); V([]) when the key is not set. Null when O(registry_mirrors) was not given.
  returned: always
  type: list
  elements: str
  sample: [https://dockerhub-mirror.corp.example.com/]
insecure_registries:
  description: The insecure registries the file sets afterwards; null when O(insecure_registries) was not given.
  returned: always
  type: list
  elements: str
  sample: [registry.lab.corp.example.com:5000]
engine:
  description:
    - The Docker Engine of the host, read before anything is written, so that a role can decide how to apply the
      file (a reload needs a running daemon under systemd) without a task of its own.
    - Docker 26's client answers C(null) with exit code 0 when the daemon is down; only a registry configuration in
      the answer counts as running.
  returned: always
  type: dict
  contains:
    installed:
      description: Whether C(dockerd) was found (in C(PATH) or the sbin directories).
      type: bool
    dockerd:
      description: Its path; empty when it is not installed.
      type: str
      sample: /usr/sbin/dockerd
    version:
      description: Its version; empty when it is not installed.
      type: str
      sample: 20.10.24
    running:
      description: Whether the daemon answers C(docker info).
      type: bool
    registry_config:
      description: The C(RegistryConfig) the running daemon reports (its mirrors and insecure registries); null when
        it does not run.
      type: dict
    systemd:
      description: Whether systemd runs the host (C(/run/systemd/system) exists).
      type: bool
msg:
  description: What was done.
  returned: always
  type: str
  sample: /etc/docker/daemon.json updated (registry-mirrors)
"""

import json
import os
import re
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    CONFIG_FILE_FLAG,
    INSECURE_KEY,
    MANAGED_KEYS,
    MIRRORS_KEY,
    DaemonJsonError,
    apply_policy,
    config_file_in_argv,
    describe_flag_conflicts,
    detect_indent,
    flag_conflicts,
    managed_values,
    parse_daemon_json,
    render_daemon_json,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import (
    PolicyError,
    url_secrets,
    validate_insecure_registries,
    validate_registry_mirrors,
)

DOCKER_PIDFILE = '/run/docker.pid'
SBIN_DIRECTORIES = ['/usr/local/sbin', '/usr/sbin', '/sbin']
NEW_DIRECTORY_MODE = 0o755
NEW_FILE_MODE = '0644'


def _strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def _argv_of(pid):
    """The command line of a running dockerd, or None when pid is not a dockerd."""
    comm = _read('/proc/%s/comm' % pid)
    cmdline = _read('/proc/%s/cmdline' % pid)
    if comm is None or cmdline is None or to_text(comm).strip() != 'dockerd':
        return None
    return [to_text(argument, errors='surrogate_or_strict') for argument in cmdline.split(b'\0') if argument]


class DaemonStart:
    """How dockerd is started: the running daemon's command line and the files of its systemd unit."""

    def __init__(self, module, unit):
        self.module = module
        self.unit = unit
        self.running = {}  # pid -> argv
        self.files = []    # (label, path)
        self._read_unit()
        pidfile = _read(DOCKER_PIDFILE)
        for pid in [self._main_pid, to_text(pidfile).strip() if pidfile else None]:
            if pid and pid != '0' and pid not in self.running:
                argv = _argv_of(pid)
                if argv is not None:
                    self.running[pid] = argv

    def _read_unit(self):
        self._main_pid = None
        systemctl = self.module.get_bin_path('systemctl')
        if not systemctl:
            return
        rc, out, err = self.module.run_command(
            [systemctl, 'show', self.unit, '--property=MainPID,FragmentPath,DropInPaths,EnvironmentFiles'])
        if rc != 0:
            return
        for line in out.splitlines():
            name, dummy, value = line.partition('=')
            if name == 'MainPID':
                self._main_pid = value.strip()
            elif name == 'FragmentPath' and value:
                self.files.append(('the unit file %s' % value, value))
            elif name == 'DropInPaths':
                self.files.extend(('the drop-in %s' % path, path) for path in value.split())
            elif name == 'EnvironmentFiles' and value:
                path = value.rsplit(' (', 1)[0]
                self.files.append(('the environment file %s of %s' % (path, self.unit), path))

    def sources(self):
        found = [('the running dockerd (pid %s)' % pid, argv) for pid, argv in self.running.items()]
        for label, path in self.files:
            content = _read(path)
            if content is not None:
                found.append((label, to_text(content, errors='surrogate_or_replace')))
        return found

    def other_config_file(self, path):
        """(pid, file) when the running dockerd reads another configuration file than path."""
        for pid, argv in self.running.items():
            config_file = config_file_in_argv(argv)
            if config_file and os.path.realpath(config_file) != path:
                return pid, config_file
        return None


def read_engine(module):
    """The host's Docker Engine: installed, its version, whether it runs and with which registry settings."""
    engine = dict(installed=False, dockerd='', version='', running=False, registry_config=None,
                  systemd=os.path.isdir('/run/systemd/system'))
    dockerd = module.get_bin_path('dockerd', opt_dirs=SBIN_DIRECTORIES)
    if dockerd:
        engine.update(installed=True, dockerd=dockerd)
        rc, out, err = module.run_command([dockerd, '--version'])
        match = re.search(r'[0-9]+\.[0-9]+(\.[0-9]+)?', out) if rc == 0 else None
        if match:
            engine['version'] = match.group(0)
    docker = module.get_bin_path('docker', opt_dirs=SBIN_DIRECTORIES)
    if docker:
        rc, out, err = module.run_command([docker, 'info', '--format', '{{json .RegistryConfig}}'])
        try:
            config = json.loads(out or 'null') if rc == 0 else None
        except ValueError:
            config = None
        if isinstance(config, dict):
            engine.update(running=True, registry_config=config)
    return engine


def engine_at_least(engine, major):
    """Whether the engine's version is major.0 or newer (False when no engine is installed)."""
    version = engine['version']
    return bool(version) and int(version.split('.')[0]) >= major


class DaemonConfig:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = os.path.realpath(self.params['path'])
        self.engine = read_engine(module)
        self.result = dict(changed=False, path=self.path, created=False, engine=self.engine)
        if self.params['allow_path'] is None:
            self.params['allow_path'] = engine_at_least(self.engine, 24)
        if self.params['dockerd_validate'] and engine_at_least(self.engine, 23):
            self.params['validate'] = '%s --validate --config-file %%s' % shlex.quote(self.engine['dockerd'])
        # A mirror URL with credentials is refused, but its password must not be echoed while saying so.
        for value in (self.params['registry_mirrors'] or []) + (self.params['insecure_registries'] or []):
            module.no_log_values.update(url_secrets(value))

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def name(self, option):
        """What to call an option in a message: the caller's own variable, when it says so."""
        return (self.params['names'] or {}).get(option) or option

    def policy(self):
        """The validated lists (None for a key that is not managed)."""
        mirrors = self.params['registry_mirrors']
        insecure = self.params['insecure_registries']
        if self.params['state'] == 'absent':
            return mirrors, insecure
        try:
            if mirrors is not None:
                mirrors = validate_registry_mirrors(mirrors, self.name('registry_mirrors'), self.params['allow_path'])
            if insecure is not None:
                insecure = validate_insecure_registries(insecure, self.name('insecure_registries'))
        except PolicyError as error:
            self.fail(str(error))
        return mirrors, insecure

    def read(self):
        raw = _read(self.path)
        if raw is None:
            if os.path.exists(self.path):
                self.fail('%s exists but cannot be read' % self.path)
            return None, {}
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as error:
            self.fail('%s is not UTF-8 text (%s); dockerd cannot read it either. It was left untouched'
                      % (self.path, error))
        try:
            return text, parse_daemon_json(text, self.path)
        except DaemonJsonError as error:
            self.fail(str(error))

    def check_start(self, new_config, keys_written):
        start = DaemonStart(self.module, self.params['unit'])
        other = start.other_config_file(self.path)
        if other:
            pid, config_file = other
            self.fail('the running dockerd (pid %s) reads its configuration from %s (%s), not from %s; '
                      'manage that file instead. %s was left untouched'
                      % (pid, config_file, CONFIG_FILE_FLAG, self.path, self.path))
        keys = [key for key in keys_written if key in new_config]
        conflicts = flag_conflicts(start.sources(), keys) if keys else []
        if conflicts:
            self.fail(describe_flag_conflicts(conflicts, self.path))

    def validate(self, text):
        """Run the validate command on a temporary copy of the new file; fail with its output when it refuses."""
        command = self.params['validate']
        if '%s' not in command:
            self.fail('validate must contain %%s, the place of the new file, got %r' % command)
        handle, temporary = tempfile.mkstemp(prefix='daemon.', suffix='.json', dir=self.module.tmpdir)
        with os.fdopen(handle, 'wb') as stream:
            stream.write(to_bytes(text))
        self.module.add_cleanup_file(temporary)
        rc, out, err = self.module.run_command(shlex.split(command.replace('%s', shlex.quote(temporary))))
        if rc != 0:
            output = ' '.join((err or out).split()) or 'no output'
            self.fail('the new %s was refused by `%s` (rc %s): %s. The file was left untouched'
                      % (self.path, command.replace('%s', '<new file>'), rc, output))
        return temporary

    def write(self, text, temporary, existed):
        if existed and self.params['backup']:
            self.result['backup_file'] = self.module.backup_local(self.path)
        if temporary is None:
            handle, temporary = tempfile.mkstemp(prefix='daemon.', suffix='.json', dir=self.module.tmpdir)
            with os.fdopen(handle, 'wb') as stream:
                stream.write(to_bytes(text))
        self.module.atomic_move(temporary, self.path)

    def run(self):
        params = self.params
        mirrors, insecure = self.policy()
        before_text, config = self.read()
        existed = before_text is not None
        if not existed and params['state'] == 'absent':
            self.finish(config, 'nothing to remove: %s does not exist' % self.path)

        try:
            new_config = apply_policy(config, params['state'], params['strategy'], mirrors, insecure, self.path,
                                      params['keep_empty'])
        except DaemonJsonError as error:
            self.fail(str(error))
        keys_written = [key for key, value in ((MIRRORS_KEY, mirrors), (INSECURE_KEY, insecure)) if value is not None]
        for value in _strings(config), _strings(new_config):
            for string in value:
                self.module.no_log_values.update(url_secrets(string))

        # Also when nothing changes: a file edited since dockerd started can already be in conflict.
        if params['check_flags']:
            self.check_start(new_config, keys_written)
        if new_config == config and existed:
            self.finish(new_config, '%s already sets the policy' % self.path)

        after_text = render_daemon_json(new_config, detect_indent(before_text or ''))
        # The schema check every engine gets: the new file reads back as the same configuration.
        if parse_daemon_json(after_text, self.path) != new_config:
            self.fail('internal error: the new %s does not read back as written' % self.path)
        temporary = self.validate(after_text) if params['validate'] else None

        self.result.update(changed=True, created=not existed)
        if self.module._diff:
            self.result['diff'] = dict(before=before_text or '', after=after_text,
                                       before_header=self.path, after_header=self.path)
        touched = [key for key in MANAGED_KEYS if new_config.get(key) != config.get(key)]
        action = 'created' if not existed else 'updated'
        if not self.module.check_mode:
            parent = os.path.dirname(self.path)
            if not os.path.isdir(parent):  # dockerd is not installed yet: the file waits for it
                os.makedirs(parent, NEW_DIRECTORY_MODE)
                self.result['created_directory'] = parent
            self.write(after_text, temporary, existed)
        would = 'would be ' if self.module.check_mode else ''
        self.finish(new_config, '%s %s%s (%s)' % (self.path, would, action, ', '.join(touched) or 'file created'))

    def finish(self, config, msg):
        mirrors, insecure = managed_values(config, self.params['registry_mirrors'] is not None,
                                           self.params['insecure_registries'] is not None)
        self.result.update(msg=msg, registry_mirrors=mirrors, insecure_registries=insecure)
        if os.path.exists(self.path):  # in check mode, a file that is not there yet has no attributes to set
            file_args = self.module.load_file_common_arguments(self.params, path=self.path)
            if self.result['created'] and file_args['mode'] is None:
                file_args['mode'] = NEW_FILE_MODE
            self.result['changed'] = self.module.set_fs_attributes_if_different(file_args, self.result['changed'])
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/docker/daemon.json'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            registry_mirrors=dict(type='list', elements='str'),
            insecure_registries=dict(type='list', elements='str'),
            strategy=dict(type='str', choices=['replace', 'merge'], default='replace'),
            keep_empty=dict(type='bool', default=False),
            allow_path=dict(type='bool'),
            validate=dict(type='str'),
            dockerd_validate=dict(type='bool', default=False),
            names=dict(type='dict'),
            backup=dict(type='bool', default=False),
            check_flags=dict(type='bool', default=True),
            unit=dict(type='str', default='docker.service'),
        ),
        add_file_common_args=True,
        mutually_exclusive=[('validate', 'dockerd_validate')],
        supports_check_mode=True,
    )
    try:
        DaemonConfig(module).run()
    except (OSError, ValueError) as error:
        module.fail_json(msg='cannot manage %s: %s' % (module.params['path'], to_native(error)))


if __name__ == '__main__':
    main()
