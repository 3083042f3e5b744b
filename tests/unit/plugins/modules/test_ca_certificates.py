# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ca_certificates as Ansible runs it, for what it refuses before any write.

Only refusals run here: a run that gets past them would change this machine's own
trust store. The transaction itself is tested in module_utils/test_ca_writer.py
with a stand-in update command, and on real hosts in the ca_trust Molecule scenario.
"""

from __future__ import annotations

import base64

from conftest import run_collection_module


def key_body(text):
    """A line of the key's base64, which no output may carry."""
    return [line for line in text.splitlines() if line and not line.startswith('-----')][1]


def test_a_private_key_is_refused_naming_the_item_and_never_shown(tmp_path, pki):
    key = pki.text('pkcs8.key')
    done = run_collection_module('ca_certificates', tmp_path, dict(
        certificates=[dict(name='corp', content=pki.text('root')), dict(name='oops', content=key)]),
        check_mode=True, diff=True)
    assert done.result.get('failed') is True
    assert 'certificates (ca_trust_certificates)[1] (name oops)' in done.result['msg']
    assert 'PRIVATE KEY' in done.result['msg']
    assert key_body(key) not in done.stdout + done.stderr
    assert done.result['written'] == [] and done.result['changed'] is False
    # The echoed arguments mask every content (no_log), the public certificate too.
    assert base64.b64encode(pki.der('root')).decode()[:64] not in done.stdout


def test_an_expired_ca_is_refused_with_its_subject_and_dates(tmp_path, pki):
    done = run_collection_module('ca_certificates', tmp_path, dict(
        certificates=[dict(name='old', content=pki.text('expired'))]))
    assert done.result.get('failed') is True
    assert 'certificates (ca_trust_certificates)[0] (name old)' in done.result['msg']
    assert 'Expired CA' in done.result['msg'] and 'expired' in done.result['msg']


def test_an_item_without_content_is_refused_by_the_argument_spec(tmp_path):
    done = run_collection_module('ca_certificates', tmp_path, dict(certificates=[dict(name='corp')]))
    assert done.result.get('failed') is True
    assert 'content' in done.result['msg']
