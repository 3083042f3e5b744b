# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dockerd registry filters: called directly, and each one documented by a sidecar file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.filter.docker_daemon import FilterModule

FILTERS = FilterModule().filters()
FILTER_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'


def test_the_plugin_offers_its_filters():
    assert sorted(FILTERS) == ['docker_mirrors_gate', 'mirror_hosts', 'registry_config_problems',
                               'validate_docker_mirrors']


@pytest.mark.parametrize('name', sorted(FILTERS))
def test_each_filter_has_its_documentation(name):
    documentation = yaml.safe_load((FILTER_DIR / ('%s.yml' % name)).read_text())
    assert documentation['DOCUMENTATION']['name'] == name
    assert documentation['EXAMPLES'].strip()
    assert documentation['RETURN']['_value']['description']


def test_registry_config_problems():
    info = {'Mirrors': ['http://127.0.0.1:15000/'], 'IndexConfigs': {}, 'InsecureRegistryCIDRs': ['127.0.0.0/8']}
    assert FILTERS['registry_config_problems'](info, ['http://127.0.0.1:15000']) == []
    assert FILTERS['registry_config_problems'](info, ['http://127.0.0.1:15001']) == [
        'dockerd uses the registry mirrors ["http://127.0.0.1:15000/"], but the policy is ["http://127.0.0.1:15001/"]']


def test_mirror_hosts():
    assert FILTERS['mirror_hosts'](['http://127.0.0.1:15000/']) == [dict(
        url='http://127.0.0.1:15000', netloc='127.0.0.1:15000', path='', plain_http=True, skip_verify=False)]


def test_mirror_hosts_wants_a_list():
    with pytest.raises(AnsibleFilterError) as caught:
        FILTERS['mirror_hosts']('http://127.0.0.1:15000/')
    assert 'expects a list of mirror URLs' in caught.value.message


# ---------------------------------------------------------------------------
# The role's policy, validated once
# ---------------------------------------------------------------------------

POLICY = {'docker_mirrors_state': 'present', 'docker_mirrors_registry_mirrors': ['https://m.example/hub'],
          'docker_mirrors_insecure_registries': None, 'docker_mirrors_allow_insecure_all': False}


DEFAULTS = {'docker_mirrors_registries': {}, 'docker_mirrors_probe_images': {}, 'docker_mirrors_fallback': True,
            'docker_mirrors_buildkitd': False, 'docker_mirrors_ca_certificates': ''}


def test_validate_docker_mirrors_accepts_a_path_and_keeps_the_values():
    assert FILTERS['validate_docker_mirrors'](POLICY) == dict(POLICY, **DEFAULTS)


def test_validate_docker_mirrors_takes_other_registries_probe_images_and_no_docker_hub_mirror():
    policy = dict(POLICY, docker_mirrors_registry_mirrors=[],
                  docker_mirrors_registries={'ghcr.io': ['http://127.0.0.1:15000'],
                                             'registry.corp.example:5000': ['https://m.example/corp']},
                  docker_mirrors_probe_images={'ghcr.io': 'acme/hello'},
                  docker_mirrors_fallback=False)
    assert FILTERS['validate_docker_mirrors'](policy) == dict(policy, docker_mirrors_buildkitd=False,
                                                              docker_mirrors_ca_certificates='')


