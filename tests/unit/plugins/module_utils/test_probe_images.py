# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The manifest probe of module_utils/_probe.py: registry mirrors for every registry, and a probe image on each.

Real registries and token services on 127.0.0.1 (tests/unit/registry_server.py), reached through the module's
own fetch (build_fetch), so the HEAD/GET, the headers and the Bearer token flow are what a mirror really gets.
"""

from __future__ import annotations

import base64
import time

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import (
    parse_image,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    MANIFEST_MEDIA_TYPES,
    HttpAnswer,
    check_mirrors,
    parse_challenges,
    registry_error_code,
    unmet_requirement,
)
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import build_fetch

from registry_server import MANIFEST_DIGEST, TOKEN, RegistryServer, TokenServer

TIMEOUT = 2.0


def image(ref, registry):
    return parse_image(ref, registry, 'probe_images')


def check(fetch=None, **kwargs):
    kwargs.setdefault('timeout', TIMEOUT)
    return check_mirrors(fetch or build_fetch(), **kwargs)


def only_probe(report):
    assert len(report['probes']) == 1
    return report['probes'][0]


def with_userinfo(url, userinfo):
    return url.replace('://', '://%s@' % userinfo, 1)


def basic(user, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()


@pytest.fixture
def servers():
    """Start servers for one test and close them all at its end."""
    started = []

    def start(kind, **kwargs):
        server = kind(**kwargs)
        started.append(server)
        return server
    yield start
    for server in started:
        server.close()


# ---------------------------------------------------------------------------
# A mirror that serves the image, one that does not
# ---------------------------------------------------------------------------

def test_docker_hub_mirror_serving_the_image_is_reachable_with_its_digest(servers):
    mirror = servers(RegistryServer, images={'library/hello': ['latest']})
    probe = only_probe(check(registry_urls=[mirror.url], probe_images={'docker.io': image('hello', 'docker.io')}))
    assert probe['reachable'] is True, probe['error']
    assert (probe['registry'], probe['image'], probe['digest']) == (
        'docker.io', 'docker.io/library/hello:latest', MANIFEST_DIGEST)
    assert probe['status'] == 200
    assert probe['api_version'] == 'registry/2.0'
    assert probe['request_url'] == mirror.url + '/v2/library/hello/manifests/latest'
    manifest = mirror.manifest_requests()
    assert [(seen.method, seen.path, seen.query) for seen in manifest] == [
        ('HEAD', '/v2/library/hello/manifests/latest', {})]   # Docker Hub mirrors get no ?ns=
    assert [kind.strip() for kind in manifest[0].header('Accept').split(',')] == list(MANIFEST_MEDIA_TYPES)


def test_mirror_of_another_registry_is_asked_with_ns(servers):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']})
    report = check(registries={'ghcr.io': [mirror.url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert probe['reachable'] is True, probe['error']
    assert (probe['kind'], probe['registry'], probe['image']) == ('registry', 'ghcr.io', 'ghcr.io/acme/hello:latest')
    assert probe['request_url'] == mirror.url + '/v2/acme/hello/manifests/latest?ns=ghcr.io'
    assert mirror.manifest_requests()[0].query == {'ns': ['ghcr.io']}
    assert report['reachable_urls']['registry'] == [mirror.url]


def test_ns_of_a_registry_with_a_port_is_query_encoded(servers):
    mirror = servers(RegistryServer, images={'acme/hello': ['1.0']})
    registry = 'registry.corp.example:5000'
    probe = only_probe(check(registries={registry: [mirror.url]}, probe_images={registry: image('acme/hello:1.0',
                                                                                                registry)}))
    assert probe['reachable'] is True, probe['error']
    assert probe['request_url'].endswith('/v2/acme/hello/manifests/1.0?ns=registry.corp.example%3A5000')
    assert mirror.manifest_requests()[0].query == {'ns': [registry]}


def test_mirror_that_does_not_serve_the_image_fails_with_the_registry_error_code(servers):
    mirror = servers(RegistryServer, images={'library/hello': ['latest']})
    report = check(registries={'ghcr.io': [mirror.url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert (probe['reachable'], probe['status'], probe['digest']) == (False, 404, None)
    assert probe['error'] == 'does not serve ghcr.io/acme/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)'
    # /v2/ answered like a registry: only the manifest failed.
    assert probe['api_version'] == 'registry/2.0'
    assert [seen.method for seen in mirror.manifest_requests()] == ['HEAD', 'GET']   # GET for the error body
    assert report['unreachable_urls']['registry'] == [mirror.url]
    assert unmet_requirement(report, 'all') == (
        '1 of 1 mirrors unreachable (require=all): registry %s for ghcr.io: does not serve '
        'ghcr.io/acme/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)' % mirror.url)


def test_mirror_that_is_dead_fails_before_the_manifest(closed_port):
    probe = only_probe(check(registries={'ghcr.io': [closed_port]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert (probe['reachable'], probe['status'], probe['error']) == (False, None, 'connection refused')
    assert probe['request_url'] == closed_port + '/v2/'
    assert probe['image'] == 'ghcr.io/acme/hello:latest'


def test_image_by_digest_asks_for_the_digest(servers):
    mirror = servers(RegistryServer, images={'acme/hello': []})
    probe = only_probe(check(registries={'quay.io': [mirror.url]},
                             probe_images={'quay.io': image('acme/hello@' + MANIFEST_DIGEST, 'quay.io')}))
    assert probe['reachable'] is True, probe['error']
    assert probe['image'] == 'quay.io/acme/hello@' + MANIFEST_DIGEST
    assert mirror.manifest_requests()[0].path == '/v2/acme/hello/manifests/' + MANIFEST_DIGEST


def test_mirror_without_a_digest_header_is_reachable_with_a_null_digest(servers):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, digest_header=False)
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert (probe['reachable'], probe['digest']) == (True, None)


@pytest.mark.parametrize('head_status', [405, 501])
def test_head_refused_falls_back_to_get(servers, head_status):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, head_status=head_status)
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert (probe['reachable'], probe['status'], probe['digest']) == (True, 200, MANIFEST_DIGEST)
    assert [seen.method for seen in mirror.manifest_requests()] == ['HEAD', 'GET']


def test_head_refused_and_get_404_reads_the_error_from_the_get(servers):
    mirror = servers(RegistryServer, images={}, head_status=405)
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert probe['error'] == 'does not serve ghcr.io/acme/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)'
    assert [seen.method for seen in mirror.manifest_requests()] == ['HEAD', 'GET']


def test_mirror_without_probe_image_reports_registry_and_null_image(servers):
    mirror = servers(RegistryServer)
    report = check(registry_urls=[mirror.url], registries={'ghcr.io': [mirror.url]},
                   probe_images={'quay.io': image('acme/hello', 'quay.io')})   # an image for no probed registry
    assert [(probe['registry'], probe['image'], probe['digest'], probe['reachable']) for probe in report['probes']] == [
        ('docker.io', None, None, True), ('ghcr.io', None, None, True)]
    assert mirror.manifest_requests() == []


def test_a_manifest_redirect_to_another_host_is_followed_without_credentials(servers):
    storage = servers(RegistryServer, images={'acme/hello': ['latest']})
    mirror = servers(RegistryServer, redirect_manifests_to=storage.url)
    url = with_userinfo(mirror.url, 'ci-bot:Pw4Mirror')
    report = check(registries={'ghcr.io': [url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert (probe['reachable'], probe['digest']) == (True, MANIFEST_DIGEST), probe['error']
    assert probe['redirected_to'] == storage.url + '/v2/acme/hello/manifests/latest?ns=ghcr.io'
    assert mirror.manifest_requests()[0].header('Authorization') == basic('ci-bot', 'Pw4Mirror')
    assert [seen.header('Authorization') for seen in storage.manifest_requests()] == [None]


# ---------------------------------------------------------------------------
# One URL for two registries, require
# ---------------------------------------------------------------------------

def test_one_url_for_two_registries_is_two_probes(servers):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']})
    report = check(registries={'ghcr.io': [mirror.url], 'quay.io': [mirror.url]},
                   probe_images={'ghcr.io': image('acme/hello', 'ghcr.io'), 'quay.io': image('acme/other', 'quay.io')})
    ghcr, quay = report['probes']
    assert (ghcr['registry'], ghcr['index'], ghcr['reachable']) == ('ghcr.io', 0, True)
    assert (quay['registry'], quay['index'], quay['reachable']) == ('quay.io', 0, False)
    # The URL is unreachable for one registry: it counts as unreachable there.
    assert report['reachable_urls']['registry'] == [mirror.url]
    assert report['unreachable_urls']['registry'] == [mirror.url]
    assert report['msg'] == '1 of 2 mirrors reachable (registry 1/2)'
    assert unmet_requirement(report, 'any').startswith('no reachable registry (quay.io) mirror (require=any): '
                                                       'registry %s for quay.io: does not serve' % mirror.url)
    assert unmet_requirement(report, 'all').startswith('1 of 2 mirrors unreachable (require=all)')
    assert unmet_requirement(report, 'none') is None


def test_require_any_wants_one_mirror_per_registry(servers, closed_port):
    mirror = servers(RegistryServer)
    report = check(registry_urls=[closed_port, mirror.url], registries={'ghcr.io': [closed_port, mirror.url]})
    assert [probe['registry'] for probe in report['probes']] == ['docker.io', 'docker.io', 'ghcr.io', 'ghcr.io']
    assert [probe['index'] for probe in report['probes']] == [0, 1, 0, 1]
    assert unmet_requirement(report, 'any') is None
    report = check(registry_urls=[mirror.url], registries={'ghcr.io': [closed_port]})
    assert unmet_requirement(report, 'any') == (
        'no reachable registry (ghcr.io) mirror (require=any): registry %s for ghcr.io: connection refused'
        % closed_port)


def test_require_any_with_docker_hub_alone_keeps_its_message(closed_port):
    report = check(registry_urls=[closed_port])
    assert unmet_requirement(report, 'any') == (
        'no reachable registry mirror (require=any): registry %s: connection refused' % closed_port)


# ---------------------------------------------------------------------------
# The Bearer token flow
# ---------------------------------------------------------------------------

def test_bearer_token_from_another_host_gets_no_credentials(servers):
    tokens = servers(TokenServer)
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token',
                     service='ghcr.io', basic=('ci-bot', 'Pw4Mirror'))
    url = with_userinfo(mirror.url, 'ci-bot:Pw4Mirror')
    report = check(registries={'ghcr.io': [url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert probe['reachable'] is True, probe['error']
    assert probe['digest'] == MANIFEST_DIGEST
    # The token service on another port got the service and the scope, and no credential at all.
    asked, = tokens.seen
    assert asked.query == {'service': ['ghcr.io'], 'scope': ['repository:acme/hello:pull']}
    assert asked.header('Authorization') is None
    # The mirror got its Basic credentials first, then the token (and not the credentials) on the manifest.
    manifest = mirror.manifest_requests()
    assert [seen.header('Authorization') for seen in manifest] == [basic('ci-bot', 'Pw4Mirror'), 'Bearer ' + TOKEN]
    assert TOKEN not in repr(report) and 'Pw4Mirror' not in repr(report)


def test_v2_answering_401_is_fine_when_the_token_then_gets_the_manifest(servers):
    tokens = servers(TokenServer)
    mirror = servers(RegistryServer, images={'library/hello': ['latest']}, realm=tokens.url + '/token')
    probe = only_probe(check(registry_urls=[mirror.url], probe_images={'docker.io': image('hello', 'docker.io')}))
    assert [seen.path for seen in mirror.seen][0] == '/v2/'
    assert (probe['reachable'], probe['status']) == (True, 200), probe['error']


def test_bearer_token_from_the_mirrors_own_host_gets_the_mirrors_credentials(servers):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, own_token=True, basic=('ci-bot', 'Pw4Mirror'))
    url = with_userinfo(mirror.url, 'ci-bot:Pw4Mirror')
    report = check(registries={'ghcr.io': [url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    assert only_probe(report)['reachable'] is True, only_probe(report)['error']
    asked = [seen for seen in mirror.seen if seen.path == '/token']
    assert [seen.header('Authorization') for seen in asked] == [basic('ci-bot', 'Pw4Mirror')]
    assert TOKEN not in repr(report) and 'Pw4Mirror' not in repr(report)


def test_bearer_token_from_the_mirrors_own_host_gets_netrc_credentials(servers, tmp_path, monkeypatch):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, own_token=True, basic=('ci-bot', 'Pw4Netrc'))
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login ci-bot password Pw4Netrc\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert probe['reachable'] is True, probe['error']
    asked = [seen for seen in mirror.seen if seen.path == '/token']
    assert [seen.header('Authorization') for seen in asked] == [basic('ci-bot', 'Pw4Netrc')]


def test_the_challenges_scope_is_used_when_given(servers):
    tokens = servers(TokenServer)
    challenge = ('Bearer realm="%s/token?client=probe",service="hub",scope="repository:library/hello:pull '
                 'repository:library/hello:push"' % tokens.url)
    mirror = servers(RegistryServer, images={'library/hello': ['latest']}, challenge=challenge)
    probe = only_probe(check(registry_urls=[mirror.url], probe_images={'docker.io': image('hello', 'docker.io')}))
    assert probe['reachable'] is True, probe['error']
    assert tokens.seen[0].query == {'client': ['probe'], 'service': ['hub'],
                                    'scope': ['repository:library/hello:pull', 'repository:library/hello:push']}


def test_access_token_is_accepted_too(servers):
    tokens = servers(TokenServer, key='access_token')
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token')
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert probe['reachable'] is True, probe['error']


def test_an_http_realm_for_an_https_mirror_is_refused(servers, tls_files):
    tokens = servers(TokenServer)
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token',
                     tls_context=tls_files.server_context())
    url = with_userinfo(mirror.url, 'ci-bot:Pw4Mirror')
    report = check(build_fetch(ca_path=tls_files.ca_cert), registries={'ghcr.io': [url]},
                   probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert (probe['reachable'], probe['status']) == (False, 401)
    assert probe['error'] == ('cannot get a pull token for ghcr.io/acme/hello:latest: the token realm %s/token is http '
                              'for an https mirror; a downgrade is never followed' % tokens.url)
    assert tokens.seen == []
    assert 'Pw4Mirror' not in repr(report)


def test_an_https_realm_for_an_https_mirror_works(servers, tls_files):
    tokens = servers(TokenServer, tls_context=tls_files.server_context())
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token',
                     tls_context=tls_files.server_context())
    probe = only_probe(check(build_fetch(ca_path=tls_files.ca_cert), registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert probe['reachable'] is True, probe['error']
    assert len(tokens.seen) == 1


@pytest.mark.parametrize('challenge, reason', [
    ('Bearer service="x"', 'the mirror asked for a Bearer token without naming its realm'),
    ('Bearer realm="ftp://127.0.0.1/token"',
     'the token realm ftp://127.0.0.1/token is not an http or https URL with a host; not asked'),
    ('Bearer realm="/token"', 'the token realm /token is not an http or https URL with a host; not asked'),
    ('Bearer realm="http://127.0.0.1:99999/token"', 'the token realm http://127.0.0.1:99999/token is not a valid URL'),
    ('Basic realm="x", Bearer realm=""', 'the mirror asked for a Bearer token without naming its realm'),
    ('Bearer realm="http://[::1/token"', 'the token realm http://[::1/token is not a valid URL'),
])
def test_unusable_realms_are_refused(servers, challenge, reason):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, challenge=challenge)
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]},
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert (probe['reachable'], probe['status']) == (False, 401)
    assert probe['error'] == 'cannot get a pull token for ghcr.io/acme/hello:latest: ' + reason


@pytest.mark.parametrize('token_server, reason', [
    (dict(basic=('robot', 'secret')), 'answered HTTP 401'),
    (dict(status=403), 'answered HTTP 403'),
    (dict(body=b'{"expires_in": 300}'), 'sent no token (a JSON object with token or access_token)'),
    (dict(body=b'<html>login</html>'), 'sent no token (a JSON object with token or access_token)'),
    (dict(body=b'{"token": ""}'), 'sent no token (a JSON object with token or access_token)'),
    (dict(body=b'{"token": 42}'), 'sent no token (a JSON object with token or access_token)'),
    (dict(body=b'{"token": "Tok\\r\\nX-Evil: 1"}'), 'sent a token that cannot go in an HTTP header'),
    (dict(body=b'{"token": "' + b'x' * 70000 + b'"}'), 'sent more than 64 KiB'),
])
def test_token_service_failures_say_why(servers, token_server, reason):
    tokens = servers(TokenServer, **token_server)
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token')
    report = check(registries={'ghcr.io': [mirror.url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert probe['reachable'] is False
    assert probe['error'] == 'cannot get a pull token for ghcr.io/acme/hello:latest: the token service %s/token %s' % (
        tokens.url, reason)
    assert 'Tok' not in probe['error'].replace('token', '')   # not even a piece of the refused token


def test_token_service_error_is_retried(servers):
    tokens = servers(TokenServer, status=503)
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token')
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]}, retries=1,
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert (probe['reachable'], probe['attempts'], len(tokens.seen)) == (False, 2, 2)
    assert probe['error'].endswith('the token service %s/token answered HTTP 503' % tokens.url)


def test_a_trickling_token_service_is_cut_at_the_deadline(servers):
    tokens = servers(TokenServer, trickle=True)
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token')
    timeout = 1.0
    started = time.monotonic()
    probe = only_probe(check(registries={'ghcr.io': [mirror.url]}, timeout=timeout, retries=3,
                             probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')}))
    assert time.monotonic() - started < 3 * timeout
    assert probe['reachable'] is False
    assert probe['error'] == 'timed out after 1s (on the token service %s/token)' % tokens.url


def test_the_token_that_the_manifest_refuses_is_never_shown(servers):
    tokens = servers(TokenServer, body=b'{"token": "NotTheRightToken"}')
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, realm=tokens.url + '/token')
    report = check(registries={'ghcr.io': [mirror.url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert (probe['reachable'], probe['status']) == (False, 401)
    assert probe['error'] == ('does not serve ghcr.io/acme/hello:latest (401 on the manifest even with the token '
                              'from %s/token, UNAUTHORIZED)' % tokens.url)
    assert [seen.header('Authorization') for seen in mirror.manifest_requests()] == [
        None, 'Bearer NotTheRightToken', 'Bearer NotTheRightToken']
    assert 'NotTheRightToken' not in repr(report)


# ---------------------------------------------------------------------------
# Basic challenges
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('userinfo, reachable, error', [
    ('ci-bot:Pw4Mirror', True, None),
    ('ci-bot:Wrong', False, 'does not serve ghcr.io/acme/hello:latest (401 on the manifest: the mirror refused the '
                            'credentials, UNAUTHORIZED)'),
    (None, False, 'does not serve ghcr.io/acme/hello:latest (401 on the manifest: the mirror wants a login '
                  '(credentials in the URL or ~/.netrc), UNAUTHORIZED)'),
])
def test_basic_challenge_uses_the_probes_credentials(servers, userinfo, reachable, error):
    mirror = servers(RegistryServer, images={'acme/hello': ['latest']}, basic=('ci-bot', 'Pw4Mirror'))
    url = with_userinfo(mirror.url, userinfo) if userinfo else mirror.url
    report = check(registries={'ghcr.io': [url]}, probe_images={'ghcr.io': image('acme/hello', 'ghcr.io')})
    probe = only_probe(report)
    assert (probe['reachable'], probe['error']) == (reachable, error)
    assert 'Pw4Mirror' not in repr(report) and 'Wrong' not in repr(report)


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
     [('bearer', {'realm': 'https://auth.docker.io/token', 'service': 'registry.docker.io'})]),
    ('Basic realm="x", Bearer realm="https://a/t",scope="repository:a/b:pull,push"',
     [('basic', {'realm': 'x'}), ('bearer', {'realm': 'https://a/t', 'scope': 'repository:a/b:pull,push'})]),
    ('bearer Realm=https://a/t, Service = "s\\"q"', [('bearer', {'realm': 'https://a/t', 'service': 's"q'})]),
    ('', []),
    ('Negotiate', [('negotiate', {})]),
])
def test_parse_challenges(value, expected):
    assert parse_challenges(value) == expected


@pytest.mark.parametrize('body, code', [
    (b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}', 'MANIFEST_UNKNOWN'),
    (b'{"errors":[]}', None),
    (b'{"errors":[{"code":"not a code; rm -rf"}]}', None),
    (b'not json', None),
    (b'[1]', None),
])
def test_registry_error_code(body, code):
    assert registry_error_code(HttpAnswer(404, {}, body)) == code
