# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The whole module: JSON arguments in, JSON result out, in a process of its own.

Most tests run the module file the way Ansible runs it on a host (arguments
file in, JSON on stdout); a few go through the real ``ansible`` command line,
to show what a user sees (host status, check mode, masking).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from local_mirrors import (
    API_VERSION,
    PRIVATE_MODULE,
    Answer,
    BlackHole,
    MirrorServer,
    RawServer,
    endless_continue,
    redirect_with_trickled_body,
    trickle_headers,
)
from registry_server import MANIFEST_DIGEST, TOKEN, RegistryServer, TokenServer

SECRET_PASSWORD = 'Hunter2Secret'
SECRET_TOKEN = 'TokQ9Z8Y7'
STATUS_KEYS = {'failed', 'changed', 'skipped', 'unreachable', 'results'}


def data_keys(value):
    """Every dict key at any depth."""
    if isinstance(value, dict):
        return set(value) | set().union(set(), *(data_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(data_keys(item) for item in value))
    return set()


def with_credentials(url):
    return url.replace('http://', 'http://builder:%s@' % SECRET_PASSWORD) + '/?token=' + SECRET_TOKEN


# ---------------------------------------------------------------------------
# Success, failure, check mode
# ---------------------------------------------------------------------------

def test_every_mirror_answers(run_module, goproxy, registry, registry_login):
    run = run_module(goproxy=[goproxy.url, 'direct'], probe_module=PRIVATE_MODULE, gosumdb='sum.golang.org',
                     registry_mirrors=[registry.url, registry_login.url], timeout=2)
    assert run.rc == 0, run.stdout
    result = run.result
    assert result['changed'] is False
    assert 'failed' not in result
    assert result['msg'] == '4 of 4 mirrors reachable (goproxy 1/1, gosumdb 1/1, registry 2/2)'
    assert result['reachable_urls'] == {'goproxy': [goproxy.url], 'gosumdb': ['https://sum.golang.org'],
                                        'registry': [registry.url, registry_login.url]}
    assert result['unreachable_urls'] == {'goproxy': [], 'gosumdb': [], 'registry': []}
    assert [probe['kind'] for probe in result['probes']] == ['goproxy', 'gosumdb', 'registry', 'registry']


def test_result_never_uses_ansible_status_keys_as_data(run_module, goproxy, closed_port, registry):
    run = run_module(goproxy=[goproxy.url, closed_port], gosumdb='sum.golang.org', registry_mirrors=[registry.url],
                     require='none', timeout=1)
    assert run.rc == 0
    data = dict((key, run.result[key]) for key in ('probes', 'reachable_urls', 'unreachable_urls'))
    assert not data_keys(data) & STATUS_KEYS
    assert not set(run.result) & {'unreachable', 'skipped', 'results'}


def test_require_all_fails_and_lists_each_unreachable_url(run_module, goproxy, closed_port, black_hole):
    run = run_module(goproxy=[goproxy.url, closed_port], registry_mirrors=[black_hole.url], timeout=1)
    assert run.rc == 1
    assert run.result['failed'] is True
    assert run.result['msg'] == ('2 of 3 mirrors unreachable (require=all): goproxy %s: connection refused; '
                                 'registry %s: timed out after 1s' % (closed_port, black_hole.url))
    # the report comes with the failure, for a role that wants to say more
    assert run.result['unreachable_urls']['registry'] == [black_hole.url]
    assert run.result['changed'] is False


@pytest.mark.parametrize('require, fails', [('all', True), ('any', False), ('none', False)])
def test_require_levels(run_module, goproxy, closed_port, require, fails):
    run = run_module(goproxy=[closed_port, goproxy.url], require=require, timeout=1)
    assert (run.rc == 1) is fails
    assert run.result['unreachable_urls']['goproxy'] == [closed_port]


def test_require_any_fails_when_a_kind_has_no_answer(run_module, goproxy, closed_port):
    run = run_module(goproxy=[goproxy.url], registry_mirrors=[closed_port], require='any', timeout=1)
    assert run.rc == 1
    assert run.result['msg'] == 'no reachable registry mirror (require=any): registry %s: connection refused' % closed_port


def test_check_mode_probes_all_the_same(run_module, registry):
    before = len(registry.requests)
    run = run_module(check_mode=True, registry_mirrors=[registry.url])
    assert run.rc == 0
    assert run.result['changed'] is False
    assert run.result['probes'][0]['reachable'] is True
    assert len(registry.requests) == before + 1


def test_goproxy_string_with_keywords_is_probed_entry_by_entry(run_module, goproxy, plain_web_server):
    run = run_module(goproxy='%s|%s,off' % (goproxy.url, plain_web_server.url), probe_module=PRIVATE_MODULE,
                     require='none')
    assert [(probe['index'], probe['reachable']) for probe in run.result['probes']] == [(0, True), (1, False)]


def test_tls_through_the_module(run_module, tls_registry, tls_files):
    assert run_module(registry_mirrors=[tls_registry.url], ca_path=tls_files.ca_cert).rc == 0
    failed = run_module(registry_mirrors=[tls_registry.url])
    assert failed.rc == 1
    assert 'TLS certificate verification failed' in failed.result['msg']


# ---------------------------------------------------------------------------
# Credentials never printed
# ---------------------------------------------------------------------------

def assert_no_secret(run):
    for secret in (SECRET_PASSWORD, SECRET_TOKEN, 'builder:'):
        assert secret not in run.stdout
        assert secret not in run.stderr


def test_credentials_are_never_printed_on_success(run_module, goproxy):
    run = run_module(goproxy=[with_credentials(goproxy.url)], probe_module=PRIVATE_MODULE)
    assert run.rc == 0
    assert_no_secret(run)
    assert goproxy.requests[-1].path.endswith('?token=' + SECRET_TOKEN)  # it was sent all the same
    assert run.result['reachable_urls']['goproxy'] == [goproxy.url.replace('http://', 'http://***@') + '/?token=***']
    assert run.result['invocation']['module_args']['goproxy'] == [
        goproxy.url.replace('http://', 'http://********@') + '/?token=********']


def test_credentials_are_never_printed_on_failure(run_module, closed_port):
    run = run_module(goproxy='%s|direct' % with_credentials(closed_port))
    assert run.rc == 1
    assert_no_secret(run)
    assert closed_port.replace('http://', 'http://***@') + '/?token=***: connection refused' in run.result['msg']


def sumdb_key(name):
    """A GOSUMDB verifier key whose hash matches its name and key, as Go's note package computes it."""
    key = bytes([1]) + bytes(range(32))  # algorithm 1 (Ed25519) and a 32-byte public key
    key_hash = hashlib.sha256(name.encode() + b'\n' + key).digest()[:4].hex()
    return '%s+%s+%s' % (name, key_hash, base64.b64encode(key).decode())


def test_credentials_of_every_url_in_a_value_are_never_printed(run_module, goproxy, sumdb):
    # The second GOPROXY entry, and the URL of GOSUMDB's "key url" form, carry credentials too.
    goproxy_value = '%s,%s|direct' % (goproxy.url, goproxy.url.replace('http://', 'http://ci:Gp2ndEntrySecret@'))
    gosumdb_value = '%s %s' % (sumdb_key('sum.corp.example.com'),
                               sumdb.url.replace('http://', 'http://sum:SumdbUrlSecret@'))
    run = run_module(goproxy=goproxy_value, gosumdb=gosumdb_value, require='none')
    assert run.rc == 0, run.stdout
    assert [probe['reachable'] for probe in run.result['probes']] == [True, True, True]
    for secret in ('Gp2ndEntrySecret', 'SumdbUrlSecret'):
        assert secret not in run.stdout and secret not in run.stderr
    assert run.result['invocation']['module_args']['goproxy'] == goproxy_value.replace('ci:Gp2ndEntrySecret', '********')


def test_credentials_of_every_url_are_never_printed_at_high_verbosity(ansible_cli, goproxy):
    args = json.dumps({'goproxy': '%s|%s' % (goproxy.url, goproxy.url.replace('http://', 'http://ci:VvvHiddenPw@')),
                       'timeout': 2})
    rc, stdout, stderr = ansible_cli('ansible', 'localhost', '-c', 'local', '-vvv', '-m',
                                     'buildfleet.mirrors.mirror_check', '-a', args)
    assert rc == 0, stderr
    assert 'VvvHiddenPw' not in stdout and 'VvvHiddenPw' not in stderr
    host, dummy = adhoc_result(stdout[stdout.index('\n{\n') + 1:])  # the JSON comes after -vvv's own lines
    assert host['invocation']['module_args']['goproxy'].endswith('|http://********@' + goproxy.url[len('http://'):])


def test_credentials_are_never_printed_when_the_input_is_refused(run_module):
    run = run_module(registry_mirrors=[with_credentials('http://mirror.example.com')])
    assert run.rc == 1
    assert_no_secret(run)
    assert 'carries credentials' in run.result['msg']


# ---------------------------------------------------------------------------
# The whole module ends by its deadline, whatever the mirrors do
# ---------------------------------------------------------------------------

def test_the_module_ends_by_its_deadline_whatever_the_mirrors_do(run_module, goproxy):
    misbehaving = [RawServer(trickle_headers), RawServer(endless_continue), BlackHole()]
    slow_redirect = RawServer(redirect_with_trickled_body('/v2/real', answers={
        '/v2/real': b'HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Length: 2\r\n\r\n{}'}))
    redirected_url = slow_redirect.url + '/v2/real'
    try:
        started = time.monotonic()
        run = run_module(registry_mirrors=[server.url for server in misbehaving] + [slow_redirect.url],
                         goproxy=[goproxy.url], timeout=1, retries=3)
        elapsed = time.monotonic() - started
    finally:
        for server in misbehaving + [slow_redirect]:
            server.close()
    assert run.rc == 1
    assert [(probe['kind'], probe['error']) for probe in run.result['probes']] == [
        ('goproxy', None)] + [('registry', 'timed out after 1s')] * 3 + [('registry', None)]
    assert run.result['probes'][-1]['redirected_to'] == redirected_url
    # One deadline (1 s) for all the probes, plus starting Python and Ansible's module code: loosely bounded.
    assert elapsed < 20


# ---------------------------------------------------------------------------
# Bad input: refused before anything is probed, with a clear message
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('module_args, message', [
    ({'goproxy': ['htp://proxy.example.com']}, "goproxy entry 'htp://proxy.example.com' has scheme 'htp'; use https, http or file"),
    ({'goproxy': 'https://'}, "goproxy entry 'https://' has no host"),
    ({'goproxy': 'http://[::1'}, "goproxy entry 'http://[::1' is not a valid URL"),
    ({'goproxy': 'direct,https://x.example'}, "goproxy entry 'https://x.example' comes after 'direct'"),
    ({'goproxy': 'off|https://x.example'}, "goproxy entry 'https://x.example' comes after 'off'"),
    ({'goproxy': []}, 'goproxy is an empty list'),
    ({'goproxy': {'a': 1}}, 'goproxy must be a list or a GOPROXY string'),
    ({'goproxy': ['https://a.example'], 'probe_module': 'https://corp.example.com/lib'}, "probe_module 'https://corp.example.com/lib' is not a module path"),
    ({'gosumdb': 'sum.golang.org https://sum.example.com extra'}, "gosumdb 'sum.golang.org https://sum.example.com extra' has 3 fields"),
    ({'gosumdb': 'sum.corp.example.com'}, 'without its public key'),
    ({'registry_mirrors': []}, 'registry_mirrors is an empty list'),
    ({'registry_mirrors': ['mirror.example.com:5000']}, "registry_mirrors entry 'mirror.example.com:5000' has no scheme"),
    ({'registry_mirrors': ['https://mirror.example.com/?x=1']}, 'has a query'),
    ({'registry_mirrors': ['https://mirror.example.com/hub']}, "has a path ('/hub')"),
    ({'registry_mirrors': ['https://a.example'], 'timeout': 0}, 'timeout must be at least 0.001, got 0'),
    ({'registry_mirrors': ['https://a.example'], 'timeout': 'nan'}, 'timeout must be a finite number of seconds, got nan'),
    ({'registry_mirrors': ['https://a.example'], 'timeout': 'inf'}, 'timeout must be a finite number of seconds, got inf'),
    ({'registry_mirrors': ['https://a.example'], 'timeout': '-inf'}, 'timeout must be a finite number of seconds, got -inf'),
    ({'registry_mirrors': ['https://a.example'], 'timeout': 1e12}, 'timeout must be at most 3600 seconds (the deadline of one probe), got 1e+12'),
    ({'registry_mirrors': ['https://a.example'], 'retries': -1}, 'retries must be at least 0, got -1'),
    ({'registry_mirrors': ['https://a.example'], 'max_workers': 0}, 'max_workers must be at least 1, got 0'),
    ({'timeout': 3}, 'one of the following is required: goproxy, gosumdb, registry_mirrors, registries'),
    ({'gosumdb': 'sum.golang.org', 'probe_module': PRIVATE_MODULE}, 'missing parameter(s) required by \'probe_module\': goproxy'),
    ({'registry_mirrors': ['https://a.example'], 'client_key': '/k.pem'}, "missing parameter(s) required by 'client_key': client_cert"),
    ({'registry_mirrors': ['https://a.example'], 'require': 'most'}, 'value of require must be one of: all, any, none'),
    ({'registry_mirrors': ['https://a.example'], 'ca_path': '/nonexistent/ca.pem'}, 'cannot load the TLS files (ca_path, client_cert, client_key)'),
])
def test_bad_input_is_refused_with_a_clear_message(run_module, module_args, message):
    run = run_module(**module_args)
    assert run.rc == 1
    assert run.result['failed'] is True
    assert message in run.result['msg']
    assert 'probes' not in run.result  # nothing was probed


def test_a_path_is_accepted_when_the_engine_allows_it(run_module):
    hub = MirrorServer({'/hub/v2/': Answer(200, API_VERSION)})
    try:
        run = run_module(registry_mirrors=[hub.url + '/hub'], registry_allow_path=True)
    finally:
        hub.close()
    assert run.rc == 0, run.result['msg']
    assert hub.paths == ['/hub/v2/']


# ---------------------------------------------------------------------------
# Through the ansible command line
# ---------------------------------------------------------------------------

def adhoc_result(stdout):
    """The one localhost result from the JSON stdout callback."""
    report = json.loads(stdout)
    return report['plays'][0]['tasks'][0]['hosts']['localhost'], report['stats']['localhost']


def test_ansible_reports_a_failed_gate_as_failed_not_unreachable(ansible_cli, goproxy, closed_port):
    args = json.dumps({'goproxy': [with_credentials(closed_port), with_credentials(goproxy.url)],
                       'probe_module': PRIVATE_MODULE, 'timeout': 1})
    rc, stdout, stderr = ansible_cli('ansible', 'localhost', '-c', 'local', '-m', 'buildfleet.mirrors.mirror_check',
                                     '-a', args)
    host, stats = adhoc_result(stdout)
    assert rc == 2, stderr
    assert stats['failures'] == 1 and stats['unreachable'] == 0
    assert host['unreachable_urls']['goproxy'] == [closed_port.replace('http://', 'http://***@') + '/?token=***']
    for secret in (SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in stdout and secret not in stderr


def test_ansible_check_mode(ansible_cli, registry):
    rc, stdout, stderr = ansible_cli('ansible', 'localhost', '-c', 'local', '--check', '-m',
                                     'buildfleet.mirrors.mirror_check', '-a', json.dumps({'registry_mirrors': [registry.url]}))
    host, stats = adhoc_result(stdout)
    assert rc == 0, stderr
    assert stats['changed'] == 0 and stats['ok'] == 1
    assert host['probes'][0]['api_version'] == 'registry/2.0'


def test_ansible_doc_renders_the_module(ansible_cli):
    rc, stdout, stderr = ansible_cli('ansible-doc', '--json', 'buildfleet.mirrors.mirror_check')
    assert rc == 0, stderr
    doc = json.loads(stdout)['buildfleet.mirrors.mirror_check']
    assert set(doc['doc']['options']) == {
        'goproxy', 'probe_module', 'gosumdb', 'registry_mirrors', 'registry_allow_path', 'registries', 'probe_images',
        'timeout', 'retries', 'max_workers', 'require', 'validate_certs', 'ca_path', 'client_cert', 'client_key',
        'use_proxy', 'ca_data', 'credentials', 'pypi_indexes', 'pypi_probe_package', 'npm_registries',
        'npm_probe_package'}
    assert set(doc['doc']['options']['credentials']['suboptions']) == {'machine', 'login', 'password'}
    assert set(doc['return']) == {'msg', 'probes', 'reachable_urls', 'unreachable_urls'}
    assert {'registry', 'image', 'digest'} <= set(doc['return']['probes']['contains'])
    assert 'buildfleet.mirrors.mirror_check:' in doc['examples']


# ---------------------------------------------------------------------------
# Registries beyond Docker Hub, and probe images
# ---------------------------------------------------------------------------

HUB = 'https://hub-mirror.corp.example.com'
GHCR = 'https://ghcr-mirror.corp.example.com'


@pytest.mark.parametrize('module_args, message', [
    ({'registries': {'https://ghcr.io': [GHCR]}},
     "registries key 'https://ghcr.io' is a URL; give the registry name without a scheme, as host[:port] such as "
     "ghcr.io or registry.corp.example:5000"),
    ({'registries': {'ghcr.io/acme': [GHCR]}}, "registries key 'ghcr.io/acme' has a path ('/acme')"),
    ({'registries': {'ghcr io': [GHCR]}}, "registries key 'ghcr io' contains whitespace"),
    ({'registries': {'ghcr.io:99999': [GHCR]}}, "registries key 'ghcr.io:99999' has a port that is not a number"),
    ({'registries': {'gh_cr.io': [GHCR]}}, "registries key 'gh_cr.io' is not a valid registry name"),
    ({'registries': {'docker.io': [HUB]}},
     "registries key 'docker.io' is Docker Hub; use registry_mirrors for Docker Hub"),
    ({'registries': {'index.docker.io': [HUB]}}, "registries key 'index.docker.io' is Docker Hub"),
    ({'registries': {'registry-1.docker.io': [HUB]}}, "registries key 'registry-1.docker.io' is Docker Hub"),
    ({'registries': {'Docker.IO': [HUB]}}, "registries key 'Docker.IO' is Docker Hub"),
    ({'registries': {'ghcr.io': []}}, "registries['ghcr.io'] is an empty list; give at least one mirror URL"),
    ({'registries': {'ghcr.io': GHCR}}, "registries['ghcr.io'] must be a list of URLs"),
    ({'registries': {'ghcr.io': ['ghcr-mirror.corp.example.com']}},
     "registries['ghcr.io'] entry 'ghcr-mirror.corp.example.com' has no scheme"),
    ({'registries': {'ghcr.io': [GHCR + '/ghcr']}}, "registries['ghcr.io'] entry '%s/ghcr' has a path" % GHCR),
    ({'registries': {'ghcr.io': [None]}}, "registries['ghcr.io'] entry must be a string"),
    ({'registries': {}}, 'registries is empty and no other option names a mirror'),
    ({'registries': 'ghcr.io'}, 'registries'),
    ({'registry_mirrors': [HUB], 'probe_images': {'ghcr.io': 'acme/hello'}},
     "probe_images key 'ghcr.io' is neither docker.io (for registry_mirrors) nor a key of registries (docker.io)"),
    ({'registries': {'quay.io': [GHCR]}, 'probe_images': {'ghcr.io': 'acme/hello'}},
     "probe_images key 'ghcr.io' is neither docker.io (for registry_mirrors) nor a key of registries (quay.io)"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'docker.io': 'library/hello'}},
     "probe_images key 'docker.io' applies to registry_mirrors, which names no mirror"),
    ({'registry_mirrors': [HUB], 'probe_images': {'index.docker.io': 'library/hello'}},
     "probe_images key 'index.docker.io' is Docker Hub; write it docker.io"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': 'ghcr.io/acme/hello'}},
     "probe_images['ghcr.io'] 'ghcr.io/acme/hello' starts with a registry host (ghcr.io); give the path on ghcr.io "
     "without the registry ('acme/hello')"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': 'Acme/hello'}},
     "probe_images['ghcr.io'] 'Acme/hello' has uppercase letters in its repository"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': 'acme/hello:.x'}},
     "probe_images['ghcr.io'] 'acme/hello:.x' has the tag '.x', which is not valid"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': 'acme/hello@sha256:abc'}},
     "probe_images['ghcr.io'] 'acme/hello@sha256:abc' has the digest 'sha256:abc', which is not valid"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': ['acme/hello']}},
     "probe_images['ghcr.io'] must be a string"),
    ({'registries': {'ghcr.io': [GHCR]}, 'probe_images': {'ghcr.io': ''}}, "probe_images['ghcr.io'] is empty"),
])
def test_bad_registries_and_probe_images_are_refused(run_module, module_args, message):
    run = run_module(**module_args)
    assert run.rc == 1
    assert run.result['failed'] is True
    assert message in run.result['msg']
    assert 'probes' not in run.result


