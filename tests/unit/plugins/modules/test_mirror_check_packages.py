# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_check's pypi_indexes and npm_registries: the module run as on a host, against real servers on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from local_mirrors import PRIVATE_MODULE, Answer, BlackHole, MirrorServer

PEP691 = {'Content-Type': 'application/vnd.pypi.simple.v1+json'}
NPM_TYPE = {'Content-Type': 'application/vnd.npm.install-v1+json'}
WHEEL = 'pip-24.0-py3-none-any.whl'
PYPI_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'
NPM_ACCEPT = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'
SECRET = 'PkgIdxSecret9'


def pep691(name='pip'):
    return json.dumps({'meta': {'api-version': '1.1'}, 'name': name, 'versions': ['24.0'],
                       'files': [{'filename': WHEEL, 'url': '../../packages/' + WHEEL, 'hashes': {}}]}).encode()


def packument(name='npm'):
    return json.dumps({'name': name, 'dist-tags': {'latest': '1.0.0'},
                       'versions': {'1.0.0': {'name': name, 'version': '1.0.0'}}}).encode()


@pytest.fixture
def mirror():
    """One server that is a simple index (under /simple/) and an npm registry (at its root), as Verdaccio and devpi
    sit on one mirror host."""
    server = MirrorServer({
        '/simple/pip/': Answer(200, PEP691, pep691()),
        '/simple/typing-extensions/': Answer(200, PEP691, pep691('typing_extensions')),
        '/npm': Answer(200, NPM_TYPE, packument()),
        '/@corp%2ftool': Answer(200, NPM_TYPE, packument('@corp/tool')),
    })
    yield server
    server.close()


# ---------------------------------------------------------------------------
# Success, and the report's shape
# ---------------------------------------------------------------------------

def test_indexes_and_registries_answer_with_the_other_kinds(run_module, mirror, goproxy, registry):
    scope_item = {'url': mirror.url + '/', 'package': '@corp/tool'}
    run = run_module(goproxy=[goproxy.url], probe_module=PRIVATE_MODULE, registry_mirrors=[registry.url],
                     pypi_indexes=[mirror.url + '/simple'], npm_registries=[mirror.url, scope_item], timeout=2)
    assert run.rc == 0, run.stdout
    result = run.result
    assert result['msg'] == '5 of 5 mirrors reachable (goproxy 1/1, registry 1/1, pypi 1/1, npm 2/2)'
    # the caller's own strings, per kind; pypi and npm only because they were asked for
    assert result['reachable_urls'] == {'goproxy': [goproxy.url], 'gosumdb': [], 'registry': [registry.url],
                                        'pypi': [mirror.url + '/simple'], 'npm': [mirror.url, mirror.url + '/']}
    assert result['unreachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': [], 'pypi': [], 'npm': []}
    package_probes = [probe for probe in result['probes'] if probe['kind'] in ('pypi', 'npm')]
    assert [(probe['kind'], probe['index'], probe['package'], probe['request_url']) for probe in package_probes] == [
        ('pypi', 0, 'pip', mirror.url + '/simple/pip/'),
        ('npm', 0, 'npm', mirror.url + '/npm'),
        ('npm', 1, '@corp/tool', mirror.url + '/@corp%2ftool')]
    seen = dict((request.path, request.headers['Accept']) for request in mirror.requests)
    assert seen == {'/simple/pip/': PYPI_ACCEPT, '/npm': NPM_ACCEPT, '/@corp%2ftool': NPM_ACCEPT}
    assert all('package' not in probe for probe in result['probes'] if probe['kind'] not in ('pypi', 'npm'))


def test_only_package_indexes_and_probe_packages_of_ones_own(run_module, mirror):
    run = run_module(pypi_indexes=[mirror.url + '/simple/'], pypi_probe_package='Typing.Extensions',
                     npm_registries=[mirror.url], npm_probe_package='@corp/tool')
    assert run.rc == 0, run.stdout
    assert sorted(mirror.paths) == ['/@corp%2ftool', '/simple/typing-extensions/']
    assert [probe['package'] for probe in run.result['probes']] == ['typing-extensions', '@corp/tool']
    assert set(run.result['reachable_urls']) == {'goproxy', 'gosumdb', 'registry', 'pypi', 'npm'}


