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
  - "With O(credentials): the netrc file O(netrc_path) that the go command reads through C(NETRC), a block of
    C(/etc/profile.d/go-proxy.sh) that sets C(NETRC) only for a user who can read that file, and C(NETRC) (with
    the group of O(credentials_group)) in each listed service's drop-in. Never in C(/etc/environment) nor in the
    manager's C(DefaultEnvironment): pam_env cannot test whether a user can read the file, and Go 1.24 and newer
    may fail every HTTPS fetch of a user pointed at a file they cannot read."
  - One task does the whole change as a transaction. It reads every managed file, writes only those whose content
    or attributes differ (atomically, a temporary file renamed over the old one), reloads systemd when one of its
    files changed, asks each consumer what it really gets (O(verify)), and restarts the running listed services whose
    drop-in changed (O(restart_units)). When any of these steps fails, every file is put back as it was (a symlink as
    the same symlink, with its owner and mode, never a wider mode), systemd is reloaded again, and the task fails with
    the reason.
  - One buildfleet.mirrors writer at a time changes a host. The whole run (read, plan, write, reload, verify,
    restart, and a rollback) holds the collection's host lock C(/run/buildfleet-mirrors/writer.lock), shared with
    every other role of the collection. A run that finds the lock taken waits up to O(lock_timeout) seconds, then
    fails naming the run that holds it, with nothing written.
  - C(/etc/environment) and C(go.env) belong to the host and to the Go package; before either is changed a backup
    is made beside it (RV(backup_files)), and its mode is never widened (a C(0600) file stays C(0600)). The other
    outputs are the module's own, made from the policy alone and marked with a managed-by header; a file without
    that header at one of their paths is backed up before it is overwritten, and never removed.
  - Check mode reads the host and tells exactly what would change (with C(--diff), each file before and after),
    without writing, reloading or verifying.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(present) writes the policy; V(absent) removes every file, line and block an earlier run wrote, whatever
        the other options say. A file is removed only when it carries the collection's managed-by header.
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
    description: Write C(/etc/profile.d/go-proxy.sh); V(false) removes it if an earlier run wrote it (it carries the
      managed-by header; a file of the host's own at that path is left alone).
    type: bool
    default: true
  etc_environment:
    description: Manage the policy's lines in C(/etc/environment); V(false) removes the lines an earlier run wrote.
    type: bool
    default: true
  systemd_default_environment:
    description: Write the systemd manager drop-in (C(DefaultEnvironment)); V(false) removes it if an earlier run wrote
      it (it carries the managed-by header; a file of the host's own at that path is left alone).
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
      - A Go install is a directory with a C(VERSION) file and an executable C(bin/go); anything else of those names
        (a stray file, an empty directory) is skipped.
      - A C(go.env) that is a symlink (into C(/usr/share), as packages ship it) is left alone unless its text must
        change; then it is replaced by a regular file, and a rollback puts the symlink back.
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
        C(su), a systemd service, each Go with no environment at all), and fail (rolling back) when one does not get
        the policy, or cannot be asked at all.
      - The systemd service is asked without D-Bus, so that hosts without a bus daemon (minimal installs, systemd in
        containers) work too. A oneshot unit file is written under O(systemd_runtime_dir), loaded with
        C(systemctl daemon-reload) and started with C(systemctl start), which reaches systemd through its private
        socket; its output goes to a file in the lock directory. The unit and its output are removed and systemd is
        reloaded again afterwards.
      - Each consumer has 60 seconds to answer, the systemd service's whole round included.
      - V(changed) verifies when this run changed a file; V(always) on every run, which also catches a later
        C(/etc/profile.d) script or another drop-in that overrides an unchanged policy; V(never) skips it.
      - Never in check mode, nor with O(state=absent).
    type: str
    choices: [always, changed, never]
    default: changed
  lock_timeout:
    description:
      - Seconds to wait for another buildfleet.mirrors writer on the same host to finish (the host lock
        C(/run/buildfleet-mirrors/writer.lock), which every role of the collection takes). When it runs out, the task
        fails naming the run that holds the lock, and writes nothing. V(0) tries once.
      - Check mode takes no lock (it writes nothing).
    type: int
    default: 300
  pruned:
    description:
      - The URLs the gate left out of the policy (the role passes what P(buildfleet.mirrors.mirror_check#module)
        found dead). Returned as is in RV(pruned), with credentials redacted, so that one registered result tells the
        whole story of the run. It changes nothing on the host.
    type: list
    elements: str
    default: []
  credentials:
    description:
      - Credentials for authenticated Go module proxies and checksum databases, each C(machine) (V(host) or
        V(host:port)), C(login) and C(password). Go sends them as HTTP basic auth, over https only.
      - Each C(machine) must name the host (and port) of an V(https://) URL of C(GOPROXY) or C(GOSUMDB) in
        O(environment) (or of O(pruned)). The netrc file gets a V(host) line for Go before 1.24, which ignores the
        port, and a V(host:port) line for Go 1.24 and newer (golang/go#37130).
      - A login or password with whitespace, a quote, a backslash, a control character or a leading V(#) is
        refused (Go's netrc parser knows no quoting). No message or result shows a password; the diff of the
        file shows machines and logins with every password masked.
      - Empty (the default) removes the file, the C(NETRC) block and the drop-in lines an earlier run wrote (the
        file only when it carries the collection's header).
    type: list
    elements: dict
    default: []
    suboptions:
      machine:
        description: V(host) or V(host:port) (V([address]) or V([address]:port) for IPv6).
        type: str
        required: true
      login:
        description: The user name.
        type: str
        required: true
      password:
        description: The password or token.
        type: str
        required: true
  credentials_group:
    description:
      - A group that exists on the host, whose members (with root) may read O(netrc_path) (C(root:<group>)
        C(0640)); every service of O(systemd_units) gets it as C(SupplementaryGroups=), whatever user it runs as.
      - Empty (the default) writes the file C(root:root) C(0600); a listed service that runs as another user than
        root is then refused (it could not read the file).
      - A group that does not exist fails the task before anything is written (in check mode, a warning).
    type: str
    default: ""
  netrc_path:
    description: Where the credentials go. Its directory is made C(0755) if missing and removed with the file when
      empty and named C(go-proxy).
    type: path
    default: /etc/go-proxy/netrc
  verify_module:
    description:
      - A module path that root downloads with the credentials when O(verify) runs
        (C(go mod download <module>@latest), with C(NETRC=)O(netrc_path) and the policy of O(environment), in a
        temporary module cache), so that the real go command proves the proxies accept the credentials.
      - Only with O(credentials) and a C(go) on the host (C(PATH), else a Go install found); empty skips that
        check. The module's own proxy and CA settings (C(https_proxy), C(no_proxy), C(SSL_CERT_FILE) ...) are
        kept for it.
    type: str
    default: ""
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
  systemd_runtime_dir:
    description:
      - systemd's runtime unit directory. Its presence tells that systemd runs on the host (as C(sd_booted) does);
        O(verify) puts its transient unit file there. Another path only for tests and unusual layouts.
    type: path
    default: /run/systemd/system
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action_group:
    description: Use C(group/buildfleet.mirrors.mirrors) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - buildfleet.mirrors.mirrors
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
  - The files are written as C(root:root) with mode C(0644) (C(/etc/environment) and C(go.env) keep a narrower mode
    they had), directories with C(0755); the credentials file as C(root:<credentials_group>) C(0640), or
    C(root:root) C(0600) without a group.
  - Members of O(credentials_group) get C(NETRC) in login shells (C(sh -l), C(su -), ssh logins), not in a PAM
    session without a login shell (C(su user -c), cron), since pam_env cannot set a variable only for those who can
    read a file. A member who sets C(NETRC) to a file of their own keeps it; while C(NETRC) names the
    collection's file, Go does not read the member's C(~/.netrc).
  - The module must run as root (C(become)), for the files it writes and for the host lock.
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

- name: Write it with the URLs a gate (mirror_check, registered as probe) found dead; wait 1 min at most
  buildfleet.mirrors.go_policy:
    environment: "{{ go_environment }}"
    pruned: "{{ probe.probes | rejectattr('reachable') | map(attribute='url') | list }}"
    lock_timeout: 60
  register: go_proxy_result

- name: With credentials for the proxy, readable by the go-mirror group and the CI agent's service
  buildfleet.mirrors.go_policy:
    environment:
      GOPROXY: https://goproxy.corp.example.com:8443,off
      GONOSUMDB: corp.example.com
    credentials:
      - machine: goproxy.corp.example.com:8443
        login: ci-build
        password: "{{ vault_goproxy_password }}"
    credentials_group: go-mirror
    systemd_units: [gitlab-runner]
    verify_module: corp.example.com/platform/lib

- name: Remove everything an earlier run wrote
  buildfleet.mirrors.go_policy:
    state: absent
"""

RETURN = r"""
msg:
  description: What the run did, or why it failed (and that every file was put back).
  returned: always
  type: str
  sample: changed 3 files
written:
  description:
    - The paths the run created, updated or removed (would, in check mode), in the order it changed them. Empty when
      nothing changed, and after a failure (every file was put back).
  returned: always
  type: list
  elements: str
  sample: [/etc/profile.d/go-proxy.sh, /etc/environment]
pruned:
  description: The URLs of O(pruned) as given, with credentials redacted (C(https://***@host)).
  returned: always
  type: list
  elements: str
  sample: [https://dead-proxy.corp.example.com]
files:
  description:
    - Every file the run created, updated or removed (would, in check mode), with what happened to it. Empty after a
      failure (every file was put back).
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
import grp
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.buildfleet.mirrors.plugins.module_utils._consumers import ask_service
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    is_our_netrc,
    mask_netrc,
    policy_targets,
    render_netrc,
    render_netrc_profile,
    validate_go_credentials,
    validate_group_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    DROPIN_NAME,
    NetrcOutput,
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
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    url_secrets,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    refuse_unsafe_characters,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import (
    DEFAULT_LOCK_TIMEOUT,
    HostLock,
    LockError,
    Transaction,
)

FILE_MODE = 0o644
VERIFY_TIMEOUT = 60
# What the go command that checks the credentials may take (a module download through the proxies).
GO_VERIFY_TIMEOUT = 120
# The environment a verifying go keeps from the module's own: how the host reaches its proxies and which CA it trusts.
PASSED_ENVIRONMENT = ('http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
                      'SSL_CERT_FILE', 'SSL_CERT_DIR')
# The part of VERIFY_TIMEOUT the systemd round may spend before it cleans up (removal and the second reload).
SYSTEMD_ASK_SHARE = 0.75
# A module path as the go command takes it on its command line: never a flag, no version, no space.
MODULE_PATH = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._~/+-]*$')
LOCK_HOLDER = 'buildfleet.mirrors.go_proxy (go_policy)'
VERIFY_UNIT_PREFIX = 'buildfleet-go-policy-verify-'


class Failure(Exception):
    """A step failed after the first write: roll back, then fail with this message."""


def _read(path):
    """A file's text (through a symlink), or None when there is no regular file to read."""
    try:
        with open(path, 'rb') as stream:
            return to_text(stream.read(), errors='surrogate_or_strict')
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def is_go_tree(goroot):
    """Whether a path is a Go install: a directory with a VERSION file and an executable bin/go."""
    go = os.path.join(goroot, 'bin', 'go')
    return (os.path.isdir(goroot) and os.path.isfile(os.path.join(goroot, 'VERSION'))
            and os.path.isfile(go) and os.access(go, os.X_OK))


class GoPolicy:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.paths = Paths(self.params['profile_d_path'], self.params['etc_environment_path'],
                           self.params['systemd_dir'])
        self.systemd_booted = os.path.isdir(self.params['systemd_runtime_dir'])
        self.result = dict(changed=False, written=[], pruned=[], files=[], backup_files={}, goroots=[],
                           systemd_reloaded=False, changed_units=[], restarted_units=[], verified=[])
        self.txn = Transaction(tmp_prefix='.go-policy.')
        self.netrc = NetrcOutput(self.params['netrc_path'])
        self.netrc_gid = 0
        self.passwords = []

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

    def pruned(self):
        pruned = []
        for url in self.params['pruned']:
            self.module.no_log_values.update(url_secrets(url))
            pruned.append(redact_url(url))
        return pruned

    def services(self):
        try:
            return service_names(self.params['systemd_units'], 'systemd_units')
        except UnitNameError as error:
            self.module.fail_json(msg=str(error))

    def credentials(self, environment):
        """The credentials file of this run (NetrcOutput), checked against the policy's https URLs and the host.

        Nothing is written when a check fails: the message names the option, the entry and its machine, never a
        login or a password. The group must exist on the host (in check mode, a missing group only warns: a task
        before this one may create it in a real run).
        """
        params = self.params
        try:
            path = params['netrc_path']
            render_netrc_profile(path)  # the path must be safe in a shell and a unit file
            if params['state'] == 'absent' or not params['credentials']:
                return NetrcOutput(path)
            for entry in params['credentials']:
                if isinstance(entry.get('password'), str):
                    self.passwords.append(entry['password'])
                    self.module.no_log_values.add(entry['password'])
            group = validate_group_name(params['credentials_group'] or None, 'credentials_group')
            targets = policy_targets(environment, params['pruned'])
            validated = validate_go_credentials(params['credentials'], targets, 'credentials')
        except PolicyError as error:
            self.module.fail_json(msg=str(error))
        if group is not None:
            try:
                self.netrc_gid = grp.getgrnam(group).gr_gid
            except KeyError:
                message = ('credentials_group %r does not exist on this host; create it first (for example with '
                           'ansible.builtin.group), then add the users and service accounts that may read the Go '
                           'proxy credentials' % group)
                if not self.module.check_mode:
                    self.module.fail_json(msg=message)
                self.module.warn(message + '. Check mode goes on as if it did.')
                self.netrc_gid = None
        return NetrcOutput(path, render_netrc(validated), group)

    def refuse_units_that_cannot_read(self, services):
        """Without a group, a listed service that runs as another user than root could not read the file."""
        if self.netrc.text is None or self.netrc.group is not None or not self.systemd_booted:
            return
        systemctl = self.module.get_bin_path('systemctl')
        if not systemctl:
            return
        for service in services:
            if service.endswith('@.service'):
                continue  # a template has no settings of its own to show
            rc, out, dummy = self.module.run_command([systemctl, 'show', '-p', 'User', '-p', 'DynamicUser', '--',
                                                      service])
            if rc != 0:
                continue  # not loaded (not installed yet): nothing to tell
            settings = dict(line.partition('=')[::2] for line in out.splitlines() if '=' in line)
            user = settings.get('User', '').strip()
            if user not in ('', 'root', '0') or settings.get('DynamicUser', '').strip() == 'yes':
                self.module.fail_json(
                    msg='systemd_units entry %s runs as %s, which cannot read %s (root:root 0600 without '
                        'credentials_group); set credentials_group to a group for the Go proxy credentials, and '
                        'the drop-in gives the service that group'
                    % (service, 'user %r' % user if user not in ('', 'root', '0') else 'a dynamic user',
                       self.netrc.path))

    # --- What the host has ------------------------------------------------------------------------------------
    def goroots(self):
        found, real = [], set()
        for parent in self.params['goroot_parents']:
            for pattern in ('go-*', 'golang', 'go'):
                for goroot in sorted(glob.glob(os.path.join(parent, pattern))):
                    # A stray file or an empty directory of that name is no Go install: skip it. A link to an
                    # install already found (Debian's /usr/lib/go -> go-1.24) is the same go.env: once is enough.
                    if goroot in found or os.path.realpath(goroot) in real or not is_go_tree(goroot):
                        continue
                    try:
                        version = _read(os.path.join(goroot, 'VERSION'))
                    except OSError:
                        continue
                    if version and is_go_env_version(version.splitlines()[0]):
                        found.append(goroot)
                        real.add(os.path.realpath(goroot))
        return found

    def old_unit_dropins(self):
        found = []
        for dropin in sorted(glob.glob(os.path.join(self.paths.unit_dir, '*.d', DROPIN_NAME))):
            text = _read(dropin)
            if text is not None and is_ours(text):
                found.append(dropin)
        return found

    def is_shared(self, path):
        """The host's and the Go package's files, which the module only edits: backed up, their mode never widened."""
        return path == self.paths.etc_environment or os.path.basename(path) == 'go.env'

    def mode_for(self, path, snapshot):
        if path == self.netrc.path:
            # Readable by root and the group only; without a group, by root alone.
            return 0o640 if self.netrc.group is not None else 0o600
        if self.is_shared(path) and snapshot.kind == 'file':
            return snapshot.mode & FILE_MODE
        return FILE_MODE

    def group_for(self, path):
        """The gid a file is written with: the credentials group for the credentials file, root's otherwise."""
        return self.netrc_gid if path == self.netrc.path else 0

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
        """(name, argv or a callable, output is JSON, what it must get) of each consumer, each with a clean environment.

        Root's login shell must get NETRC too when there are credentials (root reads the file); the PAM session and
        the services of the manager get the policy alone.
        """
        params = self.params
        found = []
        if params['profile_d']:
            expected = dict(environment)
            if self.netrc.text is not None:
                expected['NETRC'] = self.netrc.path
            found.append(('login shells (%s)' % self.paths.profile_d, [
                '/usr/bin/env', '-i', 'HOME=/nonexistent', 'PATH=/usr/bin:/bin', '/bin/sh', '-l', '-c', '/usr/bin/env'],
                False, expected))
        if params['etc_environment']:
            found.append(('PAM sessions (%s)' % self.paths.etc_environment, [
                '/usr/bin/env', '-i', '/bin/su', '--shell=/bin/sh', '--command=/usr/bin/env', 'root'], False,
                environment))
        if params['systemd_default_environment'] and self.systemd_booted:
            found.append(('systemd services (%s)' % self.paths.manager_dropin, self.ask_systemd, False, environment))
        if params['goroot_env']:
            for goroot in goroots:
                found.append(('go with no environment (%s/go.env)' % goroot, [
                    '/usr/bin/env', '-i', os.path.join(goroot, 'bin', 'go'), 'env', '-json'], True, environment))
        go = self.verifying_go(goroots)
        if go:
            found.append(('go as root with the credentials (NETRC=%s, %s %s@latest)'
                          % (self.netrc.path, go, params['verify_module']),
                          lambda: self.download_with_credentials(go, environment), False, {}))
        return found

    def verifying_go(self, goroots):
        """The go that proves the credentials (with them, a module and a go on the host), or None."""
        if self.netrc.text is None or not self.params['verify_module']:
            return None
        go = self.module.get_bin_path('go')
        if not go:
            for goroot in goroots:
                if is_go_tree(goroot):
                    return os.path.join(goroot, 'bin', 'go')
        return go

    def download_with_credentials(self, go, environment):
        """go mod download of verify_module@latest as root, with NETRC and the policy: ({}, None) or (None, why).

        In a fresh root-only directory (its own module cache, build cache and HOME, so nothing of root's is
        used or changed), removed afterwards. Go sends the netrc credentials to the https proxies and checksum
        database of the policy, exactly as it will for the users.
        """
        work = tempfile.mkdtemp(prefix='buildfleet-go-policy-verify-')
        try:
            with open(os.path.join(work, 'go.mod'), 'w') as stream:
                stream.write('module buildfleet.invalid/verify\n')
            variables = {name: os.environ[name] for name in PASSED_ENVIRONMENT if os.environ.get(name)}
            variables.update(environment)
            variables.update({
                'PATH': '%s:/usr/bin:/bin' % os.path.dirname(go), 'HOME': os.path.join(work, 'home'),
                'GOPATH': os.path.join(work, 'gopath'), 'GOMODCACHE': os.path.join(work, 'gopath', 'pkg', 'mod'),
                'GOCACHE': os.path.join(work, 'cache'), 'GO111MODULE': 'on', 'NETRC': self.netrc.path,
            })
            try:
                done = subprocess.run([go, 'mod', 'download', '-json', self.params['verify_module'] + '@latest'],
                                      cwd=work, env=variables, stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=GO_VERIFY_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                return None, 'no answer within %d s' % GO_VERIFY_TIMEOUT
            except OSError as error:
                return None, to_native(error)
            if done.returncode == 0:
                return {}, None
            # go mod download -json puts a module's error in its JSON record, other errors on stderr.
            said = to_text(done.stderr, errors='surrogate_or_replace').strip()
            try:
                said = json.loads(to_text(done.stdout, errors='surrogate_or_replace')).get('Error') or said
            except ValueError:
                pass
            return None, 'rc %s: %s' % (done.returncode, self.masked(' '.join(said.split())[-600:]))
        finally:
            # The module cache is read-only (as Go writes it): open it up before removing it.
            for directory, dummy, dummy2 in os.walk(work):
                try:
                    os.chmod(directory, stat.S_IRWXU)
                except OSError:
                    pass
            shutil.rmtree(work, ignore_errors=True)

    def masked(self, text):
        """Any text with URL credentials redacted and every password of the credentials masked."""
        text = redact_url(text)
        for password in self.passwords:
            text = text.replace(password, '********')
        return text

    def ask_systemd(self):
        """What a service started now gets, asked without D-Bus: (env output, None) or (None, why it failed)."""
        out, error = ask_service(self.module.get_bin_path('systemctl'), ['/usr/bin/env'],
                                 self.params['systemd_runtime_dir'], VERIFY_TIMEOUT, 'buildfleet.mirrors go_policy',
                                 VERIFY_UNIT_PREFIX, cleanup_share=SYSTEMD_ASK_SHARE)
        return (parse_env_output(out), None) if error is None else (None, error)

    def verify(self, environment, goroots):
        consumers = self.consumers(environment, goroots)
        expectations = {consumer[0]: consumer[3] for consumer in consumers}

        def ask(consumer):
            name, argv, is_json, dummy = consumer
            if callable(argv):
                seen, error = argv()
                return name, seen, error
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=VERIFY_TIMEOUT,
                                      check=False)
            except subprocess.TimeoutExpired:
                return name, None, 'no answer within %d s' % VERIFY_TIMEOUT
            except OSError as error:
                return name, None, to_native(error)
            out = to_text(done.stdout, errors='surrogate_or_replace')
            if done.returncode != 0:
                return name, None, 'rc %s: %s' % (done.returncode,
                                                  ' '.join(to_text(done.stderr, errors='surrogate_or_replace').split()))
            try:
                return name, json.loads(out) if is_json else parse_env_output(out), None
            except ValueError as error:
                return name, None, 'unreadable output (%s)' % error

        unasked, wrong = [], []
        with ThreadPoolExecutor(max_workers=max(1, len(consumers))) as pool:
            for name, seen, error in pool.map(ask, consumers):
                if error:
                    unasked.append('%s could not be asked: %s' % (name, error))
                else:
                    wrong += mismatches(name, seen, expectations[name], redact_url)
        sentences = []
        if wrong:
            sentences.append(
                "The policy was written but not every consumer gets it: %s. Something read after the role's files "
                "sets these variables (a later /etc/profile.d script, another systemd drop-in, a go.env line above "
                "the role's block)." % '; '.join(wrong))
        if unasked:
            sentences.append('The policy was written but not every consumer could be checked: %s.' % '; '.join(unasked))
        if sentences:
            raise Failure(' '.join(sentences))
        self.result['verified'] = [consumer[0] for consumer in consumers]

    # --- The run ------------------------------------------------------------------------------------------------
    def plan_changes(self, environment, services, goroots):
        """[(path, text or None, action, backup)] and the diffs, from the host as it is now."""
        params = self.params
        want = {key: params[key] for key in ('profile_d', 'etc_environment', 'systemd_default_environment',
                                             'goroot_env')}
        targets = plan(self.paths, params['state'], environment, want, services, goroots, _read,
                       self.old_unit_dropins(), self.netrc)
        changes, diffs = [], []
        for path, text in targets.items():
            snapshot = self.txn.snapshot(path)
            before = _read(path)  # through a symlink: a packaged go.env is often one
            # The diff of the credentials file shows machines and logins, never a password (old ones included).
            shown = mask_netrc if path == self.netrc.path else (lambda value: value)
            if text is None:
                if snapshot.exists:
                    changes.append((path, None, 'removed', False))
                    diffs.append(dict(before_header=path, after_header='%s (removed)' % path,
                                      before=shown(before or ''), after=''))
                continue
            attributes = (self.mode_for(path, snapshot), 0, self.group_for(path))
            if not snapshot.exists:
                changes.append((path, text, 'created', False))
                diffs.append(dict(before_header='%s (absent)' % path, after_header=path, before='',
                                  after=shown(text)))
            elif before != text or (snapshot.kind == 'file'
                                    and (snapshot.mode, snapshot.uid, snapshot.gid) != attributes):
                # The host's own files, and a file of the host's at one of the module's paths, are backed up first.
                ours = before is not None and (is_ours(before) or (path == self.netrc.path and is_our_netrc(before)))
                backup = self.is_shared(path) or (before is not None and not ours)
                changes.append((path, text, 'updated', backup))
                diffs.append(dict(before_header=path, after_header=path, before=shown(before or ''),
                                  after=shown(text)))
        return changes, diffs

    def run(self):
        params = self.params
        environment = self.environment()
        services = self.services()
        self.result['pruned'] = self.pruned()
        self.netrc = self.credentials(environment)
        if params['verify_module'] and not MODULE_PATH.match(params['verify_module']):
            self.module.fail_json(msg='verify_module %r is not a module path such as corp.example.com/platform/lib'
                                  % params['verify_module'])
        self.refuse_units_that_cannot_read(services)
        if params['lock_timeout'] < 0:
            self.module.fail_json(msg='lock_timeout must be 0 or more seconds, got %d' % params['lock_timeout'])
        if self.module.check_mode:
            self.apply(environment, services)
        try:
            with HostLock(params['lock_timeout'], holder=LOCK_HOLDER):
                self.apply(environment, services)
        except LockError as error:
            self.module.fail_json(msg=to_native(error), **self.result)

    def apply(self, environment, services):
        params = self.params
        goroots = self.goroots()
        self.result['goroots'] = goroots
        changes, diffs = self.plan_changes(environment, services, goroots)
        changed_paths = [path for path, dummy, dummy2, dummy3 in changes]
        self.result['files'] = [dict(path=path, action=action) for path, dummy, action, dummy2 in changes]
        self.result['written'] = changed_paths
        self.result['changed'] = bool(changes)
        self.result['changed_units'] = changed_units(self.paths, changed_paths)
        if self.module._diff and diffs:
            self.result['diff'] = diffs
        if self.module.check_mode:
            self.finish('would change %d files' % len(changes) if changes else 'nothing to change')

        try:
            for path, text, action, backup in changes:
                if action == 'removed':
                    directory = os.path.dirname(path)
                    # A drop-in alone in its directory goes with it; never a directory the host had other files in.
                    self.txn.remove(path, prune_empty_dir=(os.path.basename(path) == DROPIN_NAME
                                                           and directory.endswith('.d'))
                                    or (path == self.netrc.path and os.path.basename(directory) == 'go-proxy'))
                    continue
                made = self.txn.write(path, text, mode=self.mode_for(path, self.txn.snapshot(path)), backup=backup,
                                      gid=self.group_for(path))
                if made:
                    self.result['backup_files'][path] = made
            systemd_paths = [path for path in changed_paths if path.startswith(params['systemd_dir'].rstrip('/') + '/')]
            if systemd_paths and self.systemd_booted:
                self.daemon_reload()
                self.result['systemd_reloaded'] = True
            verify = params['verify']
            if params['state'] == 'present' and (verify == 'always' or (verify == 'changed' and changes)):
                self.verify(environment, goroots)
            if params['restart_units'] and self.result['changed_units'] and self.systemd_booted:
                self.restart(self.result['changed_units'])
        except (Failure, OSError) as error:
            self.roll_back(error)
        self.finish('changed %d files' % len(changes) if changes else 'nothing to change')

    def roll_back(self, error):
        """Every changed file back as it was, systemd reloaded on them, restarted services restarted again; fail."""
        problems = self.txn.restore()
        if self.result['systemd_reloaded']:
            try:
                self.daemon_reload()
            except Failure as reload_error:
                problems.append(to_native(reload_error))
        # The services restarted run with the new environment: start them again on the files put back.
        for unit in self.result['restarted_units']:
            rc, out, err = self.systemctl('restart', unit)
            if rc != 0:
                problems.append('systemctl restart %s failed (rc %s): %s' % (unit, rc, (err or out).strip()))
        self.result.update(changed=False, written=[], files=[], backup_files={})
        self.result.pop('diff', None)
        if problems:
            self.module.fail_json(msg='%s. Putting the files back failed too: %s'
                                  % (to_native(error), '; '.join(problems)), **self.result)
        self.module.fail_json(msg='%s (buildfleet.mirrors.go_proxy put every file back as it was before this run)'
                              % to_native(error), **self.result)

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
            lock_timeout=dict(type='int', default=DEFAULT_LOCK_TIMEOUT),
            pruned=dict(type='list', elements='str', default=[]),
            credentials=dict(type='list', elements='dict', default=[], options=dict(
                machine=dict(type='str', required=True),
                login=dict(type='str', required=True),
                password=dict(type='str', required=True, no_log=True),
            )),
            credentials_group=dict(type='str', default=''),
            netrc_path=dict(type='path', default='/etc/go-proxy/netrc'),
            verify_module=dict(type='str', default=''),
            profile_d_path=dict(type='path', default='/etc/profile.d/go-proxy.sh'),
            etc_environment_path=dict(type='path', default='/etc/environment'),
            systemd_dir=dict(type='path', default='/etc/systemd'),
            systemd_runtime_dir=dict(type='path', default='/run/systemd/system'),
        ),
        required_if=[('state', 'present', ['environment'])],
        supports_check_mode=True,
    )
    GoPolicy(module).run()


if __name__ == '__main__':
    main()
