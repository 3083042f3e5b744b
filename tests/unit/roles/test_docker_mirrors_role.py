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
# The public contract of issue 5.
CONTRACT = ['docker_mirrors_state', 'docker_mirrors_registry_mirrors', 'docker_mirrors_insecure_registries',
            'docker_mirrors_strategy', 'docker_mirrors_daemon_json', 'docker_mirrors_validate',
            'docker_mirrors_validate_timeout', 'docker_mirrors_containerd', 'docker_mirrors_containerd_certs_dir',
            'docker_mirrors_containers_registries_conf']


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
