# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The node_mirrors role's gate: the judgement of a mirror_check result for the registries of the policy.

Documented in its sidecar file (plugins/filter/node_mirrors_gate.yml). The policy it takes is the output of
validate_node_mirrors; the probes it looks for are those of node_mirrors_probes (plugins/filter/policy.py).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url
from ansible_collections.buildfleet.mirrors.plugins.plugin_utils._filters import policy_errors_as_filter_errors

GATE_MODES = ('strict', 'prune', 'warn', 'off')
SCOPE_PACKAGES = 'node_mirrors_scope_probe_packages'


def _wanted(policy):
    """(scope or None, registry URL, probe package) of each registry of the validated policy, the main one first."""
    registry = policy.get('node_mirrors_registry')
    if not registry:
        return []
    main_package = policy.get('node_mirrors_probe_package') or 'npm'
    packages = policy.get(SCOPE_PACKAGES) or {}
    wanted = [(None, registry, main_package)]
    for scope, url in (policy.get('node_mirrors_scopes') or {}).items():
        wanted.append((scope, url, packages.get(scope, main_package)))
    return wanted


def _fetch_scope_packages(policy, scopes):
    """The scope probe packages the writer fetches through the file: of a scope it writes, and of that scope only
    (npm fetches a package of another scope, or none, from the main registry)."""
    packages = policy.get(SCOPE_PACKAGES) or {}
    return dict((scope, package) for scope, package in packages.items()
                if scope in scopes and package.startswith(scope + '/'))


def _same_url(one, other):
    return (one or '').rstrip('/') == (other or '').rstrip('/')


def _judged(probe_result, policy):
    probes = [probe for probe in (probe_result or {}).get('probes') or []
              if isinstance(probe, dict) and probe.get('kind') == 'npm']
    judged = []
    for scope, url, package in _wanted(policy):
        shown = redact_url(url)
        found = [probe for probe in probes if _same_url(probe.get('url'), shown) and probe.get('package') == package]
        if found:
            reachable = all(probe.get('reachable') for probe in found)
            errors = [probe.get('error') for probe in found if not probe.get('reachable')]
            error = errors[0] if errors else None
        else:
            reachable, error = False, 'not probed (no probe of it with %s in the mirror_check result)' % package
        judged.append({'scope': scope, 'url': shown, 'package': package, 'reachable': reachable, 'error': error})
    return judged


@policy_errors_as_filter_errors
def node_mirrors_gate(probe_result, policy, validate='strict', host='this host'):
    if validate not in GATE_MODES:
        raise AnsibleFilterError('node_mirrors_validate %r is not one of %s' % (validate, ', '.join(GATE_MODES)))
    if not isinstance(policy, dict):
        raise AnsibleFilterError('node_mirrors_gate needs the validated policy (a dict), got a %s'
                                 % type(policy).__name__)
    scopes = dict(policy.get('node_mirrors_scopes') or {})
    judgement = {'judged': 0, 'dead': [], 'live_scopes': scopes, 'fetch_scope_packages': {}, 'pruned': [],
                 'refusal': '', 'warning': ''}
    judgement['fetch_scope_packages'] = _fetch_scope_packages(policy, scopes)
    if validate == 'off':
        return judgement
    judged = _judged(probe_result, policy)
    dead = [probe for probe in judged if not probe['reachable']]
    judgement['judged'] = len(judged)
    judgement['dead'] = [dict((key, probe[key]) for key in ('scope', 'url', 'package', 'error')) for probe in dead]
    if not dead:
        return judgement

    def listed(probes):
        return '; '.join('%s %s (%s): %s' % ('node_mirrors_registry' if probe['scope'] is None else
                                             'node_mirrors_scopes[%s]' % probe['scope'],
                                             probe['url'], probe['package'], probe['error']) for probe in probes)

    main_dead = any(probe['scope'] is None for probe in dead)
    if validate == 'strict':
        judgement['refusal'] = (
            'node_mirrors_validate is strict and %d of %d npm registries did not serve their probe package from %s, '
            'so nothing was changed on it: %s. Bring the registry back, correct the policy, or set '
            'node_mirrors_validate to prune to leave out a scope registry that does not answer.'
            % (len(dead), len(judged), host, listed(dead)))
    elif validate == 'prune':
        if main_dead:
            judgement['refusal'] = (
                'node_mirrors_validate is prune, but the main registry (node_mirrors_registry) did not serve its '
                'probe package from %s, and it cannot be left out, so nothing was changed on it: %s.'
                % (host, listed(dead)))
        else:
            judgement['live_scopes'] = dict((scope, url) for scope, url in scopes.items()
                                            if scope not in [probe['scope'] for probe in dead])
            judgement['fetch_scope_packages'] = _fetch_scope_packages(policy, judgement['live_scopes'])
            judgement['pruned'] = [probe['url'] for probe in dead]
            judgement['warning'] = (
                '[WARNING] node_mirrors_validate is prune: left out of the npmrc on %s, so the packages of %s now '
                'come from the main registry: %s' % (host, ', '.join(probe['scope'] for probe in dead), listed(dead)))
    else:
        judgement['warning'] = ('[WARNING] node_mirrors_validate is warn: written although they did not serve their '
                                'probe package on %s: %s' % (host, listed(dead)))
    return judgement


class FilterModule:
    """The node_mirrors role's gate."""

    def filters(self):
        return {
            'node_mirrors_gate': node_mirrors_gate,
        }
