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
- :class:`RawServer`: a mirror that misbehaves at the byte level, scripted per
  request path (trickled headers, endless ``100 Continue``, a redirect whose
  body trickles or never ends, a huge body); it counts the bytes the client
  accepted. The scripts are :func:`trickle_headers`, :func:`endless_continue`,
  :func:`redirect_with_trickled_body` and :func:`stream_body`.
- :class:`TunnelProxy`: a forward proxy that serves ``CONNECT`` tunnels, as
  an egress proxy does for HTTPS.
- :class:`AuthProxy`: a GOPROXY over HTTPS serving one module, that may want HTTP basic auth.
- :func:`closed_port_url`: a port on which nothing listens.
- :func:`make_tls_files`: a private CA, a server certificate for 127.0.0.1 and
  a client certificate, made with the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import io
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
import zipfile

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
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


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


def read_request_head(connection):
    """Read a request's line and headers from a socket: (request line, {header: value}), or None if it hung up."""
    head = b''
    while b'\r\n\r\n' not in head:
        data = connection.recv(4096)
        if not data:
            return None
        head += data
    request_line, *header_lines = head.split(b'\r\n\r\n')[0].decode('latin-1').split('\r\n')
    return request_line, dict(line.split(': ', 1) for line in header_lines if ': ' in line)


class RawServer:
    """A server on 127.0.0.1 that answers each request with a script of raw bytes: a mirror that misbehaves.

    ``script(server, connection, path)`` runs in a thread per connection once
    the request head has been read, and answers through :meth:`send` (which
    counts the bytes the client accepted, in ``sent``) and :meth:`idle`. A
    script ends when the client hangs up (what a probe does at its deadline)
    or the server closes. ``requests`` records each request's path and headers.
    """

    def __init__(self, script, tls_context=None):
        self._script = script
        self._tls_context = tls_context
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(64)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connections = []
        self.requests = []
        self.sent = 0
        threading.Thread(target=self._accept_forever, daemon=True).start()

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self._tls_context else 'http', self._listener.getsockname()[1])

    @property
    def paths(self):
        with self._lock:
            return [request.path for request in self.requests]

    def _accept_forever(self):
        while not self._closing.is_set():
            try:
                connection, dummy = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        try:
            connection.settimeout(10)
            if self._tls_context is not None:
                connection = self._tls_context.wrap_socket(connection, server_side=True)
                with self._lock:
                    self._connections.append(connection)
            request = read_request_head(connection)
            if request is None:
                return
            request_line, headers = request
            path = request_line.split(' ')[1]
            with self._lock:
                self.requests.append(SeenRequest(path, headers))
            self._script(self, connection, path)
        except (OSError, ValueError, IndexError):
            pass  # the client hung up, or sent no request
        finally:
            connection.close()

    def send(self, connection, data):
        connection.sendall(data)
        with self._lock:
            self.sent += len(data)

    def idle(self, seconds):
        """Wait; False when the server is closing."""
        return not self._closing.wait(seconds)

    def close(self):
        self._closing.set()
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                try:
                    connection.close()
                except OSError:
                    pass


def answer_bytes(status_line, headers=None, body=b''):
    """A whole HTTP/1.1 answer as bytes."""
    head = ['HTTP/1.1 ' + status_line] + ['%s: %s' % item for item in (headers or {}).items()]
    return ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + body


def trickle_headers(server, connection, path):
    """A status line, then header lines one byte every 50 ms, for ever."""
    server.send(connection, b'HTTP/1.1 200 OK\r\n')
    while True:
        for byte in b'X-Trickle: 1\r\n':
            if not server.idle(0.05):
                return
            server.send(connection, bytes([byte]))


def endless_continue(server, connection, path):
    """'HTTP/1.1 100 Continue' and an empty line every 10 ms, for ever: http.client skips them all."""
    while server.idle(0.01):
        server.send(connection, b'HTTP/1.1 100 Continue\r\n\r\n')


