# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that turn a mirror policy into validated values, for the go_proxy, docker_mirrors, python_mirrors and
node_mirrors roles.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The rules of each value live in module_utils (_go_rules, _registry_rules,
_values, _python_rules, _node_rules), shared with the modules; here they are wrapped so that a refused value
raises AnsibleFilterError, and only here are they applied to the roles'
variables by name (validate_go_policy, go_environment, validate_go_credentials).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    refuse_credentials_in_urls,
    validate_go_credentials as validate_credentials,
    validate_group_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    UnitNameError,
    service_names,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    build_goproxy,
    matches_every_module,
    parse_gosumdb,
    validate_goflags,
    validate_gotoolchain,
    validate_module_patterns,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    validate_package_name,
    validate_registry_url,
    validate_scopes,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    validate_extra_index_urls,
    validate_index_url,
    validate_project_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    validate_insecure_registries,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    _subject,
)
from ansible_collections.buildfleet.mirrors.plugins.plugin_utils._filters import policy_errors_as_filter_errors


# ---------------------------------------------------------------------------
# The go_proxy role's whole policy: only the filters know role variable names.
# ---------------------------------------------------------------------------

GO_PATTERN_VARIABLES = (
    ('go_proxy_private', 'GOPRIVATE'),
    ('go_proxy_noproxy', 'GONOPROXY'),
    ('go_proxy_nosumdb', 'GONOSUMDB'),
    ('go_proxy_insecure', 'GOINSECURE'),
)


def _refuse_patterns_of_every_module(normalised):
    """A pattern matching every module in GONOSUMDB (or GOPRIVATE, which Go reads when GONOSUMDB is unset) turns
    checksum verification off for everything, as GOSUMDB=off does; in GOINSECURE it drops TLS checks for every
    module. Each needs its opt-in."""
    # Go reads GONOSUMDB when it is set, GOPRIVATE otherwise: only the one Go reads decides.
    nosumdb_variable = 'go_proxy_nosumdb' if normalised['go_proxy_nosumdb'] else 'go_proxy_private'
    checks = (
        (nosumdb_variable, 'go_proxy_allow_sumdb_off',
         'which turns off checksum verification of every module, as GOSUMDB=off does'),
        ('go_proxy_insecure', 'go_proxy_allow_insecure_all',
         'which fetches every module over plain HTTP or without certificate checks'),
    )
    for variable, opt_in, consequence in checks:
        if normalised[opt_in]:
            continue
        for pattern in normalised[variable]:
            if matches_every_module(pattern):
                raise PolicyError('%s matches every module, %s; name the modules (such as corp.example.com/*), '
                                  'or set %s: true if that is really the policy'
                                  % (_subject(variable, pattern, True), consequence, opt_in))


