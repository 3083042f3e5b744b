# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""python_mirrors_gate: the role's gate judged from mirror_check results, real ones and hand-made ones."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from conftest import run_collection_module
from local_mirrors import Answer, MirrorServer

from ansible_collections.buildfleet.mirrors.plugins.filter.policy import FilterModule

FILTERS = FilterModule().filters()
GATE = FILTERS['python_mirrors_gate']
MAIN = 'https://pypi.corp.example/simple/'
EXTRA = 'https://extra.corp.example/simple/'


def policy(**variables):
    values = dict(python_mirrors_index_url=MAIN, python_mirrors_extra_index_urls=[EXTRA],
                  python_mirrors_probe_package='buildfleet_hello')
    values.update(variables)
    return FILTERS['validate_python_mirrors'](values)


def probe(url, reachable=True, package='buildfleet-hello', kind='pypi', error=None):
    return {'kind': kind, 'url': url, 'package': package, 'reachable': reachable,
            'error': None if reachable else (error or 'connection refused')}


def result(*probes):
    return {'probes': list(probes)}


def test_every_index_answering_passes_in_every_mode():
    answered = result(probe(MAIN), probe(EXTRA), probe('https://other.example/', kind='goproxy', reachable=False))
    for mode in ('strict', 'prune', 'warn'):
        gate = GATE(answered, policy(), mode, 'build1')
        assert (gate['judged'], gate['dead'], gate['refusal'], gate['warning']) == (2, [], '', '')
        assert gate['extra_index_urls'] == [EXTRA]


def test_strict_refuses_naming_the_index_the_package_and_the_host():
    gate = GATE(result(probe(MAIN), probe(EXTRA, reachable=False)), policy(), 'strict', 'build1')
    assert gate['refusal'].startswith('python_mirrors_validate is strict and 1 of 2 indexes did not serve '
                                      'buildfleet-hello from build1')
    assert '%s: connection refused' % EXTRA in gate['refusal']


def test_prune_leaves_a_dead_extra_index_out_and_warns():
    gate = GATE(result(probe(MAIN), probe(EXTRA, reachable=False)), policy(), 'prune', 'build1')
    assert (gate['refusal'], gate['extra_index_urls'], gate['pruned']) == ('', [], [EXTRA])
    assert gate['warning'].startswith('[WARNING] python_mirrors_validate is prune')


def test_prune_refuses_when_the_main_index_is_dead():
    gate = GATE(result(probe(MAIN, reachable=False), probe(EXTRA)), policy(), 'prune', 'build1')
    assert 'the main index python_mirrors_index_url did not serve buildfleet-hello' in gate['refusal']


def test_warn_writes_everything_and_off_judges_nothing():
    dead = result(probe(MAIN, reachable=False))
    warned = GATE(dead, policy(), 'warn', 'build1')
    assert warned['refusal'] == '' and warned['warning'].startswith('[WARNING] python_mirrors_validate is warn')
    assert warned['extra_index_urls'] == [EXTRA]
    off = GATE({}, policy(), 'off', 'build1')
    assert (off['judged'], off['refusal'], off['warning']) == (0, '', '')


@pytest.mark.parametrize('probes', [
    [],                                                       # no probe at all
    [probe(MAIN, package='pip'), probe(EXTRA, package='pip')],  # probed for another project
    [probe(MAIN, kind='npm'), probe(EXTRA, kind='npm')],        # another kind with the same URL
])
def test_an_index_not_probed_for_the_probe_package_counts_as_dead(probes):
    gate = GATE(result(*probes), policy(), 'strict', 'build1')
    assert 'not probed for buildfleet-hello' in gate['refusal']


def test_bad_mode_or_policy_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match='python_mirrors_validate'):
        GATE({}, policy(), 'lenient')
    with pytest.raises(AnsibleFilterError, match='validated policy'):
        GATE({}, {'python_mirrors_state': 'absent'}, 'strict')


def test_a_real_mirror_check_result_is_judged(tmp_path):
    page = b'<html><body><a href="/p/buildfleet_hello-1.0.0-py3-none-any.whl">x</a></body></html>'
    server = MirrorServer({'/simple/buildfleet-hello/': Answer(200, {'Content-Type': 'text/html'}, page)})
    try:
        live = server.url + '/simple/'
        dead = server.url + '/dead/'
        checked = run_collection_module('mirror_check', tmp_path, dict(
            pypi_indexes=[live, dead], pypi_probe_package='buildfleet-hello', require='none', timeout=5))
        assert checked.rc == 0, checked.result
        the_policy = policy(python_mirrors_index_url=live, python_mirrors_extra_index_urls=[dead],
                            python_mirrors_allow_http=True)
        gate = GATE(checked.result, the_policy, 'prune', 'build1')
        assert (gate['extra_index_urls'], gate['pruned']) == ([], [dead])
        assert GATE(checked.result, the_policy, 'strict', 'build1')['refusal'] != ''
    finally:
        server.close()
