# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real servers on 127.0.0.1 for the unit tests and the benchmark.

- :class:`MirrorServer`: an HTTP(S) server answering from a route table (a
  GOPROXY tree, a checksum database, a Registry v2 base, a forward proxy...),
  recording every request it gets.
- :class:`BlackHole`: accepts connections, reads the request, never answers;
  it counts how many connections were open at once, which shows whether
  probes ran in parallel without timing anything.
- :func:`closed_port_url`: a port on which nothing listens.
- :func:`make_tls_files`: a private CA, a server certificate for 127.0.0.1 and
  a client certificate, made with the ``cryptography`` package.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import threading
import time

from dataclasses import dataclass, field


# What the test mirrors serve.
PRIVATE_MODULE = 'corp.example.com/platform/lib'
UPPERCASE_MODULE = 'github.com/Azure/go-autorest'
API_VERSION = {'Docker-Distribution-API-Version': 'registry/2.0'}


@dataclass
class Answer:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b''


@dataclass
class SeenRequest:
    path: str
    headers: dict


class _RouteHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        tls_context = self.server.tls_context
        if tls_context is not None:
            # Handshake here, in the request's own thread, so that a client that
            # never completes it cannot stall the accept loop.
            self.request = tls_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_GET(self):  # pylint: disable=invalid-name  # name required by BaseHTTPRequestHandler
        server = self.server
        with server.lock:
            server.requests.append(SeenRequest(self.path, dict(self.headers.items())))
            answer = server.answer_for(self.path)
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        time.sleep(server.delay)
        with server.lock:
            # Counted down before the answer leaves, so the client's next request can never overlap this one.
            server.in_flight -= 1
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # keep pytest output clean


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # failed TLS handshakes are expected in the tests


class MirrorServer:
    """An HTTP server on 127.0.0.1 (HTTPS with ``tls_context``) that answers from ``routes``.

    ``routes`` maps a request path (or a full URL, for a forward proxy) to an
    :class:`Answer`, or to a list of answers given one after the other (the
    last one repeats). A path with a query string matches its route with or
    without the query. Anything else gets ``default``. Each answer waits
    ``delay`` seconds; ``most_in_flight`` tells how many requests it held at once.
    """

    def __init__(self, routes=None, default=None, tls_context=None, delay=0.0):
        self._server = _QuietServer(('127.0.0.1', 0), _RouteHandler)
        self._server.routes = dict(routes or {})
        self._server.default = default or Answer(404, body=b'not found\n')
        self._server.tls_context = tls_context
        self._server.requests = []
        self._server.lock = threading.Lock()
        self._server.answer_for = self._answer_for
        self._server.delay = delay
        self._server.in_flight = 0
        self._server.most_in_flight = 0
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()

    def _answer_for(self, path):
        routes = self._server.routes
        answer = routes.get(path, routes.get(path.split('?')[0], self._server.default))
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        scheme = 'https' if self._server.tls_context else 'http'
        return '%s://127.0.0.1:%d' % (scheme, self.port)

    @property
    def requests(self):
        with self._server.lock:
            return list(self._server.requests)

    @property
    def most_in_flight(self):
        return self._server.most_in_flight

    @property
    def paths(self):
        return [request.path for request in self.requests]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


class BlackHole:
    """A port that accepts connections and reads requests but never answers."""

    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(64)
        self._lock = threading.Lock()
        self._connections = []
        self._open = 0
        self.most_open_at_once = 0
        self.accepted = 0
        self._closing = False
        threading.Thread(target=self._accept_forever, daemon=True).start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self._listener.getsockname()[1]

    def _accept_forever(self):
        while not self._closing:
            try:
                connection, dummy = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
                self.accepted += 1
                self._open += 1
                self.most_open_at_once = max(self.most_open_at_once, self._open)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection):
        try:
            while connection.recv(4096):
                pass  # swallow the request; an empty read means the client gave up
        except OSError:
            pass
        with self._lock:
            self._open -= 1

    def close(self):
        self._closing = True
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                try:
                    connection.close()
                except OSError:
                    pass


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (the port was just released by the kernel)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return 'http://127.0.0.1:%d' % port


@dataclass
class TlsFiles:
    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def server_context(self, require_client_cert=False):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_cert)
        return context


def make_tls_files(directory):
    """Write a private CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def write_key(key, path):
        with open(path, 'wb') as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    def write_cert(cert, path):
        with open(path, 'wb') as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def builder(subject, issuer, public_key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (builder(name('buildfleet test CA'), name('buildfleet test CA'), ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    def leaf(common_name, usage, alt_names):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (builder(name(common_name), ca_cert.subject, key.public_key())
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False))
        if alt_names:
            cert = cert.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return key, cert.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf('127.0.0.1', ExtendedKeyUsageOID.SERVER_AUTH,
                                   [x509.IPAddress(ipaddress.ip_address('127.0.0.1')), x509.DNSName('localhost')])
    client_key, client_cert = leaf('build-host', ExtendedKeyUsageOID.CLIENT_AUTH, [])

    files = TlsFiles(*(os.path.join(str(directory), file_name) for file_name in
                       ('ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key')))
    write_cert(ca_cert, files.ca_cert)
    write_cert(server_cert, files.server_cert)
    write_key(server_key, files.server_key)
    write_cert(client_cert, files.client_cert)
    write_key(client_key, files.client_key)
    return files
