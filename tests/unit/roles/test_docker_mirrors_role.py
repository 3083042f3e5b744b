# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_mirrors role's public interface: defaults, argument specs and README stay in step."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'docker_mirrors'
DEFAULTS = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
OPTIONS = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']['main']['options']
README = (ROLE / 'README.md').read_text()
# The public contract of issue 5, with the probe input (issue 12), the lock and the insecure opt-in (issue 11).
CONTRACT = ['docker_mirrors_state', 'docker_mirrors_registry_mirrors', 'docker_mirrors_insecure_registries',
            'docker_mirrors_strategy', 'docker_mirrors_daemon_json', 'docker_mirrors_validate',
            'docker_mirrors_validate_timeout', 'docker_mirrors_containerd', 'docker_mirrors_containerd_certs_dir',
            'docker_mirrors_containers_registries_conf', 'docker_mirrors_allow_insecure_all',
            'docker_mirrors_probe_result', 'docker_mirrors_lock_timeout']
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
