# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The policy filters: called directly, then by FQCN from a real playbook, and their documentation."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.filter.policy import FilterModule

FILTERS = FilterModule().filters()
FILTER_NAMES = ['goproxy_string', 'validate_go_policy', 'go_environment', 'validate_go_credentials',
                'validate_registry_mirrors',
                'validate_insecure_registries', 'redact_url', 'go_proxy_gate',
                'validate_python_mirrors', 'validate_node_mirrors', 'python_mirrors_gate', 'python_mirrors_probes',
                'node_mirrors_probes']


def refused(filter_name, *args, **kwargs):
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS[filter_name](*args, **kwargs)
    return caught.value.message


def test_the_plugin_offers_every_filter():
    assert sorted(FILTERS) == sorted(FILTER_NAMES)


@pytest.mark.parametrize('args, kwargs, expected', [
    ((['https://a.example', 'https://b.example'],), {}, 'https://a.example,https://b.example,direct'),
    ((['https://a.example', 'https://b.example'], 'off', 'any_error'), {}, 'https://a.example|https://b.example|off'),
    ((['https://a.example'],), {'fallback': 'none'}, 'https://a.example'),
    (([],), {'fallback': 'off'}, 'off'),
])
def test_goproxy_string(args, kwargs, expected):
    assert FILTERS['goproxy_string'](*args, **kwargs) == expected


@pytest.mark.parametrize('args, kwargs, message', [
    ((['htp://a.example'],), {}, "go_proxy_urls entry 'htp://a.example' has scheme 'htp'; use https, http or file"),
    ((['direct'],), {}, "go_proxy_urls entry 'direct' is a keyword"),
    ((['https://a.example'], 'sometimes'), {}, "fallback 'sometimes' is not one of"),
    (([],), {'fallback': 'none', 'name': 'my_proxies'}, "my_proxies is empty and the fallback is 'none'"),
])
def test_goproxy_string_refuses(args, kwargs, message):
    assert message in refused('goproxy_string', *args, **kwargs)


def test_validate_go_policy():
    normalised = FILTERS['validate_go_policy']({'go_proxy_urls': ['https://a.example'], 'go_proxy_flags': '-mod=mod'})
    assert normalised['go_proxy_flags'] == ['-mod=mod']
    assert normalised['go_proxy_fallback'] == 'direct'


@pytest.mark.parametrize('policy, message', [
    ({'go_proxy_urls': ['https://a.example'], 'go_proxy_sumdb': 'off'}, "go_proxy_sumdb is 'off'"),
    ({'go_proxy_urls': ['https://a.example'], 'go_proxy_private': ['corp.example.com/$(touch /tmp/pwned)']},
     "go_proxy_private entry 'corp.example.com/$(touch /tmp/pwned)' contains a '$'"),
    ({'go_proxy_urls': ['direct', 'https://a.example']}, "go_proxy_urls entry 'direct' is a keyword"),
])
def test_validate_go_policy_refuses(policy, message):
    assert message in refused('validate_go_policy', policy)


def test_go_environment():
    assert FILTERS['go_environment']({'go_proxy_urls': ['https://a.example'], 'go_proxy_noproxy': ['none']}) == {
        'GOPROXY': 'https://a.example,direct', 'GONOPROXY': 'none'}
    assert 'go_proxy_flags' in refused('go_environment', {'go_proxy_urls': [], 'go_proxy_flags': ['-insecure']})


def test_validate_registry_mirrors():
    assert FILTERS['validate_registry_mirrors'](['https://m.example']) == ['https://m.example/']
    assert FILTERS['validate_registry_mirrors'](['https://m.example/hub'], True) == ['https://m.example/hub/']


@pytest.mark.parametrize('args, kwargs, message', [
    ((['https://m.example/hub'],), {}, "docker_mirrors_registry_mirrors entry 'https://m.example/hub' has a path"),
    ((['https://u:VerySecret@m.example'],), {}, "docker_mirrors_registry_mirrors entry 'https://***@m.example' carries credentials"),
    (([],), {'name': 'mirrors'}, 'mirrors is an empty list'),
])
def test_validate_registry_mirrors_refuses(args, kwargs, message):
    assert message in refused('validate_registry_mirrors', *args, **kwargs)


