# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters for the docker_mirrors role: its policy validated once, the gate's judgement, dockerd's registry settings.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The rules live in module_utils (_registry_rules.py for URLs and entries,
_daemon_json.py for dockerd's keys); these filters are the only place that
knows the role's variable names.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import (
    validate_ca_bundle,
    validate_named_ca_certificates,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    mirror_hosts,
    registry_config_problems,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import DOCKER_HUB
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    refuse_insecure_all,
    validate_insecure_registries,
    validate_probe_images,
    validate_registries,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)
from ansible_collections.buildfleet.mirrors.plugins.plugin_utils._filters import policy_errors_as_filter_errors


GATE_MODES = ('strict', 'prune', 'warn', 'off')
STATES = ('present', 'absent')


def _bool(policy, name, default):
    value = policy.get(name, default)
    if not isinstance(value, bool):
        raise PolicyError('%s must be true or false, got %s' % (name, show(value)))
    return value


@policy_errors_as_filter_errors
def validate_docker_mirrors(policy):
    """Validate the docker_mirrors role's variables once; return them, mirrors and entries as given.

    A path in a mirror URL is accepted here: whether the engine takes one (Docker 24 and newer) is decided by
    docker_daemon_config, which reads the engine before it writes.
    """
    if not isinstance(policy, dict):
        raise PolicyError('the docker_mirrors policy must be a dict of docker_mirrors_* variables, got %s'
                          % show(policy))
    state = policy.get('docker_mirrors_state', 'present')
    if state not in STATES:
        raise PolicyError('docker_mirrors_state must be present or absent, got %s' % show(state))
    allow_all = policy.get('docker_mirrors_allow_insecure_all', False)
    if not isinstance(allow_all, bool):
        raise PolicyError('docker_mirrors_allow_insecure_all must be true or false, got %s' % show(allow_all))
    mirrors = policy.get('docker_mirrors_registry_mirrors')
    mirrors = [] if mirrors is None else mirrors
    insecure = policy.get('docker_mirrors_insecure_registries')
    registries = validate_registries(policy.get('docker_mirrors_registries'), 'docker_mirrors_registries',
                                     allow_path=True, docker_hub_option='docker_mirrors_registry_mirrors',
                                     check_urls=state == 'present')
    probe_images = policy.get('docker_mirrors_probe_images') or {}
    if state == 'present':
        validate_probe_images(probe_images, 'docker_mirrors_probe_images', registries,
                              isinstance(mirrors, (list, tuple)) and len(mirrors) > 0,
                              docker_hub_option='docker_mirrors_registry_mirrors',
                              registries_option='docker_mirrors_registries')
    elif not isinstance(probe_images, dict):
        # A policy being removed probes nothing: only the shape is checked.
        raise PolicyError('docker_mirrors_probe_images must be a mapping of registry to an image on it, got %s'
                          % show(probe_images))
    probe_images = dict(probe_images)
    fallback = _bool(policy, 'docker_mirrors_fallback', True)
    buildkitd = _bool(policy, 'docker_mirrors_buildkitd', False)
    if state == 'present':
        if isinstance(mirrors, (list, tuple)) and not mirrors and not registries:
            raise PolicyError('docker_mirrors_registry_mirrors and docker_mirrors_registries are both empty; give '
                              'Docker Hub mirrors, mirrors of other registries, or both')
        if mirrors or not isinstance(mirrors, (list, tuple)):
            validate_registry_mirrors(mirrors, 'docker_mirrors_registry_mirrors', allow_path=True)
        if insecure is not None:
            validate_insecure_registries(insecure, 'docker_mirrors_insecure_registries')
            refuse_insecure_all(insecure, 'docker_mirrors_insecure_registries', allow_all)
    elif not isinstance(mirrors, (list, tuple)):
        raise PolicyError('docker_mirrors_registry_mirrors must be a list of URLs, got %s' % show(mirrors))
    ca_certificates = _ca_certificates(policy, state)
    normalised = dict(policy)
    # Only the role's own variables come back; the ca_trust role's list was only a source.
    normalised.pop('ca_trust_certificates', None)
    normalised.update(docker_mirrors_ca_certificates=ca_certificates, docker_mirrors_state=state, docker_mirrors_registry_mirrors=list(mirrors),
                      docker_mirrors_insecure_registries=None if insecure is None else list(insecure),
                      docker_mirrors_allow_insecure_all=allow_all, docker_mirrors_registries=registries,
                      docker_mirrors_probe_images=probe_images, docker_mirrors_fallback=fallback,
                      docker_mirrors_buildkitd=buildkitd)
    return normalised


def _ca_certificates(policy, state):
    """docker_mirrors_ca_certificates checked (each a CA, valid now, no private key) and normalised, or ''.

    Null takes the certificates of ``ca_trust_certificates`` (the ca_trust role's list of {name, content}) when the
    policy carries it, checked as that role checks them, so that an error names the item the text came from. Messages
    never show the text; with state absent, nothing is trusted and nothing checked.
    """
    text = policy.get('docker_mirrors_ca_certificates')
    if text is None:
        entries = policy.get('ca_trust_certificates')
        if state != 'present' or entries is None or entries == []:
            return ''
        return validate_named_ca_certificates(entries, 'ca_trust_certificates')['pem']
    if not isinstance(text, str):
        raise PolicyError('docker_mirrors_ca_certificates must be PEM text (one or more -----BEGIN CERTIFICATE----- '
                          'blocks in one string), got a %s' % type(text).__name__)
    if state != 'present' or not text.strip():
        return ''
    return validate_ca_bundle(text, 'docker_mirrors_ca_certificates')['pem']


