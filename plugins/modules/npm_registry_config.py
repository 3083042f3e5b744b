#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: npm_registry_config
short_description: Put the npm registry policy in the global npmrc, verify it with npm and pnpm, or put it back
version_added: 0.3.0
description:
  - The writing step of the P(buildfleet.mirrors.node_mirrors#role) role, as one transaction under the host lock every
    writer of the collection shares (one writer at a time per host, see O(lock_timeout)).
  - "Finds the global npmrc by asking the real npm, C(npm config get globalconfig), in a clean environment (no
    C(npm_config_*) variable, a HOME of its own): NodeSource's npm says C(/usr/etc/npmrc), Debian's npm (whose
    builtin npmrc sets it) C(/etc/npmrc). Without npm on the host it writes C(/etc/npmrc) and says so in a warning
    and in RV(npm)."
  - "pnpm 10 reads npm's global file (seen with Debian's npm on Debian 12 and 13). pnpm 9 reads C(<prefix>/etc/npmrc)
    whenever it knows a prefix, which with Debian's npm (prefix C(/usr/local)) is another file. So when the real
    pnpm does not get the policy from npm's file, the block also goes into C(<npm's prefix>/etc/npmrc) in the same
    transaction and pnpm is asked again (RV(pnpm_npmrc))."
  - "Writes C(registry), one C(@scope:registry) per scope of O(scopes) and, with O(cafile), C(cafile), as one block
    between C(# BEGIN buildfleet.mirrors) and C(# END buildfleet.mirrors) at the top of the file (npm reads no key
    after a C([section]) header). Every other line of the file is kept. A key of the host's own that would override
    the policy (C(registry), C(ca), C(cafile), or one of the policy's C(@scope:registry)) fails the task naming the
    file, the key and its line, with nothing written."
  - "Then asks the clients what they resolve, each in a clean environment: C(npm config get registry @scope:registry
    cafile), and C(pnpm config get) of each key when pnpm is installed; with O(verify_package) and
    O(verify_scope_packages), C(npm view <package> version) fetches each package's metadata through the written
    configuration. When a client disagrees or a fetch fails, every file goes back byte for byte and the task fails
    with the client's own words."
  - The host's file is backed up beside it before it is changed (RV(backups)). O(state=absent) takes out only the
    block, giving back the host's file byte for byte, and removes the file when nothing else is left in it (a file
    the collection created).
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  state:
    description:
      - V(present) writes the policy; V(absent) removes the collection's block from every global npmrc it finds
        (npm's and pnpm's), whatever the other options say.
    type: str
    choices: [present, absent]
    default: present
  registry:
    description:
      - The registry every npm, pnpm and yarn 1 install uses (C(https://npm.corp.example/)). Required with
        O(state=present).
      - https, or http with O(allow_http); no credentials (the file is world-readable), no query, no fragment, no
        character that npm's ini parser cuts or expands (C(;), C(#), C($), whitespace).
    type: str
  scopes:
    description:
      - Scoped registries, C(@scope) (lower case, C(@[a-z0-9-._~]+)) to a URL with the same rules as O(registry).
        Each becomes C(@scope:registry=<url>).
    type: dict
    default: {}
  cafile:
    description:
      - The CA bundle npm uses instead of its own list (C(cafile=)). It replaces the default CAs, so give the system
        bundle that P(buildfleet.mirrors.ca_trust#role) completes (C(/etc/ssl/certs/ca-certificates.crt) on Debian,
        C(/etc/pki/tls/certs/ca-bundle.crt) on RHEL), never one corporate CA alone. It must exist.
      - Empty writes no C(cafile) (unless O(system_cafile)).
    type: path
  system_cafile:
    description:
      - Write C(cafile=) with this host's system bundle, the first of C(/etc/ssl/certs/ca-certificates.crt) (Debian)
        and C(/etc/pki/tls/certs/ca-bundle.crt) (RHEL) that exists; the task fails when neither does. The role sets
        it when C(ca_trust_certificates) is not empty.
    type: bool
    default: false
  allow_http:
    description: Accept an V(http://) O(registry) or scope registry (a lab, a registry inside a trusted network).
    type: bool
    default: false
  verify:
    description:
      - When to ask the clients what they resolve and fetch the packages (and put every file back when one fails).
      - V(changed) when this run changed a file; V(always) on every run (also catches a later change that overrides
        an unchanged file); V(never) skips it. Never in check mode, nor with O(state=absent).
    type: str
    choices: [always, changed, never]
    default: changed
  verify_package:
    description:
      - A package (C(npm), C(@corp/tool)) whose metadata C(npm view <package> version) must fetch through the written
        configuration when the clients are verified. Empty skips the fetch.
    type: str
    default: ""
  verify_scope_packages:
    description:
      - For a scope of O(scopes), a package of that scope (C(@corp) to C(@corp/tool)) fetched the same way, through the
        scope's registry.
    type: dict
    default: {}
  export_environment:
    description:
      - Also export the registry as C(npm_config_registry) (npm, pnpm and yarn 1 read it before any npmrc, a
        project's own included) and C(YARN_NPM_REGISTRY_SERVER) (yarn 2 and newer, which read no npmrc), for login
        shells (C(/etc/profile.d/node-mirrors.sh)), PAM sessions (marked lines of C(/etc/environment), every other
        line kept) and each service of O(systemd_units) (a drop-in C(<unit>.d/node-mirrors.conf)), through the
        collection's shared environment writer. The enforcing choice - it overrides a project's C(.npmrc).
      - Scoped registries stay in the npmrc. npm reads C(npm_config_<key>) variables lower-cased, so
        C(npm_config_@corp:registry) would work, but no shell and not pam_env can set a name with C(@) or C(:).
      - V(false) removes what an earlier run exported (only the module's own files and lines).
      - Verified by asking a login shell and a PAM session (C(su)) what they get, and each listed service that is
        loaded (C(systemctl show)); systemd is reloaded when a drop-in changed.
    type: bool
    default: false
  systemd_units:
    description:
      - Services that get the variables of O(export_environment) in a drop-in (a name without a suffix means
        C(<name>.service)). Drop-ins an earlier run wrote for units no longer listed are removed. Running services
        keep their environment until they restart.
    type: list
    elements: str
    default: []
  profile_d_path:
    description: The login-shell output (another path only for tests and unusual layouts).
    type: path
    default: /etc/profile.d/node-mirrors.sh
  etc_environment_path:
    description: The pam_env file.
    type: path
    default: /etc/environment
  systemd_dir:
    description: systemd's configuration directory, which holds C(system).
    type: path
    default: /etc/systemd
  systemd_runtime_dir:
    description: systemd's runtime unit directory; its presence tells that systemd runs (another path only for tests).
    type: path
    default: /run/systemd/system
  globalconfig:
    description:
      - Write this file instead of the one npm names, and point every client at it (C(npm_config_globalconfig)) when
        verifying. Only for tests and unusual layouts; a user's npm does not read it unless told so.
    type: path
  pnpm_globalconfig:
    description:
      - With O(globalconfig), the other file pnpm may read as its global npmrc (tests, unusual layouts); without
        it, C(<npm config get prefix>/etc/npmrc). It gets the block only when the real pnpm does not get the policy
        from the npm file (pnpm 9 with Debian's npm), and keeps it while it holds it.
    type: path
  pruned:
    description:
      - The registry URLs the gate left out of the policy (P(buildfleet.mirrors.node_mirrors_gate#filter)). Returned
        as is in RV(pruned), so that one registered result tells the whole story. It changes nothing on the host.
    type: list
    elements: str
    default: []
  lock_timeout:
    description:
      - Seconds to wait for another buildfleet.mirrors writer on the same host to finish (the host lock
        C(/run/buildfleet-mirrors/writer.lock)). When it runs out, the task fails naming the run that holds the lock
        and writes nothing. Check mode takes no lock.
    type: int
    default: 300
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
    details: Asks npm which file it reads, merges, and tells which files would change; writes and verifies nothing.
  diff_mode:
    support: full
    details: One diff per file, with its path as header.
  idempotent:
    description: A second run with the same policy gives the same bytes, changes nothing and makes no backup.
    support: full
  safe_file_operations:
    description: Each file is written to a temporary file in its directory, then renamed over the old one.
    support: full
  platform:
    platforms: posix
notes:
  - The module must run as root (C(become)), for the global files and the host lock.
  - A project's own C(.npmrc), a user's C(~/.npmrc) and C(npm_config_registry) in a process's environment still
    override the global file; the role's C(node_mirrors_environment) exports the registry for the enforcing case.
  - yarn 2 and newer read neither npmrc; they read C(YARN_NPM_REGISTRY_SERVER) (the role's environment output).
seealso:
  - module: buildfleet.mirrors.mirror_check
  - module: buildfleet.mirrors.go_policy
"""

EXAMPLES = r"""
- name: Every npm and pnpm install through the corporate registry, @corp packages through their own
  buildfleet.mirrors.npm_registry_config:
    registry: https://npm.corp.example/
    scopes:
      "@corp": https://npm.corp.example/corp/
    cafile: /etc/ssl/certs/ca-certificates.crt
    verify_package: npm
    verify_scope_packages:
      "@corp": "@corp/tool"
  register: node_mirrors_result

- name: Remove the collection's lines from the global npmrc
  buildfleet.mirrors.npm_registry_config:
    state: absent
"""

RETURN = r"""
msg:
  description: What the run did, or why it failed (and that every file was put back).
  returned: always
  type: str
  sample: "/usr/etc/npmrc updated; verified: npm config get (/usr/etc/npmrc), npm view npm version (11.6.2)"
written:
  description: The files created, updated or removed (would be, in check mode), in order; V([]) when nothing changed,
    and after a failure (every file was put back).
  returned: always
  type: list
  elements: str
  sample: [/usr/etc/npmrc]
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
backups:
  description: The backup made of each host's file before it changed, by path.
  returned: always
  type: dict
  sample: {/etc/npmrc: /etc/npmrc.4242.2026-12-03@10:11:12~}
verified:
  description: What was asked and got the policy (each client and the file it read, each package fetched with the
    version it got).
  returned: always
  type: list
  elements: str
pruned:
  description: O(pruned) as given, credentials redacted.
  returned: always
  type: list
  elements: str
npmrc:
  description: The global npmrc written (npm's C(globalconfig), C(/etc/npmrc) without npm, or O(globalconfig)).
  returned: always
  type: str
  sample: /usr/etc/npmrc
pnpm_npmrc:
  description: The global npmrc pnpm reads, when pnpm is installed (the same as RV(npmrc) when both read one file);
    null without pnpm.
  returned: always
  type: str
npm:
  description: The npm that was asked; null when npm is not installed.
  returned: always
  type: str
pnpm:
  description: The pnpm that was asked; null when pnpm is not installed.
  returned: always
  type: str
systemd_reloaded:
  description: Whether systemd was reloaded because a drop-in of O(systemd_units) changed.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.buildfleet.mirrors.plugins.module_utils._npm_writer import (
    Failure,
    Host,
    NpmWriter,
    Refusal,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import url_secrets
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import (
    DEFAULT_LOCK_TIMEOUT,
    HostLock,
    LockError,
)

LOCK_HOLDER = 'buildfleet.mirrors.node_mirrors (npm_registry_config)'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            registry=dict(type='str'),
            scopes=dict(type='dict', default={}),
            cafile=dict(type='path'),
            system_cafile=dict(type='bool', default=False),
            allow_http=dict(type='bool', default=False),
            verify=dict(type='str', choices=['always', 'changed', 'never'], default='changed'),
            verify_package=dict(type='str', default=''),
            verify_scope_packages=dict(type='dict', default={}),
            export_environment=dict(type='bool', default=False),
            systemd_units=dict(type='list', elements='str', default=[]),
            profile_d_path=dict(type='path', default='/etc/profile.d/node-mirrors.sh'),
            etc_environment_path=dict(type='path', default='/etc/environment'),
            systemd_dir=dict(type='path', default='/etc/systemd'),
            systemd_runtime_dir=dict(type='path', default='/run/systemd/system'),
            globalconfig=dict(type='path'),
            pnpm_globalconfig=dict(type='path'),
            pruned=dict(type='list', elements='str', default=[]),
            lock_timeout=dict(type='int', default=DEFAULT_LOCK_TIMEOUT),
        ),
        required_if=[('state', 'present', ['registry'])],
        mutually_exclusive=[('cafile', 'system_cafile')],
        supports_check_mode=True,
    )
    # A URL with a password or token is refused, but the echoed arguments must not show it either.
    for url in [module.params['registry'] or ''] + list((module.params['scopes'] or {}).values()) + \
            list(module.params['pruned']):
        module.no_log_values.update(url_secrets(to_text(url)))
    if module.params['lock_timeout'] < 0:
        module.fail_json(msg='lock_timeout must be 0 or more seconds, got %d' % module.params['lock_timeout'])
    host = Host(which=lambda name: module.get_bin_path(name, opt_dirs=['/usr/local/sbin', '/usr/sbin', '/sbin']),
                warn=module.warn)
    writer = NpmWriter(host, module.params, module.check_mode, module._diff)
    try:
        if module.check_mode:
            result = writer.run()
        else:
            with HostLock(module.params['lock_timeout'], holder=LOCK_HOLDER):
                result = writer.run()
    except (Refusal, Failure, LockError) as error:
        module.fail_json(msg=to_native(error), **writer.result)
    except (OSError, ValueError) as error:
        module.fail_json(msg='cannot manage the global npmrc: %s' % to_native(error), **writer.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
