"""Serve a static GOPROXY tree over HTTP and HTTPS, with an access log.

Go asks for <module>/@v/list, .info, .mod, .zip and <module>/@latest; a
missing file answers 404, which tells the go command to try the next proxy.

--https-auth serves the same tree over HTTPS like a corporate proxy with a
login (Artifactory, Nexus): the public tree to anyone who sends no
credentials, plus a private tree (--private-root) only to a login of the
--credentials file (lines `login:password`). Wrong credentials are refused on
every path, a private path without credentials too: 401 with
`WWW-Authenticate: Basic`. The access log names the login (user=-
when none was sent), never the password.
"""
import argparse
import base64
import binascii
import functools
import hmac
import http.server
import os
import ssl
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    access_log = None
    lock = threading.Lock()
    user = "-"

    def log_message(self, fmt, *args):
        with self.lock, open(self.access_log, "a") as f:
            f.write("%s user=%s %s\n" % (self.address_string(), self.user, fmt % args))

    def guess_type(self, path):
        if path.endswith((".info", "@latest")):
            return "application/json"
        if path.endswith(".zip"):
            return "application/zip"
        return "text/plain; charset=utf-8"


class AuthHandler(Handler):
    """The public tree to anyone, the private tree to a known login; wrong credentials nowhere."""

    credentials = {}
    private_root = None
    realm = "buildfleet lab GOPROXY"

    def private_path(self):
        """The file this request names in the private tree, or None."""
        public_root = self.directory
        try:
            self.directory = self.private_root
            path = self.translate_path(self.path)
        finally:
            self.directory = public_root
        return path if os.path.exists(path) else None

    def refuse(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="%s"' % self.realm)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        body = b"401 Unauthorized: this proxy needs a login for that\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def authenticate(self):
        """True for a known login and its password, False for wrong ones, None when none was sent."""
        header = self.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _space, token = header.partition(" ")
        if scheme.lower() != "basic":
            self.user = "?"
            return False
        try:
            login, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            self.user = "?"
            return False
        self.user = login if login.isprintable() and " " not in login and login else "?"
        expected = self.credentials.get(login)
        if not sep or expected is None:
            return False
        return hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))

    def serve(self, method):
        self.user = "-"
        known = self.authenticate()
        if known is False:
            self.refuse()
            return
        private = self.private_path()
        if private is not None:
            if not known:
                self.refuse()
                return
            public_root, self.directory = self.directory, self.private_root
            try:
                method(self)
            finally:
                self.directory = public_root
            return
        method(self)

    def do_GET(self):
        self.serve(Handler.do_GET)

    def do_HEAD(self):
        self.serve(Handler.do_HEAD)


def read_credentials(path):
    credentials = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                login, _colon, password = line.partition(":")
                credentials[login] = password
    if not credentials:
        raise SystemExit("%s holds no login:password line" % path)
    return credentials


def serve(addr, handler, context=None):
    host, port = addr.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--http", required=True)
    p.add_argument("--https")
    p.add_argument("--https-auth", help="address of the HTTPS listener that needs a login for --private-root")
    p.add_argument("--private-root", help="the tree only a login of --credentials gets (with --https-auth)")
    p.add_argument("--credentials", help="file of login:password lines (with --https-auth)")
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    if a.https_auth and not (a.private_root and a.credentials):
        p.error("--https-auth needs --private-root and --credentials")
    os.makedirs(os.path.dirname(a.log), exist_ok=True)
    Handler.access_log = a.log
    handler = functools.partial(Handler, directory=a.root)
    threads = [serve(a.http, handler)]
    if a.https or a.https_auth:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    if a.https:
        threads.append(serve(a.https, handler, ctx))
    if a.https_auth:
        AuthHandler.credentials = read_credentials(a.credentials)
        AuthHandler.private_root = a.private_root
        threads.append(serve(a.https_auth, functools.partial(AuthHandler, directory=a.root), ctx))
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