def test_validate_insecure_registries():
    assert FILTERS['validate_insecure_registries'](['m.example:5000', '10.0.0.0/8']) == ['m.example:5000', '10.0.0.0/8']
    assert "docker_mirrors_insecure_registries entry 'http://m.example' is a URL" in refused(
        'validate_insecure_registries', ['http://m.example'])


def test_redact_url():
    assert FILTERS['redact_url']('https://u:p@m.example/?token=t') == 'https://***@m.example/?token=***'
    # every URL of a joined GOPROXY, not only the first
    assert FILTERS['redact_url']('https://a.example,https://u:Pw9@b.example|https://T0k@c.example') == (
        'https://a.example,https://***@b.example|https://***@c.example')


@pytest.mark.parametrize('policy, message', [
    ({'go_proxy_urls': ['https://a.example,https://b.example']}, "go_proxy_urls entry 'https://a.example,https://b.example' contains ','"),
    ({'go_proxy_urls': ['https://ci:S3cr/Et9@a.example']}, "go_proxy_urls entry 'https://***@a.example' has a character"),
    ({'go_proxy_urls': ['https://a.example'], 'go_proxy_private': ['*']}, "go_proxy_private entry '*' matches every module"),
    ({'go_proxy_urls': ['https://a.example'], 'go_proxy_insecure': ['*']}, 'go_proxy_allow_insecure_all: true'),
    ({'go_proxy_urls': ['https://a.example'], 'go_proxy_systemd_units': 'jenkins'},
     'go_proxy_systemd_units must be a list of service names'),
    ({'go_proxy_urls': ['https://a.example'],
      'go_proxy_sumdb': 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn9'},
     'which does not match its name and public key'),
])
def test_validate_go_policy_refuses_what_slipped_through(policy, message):
    text = refused('validate_go_policy', policy)
    assert message in text
    assert 'S3cr' not in text and 'Et9' not in text


# ---------------------------------------------------------------------------
# validate_go_credentials: the role's credential variables against its URLs
# ---------------------------------------------------------------------------

PASSWORD = 'Vq4-Pass.word'
CREDENTIAL_POLICY = {
    'go_proxy_urls': ['https://goproxy.corp.example.com:8443/go', 'http://plain.corp.example.com'],
    'go_proxy_sumdb': 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 '
                      'https://sumdb.corp.example.com',
    'go_proxy_credentials': [{'machine': 'goproxy.corp.example.com', 'login': 'ci', 'password': PASSWORD},
                             {'machine': 'sumdb.corp.example.com', 'login': 'ci', 'password': PASSWORD}],
    'go_proxy_credentials_group': 'go-mirror',
}


def test_validate_go_credentials_returns_a_summary_without_secrets():
    summary = FILTERS['validate_go_credentials'](CREDENTIAL_POLICY)
    assert summary == {
        'go_proxy_credentials': [
            {'machine': 'goproxy.corp.example.com',
             'netrc_machines': ['goproxy.corp.example.com', 'goproxy.corp.example.com:8443'],
             'urls': ['https://goproxy.corp.example.com:8443/go']},
            {'machine': 'sumdb.corp.example.com', 'netrc_machines': ['sumdb.corp.example.com'],
             'urls': ['https://sumdb.corp.example.com']}],
        'go_proxy_credentials_group': 'go-mirror'}
    assert PASSWORD not in json.dumps(summary) and "'ci'" not in repr(summary)


def test_validate_go_credentials_without_credentials():
    assert FILTERS['validate_go_credentials']({'go_proxy_urls': ['https://a.example']}) == {
        'go_proxy_credentials': [], 'go_proxy_credentials_group': None}


@pytest.mark.parametrize('filter_name', ['validate_go_policy', 'go_environment', 'validate_go_credentials'])
@pytest.mark.parametrize('policy, message', [
    ({'go_proxy_urls': ['https://a.example', 'https://ci:Vq4-Tok@b.example']},
     "go_proxy_urls entry carries credentials in the URL ('https://***@b.example'); give them in "
     'go_proxy_credentials instead'),
    ({'go_proxy_urls': ['https://Vq4Token@b.example/go']},
     "go_proxy_urls entry carries credentials in the URL ('https://***@b.example/go')"),
    ({'go_proxy_urls': ['https://a.example'],
      'go_proxy_sumdb': 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 '
                        'https://ci:Vq4-Tok@sumdb.example'},
     "go_proxy_sumdb URL carries credentials in the URL ('https://***@sumdb.example'); give them in "
     'go_proxy_credentials instead'),
])
def test_userinfo_in_a_policy_url_is_refused_even_without_credentials(filter_name, policy, message):
    """Breaking change of issue 14: a URL with credentials would land in world-readable files."""
    text = refused(filter_name, policy)
    assert message in text
    assert 'Vq4' not in text


def test_a_raw_reserved_character_in_the_userinfo_still_gets_the_percent_encoding_help():
    text = refused('validate_go_policy', {'go_proxy_urls': ['https://ci:S3cr/Et9@a.example']})
    assert "go_proxy_urls entry 'https://***@a.example' has a character" in text
    assert 'S3cr' not in text and 'Et9' not in text


@pytest.mark.parametrize('change, message', [
    ({'go_proxy_urls': ['https://ci:Vq4-Pass.word@goproxy.corp.example.com:8443']},
     "go_proxy_urls entry carries credentials in the URL ('https://***@goproxy.corp.example.com:8443')"),
    ({'go_proxy_sumdb': 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 '
                        'https://ci:Vq4-Pass.word@sumdb.corp.example.com'},
     "go_proxy_sumdb URL carries credentials in the URL ('https://***@sumdb.corp.example.com')"),
    ({'go_proxy_credentials': [{'machine': 'plain.corp.example.com', 'login': 'ci', 'password': PASSWORD}]},
     "go_proxy_credentials[0] (machine 'plain.corp.example.com') names only plain http URLs"),
    ({'go_proxy_credentials': [{'machine': 'goproxy.corp.example.com', 'login': 'ci', 'password': 'Vq4 x'}]},
     "go_proxy_credentials[0] (machine 'goproxy.corp.example.com') password contains whitespace"),
    ({'go_proxy_credentials_group': 'go mirror'}, "go_proxy_credentials_group 'go mirror' is not a group name"),
    ({'go_proxy_urls': 'https://goproxy.corp.example.com'}, 'go_proxy_urls must be a list of proxy URLs'),
])
def test_validate_go_credentials_refuses(change, message):
    text = refused('validate_go_credentials', dict(CREDENTIAL_POLICY, **change))
    assert message in text
    assert 'Vq4' not in text


# ---------------------------------------------------------------------------
# go_proxy_gate: the gate's judgement of a mirror_check result
# ---------------------------------------------------------------------------

LIVE, DEAD, SECRET = 'https://live.example', 'http://127.0.0.1:9', 'https://tok.example/go?token=Pw7x'
SHOWN = 'https://tok.example/go?token=***'  # a secret query parameter: user info is refused by the policy
SUMDB_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8'


def probe(kind, url, reachable, error='connection refused'):
    return {'kind': kind, 'url': url, 'reachable': reachable, 'error': None if reachable else error, 'index': 0}


def gate(probes, urls, validate, sumdb=None):
    policy = FILTERS['validate_go_policy']({'go_proxy_urls': urls, 'go_proxy_sumdb': sumdb})
    return FILTERS['go_proxy_gate']({'probes': probes, 'changed': False}, policy, validate, 'build1')


def test_gate_passes_when_every_mirror_answers():
    judgement = gate([probe('goproxy', LIVE, True), probe('registry', DEAD, False)], [LIVE], 'strict')
    assert judgement == {'judged': 1, 'dead': [], 'live_urls': [LIVE], 'pruned': [], 'refusal': '', 'warning': ''}


def test_strict_refuses_and_names_each_dead_mirror_redacted():
    judgement = gate([probe('goproxy', DEAD, False), probe('goproxy', SHOWN, False, 'timed out')],
                     [DEAD, SECRET], 'strict')
    assert judgement['refusal'].startswith(
        'go_proxy_validate is strict and 2 of 2 mirrors did not answer from build1, so nothing was changed on it: '
        'goproxy http://127.0.0.1:9: connection refused; goproxy https://tok.example/go?token=***: timed out.')
    assert 'Pw7x' not in str(judgement['refusal']) + str(judgement['dead'])


def test_prune_keeps_the_proxies_that_answered_and_reports_the_others_redacted():
    judgement = gate([probe('goproxy', SHOWN, False), probe('goproxy', LIVE, True)],
                     [SECRET, LIVE], 'prune')
    assert judgement['refusal'] == ''
    assert judgement['live_urls'] == [LIVE]
    assert judgement['pruned'] == [SHOWN]
    assert judgement['warning'] == ('[WARNING] go_proxy_validate is prune: left out of GOPROXY on build1: '
                                    'goproxy https://tok.example/go?token=***: connection refused')


def test_prune_keeps_the_callers_own_url_with_its_credentials():
    judgement = gate([probe('goproxy', SHOWN, True), probe('goproxy', DEAD, False)],
                     [SECRET, DEAD], 'prune')
    assert judgement['live_urls'] == [SECRET]


@pytest.mark.parametrize('probes, urls, sumdb, reason', [
    ([probe('goproxy', DEAD, False)], [DEAD], None, 'no proxy of go_proxy_urls answered'),
    ([probe('goproxy', LIVE, True), probe('gosumdb', DEAD, False)], [LIVE], SUMDB_KEY + ' ' + DEAD,
     'the GOSUMDB database did not answer'),
])
def test_prune_refuses_when_nothing_usable_is_left(probes, urls, sumdb, reason):
    refusal = gate(probes, urls, 'prune', sumdb)['refusal']
    assert refusal.startswith('go_proxy_validate is prune, but %s from build1, so nothing was changed on it' % reason)


def test_warn_writes_everything_and_warns():
    judgement = gate([probe('goproxy', DEAD, False), probe('goproxy', LIVE, True)], [DEAD, LIVE], 'warn')
    assert judgement['refusal'] == '' and judgement['live_urls'] == [DEAD, LIVE] and judgement['pruned'] == []
    assert judgement['warning'].startswith('[WARNING] go_proxy_validate is warn: written although they did not answer')


def test_a_mirror_the_result_did_not_probe_counts_as_dead():
    """A shared probe result that left this role's proxy out does not let it through the gate."""
    judgement = gate([probe('goproxy', 'https://other.example', True), probe('registry', LIVE, True)], [LIVE], 'strict')
    assert 'goproxy https://live.example: not probed' in judgement['refusal']


def test_off_judges_nothing():
    assert gate([], [DEAD], 'off') == {'judged': 0, 'dead': [], 'live_urls': [DEAD], 'pruned': [], 'refusal': '',
                                       'warning': ''}


def test_the_gate_picks_the_database_of_the_policy():
    ok = gate([probe('goproxy', LIVE, True), probe('gosumdb', 'https://sum.golang.org', True)], [LIVE], 'strict',
              'sum.golang.org')
    assert ok['refusal'] == '' and ok['judged'] == 2
    missing = gate([probe('goproxy', LIVE, True)], [LIVE], 'strict', 'sum.golang.org')
    assert 'gosumdb https://sum.golang.org: not probed' in missing['refusal']


@pytest.mark.parametrize('probe_result', [None, {}, {'skipped': True, 'changed': False}])
def test_strict_refuses_without_probes(probe_result):
    policy = FILTERS['validate_go_policy']({'go_proxy_urls': [LIVE]})
    assert 'not probed' in FILTERS['go_proxy_gate'](probe_result, policy, 'strict')['refusal']


def test_the_gate_wants_a_known_mode():
    policy = FILTERS['validate_go_policy']({'go_proxy_urls': [LIVE]})
    assert 'is not one of' in refused('go_proxy_gate', {}, policy, 'lenient')


# ---------------------------------------------------------------------------
# From a real playbook, by FQCN
# ---------------------------------------------------------------------------

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    go_proxy_urls: [https://goproxy.corp.example.com, https://athens.corp.example.com]
  tasks:
    - name: Every filter by its FQCN
      ansible.builtin.set_fact:
        goproxy: "{{ go_proxy_urls | buildfleet.mirrors.goproxy_string('off', 'any_error') }}"
        environment_: "{{ {'go_proxy_urls': go_proxy_urls, 'go_proxy_private': ['corp.example.com/*']} | buildfleet.mirrors.go_environment }}"
        policy: "{{ {'go_proxy_urls': go_proxy_urls} | buildfleet.mirrors.validate_go_policy }}"
        credentials: "{{ {'go_proxy_urls': go_proxy_urls, 'go_proxy_credentials': [{'machine': 'athens.corp.example.com',
                          'login': 'ci', 'password': 'Vq4-Pass.word'}]} | buildfleet.mirrors.validate_go_credentials }}"
        mirrors: "{{ ['https://m.example'] | buildfleet.mirrors.validate_registry_mirrors }}"
        insecure: "{{ ['m.example:5000'] | buildfleet.mirrors.validate_insecure_registries }}"
        shown: "{{ 'https://u:p@m.example' | buildfleet.mirrors.redact_url }}"
        gate: "{{ {'probes': [{'kind': 'goproxy', 'url': go_proxy_urls[0], 'reachable': false, 'error': 'refused'},
                              {'kind': 'goproxy', 'url': go_proxy_urls[1], 'reachable': true, 'error': none}]}
                  | buildfleet.mirrors.go_proxy_gate({'go_proxy_urls': go_proxy_urls}, 'prune', 'build1') }}"

    - name: A refused value fails the task with the variable's name
      ansible.builtin.debug:
        msg: "{{ ['direct', 'https://x.example'] | buildfleet.mirrors.goproxy_string }}"
      ignore_errors: true
      register: refused_value
