# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A registry mirror and a token service on 127.0.0.1 that speak the distribution API as far as a manifest probe goes.

- :class:`RegistryServer`: ``/v2/`` and ``/v2/<repository>/manifests/<reference>`` (HEAD and GET), serving the
  images it is given, with the JSON error body a registry sends (``MANIFEST_UNKNOWN``), optionally behind a Bearer
  challenge (Docker Hub's and ghcr.io's token flow) or refusing HEAD (405).
- :class:`TokenServer`: a token service that hands out a token, records who asked with what, and can want Basic
  credentials, answer with an error status, or trickle its answer.

Every request is recorded with its method, path, query and headers, so tests can show where a credential went.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import time

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

API_VERSION_HEADER = 'Docker-Distribution-API-Version'
OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
MANIFEST_BODY = json.dumps({'schemaVersion': 2, 'mediaType': OCI_INDEX, 'manifests': []}).encode()
MANIFEST_DIGEST = 'sha256:' + hashlib.sha256(MANIFEST_BODY).hexdigest()
TOKEN = 'eyJ0b2tlbi1mb3ItdGhlLXRlc3RzIjp0cnVlfQ.Tk9UX0FfUkVBTF9UT0tFTg'


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict
    at: float = field(default_factory=time.monotonic)

    def header(self, name):
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        if self.server.tls_context is not None:
            self.request = self.server.tls_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def _serve(self, method):
        parts = urlsplit(self.path)
        seen = Seen(method, parts.path, parse_qs(parts.query), dict(self.headers.items()))
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            self.server.owner.answer(self, seen)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):  # pylint: disable=invalid-name  # name required by BaseHTTPRequestHandler
        self._serve('GET')

    def do_HEAD(self):  # pylint: disable=invalid-name
        self._serve('HEAD')

    def send(self, status, headers=None, body=b'', method='GET'):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if method != 'HEAD':
            self.wfile.write(body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class _Base:
    def __init__(self, tls_context=None):
        self._server = _Server(('127.0.0.1', 0), _Handler)
        self._server.tls_context = tls_context
        self._server.owner = self
        self._server.lock = threading.Lock()
        self._server.seen = []
        self.closing = threading.Event()
        threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    @property
    def url(self):
        scheme = 'https' if self._server.tls_context is not None else 'http'
        return '%s://127.0.0.1:%d' % (scheme, self._server.server_address[1])

    @property
    def seen(self):
        with self._server.lock:
            return list(self._server.seen)

    def close(self):
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()


def _error(code, message):
    return json.dumps({'errors': [{'code': code, 'message': message, 'detail': None}]}).encode()


class RegistryServer(_Base):
    """A registry (mirror) serving ``images`` ({repository: [tags]}); each manifest is MANIFEST_BODY.

    ``realm``: a token service URL; then every manifest request without ``Authorization: Bearer TOKEN`` gets 401
    with a Bearer challenge for that realm (``service`` and ``scope`` included unless ``challenge`` is given).
    ``head_status``: answer every HEAD of a manifest with this status (405, 501) instead.
    ``basic``: (user, password) that /v2/ and the manifests want, with a Basic challenge.
    ``redirect_manifests_to``: answer every manifest request with a 307 to this base URL (same path).
    ``own_token``: serve a token service at ``/token`` on this server too (then pass realm=server.url + '/token'
    once started, with :meth:`use_own_realm`); it wants ``basic`` credentials when those are set.
    """

    def __init__(self, images=None, realm=None, service='registry.test', challenge=None, head_status=None,
                 basic=None, digest_header=True, tls_context=None, own_token=False, redirect_manifests_to=None):
        self.images = dict(images or {})
        self.realm = realm
        self.service = service
        self.challenge = challenge
        self.head_status = head_status
        self.basic = basic
        self.digest_header = digest_header
        self.own_token = own_token
        self.redirect_manifests_to = redirect_manifests_to
        super().__init__(tls_context)
        if own_token:
            self.realm = self.url + '/token'

    def manifest_requests(self):
        return [seen for seen in self.seen if '/manifests/' in seen.path]

    def _bearer_challenge(self, repository):
        if self.challenge is not None:
            return self.challenge
        return 'Bearer realm="%s",service="%s",scope="repository:%s:pull"' % (self.realm, self.service, repository)

    def answer(self, handler, seen):
        headers = {API_VERSION_HEADER: 'registry/2.0', 'Content-Type': 'application/json'}
        if self.own_token and seen.path == '/token':
            expected = 'Basic ' + base64.b64encode(('%s:%s' % self.basic).encode()).decode() if self.basic else None
            if expected is not None and seen.header('Authorization') != expected:
                handler.send(401, {'WWW-Authenticate': 'Basic realm="token"'}, b'', seen.method)
                return
            handler.send(200, {'Content-Type': 'application/json'}, json.dumps({'token': TOKEN}).encode(), seen.method)
            return
        if self.basic is not None and not (self.realm is not None and '/manifests/' in seen.path):
            expected = 'Basic ' + base64.b64encode(('%s:%s' % self.basic).encode()).decode()
            if seen.header('Authorization') != expected:
                headers['WWW-Authenticate'] = 'Basic realm="registry"'
                handler.send(401, headers, _error('UNAUTHORIZED', 'authentication required'), seen.method)
                return
        if seen.path == '/v2/':
            if self.realm is not None or self.challenge is not None:
                headers['WWW-Authenticate'] = self._bearer_challenge('')
                handler.send(401, headers, _error('UNAUTHORIZED', 'authentication required'), seen.method)
            else:
                handler.send(200, headers, b'{}', seen.method)
            return
        if not seen.path.startswith('/v2/') or '/manifests/' not in seen.path:
            handler.send(404, headers, _error('NAME_UNKNOWN', 'not served here'), seen.method)
            return
        repository, dummy, reference = seen.path[len('/v2/'):].partition('/manifests/')
        if self.redirect_manifests_to is not None:
            handler.send(307, {'Location': self.redirect_manifests_to + handler.path}, b'', seen.method)
            return
        if seen.method == 'HEAD' and self.head_status is not None:
            handler.send(self.head_status, headers, b'', seen.method)
            return
        if (self.realm is not None or self.challenge is not None) and seen.header('Authorization') != 'Bearer ' + TOKEN:
            headers['WWW-Authenticate'] = self._bearer_challenge(repository)
            handler.send(401, headers, _error('UNAUTHORIZED', 'authentication required'), seen.method)
            return
        if reference in self.images.get(repository, ()) or reference == MANIFEST_DIGEST and repository in self.images:
            headers['Content-Type'] = OCI_INDEX
            if self.digest_header:
                headers['Docker-Content-Digest'] = MANIFEST_DIGEST
            handler.send(200, headers, MANIFEST_BODY, seen.method)
            return
        handler.send(404, headers, _error('MANIFEST_UNKNOWN', 'manifest unknown'), seen.method)


class TokenServer(_Base):
    """A token service: GET anything -> 200 {"token": TOKEN} (or ``key``: TOKEN).

    ``basic``: (user, password) it wants, else 401. ``status``: answer with this status instead. ``trickle``: send
    the answer one byte every 50 ms for ever. ``body``: send these bytes as the 200 body instead.
    """

    def __init__(self, basic=None, status=None, trickle=False, key='token', body=None, tls_context=None):
        self.basic = basic
        self.status = status
        self.trickle = trickle
        self.key = key
        self.body = body
        super().__init__(tls_context)

    def answer(self, handler, seen):
        if self.trickle:
            handler.wfile.write(b'HTTP/1.1 200 OK\r\n')
            while not self.closing.wait(0.05):
                handler.wfile.write(b'X')
                handler.wfile.flush()
            return
        if self.status is not None:
            handler.send(self.status, {'Content-Type': 'application/json'}, b'{"errors":[]}')
            return
        if self.basic is not None:
            expected = 'Basic ' + base64.b64encode(('%s:%s' % self.basic).encode()).decode()
            if seen.header('Authorization') != expected:
                handler.send(401, {'WWW-Authenticate': 'Basic realm="token"'}, b'')
                return
        body = self.body if self.body is not None else json.dumps({self.key: TOKEN, 'expires_in': 300}).encode()
        handler.send(200, {'Content-Type': 'application/json'}, body)