def redirect_with_trickled_body(location, answers=None):
    """A 302 to ``location`` with a body of a million bytes sent one every 50 ms; ``answers`` maps other paths."""
    def script(server, connection, path):
        if answers and path in answers:
            server.send(connection, answers[path])
            return
        server.send(connection, answer_bytes('302 Found', {'Location': location, 'Content-Length': '1000000'}))
        while server.idle(0.05):
            server.send(connection, b'x')
    return script


def stream_body(status_line, headers, size):
    """An answer that declares ``size`` bytes of body and sends them as fast as the client takes them."""
    def script(server, connection, path):
        server.send(connection, answer_bytes(status_line, dict(headers, **{'Content-Length': str(size)})))
        chunk = b'0' * 65536
        left = size
        while left > 0 and not server._closing.is_set():  # pylint: disable=protected-access
            server.send(connection, chunk[:left])
            left -= len(chunk)
    return script


class TunnelProxy:
    """A forward proxy for HTTPS: it answers ``CONNECT host:port`` with 200 and then relays bytes both ways.

    It only tunnels to 127.0.0.1. ``tunnels`` records each CONNECT target and its headers.
    """

    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(16)
        self._lock = threading.Lock()
        self.tunnels = []
        threading.Thread(target=self._accept_forever, daemon=True).start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self._listener.getsockname()[1]

    def _accept_forever(self):
        while True:
            try:
                connection, dummy = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(connection,), daemon=True).start()

    def _tunnel(self, client):
        upstream = None
        try:
            client.settimeout(10)
            request = read_request_head(client)
            if request is None:
                return
            request_line, headers = request
            method, target = request_line.split(' ')[:2]
            with self._lock:
                self.tunnels.append(SeenRequest(target, headers))
            host, dummy, port = target.rpartition(':')
            if method != 'CONNECT' or host != '127.0.0.1':
                client.sendall(b'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
                return
            upstream = socket.create_connection((host, int(port)), timeout=10)
            client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
            threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()
            self._relay(client, upstream)
        except (OSError, ValueError):
            pass
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    @staticmethod
    def _relay(source, destination):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                destination.sendall(data)
        except OSError:
            pass
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self._listener.close()


def module_zip(module, version):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        archive.writestr('%s@%s/go.mod' % (module, version), 'module %s\n' % module)
        archive.writestr('%s@%s/lib.go' % (module, version), 'package lib\n\nconst Answer = 42\n')
    return buffer.getvalue()


class AuthProxy:
    """A GOPROXY over HTTPS serving one module; with ``credentials`` it answers 401 to any other Authorization."""

    def __init__(self, tls_context, credentials=None, module=PRIVATE_MODULE, version='v1.0.0'):
        files = {
            '/%s/@v/list' % module: b'%s\n' % version.encode(),
            '/%s/@v/%s.info' % (module, version): json.dumps({'Version': version,
                                                              'Time': '2024-01-02T03:04:05Z'}).encode(),
            '/%s/@v/%s.mod' % (module, version): b'module %s\n' % module.encode(),
            '/%s/@v/%s.zip' % (module, version): module_zip(module, version),
        }
        expected = None
        if credentials:
            expected = 'Basic ' + base64.b64encode(('%s:%s' % credentials).encode()).decode()
        self.seen = []  # (path, what the Authorization header was: 'none', 'right' or 'wrong')
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):  # pylint: disable=invalid-name
                given = self.headers.get('Authorization')
                verdict = 'none' if given is None else ('right' if given == expected else 'wrong')
                proxy.seen.append((self.path, verdict))
                if expected and verdict != 'right':
                    status, body, headers = 401, b'login needed\n', {'WWW-Authenticate': 'Basic realm="goproxy"'}
                elif self.path in files:
                    status, body, headers = 200, files[self.path], {}
                else:
                    status, body, headers = 404, b'not found\n', {}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = tls_context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self._server.server_address[1]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


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
