# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The manifest probe against the real distribution registry (Debian's docker-registry), when it is installed.

Two instances on 127.0.0.1 share one storage: an open one, and one behind token authentication whose tokens come
from a small token service here (ES256 JWTs with an x5c chain, as the registry checks them). The image is pushed
through the registry's own HTTP API. Skipped where /usr/bin/docker-registry is missing.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import (
    parse_image,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    check_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import build_fetch

REGISTRY = shutil.which('docker-registry') or '/usr/bin/docker-registry'
SERVICE = 'buildfleet-test-registry'
ISSUER = 'buildfleet-test-issuer'

pytestmark = pytest.mark.skipif(not os.access(REGISTRY, os.X_OK), reason='docker-registry is not installed')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


class TokenIssuer:
    """A token service whose JWTs the registry accepts: ES256, signed by a key whose certificate is the root."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._ec = ec
        self._hashes = hashes
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.root_bundle = os.path.join(directory, 'token-root.pem')
        with open(self.root_bundle, 'wb') as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.asked = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # pylint: disable=invalid-name
                query = parse_qs(urlsplit(self.path).query)
                issuer.asked.append((query, self.headers.get('Authorization')))
                body = json.dumps({'token': issuer.token(query.get('scope', []))}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
        self.realm = 'http://127.0.0.1:%d/token' % self._server.server_address[1]

    def token(self, scopes):
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        access = []
        for scope in scopes:
            kind, dummy, rest = scope.partition(':')
            name, dummy, actions = rest.rpartition(':')
            access.append({'type': kind, 'name': name, 'actions': actions.split(',')})
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'ES256', 'x5c': [self.x5c]}
        claims = {'iss': ISSUER, 'sub': 'probe', 'aud': SERVICE, 'exp': now + 300, 'nbf': now - 10, 'iat': now,
                  'jti': str(now) + os.urandom(4).hex(), 'access': access}
        signing_input = (b64url(json.dumps(header).encode()) + '.' + b64url(json.dumps(claims).encode())).encode()
        r, s = decode_dss_signature(self.key.sign(signing_input, self._ec.ECDSA(self._hashes.SHA256())))
        return signing_input.decode() + '.' + b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class RealRegistry:
    def __init__(self, directory, storage, name, token_issuer=None):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        config = {
            'version': 0.1,
            'log': {'level': 'warn', 'accesslog': {'disabled': True}},
            'storage': {'filesystem': {'rootdirectory': storage}},
            'http': {'addr': '127.0.0.1:%d' % self.port},
        }
        if token_issuer is not None:
            config['auth'] = {'token': {'realm': token_issuer.realm, 'service': SERVICE, 'issuer': ISSUER,
                                        'rootcertbundle': token_issuer.root_bundle}}
        config_path = os.path.join(directory, name + '.yml')
        with open(config_path, 'w', encoding='utf-8') as handle:
            json.dump(config, handle)   # JSON is YAML
        self.log = open(os.path.join(directory, name + '.log'), 'wb')  # pylint: disable=consider-using-with
        self.process = subprocess.Popen([REGISTRY, 'serve', config_path], stdout=self.log,  # pylint: disable=consider-using-with
                                        stderr=subprocess.STDOUT)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.close()
        raise RuntimeError('docker-registry did not start on port %d' % self.port)

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def http_request(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def push_image(registry_url, repository, tag):
    """Push a config blob, one layer and an OCI manifest through the registry API; return the manifest digest."""
    config = json.dumps({'architecture': 'amd64', 'os': 'linux', 'rootfs': {'type': 'layers', 'diff_ids': []}})
    layer = b'not really a tarball, but a blob all the same'
    descriptors = []
    for media_type, blob in (('application/vnd.oci.image.config.v1+json', config.encode()),
                             ('application/vnd.oci.image.layer.v1.tar', layer)):
        digest = 'sha256:' + hashlib.sha256(blob).hexdigest()
        dummy, headers, dummy = http_request('POST', '%s/v2/%s/blobs/uploads/' % (registry_url, repository))
        location = headers['Location']
        location = location if location.startswith('http') else registry_url + location
        http_request('PUT', location + ('&' if '?' in location else '?') + 'digest=' + digest, blob,
                     {'Content-Type': 'application/octet-stream'})
        descriptors.append({'mediaType': media_type, 'digest': digest, 'size': len(blob)})
    manifest = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                           'config': descriptors[0], 'layers': descriptors[1:]}).encode()
    http_request('PUT', '%s/v2/%s/manifests/%s' % (registry_url, repository, tag), manifest,
                 {'Content-Type': 'application/vnd.oci.image.manifest.v1+json'})
    return 'sha256:' + hashlib.sha256(manifest).hexdigest()


@pytest.fixture(scope='module')
def real_registries(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp('real-registry'))
    storage = os.path.join(directory, 'storage')
    issuer = TokenIssuer(directory)
    started = []
    try:
        open_registry = RealRegistry(directory, storage, 'open')
        started.append(open_registry)
        digest = push_image(open_registry.url, 'acme/hello', 'latest')
        token_registry = RealRegistry(directory, storage, 'token', issuer)
        started.append(token_registry)
        yield open_registry, token_registry, issuer, digest
    finally:
        for registry in started:
            registry.close()
        issuer.close()


def check(**kwargs):
    return check_mirrors(build_fetch(), timeout=5, **kwargs)


def test_real_registry_serves_the_pushed_image(real_registries):
    open_registry, dummy, dummy, digest = real_registries
    report = check(registries={'ghcr.io': [open_registry.url]},
                   probe_images={'ghcr.io': parse_image('acme/hello', 'ghcr.io', 'probe_images')})
    probe, = report['probes']
    assert (probe['reachable'], probe['status'], probe['digest']) == (True, 200, digest), probe['error']
    assert probe['api_version'] == 'registry/2.0'


def test_real_registry_without_the_image_says_manifest_unknown(real_registries):
    open_registry = real_registries[0]
    report = check(registries={'ghcr.io': [open_registry.url]},
                   probe_images={'ghcr.io': parse_image('acme/hello:2.0', 'ghcr.io', 'probe_images')})
    probe, = report['probes']
    assert probe['reachable'] is False
    assert probe['error'] == 'does not serve ghcr.io/acme/hello:2.0 (404 on the manifest, MANIFEST_UNKNOWN)'


def test_real_registry_without_the_repository_on_docker_hub_names(real_registries):
    # distribution 2.8 answers MANIFEST_UNKNOWN for a repository it never heard of, too (not NAME_UNKNOWN).
    open_registry = real_registries[0]
    report = check(registry_urls=[open_registry.url],
                   probe_images={'docker.io': parse_image('hello', 'docker.io', 'probe_images')})
    probe, = report['probes']
    assert probe['reachable'] is False
    assert probe['error'] == 'does not serve docker.io/library/hello:latest (404 on the manifest, MANIFEST_UNKNOWN)'


def test_real_registry_behind_token_auth_serves_with_a_token(real_registries):
    dummy, token_registry, issuer, digest = real_registries
    before = len(issuer.asked)
    url = token_registry.url.replace('http://', 'http://ci-bot:Pw4RealRegistry@')
    report = check(registries={'quay.io': [url]},
                   probe_images={'quay.io': parse_image('acme/hello@' + digest, 'quay.io', 'probe_images')})
    probe, = report['probes']
    assert (probe['reachable'], probe['status'], probe['digest']) == (True, 200, digest), probe['error']
    query, authorization = issuer.asked[before]
    assert query == {'service': [SERVICE], 'scope': ['repository:acme/hello:pull']}
    assert authorization is None   # the token service is on another port: no credential goes there
    assert 'Pw4RealRegistry' not in repr(report)


def test_real_registry_behind_token_auth_without_the_image(real_registries):
    token_registry = real_registries[1]
    report = check(registries={'quay.io': [token_registry.url]},
                   probe_images={'quay.io': parse_image('acme/other', 'quay.io', 'probe_images')})
    probe, = report['probes']
    assert probe['reachable'] is False
    assert probe['error'].startswith('does not serve quay.io/acme/other:latest (404 on the manifest')


def test_token_registry_refuses_a_token_it_did_not_issue(real_registries):
    # The token registry refuses a token it did not issue: shown by asking with a bad one through urllib.
    token_registry = real_registries[1]
    with pytest.raises(urllib.error.HTTPError) as caught:
        http_request('HEAD', token_registry.url + '/v2/acme/hello/manifests/latest',
                     headers={'Authorization': 'Bearer not.a.token'})
    assert caught.value.code == 401