@pytest.mark.parametrize('changes, fragment', [
    ({'docker_mirrors_registry_mirrors': []},
     'docker_mirrors_registry_mirrors and docker_mirrors_registries are both empty'),
    ({'docker_mirrors_registries': {'docker.io': ['https://m.example']}},
     "docker_mirrors_registries key 'docker.io' is Docker Hub; use docker_mirrors_registry_mirrors for Docker Hub"),
    ({'docker_mirrors_registries': {'index.docker.io': ['https://m.example']}}, "key 'index.docker.io' is Docker Hub"),
    ({'docker_mirrors_registries': {'Docker.IO': ['https://m.example']}}, "key 'Docker.IO' is Docker Hub"),
    ({'docker_mirrors_registries': {'https://ghcr.io': ['https://m.example']}}, 'docker_mirrors_registries'),
    ({'docker_mirrors_registries': {'ghcr.io/acme': ['https://m.example']}}, 'docker_mirrors_registries'),
    ({'docker_mirrors_registries': {'ghcr.io': []}}, "docker_mirrors_registries['ghcr.io'] is an empty list"),
    ({'docker_mirrors_registries': {'ghcr.io': ['https://u:Sekret@m.example']}},
     "docker_mirrors_registries['ghcr.io'] entry 'https://***@m.example' carries credentials"),
    ({'docker_mirrors_registries': ['ghcr.io']}, 'docker_mirrors_registries must be a mapping'),
    ({'docker_mirrors_probe_images': {'quay.io': 'a/b'}},
     "docker_mirrors_probe_images key 'quay.io' is neither docker.io (for docker_mirrors_registry_mirrors) nor a "
     "key of docker_mirrors_registries (docker.io)"),
    ({'docker_mirrors_registry_mirrors': [], 'docker_mirrors_registries': {'ghcr.io': ['https://m.example']},
      'docker_mirrors_probe_images': {'docker.io': 'hello'}},
     "docker_mirrors_probe_images key 'docker.io' applies to docker_mirrors_registry_mirrors, which names no mirror"),
    ({'docker_mirrors_probe_images': {'docker.io': 'docker.io/library/hello'}}, "docker_mirrors_probe_images['docker.io']"),
    ({'docker_mirrors_probe_images': {'docker.io': 'Hello'}}, "docker_mirrors_probe_images['docker.io']"),
    ({'docker_mirrors_fallback': 'no'}, 'docker_mirrors_fallback must be true or false'),
    ({'docker_mirrors_buildkitd': 1}, 'docker_mirrors_buildkitd must be true or false'),
    ({'docker_mirrors_registry_mirrors': ['https://u:Sekret@m.example']},
     "docker_mirrors_registry_mirrors entry 'https://***@m.example' carries credentials"),
    ({'docker_mirrors_insecure_registries': ['http://m.example']},
     "docker_mirrors_insecure_registries entry 'http://m.example' is a URL"),
    ({'docker_mirrors_insecure_registries': ['0.0.0.0/0']},
     "docker_mirrors_insecure_registries entry '0.0.0.0/0' covers every address"),
    ({'docker_mirrors_insecure_registries': ['::/0']}, 'set docker_mirrors_allow_insecure_all: true'),
    ({'docker_mirrors_allow_insecure_all': 'yes'}, 'docker_mirrors_allow_insecure_all must be true or false'),
])
def test_validate_docker_mirrors_refuses_naming_the_variable(changes, fragment):
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS['validate_docker_mirrors'](dict(POLICY, **changes))
    assert fragment in str(error.value)
    assert 'Sekret' not in str(error.value)


def test_validate_docker_mirrors_takes_every_address_with_the_opt_in():
    policy = dict(POLICY, docker_mirrors_insecure_registries=['0.0.0.0/0', '::/0'],
                  docker_mirrors_allow_insecure_all=True)
    assert FILTERS['validate_docker_mirrors'](policy)['docker_mirrors_insecure_registries'] == ['0.0.0.0/0', '::/0']


def test_validate_docker_mirrors_with_state_absent_needs_no_mirror():
    policy = dict(POLICY, docker_mirrors_state='absent', docker_mirrors_registry_mirrors=[],
                  docker_mirrors_insecure_registries=['0.0.0.0/0'])
    assert FILTERS['validate_docker_mirrors'](policy)['docker_mirrors_state'] == 'absent'


def test_validate_docker_mirrors_returns_the_ca_certificates_normalised(pki):
    bundle = '# the corporate roots\r\n' + pki.text('root').replace('\n', '\r\n') + '\n' + pki.text('ec-root')
    policy = FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates=bundle))
    assert policy['docker_mirrors_ca_certificates'] == pki.text('root') + pki.text('ec-root')


@pytest.mark.parametrize('value', [None, '', '  \n'])
def test_validate_docker_mirrors_takes_no_ca_as_none(value):
    policy = FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates=value))
    assert policy['docker_mirrors_ca_certificates'] == ''


