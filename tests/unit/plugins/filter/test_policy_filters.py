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
FILTER_NAMES = ['goproxy_string', 'validate_go_policy', 'go_environment', 'validate_registry_mirrors',
                'validate_insecure_registries', 'redact_url']


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
        mirrors: "{{ ['https://m.example'] | buildfleet.mirrors.validate_registry_mirrors }}"
        insecure: "{{ ['m.example:5000'] | buildfleet.mirrors.validate_insecure_registries }}"
        shown: "{{ 'https://u:p@m.example' | buildfleet.mirrors.redact_url }}"

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
    assert facts['mirrors'] == ['https://m.example/']
    assert facts['insecure'] == ['m.example:5000']
    assert facts['shown'] == 'https://***@m.example'
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
