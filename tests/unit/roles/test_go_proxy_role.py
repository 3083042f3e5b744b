# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The go_proxy role with credentials: refused values name the variable, and no password is printed at -vvvv.

The plays run against localhost; the apply case runs in check mode (reads this machine, writes nothing), the gate
cases probe an HTTPS proxy on 127.0.0.1 signed by a CA of the test that wants basic auth.
"""

from __future__ import annotations

import json

from pathlib import Path

import pytest
import yaml

from local_mirrors import PRIVATE_MODULE, AuthProxy, make_tls_files

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'go_proxy'
DEFAULTS = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
SPECS = yaml.safe_load((ROLE / 'meta' / 'argument_specs.yml').read_text())['argument_specs']
PASSWORD = 'Hx7-Pass.Word'


def test_the_credential_variables_are_declared_with_no_log_and_their_defaults():
    for entry_point in ('main', 'validate', 'gate', 'apply'):
        options = SPECS[entry_point]['options']
        assert options['go_proxy_credentials']['no_log'] is True
        assert options['go_proxy_credentials']['type'] == 'list'
        assert options['go_proxy_credentials']['elements'] == 'dict'
        assert options['go_proxy_credentials_group']['type'] == 'str'
    assert DEFAULTS['go_proxy_credentials'] == [] and DEFAULTS['go_proxy_credentials_group'] == ''


PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.go_proxy
        tasks_from: %(entry)s
      vars:
        go_proxy_urls: %(urls)s
        go_proxy_credentials: %(credentials)s
        go_proxy_validate: "off"
        go_proxy_verify: never
        go_proxy_systemd_default_environment: false
"""


def play(tmp_path, entry, urls, credentials):
    (tmp_path / 'play.yml').write_text(PLAY % dict(entry=entry, urls=json.dumps(urls),
                                                   credentials=json.dumps(credentials)))


@pytest.mark.parametrize('urls, credentials, message', [
    (['https://goproxy.corp.example.com:8443'],
     [{'machine': 'goproxy.corp.example.com:8443', 'login': 'ci', 'password': PASSWORD + ' x'}],
     "go_proxy_credentials[0] (machine 'goproxy.corp.example.com:8443') password contains whitespace"),
    (['https://goproxy.corp.example.com:8443'],
     [{'machine': 'other.corp.example.com', 'login': 'ci', 'password': PASSWORD}],
     "go_proxy_credentials[0] (machine 'other.corp.example.com') matches no https:// proxy"),
    (['https://ci:%s@goproxy.corp.example.com' % PASSWORD], [],
     "go_proxy_urls entry carries credentials in the URL ('https://***@goproxy.corp.example.com'); give them in "
     'go_proxy_credentials instead'),
])
def test_validate_refuses_naming_the_variable_and_prints_no_password(
        ansible_cli, tmp_path, urls, credentials, message):
    play(tmp_path, 'validate', urls, credentials)
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
    assert rc != 0
    assert message in stdout, stdout
    assert PASSWORD not in stdout + stderr


def test_apply_in_check_mode_shows_the_netrc_diff_with_the_password_masked(ansible_cli, tmp_path):
    """Check mode on this machine: reads /etc, writes nothing; -vvvv shows the module's arguments and the diff."""
    before = Path('/etc/go-proxy/netrc').exists()
    play(tmp_path, 'apply', ['https://goproxy.corp.example.com:8443'],
         [{'machine': 'goproxy.corp.example.com:8443', 'login': 'ci-build', 'password': PASSWORD}])
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', '--check', '--diff', 'play.yml')
    assert rc == 0, stdout + stderr
    assert PASSWORD not in stdout + stderr
    assert 'machine goproxy.corp.example.com:8443 login ci-build password ********' in stdout
    assert Path('/etc/go-proxy/netrc').exists() == before


# --- The gate probes with the credentials and the CA about to be installed --------------------------------------

GATE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: buildfleet.mirrors.go_proxy
        tasks_from: gate
      vars:
        go_proxy_urls: [%(url)s]
        go_proxy_fallback: "off"
        go_proxy_credentials: %(credentials)s
        go_proxy_probe_module: %(module)s
%(ca)s
"""


@pytest.fixture(scope='module')
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp('go-proxy-role-tls'))


@pytest.fixture(scope='module')
def auth_proxy(tls):
    server = AuthProxy(tls.server_context(), ('ci-build', PASSWORD))
    yield server
    server.close()


def gate_play(tmp_path, proxy, tls, password, with_ca=True):
    credentials = [{'machine': proxy.url[len('https://'):], 'login': 'ci-build', 'password': password}]
    ca = ''
    if with_ca:
        ca = ('        ca_trust_certificates:\n          - name: lab\n            content: %s\n'
              % json.dumps(Path(tls.ca_cert).read_text()))
    (tmp_path / 'play.yml').write_text(GATE_PLAY % dict(url=proxy.url, credentials=json.dumps(credentials),
                                                        module=PRIVATE_MODULE, ca=ca))


def test_the_gate_passes_with_the_right_password_and_the_ca_about_to_be_trusted(
        ansible_cli, tmp_path, auth_proxy, tls):
    before = len(auth_proxy.seen)
    gate_play(tmp_path, auth_proxy, tls, PASSWORD)
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
    assert rc == 0, stdout + stderr
    assert ('/%s/@v/list' % PRIVATE_MODULE, 'right') in auth_proxy.seen[before:]
    assert PASSWORD not in stdout + stderr


@pytest.mark.parametrize('password, with_ca, reason', [
    ('Wrong-4pX.q', True, 'refused the credentials for machine 127.0.0.1:'),
    (PASSWORD, False, 'certificate'),
])
def test_the_gate_refuses_a_wrong_password_or_a_ca_that_is_not_given(
        ansible_cli, tmp_path, auth_proxy, tls, password, with_ca, reason):
    gate_play(tmp_path, auth_proxy, tls, password, with_ca)
    rc, stdout, stderr = ansible_cli('ansible-playbook', '-vvvv', 'play.yml')
    assert rc != 0
    assert 'go_proxy_validate is strict and 1 of 1 mirrors did not answer from localhost' in stdout, stdout
    assert reason in stdout
    assert PASSWORD not in stdout + stderr and 'Wrong-4pX.q' not in stdout + stderr
