# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ca_trust role's public interface and its validate entry point (on the controller; nothing is written)."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'ca_trust'
OPTIONS = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']
README = (ROLE / 'README.md').read_text()
CONTRACT = ['ca_trust_certificates', 'ca_trust_lock_timeout', 'ca_trust_state']
ENTRY_POINTS = ['apply', 'gate', 'main', 'validate']


def test_the_variables_are_the_contract():
    defaults = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
    assert sorted(defaults) == sorted(OPTIONS) == CONTRACT
    assert OPTIONS['ca_trust_certificates']['options']['content']['no_log'] is True


def test_entry_points_are_main_validate_gate_apply_with_the_same_options():
    specs = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
    assert sorted(specs) == ENTRY_POINTS
    assert all(specs[name]['options'] == OPTIONS for name in ENTRY_POINTS)
    assert sorted(path.stem for path in (ROLE / 'tasks').glob('*.yml')) == ENTRY_POINTS


def test_the_role_writes_only_through_its_one_writer_task_and_stores_no_fact():
    tasks = {path.stem: yaml.safe_load(path.read_text()) for path in (ROLE / 'tasks').glob('*.yml')}
    modules = [key for name, steps in tasks.items() for step in steps for key in step
               if '.' in key and key != 'ansible.builtin.import_tasks']
    assert sorted(modules) == ['ansible.builtin.assert', 'ansible.builtin.meta', 'buildfleet.mirrors.ca_certificates']
    assert [step.get('register') for step in tasks['apply']] == ['ca_trust_result']


def test_readme_describes_the_output():
    for key in ('changed', 'written', 'removed', 'certificates', 'bundle', 'pruned', 'verified', 'msg', 'failed'):
        assert '`%s`' % key in README.split('## Output', 1)[1], key


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.ca_trust
        tasks_from: validate
      vars:
        ca_trust_certificates: %s
"""


def play(tmp_path, certificates):
    (tmp_path / 'play.yml').write_text(PLAY % json.dumps(certificates))


def body_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith('-----')]


@pytest.mark.parametrize('stem, expected', [
    ('pkcs8.key', 'ca_trust_certificates[1] (name oops)'),
    ('expired', 'ca_trust_certificates[1] (name oops) certificate (line 1, CN=Expired CA) expired on'),
    ('leaf', 'is not a CA certificate'),
])
def test_validate_refuses_naming_the_item_and_never_prints_a_body(ansible_cli, tmp_path, pki, stem, expected):
    play(tmp_path, [{'name': 'corp', 'content': pki.text('root')}, {'name': 'oops', 'content': pki.text(stem)}])
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvv', 'play.yml')
    assert rc != 0
    assert expected in ' '.join(stdout.split()), stdout[-2000:]
    assert not any(line in stdout + stderr for line in body_lines(pki.text(stem)))


def test_validate_accepts_a_chain(ansible_cli, tmp_path, pki):
    play(tmp_path, [{'name': 'corp', 'content': pki.text('root') + pki.text('intermediate')}])
    rc, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert rc == 0, stdout[-2000:]
