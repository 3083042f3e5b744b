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
import threading
import time
import urllib.error

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    parse_gosumdb,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    REGISTRY_BODY_LIMIT,
    Deadline,
    check_mirrors,
    describe_failure,
    join_url,
    summarize,
    unmet_requirement,
)
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import build_fetch

from local_mirrors import (
    API_VERSION,
    PRIVATE_MODULE,
    UPPERCASE_MODULE,
    Answer,
    BlackHole,
    MirrorServer,
    RawServer,
    TunnelProxy,
    endless_continue,
    redirect_with_trickled_body,
    stream_body,
    trickle_headers,
)

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
        # A timeout well above 4 x 0.3 s: queued probes start only within one timeout of the check's start.
        report = check(registry_urls=[slow_registry.url] * 4, max_workers=max_workers, timeout=5)
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
        probe = only_probe(check(registry_urls=[server.url], retries=retries, timeout=5))  # room for the back-off
    finally:
        server.close()
    assert (probe['reachable'], probe['attempts']) == (reachable, attempts)


def test_a_4xx_answer_is_final(plain_web_server):
    before = len(plain_web_server.requests)
    probe = only_probe(check(registry_urls=[plain_web_server.url], retries=3))
    assert probe['attempts'] == 1
    assert len(plain_web_server.requests) == before + 1


def test_no_answer_is_retried(closed_port):
    # 0.2 s and 0.4 s of back-off must fit in the deadline.
    assert only_probe(check(registry_urls=[closed_port], retries=2, timeout=5))['attempts'] == 3


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
    def exploding_fetch(url, deadline, credentials=None, body_limit=0):
        raise RuntimeError('fetch broke for %s as %s' % (url, ':'.join(credentials)))
    probe = only_probe(check(exploding_fetch, registry_urls=['https://u:Pw0rd@mirror.example.com']))
    assert probe['reachable'] is False
    assert probe['error'] == 'RuntimeError: fetch broke for https://mirror.example.com/v2/ as ***'


@pytest.mark.parametrize('base, suffix, joined', [
    ('https://a.example', 'v2/', 'https://a.example/v2/'),
    ('https://a.example/', 'v2/', 'https://a.example/v2/'),
    ('https://a.example/go/?token=t', 'x/@v/list', 'https://a.example/go/x/@v/list?token=t'),
])
def test_join_url_keeps_the_query(base, suffix, joined):
    assert join_url(base, suffix) == joined


# ---------------------------------------------------------------------------
# timeout is a deadline per probe, whatever the server does
# ---------------------------------------------------------------------------

def bounded(function, limit):
    """Run ``function`` in a thread; fail (instead of hanging) when it has not returned after ``limit`` seconds."""
    box = {}

    def call():
        box['result'] = function()

    started = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), 'still running after %gs' % limit
    return box['result'], time.monotonic() - started


@pytest.fixture
def raw_server():
    """Start RawServers with a script; all of them are closed after the test."""
    servers = []

    def start(script, tls_context=None):
        servers.append(RawServer(script, tls_context))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize('script, least_sent', [
    (trickle_headers, len('HTTP/1.1 200 OK\r\nX-Trickle')),   # some header bytes went out, and more kept coming
    (endless_continue, 3 * len('HTTP/1.1 100 Continue\r\n\r\n')),
])
def test_a_server_that_keeps_talking_is_cut_off_at_the_deadline(raw_server, script, least_sent):
    server = raw_server(script)
    report, elapsed = bounded(lambda: check(registry_urls=[server.url], timeout=1, retries=2), 10)
    probe = only_probe(report)
    assert (probe['reachable'], probe['status'], probe['error']) == (False, None, 'timed out after 1s')
    assert probe['attempts'] == 1  # the deadline holds the retries too
    assert server.sent >= least_sent
    assert elapsed < 3 * 1


def test_a_trickled_redirect_body_is_not_waited_for(raw_server, goproxy):
    # The answer after the redirect comes at once, so the probe must not be reading the 302's body.
    server = raw_server(redirect_with_trickled_body(goproxy.url + '/corp.example.com/platform/lib/@v/list'))
    report, dummy = bounded(lambda: check(goproxy_urls=[server.url], probe_module=PRIVATE_MODULE, timeout=2), 10)
    probe = only_probe(report)
    assert (probe['reachable'], probe['status'], probe['error']) == (True, 200, None)
    assert probe['redirected_to'] == goproxy.url + '/corp.example.com/platform/lib/@v/list'


