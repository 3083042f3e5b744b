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

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    mirror_hosts,
    registry_config_problems,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    refuse_insecure_all,
    validate_insecure_registries,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)
from ansible_collections.buildfleet.mirrors.plugins.plugin_utils._filters import policy_errors_as_filter_errors


GATE_MODES = ('strict', 'prune', 'warn', 'off')
STATES = ('present', 'absent')


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
    if state == 'present':
        validate_registry_mirrors(mirrors, 'docker_mirrors_registry_mirrors', allow_path=True)
        if insecure is not None:
            validate_insecure_registries(insecure, 'docker_mirrors_insecure_registries')
            refuse_insecure_all(insecure, 'docker_mirrors_insecure_registries', allow_all)
    elif not isinstance(mirrors, (list, tuple)):
        raise PolicyError('docker_mirrors_registry_mirrors must be a list of URLs, got %s' % show(mirrors))
    normalised = dict(policy)
    normalised.update(docker_mirrors_state=state, docker_mirrors_registry_mirrors=list(mirrors),
                      docker_mirrors_insecure_registries=None if insecure is None else list(insecure),
                      docker_mirrors_allow_insecure_all=allow_all)
    return normalised


def _same_url(left, right):
    return isinstance(left, str) and isinstance(right, str) and left.rstrip('/') == right.rstrip('/')


def docker_mirrors_gate(probe_result, registry_mirrors, mode='strict', state='present', refuse=False):
    """Judge registry probes for the docker_mirrors role: which mirrors are written, which are left out, and why.

    ``probe_result`` is a registered ``mirror_check`` result (it may hold other roles' probes: only ``registry``
    probes of these mirrors count), or None. Returns ``kept`` (the mirrors to write, as given), ``pruned`` and
    ``dead`` (redacted URLs, ``dead`` with the probe's error), ``refused`` and ``msg`` (the host must fail before
    any write), and ``warning`` (a line to show, or ''). With ``refuse``, a refusal raises instead.
    """
    if mode is False:  # YAML's bare off
        mode = 'off'
    if mode not in GATE_MODES:
        raise AnsibleFilterError('docker_mirrors_validate must be one of %s, got %s' % (', '.join(GATE_MODES),
                                                                                        show(mode)))
    mirrors = list(registry_mirrors or [])
    verdict = dict(kept=mirrors, pruned=[], dead=[], refused=False, msg='', warning='')
    if state != 'present' or mode == 'off':
        return verdict
    probes = (probe_result or {}).get('probes') if isinstance(probe_result, dict) else None
    registry_probes = [probe for probe in probes or [] if isinstance(probe, dict) and probe.get('kind') == 'registry']
    dead, unprobed, kept = [], [], []
    for url in mirrors:
        shown = redact_url(url)
        probe = next((probe for probe in registry_probes if _same_url(probe.get('url'), shown)), None)
        if probe is None:
            unprobed.append(shown)
        elif probe.get('reachable'):
            kept.append(url)
        else:
            dead.append(dict(url=shown, error=probe.get('error') or 'status %s' % probe.get('status')))
    if unprobed:
        verdict.update(refused=True, kept=[], msg=(
            'docker_mirrors gate (%s): no registry probe of %s in %s; run the gate first, or probe every URL of '
            'docker_mirrors_registry_mirrors with buildfleet.mirrors.mirror_check. Nothing was written on this host.'
            % (mode, ', '.join(unprobed), 'docker_mirrors_probe_result' if probes is not None
               else 'the probe result (there is none)')))
    elif dead:
        listed = ', '.join('%s (%s)' % (item['url'], item['error']) for item in dead)
        verdict['dead'] = dead
        if mode == 'strict':
            verdict.update(refused=True, kept=[], msg=(
                'docker_mirrors gate (strict): %d of %d registry mirrors do not answer from this host: %s. '
                'Nothing was written on this host.' % (len(dead), len(mirrors), listed)))
        elif mode == 'prune' and not kept:
            verdict.update(refused=True, msg=(
                'docker_mirrors gate (prune): none of the %d registry mirrors answers from this host: %s. '
                'Nothing was written on this host.' % (len(mirrors), listed)))
        else:
            verdict['warning'] = 'WARNING: docker_mirrors gate (%s): %s %s not answer from this host and %s.' % (
                mode, listed, 'does' if len(dead) == 1 else 'do',
                'is left out of the policy' if mode == 'prune' else 'stays in the policy')
            if mode == 'prune':
                verdict.update(kept=kept, pruned=[item['url'] for item in dead])
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