def validate_go_policy(policy):
    """Validate the go_proxy role's variables; return them normalised, same keys.

    Unset values come back as ``[]`` (pattern and flag lists) or ``None``
    (``go_proxy_sumdb``, ``go_proxy_toolchain``); Go reads an empty GONOPROXY or
    GONOSUMDB as unset, so the two mean the same. ``go_proxy_urls`` must name
    at least one proxy. ``go_proxy_systemd_units``, when given, comes back as
    service names (``gitlab-runner`` -> ``gitlab-runner.service``). Keys other
    than the policy's are ignored.

    Two opt-ins guard the values that switch a protection off for every module:
    ``go_proxy_allow_sumdb_off`` (GOSUMDB ``off``, or a GONOSUMDB pattern such as
    ``*`` that matches every module, from ``go_proxy_nosumdb`` or, when that is
    empty, ``go_proxy_private``) and ``go_proxy_allow_insecure_all`` (a
    ``go_proxy_insecure`` pattern that matches every module).
    """
    if not isinstance(policy, dict):
        raise PolicyError('the go_proxy policy must be a dict of go_proxy_* variables, got %s' % show(policy))
    normalised = {
        'go_proxy_urls': list(policy.get('go_proxy_urls') or []),
        'go_proxy_fallback': policy.get('go_proxy_fallback', 'direct'),
        'go_proxy_fallthrough': policy.get('go_proxy_fallthrough', 'not_found'),
        'go_proxy_allow_sumdb_off': policy.get('go_proxy_allow_sumdb_off', False),
        'go_proxy_allow_insecure_all': policy.get('go_proxy_allow_insecure_all', False),
    }
    if 'go_proxy_urls' in policy and not isinstance(policy['go_proxy_urls'], (list, tuple, type(None))):
        raise PolicyError('go_proxy_urls must be a list of proxy URLs, got %s' % show(policy['go_proxy_urls']))
    for opt_in in ('go_proxy_allow_sumdb_off', 'go_proxy_allow_insecure_all'):
        if not isinstance(normalised[opt_in], bool):
            raise PolicyError('%s must be true or false, got %s' % (opt_in, show(normalised[opt_in])))
    # Checks every URL, the fallback and the fallthrough, naming go_proxy_urls.
    build_goproxy(normalised['go_proxy_urls'], normalised['go_proxy_fallback'],
                  normalised['go_proxy_fallthrough'], name='go_proxy_urls')

    sumdb = policy.get('go_proxy_sumdb')
    if isinstance(sumdb, bool):  # an unquoted off in YAML; falsy, so it must not pass for "unset"
        raise PolicyError("go_proxy_sumdb is %s (a bool): YAML reads a bare off as false, so write 'off' in quotes"
                          % sumdb)
    sumdb = sumdb or None
    if sumdb is not None:
        parse_gosumdb(sumdb, 'go_proxy_sumdb')
        if sumdb == 'off' and not normalised['go_proxy_allow_sumdb_off']:
            raise PolicyError("go_proxy_sumdb is 'off', which turns off checksum verification of every module; "
                              'set go_proxy_allow_sumdb_off: true if that is really the policy')
    normalised['go_proxy_sumdb'] = sumdb

    for variable, dummy in GO_PATTERN_VARIABLES:
        normalised[variable] = validate_module_patterns(policy.get(variable), variable)
    _refuse_patterns_of_every_module(normalised)
    normalised['go_proxy_flags'] = validate_goflags(policy.get('go_proxy_flags'), 'go_proxy_flags')
    toolchain = policy.get('go_proxy_toolchain') or None
    normalised['go_proxy_toolchain'] = None if toolchain is None else validate_gotoolchain(toolchain,
                                                                                           'go_proxy_toolchain')
    if 'go_proxy_systemd_units' in policy:
        try:
            normalised['go_proxy_systemd_units'] = service_names(policy['go_proxy_systemd_units'])
        except UnitNameError as error:
            raise PolicyError(str(error)) from None
    if not normalised['go_proxy_urls']:
        raise PolicyError('go_proxy_urls is empty: give the corporate Go module proxies in priority order, '
                          'or set go_proxy_state: absent to remove the policy from this host')
    # Every output of the policy is world-readable (and systemctl show prints the drop-ins): credentials go to
    # go_proxy_credentials, which only root and go_proxy_credentials_group can read.
    refuse_credentials_in_urls(_credential_targets(normalised))
    return normalised


def go_environment(policy):
    """Validate the go_proxy policy and return the Go environment it sets, in a stable order.

    Only the variables the policy sets appear. GOPROXY is always there; GOFLAGS
    entries are joined with spaces (quote the value in every output) and
    pattern lists with commas.
    """
    normalised = validate_go_policy(policy)
    environment = {'GOPROXY': build_goproxy(normalised['go_proxy_urls'], normalised['go_proxy_fallback'],
                                            normalised['go_proxy_fallthrough'])}
    if normalised['go_proxy_sumdb']:
        environment['GOSUMDB'] = normalised['go_proxy_sumdb']
    for variable, go_name in GO_PATTERN_VARIABLES:
        if normalised[variable]:
            environment[go_name] = ','.join(normalised[variable])
    if normalised['go_proxy_flags']:
        environment['GOFLAGS'] = ' '.join(normalised['go_proxy_flags'])
    if normalised['go_proxy_toolchain']:
        environment['GOTOOLCHAIN'] = normalised['go_proxy_toolchain']
    return environment


def _credential_targets(policy):
    """The URLs of the go_proxy policy that Go may send netrc credentials to: each proxy, the checksum database."""
    urls = policy.get('go_proxy_urls') or []
    if not isinstance(urls, (list, tuple)):
        raise PolicyError('go_proxy_urls must be a list of proxy URLs, got %s' % show(urls))
    targets = [CredentialTarget(url, 'go_proxy_urls entry') for url in urls if isinstance(url, str)]
    sumdb = policy.get('go_proxy_sumdb')
    if isinstance(sumdb, str) and sumdb and sumdb != 'off':
        targets.append(CredentialTarget(parse_gosumdb(sumdb, 'go_proxy_sumdb').url, 'go_proxy_sumdb URL'))
    return targets