def test_a_black_hole_gets_one_deadline_for_all_its_retries(black_hole):
    report, elapsed = bounded(lambda: check(registry_urls=[black_hole.url], timeout=1, retries=5), 10)
    probe = only_probe(report)
    assert (probe['error'], probe['attempts']) == ('timed out after 1s', 1)
    assert black_hole.accepted == 1
    assert elapsed < 3 * 1


def test_a_probe_blocked_beyond_any_socket_timeout_is_left_behind():
    # As a thread stuck in name resolution: no socket to shut, so the check stops waiting for it.
    release = threading.Event()

    def stuck_fetch(url, deadline, credentials=None, body_limit=0):
        release.wait(60)
        raise RuntimeError('released')

    try:
        report, elapsed = bounded(lambda: check(stuck_fetch, registry_urls=['http://mirror.invalid'], timeout=0.5), 10)
    finally:
        release.set()
    assert only_probe(report)['error'] == 'timed out after 0.5s'
    assert elapsed < 3 * 0.5


def test_probes_queued_behind_max_workers_share_the_end_of_the_whole_check():
    holes = [BlackHole() for dummy in range(6)]
    try:
        report, elapsed = bounded(lambda: check(registry_urls=[hole.url for hole in holes], timeout=0.5,
                                                max_workers=2), 10)
    finally:
        for hole in holes:
            hole.close()
    errors = [probe['error'] for probe in report['probes']]
    # The first two get the whole timeout; later ones only what is left of 1.5 x 0.5 s; then nothing starts.
    assert errors[:2] == ['timed out after 0.5s'] * 2
    not_started = 'not started: no worker was free before the end of the whole check (1.5 x timeout of 0.5s, ' \
                  '6 probes, max_workers 2)'
    assert errors[-2:] == [not_started] * 2
    for error in errors[2:4]:
        assert error == not_started or (error.startswith('timed out after ') and error.endswith(
            ', what was left of the whole check (1.5 x timeout, with more probes than max_workers)'))
    assert [probe['attempts'] for probe in report['probes']][-2:] == [0, 0]
    assert sum(hole.accepted for hole in holes) <= 4
    assert elapsed < 3 * 1.5 * 0.5  # the documented bound is 1.5 x timeout


def test_fast_probes_queued_behind_max_workers_still_run(mirror_server):
    server = mirror_server({'/v2/': Answer(200, API_VERSION)}, delay=0.05)
    report = check(registry_urls=[server.url] * 6, max_workers=1, timeout=5)
    assert [probe['reachable'] for probe in report['probes']] == [True] * 6
    assert server.most_in_flight == 1


def test_retries_back_off_and_stop_before_the_deadline(closed_port):
    probe = only_probe(check(registry_urls=[closed_port], timeout=1, retries=10))
    # 0.2 s before the second try, 0.4 s before the third; the fourth would wait until 1.4 s, past the deadline.
    assert probe['error'] == 'connection refused'
    assert 2 <= probe['attempts'] <= 3


def test_retries_wait_longer_each_time():
    server = MirrorServer({'/v2/': Answer(503)})
    try:
        probe = only_probe(check(registry_urls=[server.url], timeout=5, retries=2))
    finally:
        server.close()
    assert probe['attempts'] == 3
    first, second, third = (request.at for request in server.requests)
    assert second - first >= 0.2
    assert third - second >= 0.4


# ---------------------------------------------------------------------------
# A probe reads little
# ---------------------------------------------------------------------------

HUGE = 200 * 1024 * 1024


def test_a_redirect_body_is_never_read(raw_server, goproxy):
    server = raw_server(stream_body('302 Found', {'Location': goproxy.url + '/'}, HUGE))
    answer = build_fetch()(server.url + '/', Deadline(5))
    assert (answer.status, answer.body) == (302, b'')
    assert answer.received < 64 * 1024
    probe = only_probe(check(goproxy_urls=[server.url], timeout=5))
    assert (probe['reachable'], probe['redirected_to']) == (True, goproxy.url + '/')
    # The kernel's socket buffers take a few MB before the server blocks; nobody read the 200 MB.
    assert server.sent < 32 * 1024 * 1024


def test_a_registry_body_is_read_up_to_its_cap_only(raw_server):
    server = raw_server(stream_body('200 OK', {'Content-Type': 'application/json'}, HUGE))
    answer = build_fetch()(server.url + '/v2/', Deadline(5), body_limit=REGISTRY_BODY_LIMIT)
    assert (len(answer.body), answer.body_truncated) == (REGISTRY_BODY_LIMIT, True)
    assert answer.received < 2 * REGISTRY_BODY_LIMIT
    probe = only_probe(check(registry_urls=[server.url], timeout=5))
    assert probe['reachable'] is False
    assert probe['error'] == ('answered HTTP 200 without the Docker-Distribution-API-Version header and with a body '
                              'larger than 64 KiB: a web server, not the Registry HTTP API v2')
    assert server.sent < 32 * 1024 * 1024


