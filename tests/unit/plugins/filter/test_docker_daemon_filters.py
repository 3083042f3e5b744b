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


def test_the_plugin_offers_both_filters():
    assert sorted(FILTERS) == ['mirror_hosts', 'registry_config_problems']


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
