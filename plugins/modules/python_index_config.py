#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: python_index_config
short_description: Point pip and uv at a Python package index system-wide, verify with the real clients, or roll back
version_added: 0.3.0
description:
  - The writing step of the P(buildfleet.mirrors.python_mirrors#role) role, as one transaction under the host lock
    every writer of the collection shares (one writer at a time per host, see O(lock_timeout)).
  - "Writes the index into the system-wide files the clients read, as one block between
    C(# BEGIN buildfleet.mirrors) and C(# END buildfleet.mirrors), every other line of the host's kept:
    C(/etc/pip.conf) (O(pip_conf_path); C(index-url), C(extra-index-url), C(trusted-host) for each V(http://) index
    and C(cert) with O(cert), in C([global])), and the C(uv.toml) uv reads (O(uv_toml_path); one C([[index]]) table
    per extra index, then the main one with C(default = true))."
  - pip reads C($XDG_CONFIG_DIRS/pip/pip.conf) (C(/etc/xdg/pip/pip.conf)) and then C(/etc/pip.conf), the later
    winning, so C(/etc/pip.conf) is the file to write. uv reads the first of C($XDG_CONFIG_DIRS/uv/uv.toml) and
    C(/etc/uv/uv.toml) that exists; uv reads neither C(pip.conf) nor C(PIP_INDEX_URL).
  - A key of the host's own that would override or contradict the policy (C(index-url), C(extra-index-url),
    C(trusted-host), C(cert) or C(no-index) in any section of C(pip.conf), since pip reads C([install]) before
    C([global]); C(index-url), C(extra-index-url), C(no-index) or a default C([[index]]) in C(uv.toml)) is refused
    with a message naming the file and the key, and nothing is written.
  - Then asks the real clients, each started with an empty environment and a throw-away C(HOME) so that no user file
    and no C(PIP_*) or C(UV_*) variable hides what the system files say (O(verify)). pip (C(python3 -m pip)) -
    C(pip config debug) shows that pip reads the written file and that no other file it reads sets an index,
    C(pip config list) gives the policy's index, and with O(verify_package) C(pip download --no-deps) fetches that
    project through it. uv, when it is installed and O(uv) is true - C(uv venv) accepts the file, and with
    O(verify_package) C(uv pip install --no-deps) installs the project into that venv. On any failure every file
    goes back byte for byte and the task fails with the client's own reason.
  - V(absent) takes the block out of both files and leaves every other byte as it was; a file that held nothing
    else goes.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(present) writes the index; V(absent) removes the collection's block from both files, whatever the other
        options say.
    type: str
    choices: [present, absent]
    default: present
  index_url:
    description:
      - The PEP 503/691 simple index every install uses (V(https://pypi.corp.example/simple/)). Required with
        O(state=present).
      - "V(https://) with a host, no query, no fragment, none of whitespace, quotes, C($), backticks, C(;), C(#),
        C(\\\\) or control characters (a newline would add a line to the file). A URL with credentials is refused
        (the files are readable by every user of the host)."
      - V(http://) only with O(allow_http); pip then gets the host in C(trusted-host).
    type: str
  extra_index_urls:
    description:
      - Further indexes, checked as O(index_url). pip merges the candidates of every index (dependency confusion,
        a public project with the name of a private one may win); uv asks them in order and takes a package from
        the first index that has it (its default C(index-strategy), which the module keeps).
    type: list
    elements: str
    default: []
  allow_http:
    description: Accept V(http://) indexes, whose packages anyone on the path can change.
    type: bool
    default: false
  cert:
    description:
      - A CA bundle for pip's C(cert) key, which replaces pip's own CA list (certifi). Give the system bundle that
        the P(buildfleet.mirrors.ca_trust#role) role completes (C(/etc/ssl/certs/ca-certificates.crt) on Debian,
        C(/etc/pki/tls/certs/ca-bundle.crt) on RHEL), never one corporate CA alone. It must exist on the host.
      - uv trusts its bundled Mozilla roots, which know no corporate CA. With a bundle for pip, C(uv.toml) also gets
        C(system-certs = true) (C(native-tls = true) for a uv older than that name, or when uv is not installed) in
        a block of its own at the top of the file, so that uv trusts the system store instead, which
        P(buildfleet.mirrors.ca_trust#role) completes.
    type: path
  cert_system_bundle:
    description:
      - Give pip's C(cert) the system CA bundle of the host, the first of O(system_bundles) that exists (what the
        role does when C(ca_trust_certificates) is in use). Mutually exclusive with O(cert).
    type: bool
    default: false
  system_bundles:
    description: Where the system CA bundle may be, in order (another value only for tests and unusual layouts).
    type: list
    elements: path
    default: [/etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt]
  uv:
    description:
      - Also write the C(uv.toml) uv reads. V(false) takes the collection's tables out of it.
    type: bool
    default: true
  verify:
    description:
      - When to ask the clients (see the description). V(changed) on the runs that changed a file, V(always) on every
        run, V(never) trusts the files. Never in check mode, nor with O(state=absent).
    type: str
    choices: [always, changed, never]
    default: changed
  verify_package:
    description:
      - A project the index serves (the probe package of the gate), which the clients download (pip) and install
        without its dependencies into a throw-away venv (uv). Empty checks the configuration only.
    type: str
    default: ""
  python:
    description: The Python whose pip verifies; default C(python3) on C(PATH). No pip there skips the pip check with a
      warning (the file is written all the same).
    type: path
  uv_command:
    description: The uv that verifies; default C(uv) on C(PATH). None skips the uv check.
    type: path
  pip_conf_path:
    description: The pip configuration file (another path only for tests and unusual layouts).
    type: path
    default: /etc/pip.conf
  uv_toml_path:
    description:
      - The uv configuration file. Default the one uv reads, the first of C(<dir>/uv/uv.toml) for each of
        O(xdg_config_dirs) and C(/etc/uv/uv.toml) that exists, else C(/etc/uv/uv.toml).
    type: path
  xdg_config_dirs:
    description:
      - The XDG configuration directories the clients read (C($XDG_CONFIG_DIRS)); default C(/etc/xdg). Given, they are
        also passed to the verifying clients as C(XDG_CONFIG_DIRS). Another value only for tests and unusual layouts.
    type: list
    elements: path
  export_environment:
    description:
      - Also export C(PIP_INDEX_URL) (and C(PIP_EXTRA_INDEX_URL), the extra indexes separated by spaces) and, with
        O(uv), C(UV_DEFAULT_INDEX) (and C(UV_INDEX)) through the collection's shared environment writer - to login
        shells (C(/etc/profile.d/python-mirrors.sh)), PAM sessions (the role's marked lines of C(/etc/environment),
        every other line kept, backed up first) and the services of O(systemd_units) (a drop-in
        C(<unit>.d/python-mirrors.conf) each, then C(systemctl daemon-reload)).
      - They override a user's own C(pip.conf), a project's C(pyproject.toml) index and C(uv.toml), so they are the
        enforcing choice. V(false) (and O(state=absent)) removes what an earlier run exported, and only that.
      - O(verify) then also asks a login shell and a PAM session (C(su)) of root, and each listed service that is
        loaded (C(systemctl show)), for the variables; with other paths than the defaults those are not asked.
    type: bool
    default: false
  systemd_units:
    description:
      - Services (CI agents) that get the variables in a drop-in when O(export_environment) is true. A name without
        a suffix means C(<name>.service). The drop-in is written even if the unit is not installed yet; drop-ins of
        units no longer listed are removed. A running service sees them at its next restart.
    type: list
    elements: str
    default: []
  profile_d_path:
    description: The login-shell file (another path only for tests and unusual layouts).
    type: path
    default: /etc/profile.d/python-mirrors.sh
  etc_environment_path:
    description: The pam_env file.
    type: path
    default: /etc/environment
  systemd_dir:
    description: systemd's configuration directory, which holds C(system).
    type: path
    default: /etc/systemd
  systemd_runtime_dir:
    description: systemd's runtime unit directory; its presence tells that systemd runs on the host.
    type: path
    default: /run/systemd/system
  lock_timeout:
    description:
      - Seconds to wait for another buildfleet.mirrors writer on the same host to finish (the host lock
        C(/run/buildfleet-mirrors/writer.lock)); when it runs out the task fails naming the run that holds it and
        writes nothing. Check mode takes no lock.
    type: int
    default: 300
  pruned:
    description: The index URLs the gate left out (returned in RV(pruned), credentials redacted); changes nothing.
    type: list
    elements: str
    default: []
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
    details: Reads both files and tells which would change; writes and verifies nothing.
  diff_mode:
    support: full
    details: One diff per file, its whole text before and after.
  idempotent:
    description: A second run with the same index changes nothing (the same bytes) and makes no backup.
    support: full
  safe_file_operations:
    description: Each file is written to a temporary file in its directory, then renamed over the old one.
    support: full
  platform:
    platforms: posix
notes:
  - On a host with Python older than 3.11 (no C(tomllib)), a C(uv.toml) that holds settings of its own is refused
    (they cannot be checked); the collection's own lines are written without reading them back, and uv itself
    reads the file at verification.
  - The module must run as root (C(become)). New files are C(root:root) C(0644); an existing file keeps its mode,
    never wider than C(0644).
  - Never writes C(break-system-packages); Debian's pip refuses installs outside a venv (PEP 668), which is right.
  - A user's own C(~/.config/pip/pip.conf), C(PIP_INDEX_URL), a project's C(pyproject.toml) index or C(UV_INDEX)
    still override these files; the role's C(python_mirrors_environment) exports the variables for that reason.
seealso:
  - module: buildfleet.mirrors.mirror_check
  - plugin: buildfleet.mirrors.validate_python_mirrors
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Every pip and uv of the host through the corporate index
  buildfleet.mirrors.python_index_config:
    index_url: https://pypi.corp.example/simple/
    verify_package: pip
  become: true

- name: With the system bundle that ca_trust completed (the index has a certificate of the corporate CA)
  buildfleet.mirrors.python_index_config:
    index_url: https://pypi.corp.example/simple/
    cert: /etc/ssl/certs/ca-certificates.crt
    uv: false
  become: true

- name: Remove the collection's lines from pip.conf and uv.toml
  buildfleet.mirrors.python_index_config:
    state: absent
  become: true
"""

RETURN = r"""
msg:
  description: What the run did, or why it failed (and that every file was put back).
  returned: always
  type: str
  sample: /etc/pip.conf created; /etc/uv/uv.toml created; verified pip reads /etc/pip.conf
written:
  description: The files created, updated or removed (would be, in check mode); V([]) when nothing changed or after a
    failure (every file was put back).
  returned: always
  type: list
  elements: str
  sample: [/etc/pip.conf, /etc/uv/uv.toml]
files:
  description: Each file of RV(written) with what happened to it.
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
backup_files:
  description: The backups made of files that held the host's own lines, by path.
  returned: always
  type: dict
  sample: {/etc/pip.conf: /etc/pip.conf.4242.2026-12-03@17:11:12~}
pip_conf:
  description: The pip configuration file managed.
  returned: always
  type: str
  sample: /etc/pip.conf
uv_toml:
  description: The uv configuration file managed.
  returned: always
  type: str
  sample: /etc/uv/uv.toml
verified:
  description: What the clients were asked and answered right.
  returned: always
  type: list
  elements: str
  sample: [pip reads /etc/pip.conf (pip config debug, pip config list)]
changed_units:
  description: The services of O(systemd_units) whose drop-in changed (they see it at their next restart).
  returned: always
  type: list
  elements: str
pruned:
  description: O(pruned), credentials redacted.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_index_writer import (
    Failure,
    Host,
    PythonIndexWriter,
    Refusal,
    run_clean,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import url_secrets
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import (
    DEFAULT_LOCK_TIMEOUT,
    HostLock,
    LockError,
)

LOCK_HOLDER = 'buildfleet.mirrors.python_mirrors (python_index_config)'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            index_url=dict(type='str'),
            extra_index_urls=dict(type='list', elements='str', default=[]),
            allow_http=dict(type='bool', default=False),
            cert=dict(type='path'),
            cert_system_bundle=dict(type='bool', default=False),
            system_bundles=dict(type='list', elements='path',
                                default=['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt']),
            uv=dict(type='bool', default=True),
            verify=dict(type='str', choices=['always', 'changed', 'never'], default='changed'),
            verify_package=dict(type='str', default=''),
            python=dict(type='path'),
            uv_command=dict(type='path'),
            pip_conf_path=dict(type='path', default='/etc/pip.conf'),
            uv_toml_path=dict(type='path'),
            xdg_config_dirs=dict(type='list', elements='path'),
            export_environment=dict(type='bool', default=False),
            systemd_units=dict(type='list', elements='str', default=[]),
            profile_d_path=dict(type='path', default='/etc/profile.d/python-mirrors.sh'),
            etc_environment_path=dict(type='path', default='/etc/environment'),
            systemd_dir=dict(type='path', default='/etc/systemd'),
            systemd_runtime_dir=dict(type='path', default='/run/systemd/system'),
            lock_timeout=dict(type='int', default=DEFAULT_LOCK_TIMEOUT),
            pruned=dict(type='list', elements='str', default=[]),
        ),
        required_if=[('state', 'present', ['index_url'])],
        mutually_exclusive=[('cert', 'cert_system_bundle')],
        supports_check_mode=True,
    )
    # No URL secret reaches an output: the filter and the writer refuse them, and Ansible masks them besides.
    for url in [module.params['index_url'] or ''] + module.params['extra_index_urls'] + module.params['pruned']:
        module.no_log_values.update(url_secrets(url))
    if module.params['lock_timeout'] < 0:
        module.fail_json(msg='lock_timeout must be 0 or more seconds, got %d' % module.params['lock_timeout'])
    host = Host(
        run=run_clean,
        which=module.get_bin_path,
        warn=module.warn,
        atomic_move=lambda source, destination: module.atomic_move(source, destination, unsafe_writes=False),
        backup_local=module.backup_local,
    )
    writer = PythonIndexWriter(host, module.params, module.check_mode, module._diff)
    try:
        if module.check_mode:
            result = writer.run()
        else:
            with HostLock(module.params['lock_timeout'], holder=LOCK_HOLDER):
                result = writer.run()
    except (Refusal, Failure, LockError) as error:
        module.fail_json(msg=to_native(error), **writer.result)
    except (OSError, ValueError) as error:
        module.fail_json(msg='cannot manage the Python index configuration: %s' % to_native(error), **writer.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
