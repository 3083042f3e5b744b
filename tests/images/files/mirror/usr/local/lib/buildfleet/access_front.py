"""A logging reverse proxy in front of one lab server (pypiserver, verdaccio), over HTTP and HTTPS.

The lab's package index and registry listen on loopback ports of their own; the
ports the tests use belong to this front, which forwards every request to the
server unchanged (the Host header too, so the server builds its links for the
port the client asked) and writes one line per request to the access log:

    <client> <scheme>:<port> <METHOD> <path> <status> ua=<user agent>

PyPI and the npm registry may still answer inside the lab through this
network's package proxy: the tests prove an install by these lines.
X-Forwarded-Proto tells the server which scheme the client used (verdaccio
writes it into its tarball URLs).
"""
import argparse
import http.client
import http.server
import os
import ssl
import threading

# Hop-by-hop headers (RFC 9110 7.6.1) are the front's own business, never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "proxy-connection"}


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend = None  # (host, port)
    access_log = None
    scheme = "http"
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # the access log below replaces the default stderr lines
        pass

    def write_access(self, status):
        agent = self.headers.get("User-Agent", "-") if self.headers else "-"
        line = "%s %s:%d %s %s %s ua=%s" % (
            self.client_address[0], self.scheme, self.server.server_address[1], self.command, self.path, status, agent)
        line = line.replace("\r", " ").replace("\n", " ")
        with self.lock, open(self.access_log, "a") as f:
            f.write(line + "\n")

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-Proto"] = self.scheme
        headers["X-Forwarded-For"] = self.client_address[0]
        try:
            conn = http.client.HTTPConnection(*self.backend, timeout=120)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, reason, resp_headers = resp.status, resp.reason, resp.getheaders()
            conn.close()
        except OSError as exc:
            data = ("502 the lab server behind this front does not answer: %s\n" % exc).encode()
            status, reason = 502, "Bad Gateway"
            resp_headers = [("Content-Type", "text/plain; charset=utf-8")]
        # The server's own Date and Server headers go back as they are: the front adds none.
        self.send_response_only(status, reason)
        length_sent = False
        for name, value in resp_headers:
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() == "content-length":
                if self.command != "HEAD":
                    continue
                length_sent = True
            self.send_header(name, value)
        if not length_sent:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        self.write_access(status)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = forward


def serve(addr, handler, context=None):
    host, port = addr.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", required=True, help="host:port of the server behind the front (plain HTTP)")
    p.add_argument("--log", required=True, help="the access log, one line per request")
    p.add_argument("--http", required=True, help="host:port of the plain listener")
    p.add_argument("--https", help="host:port of the TLS listener (with --cert and --key)")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    if a.https and not (a.cert and a.key):
        p.error("--https needs --cert and --key")
    os.makedirs(os.path.dirname(a.log), exist_ok=True)
    host, port = a.backend.rsplit(":", 1)
    attrs = {"backend": (host, int(port)), "access_log": a.log}
    threads = [serve(a.http, type("HttpFront", (Front,), dict(attrs, scheme="http")))]
    if a.https:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        threads.append(serve(a.https, type("HttpsFront", (Front,), dict(attrs, scheme="https")), ctx))
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
