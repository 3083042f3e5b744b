# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""node_mirrors_gate: the judgement of a mirror_check result for the registries of the policy."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.filter.node_mirrors import FilterModule

FILTERS = FilterModule().filters()
MAIN = 'https://npm.corp.example/'
CORP = 'https://npm.corp.example/corp/'
TEAM = 'https://team.corp.example/'
POLICY = {'node_mirrors_registry': MAIN, 'node_mirrors_scopes': {'@corp': CORP, '@team': TEAM},
          'node_mirrors_probe_package': 'npm', 'node_mirrors_scope_probe_packages': {'@corp': '@corp/tool'}}


def probe(url, package, reachable=True, error=None, kind='npm'):
    return {'kind': kind, 'url': url, 'package': package, 'reachable': reachable, 'error': error}


def result(*probes):
    return {'probes': list(probes)}


def all_alive():
    return result(probe(MAIN.rstrip('/'), 'npm'), probe(CORP, '@corp/tool'), probe(TEAM, 'npm'),
                  probe('https://goproxy.corp.example', None, False, 'dead', kind='goproxy'))


@pytest.mark.parametrize('mode', ['strict', 'prune', 'warn'])
def test_every_registry_alive_passes_whatever_the_mode_and_other_kinds_do_not_count(mode):
    judged = FILTERS['node_mirrors_gate'](all_alive(), POLICY, mode, 'ci-1')
    assert judged == {'judged': 3, 'dead': [], 'live_scopes': POLICY['node_mirrors_scopes'],
                      'fetch_scope_packages': {'@corp': '@corp/tool'}, 'pruned': [], 'refusal': '', 'warning': ''}


def test_strict_refuses_naming_each_dead_registry_its_package_and_reason():
    probes = result(probe(MAIN, 'npm'), probe(CORP, '@corp/tool', False, 'HTTP 404: no packument'),
                    probe(TEAM, 'npm'))
    judged = FILTERS['node_mirrors_gate'](probes, POLICY, 'strict', 'ci-1')
    assert judged['refusal'].startswith('node_mirrors_validate is strict and 1 of 3 npm registries did not serve')
    assert "node_mirrors_scopes[@corp] %s (@corp/tool): HTTP 404: no packument" % CORP in judged['refusal']
    assert 'ci-1' in judged['refusal']


def test_prune_leaves_a_dead_scope_out_and_says_where_its_packages_come_from():
    probes = result(probe(MAIN, 'npm'), probe(CORP, '@corp/tool'), probe(TEAM, 'npm', False, 'connection refused'))
    judged = FILTERS['node_mirrors_gate'](probes, POLICY, 'prune', 'ci-1')
    assert judged['refusal'] == '' and judged['live_scopes'] == {'@corp': CORP}
    assert judged['fetch_scope_packages'] == {'@corp': '@corp/tool'}
    assert judged['pruned'] == [TEAM]
    assert 'the packages of @team now come from the main registry' in judged['warning']


def test_prune_refuses_when_the_main_registry_is_dead():
    probes = result(probe(MAIN, 'npm', False, 'connection refused'), probe(CORP, '@corp/tool'), probe(TEAM, 'npm'))
    judged = FILTERS['node_mirrors_gate'](probes, POLICY, 'prune', 'ci-1')
    assert 'the main registry (node_mirrors_registry) did not serve its probe package' in judged['refusal']
    assert judged['pruned'] == []


def test_a_registry_probed_with_another_package_or_not_at_all_counts_as_dead():
    probes = result(probe(MAIN, 'npm'), probe(CORP, 'npm'))
    judged = FILTERS['node_mirrors_gate'](probes, POLICY, 'warn', 'ci-1')
    assert [(dead['scope'], dead['error']) for dead in judged['dead']] == [
        ('@corp', 'not probed (no probe of it with @corp/tool in the mirror_check result)'),
        ('@team', 'not probed (no probe of it with npm in the mirror_check result)')]
    assert judged['refusal'] == '' and judged['warning'].startswith('[WARNING] node_mirrors_validate is warn')


def test_off_judges_nothing_and_urls_in_messages_are_redacted():
    assert FILTERS['node_mirrors_gate']({}, POLICY, 'off')['judged'] == 0
    policy = dict(POLICY, node_mirrors_registry='https://npm.corp.example/?token=S3cretTok', node_mirrors_scopes={},
                  node_mirrors_scope_probe_packages={})
    judged = FILTERS['node_mirrors_gate']({}, policy, 'strict')
    assert 'S3cretTok' not in judged['refusal'] and 'S3cretTok' not in str(judged['dead'])


def test_a_bad_mode_is_refused():
    with pytest.raises(AnsibleFilterError):
        FILTERS['node_mirrors_gate']({}, POLICY, 'loose')


def test_only_a_package_of_its_own_scope_of_a_written_scope_is_fetched():
    policy = dict(POLICY, node_mirrors_scope_probe_packages={'@corp': 'left-pad', '@team': '@team/x'})
    probes = result(probe(MAIN, 'npm'), probe(CORP, 'left-pad'), probe(TEAM, '@team/x', False, 'HTTP 404'))
    judged = FILTERS['node_mirrors_gate'](probes, policy, 'prune')
    assert judged['live_scopes'] == {'@corp': CORP} and judged['fetch_scope_packages'] == {}
