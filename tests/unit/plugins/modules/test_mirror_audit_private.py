# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_audit's probes of a private Go proxy: the CA about to be trusted (``ca_data``) and the proxy's
credentials (``credentials``, go_proxy_credentials), against a real TLS proxy that checks basic auth."""

from __future__ import annotations

import pytest

from conftest import run_collection_module
from local_mirrors import PRIVATE_MODULE, AuthProxy, make_tls_files

LOGIN = 'ci-audit'
PASSWORD = 'Aud1tProxyPw'
WRONG_PASSWORD = 'Wr0ngAuditPw'


@pytest.fixture(scope='module')
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp('audit-tls'))


@pytest.fixture(scope='module')
def proxy(tls):
    server = AuthProxy(tls.server_context(), (LOGIN, PASSWORD))
    yield server
    server.close()


def audit(tmp_path, proxy, tls, password=PASSWORD, ca=True, credentials=True):
    arguments = dict(go=dict(environment=dict(GOPROXY=proxy.url + ',off', GONOSUMDB='corp.example.com'),
                             probe_module=PRIVATE_MODULE),
                     timeout=3, slow_ms=100000)
    if ca:
        with open(tls.ca_cert, encoding='ascii') as handle:
            arguments['ca_data'] = handle.read()
    if credentials:
        arguments['credentials'] = [dict(machine=proxy.url[len('https://'):], login=LOGIN, password=password)]
    run = run_collection_module('mirror_audit', tmp_path, arguments, check_mode=True)
    assert password not in run.stdout + run.stderr
    return run


def proxy_probe(run):
    assert run.rc == 0, run.stdout
    probes = [probe for probe in run.result['audit']['probes'] if probe['kind'] == 'goproxy']
    assert len(probes) == 1, probes
    return probes[0], [finding for finding in run.result['audit']['findings'] if finding['check'] == 'mirror.down']


def test_the_proxy_is_up_with_the_ca_and_the_credentials_the_policy_installs(tmp_path, proxy, tls):
    before = len(proxy.seen)
    probe, down = proxy_probe(audit(tmp_path, proxy, tls))
    assert probe['reachable'] is True and probe['status'] == 200, probe
    assert down == []
    # The version list of the probe module was asked for, with the right Authorization header.
    assert ('/%s/@v/list' % PRIVATE_MODULE, 'right') in proxy.seen[before:]


def test_a_refused_password_is_a_mirror_down_finding_that_says_so(tmp_path, proxy, tls):
    probe, down = proxy_probe(audit(tmp_path, proxy, tls, password=WRONG_PASSWORD))
    assert probe['reachable'] is False
    assert 'refused the credentials for machine %s (401)' % proxy.url[len('https://'):] in probe['reason']
    assert [finding['severity'] for finding in down] == ['high']


def test_without_the_credentials_the_proxy_asks_for_them(tmp_path, proxy, tls):
    probe, down = proxy_probe(audit(tmp_path, proxy, tls, credentials=False))
    assert probe['reachable'] is False and probe['reason'].startswith('asks for credentials (401)'), probe
    assert len(down) == 1


def test_without_the_ca_the_certificate_is_not_trusted(tmp_path, proxy, tls):
    before = len(proxy.seen)
    probe, down = proxy_probe(audit(tmp_path, proxy, tls, ca=False))
    assert probe['reachable'] is False and 'certificate' in probe['reason'], probe
    assert len(down) == 1
    assert proxy.seen[before:] == []  # the handshake failed: no request, no credentials sent


def test_bad_ca_data_and_credentials_name_the_option_and_hide_the_password(tmp_path, proxy, tls):
    run = run_collection_module('mirror_audit', tmp_path, dict(
        go=dict(environment=dict(GOPROXY=proxy.url + ',off')), ca_data='not a certificate'))
    assert run.rc == 1 and 'ca_data' in run.result['msg'], run.result
    run = run_collection_module('mirror_audit', tmp_path, dict(
        go=dict(environment=dict(GOPROXY=proxy.url + ',off')),
        credentials=[dict(machine='elsewhere.example.com', login=LOGIN, password=PASSWORD)]))
    assert run.rc == 1 and 'credentials[0]' in run.result['msg'], run.result
    assert PASSWORD not in run.stdout + run.stderr