def test_one_kind_alone_names_only_that_kind(run_module, mirror):
    run = run_module(npm_registries=[mirror.url])
    assert run.rc == 0, run.stdout
    assert run.result['reachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': [], 'npm': [mirror.url]}
    assert run.result['msg'] == '1 of 1 mirrors reachable (npm 1/1)'


def test_a_check_without_them_returns_what_it_returned_before(run_module, registry):
    run = run_module(registry_mirrors=[registry.url])
    assert run.rc == 0, run.stdout
    assert run.result['reachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': [registry.url]}
    assert run.result['unreachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': []}
    assert set(run.result['probes'][0]) == {'kind', 'index', 'url', 'request_url', 'reachable', 'status', 'latency_ms',
                                            'error', 'attempts', 'redirected_to', 'api_version', 'registry', 'image',
                                            'digest'}


def test_check_mode_probes_all_the_same(run_module, mirror):
    run = run_module(check_mode=True, pypi_indexes=[mirror.url + '/simple/'])
    assert run.rc == 0
    assert run.result['changed'] is False
    assert mirror.paths == ['/simple/pip/']


# ---------------------------------------------------------------------------
# require, and what is unreachable
# ---------------------------------------------------------------------------

def test_require_all_lists_each_index_and_registry_that_fails(run_module, mirror, closed_port):
    run = run_module(pypi_indexes=[mirror.url + '/other/'], npm_registries=[closed_port, mirror.url], timeout=1)
    assert run.rc == 1
    assert run.result['msg'] == (
        '2 of 3 mirrors unreachable (require=all): pypi %s/other/: answered HTTP 404, expected 200 with the '
        'simple-API page of pip; npm %s: connection refused' % (mirror.url, closed_port))
    assert run.result['unreachable_urls']['pypi'] == [mirror.url + '/other/']
    assert run.result['unreachable_urls']['npm'] == [closed_port]
    assert run.result['reachable_urls']['npm'] == [mirror.url]


def test_require_any_takes_registries_with_the_same_package_as_alternatives(run_module, mirror, closed_port):
    run = run_module(npm_registries=[closed_port, mirror.url], pypi_indexes=[closed_port, mirror.url + '/simple/'],
                     require='any', timeout=1)
    assert run.rc == 0, run.result['msg']
    assert run.result['unreachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': [], 'pypi': [closed_port],
                                              'npm': [closed_port]}


def test_require_any_needs_a_scope_registry_of_its_own(run_module, mirror, closed_port):
    # The main registry answers, the scope's does not: npm would fail for every @corp package.
    run = run_module(npm_registries=[mirror.url, {'url': closed_port, 'package': '@corp/tool'}], require='any',
                     timeout=1)
    assert run.rc == 1
    assert run.result['msg'] == ('no reachable npm (@corp/tool) mirror (require=any): npm %s: connection refused'
                                 % closed_port)


def test_require_any_fails_when_every_index_fails(run_module, mirror, closed_port):
    run = run_module(pypi_indexes=[closed_port], npm_registries=[mirror.url], require='any', timeout=1)
    assert run.rc == 1
    assert run.result['msg'] == 'no reachable pypi mirror (require=any): pypi %s: connection refused' % closed_port


def test_require_none_never_fails(run_module, closed_port):
    run = run_module(pypi_indexes=[closed_port], npm_registries=[closed_port], require='none', timeout=1)
    assert run.rc == 0
    assert run.result['msg'] == '0 of 2 mirrors reachable (pypi 0/1, npm 0/1)'