def validate_go_credentials(policy):
    """Validate go_proxy_credentials and go_proxy_credentials_group against the policy's URLs; return a summary.

    The summary holds no login and no password, so it is safe in a fact or a message:
    ``go_proxy_credentials`` is a list of ``{machine, netrc_machines, urls}`` (the netrc lines Go needs, the
    policy URLs the entry is for, redacted), ``go_proxy_credentials_group`` the group or None. The writer
    renders the netrc text on the host from the variables themselves (module_utils._go_credentials.render_netrc).
    User info in go_proxy_urls or the go_proxy_sumdb URL is refused, with or without credentials.
    """
    if not isinstance(policy, dict):
        raise PolicyError('the go_proxy policy must be a dict of go_proxy_* variables, got %s' % show(policy))
    group = validate_group_name(policy.get('go_proxy_credentials_group'), 'go_proxy_credentials_group')
    targets = _credential_targets(policy)
    refuse_credentials_in_urls(targets)
    credentials = policy.get('go_proxy_credentials')
    validated = validate_credentials(credentials, targets, 'go_proxy_credentials')
    return {
        'go_proxy_credentials': [{'machine': credential.machine, 'netrc_machines': list(credential.netrc_machines),
                                  'urls': list(credential.urls)} for credential in validated],
        'go_proxy_credentials_group': group,
    }


# ---------------------------------------------------------------------------
# The python_mirrors and node_mirrors roles' policies
# ---------------------------------------------------------------------------

STATES = ('present', 'absent')


def _common(policy, role, defaults):
    """The checks every package-index role shares: a dict, its state, its boolean switches."""
    if not isinstance(policy, dict):
        raise PolicyError('the %s policy must be a dict of %s_* variables, got %s' % (role, role, show(policy)))
    normalised = {}
    state = policy.get('%s_state' % role, 'present')
    if state not in STATES:
        raise PolicyError('%s_state is %s; use present or absent' % (role, show(state)))
    normalised['%s_state' % role] = state
    for switch, default in defaults:
        variable = '%s_%s' % (role, switch)
        value = policy.get(variable, default)
        if not isinstance(value, bool):
            raise PolicyError('%s must be true or false, got %s' % (variable, show(value)))
        normalised[variable] = value
    return normalised


def validate_python_mirrors(policy):
    """Validate the python_mirrors role's variables; return them normalised, same keys.

    ``python_mirrors_index_url`` (required when present) and each of ``python_mirrors_extra_index_urls`` come back
    ending with one ``/``; ``python_mirrors_probe_package`` (default ``pip``) in its PEP 503 normalised form, as
    the gate asks the index for it. With ``python_mirrors_state: absent`` only the shape is checked: a policy
    being removed needs no valid URL. Keys other than the policy's are ignored.
    """
    normalised = _common(policy, 'python_mirrors', (('allow_http', False), ('uv', True), ('environment', False)))
    allow_http = normalised['python_mirrors_allow_http']
    extra = policy.get('python_mirrors_extra_index_urls')
    probe = policy.get('python_mirrors_probe_package') or 'pip'
    if normalised['python_mirrors_state'] == 'absent':
        normalised.update(python_mirrors_index_url=policy.get('python_mirrors_index_url') or None,
                          python_mirrors_extra_index_urls=list(extra or []), python_mirrors_probe_package=probe)
        return normalised
    index_url = policy.get('python_mirrors_index_url')
    if not index_url:
        raise PolicyError('python_mirrors_index_url is not set: give the simple index every install uses (such as '
                          'https://pypi.corp.example/simple/), or set python_mirrors_state: absent to remove the '
                          'policy from this host')
    index_url = validate_index_url(index_url, 'python_mirrors_index_url', allow_http, 'python_mirrors_allow_http')
    normalised['python_mirrors_index_url'] = index_url
    normalised['python_mirrors_extra_index_urls'] = validate_extra_index_urls(
        extra, 'python_mirrors_extra_index_urls', index_url, allow_http, 'python_mirrors_allow_http')
    normalised['python_mirrors_probe_package'] = validate_project_name(probe, 'python_mirrors_probe_package')
    return normalised


