#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_audit
short_description: Audit, read-only, whether every consumer of a host gets the package-mirror policy
version_added: 0.2.0
description:
  - Reads, in one round and without changing anything, what each consumer on the host really gets of the Go module
    policy, of the registry mirrors, of the Python index and of the npm registry, probes every mirror of the policy
    from the host, and returns one record (RV(audit)) with the consumers, the probes, the checks run and the
    findings, each with a severity and its evidence. The P(buildfleet.mirrors.mirror_audit_report#module) action writes the fleet's report from these records.
  - "Go consumers: the login shell (C(/etc/profile.d/*.sh) sourced in order by a plain C(sh) with a clean environment,
    as C(/etc/profile) does), PAM sessions (C(/etc/environment) read as pam_env reads it), the systemd manager
    (C(systemctl show-environment)) and each service of O(go.systemd_units) (C(systemctl show -p Environment), over
    the manager's), root's C(go env -json) in the login shell's environment, every login user's C(go env -w) file
    (C($HOME/.config/go/env), read as a file: no C(su), no login session), and C($GOROOT/go.env) of each Go 1.21 or
    newer."
  - "Registry consumers: C(daemon.json) against what dockerd runs with (C(docker info)), containerd's
    C(certs.d/<registry>/hosts.toml) and the containers drop-in against what the collection's renderers make of the
    policy."
  - "Python and Node consumers (with O(python) and O(node)): pip's global view (C(python3 -I -m pip config list) with
    no environment and a home that does not exist, so only the global and site files count) and pip in the login
    shell's environment; uv's system C(uv.toml) (the first of C($XDG_CONFIG_DIRS/uv/uv.toml) and
    C(/etc/uv/uv.toml), read with tomllib) with the C(UV_*) index variables of each source; C(npm config get
    registry globalconfig @scope:registry...) with no environment, and npm in the login shell's environment. PAM
    sessions (C(PIP_*), C(UV_*), C(npm_config_*) of C(/etc/environment)) and the services of O(python.systemd_units)
    and O(node.systemd_units) get the global view under their own variables. A source that sets nothing of its
    own and must carry nothing is listed but judged once, through the global view."
  - "A client that is not installed (no C(python3) or no pip module, no C(uv), no C(npm)) is listed as a consumer
    whose source says so, and its checks are not run on that host (the report shows them as not run): it is not
    a finding."
  - "Check ids (stable): V(go.missing_value), V(go.override_weakens), V(go.upstream_fallback) (a C(GOPROXY) with
    C(direct) or C(proxy.golang.org) where the policy has neither, also when it ends a user's value),
    V(docker.missing_mirror), V(docker.not_applied), V(docker.unproven), V(docker.upstream_fallback),
    V(containerd.missing_mirror), V(containers.missing_mirror), V(python.missing_index) (pip resolves another index,
    pypi.org by default, or no index, or lacks an extra index of the policy, or lacks C(PIP_INDEX_URL) where the
    policy exports it), V(python.extra_index) (pip also searches an index the policy does not name: pip takes the
    best candidate of every index, the door to dependency confusion), V(uv.missing_index), V(npm.missing_registry),
    V(npm.missing_scope), V(mirror.down), V(mirror.slow)."
  - Never contacts a public upstream. A GOPROXY entry that names C(proxy.golang.org) and a GOSUMDB given by its name
    only (the public checksum database) are not probed.
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  go:
    description:
      - The Go module policy as the P(buildfleet.mirrors.go_policy#module) writer takes it. Leave it unset to skip
        the Go checks.
    type: dict
    suboptions:
      environment:
        description: The GO* variables of the policy, as the P(buildfleet.mirrors.go_environment#filter) filter
          returns them. Credentials in URLs are masked in every output.
        type: dict
        required: true
      profile_d:
        description: Whether the policy is written for login shells (then the login shell and root's C(go env) must
          get every value).
        type: bool
        default: true
      etc_environment:
        description: Whether the policy is written into C(/etc/environment) (then PAM sessions must get every value).
        type: bool
        default: true
      systemd_default_environment:
        description: Whether the policy is written for the systemd manager (then every service must get it).
        type: bool
        default: true
      systemd_units:
        description: The services that get an C(Environment=) drop-in; each must get every value.
        type: list
        elements: str
        default: []
      goroot_env:
        description: Whether the policy is written into C($GOROOT/go.env); unset, go.env is listed but not judged.
        type: bool
        default: false
      goroot_parents:
        description: The directories that hold Go installs.
        type: list
        elements: path
        default: [/usr/lib, /usr/local]
      probe_module:
        description: A module path each Go proxy must list (C(<proxy>/<module>/@v/list) answers 200).
        type: str
  docker:
    description:
      - The registry mirror policy as the P(buildfleet.mirrors.docker_daemon_config#module) writer takes it. Leave it
        unset to skip the registry checks.
    type: dict
    suboptions:
      registry_mirrors:
        description: Docker Hub mirror URLs in priority order.
        type: list
        elements: str
        default: []
      registries:
        description: Other registries and their mirror URLs in priority order.
        type: dict
        default: {}
      fallback:
        description: Whether pulls may fall back to the registry itself; V(false) makes a fallback left in a
          hosts.toml or the containers drop-in a V(docker.upstream_fallback) finding.
        type: bool
        default: true
      insecure_registries:
        description: dockerd's C(insecure-registries) of the policy; unset, they are not compared.
        type: list
        elements: str
      daemon_json:
        description: dockerd's configuration file.
        type: path
        default: /etc/docker/daemon.json
      containerd:
        description: Whether the policy writes containerd's C(hosts.toml) files (then they are checked).
        type: bool
        default: false
      containerd_certs_dir:
        description: containerd's hosts directory.
        type: path
        default: /etc/containerd/certs.d
      containers_registries_conf:
        description: Whether the policy writes the containers drop-in (then it is checked).
        type: bool
        default: false
  python:
    description:
      - The Python index policy (the C(python_mirrors) role's variables). Leave it unset to skip the pip and uv
        checks. URLs are checked as pip's index URLs (http is accepted, since the audit writes nothing) and never
        carry credentials.
    type: dict
    suboptions:
      index_url:
        description: The simple index every install must use (C(python_mirrors_index_url)).
        type: str
        required: true
      extra_index_urls:
        description: The further indexes of the policy; any other index pip searches is a V(python.extra_index)
          finding.
        type: list
        elements: str
        default: []
      uv:
        description: Whether the policy covers uv (then, where uv is installed, its default index is checked).
        type: bool
        default: true
      probe_package:
        description: The project each index must list (C(<index>/<project>/) answers 200 with a simple-API page).
        type: str
        default: pip
      environment:
        description: Whether the policy exports C(PIP_INDEX_URL) and C(UV_DEFAULT_INDEX) (then the login shell, PAM
          sessions and the services of O(python.systemd_units) must carry them).
        type: bool
        default: false
      systemd_units:
        description: The services that get the variables in a drop-in.
        type: list
        elements: str
        default: []
  node:
    description:
      - The npm registry policy (the C(node_mirrors) role's variables). Leave it unset to skip the npm checks.
    type: dict
    suboptions:
      registry:
        description: The registry every install must use (C(node_mirrors_registry)).
        type: str
        required: true
      scopes:
        description: C(@scope) to the registry of that scope's packages; each is a V(npm.missing_scope) check.
        type: dict
        default: {}
      probe_package:
        description: The package the registry must serve (C(<registry>/<package>) answers 200 with a packument).
        type: str
        default: npm
      scope_probe_packages:
        description: C(@scope) to the package its registry is asked for; a scope without one is asked for
          O(node.probe_package).
        type: dict
        default: {}
      environment:
        description: Whether the policy exports C(npm_config_registry) (then the login shell, PAM sessions and the
          services of O(node.systemd_units) must carry it).
        type: bool
        default: false
      systemd_units:
        description: The services that get the variable in a drop-in.
        type: list
        elements: str
        default: []
  slow_ms:
    description: A mirror answering later than this many milliseconds is a V(mirror.slow) finding.
    type: float
    default: 500
  timeout:
    description: Seconds each probe may take (they run at once).
    type: float
    default: 5
  probe:
    description: Probe the mirrors (V(false) audits the configuration only).
    type: bool
    default: true
  ca_path:
    description: A CA bundle for the probes, instead of the system's trust store.
    type: path
  ca_data:
    description:
      - "PEM text of CA certificates the probes trust B(in addition to) the system's trust store (or O(ca_path)): the
        certificates the policy is about to trust (C(ca_trust_certificates) and C(docker_mirrors_ca_certificates)),
        as O(buildfleet.mirrors.mirror_check#module:ca_data) takes them."
      - Checked as mirror_check checks it (CA certificates valid now, no private key, no certificate twice); an empty
        text adds nothing. The certificates never appear in the output.
    type: str
  credentials:
    description:
      - Credentials for the Go proxies and checksum database of O(go) (C(go_proxy_credentials)), checked by the
        C(buildfleet.mirrors.go_proxy) role's rules against the policy's https URLs and sent by the Go probes as the go
        command sends them from its netrc, as O(buildfleet.mirrors.mirror_check#module:credentials) are
        (https only, never to another host; C(~/.netrc) is then not read for these probes).
      - A proxy that refuses them (401 or 403) is a V(mirror.down) finding saying so. The passwords are never shown.
    type: list
    elements: dict
    suboptions:
      machine:
        description: V(host) or V(host:port), as in a netrc file.
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
    details: The module never changes anything; it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    description: It changes nothing; two runs on an unchanged host return the same record (latencies aside).
    support: full
  platform:
    platforms: posix
notes:
  - Run it as root (C(become)), so that every user's home and the engine can be read. It takes no lock and writes no
    file; the only processes it starts are C(sh) (sourcing C(/etc/profile.d)), C(systemctl show),
    C(systemctl show-environment), C(go env -json), C(docker info), C(python3 -I -m pip config list) and
    C(npm config get) (with C(--logs-max=0) and a cache directory it cannot create, so that npm writes nothing).
  - Users' own C(pip.conf), C(.npmrc) and C(uv.toml) files, and a project's, are not read; the Python and Node checks
    are about what the host gives every user.
seealso:
  - module: buildfleet.mirrors.mirror_check
  - module: buildfleet.mirrors.mirror_audit_report
"""

EXAMPLES = r"""
- name: Audit the host against the Go policy and the registry mirrors
  become: true
  buildfleet.mirrors.mirror_audit:
    go:
      environment: "{{ {'go_proxy_urls': ['https://goproxy.corp.example.com'], 'go_proxy_fallback': 'off'}
                       | buildfleet.mirrors.go_environment }}"
      systemd_units: [gitlab-runner.service]
    docker:
      registry_mirrors: [https://mirror.corp.example.com]
      containerd: true
    slow_ms: 300
  register: buildfleet_audit_host

- name: Audit pip, uv and npm against the Python index and the npm registry of the policy
  become: true
  buildfleet.mirrors.mirror_audit:
    python:
      index_url: https://pypi.corp.example/simple/
      probe_package: pip
    node:
      registry: https://npm.corp.example/
      scopes: {"@corp": "https://npm.corp.example/corp/"}
      scope_probe_packages: {"@corp": "@corp/tool"}
  register: buildfleet_audit_packages

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ buildfleet_audit_host.audit.findings | map(attribute='summary') }}"
"""

RETURN = r"""
audit:
  description:
    - The host record (schema 1), secrets redacted.
  returned: success
  type: dict
  contains:
    schema:
      description: The record's schema version, V(1).
      type: int
    consumers:
      description: "Each consumer: C(id) (V(go:login-shell), V(go:pam), V(go:systemd-manager), V(go:unit:<unit>),
        V(go:user:<name>), V(go:root), V(go:goroot-env), V(docker:daemon), V(containerd:<registry>),
        V(containers:<registry>), and for each of the clients V(pip), V(uv) and V(npm): V(<client>:global),
        V(<client>:login-shell), V(<client>:pam), V(<client>:unit:<unit>)), C(kind), C(source) (a file or a command;
        V(not installed ...) for a client the host lacks) and C(values)."
      type: list
      elements: dict
    probes:
      description: "Each mirror probed: C(url), C(kind), C(registry), C(reachable), C(status), C(latency_ms), C(reason);
        probes of kind V(pypi) and V(npm) also C(package), the project or package asked for."
      type: list
      elements: dict
    checks:
      description: Every check run on this host (a check without a finding passed).
      type: list
      elements: str
    findings:
      description: "Each finding: C(check), C(severity) (V(info), V(low), V(medium), V(high)), C(consumer) (or
        null), C(summary) (one line) and C(evidence)."
      type: list
      elements: dict
  sample:
    schema: 1
    consumers: [{id: "go:pam", kind: go, source: /etc/environment, values: {GOPROXY: "https://goproxy.corp,off"}}]
    probes: [{url: "https://goproxy.corp", kind: goproxy, registry: null, reachable: true, status: 200,
              latency_ms: 12.3, reason: ""}]
    checks: [go.missing_value, go.override_weakens, go.upstream_fallback, mirror.down, mirror.slow]
    findings: [{check: go.override_weakens, severity: high, consumer: "go:user:builder",
                summary: "GOSUMDB=off turns off checksum verification",
                evidence: {source: /home/builder/.config/go/env}}]
msg:
  description: One line, the count of findings by severity, or C(compliant).
  returned: always
  type: str
  sample: 2 high, 1 low
"""

import ssl

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import make_context

from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit import (
    HostView,
    audit,
    counts,
    node_policy,
    package_probes,
    python_policy,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import validate_ca_bundle
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import HttpFetcher
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url, url_secrets
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

USER_AGENT = 'ansible-buildfleet.mirrors.mirror_audit'


def _hide_secrets(module):
    """Every credential of a URL in the policy, masked by Ansible in every output."""
    pieces = []
    go = module.params['go'] or {}
    for value in (go.get('environment') or {}).values():
        if isinstance(value, str):
            pieces += [value] + value.replace('|', ',').replace(' ', ',').split(',')
    docker = module.params['docker'] or {}
    pieces += list(docker.get('registry_mirrors') or [])
    python = module.params['python'] or {}
    pieces += [python.get('index_url')] + list(python.get('extra_index_urls') or [])
    node = module.params['node'] or {}
    pieces += [node.get('registry')] + list((node.get('scopes') or {}).values())
    for registry, urls in (docker.get('registries') or {}).items():
        pieces += [registry] + [url for url in urls or [] if isinstance(url, str)]
    for piece in pieces:
        if isinstance(piece, str):
            module.no_log_values.update(url_secrets(piece))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            go=dict(type='dict', options=dict(
                environment=dict(type='dict', required=True),
                profile_d=dict(type='bool', default=True),
                etc_environment=dict(type='bool', default=True),
                systemd_default_environment=dict(type='bool', default=True),
                systemd_units=dict(type='list', elements='str', default=[]),
                goroot_env=dict(type='bool', default=False),
                goroot_parents=dict(type='list', elements='path', default=['/usr/lib', '/usr/local']),
                probe_module=dict(type='str'),
            )),
            docker=dict(type='dict', options=dict(
                registry_mirrors=dict(type='list', elements='str', default=[]),
                registries=dict(type='dict', default={}),
                fallback=dict(type='bool', default=True),
                insecure_registries=dict(type='list', elements='str'),
                daemon_json=dict(type='path', default='/etc/docker/daemon.json'),
                containerd=dict(type='bool', default=False),
                containerd_certs_dir=dict(type='path', default='/etc/containerd/certs.d'),
                containers_registries_conf=dict(type='bool', default=False),
            )),
            python=dict(type='dict', options=dict(
                index_url=dict(type='str', required=True),
                extra_index_urls=dict(type='list', elements='str', default=[]),
                uv=dict(type='bool', default=True),
                probe_package=dict(type='str', default='pip'),
                environment=dict(type='bool', default=False),
                systemd_units=dict(type='list', elements='str', default=[]),
            )),
            node=dict(type='dict', options=dict(
                registry=dict(type='str', required=True),
                scopes=dict(type='dict', default={}),
                probe_package=dict(type='str', default='npm'),
                scope_probe_packages=dict(type='dict', default={}),
                environment=dict(type='bool', default=False),
                systemd_units=dict(type='list', elements='str', default=[]),
            )),
            slow_ms=dict(type='float', default=500),
            timeout=dict(type='float', default=5),
            probe=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            ca_data=dict(type='str', no_log=True),
            # Only the passwords are secrets (as in mirror_check): the machines stay readable in the record.
            credentials=dict(type='list', elements='dict', options=dict(
                machine=dict(type='str', required=True),
                login=dict(type='str', required=True),
                password=dict(type='str', required=True, no_log=True),
            )),
        ),
        required_one_of=[('go', 'docker', 'python', 'node')],
        supports_check_mode=True,
    )
    _hide_secrets(module)
    params = module.params
    if params['timeout'] <= 0 or params['slow_ms'] < 0:
        module.fail_json(msg='timeout must be more than 0 and slow_ms at least 0, got timeout=%s slow_ms=%s'
                         % (params['timeout'], params['slow_ms']))
    try:
        # Their messages quote values through the rules' own masking; '@' is part of a scope, not userinfo.
        package_probes(python_policy(params['python']) if params['python'] else None,
                       node_policy(params['node']) if params['node'] else None)
    except PolicyError as error:
        module.fail_json(msg=to_native(error))
    ca_pem = None
    try:
        if params['ca_data'] and params['ca_data'].strip():
            ca_pem = validate_ca_bundle(params['ca_data'], 'ca_data')['pem']
    except PolicyError as error:
        module.fail_json(msg=to_native(error))
    fetch = None
    if params['probe']:
        try:
            context = make_context(cafile=params['ca_path'])
        except (OSError, ValueError) as error:
            module.fail_json(msg='cannot load the CA bundle %s: %s' % (params['ca_path'], to_native(error)))
        if ca_pem:
            # make_context drops its own cadata when cafile is given: the CAs about to be trusted are loaded here.
            try:
                context.load_verify_locations(cadata=ca_pem)
            except ssl.SSLError as error:
                module.fail_json(msg='cannot load the CA certificates of ca_data: %s' % (error.reason or error))
        fetch = HttpFetcher(context, user_agent=USER_AGENT)
    try:
        record = audit(HostView(), go=params['go'], docker=params['docker'], fetch=fetch,
                       timeout=params['timeout'], slow_ms=params['slow_ms'], credentials=params['credentials'],
                       python=params['python'], node=params['node'])
    except PolicyError as error:
        module.fail_json(msg=redact_url(to_native(error)))
    found = counts(record)
    msg = ', '.join('%d %s' % (found[severity], severity) for severity in ('high', 'medium', 'low', 'info')
                    if found[severity]) or 'compliant'
    module.exit_json(changed=False, audit=record, msg=msg)


if __name__ == '__main__':
    main()