def test_endless_headers_are_refused_past_their_cap(raw_server):
    def flood(server, connection, path):
        server.send(connection, b'HTTP/1.1 200 OK\r\n')
        while True:
            server.send(connection, b'X-Flood: ' + b'f' * 1000 + b'\r\n')

    server = raw_server(flood)
    probe = only_probe(check(registry_urls=[server.url], timeout=5))
    assert probe['reachable'] is False
    assert probe['error'] in ("sent more than 64 KiB of status lines and headers: not a mirror's answer",
                              'no valid HTTP answer: HTTPException')  # http.client's own limit of 100 headers


# ---------------------------------------------------------------------------
# Redirects
# ---------------------------------------------------------------------------

@pytest.fixture
def mirror_server():
    """Start MirrorServers; all of them are closed after the test."""
    servers = []

    def start(*args, **kwargs):
        servers.append(MirrorServer(*args, **kwargs))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def test_an_https_to_http_redirect_is_never_followed(mirror_server, tls_files, goproxy):
    tls_proxy = mirror_server(default=Answer(302, {'Location': goproxy.url + '/'}),
                              tls_context=tls_files.server_context())
    before = len(goproxy.requests)
    probe = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), goproxy_urls=[tls_proxy.url]))
    assert (probe['reachable'], probe['status'], probe['redirected_to']) == (False, 302, None)
    assert probe['error'] == 'redirected from https to http (%s/); a downgrade is never followed' % goproxy.url
    assert len(goproxy.requests) == before


@pytest.mark.parametrize('location', ['file:///etc/passwd', 'ftp://127.0.0.1/goproxy', 'gopher://127.0.0.1/'])
def test_a_redirect_to_another_scheme_is_never_followed(mirror_server, location):
    server = mirror_server(default=Answer(301, {'Location': location}))
    probe = only_probe(check(goproxy_urls=[server.url]))
    assert (probe['reachable'], probe['status']) == (False, 301)
    assert probe['error'] == 'redirected to %s, which is not an http or https URL with a host; not followed' % location


def test_a_registry_does_not_follow_a_redirect_to_another_host(mirror_server, registry):
    elsewhere = mirror_server({'/v2/': Answer(302, {'Location': registry.url + '/v2/'})})
    before = len(registry.requests)
    probe = only_probe(check(registry_urls=[elsewhere.url]))
    assert (probe['reachable'], probe['status']) == (False, 302)
    assert probe['error'] == ('redirected to another host (%s/v2/); a registry mirror must answer /v2/ itself, so a '
                              'redirect to another host is not followed' % registry.url)
    assert len(registry.requests) == before


def test_a_registry_follows_a_redirect_on_its_own_host(mirror_server):
    server = mirror_server({'/v2/': Answer(301, {'Location': '/hub/v2/'}), '/hub/v2/': Answer(200, API_VERSION, b'{}')})
    probe = only_probe(check(registry_urls=[server.url]))
    assert (probe['reachable'], probe['redirected_to']) == (True, server.url + '/hub/v2/')


def test_goproxy_follows_a_redirect_to_another_host_without_the_credentials(mirror_server, goproxy):
    list_path = '/corp.example.com/platform/lib/@v/list'
    front = mirror_server({list_path: Answer(302, {'Location': goproxy.url + list_path + '?X-Amz-Signature=S1gn'})})
    url = front.url.replace('http://', 'http://ci-bot:Pw4Front@')
    report = check(goproxy_urls=[url], probe_module=PRIVATE_MODULE)
    probe = only_probe(report)
    assert (probe['reachable'], probe['status'], probe['error']) == (True, 200, None)
    assert probe['redirected_to'] == goproxy.url + list_path + '?X-Amz-Signature=***'
    assert front.requests[-1].headers['Authorization'] == 'Basic ' + base64.b64encode(b'ci-bot:Pw4Front').decode()
    assert 'Authorization' not in goproxy.requests[-1].headers
    assert 'Pw4Front' not in repr(report) and 'S1gn' not in repr(report)


def test_gosumdb_follows_a_redirect_to_another_host(mirror_server, sumdb):
    front = mirror_server({'/latest': Answer(307, {'Location': sumdb.url + '/latest'})})
    database = only_probe(check(sumdb=parse_gosumdb(GO_KEY + ' ' + front.url)))
    assert (database['reachable'], database['redirected_to']) == (True, sumdb.url + '/latest')


