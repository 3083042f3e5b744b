# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pypi and npm probes of module_utils/_probe.py against real servers on 127.0.0.1, through the module's fetch."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    NPM_ACCEPT,
    PACKAGE_BODY_LIMIT,
    PYPI_ACCEPT,
    check_mirrors,
    unmet_requirement,
)
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import build_fetch

from local_mirrors import Answer, BlackHole, MirrorServer

TIMEOUT = 1.0
PEP691 = {'Content-Type': 'application/vnd.pypi.simple.v1+json'}
HTML = {'Content-Type': 'text/html; charset=utf-8'}
WHEEL = 'pip-24.0-py3-none-any.whl'


def pep691(name='pip', files=None):
    files = [{'filename': WHEEL, 'url': '../../packages/' + WHEEL, 'hashes': {'sha256': '0' * 64}}] \
        if files is None else files
    return json.dumps({'meta': {'api-version': '1.1'}, 'name': name, 'files': files, 'versions': ['24.0']}).encode()


def pep503(links):
    anchors = ''.join('<a href="%s">%s</a>\n' % (href, href.rsplit('/', 1)[-1]) for href in links)
    return ('<!DOCTYPE html><html><body><h1>Links for pip</h1>\n%s</body></html>' % anchors).encode()


def packument(name='npm', versions=None):
    versions = {'10.0.0': {'name': name, 'version': '10.0.0', 'dist': {'tarball': 'x.tgz'}}} \
        if versions is None else versions
    return json.dumps({'name': name, 'dist-tags': {'latest': '10.0.0'}, 'versions': versions}).encode()


def one(report):
    assert len(report['probes']) == 1
    return report['probes'][0]


def check(**kwargs):
    kwargs.setdefault('timeout', TIMEOUT)
    return check_mirrors(build_fetch(), **kwargs)


@pytest.fixture
def index():
    server = MirrorServer()
    yield server
    server.close()


def serve(server, routes):
    server._server.routes.clear()  # pylint: disable=protected-access
    server._server.routes.update(routes)  # pylint: disable=protected-access


# ---------------------------------------------------------------------------
# pypi
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('answer', [
    Answer(200, PEP691, pep691()),
    Answer(200, HTML, pep503(['../../packages/%s#sha256=%s' % (WHEEL, '0' * 64), '/packages/pip-24.0.tar.gz'])),
    Answer(200, {'Content-Type': 'application/vnd.pypi.simple.v1+html'}, pep503(['https://files.example/' + WHEEL])),
], ids=['pep691-json', 'pep503-html', 'pep691-html'])
def test_a_simple_index_listing_the_project_is_reachable(index, answer):
    serve(index, {'/simple/pip/': answer})
    probe = one(check(pypi_indexes=[index.url + '/simple']))
    assert (probe['kind'], probe['reachable'], probe['status'], probe['error']) == ('pypi', True, 200, None)
    assert probe['package'] == 'pip'
    assert probe['request_url'] == index.url + '/simple/pip/'
    assert index.requests[-1].headers['Accept'] == PYPI_ACCEPT


def test_the_project_is_asked_for_by_its_normalised_name(index):
    serve(index, {'/simple/typing-extensions/': Answer(200, PEP691, pep691('typing_extensions'))})
    probe = one(check(pypi_indexes=[index.url + '/simple/'], pypi_project='Typing.Extensions'))
    assert probe['reachable'], probe['error']
    assert index.paths == ['/simple/typing-extensions/']


@pytest.mark.parametrize('answer, words', [
    (Answer(404, HTML, b'not found'), ['HTTP 404', 'simple-API page of pip']),
    (Answer(200, PEP691, pep691(files=[])), ['lists no files of pip']),
    (Answer(200, PEP691, pep691(name='setuptools')), ['another project (setuptools)']),
    (Answer(200, PEP691, b'<html>'), ['not JSON']),
    (Answer(200, PEP691, b'{"meta": {}}'), ['without a "files" list']),
    (Answer(200, HTML, pep503(['/login', '/help'])), ['2 links and none to a file of pip']),
    (Answer(200, {'Content-Type': 'application/json'}, pep691()), ["'application/json'", 'pip reads only']),
    (Answer(200, {}, pep691()), ['Content-Type none']),
    (Answer(401, {'WWW-Authenticate': 'Basic realm="pypi"'}, b''), ['asks for credentials (401)']),
])
def test_what_pip_could_not_install_from_is_unreachable(index, answer, words):
    serve(index, {'/simple/pip/': answer})
    report = check(pypi_indexes=[index.url + '/simple/'])
    probe = one(report)
    assert not probe['reachable']
    for word in words:
        assert word in probe['error']
    assert 'pypi' in unmet_requirement(report, 'all')