@pytest.mark.parametrize('stems, fragment', [
    (['root', 'pkcs8.key'], 'docker_mirrors_ca_certificates holds a private key (a PRIVATE KEY block at line 23)'),
    (['expired'], 'docker_mirrors_ca_certificates certificate (line 1, CN=Expired CA) expired'),
    (['leaf'], 'docker_mirrors_ca_certificates certificate (line 1, CN=mirror.corp.example.com) is not a CA'),
    (['root', 'root'], 'docker_mirrors_ca_certificates certificate 2 of 2'),
])
def test_validate_docker_mirrors_refuses_a_bad_ca_naming_the_variable_never_showing_it(pki, stems, fragment):
    text = ''.join(pki.text(stem) for stem in stems)
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates=text))
    assert fragment in str(error.value)
    assert not any(line in str(error.value) for line in text.splitlines() if len(line) > 20)


def test_validate_docker_mirrors_wants_ca_certificates_as_text(pki):
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates=[pki.text('root')]))
    assert 'docker_mirrors_ca_certificates must be PEM text' in str(error.value) and 'BEGIN CERTIFICATE-----\n' \
        not in str(error.value)


def test_validate_docker_mirrors_takes_the_ca_trust_certificates_when_its_own_is_null(pki):
    entries = [{'name': 'corp', 'content': pki.text('root')}, {'name': 'other', 'content': pki.text('ec-root')}]
    policy = FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates=None,
                                                     ca_trust_certificates=entries))
    assert policy['docker_mirrors_ca_certificates'] == pki.text('root') + pki.text('ec-root')
    assert 'ca_trust_certificates' not in policy
    # Its own text, even empty, wins over the ca_trust role's.
    policy = FILTERS['validate_docker_mirrors'](dict(POLICY, docker_mirrors_ca_certificates='',
                                                     ca_trust_certificates=entries))
    assert policy['docker_mirrors_ca_certificates'] == ''
    assert FILTERS['validate_docker_mirrors'](dict(POLICY, ca_trust_certificates=[]))[
        'docker_mirrors_ca_certificates'] == ''


def test_a_bad_ca_trust_certificate_is_named_by_its_item(pki):
    entries = [{'name': 'corp', 'content': pki.text('root')}, {'name': 'old', 'content': pki.text('expired')}]
    with pytest.raises(AnsibleFilterError) as error:
        FILTERS['validate_docker_mirrors'](dict(POLICY, ca_trust_certificates=entries))
    assert str(error.value).startswith('ca_trust_certificates[1] (name old) certificate (line 1, CN=Expired CA) '
                                       'expired on 2001-01-01')


def test_validate_docker_mirrors_with_state_absent_checks_no_certificate(pki):
    policy = dict(POLICY, docker_mirrors_state='absent', docker_mirrors_ca_certificates=pki.text('expired'))
    assert FILTERS['validate_docker_mirrors'](policy)['docker_mirrors_ca_certificates'] == ''
    policy = dict(POLICY, docker_mirrors_state='absent',
                  ca_trust_certificates=[{'name': 'old', 'content': pki.text('expired')}])
    assert FILTERS['validate_docker_mirrors'](policy)['docker_mirrors_ca_certificates'] == ''


# ---------------------------------------------------------------------------
# The gate's judgement
# ---------------------------------------------------------------------------

LIVE, DEAD = 'http://127.0.0.1:15000', 'http://127.0.0.1:15001'
PROBES = {'probes': [
    {'kind': 'goproxy', 'index': 0, 'url': DEAD, 'reachable': False, 'error': 'a Go proxy, not ours'},
    {'kind': 'registry', 'index': 0, 'url': DEAD, 'reachable': False, 'error': 'connection refused'},
    {'kind': 'registry', 'index': 1, 'url': LIVE, 'reachable': True, 'error': None},
]}


def gate(mode, mirrors=(DEAD, LIVE), probes='the lab probes', state='present', refuse=False):
    probes = PROBES if probes == 'the lab probes' else probes
    return FILTERS['docker_mirrors_gate'](probes, list(mirrors), mode, state, refuse)


def test_strict_refuses_naming_the_dead_mirror_and_its_reason():
    verdict = gate('strict')
    assert verdict['refused'] is True
    assert verdict['msg'] == ('docker_mirrors gate (strict): 1 of 2 registry mirrors do not answer from this host: '
                              '%s (connection refused). Nothing was written on this host.' % DEAD)
    with pytest.raises(AnsibleFilterError, match='gate .strict.: 1 of 2'):
        gate('strict', refuse=True)


