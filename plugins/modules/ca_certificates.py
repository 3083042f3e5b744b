#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ca_certificates
short_description: Trust CA certificates system-wide, update the trust store, verify it, or put everything back
version_added: 0.2.0
description:
  - The writing step of the P(buildfleet.mirrors.ca_trust#role) role, as one transaction under the host lock every
    writer of the collection shares (one writer at a time per host, see O(lock_timeout)).
  - Checks every certificate again on the host (its clock decides what has expired) with the same rules as the
    P(buildfleet.mirrors.validate_ca_certificates#filter) filter; a private key, a certificate that is not a CA, an
    expired one or anything that is not PEM is refused before anything is written, and no message shows a body.
  - "Writes one file per certificate (a chain of three in one item gives three files), in a place of the
    collection's own: on Debian and derivatives C(/usr/local/share/ca-certificates/buildfleet-mirrors/<name>.crt)
    (C(<name>-1.crt), C(<name>-2.crt)... for a chain), on the RHEL family
    C(/etc/pki/ca-trust/source/anchors/buildfleet-mirrors-<name>.pem). OpenSSL's hash directory and the Java hook
    of ca-certificates skip a file that holds more than one certificate."
  - The family is found by its update command (C(update-ca-certificates) first, then C(update-ca-trust)).
  - Removes the files of the collection that the policy no longer names (every C(.crt) of its Debian directory;
    every C(buildfleet-mirrors-*.pem) of the anchors directory) and never another file.
  - Then runs C(update-ca-certificates) (with C(--fresh) after a removal, the only way it drops the links of removed
    files) or C(update-ca-trust extract), and verifies that every certificate is in the system bundle and that
    Python's default SSL context (C(ssl.create_default_context())) loads it. On any failure every file goes back
    byte for byte, the update runs again, and the task fails with the cause.
  - Nothing is run when the files are already in place and the bundle holds every certificate; a bundle that lacks
    one (rebuilt by hand) is updated again.
  - On Debian, a name whose link C(/etc/ssl/certs/<name>.pem) already belongs to another certificate (a distro CA
    such as C(ISRG_Root_X1)) is refused, since the update would replace that link.
  - The RHEL-family layout is unit-tested only; the lab runs Debian.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  certificates:
    description:
      - The CA certificates to trust, each a name (the file name stem, letters, digits, C(.), C(_), C(-), at most 64,
        unique ignoring case) and its PEM text (one certificate or a chain).
      - "The content is C(no_log): a private key pasted by mistake never reaches the output."
      - Required (and not empty) with O(state=present); ignored with O(state=absent).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The file name stem.
        type: str
        required: true
      content:
        description: PEM text, only CERTIFICATE blocks, blank lines and C(#) comment lines.
        type: str
        required: true
  state:
    description:
      - V(present) installs exactly O(certificates) (and removes the collection's other files).
      - V(absent) removes every certificate file the collection installed.
    type: str
    choices: [present, absent]
    default: present
  lock_timeout:
    description: How long to wait, in seconds, for another buildfleet.mirrors writer on the host to finish.
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
    details: Validates, reads the trust store and the bundle, and tells which files would be written or removed and
      whether the update would run.
  diff_mode:
    support: full
    details: One diff per file, showing for each certificate its subject, issuer, SHA-256 fingerprint and validity,
      not the PEM body (the fingerprint identifies it exactly, and a base64 diff tells an auditor nothing).
  idempotent:
    description: A second run with the same certificates changes nothing and runs no update.
    support: full
  platform:
    platforms: posix
seealso:
  - module: buildfleet.mirrors.docker_daemon_config
  - module: buildfleet.mirrors.go_policy
notes:
  - A running process that read the trust store before the update (dockerd, a long-running Python or Java service)
    keeps its old view until it reloads it; dockerd reads per-registry CAs from C(/etc/docker/certs.d) at each
    connection instead (see the P(buildfleet.mirrors.docker_mirrors#role) role).
"""

EXAMPLES = r"""
- name: Trust the corporate root and the mirrors' issuing CA
  buildfleet.mirrors.ca_certificates:
    certificates:
      - name: corp-root
        content: "{{ lookup('ansible.builtin.file', 'files/corp-root.crt') }}"
      - name: corp-mirrors
        content: "{{ lookup('ansible.builtin.file', 'files/corp-mirrors-ca.crt') }}"
  register: __ca_trust

- name: Remove every CA certificate this collection installed
  buildfleet.mirrors.ca_certificates:
    state: absent
"""

RETURN = r"""
written:
  description: The certificate files created, updated or removed, in order; V([]) when nothing changed (or on
    failure, when everything was put back). In check mode, those that would be.
  returned: always
  type: list
  elements: str
  sample: [/usr/local/share/ca-certificates/buildfleet-mirrors/corp-root.crt]
removed:
  description: The files of RV(written) that were (or would be) removed.
  returned: always
  type: list
  elements: str
certificates:
  description: One item per certificate of the policy (none with O(state=absent)).
  returned: always
  type: list
  elements: dict
  contains:
    entry:
      description: The O(certificates[].name) it came from.
      type: str
    path:
      description: Its file in the trust store.
      type: str
    subject:
      description: Its subject, RFC 4514.
      type: str
      sample: CN=Corp Root CA,O=Corp
    sha256_fingerprint:
      description: As C(openssl x509 -fingerprint -sha256) prints it.
      type: str
    not_after:
      description: The end of its validity, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
bundle:
  description: The system bundle the certificates are verified in; null when the host has no trust store tool.
  returned: always
  type: str
  sample: /etc/ssl/certs/ca-certificates.crt
family:
  description: V(debian) (update-ca-certificates) or V(redhat) (update-ca-trust).
  returned: always
  type: str
updated:
  description: Whether the update command ran (and succeeded).
  returned: always
  type: bool
verified:
  description: What was checked to hold the policy's certificates (the bundle, Python's default SSL context).
  returned: always
  type: list
  elements: str
pruned:
  description: Always V([]); the key every writer of the collection returns (this one probes no mirror).
  returned: always
  type: list
  elements: str
msg:
  description: What was done, or why it failed and what was put back.
  returned: always
  type: str
  sample: /usr/local/share/ca-certificates/buildfleet-mirrors/corp-root.crt created; update-ca-certificates ran
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.buildfleet.mirrors.plugins.module_utils._ca_writer import (
    CaWriter,
    Failure,
    Host,
    Refusal,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import HostLock, LockError

LOCK_HOLDER = 'buildfleet.mirrors.ca_trust'
SBIN_DIRECTORIES = ['/usr/local/sbin', '/usr/sbin', '/sbin']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificates=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                content=dict(type='str', required=True, no_log=True),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            lock_timeout=dict(type='int', default=300),
        ),
        supports_check_mode=True,
    )
    host = Host(
        run=module.run_command,
        which=lambda name: module.get_bin_path(name, opt_dirs=SBIN_DIRECTORIES),
        warn=module.warn,
    )
    writer = CaWriter(host, module.params, module.check_mode, module._diff)
    try:
        with HostLock(module.params['lock_timeout'], holder=LOCK_HOLDER):
            result = writer.run()
    except (Refusal, Failure, LockError) as error:
        module.fail_json(msg=to_native(error), **writer.result)
    except (OSError, ValueError) as error:
        module.fail_json(msg='cannot manage the trust store: %s' % to_native(error), **writer.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