def test_a_page_larger_than_the_probe_reads_is_judged_by_its_start(index):
    padding = [{'filename': 'pip-%d.0.tar.gz' % number, 'url': 'x'} for number in range(40000)]
    big = pep691(files=padding)
    assert len(big) > PACKAGE_BODY_LIMIT
    big_empty = json.dumps({'files': [], 'meta': {'x': 'y' * (PACKAGE_BODY_LIMIT + 10)}}).encode()
    big_html = pep503(['/packages/pip-%d.0.tar.gz' % number for number in range(40000)])
    serve(index, {'/a/pip/': Answer(200, PEP691, big), '/b/pip/': Answer(200, PEP691, big_empty),
                  '/c/pip/': Answer(200, HTML, big_html),
                  '/d/pip/': Answer(200, PEP691, b'{"meta": "' + b'y' * (PACKAGE_BODY_LIMIT + 10) + b'"}')})
    # A generous deadline: reading four 1 MiB bodies is slow on a busy 2-core machine, and the start decides.
    probes = check(pypi_indexes=[index.url + path for path in ('/a', '/b', '/c', '/d')], timeout=10.0)['probes']
    assert [probe['reachable'] for probe in probes] == [True, False, True, False]
    assert 'lists no files' in probes[1]['error']
    assert 'holds no "files" list' in probes[3]['error']


def test_a_redirect_is_followed_as_pip_does(index):
    other = MirrorServer({'/simple/pip/': Answer(200, PEP691, pep691())})
    try:
        serve(index, {'/simple/pip/': Answer(301, {'Location': other.url + '/simple/pip/'})})
        probe = one(check(pypi_indexes=[index.url + '/simple/']))
        assert probe['reachable'], probe['error']
        assert probe['redirected_to'] == other.url + '/simple/pip/'
        assert other.requests[-1].headers['Accept'] == PYPI_ACCEPT
    finally:
        other.close()


def test_credentials_never_reach_the_report(index):
    serve(index, {'/simple/pip/': Answer(403, HTML, b'forbidden')})
    url = index.url.replace('://', '://ci:hunter2@') + '/simple/'
    report = check(pypi_indexes=[url])
    text = json.dumps(report)
    assert 'hunter2' not in text
    probe = one(report)
    assert probe['url'] == index.url.replace('://', '://***@') + '/simple/'
    assert 'refused the credentials in the URL (403)' in probe['error']
    assert index.requests[-1].headers['Authorization'].startswith('Basic ')


# ---------------------------------------------------------------------------
# npm
# ---------------------------------------------------------------------------

def test_a_registry_serving_the_packument_is_reachable(index):
    serve(index, {'/npm': Answer(200, {'Content-Type': 'application/vnd.npm.install-v1+json'}, packument()),
                  '/@corp%2ftool': Answer(200, {'Content-Type': 'application/json'}, packument('@corp/tool'))})
    report = check(npm_registries=[index.url + '/', (index.url, '@corp/tool')])
    assert [(probe['kind'], probe['reachable'], probe['package']) for probe in report['probes']] == [
        ('npm', True, 'npm'), ('npm', True, '@corp/tool')]
    assert index.paths == ['/npm', '/@corp%2ftool'] or sorted(index.paths) == ['/@corp%2ftool', '/npm']
    assert all(request.headers['Accept'] == NPM_ACCEPT for request in index.requests)
    assert report['reachable_urls']['npm'] == [index.url + '/', index.url]
    assert 'pypi' not in report['reachable_urls']


@pytest.mark.parametrize('answer, words', [
    (Answer(404, {}, b'{"error":"not found"}'), ['HTTP 404', 'packument of npm']),
    (Answer(200, {}, packument(versions={})), ['has no versions of npm']),
    (Answer(200, {}, packument('left-pad')), ['another package (left-pad)']),
    (Answer(200, {}, b'<html>welcome</html>'), ['not JSON']),
    (Answer(200, {}, b'{"name": "npm"}'), ['without a "versions" object']),
    (Answer(200, {}, b'{"versions": {}, "x": "' + b'y' * (PACKAGE_BODY_LIMIT + 10) + b'"}'), ['has no versions']),
    (Answer(200, {}, b'{"x": "' + b'y' * (PACKAGE_BODY_LIMIT + 10) + b'", "versions": {"1.0.0": {}}}'),
     ['start is not a packument']),
])
def test_what_npm_could_not_install_from_is_unreachable(index, answer, words):
    serve(index, {'/npm': answer})
    probe = one(check(npm_registries=[index.url], timeout=10.0))
    assert not probe['reachable']
    for word in words:
        assert word in probe['error']