def test_one_deadline_for_every_kind_probed_in_parallel(run_module, goproxy):
    hole = BlackHole()
    try:
        started = time.monotonic()
        run = run_module(goproxy=[hole.url], registry_mirrors=[hole.url], pypi_indexes=[hole.url + '/simple/'],
                         npm_registries=[hole.url, {'url': hole.url + '/scope/', 'package': '@corp/tool'}],
                         timeout=1, retries=2)
        elapsed = time.monotonic() - started
        most_open = hole.most_open_at_once
    finally:
        hole.close()
    assert run.rc == 1
    assert [(probe['kind'], probe['error']) for probe in run.result['probes']] == [
        ('goproxy', 'timed out after 1s'), ('registry', 'timed out after 1s'), ('pypi', 'timed out after 1s'),
        ('npm', 'timed out after 1s'), ('npm', 'timed out after 1s')]
    assert most_open == 5  # all at once, not one kind after the other
    # One deadline (1 s) for the five probes, plus starting Python and Ansible's module code: loosely bounded,
    # far below five deadlines in a row.
    assert elapsed < 5 * 1 + 10


# ---------------------------------------------------------------------------
# Bad input: refused before anything is probed, naming the option
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('module_args, message', [
    ({'pypi_indexes': []}, 'pypi_indexes is an empty list; give at least one simple index URL, or leave it out'),
    ({'npm_registries': []}, 'npm_registries is an empty list; give at least one registry URL, or leave it out'),
    ({'pypi_indexes': ['pypi.corp.example/simple/']}, "pypi_indexes entry 'pypi.corp.example/simple/' has no scheme"),
    ({'pypi_indexes': ['ftp://pypi.corp.example/simple/']}, "pypi_indexes entry 'ftp://pypi.corp.example/simple/' "
                                                            "has scheme 'ftp'"),
    ({'pypi_indexes': ['https://pypi.corp.example/simple/\n']}, "pypi_indexes entry "
                                                                "'https://pypi.corp.example/simple/\\n' contains a newline"),
    ({'pypi_indexes': ['https://pypi.corp.example/simple/?x=1']}, 'has a query'),
    ({'pypi_indexes': ['https://pypi.corp.example/simple/#x']}, "contains '#'"),
    ({'pypi_indexes': ['https://pypi.corp.example/a;b/']}, "pypi_indexes entry 'https://pypi.corp.example/a;b/' "
                                                           "contains a ';'"),
    ({'pypi_indexes': ['https://p.example/simple', 'https://p.example/simple/']},
     "pypi_indexes entry 'https://p.example/simple/' is given twice; name each index once"),
    ({'pypi_indexes': ['']}, 'pypi_indexes entry is empty'),  # (ansible-core 2.19 also turns a None into '')
    ({'pypi_indexes': ['https://p.example/simple/'], 'pypi_probe_package': '-pip'},
     "pypi_probe_package '-pip' is not a Python project name"),
    ({'npm_registries': ['https://npm.example/'], 'npm_probe_package': 'NPM'},
     "npm_probe_package 'NPM' is not an npm package name"),
    ({'npm_registries': ['npm.example']}, "npm_registries entry 'npm.example' has no scheme"),
    ({'npm_registries': ['https://npm.example/${HOME}/']}, "contains a '$'"),
    ({'npm_registries': [{'url': 'https://npm.example/', 'package': 'corp/tool'}]},
     "npm_registries[0].package 'corp/tool' is not an npm package name"),
    ({'npm_registries': ['https://npm.example/', {'package': '@corp/tool'}]},
     'npm_registries[1] has no url; an item is a URL or a mapping with url and, optionally, package'),
    ({'npm_registries': [{'url': 'https://npm.example/', 'scope': '@corp'}]},
     "npm_registries[0] has the unknown key(s) 'scope'"),
    ({'npm_registries': [{'url': 'https://npm.example/?q'}]}, "npm_registries[0].url 'https://npm.example/?q' has a query"),
    ({'npm_registries': [42]}, 'npm_registries[0] must be a URL or a mapping with url and package, got 42 (a'),
    ({'npm_registries': ['https://npm.example', {'url': 'https://npm.example/'}]},
     "npm_registries entry 'https://npm.example/' is given twice with the probe package npm"),
    ({'timeout': 3}, 'one of the following is required: goproxy, gosumdb, registry_mirrors, registries, pypi_indexes, '
                     'npm_registries'),
    ({'registries': {}}, 'give at least one of goproxy, gosumdb, registry_mirrors, registries, pypi_indexes and '
                         'npm_registries'),
])
def test_bad_input_is_refused_naming_the_option(run_module, module_args, message):
    run = run_module(**module_args)
    assert run.rc == 1
    assert run.result['failed'] is True
    assert message in run.result['msg']
    assert 'probes' not in run.result  # nothing was probed