"""


def test_filters_work_from_a_playbook(ansible_cli, tmp_path):
    playbook = tmp_path / 'filters.yml'
    playbook.write_text(PLAYBOOK)
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-i', 'localhost,', str(playbook))
    assert rc == 0, stderr
    tasks = json.loads(stdout)['plays'][0]['tasks']
    facts = tasks[0]['hosts']['localhost']['ansible_facts']
    assert facts['goproxy'] == 'https://goproxy.corp.example.com|https://athens.corp.example.com|off'
    assert facts['environment_'] == {'GOPROXY': 'https://goproxy.corp.example.com,https://athens.corp.example.com,direct',
                                     'GOPRIVATE': 'corp.example.com/*'}
    assert facts['policy']['go_proxy_fallthrough'] == 'not_found'
    assert facts['credentials']['go_proxy_credentials'][0]['netrc_machines'] == ['athens.corp.example.com']
    assert 'Vq4-Pass.word' not in json.dumps(facts['credentials'])
    assert facts['mirrors'] == ['https://m.example/']
    assert facts['insecure'] == ['m.example:5000']
    assert facts['shown'] == 'https://***@m.example'
    assert facts['gate']['live_urls'] == ['https://athens.corp.example.com']
    assert facts['gate']['pruned'] == ['https://goproxy.corp.example.com']
    refusal = tasks[1]['hosts']['localhost']
    assert refusal['failed'] is True
    assert "go_proxy_urls entry 'direct' is a keyword" in refusal['msg']


def test_every_filter_is_documented(ansible_cli):
    names = ['buildfleet.mirrors.' + name for name in FILTER_NAMES]
    rc, stdout, stderr = ansible_cli('ansible-doc', '--json', '-t', 'filter', *names)
    assert rc == 0, stderr
    docs = json.loads(stdout)
    assert sorted(docs) == sorted(names)
    for name in names:
        assert docs[name]['doc']['name'] == name.rsplit('.', 1)[1]
        assert docs[name]['doc']['description'] and docs[name]['examples'] and docs[name]['return']