def test_a_large_packument_is_judged_by_its_start(index):
    versions = dict(('1.0.%d' % number, {'description': 'x' * 100}) for number in range(12000))
    body = packument(versions=versions)
    assert len(body) > PACKAGE_BODY_LIMIT
    serve(index, {'/npm': Answer(200, {}, body)})
    assert one(check(npm_registries=[index.url], timeout=10.0))['reachable']


def test_npm_probes_do_not_read_netrc_but_pypi_probes_do(index, tmp_path, monkeypatch):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login ci password hunter2\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    serve(index, {'/npm': Answer(200, {}, packument()), '/simple/pip/': Answer(200, PEP691, pep691())})
    report = check(npm_registries=[index.url], pypi_indexes=[index.url + '/simple/'])
    assert all(probe['reachable'] for probe in report['probes'])
    seen = dict((request.path, request.headers) for request in index.requests)
    assert 'Authorization' not in seen['/npm']  # npm never reads ~/.netrc: a probe that did could pass where npm fails
    assert 'Authorization' in seen['/simple/pip/']  # pip does (requests reads ~/.netrc)


# ---------------------------------------------------------------------------
# Deadline and parallelism, shared with the other kinds
# ---------------------------------------------------------------------------

def test_black_holes_cost_one_deadline_together():
    hole = BlackHole()
    url = hole.url
    try:
        started = time.monotonic()
        report = check(pypi_indexes=[hole.url + '/simple/'], npm_registries=[hole.url, hole.url + '/other/'],
                       timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        hole.close()
    assert [probe['reachable'] for probe in report['probes']] == [False, False, False]
    assert all('timed out' in probe['error'] for probe in report['probes'])
    assert hole.most_open_at_once == 3  # in parallel, not one after the other
    assert elapsed < 3 * 0.5 * 1.5 + 1  # loosely: far below three deadlines in a row plus start-up
    assert report['unreachable_urls']['pypi'] == [url + '/simple/']
    assert 'pypi 0/1, npm 0/2' in report['msg']


def test_a_check_without_package_indexes_reports_as_before(index):
    report = check(registry_urls=[])
    assert set(report['reachable_urls']) == {'goproxy', 'gosumdb', 'registry'}


# ---------------------------------------------------------------------------
# require=any: npm registries grouped by probe package
# ---------------------------------------------------------------------------

def _item(kind, url, reachable, **extra):
    return dict(kind=kind, url=url, reachable=reachable, error=None if reachable else 'connection refused', **extra)


@pytest.mark.parametrize('items, message', [
    # two registries probed with npm are alternatives
    ([_item('npm', 'http://a', False, package='npm'), _item('npm', 'http://b', True, package='npm')], None),
    # a scope's registry probed with its own package is not an alternative to the main registry
    ([_item('npm', 'http://a', True, package='npm'), _item('npm', 'http://s', False, package='@corp/tool')],
     'no reachable npm (@corp/tool) mirror (require=any): npm http://s: connection refused'),
    # one package only: plain 'npm'; Docker Hub's mirrors stay plain 'registry' next to npm groups
    ([_item('registry', 'http://r', False, registry='docker.io'), _item('npm', 'http://a', False, package='npm'),
      _item('npm', 'http://s', True, package='@corp/tool')],
     'no reachable registry or npm (npm) mirror (require=any): registry http://r: connection refused; '
     'npm http://a: connection refused'),
    ([_item('registry', 'http://r', False, registry='docker.io'), _item('npm', 'http://a', False, package='npm')],
     'no reachable registry or npm mirror (require=any): registry http://r: connection refused; '
     'npm http://a: connection refused'),
    ([_item('pypi', 'http://p', False, package='pip'), _item('pypi', 'http://q', True, package='pip')], None),
])
def test_require_any_groups_npm_registries_by_probe_package(items, message):
    assert unmet_requirement({'probes': items}, 'any') == message
