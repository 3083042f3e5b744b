# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_probe.py against real servers on 127.0.0.1, through Ansible's URL layer.

The fetch is the module's own (build_fetch, on ansible.module_utils.urls), so
these tests also prove that proxies, CA bundles and client certificates work
the way ansible.builtin.uri handles them.
"""

from __future__ import annotations

import base64
import http.client
import urllib.error

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import parse_gosumdb
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    check_mirrors,
    describe_failure,
    join_url,
    summarize,
    unmet_requirement,
)
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import build_fetch

from local_mirrors import API_VERSION, PRIVATE_MODULE, UPPERCASE_MODULE, Answer, MirrorServer

GO_KEY = 'sum.corp.example.com+d67b3b17+AZKHxjQHbRA8/wKDHoEKai2Chpql/U41cPPBXJNlsiyu'  # a real Ed25519 verifier key
TIMEOUT = 1.0
STATUS_KEYS = {'failed', 'changed', 'skipped', 'unreachable', 'results'}


def check(fetch=None, **kwargs):
    kwargs.setdefault('timeout', TIMEOUT)
    return check_mirrors(fetch or build_fetch(), **kwargs)


def only_probe(report):
    assert len(report['probes']) == 1
    return report['probes'][0]


def all_keys(value):
    """Every dict key at any depth."""
    if isinstance(value, dict):
        return set(value) | set().union(*(all_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(all_keys(item) for item in value)) if value else set()
    return set()


# ---------------------------------------------------------------------------
# goproxy
# ---------------------------------------------------------------------------

def test_goproxy_serving_the_module_is_reachable(goproxy):
    probe = only_probe(check(goproxy_urls=[goproxy.url], probe_module=PRIVATE_MODULE))
    assert probe['reachable'] is True
    assert probe['status'] == 200
    assert probe['error'] is None
    assert probe['request_url'] == goproxy.url + '/corp.example.com/platform/lib/@v/list'
    assert probe['sumdb_supported'] is None  # no gosumdb asked
    assert isinstance(probe['latency_ms'], int) and probe['latency_ms'] >= 0


def test_module_path_is_case_escaped_on_the_wire(goproxy):
    probe = only_probe(check(goproxy_urls=[goproxy.url], probe_module=UPPERCASE_MODULE))
    assert probe['reachable'] is True
    assert '/github.com/!azure/go-autorest/@v/list' in goproxy.paths


@pytest.mark.parametrize('proxy_fixture, status', [('goproxy', 404), ('goproxy_gone', 410)])
def test_goproxy_without_the_module_is_unreachable(request, proxy_fixture, status):
    server = request.getfixturevalue(proxy_fixture)
    probe = only_probe(check(goproxy_urls=[server.url], probe_module='corp.example.com/unknown'))
    assert probe['reachable'] is False
    assert probe['status'] == status
    assert probe['error'] == 'answered HTTP %d, expected 200 on the version list of corp.example.com/unknown' % status


@pytest.mark.parametrize('server_fixture, status, reachable', [
    ('plain_web_server', 404, True),   # without probe_module, any answer below 500 will do
    ('goproxy_gone', 410, True),
    ('broken', 500, False),
])
def test_goproxy_without_probe_module_needs_an_answer_below_500(request, server_fixture, status, reachable):
    probe = only_probe(check(goproxy_urls=[request.getfixturevalue(server_fixture).url]))
    assert (probe['status'], probe['reachable']) == (status, reachable)


def test_goproxy_query_token_is_sent_and_never_shown(goproxy):
    url = goproxy.url + '/?token=Qx7TopSecret'
    report = check(goproxy_urls=[url], probe_module=PRIVATE_MODULE)
    assert '/corp.example.com/platform/lib/@v/list?token=Qx7TopSecret' in goproxy.paths
    assert 'Qx7TopSecret' not in repr(report)
    assert only_probe(report)['url'] == goproxy.url + '/?token=***'
    assert report['reachable_urls']['goproxy'] == [goproxy.url + '/?token=***']


def test_goproxy_userinfo_becomes_basic_auth_and_is_never_shown(goproxy):
    url = goproxy.url.replace('http://', 'http://ci-bot:Pw4Mirror@')
    report = check(goproxy_urls=[url], probe_module=PRIVATE_MODULE)
    assert only_probe(report)['reachable'] is True
    sent = goproxy.requests[-1].headers.get('Authorization')
    assert sent == 'Basic ' + base64.b64encode(b'ci-bot:Pw4Mirror').decode()
    assert 'Pw4Mirror' not in repr(report) and 'ci-bot' not in repr(report)


def test_file_goproxy_is_checked_on_the_file_system(tmp_path):
    module_list = tmp_path / 'corp.example.com' / 'platform' / 'lib' / '@v' / 'list'
    module_list.parent.mkdir(parents=True)
    module_list.write_text('v1.0.0\n')
    (tmp_path / 'sumdb' / 'sum.golang.org').mkdir(parents=True)
    (tmp_path / 'sumdb' / 'sum.golang.org' / 'supported').write_text('')
    missing = tmp_path / 'missing'
    report = check(goproxy_urls=['file://' + str(tmp_path), 'file://' + str(missing)], probe_module=PRIVATE_MODULE,
                   sumdb=parse_gosumdb('sum.golang.org'))
    present, absent, database = report['probes']
    assert (present['reachable'], present['status'], present['sumdb_supported']) == (True, None, True)
    assert (absent['reachable'], absent['sumdb_supported']) == (False, False)
    assert absent['error'] == 'not found on this host: ' + str(missing / 'corp.example.com/platform/lib/@v/list')
    assert database['proxied_by'] == ['file://' + str(tmp_path)]


def test_file_goproxy_without_probe_module_needs_the_directory(tmp_path):
    report = check(goproxy_urls=['file://' + str(tmp_path), 'file://' + str(tmp_path / 'nope')])
    assert [probe['reachable'] for probe in report['probes']] == [True, False]


# ---------------------------------------------------------------------------
# gosumdb
# ---------------------------------------------------------------------------

def test_sumdb_supported_is_reported_per_goproxy(goproxy, plain_web_server, broken):
    report = check(goproxy_urls=[goproxy.url, plain_web_server.url, broken.url],
                   sumdb=parse_gosumdb('sum.golang.org'))
    assert '/sumdb/sum.golang.org/supported' in goproxy.paths
    assert [probe['sumdb_supported'] for probe in report['probes'][:3]] == [True, False, False]


def test_sumdb_supported_is_unknown_when_the_proxy_does_not_answer(closed_port):
    report = check(goproxy_urls=[closed_port], sumdb=parse_gosumdb('sum.golang.org'))
    assert report['probes'][0]['sumdb_supported'] is None


def test_sumdb_reached_through_a_proxy_counts_as_reachable(goproxy):
    # sum.golang.org itself is not reachable from the tests (offline guard): Go would go through the proxy.
    report = check(goproxy_urls=[goproxy.url], sumdb=parse_gosumdb('sum.golang.org'))
    database = report['probes'][1]
    assert database['kind'] == 'gosumdb'
    assert database['name'] == 'sum.golang.org'
    assert database['url'] == 'https://sum.golang.org'
    assert database['request_url'] == 'https://sum.golang.org/latest'
    assert (database['reachable'], database['direct'], database['error']) == (True, False, None)
    assert database['proxied_by'] == [goproxy.url]
    assert report['reachable_urls']['gosumdb'] == ['https://sum.golang.org']


def test_sumdb_without_a_serving_proxy_says_why(plain_web_server):
    report = check(goproxy_urls=[plain_web_server.url], sumdb=parse_gosumdb('sum.golang.org'))
    database = report['probes'][1]
    assert database['reachable'] is False
    assert database['error'].startswith('name resolution failed')
    assert database['error'].endswith('and no reachable goproxy serves sum.golang.org')
    assert report['unreachable_urls']['gosumdb'] == ['https://sum.golang.org']


def test_sumdb_with_its_own_url_is_probed_directly(sumdb):
    database = only_probe(check(sumdb=parse_gosumdb(GO_KEY + ' ' + sumdb.url)))
    assert (database['reachable'], database['direct'], database['status']) == (True, True, 200)
    assert sumdb.paths[-1] == '/latest'


def test_sumdb_with_its_own_url_never_counts_a_proxy(goproxy, closed_port):
    # Go uses a URL written in GOSUMDB directly and never asks the proxies for that database.
    report = check(goproxy_urls=[goproxy.url], sumdb=parse_gosumdb(GO_KEY + ' ' + closed_port))
    database = report['probes'][1]
    assert report['probes'][0]['sumdb_supported'] is True
    assert (database['reachable'], database['proxied_by'], database['error']) == (False, [], 'connection refused')


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('server_fixture, status, reachable, api_version', [
    ('registry', 200, True, 'registry/2.0'),
    ('registry_login', 401, True, 'registry/2.0'),
    ('plain_web_server', 404, False, None),
    ('broken', 500, False, None),
])
def test_registry_answers(request, server_fixture, status, reachable, api_version):
    server = request.getfixturevalue(server_fixture)
    probe = only_probe(check(registry_urls=[server.url]))
    assert (probe['status'], probe['reachable'], probe['api_version']) == (status, reachable, api_version)
    assert probe['request_url'] == server.url + '/v2/'
    if not reachable:
        assert probe['error'] == ('answered HTTP %d, expected 200 or 401 on /v2/ (the Registry HTTP API v2)' % status)


def test_registry_mirror_with_a_path_is_probed_under_it():
    server = MirrorServer({'/dockerhub/v2/': Answer(200, API_VERSION)})
    try:
        probe = only_probe(check(registry_urls=[server.url + '/dockerhub/']))
    finally:
        server.close()
    assert probe['reachable'] is True


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------

def test_private_ca_passes_with_ca_path(tls_registry, tls_files):
    probe = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), registry_urls=[tls_registry.url]))
    assert (probe['reachable'], probe['status']) == (True, 200)


def test_private_ca_fails_without_ca_path(tls_registry):
    probe = only_probe(check(registry_urls=[tls_registry.url]))
    assert probe['reachable'] is False
    assert probe['status'] is None
    assert probe['error'].startswith('TLS certificate verification failed')


def test_validate_certs_false_accepts_any_certificate(tls_registry):
    probe = only_probe(check(build_fetch(validate_certs=False), registry_urls=[tls_registry.url]))
    assert probe['reachable'] is True


def test_client_certificate_is_presented(mtls_registry, tls_files):
    with_cert = build_fetch(ca_path=tls_files.ca_cert, client_cert=tls_files.client_cert,
                            client_key=tls_files.client_key)
    assert only_probe(check(with_cert, registry_urls=[mtls_registry.url]))['reachable'] is True
    without = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), registry_urls=[mtls_registry.url]))
    assert without['reachable'] is False and without['status'] is None


# ---------------------------------------------------------------------------
# No answer at all
# ---------------------------------------------------------------------------

def test_black_hole_times_out(black_hole):
    probe = only_probe(check(registry_urls=[black_hole.url]))
    assert (probe['reachable'], probe['status'], probe['error']) == (False, None, 'timed out after 1s')


def test_closed_port_is_refused(closed_port):
    probe = only_probe(check(registry_urls=[closed_port]))
    assert (probe['reachable'], probe['status'], probe['error']) == (False, None, 'connection refused')


def test_unresolvable_name_fails_resolution():
    probe = only_probe(check(registry_urls=['http://mirror.invalid']))
    assert probe['reachable'] is False
    assert probe['error'] == 'name resolution failed: Name or service not known'


def test_black_holes_are_waited_for_in_parallel(black_hole, registry):
    # Each black-holed probe holds its connection open until it times out; with parallel
    # probes all of them are open at once, with serial probes never more than one.
    urls = [black_hole.url + '/mirror-%d' % number for number in range(4)] + [registry.url]
    report = check(registry_urls=urls)
    assert [probe['reachable'] for probe in report['probes']] == [False] * 4 + [True]
    assert black_hole.most_open_at_once == 4


@pytest.mark.parametrize('max_workers, most_at_once', [(None, 4), (2, 2), (1, 1)])
def test_max_workers_limits_how_many_probes_run_at_once(max_workers, most_at_once):
    slow_registry = MirrorServer({'/v2/': Answer(200, API_VERSION)}, delay=0.3)
    try:
        report = check(registry_urls=[slow_registry.url] * 4, max_workers=max_workers)
    finally:
        slow_registry.close()
    assert [probe['reachable'] for probe in report['probes']] == [True] * 4
    assert slow_registry.most_in_flight == most_at_once


# ---------------------------------------------------------------------------
# Retries
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('retries, reachable, attempts', [(0, False, 1), (1, True, 2), (3, True, 2)])
def test_a_5xx_answer_is_retried(retries, reachable, attempts):
    server = MirrorServer({'/v2/': [Answer(503), Answer(200, API_VERSION)]})
    try:
        probe = only_probe(check(registry_urls=[server.url], retries=retries))
    finally:
        server.close()
    assert (probe['reachable'], probe['attempts']) == (reachable, attempts)


def test_a_4xx_answer_is_final(plain_web_server):
    before = len(plain_web_server.requests)
    probe = only_probe(check(registry_urls=[plain_web_server.url], retries=3))
    assert probe['attempts'] == 1
    assert len(plain_web_server.requests) == before + 1


def test_no_answer_is_retried(closed_port):
    assert only_probe(check(registry_urls=[closed_port], retries=2))['attempts'] == 3


# ---------------------------------------------------------------------------
# Proxies from the environment
# ---------------------------------------------------------------------------

def test_http_proxy_from_the_environment_is_used(monkeypatch):
    forward_proxy = MirrorServer({'http://mirror.invalid/v2/': Answer(200, API_VERSION)})
    monkeypatch.setenv('HTTP_PROXY', forward_proxy.url)
    try:
        through_proxy = only_probe(check(registry_urls=['http://mirror.invalid']))
        bypassing = only_probe(check(build_fetch(use_proxy=False), registry_urls=['http://mirror.invalid']))
    finally:
        forward_proxy.close()
    assert (through_proxy['reachable'], through_proxy['api_version']) == (True, 'registry/2.0')
    assert forward_proxy.paths == ['http://mirror.invalid/v2/']
    assert bypassing['error'] == 'name resolution failed: Name or service not known'


def test_no_proxy_is_honoured(monkeypatch, registry):
    forward_proxy = MirrorServer(default=Answer(502))
    monkeypatch.setenv('HTTP_PROXY', forward_proxy.url)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    try:
        probe = only_probe(check(registry_urls=[registry.url]))
    finally:
        forward_proxy.close()
    assert probe['reachable'] is True
    assert forward_proxy.paths == []


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def test_report_keeps_order_and_indexes_and_returns_the_callers_strings(goproxy, plain_web_server, closed_port,
                                                                        registry, registry_login, black_hole):
    credentialed = goproxy.url.replace('http://', 'http://u:SecretPw@')
    report = check(goproxy_urls=[closed_port, credentialed, goproxy.url + '/'],
                   probe_module=PRIVATE_MODULE,
                   registry_urls=[registry_login.url + '/', black_hole.url, registry.url])
    assert [(probe['kind'], probe['index'], probe['reachable']) for probe in report['probes']] == [
        ('goproxy', 0, False), ('goproxy', 1, True), ('goproxy', 2, True),
        ('registry', 0, True), ('registry', 1, False), ('registry', 2, True)]
    assert report['reachable_urls'] == {
        'goproxy': [goproxy.url.replace('http://', 'http://***@'), goproxy.url + '/'],
        'gosumdb': [],
        'registry': [registry_login.url + '/', registry.url],
    }
    assert report['unreachable_urls'] == {'goproxy': [closed_port], 'gosumdb': [], 'registry': [black_hole.url]}
    assert report['msg'] == '4 of 6 mirrors reachable (goproxy 2/3, registry 2/3)'
    assert 'SecretPw' not in repr(report)


def test_report_never_uses_ansible_status_keys(goproxy, closed_port, registry):
    report = check(goproxy_urls=[goproxy.url, closed_port], sumdb=parse_gosumdb('sum.golang.org'),
                   registry_urls=[registry.url])
    assert not all_keys(report) & STATUS_KEYS


def test_nothing_to_probe():
    report = check()
    assert report == {'probes': [], 'reachable_urls': {'goproxy': [], 'gosumdb': [], 'registry': []},
                      'unreachable_urls': {'goproxy': [], 'gosumdb': [], 'registry': []},
                      'msg': 'nothing to probe: every GOPROXY entry is a keyword and GOSUMDB is off'}
    assert summarize([]) == report['msg']


def item(kind, url, reachable, error=None):
    return {'kind': kind, 'url': url, 'reachable': reachable, 'error': error}


MIXED = {'probes': [item('goproxy', 'https://a', True), item('goproxy', 'https://***@b', False, 'connection refused'),
                    item('registry', 'https://r', False, 'timed out after 5s')]}


@pytest.mark.parametrize('report, require, message', [
    (MIXED, 'all', '2 of 3 mirrors unreachable (require=all): goproxy https://***@b: connection refused; '
                   'registry https://r: timed out after 5s'),
    (MIXED, 'any', 'no reachable registry mirror (require=any): registry https://r: timed out after 5s'),
    (MIXED, 'none', None),
    ({'probes': MIXED['probes'][:1]}, 'all', None),
    ({'probes': MIXED['probes'][:2]}, 'any', None),
    ({'probes': MIXED['probes'][1:]}, 'any',
     'no reachable goproxy or registry mirror (require=any): goproxy https://***@b: connection refused; '
     'registry https://r: timed out after 5s'),
    ({'probes': []}, 'all', None),
])
def test_unmet_requirement(report, require, message):
    assert unmet_requirement(report, require) == message


@pytest.mark.parametrize('error, reason', [
    (urllib.error.URLError(ConnectionRefusedError(111, 'Connection refused')), 'connection refused'),
    (urllib.error.URLError('unknown url type: gopher'), 'unknown url type: gopher'),
    (TimeoutError('timed out'), 'timed out after 1s'),
    (http.client.RemoteDisconnected('closed'), 'connection reset without an HTTP answer'),
    (http.client.BadStatusLine('SSH-2.0-OpenSSH'), 'no valid HTTP answer: BadStatusLine'),
    (OSError(113, 'No route to host'), 'No route to host'),
    (RuntimeError('boom'), 'RuntimeError: boom'),
])
def test_describe_failure(error, reason):
    assert describe_failure(error, 1.0) == reason


def test_a_fetch_that_raises_anything_is_that_probes_result():
    def exploding_fetch(url, timeout):
        raise RuntimeError('fetch broke for %s' % url)
    probe = only_probe(check(exploding_fetch, registry_urls=['https://u:Pw0rd@mirror.example.com']))
    assert probe['reachable'] is False
    assert probe['error'] == 'RuntimeError: fetch broke for https://***@mirror.example.com/v2/'


@pytest.mark.parametrize('base, suffix, joined', [
    ('https://a.example', 'v2/', 'https://a.example/v2/'),
    ('https://a.example/', 'v2/', 'https://a.example/v2/'),
    ('https://a.example/go/?token=t', 'x/@v/list', 'https://a.example/go/x/@v/list?token=t'),
])
def test_join_url_keeps_the_query(base, suffix, joined):
    assert join_url(base, suffix) == joined
