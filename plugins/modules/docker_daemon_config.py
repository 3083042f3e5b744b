#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_config
short_description: Set dockerd's registry mirrors in daemon.json (and for containerd and podman), reload, verify, or put everything back
version_added: 0.1.0
description:
  - The writing step of the P(buildfleet.mirrors.docker_mirrors#role) role, as one transaction under the host lock
    every writer of the collection shares (one writer at a time per host, see O(lock_timeout)).
  - Reads the Docker Engine of the host (C(dockerd --version), C(docker info), whether systemd runs the host) and how
    dockerd is started, then merges C(registry-mirrors) and, when given, C(insecure-registries) into C(daemon.json),
    keeping every other key, their order and the file's indentation. The file is written only when what dockerd
    would load changes, so a host that already complies is left alone, whatever the file's formatting.
  - Optionally writes the same mirrors for containerd (C(<containerd_certs_dir>/docker.io/hosts.toml)) and for
    podman, buildah, skopeo and CRI-O (a C(registries.conf.d) drop-in), in the same transaction. Both carry a
    managed-by header; a file is removed (O(state=absent), or its option false) only when it carries it.
  - "Refused before anything is written, with the host unchanged: an existing C(daemon.json) that is not a JSON
    object; a C(--registry-mirror) or C(--insecure-registry) flag on the running dockerd's command line, in the unit
    file, a drop-in or an environment file of O(unit) (dockerd refuses a setting that comes from both); a running
    dockerd that reads another file (C(--config-file)); a new file that O(validate) or C(dockerd --validate) refuses;
    a path in a mirror URL on Docker before 24."
  - Every changed file is written atomically (a temporary file renamed over the old one), C(daemon.json) after a
    backup (O(backup)). When the running dockerd reads the file, it is then reloaded with C(systemctl reload)
    (SIGHUP; both keys are reloadable, so containers and builds keep running), also when only its running settings
    differ from the file's (a hand edit never applied), and the module waits until C(docker info) shows exactly the
    policy. CRI-O, when it runs, is reloaded after its drop-in changed.
  - When any step after the first write fails, every file goes back byte for byte (with its owner and mode), the
    backups this run made go, dockerd is reloaded onto the old file (or started, if it went down), and the task fails
    with the cause and dockerd's own error lines.
  - dockerd keeps a key's old value when a reload finds the key missing, so a removal reloads with the removed keys
    written as empty lists first, then removes them once dockerd has forgotten them (a missing key reads as an
    empty list at dockerd's next start).
  - With dockerd not installed, not running or not under systemd, the files are written and nothing is reloaded;
    the policy takes effect when dockerd starts. A missing directory of C(daemon.json) is made (mode 0755).
  - "Messages name an option and the P(buildfleet.mirrors.docker_mirrors#role) role variable that feeds it, for
    example C(registry_mirrors (docker_mirrors_registry_mirrors)): the refusals that need the engine are made here,
    after the role has validated everything else."
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  path:
    description: The daemon configuration file (symbolic links are followed).
    type: path
    default: /etc/docker/daemon.json
  state:
    description:
      - V(present) sets the keys and writes the enabled outputs; V(absent) removes the keys (see O(strategy)) and the
        outputs this collection wrote; every other key is kept.
      - With V(absent), a missing C(daemon.json) stays missing.
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
  registries:
    description:
      - Mirrors of registries other than Docker Hub, as a mapping of the registry (C(ghcr.io), C(quay.io),
        C(registry.corp.example:5000)) to its mirror URLs in priority order, checked as O(registry_mirrors).
      - Docker Hub (C(docker.io) and its aliases) is refused here; its mirrors are O(registry_mirrors).
      - Each registry gets a C(hosts.toml) under O(containerd_certs_dir) (with O(containerd)), a C([[registry]]) in
        O(containers_dropin) (with O(containers_registries_conf)), a table in O(buildkitd_toml) (with O(buildkitd)),
        and, on Docker 28 and newer, a C(hosts.toml) under O(docker_certs_dir). Only dockerd's containerd image store
        reads that last file; with the graphdriver, RV(limits) says which registries dockerd does not mirror.
      - A registry left out of the policy has the files of this collection removed (never a file it did not write).
    type: dict
    default: {}
  probe_images:
    description:
      - A mapping of a registry (C(docker.io) or one of O(registries)) to an image on it, such as
        V(library/hello:latest), used to prove the path dockerd takes.
      - After a run that changed something, each image of a registry that dockerd mirrors is pulled through dockerd
        (C(docker pull)), which must succeed, and is removed again. An image the host already has is not pulled (a
        pull could move its tag), and RV(unproven) says so. A failed pull undoes the run like a failed reload.
    type: dict
    default: {}
  fallback:
    description:
      - V(true) keeps each registry's own host as the last resort after its mirrors.
      - V(false) writes the files so that pulls never go past the mirrors; the containerd-style C(hosts.toml) files
        make the last mirror the C(server), and the containers drop-in makes it the C(location). dockerd's
        C(registry-mirrors) and BuildKit always fall back to the registry; RV(limits) says so.
    type: bool
    default: true
  docker_certs_dir:
    description:
      - dockerd's per-registry directory. On Docker 28 and newer, C(<docker_certs_dir>/<registry>/hosts.toml) is
        written for each of O(registries), and removed when it is this collection's and no longer wanted.
    type: path
    default: /etc/docker/certs.d
  ca_certificates:
    description:
      - PEM text of one or more CA certificates that sign the TLS certificates of the V(https://) mirrors (a corporate
        CA), trusted for those mirrors in addition to the system's trust store. Each must be a CA, valid now (checked
        again on the host, with its clock), and no private key may be in the text; the task fails naming this option
        otherwise, without printing the text.
      - "For each V(https://) mirror host of every registry (C(host[:port]) as in the URL), written where each
        consumer reads it on every connection, so no daemon is reloaded or restarted for it:
        C(<docker_certs_dir>/<host:port>/ca.crt) (dockerd; the containers tools read this directory too),
        C(<containers_certs_dir>/<host:port>/ca.crt) (with O(containers_registries_conf), for the mirrors of the
        drop-in), and C(<certs dir>/<registry>/buildfleet-mirrors-ca.pem) next to each C(hosts.toml), whose
        V(https://) hosts get C(ca) with that path (containerd; dockerd's containerd image store)."
      - Each file starts with the managed-by comment line (PEM readers skip it) and holds the whole text, normalised.
        V('') (the default), a registry or mirror taken out of the policy, or O(state=absent) removes the CA files
        this collection wrote (and their directory when nothing else is in it); a file of the host's own is never
        removed, and is backed up before it is replaced.
      - The diff shows each certificate's subject, issuer, SHA-256 fingerprint and validity, not its base64.
      - dockerd treats registries on 127.0.0.0/8 as insecure and skips their certificate checks, whatever the CA.
    type: str
    default: ''
  containers_certs_dir:
    description:
      - The certificate directory of podman, buildah, skopeo and CRI-O (containers-certs.d(5)), where the CA of each
        V(https://) mirror of the containers drop-in goes (see O(ca_certificates)).
    type: path
    default: /etc/containers/certs.d
  buildkitd:
    description:
      - Also merge the mirrors of every registry into O(buildkitd_toml), for standalone buildkitd and for builders
        made with C(docker buildx create --config). Every other table, key and comment of the file is kept.
      - Nothing is restarted; running builders read the file when they next start.
      - V(false) takes out what this collection put in the file.
    type: bool
    default: false
  buildkitd_toml:
    description: BuildKit's configuration file.
    type: path
    default: /etc/buildkit/buildkitd.toml
  insecure_registries:
    description:
      - Registries dockerd may reach over plain HTTP or without verifying their certificate, as C(host[:port]) or a
        CIDR (C(insecure-registries)). V(0.0.0.0/0) and V(::/0) need O(allow_insecure_all).
      - Leave it unset to leave C(insecure-registries) as it is. With O(state=present), V([]) empties the list.
    type: list
    elements: str
  allow_insecure_all:
    description: Accept an O(insecure_registries) range that covers every address (V(0.0.0.0/0), V(::/0)).
    type: bool
    default: false
  strategy:
    description:
      - V(replace) makes each given key exactly the given list (with O(state=absent), removes the key).
      - V(merge) puts the given entries first and keeps the existing entries they do not name after them (with
        O(state=absent), removes only the given entries, and the key when none is left).
    type: str
    choices: [replace, merge]
    default: replace
  allow_path:
    description:
      - Accept a path in a mirror URL. Docker Engine 24 and newer accept one; older engines refuse it.
      - Unset, the host's engine decides (RV(engine.version)); with no engine installed, a path is refused.
    type: bool
  validate:
    description:
      - A command that checks the new C(daemon.json) before it replaces the old one; C(%s) stands for the new file's
        path. Without it (and without O(dockerd_validate)), the new file is checked to read back as JSON.
      - Mutually exclusive with O(dockerd_validate).
    type: str
  dockerd_validate:
    description:
      - Check the new file with the host's own C(dockerd --validate --config-file) before it replaces the old one,
        when the engine has that flag (Docker Engine 23 and newer).
    type: bool
    default: false
  backup:
    description: Keep a copy of the old C(daemon.json), next to it, with a timestamp in its name (RV(backup_files)).
    type: bool
    default: false
  check_flags:
    description:
      - Look for C(--registry-mirror), C(--insecure-registry) and C(--config-file) in the running dockerd's command
        line and in the files of O(unit), and fail on a conflict with the keys that are written.
    type: bool
    default: true
  unit:
    description: The systemd unit that runs dockerd, read for O(check_flags), reloaded, and read in the journal.
    type: str
    default: docker.service
  containerd:
    description:
      - Write C(<containerd_certs_dir>/docker.io/hosts.toml) with the mirrors, capabilities C(pull) and C(resolve)
        only (C(skip_verify) for an C(https://) mirror that O(insecure_registries) names).
      - V(false) removes that file when this collection wrote it.
    type: bool
    default: false
  containerd_certs_dir:
    description: containerd's hosts directory (the CRI plugin's C(registry.config_path)).
    type: path
    default: /etc/containerd/certs.d
  containers_registries_conf:
    description:
      - Write O(containers_dropin) (version 2 format) giving C(docker.io) the mirrors, for podman, buildah, skopeo and
        CRI-O. A mirror with a path is left out, with a warning (containers read a path as a repository namespace);
        when every mirror has one, no drop-in is written.
      - V(false) removes the drop-in when this collection wrote it.
    type: bool
    default: false
  containers_dropin:
    description: The containers drop-in.
    type: path
    default: /etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf
  pruned:
    description:
      - Informational. The mirrors a gate left out (for example the dead ones under the role's C(prune) gate),
        returned as RV(pruned) with credentials masked so that the caller's summary has them. Nothing is done with
        them.
    type: list
    elements: str
    default: []
  lock_timeout:
    description: Seconds to wait for another buildfleet.mirrors writer on the same host to finish.
    type: int
    default: 300
notes:
  - A new file gets mode C(0644), owner root; an existing C(daemon.json) keeps its mode.
  - Credentials found in URLs anywhere in the file (for example in C(proxies)) are masked in the diff and result.
seealso:
  - module: buildfleet.mirrors.mirror_check
  - name: dockerd configuration file
    description: The keys of daemon.json and which of them dockerd reloads on SIGHUP.
    link: https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file
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
    details: Reads the engine and the files, merges, runs the validation on a temporary file, and tells what would
      be written and whether dockerd would be reloaded.
  diff_mode:
    support: full
    details: One diff per file, before and after, as text; a CA file as the subject, issuer, SHA-256 fingerprint and
      validity of each certificate.
  idempotent:
    description: A second run with the same options changes nothing, reloads nothing and makes no backup.
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Docker Hub through the corporate mirrors, other daemon.json keys kept, applied and verified
  buildfleet.mirrors.docker_daemon_config:
    registry_mirrors:
      - https://dockerhub-mirror.corp.example.com
      - https://dockerhub-mirror2.corp.example.com
    dockerd_validate: true
    backup: true
  register: __daemon_config

- name: Add a mirror in front of the ones already there, one insecure registry, and the containerd output
  buildfleet.mirrors.docker_daemon_config:
    registry_mirrors: [https://dockerhub-mirror.corp.example.com]
    insecure_registries: [registry.lab.corp.example.com:5000]
    strategy: merge
    containerd: true

- name: A mirror signed by the corporate CA, trusted by dockerd, containerd and podman for that mirror only
  buildfleet.mirrors.docker_daemon_config:
    registry_mirrors: [https://dockerhub-mirror.corp.example.com]
    registries:
      ghcr.io: [https://ghcr-mirror.corp.example.com]
    ca_certificates: "{{ lookup('ansible.builtin.file', 'files/corp-root-ca.crt') }}"
    containerd: true
    containers_registries_conf: true

- name: Remove the registry keys (dockerd forgets them by a reload) and the outputs this collection wrote
  buildfleet.mirrors.docker_daemon_config:
    state: absent
    registry_mirrors: []
    insecure_registries: []
"""

RETURN = r"""
path:
  description: The daemon configuration file, symbolic links resolved.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
written:
  description: The files created, updated or removed, in order; V([]) when nothing changed (or on failure, when
    everything was put back). In check mode, those that would be.
  returned: always
  type: list
  elements: str
  sample: [/etc/docker/daemon.json, /etc/containerd/certs.d/docker.io/hosts.toml]
created:
  description: Whether C(daemon.json) did not exist and was (or, in check mode, would be) created.
  returned: always
  type: bool
created_directories:
  description: Directories this run made (for example C(/etc/docker) when dockerd is not installed yet).
  returned: always
  type: list
  elements: str
backup_files:
  description: The backup made of each file, by path (C(daemon.json) with O(backup)).
  returned: always
  type: dict
  sample: {/etc/docker/daemon.json: /etc/docker/daemon.json.4242.2026-01-31@12:00:00~}
reloaded:
  description: Whether dockerd was sent a reload (C(systemctl reload)).
  returned: always
  type: bool
verified:
  description:
    - The consumers asked and found running with exactly the policy, V(dockerd (docker info)) when dockerd runs and
      shows the file's settings; V([]) when dockerd does not run (or in check mode with a change).
    - After a change, one line per probe image pulled through dockerd (see O(probe_images)).
  returned: always
  type: list
  elements: str
  sample: [dockerd (docker info), 'dockerd pulled ghcr.io/acme/hello:latest through the mirrors of ghcr.io (sha256:...)']
limits:
  description:
    - What the policy cannot do on this host, one sentence per consumer, for example the registries dockerd does not
      mirror with the graphdriver image store, the fallback C(registry-mirrors) always has, and that running
      builders read C(buildkitd.toml) only when they start.
  returned: always
  type: list
  elements: str
unproven:
  description:
    - The paths through dockerd that nothing proved in this run; on the containerd image store, C(docker info) shows
      the settings but not the path a pull takes, so a registry without a O(probe_images) entry is listed here.
  returned: always
  type: list
  elements: str
pruned:
  description: O(pruned), credentials masked.
  returned: always
  type: list
  elements: str
registry_mirrors:
  description:
    - The mirrors the file sets afterwards, as dockerd normalises them (what C(docker info) shows after a reload);
      V([]) when the key is not set. Null when O(registry_mirrors) was not given.
  returned: always
  type: list
  elements: str
  sample: [https://dockerhub-mirror.corp.example.com/]
insecure_registries:
  description: The insecure registries the file sets afterwards; null when O(insecure_registries) was not given.
  returned: always
  type: list
  elements: str
engine:
  description:
    - The Docker Engine of the host, read before anything is written.
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
      description: Whether the daemon answered C(docker info).
      type: bool
    registry_config:
      description: The C(RegistryConfig) the running daemon reported before the run; null when it does not run.
      type: dict
    systemd:
      description: Whether systemd runs the host (C(/run/systemd/system) exists).
      type: bool
msg:
  description: What was done, or why it failed and what was put back.
  returned: always
  type: str
  sample: /etc/docker/daemon.json updated; dockerd reloaded (SIGHUP) and runs with exactly the policy
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.buildfleet.mirrors.plugins.module_utils._docker_writer import (
    SBIN_DIRECTORIES,
    DockerWriter,
    Failure,
    Host,
    Refusal,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import HostLock, LockError

LOCK_HOLDER = 'buildfleet.mirrors.docker_mirrors'


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/docker/daemon.json'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            registry_mirrors=dict(type='list', elements='str'),
            insecure_registries=dict(type='list', elements='str'),
            registries=dict(type='dict', default={}),
            probe_images=dict(type='dict', default={}),
            fallback=dict(type='bool', default=True),
            docker_certs_dir=dict(type='path', default='/etc/docker/certs.d'),
            ca_certificates=dict(type='str', default='', no_log=True),
            containers_certs_dir=dict(type='path', default='/etc/containers/certs.d'),
            buildkitd=dict(type='bool', default=False),
            buildkitd_toml=dict(type='path', default='/etc/buildkit/buildkitd.toml'),
            allow_insecure_all=dict(type='bool', default=False),
            strategy=dict(type='str', choices=['replace', 'merge'], default='replace'),
            allow_path=dict(type='bool'),
            validate=dict(type='str'),
            dockerd_validate=dict(type='bool', default=False),
            backup=dict(type='bool', default=False),
            check_flags=dict(type='bool', default=True),
            unit=dict(type='str', default='docker.service'),
            containerd=dict(type='bool', default=False),
            containerd_certs_dir=dict(type='path', default='/etc/containerd/certs.d'),
            containers_registries_conf=dict(type='bool', default=False),
            containers_dropin=dict(type='path',
                                   default='/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf'),
            pruned=dict(type='list', elements='str', default=[]),
            lock_timeout=dict(type='int', default=300),
        ),
        mutually_exclusive=[('validate', 'dockerd_validate')],
        supports_check_mode=True,
    )
    host = Host(
        run=module.run_command,
        which=lambda name: module.get_bin_path(name, opt_dirs=SBIN_DIRECTORIES),
        warn=module.warn,
        tmpdir=module.tmpdir,
    )
    writer = DockerWriter(host, module.params, module.check_mode, module._diff, secrets=module.no_log_values)
    try:
        with HostLock(module.params['lock_timeout'], holder=LOCK_HOLDER):
            result = writer.run()
    except (Refusal, Failure, LockError) as error:
        module.fail_json(msg=to_native(error), **writer.result)
    except (OSError, ValueError) as error:
        module.fail_json(msg='cannot manage %s: %s' % (module.params['path'], to_native(error)), **writer.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