def test_the_same_registry_with_two_packages_is_two_probes(run_module, mirror):
    run = run_module(npm_registries=[mirror.url, {'url': mirror.url, 'package': '@corp/tool'}])
    assert run.rc == 0, run.stdout
    assert run.result['reachable_urls']['npm'] == [mirror.url, mirror.url]


def test_http_needs_no_opt_in_for_a_probe(run_module, mirror):
    # The roles' filters refuse http:// without <role>_allow_http; the gate only reads, and the lab mirrors are http.
    assert mirror.url.startswith('http://')
    assert run_module(pypi_indexes=[mirror.url + '/simple/'], npm_registries=[mirror.url]).rc == 0


# ---------------------------------------------------------------------------
# Credentials: refused (the files are world-readable), never printed
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('module_args', [
    {'pypi_indexes': ['https://ci:%s@pypi.corp.example/simple/' % SECRET]},
    {'pypi_indexes': ['https://pypi.corp.example/simple/', 'https://%s@pypi2.corp.example/simple/' % SECRET]},
    {'npm_registries': ['https://ci:%s@npm.corp.example/' % SECRET]},
    {'npm_registries': [{'url': 'https://ci:%s@npm.corp.example/' % SECRET, 'package': '@corp/tool'}]},
], ids=['pypi-userinfo', 'pypi-token-userinfo', 'npm-userinfo', 'npm-item-userinfo'])
def test_credentials_are_refused_and_never_printed(run_module, module_args):
    run = run_module(**module_args)
    assert run.rc == 1
    assert 'carries credentials' in run.result['msg']
    assert SECRET not in run.stdout and SECRET not in run.stderr
    assert 'probes' not in run.result


def test_a_secret_query_parameter_is_refused_and_never_printed(run_module):
    run = run_module(npm_registries=['https://npm.corp.example/?token=' + SECRET],
                     pypi_indexes=['https://pypi.corp.example/simple/?access_token=' + SECRET])
    assert run.rc == 1
    assert SECRET not in run.stdout and SECRET not in run.stderr


def test_ansible_doc_documents_the_new_options(ansible_cli):
    rc, stdout, stderr = ansible_cli('ansible-doc', '--json', 'buildfleet.mirrors.mirror_check')
    assert rc == 0, stderr
    doc = json.loads(stdout)['buildfleet.mirrors.mirror_check']
    options = doc['doc']['options']
    assert options['pypi_probe_package']['default'] == 'pip'
    assert options['npm_probe_package']['default'] == 'npm'
    assert (options['npm_registries']['type'], options['npm_registries']['elements']) == ('list', 'raw')
    assert (options['pypi_indexes']['type'], options['pypi_indexes']['elements']) == ('list', 'str')
    returned = doc['return']
    assert {'pypi', 'npm'} <= set(returned['probes']['contains']['kind']['choices'])
    assert 'package' in returned['probes']['contains']
    for key in ('reachable_urls', 'unreachable_urls'):
        assert {'pypi', 'npm'} <= set(returned[key]['contains'])
    assert 'npm_registries:' in doc['examples'] and 'pypi_indexes:' in doc['examples']
