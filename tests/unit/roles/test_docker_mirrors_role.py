# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_mirrors role's public interface: defaults, argument specs and README stay in step."""

from __future__ import annotations

import json
import re

from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'docker_mirrors'
DEFAULTS = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
OPTIONS = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']
README = (ROLE / 'README.md').read_text()
# The public contract: issue 5, the probe input (issue 12), the lock and the insecure opt-in (issue 11), issue 13.
CONTRACT = ['docker_mirrors_state', 'docker_mirrors_registry_mirrors', 'docker_mirrors_insecure_registries',
            'docker_mirrors_strategy', 'docker_mirrors_daemon_json', 'docker_mirrors_validate',
            'docker_mirrors_validate_timeout', 'docker_mirrors_containerd', 'docker_mirrors_containerd_certs_dir',
            'docker_mirrors_containers_registries_conf', 'docker_mirrors_allow_insecure_all',
            'docker_mirrors_probe_result', 'docker_mirrors_lock_timeout',
            # issue 13: other registries, probe images, fallback, BuildKit
            'docker_mirrors_registries', 'docker_mirrors_probe_images', 'docker_mirrors_fallback',
            'docker_mirrors_buildkitd', 'docker_mirrors_buildkitd_toml',
            # issue 14: the corporate CA of the https:// mirrors
            'docker_mirrors_ca_certificates']
ENTRY_POINTS = ['apply', 'gate', 'main', 'validate']


def test_defaults_and_argument_specs_name_the_same_variables():
    assert sorted(DEFAULTS) == sorted(OPTIONS) == sorted(CONTRACT)


@pytest.mark.parametrize('name', CONTRACT)
def test_each_default_matches_its_argument_spec(name):
    assert OPTIONS[name].get('default') == DEFAULTS[name]
    assert OPTIONS[name]['type'] and OPTIONS[name]['description']
    if 'choices' in OPTIONS[name]:
        assert DEFAULTS[name] in OPTIONS[name]['choices']


@pytest.mark.parametrize('name', CONTRACT)
def test_readme_lists_each_variable_with_its_default(name):
    row = re.search(r'^\| `%s` \| (?P<default>[^|]+) \|' % name, README, re.MULTILINE)
    assert row, name
    default = row.group('default').strip().strip('`')
    assert yaml.safe_load(default) == DEFAULTS[name]


def test_entry_points_are_main_validate_gate_apply_with_the_same_options():
    specs = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
    assert sorted(specs) == ENTRY_POINTS
    assert all(specs[name]['options'] == OPTIONS for name in ENTRY_POINTS)
    assert sorted(path.stem for path in (ROLE / 'tasks').glob('*.yml')) == ENTRY_POINTS


def test_the_role_writes_only_through_its_one_writer_task_and_stores_no_fact():
    tasks = {path.stem: yaml.safe_load(path.read_text()) for path in (ROLE / 'tasks').glob('*.yml')}
    modules = [key for name, steps in tasks.items() for step in steps for key in step
               if '.' in key and key != 'ansible.builtin.import_tasks']
    assert 'ansible.builtin.set_fact' not in modules
    assert sorted(modules) == ['ansible.builtin.assert', 'ansible.builtin.debug',
                               'buildfleet.mirrors.docker_daemon_config', 'buildfleet.mirrors.mirror_check']
    assert [step.get('register') for step in tasks['apply']] == ['docker_mirrors_result']
    assert not (ROLE / 'handlers').exists() and not (ROLE / 'templates').exists()


def test_readme_describes_the_output():
    assert '## Output' in README
    for key in ('changed', 'written', 'pruned', 'verified', 'msg', 'failed'):
        assert '`%s`' % key in README.split('## Output', 1)[1], key


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.docker_mirrors
        tasks_from: %s
      vars:
        docker_mirrors_registry_mirrors: %s
        docker_mirrors_insecure_registries: %s
        docker_mirrors_validate: prune
        docker_mirrors_probe_result:
          probes:
            - {kind: registry, index: 0, url: "http://127.0.0.1:15001", reachable: false, error: connection refused}
            - {kind: registry, index: 1, url: "http://127.0.0.1:15000", reachable: true, error: null}
