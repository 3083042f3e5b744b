"""Serve a static GOPROXY tree over HTTP and HTTPS, with an access log.

Go asks for <module>/@v/list, .info, .mod, .zip and <module>/@latest; a
missing file answers 404, which tells the go command to try the next proxy.
"""
import argparse
import functools
import http.server
import ssl
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    access_log = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):
        with self.lock, open(self.access_log, "a") as f:
            f.write("%s %s\n" % (self.address_string(), fmt % args))

    def guess_type(self, path):
        if path.endswith((".info", "@latest")):
            return "application/json"
        if path.endswith(".zip"):
            return "application/zip"
        return "text/plain; charset=utf-8"


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
    p.add_argument("--cert")
    p.add_argument("--key")
    a = p.parse_args()
    import os
    os.makedirs(os.path.dirname(a.log), exist_ok=True)
    Handler.access_log = a.log
    handler = functools.partial(Handler, directory=a.root)
    threads = [serve(a.http, handler)]
    if a.https:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        threads.append(serve(a.https, handler, ctx))
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