def _same_url(left, right):
    return isinstance(left, str) and isinstance(right, str) and left.rstrip('/') == right.rstrip('/')


def docker_mirrors_gate(probe_result, registry_mirrors, mode='strict', state='present', refuse=False,
                        registries=None):
    """Judge registry probes for the docker_mirrors role: which mirrors are written, which are left out, and why.

    ``probe_result`` is a registered ``mirror_check`` result (it may hold other roles' probes: only ``registry``
    probes of these mirrors, for their registry, count), or None. ``registry_mirrors`` are Docker Hub's mirrors,
    ``registries`` the other registries' ({registry: [mirror URLs]}); a mirror is judged per registry, as its probe
    (with a probe image) is. Returns ``kept`` (Docker Hub's mirrors to write, as given), ``kept_registries`` (the
    other registries' mirrors to write), ``pruned`` and ``dead`` (redacted URLs, ``dead`` with the registry and the
    probe's error), ``refused`` and ``msg`` (the host must fail before any write), and ``warning`` (a line to show,
    or ''). Under prune, a registry left without any mirror refuses the host. With ``refuse``, a refusal raises.
    """
    if mode is False:  # YAML's bare off
        mode = 'off'
    if mode not in GATE_MODES:
        raise AnsibleFilterError('docker_mirrors_validate must be one of %s, got %s' % (', '.join(GATE_MODES),
                                                                                        show(mode)))
    wanted = {DOCKER_HUB: list(registry_mirrors or [])}
    wanted.update((registry, list(urls or [])) for registry, urls in (registries or {}).items())
    verdict = dict(kept=wanted[DOCKER_HUB], kept_registries={registry: urls for registry, urls in wanted.items()
                                                             if registry != DOCKER_HUB},
                   pruned=[], dead=[], refused=False, msg='', warning='')
    if state != 'present' or mode == 'off':
        return verdict
    probes = (probe_result or {}).get('probes') if isinstance(probe_result, dict) else None
    registry_probes = [probe for probe in probes or [] if isinstance(probe, dict) and probe.get('kind') == 'registry']
    total = sum(len(urls) for urls in wanted.values())
    dead, unprobed, kept, emptied = [], [], {}, []
    for registry, urls in wanted.items():
        kept[registry] = []
        for url in urls:
            shown = redact_url(url)
            probe = next((probe for probe in registry_probes if _same_url(probe.get('url'), shown)
                          and probe.get('registry', DOCKER_HUB) == registry), None)
            if probe is None:
                unprobed.append(shown if registry == DOCKER_HUB else '%s (for %s)' % (shown, registry))
            elif probe.get('reachable'):
                kept[registry].append(url)
            else:
                dead.append(dict(url=shown, registry=registry,
                                 error=probe.get('error') or 'status %s' % probe.get('status')))
        if urls and not kept[registry]:
            emptied.append(registry)
    if unprobed:
        verdict.update(refused=True, kept=[], kept_registries={}, msg=(
            'docker_mirrors gate (%s): no registry probe of %s in %s; run the gate first, or probe every mirror of '
            'docker_mirrors_registry_mirrors and docker_mirrors_registries with buildfleet.mirrors.mirror_check. '
            'Nothing was written on this host.'
            % (mode, ', '.join(unprobed), 'docker_mirrors_probe_result' if probes is not None
               else 'the probe result (there is none)')))
    elif dead:
        listed = ', '.join('%s%s (%s)' % (item['url'], '' if item['registry'] == DOCKER_HUB
                                          else ' for %s' % item['registry'], item['error']) for item in dead)
        verdict['dead'] = dead
        if mode == 'strict':
            verdict.update(refused=True, kept=[], kept_registries={}, msg=(
                'docker_mirrors gate (strict): %d of %d registry mirrors do not answer from this host: %s. '
                'Nothing was written on this host.' % (len(dead), total, listed)))
        elif mode == 'prune' and emptied:
            verdict.update(refused=True, msg=(
                'docker_mirrors gate (prune): no mirror of %s answers from this host: %s. '
                'Nothing was written on this host.' % (', '.join(emptied), listed)))
        else:
            verdict['warning'] = 'WARNING: docker_mirrors gate (%s): %s %s not answer from this host and %s.' % (
                mode, listed, 'does' if len(dead) == 1 else 'do',
                'is left out of the policy' if mode == 'prune' else 'stays in the policy')
            if mode == 'prune':
                verdict.update(kept=kept[DOCKER_HUB],
                               kept_registries={registry: urls for registry, urls in kept.items()
                                                if registry != DOCKER_HUB},
                               pruned=[item['url'] for item in dead])
    if verdict['refused'] and refuse:
        raise AnsibleFilterError(verdict['msg'])
    return verdict


def registry_config_problems_filter(registry_config, registry_mirrors=None, insecure_registries=None):
    return registry_config_problems(registry_config, registry_mirrors, insecure_registries)


def mirror_hosts_filter(registry_mirrors, insecure_registries=None):
    if not isinstance(registry_mirrors, (list, tuple)):
        raise AnsibleFilterError('mirror_hosts expects a list of mirror URLs, got %r' % (registry_mirrors,))
    return mirror_hosts(registry_mirrors, insecure_registries)


class FilterModule:
    """docker_mirrors filters of buildfleet.mirrors."""

    def filters(self):
        return {
            'validate_docker_mirrors': validate_docker_mirrors,
            'docker_mirrors_gate': docker_mirrors_gate,
            'registry_config_problems': registry_config_problems_filter,
            'mirror_hosts': mirror_hosts_filter,
        }