def test_credentials_in_a_registries_url_or_key_are_never_printed(run_module):
    run = run_module(registries={'ghcr.io': [with_credentials('http://mirror.example.com')]})
    assert run.rc == 1
    assert_no_secret(run)
    assert 'carries credentials' in run.result['msg']
    run = run_module(registries={'builder:%s@ghcr.io' % SECRET_PASSWORD: [GHCR]})
    assert run.rc == 1
    assert_no_secret(run)
    assert 'carries credentials (user@)' in run.result['msg']
    run = run_module(registries={'ghcr.io': [GHCR]}, probe_images={'builder:%s@ghcr.io' % SECRET_PASSWORD: 'x'})
    assert run.rc == 1
    assert_no_secret(run)
    assert "probe_images key '***@ghcr.io' is neither docker.io" in run.result['msg']


def test_registries_and_probe_images_through_the_module(run_module, closed_port):
    tokens = TokenServer()
    hub = RegistryServer(images={'library/hello': ['latest']})
    ghcr = RegistryServer(images={'acme/hello': ['latest']}, realm=tokens.url + '/token', service='ghcr.io')
    try:
        run = run_module(registry_mirrors=[hub.url], registries={'ghcr.io': [ghcr.url], 'quay.io': [hub.url]},
                         probe_images={'docker.io': 'hello', 'ghcr.io': 'acme/hello', 'quay.io': 'acme/hello:2'},
                         timeout=2, require='any')
    finally:
        for server in (tokens, hub, ghcr):
            server.close()
    assert run.rc == 1
    probes = run.result['probes']
    assert [(probe['registry'], probe['image'], probe['reachable'], probe['digest']) for probe in probes] == [
        ('docker.io', 'docker.io/library/hello:latest', True, MANIFEST_DIGEST),
        ('ghcr.io', 'ghcr.io/acme/hello:latest', True, MANIFEST_DIGEST),
        ('quay.io', 'quay.io/acme/hello:2', False, None)]
    assert run.result['msg'] == ('no reachable registry (quay.io) mirror (require=any): registry %s for quay.io: '
                                 'does not serve quay.io/acme/hello:2 (404 on the manifest, MANIFEST_UNKNOWN)'
                                 % hub.url)
    assert run.result['reachable_urls']['registry'] == [hub.url, ghcr.url]
    assert run.result['unreachable_urls']['registry'] == [hub.url]
    assert TOKEN not in run.stdout and TOKEN not in run.stderr