def test_credentials_follow_a_redirect_on_the_same_host_only(mirror_server):
    server = mirror_server({'/old/v2/': Answer(308, {'Location': '/new/v2/'}), '/new/v2/': Answer(401, API_VERSION)})
    url = server.url.replace('http://', 'http://robot%40corp:p%2Fss@') + '/old/'
    probe = only_probe(check(registry_urls=[url]))
    assert (probe['reachable'], probe['redirected_to']) == (True, server.url + '/new/v2/')
    expected = 'Basic ' + base64.b64encode(b'robot@corp:p/ss').decode()  # percent-decoded, as Ansible does
    assert [request.headers.get('Authorization') for request in server.requests] == [expected, expected]


def test_redirects_are_capped(mirror_server):
    server = mirror_server(default=Answer(302, {'Location': '/again'}))
    probe = only_probe(check(goproxy_urls=[server.url]))
    assert probe['reachable'] is False
    assert probe['error'] == 'more than 5 redirects (the last to %s/again); not followed' % server.url
    assert len(server.requests) == 6


# ---------------------------------------------------------------------------
# A registry mirror answers like a registry
# ---------------------------------------------------------------------------

HTML = {'Content-Type': 'text/html'}


@pytest.mark.parametrize('answer, reachable, error', [
    # what Debian's docker-registry 2.8 sends (Go spells the header this way)
    (Answer(200, {'Docker-Distribution-Api-Version': 'registry/2.0',
                  'Content-Type': 'application/json; charset=utf-8'}, b'{}'), True, None),
    (Answer(401, API_VERSION, b'{"errors":[]}'), True, None),
    (Answer(200, {'Content-Type': 'application/json'}, b'{}'), True, None),   # no header, but a registry's body
    (Answer(200, HTML, b'<html>It works!</html>'), False,
     'answered HTTP 200 without the Docker-Distribution-API-Version header and with a body that is not a JSON object '
     '(text/html): a web server, not the Registry HTTP API v2'),
    (Answer(200, {}, b'[]'), False,
     'answered HTTP 200 without the Docker-Distribution-API-Version header and with a body that is not a JSON '
     'object: a web server, not the Registry HTTP API v2'),
    (Answer(401, {'WWW-Authenticate': 'Basic realm="intranet"'}), False,
     'answered HTTP 401 without the Docker-Distribution-API-Version header: a login page, not the Registry HTTP '
     'API v2'),
])
def test_a_registry_mirror_must_answer_like_a_registry(mirror_server, answer, reachable, error):
    server = mirror_server({'/v2/': answer})
    probe = only_probe(check(registry_urls=[server.url]))
    assert (probe['reachable'], probe['status'], probe['error']) == (reachable, answer.status, error)


# ---------------------------------------------------------------------------
# Proxies, as Ansible's URL layer uses them
# ---------------------------------------------------------------------------

def test_https_through_a_proxy_goes_through_a_connect_tunnel(monkeypatch, tls_registry, tls_files):
    proxy = TunnelProxy()
    monkeypatch.setenv('HTTPS_PROXY', proxy.url.replace('http://', 'http://egress:Pr%40xy@'))
    try:
        probe = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), registry_urls=[tls_registry.url]))
    finally:
        proxy.close()
    assert (probe['reachable'], probe['api_version']) == (True, 'registry/2.0')
    assert [tunnel.path for tunnel in proxy.tunnels] == [tls_registry.url.replace('https://', '')]
    assert proxy.tunnels[0].headers['Proxy-Authorization'] == 'Basic ' + base64.b64encode(b'egress:Pr@xy').decode()


def test_an_http_proxy_gets_its_credentials_and_never_the_mirrors(monkeypatch):
    forward_proxy = MirrorServer({'http://mirror.invalid/v2/': Answer(401, API_VERSION)})
    monkeypatch.setenv('http_proxy', forward_proxy.url.replace('http://', 'http://egress:Pr0xy@'))
    try:
        probe = only_probe(check(registry_urls=['http://mirror.invalid']))
    finally:
        forward_proxy.close()
    assert probe['reachable'] is True
    seen = forward_proxy.requests[0].headers
    assert seen['Proxy-Authorization'] == 'Basic ' + base64.b64encode(b'egress:Pr0xy').decode()
    assert 'Authorization' not in seen


def test_a_proxy_that_refuses_the_tunnel_is_named(monkeypatch, tls_files):
    proxy = TunnelProxy()
    monkeypatch.setenv('HTTPS_PROXY', proxy.url)
    try:
        probe = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), registry_urls=['https://mirror.invalid']))
    finally:
        proxy.close()
    assert probe['error'] == 'the proxy refused the tunnel: 403 Forbidden'