"""


def play_tasks(stdout):
    return [host_result for play in json.loads(stdout)['plays'] for task in play['tasks']
            for host_result in task['hosts'].values()]


def test_validate_refuses_a_credential_naming_the_variable_and_prints_it_at_no_verbosity(ansible_cli, tmp_path):
    (tmp_path / 'play.yml').write_text(PLAY % ('validate', '["https://builder:Hunter2@mirror.example"]', 'null'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
    assert rc != 0
    assert 'Hunter2' not in stdout + stderr
    assert "docker_mirrors_registry_mirrors entry 'https://***@mirror.example' carries credentials" in stdout


def test_validate_refuses_every_address_as_insecure_without_the_opt_in(ansible_cli, tmp_path):
    (tmp_path / 'play.yml').write_text(PLAY % ('validate', '["http://127.0.0.1:15000"]', '["::/0"]'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert rc != 0
    assert "docker_mirrors_insecure_registries entry '::/0' covers every address" in stdout
    assert 'set docker_mirrors_allow_insecure_all: true' in stdout


def test_the_gate_judges_the_playbooks_probe_result_and_warns_about_the_dead_mirror(ansible_cli, tmp_path):
    (tmp_path / 'play.yml').write_text(PLAY % ('gate', '["http://127.0.0.1:15001", "http://127.0.0.1:15000"]', 'null'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert rc == 0, stdout + stderr
    messages = [result.get('msg') for result in play_tasks(stdout)]
    assert ('WARNING: docker_mirrors gate (prune): http://127.0.0.1:15001 (connection refused) does not answer '
            'from this host and is left out of the policy.') in messages
    # The playbook's probe result was judged: the gate did not probe again.
    assert not any('probes' in result for result in play_tasks(stdout) if not result.get('skipped'))


CA_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    docker_mirrors_registry_mirrors: ["https://mirror.corp.example.com"]
    ca_trust_certificates: %s
%s
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.docker_mirrors
        tasks_from: validate
        public: true
    - name: What the role would trust, compared without printing it
      ansible.builtin.assert:
        that: _docker_mirrors_policy.docker_mirrors_ca_certificates == expected
        quiet: true
      vars:
        expected: "{{ lookup('ansible.builtin.file', '%s', rstrip=false) }}"
"""


def test_the_ca_defaults_to_the_ca_trust_certificates_and_an_empty_text_overrides_them(ansible_cli, tmp_path, pki):
    entries = json.dumps([{'name': 'corp', 'content': pki.text('root')},
                          {'name': 'other', 'content': pki.text('ec-root')}])
    (tmp_path / 'both.pem').write_text(pki.text('root') + pki.text('ec-root'))
    (tmp_path / 'play.yml').write_text(CA_PLAY % (entries, '', tmp_path / 'both.pem'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert rc == 0, stdout + stderr
    (tmp_path / 'none.pem').write_text('')
    (tmp_path / 'play.yml').write_text(CA_PLAY % (entries, '    docker_mirrors_ca_certificates: ""', tmp_path / 'none.pem'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert rc == 0, stdout + stderr


def test_a_key_pasted_into_ca_trust_certificates_fails_validate_and_is_never_printed(ansible_cli, tmp_path, pki):
    key = pki.text('pkcs8.key')
    entries = json.dumps([{'name': 'corp', 'content': pki.text('root') + key}])
    (tmp_path / 'play.yml').write_text(CA_PLAY % (entries, '', tmp_path / 'none.pem'))
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
    assert rc != 0
    # Named by the item the text came from, as the ca_trust role names it.
    assert 'ca_trust_certificates[0] (name corp) holds a private key (a PRIVATE KEY block at line 23)' in stdout
    assert not any(line in stdout + stderr for line in key.splitlines()[1:-1])
    assert not any(line in stdout + stderr for line in pki.text('root').splitlines()[1:-1])


GATE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.docker_mirrors
        tasks_from: gate
      vars:
        docker_mirrors_registry_mirrors: ["%s"]
        docker_mirrors_ca_certificates: %s
"""


@pytest.fixture
def tls_mirror(tls_files):
    from registry_server import RegistryServer
    server = RegistryServer(tls_context=tls_files.server_context())
    yield server
    server.close()


@pytest.mark.parametrize('which', ['mirrors CA', 'another CA', 'none'])
def test_the_gate_probes_with_the_ca_about_to_be_written(ansible_cli, tmp_path, tls_files, tls_mirror, pki, which):
    ca = {'mirrors CA': open(tls_files.ca_cert).read(), 'another CA': pki.text('root'), 'none': ''}[which]
    (tmp_path / 'play.yml').write_text(GATE_PLAY % (tls_mirror.url, json.dumps(ca)))
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    probes = [result for result in play_tasks(stdout) if 'probes' in result]
    assert [probe['reachable'] for probe in probes[0]['probes']] == [which == 'mirrors CA'], stdout + stderr
    if which == 'mirrors CA':
        assert rc == 0, stdout + stderr
    else:
        assert rc != 0
        assert 'certificate' in probes[0]['probes'][0]['error']
        assert 'docker_mirrors gate (strict): 1 of 1 registry mirrors do not answer from this host: %s' \
            % tls_mirror.url in stdout
    if which == 'another CA':
        rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
        assert rc != 0 and 'docker_mirrors gate (strict)' in stdout
        assert not any(line in stdout + stderr for line in ca.splitlines()[1:-1])
