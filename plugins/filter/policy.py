# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that turn a mirror policy into validated values, for the go_proxy and docker_mirrors roles.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The rules live in module_utils/_policy.py, shared with the mirror_check module;
here they are only wrapped so that a refused value raises AnsibleFilterError.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import (
    PolicyError,
    build_goproxy,
    go_environment,
    parse_gosumdb,
    redact_url,
    validate_go_policy,
    validate_insecure_registries,
    validate_registry_mirrors,
)


def _policy_errors_as_filter_errors(function):
    """Re-raise PolicyError as AnsibleFilterError, with the same message (it already names the variable)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PolicyError as error:
            raise AnsibleFilterError(str(error)) from None
    return wrapper


@_policy_errors_as_filter_errors
def goproxy_string(urls, fallback='direct', fallthrough='not_found', name='go_proxy_urls'):
    return build_goproxy(urls, fallback, fallthrough, name)


@_policy_errors_as_filter_errors
def validate_go_policy_filter(policy):
    return validate_go_policy(policy)


@_policy_errors_as_filter_errors
def go_environment_filter(policy):
    return go_environment(policy)


@_policy_errors_as_filter_errors
def validate_registry_mirrors_filter(urls, allow_path=False, name='docker_mirrors_registry_mirrors'):
    return validate_registry_mirrors(urls, name, allow_path)


@_policy_errors_as_filter_errors
def validate_insecure_registries_filter(entries, name='docker_mirrors_insecure_registries'):
    return validate_insecure_registries(entries, name)


def redact_url_filter(url):
    return redact_url(url)


GATE_MODES = ('strict', 'prune', 'warn', 'off')


def _own_probes(probe_result, policy):
    """The probes of a mirror_check result that judge this policy, in its order: one per proxy, then the database.

    A result may hold other roles' probes too: a proxy is picked by its URL as mirror_check shows it (redacted),
    the database by its URL. A mirror of the policy that the result did not probe counts as dead: a gate passes
    only mirrors it saw answer.
    """
    probes = (probe_result or {}).get('probes') or []
    wanted = [('goproxy', url) for url in policy.get('go_proxy_urls') or []]
    sumdb = parse_gosumdb(policy['go_proxy_sumdb']) if policy.get('go_proxy_sumdb') else None
    if sumdb is not None:
        wanted.append(('gosumdb', sumdb.url))
    judged = []
    for kind, url in wanted:
        shown = redact_url(url)
        found = [probe for probe in probes
                 if isinstance(probe, dict) and probe.get('kind') == kind and probe.get('url') == shown]
        if found:
            reachable = all(probe.get('reachable') for probe in found)
            errors = [probe.get('error') for probe in found if not probe.get('reachable')]
            error = errors[0] if errors else None
        else:
            reachable, error = False, 'not probed (no probe of it in the mirror_check result)'
        judged.append({'kind': kind, 'url': shown, 'reachable': reachable, 'error': error, 'caller_url': url})
    return judged


@_policy_errors_as_filter_errors
def go_proxy_gate(probe_result, policy, validate='strict', host='this host'):
    if validate not in GATE_MODES:
        raise AnsibleFilterError('go_proxy_validate %r is not one of %s' % (validate, ', '.join(GATE_MODES)))
    if not isinstance(policy, dict):
        raise AnsibleFilterError('go_proxy_gate needs the validated policy (a dict), got a %s' % type(policy).__name__)
    urls = list(policy.get('go_proxy_urls') or [])
    judgement = {'judged': 0, 'dead': [], 'live_urls': urls, 'pruned': [], 'refusal': '', 'warning': ''}
    if validate == 'off':
        return judgement
    judged = _own_probes(probe_result, policy)
    dead = [probe for probe in judged if not probe['reachable']]
    judgement['judged'] = len(judged)
    judgement['dead'] = [{'kind': probe['kind'], 'url': probe['url'], 'error': probe['error']} for probe in dead]
    if not dead:
        return judgement

    def listed(probes):
        return '; '.join('%s %s: %s' % (probe['kind'], probe['url'], probe['error']) for probe in probes)

    dead_proxies = [probe for probe in dead if probe['kind'] == 'goproxy']
    if validate == 'strict':
        judgement['refusal'] = (
            'go_proxy_validate is strict and %d of %d mirrors did not answer from %s, so nothing was changed on it: '
            '%s. Bring the mirror back, correct the policy, or set go_proxy_validate to prune to write only the '
            'proxies that answer.' % (len(dead), len(judged), host, listed(dead)))
    elif validate == 'prune':
        live = [probe['caller_url'] for probe in judged if probe['kind'] == 'goproxy' and probe['reachable']]
        if not live or len(dead) > len(dead_proxies):
            judgement['refusal'] = (
                'go_proxy_validate is prune, but %s from %s, so nothing was changed on it: %s.'
                % ('no proxy of go_proxy_urls answered' if not live else 'the GOSUMDB database did not answer',
                   host, listed(dead)))
        else:
            judgement['live_urls'] = live
            judgement['pruned'] = [probe['url'] for probe in dead_proxies]
            judgement['warning'] = ('[WARNING] go_proxy_validate is prune: left out of GOPROXY on %s: %s'
                                    % (host, listed(dead_proxies)))
    else:
        judgement['warning'] = ('[WARNING] go_proxy_validate is warn: written although they did not answer on %s: %s'
                                % (host, listed(dead)))
    return judgement


class FilterModule:
    """Mirror-policy filters of buildfleet.mirrors."""

    def filters(self):
        return {
            'goproxy_string': goproxy_string,
            'validate_go_policy': validate_go_policy_filter,
            'go_environment': go_environment_filter,
            'validate_registry_mirrors': validate_registry_mirrors_filter,
            'validate_insecure_registries': validate_insecure_registries_filter,
            'redact_url': redact_url_filter,
            'go_proxy_gate': go_proxy_gate,
        }