def validate_node_mirrors(policy):
    """Validate the node_mirrors role's variables; return them normalised, same keys.

    ``node_mirrors_registry`` (required when present) and each registry of ``node_mirrors_scopes`` (``@scope`` ->
    URL) come back ending with one ``/``; ``node_mirrors_probe_package`` (default ``npm``) is an npm package name,
    scoped or not. With ``node_mirrors_state: absent`` only the shape is checked. Keys other than the policy's are
    ignored.
    """
    normalised = _common(policy, 'node_mirrors', (('allow_http', False), ('environment', False)))
    allow_http = normalised['node_mirrors_allow_http']
    scopes = policy.get('node_mirrors_scopes')
    probe = policy.get('node_mirrors_probe_package') or 'npm'
    if normalised['node_mirrors_state'] == 'absent':
        normalised.update(node_mirrors_registry=policy.get('node_mirrors_registry') or None,
                          node_mirrors_scopes=dict(scopes or {}), node_mirrors_probe_package=probe,
                          node_mirrors_scope_probe_packages=dict(policy.get('node_mirrors_scope_probe_packages') or {}))
        return normalised
    registry = policy.get('node_mirrors_registry')
    if not registry:
        raise PolicyError('node_mirrors_registry is not set: give the npm registry every install uses (such as '
                          'https://npm.corp.example/), or set node_mirrors_state: absent to remove the policy from '
                          'this host')
    normalised['node_mirrors_registry'] = validate_registry_url(registry, 'node_mirrors_registry', allow_http,
                                                                'node_mirrors_allow_http')
    normalised['node_mirrors_scopes'] = validate_scopes(scopes, 'node_mirrors_scopes', allow_http,
                                                        'node_mirrors_allow_http')
    normalised['node_mirrors_probe_package'] = validate_package_name(probe, 'node_mirrors_probe_package')
    normalised['node_mirrors_scope_probe_packages'] = _scope_probe_packages(
        policy.get('node_mirrors_scope_probe_packages'), normalised['node_mirrors_scopes'])
    return normalised


def _scope_probe_packages(packages, scopes, name='node_mirrors_scope_probe_packages'):
    """``@scope`` -> the package the gate asks that scope's registry for: a scope of node_mirrors_scopes each."""
    if packages in (None, ''):
        return {}
    if not isinstance(packages, dict):
        raise PolicyError('%s must be a mapping of scope to package (@corp: "@corp/tool"), got %s'
                          % (name, show(packages)))
    checked = {}
    for scope, package in packages.items():
        if scope not in scopes:
            raise PolicyError('%s key %s is not a scope of node_mirrors_scopes (%s)'
                              % (name, show(scope), ', '.join(sorted(scopes)) or 'none'))
        checked[scope] = validate_package_name(package, '%s[%s]' % (name, scope))
    return checked


def node_mirrors_probes(policy):
    """What the gate asks of the npm registries: [{url, package}], the main registry first, each pair once.

    The main registry with node_mirrors_probe_package; each scope's registry with its package of
    node_mirrors_scope_probe_packages, else the main probe package. ``policy`` is validated first.
    """
    validated = validate_node_mirrors(policy)
    if validated['node_mirrors_state'] == 'absent':
        return []
    main = validated['node_mirrors_probe_package']
    wanted = [(validated['node_mirrors_registry'], main)]
    for scope, url in validated['node_mirrors_scopes'].items():
        wanted.append((url, validated['node_mirrors_scope_probe_packages'].get(scope, main)))
    probes = []
    for url, package in wanted:
        if {'url': url, 'package': package} not in probes:
            probes.append({'url': url, 'package': package})
    return probes


def python_mirrors_probes(policy):
    """What the gate asks of the Python indexes: their URLs, the main index first (each once, validated)."""
    validated = validate_python_mirrors(policy)
    if validated['python_mirrors_state'] == 'absent':
        return []
    return [validated['python_mirrors_index_url']] + validated['python_mirrors_extra_index_urls']


@policy_errors_as_filter_errors
def validate_python_mirrors_filter(policy):
    return validate_python_mirrors(policy)


@policy_errors_as_filter_errors
def validate_node_mirrors_filter(policy):
    return validate_node_mirrors(policy)


@policy_errors_as_filter_errors
def python_mirrors_probes_filter(policy):
    return python_mirrors_probes(policy)


@policy_errors_as_filter_errors
def node_mirrors_probes_filter(policy):
    return node_mirrors_probes(policy)


@policy_errors_as_filter_errors
def goproxy_string(urls, fallback='direct', fallthrough='not_found', name='go_proxy_urls'):
    return build_goproxy(urls, fallback, fallthrough, name)


@policy_errors_as_filter_errors
def validate_go_policy_filter(policy):
    return validate_go_policy(policy)


@policy_errors_as_filter_errors
def go_environment_filter(policy):
    return go_environment(policy)


@policy_errors_as_filter_errors
def validate_go_credentials_filter(policy):
    return validate_go_credentials(policy)


@policy_errors_as_filter_errors
def validate_registry_mirrors_filter(urls, allow_path=False, name='docker_mirrors_registry_mirrors'):
    return validate_registry_mirrors(urls, name, allow_path)


@policy_errors_as_filter_errors
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


@policy_errors_as_filter_errors
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