def test_prune_keeps_the_live_mirrors_and_warns():
    verdict = gate('prune')
    assert (verdict['refused'], verdict['kept'], verdict['pruned']) == (False, [LIVE], [DEAD])
    assert verdict['warning'].startswith('WARNING: docker_mirrors gate (prune): %s (connection refused) does not' % DEAD)


def test_prune_with_no_live_mirror_refuses():
    verdict = gate('prune', mirrors=[DEAD])
    assert verdict['refused'] is True
    assert verdict['msg'].startswith('docker_mirrors gate (prune): no mirror of docker.io answers from this host')


# One mirror serves Docker Hub's images but not the ghcr.io probe image: the same URL, judged per registry.
REGISTRY_PROBES = {'probes': [
    {'kind': 'registry', 'registry': 'docker.io', 'url': LIVE, 'reachable': True, 'error': None},
    {'kind': 'registry', 'registry': 'ghcr.io', 'url': LIVE, 'reachable': False,
     'error': 'does not serve ghcr.io/acme/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)'},
    {'kind': 'registry', 'registry': 'ghcr.io', 'url': 'https://ghcr-mirror.example', 'reachable': True,
     'error': None},
]}


def registries_gate(mode, ghcr=(LIVE, 'https://ghcr-mirror.example'), refuse=False):
    return FILTERS['docker_mirrors_gate'](REGISTRY_PROBES, [LIVE], mode, 'present', refuse,
                                          registries={'ghcr.io': list(ghcr)})


def test_a_mirror_is_judged_for_each_registry_it_mirrors():
    verdict = registries_gate('strict')
    assert verdict['refused'] is True
    assert verdict['msg'] == (
        'docker_mirrors gate (strict): 1 of 3 registry mirrors do not answer from this host: %s for ghcr.io (does '
        'not serve ghcr.io/acme/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)). Nothing was written on this '
        'host.' % LIVE)
    pruned = registries_gate('prune')
    assert (pruned['refused'], pruned['kept'], pruned['kept_registries'], pruned['pruned']) == (
        False, [LIVE], {'ghcr.io': ['https://ghcr-mirror.example']}, [LIVE])
    assert 'for ghcr.io' in pruned['warning']


def test_prune_refuses_when_one_registry_has_no_mirror_left():
    verdict = registries_gate('prune', ghcr=[LIVE])
    assert verdict['refused'] is True
    assert verdict['msg'].startswith('docker_mirrors gate (prune): no mirror of ghcr.io answers from this host')


def test_a_probe_for_another_registry_does_not_count():
    verdict = FILTERS['docker_mirrors_gate'](REGISTRY_PROBES, [], 'strict', 'present',
                                             registries={'quay.io': [LIVE]})
    assert verdict['refused'] is True
    assert 'no registry probe of %s (for quay.io)' % LIVE in verdict['msg']


def test_warn_keeps_every_mirror_and_warns():
    verdict = gate('warn')
    assert (verdict['refused'], verdict['kept'], verdict['pruned']) == (False, [DEAD, LIVE], [])
    assert 'stays in the policy' in verdict['warning']


@pytest.mark.parametrize('mode, state', [('off', 'present'), (False, 'present'), ('strict', 'absent')])
def test_no_gate_without_probes_keeps_every_mirror(mode, state):
    verdict = gate(mode, probes=None, state=state)
    assert (verdict['refused'], verdict['kept'], verdict['warning']) == (False, [DEAD, LIVE], '')


def test_a_mirror_the_probe_result_does_not_cover_is_refused():
    verdict = gate('warn', mirrors=[LIVE, 'https://never-probed.example'])
    assert verdict['refused'] is True
    assert 'no registry probe of https://never-probed.example in docker_mirrors_probe_result' in verdict['msg']
    assert gate('strict', probes=None)['msg'].count('there is none') == 1


def test_a_trailing_slash_does_not_matter_and_credentials_are_masked():
    probes = {'probes': [{'kind': 'registry', 'url': 'https://***@m.example/', 'reachable': False, 'error': 'x'}]}
    verdict = gate('strict', mirrors=['https://u:Sekret@m.example'], probes=probes)
    assert 'https://***@m.example (x)' in verdict['msg'] and 'Sekret' not in verdict['msg']
