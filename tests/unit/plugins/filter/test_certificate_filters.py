# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The validate_ca_certificates filter: called directly, then by FQCN from a real playbook with vaulted values."""

from __future__ import annotations

import datetime
import json
import shutil

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.filter.certificates import FilterModule

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl CLI')

FILTERS = FilterModule().filters()
VALIDATE = FILTERS['validate_ca_certificates']
LATER = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)


def refused(*args, **kwargs):
    with pytest.raises(AnsibleFilterError) as caught:
        VALIDATE(*args, **kwargs)
    return caught.value.message


def test_the_plugin_offers_the_filter():
    assert sorted(FILTERS) == ['probe_ca_data', 'validate_ca_certificates']


def test_the_shape_follows_the_variable(pki):
    text = pki.text('root')
    as_list = VALIDATE([{'name': 'corp-root', 'content': text}], 'ca_trust_certificates', LATER)
    as_text = VALIDATE(text, 'docker_mirrors_ca_certificates', LATER)
    assert as_list['pem'] == as_text['pem']
    assert as_list['entries'][0]['files'][0]['name'] == 'corp-root.crt'
    assert 'entries' not in as_text
    # Without a name, the type decides, and the message names the variable of that shape.
    assert VALIDATE(text, now=LATER) == as_text
    assert refused(pki.text('leaf'), now=LATER).startswith('docker_mirrors_ca_certificates certificate (line 1, ')
    leaf_entry = [{'name': 'a', 'content': pki.text('leaf')}]
    assert refused(leaf_entry, now=LATER).startswith('ca_trust_certificates[0] (name a) certificate')
    # Another name: the type decides, the message names it.
    assert refused(pki.text('leaf'), 'my_ca', LATER).startswith('my_ca certificate (line 1')
    assert VALIDATE([{'name': 'a', 'content': text}], 'my_cas', LATER)['entries'][0]['name'] == 'a'


def test_a_variable_of_the_wrong_shape_is_refused(pki):
    assert refused([pki.text('root')], 'docker_mirrors_ca_certificates', LATER) == (
        'docker_mirrors_ca_certificates must be PEM text (one or more -----BEGIN CERTIFICATE----- blocks in one '
        'string), got a list')
    assert refused(pki.text('root'), 'ca_trust_certificates', LATER) == (
        'ca_trust_certificates must be a list of {name, content} items, got str')
    assert 'must be the variable name' in refused(pki.text('root'), 42)


def test_now_may_be_a_string(pki):
    assert 'expired on' in refused(pki.text('root'), 'docker_mirrors_ca_certificates', '2099-01-01T00:00:00Z')


# ---------------------------------------------------------------------------
# From a real playbook, by FQCN, with the certificates in Ansible Vault
# ---------------------------------------------------------------------------

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [vaulted.yml]
  tasks:
    - name: Validate both shapes
      ansible.builtin.set_fact:
        trusted: "{{ ca_trust_certificates | buildfleet.mirrors.validate_ca_certificates('ca_trust_certificates') }}"
        bundle: "{{ docker_mirrors_ca_certificates | buildfleet.mirrors.validate_ca_certificates }}"
        at_now: "{{ (docker_mirrors_ca_certificates
                     | buildfleet.mirrors.validate_ca_certificates(now=now(utc=true))).certificates | length }}"

    - name: A private key in a vaulted certificate fails the task without showing it
      ansible.builtin.debug:
        msg: "{{ ca_with_key | buildfleet.mirrors.validate_ca_certificates('ca_trust_certificates') }}"
      ignore_errors: true
      register: refused_key