def _own_index_probes(probe_result, policy):
    """The pypi probes of a mirror_check result that judge the python_mirrors policy: one per index, main first.

    A result may hold other roles' probes too: an index is picked by kind, URL as mirror_check shows it (redacted)
    and probe package. An index the result did not probe (or probed for another project) counts as dead.
    """
    probes = (probe_result or {}).get('probes') or []
    package = policy.get('python_mirrors_probe_package') or 'pip'
    judged = []
    urls = [policy['python_mirrors_index_url']] + list(policy.get('python_mirrors_extra_index_urls') or [])
    for number, url in enumerate(urls):
        shown = redact_url(url)
        found = [probe for probe in probes if isinstance(probe, dict) and probe.get('kind') == 'pypi'
                 and probe.get('url') == shown and probe.get('package', package) == package]
        if found:
            reachable = all(probe.get('reachable') for probe in found)
            errors = [probe.get('error') for probe in found if not probe.get('reachable')]
            error = errors[0] if errors else None
        else:
            reachable, error = False, 'not probed for %s (no such probe in the mirror_check result)' % package
        judged.append({'kind': 'pypi', 'url': shown, 'reachable': reachable, 'error': error, 'caller_url': url,
                       'main': number == 0})
    return judged


@policy_errors_as_filter_errors
def python_mirrors_gate(probe_result, policy, validate='strict', host='this host'):
    if validate not in GATE_MODES:
        raise AnsibleFilterError('python_mirrors_validate %r is not one of %s' % (validate, ', '.join(GATE_MODES)))
    if not isinstance(policy, dict) or not policy.get('python_mirrors_index_url'):
        raise AnsibleFilterError('python_mirrors_gate needs the validated policy (the output of '
                                 'validate_python_mirrors with python_mirrors_state present)')
    extras = list(policy.get('python_mirrors_extra_index_urls') or [])
    judgement = {'judged': 0, 'dead': [], 'extra_index_urls': extras, 'pruned': [], 'refusal': '', 'warning': ''}
    if validate == 'off':
        return judgement
    judged = _own_index_probes(probe_result, policy)
    dead = [probe for probe in judged if not probe['reachable']]
    judgement['judged'] = len(judged)
    judgement['dead'] = [{'kind': probe['kind'], 'url': probe['url'], 'error': probe['error']} for probe in dead]
    if not dead:
        return judgement
    package = policy.get('python_mirrors_probe_package') or 'pip'

    def listed(probes):
        return '; '.join('%s: %s' % (probe['url'], probe['error']) for probe in probes)

    if validate == 'strict':
        judgement['refusal'] = (
            'python_mirrors_validate is strict and %d of %d indexes did not serve %s from %s, so nothing was changed '
            'on it: %s. Bring the index back, correct the policy (python_mirrors_probe_package must be a project '
            'every index serves), or set python_mirrors_validate to prune to leave out the extra indexes that do '
            'not answer.' % (len(dead), len(judged), package, host, listed(dead)))
    elif validate == 'prune':
        if any(probe['main'] for probe in dead):
            judgement['refusal'] = (
                'python_mirrors_validate is prune, but the main index python_mirrors_index_url did not serve %s '
                'from %s, so nothing was changed on it: %s.' % (package, host, listed(dead)))
        else:
            judgement['extra_index_urls'] = [probe['caller_url'] for probe in judged
                                             if not probe['main'] and probe['reachable']]
            judgement['pruned'] = [probe['url'] for probe in dead]
            judgement['warning'] = ('[WARNING] python_mirrors_validate is prune: left out of the extra indexes on '
                                    '%s: %s' % (host, listed(dead)))
    else:
        judgement['warning'] = ('[WARNING] python_mirrors_validate is warn: written although they did not serve %s '
                                'on %s: %s' % (package, host, listed(dead)))
    return judgement


class FilterModule:
    """Mirror-policy filters of buildfleet.mirrors."""

    def filters(self):
        return {
            'goproxy_string': goproxy_string,
            'validate_go_policy': validate_go_policy_filter,
            'go_environment': go_environment_filter,
            'validate_go_credentials': validate_go_credentials_filter,
            'validate_registry_mirrors': validate_registry_mirrors_filter,
            'validate_insecure_registries': validate_insecure_registries_filter,
            'redact_url': redact_url_filter,
            'go_proxy_gate': go_proxy_gate,
            'validate_python_mirrors': validate_python_mirrors_filter,
            'validate_node_mirrors': validate_node_mirrors_filter,
            'python_mirrors_gate': python_mirrors_gate,
            'python_mirrors_probes': python_mirrors_probes_filter,
            'node_mirrors_probes': node_mirrors_probes_filter,
        }