"""


def vault(ansible_cli, tmp_path, name, value):
    """``name: !vault |`` text of ``value``, encrypted with the password in tmp_path/vault-password."""
    rc, stdout, stderr = ansible_cli('ansible-vault', 'encrypt_string', '--vault-password-file',
                                     str(tmp_path / 'vault-password'), '--name', name, value)
    assert rc == 0, stderr
    return stdout


def test_the_filter_works_from_a_playbook_with_vaulted_certificates(ansible_cli, pki, tmp_path):
    (tmp_path / 'vault-password').write_text('correct horse battery staple\n')
    root, key = pki.text('root'), pki.text('pkcs8.key')
    (tmp_path / 'vaulted.yml').write_text(
        vault(ansible_cli, tmp_path, 'corp_root', root) + '\n'
        + vault(ansible_cli, tmp_path, 'pasted_key', key) + '\n'
        + 'ca_trust_certificates: [{name: corp-root, content: "{{ corp_root }}"}]\n'
        + 'docker_mirrors_ca_certificates: "{{ corp_root }}"\n'
        + 'ca_with_key: [{name: corp-root, content: "{{ corp_root ~ pasted_key }}"}]\n')
    (tmp_path / 'filters.yml').write_text(PLAYBOOK)
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvv', '-i', 'localhost,', '--vault-password-file',
                                     str(tmp_path / 'vault-password'), str(tmp_path / 'filters.yml'))
    assert rc == 0, stderr
    # At -vvv the JSON report follows Ansible's own lines.
    report = stdout if stdout.startswith('{') else stdout[stdout.index('\n{') + 1:]
    tasks = json.loads(report)['plays'][0]['tasks']
    facts = tasks[0]['hosts']['localhost']['ansible_facts']
    expected_pem = pki.run('x509', '-in', 'root.pem')
    assert facts['trusted']['entries'][0]['files'] == [{'name': 'corp-root.crt', 'content': expected_pem}]
    assert facts['bundle']['pem'] == expected_pem
    assert int(facts['at_now']) == 1
    refusal = tasks[1]['hosts']['localhost']
    assert refusal['failed'] is True
    assert 'ca_trust_certificates[0] (name corp-root) holds a private key (a PRIVATE KEY block at line' in refusal['msg']
    key_lines = [line for line in key.splitlines() if not line.startswith('-----')]
    for line in key_lines:
        assert line not in stdout + stderr


def test_the_filter_is_documented(ansible_cli):
    rc, stdout, stderr = ansible_cli('ansible-doc', '--json', '-t', 'filter', 'buildfleet.mirrors.validate_ca_certificates')
    assert rc == 0, stderr
    doc = json.loads(stdout)['buildfleet.mirrors.validate_ca_certificates']
    assert doc['doc']['name'] == 'validate_ca_certificates'
    assert sorted(doc['doc']['options']) == ['_input', 'name', 'now']
    assert doc['examples'] and doc['return']['_value']['type'] == 'dict'


PROBE_CA_DATA = FILTERS['probe_ca_data']


def test_probe_ca_data_takes_each_ca_about_to_be_trusted_once(pki):
    root, intermediate = pki.run('x509', '-in', 'root.pem'), pki.run('x509', '-in', 'intermediate.pem')
    trusted = [{'name': 'corp-root', 'content': pki.text('root')}]
    # ca_trust's certificates, and docker_mirrors' default (null: the same ones), once.
    assert PROBE_CA_DATA(trusted, None, True, True, LATER) == root
    # docker_mirrors' own text adds its certificates; the root given twice is kept once.
    both = pki.text('intermediate') + pki.text('root')
    assert PROBE_CA_DATA(trusted, both, True, True, LATER) == root + intermediate
    # ca_trust off (or absent): docker_mirrors still trusts the ca_trust certificates by default.
    assert PROBE_CA_DATA(trusted, None, False, True, LATER) == root
    assert PROBE_CA_DATA(trusted, pki.text('intermediate'), False, True, LATER) == intermediate
    # Neither role: nothing; docker_mirrors' blank text is no certificate.
    assert PROBE_CA_DATA(trusted, None, False, False, LATER) == ''
    assert PROBE_CA_DATA([], '  \n', True, True, LATER) == ''
    assert PROBE_CA_DATA(None, None, True, True, LATER) == ''


def test_probe_ca_data_refuses_as_the_validation_does(pki):
    with pytest.raises(AnsibleFilterError) as caught:
        PROBE_CA_DATA([{'name': 'a', 'content': pki.text('leaf')}], None, True, False, LATER)
    assert caught.value.message.startswith('ca_trust_certificates[0] (name a) certificate')
    with pytest.raises(AnsibleFilterError) as caught:
        PROBE_CA_DATA([], pki.text('root') + pki.text('pkcs8.key'), True, True, LATER)
    assert caught.value.message.startswith('docker_mirrors_ca_certificates')
    assert 'PRIVATE KEY' in caught.value.message
    assert pki.text('pkcs8.key').splitlines()[1] not in caught.value.message


def test_probe_ca_data_is_documented(ansible_cli):
    rc, stdout, stderr = ansible_cli('ansible-doc', '--json', '-t', 'filter', 'buildfleet.mirrors.probe_ca_data')
    assert rc == 0, stderr
    doc = json.loads(stdout)['buildfleet.mirrors.probe_ca_data']
    assert sorted(doc['doc']['options']) == ['_input', 'ca_trust', 'docker', 'docker_mirrors_ca_certificates', 'now']
    assert doc['return']['_value']['type'] == 'str'
