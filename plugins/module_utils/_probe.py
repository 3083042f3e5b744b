# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Probe Go module proxies, Go checksum databases, Docker registry mirrors, Python simple indexes and npm registries,
in parallel, each within a deadline.

Pure Python (no Ansible import): the module hands in the TLS context it built
with Ansible's ``make_context``, and the tests can hand in any ``fetch``.

``fetch(url, deadline, credentials=None, body_limit=0)`` makes one GET, never
follows a redirect, and returns an :class:`HttpAnswer` for any HTTP answer,
whatever its status (404 and 500 are answers, not failures); it raises when no
HTTP answer came (deadline passed, refused connection, TLS failure, name
resolution failure...). It reads at most ``body_limit`` bytes of a 2xx answer's
body and nothing of any other answer's. The manifest probe of an image also
passes ``method`` (``HEAD`` or ``GET``), ``headers`` (``Accept``, a Bearer
``Authorization``) and ``error_body_limit`` (bytes of a non-2xx body to read,
for the registry's error code); a fetch that never probes images need not take
them. :class:`HttpFetcher` is the real one:
it opens the connection itself, so that ``timeout`` is a wall-clock deadline
whatever the server does (trickled headers, endless ``100 Continue``, a body
that never ends), which per-read socket timeouts cannot promise.

The planning (which URL answers which question), the redirect rules and the
judging of answers are here too, next to the report they feed.

Nothing here ever puts a credential in a result or a message: URLs go through
``redact_url`` and error texts through the URL's own list of secrets.
"""

from __future__ import annotations

import base64
import collections
import html.parser
import http.client
import io
import json
import math
import netrc
import os
import re
import socket
import ssl
import threading
import time
import urllib.request

from dataclasses import dataclass, field, replace
from urllib.error import URLError
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    credentials_for_url,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    escape_module_path,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    escaped_package_name,
    validate_package_name,
    validate_registry_url,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    canonical_project_name,
    validate_index_url,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    has_credentials,
    redact_url,
    show,
    url_secrets,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)

KINDS = ('goproxy', 'gosumdb', 'registry')
# Package index kinds: a report names them (in reachable_urls and unreachable_urls) only when it probed them, so a
# check of Go and Docker mirrors alone reports exactly what it did before they existed.
PACKAGE_KINDS = ('pypi', 'npm')
ALL_KINDS = KINDS + PACKAGE_KINDS
REQUIREMENTS = ('all', 'any', 'none')
REGISTRY_API_VERSION_HEADER = 'Docker-Distribution-API-Version'

# What one probe may read: a registry's /v2/ body is '{}', a redirect's body is never needed.
REGISTRY_BODY_LIMIT = 64 * 1024
# A token service's JSON answer, and the JSON error of a manifest request (read for its error code only).
TOKEN_BODY_LIMIT = 64 * 1024
ERROR_BODY_LIMIT = 16 * 1024
# What a manifest request accepts: what containerd and dockerd ask for when they resolve an image.
MANIFEST_MEDIA_TYPES = (
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
)
CONTENT_DIGEST_HEADER = 'Docker-Content-Digest'
# What pip 26 asks a simple index for (pip/_internal/index/collector.py): PEP 691 JSON first, then PEP 503 HTML.
PYPI_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01'
# The only Content-Types pip reads a project page in; anything else fails pip's install, so it fails the probe.
PYPI_JSON_TYPE = 'application/vnd.pypi.simple.v1+json'
PYPI_HTML_TYPES = ('application/vnd.pypi.simple.v1+html', 'text/html')
# What npm 11 asks a registry for when it installs (pacote's corgiDoc: the abbreviated packument, else the full one).
NPM_ACCEPT = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'
# How much of a project page or a packument a probe reads: enough for the start of any of them, where the files or
# the versions are; a larger page is judged by that start.
PACKAGE_BODY_LIMIT = 1024 * 1024
# What a file on a PEP 503 page ends with: a wheel, an sdist or an egg (a login page's links do not).
DISTRIBUTION_SUFFIXES = ('.whl', '.tar.gz', '.zip', '.tar.bz2', '.tar.xz', '.tgz', '.tar', '.egg')
# Status lines and headers of one answer (interim 100 Continue answers included).
HEAD_LIMIT = 64 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Back-off before retry n (1, 2, ...): 0.2 s, 0.4 s, 0.8 s... never more than 2 s, never past the deadline.
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 2.0
# How long the check waits, after a probe's deadline has passed and its sockets were shut, for the probe's thread to
# notice; a thread still blocked after that (in name resolution, which no socket timeout covers) is left behind.
ABANDON_GRACE = 0.25
# With more probes than workers, no probe's deadline runs past this many timeouts from the start of the check.
CHECK_DEADLINE_FACTOR = 1.5


# ---------------------------------------------------------------------------
# What a fetch returns, what a probe asks, what it found
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpAnswer:
    """What a fetch returns: the HTTP status, the response headers and at most ``body_limit`` bytes of body."""

    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b''
    body_truncated: bool = False    # the body holds more than was read
    received: int = 0               # bytes read from the network for this answer, headers included

    def header(self, name):
        """Case-insensitive header lookup."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class ProbeImage:
    """An image on a registry, as _image_refs.parse_image reads it: what a manifest request asks for."""

    repository: str     # library/hello
    reference: str      # a tag, or a digest
    shown: str          # docker.io/library/hello:latest


@dataclass(frozen=True)
class Login:
    """Basic credentials a probe sends, and where they come from (for messages: never the login or the password)."""

    user: str = field(repr=False)
    password: str = field(repr=False)
    source: str = ''    # 'for machine goproxy.corp.example.com:8443', 'in the URL', 'of ~/.netrc for machine x'


# Kinds whose clients are the go command: they get the ``credentials`` of mirror_check, as Go reads its netrc.
GO_KINDS = ('goproxy', 'gosumdb')


@dataclass(frozen=True)
class Probe:
    """One request to make: which caller URL it checks, what to GET and what counts as an answer."""

    kind: str
    index: int          # position of url in the caller's list, so a role can pick its own string
    url: str            # the caller's string, credentials included: never printed as is
    target: str         # the URL to GET; for a file:// proxy, the local path to look for
    accepted: tuple = ()    # statuses that mean reachable; empty: any status below 500
    expectation: str = 'an HTTP answer below 500'
    is_local: bool = False  # file:// GOPROXY entries are checked on the host's file system
    registry: bool = False  # judged as a Registry HTTP API v2 base (see judge_registry)
    body_limit: int = 0     # bytes of a 2xx body the judgement needs
    follow_other_hosts: bool = True  # follow a redirect to another host (Go does; dockerd's /v2/ check does not)
    upstream: str | None = None     # registry probes: the registry the mirror stands in for (docker.io, ghcr.io...)
    image: ProbeImage | None = None  # registry probes: an image whose manifest the mirror must serve
    login: Login | None = None      # credentials given for this URL (mirror_check's credentials); the URL's win
    netrc: bool = True              # without a login, read ~/.netrc (or $NETRC) as before; False once credentials
    #                                 are given, as the go command does not read ~/.netrc once NETRC names a file
    accept: str | None = None       # the Accept header the client sends (pypi, npm)
    package: str | None = None      # pypi: the normalised project; npm: the package name

    def accepts(self, status):
        return status in self.accepted if self.accepted else status < 500


@dataclass(frozen=True)
class Outcome:
    """The result of one probe, after retries."""

    reachable: bool
    status: int | None
    latency_ms: int | None
    error: str | None
    attempts: int
    answer: HttpAnswer | None = None
    redirected_to: str | None = None    # the URL that gave the answer, when redirects were followed
    request_url: str | None = None      # the last URL asked, when it is not the probe's target (a manifest)
    digest: str | None = None           # the manifest's Docker-Content-Digest, for a probe with an image


class ProbeError(Exception):
    """A probe's failure whose message is already fit to show (redacted)."""


class Refused(ProbeError):
    """A definite answer that makes the mirror unreachable: asking again would get the same one."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class TokenServiceError(ProbeError):
    """A token service's 5xx answer: a retry may get a token; the message says where already."""


class RedirectRefused(Refused):
    """A redirect this probe does not follow; its 3xx answer is the probe's definite answer."""


class AnswerTooLarge(ProbeError):
    """More bytes arrived before the body than any mirror sends."""


class DeadlinePassed(socket.timeout):  # pylint: disable=too-few-public-methods
    """The probe's deadline passed (a socket.timeout, so code that handles timeouts handles it)."""


def join_url(base, suffix):
    """Append a path to a URL, keeping its query string (Go keeps it on every proxy request)."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip('/') + '/' + suffix, parts.query, ''))


def local_path(file_url, suffix=''):
    """The file system path that a file:// GOPROXY URL (plus a protocol path) points at."""
    path = unquote(urlsplit(file_url).path)
    return os.path.join(path, *suffix.split('/')) if suffix else path


# ---------------------------------------------------------------------------
# Planning: which requests answer the caller's question
# ---------------------------------------------------------------------------

def plan_goproxy(url, index, probe_module):
    if probe_module:
        suffix = escape_module_path(probe_module) + '/@v/list'
        expectation = '200 on the version list of %s' % probe_module
        accepted = (200,)
    else:
        suffix, expectation, accepted = '', 'an HTTP answer below 500', ()
    if url.lower().startswith('file:'):
        return Probe('goproxy', index, url, local_path(url, suffix), accepted,
                     'the file %s' % suffix if suffix else 'the directory', is_local=True)
    return Probe('goproxy', index, url, join_url(url, suffix) if suffix else url, accepted, expectation)


def plan_sumdb_supported(url, index, sumdb):
    suffix = 'sumdb/%s/supported' % sumdb.name
    if url.lower().startswith('file:'):
        return Probe('goproxy', index, url, local_path(url, suffix), (200,), 'the file ' + suffix, is_local=True)
    return Probe('goproxy', index, url, join_url(url, suffix), (200,), '200 on ' + suffix)


def plan_gosumdb(sumdb):
    # /latest is the first thing the go command asks a checksum database for.
    return Probe('gosumdb', 0, sumdb.url, join_url(sumdb.url, 'latest'), (200,), '200 on /latest')


def plan_pypi(url, index, project='pip'):
    """The probe of a simple index: ``<index>/<normalised project>/``, asked as pip asks it (PEP 691, then 503)."""
    project = canonical_project_name(project)
    return Probe('pypi', index, url, join_url(url, project + '/'), (200,),
                 '200 with the simple-API page of %s' % project, body_limit=PACKAGE_BODY_LIMIT, accept=PYPI_ACCEPT,
                 package=project)


def plan_npm(url, index, package='npm'):
    """The probe of an npm registry: ``<registry>/<package>`` (``@scope%2fname``), asked as npm asks for a packument.

    npm never reads ~/.netrc, so neither does this probe: a registry that needs a login fails it, as it fails npm.
    """
    return Probe('npm', index, url, join_url(url, escaped_package_name(package)), (200,),
                 '200 with the packument of %s' % package, body_limit=PACKAGE_BODY_LIMIT, accept=NPM_ACCEPT,
                 package=package, netrc=False)


def plan_registry(url, index, upstream=DOCKER_HUB, image=None):
    """The /v2/ probe of a mirror of ``upstream``; with ``image`` (a ProbeImage) the manifest is asked for next."""
    return Probe('registry', index, url, join_url(url, 'v2/'), (200, 401),
                 '200 or 401 on /v2/ (the Registry HTTP API v2)', registry=True,
                 body_limit=REGISTRY_BODY_LIMIT, follow_other_hosts=False, upstream=upstream, image=image)


def manifest_url(probe):
    """Where a mirror of ``probe.upstream`` serves the image's manifest, with ``?ns=`` as containerd asks a mirror.

    dockerd's ``registry-mirrors`` (Docker Hub) send no ``ns``; containerd's
    hosts.toml mirrors get ``?ns=<registry>`` for every registry but Docker Hub here.
    """
    image = probe.image
    url = join_url(probe.url, 'v2/%s/manifests/%s' % (image.repository, image.reference))
    if probe.upstream in DOCKER_HUB_ALIASES:
        return url
    return url + '?' + urlencode({'ns': probe.upstream})


# ---------------------------------------------------------------------------
# Judging an answer
# ---------------------------------------------------------------------------

def judge(probe, answer, sent_login=None):
    """Return why ``answer`` does not make the mirror reachable, or None when it does.

    ``sent_login`` is the :class:`Login` the request that got ``answer`` carried, or None. A Go proxy or checksum
    database answering 401 or 403 is never reachable: the go command fails there too.
    """
    if probe.registry:
        return judge_registry(answer, probe.expectation)
    if probe.kind in PACKAGE_KINDS and answer.status in (401, 403):
        if sent_login is not None:
            return 'refused the credentials %s (%d)' % (sent_login.source, answer.status)
        return ('asks for credentials (%d); credentials for a private index are not managed by this collection yet'
                % answer.status)
    if probe.kind == 'pypi':
        return judge_simple_page(answer, probe.package)
    if probe.kind == 'npm':
        return judge_packument(answer, probe.package)
    if probe.kind in GO_KINDS and answer.status in (401, 403):
        if sent_login is not None:
            return 'refused the credentials %s (%d)' % (sent_login.source, answer.status)
        return ('asks for credentials (%d): set go_proxy_credentials (the credentials of mirror_check) for its '
                'host' % answer.status)
    if probe.accepts(answer.status):
        return None
    return 'answered HTTP %d, expected %s' % (answer.status, probe.expectation)


def _media_type(answer):
    return (answer.header('Content-Type') or '').split(';')[0].strip().lower()


def _top_level_values(text):
    """The keys of the JSON object that ``text`` starts (a whole body or only its start), each with the first two
    characters that are not whitespace from its value on ('[{', '{}', '"x'...): enough to tell an empty list or
    object from a full one without the rest of the body."""
    found = {}
    position = len(text) - len(text.lstrip())
    if not text[position:position + 1] == '{':
        return found
    depth = 0
    while position < len(text):
        char = text[position]
        if char == '"':
            end = position + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == '\\' else 1
            if end >= len(text):
                return found
            key = text[position + 1:end]
            position = end + 1
            if depth == 1:
                rest = text[position:].lstrip()
                if rest[:1] == ':':
                    value = ''.join(rest[1:].split())[:2]
                    found.setdefault(key, value)
            continue
        if char in '{[':
            depth += 1
        elif char in '}]':
            depth -= 1
        position += 1
    return found


class _DistributionLinks(html.parser.HTMLParser):
    """Counts the anchors of a PEP 503 page whose href names a distribution file."""

    def __init__(self):
        super().__init__()
        self.files = 0
        self.anchors = 0

    def handle_starttag(self, tag, attrs):
        if tag != 'a':
            return
        self.anchors += 1
        href = dict(attrs).get('href') or ''
        path = urlsplit(href).path if '://' in href or href.startswith('/') else href.split('#')[0].split('?')[0]
        if unquote(path).lower().endswith(DISTRIBUTION_SUFFIXES):
            self.files += 1


def judge_simple_page(answer, project):
    """A project page of a simple index: 200, a Content-Type pip reads, and at least one file of the project.

    PEP 691 JSON needs a ``files`` list that is not empty (and, when the whole body was read, the project's own
    ``name``); PEP 503 HTML needs an anchor to a distribution file. A body larger than the probe reads is judged
    by its start.
    """
    if answer.status != 200:
        return 'answered HTTP %d, expected 200 with the simple-API page of %s' % (answer.status, project)
    media_type = _media_type(answer)
    text = answer.body.decode('utf-8', 'replace')
    if media_type == PYPI_JSON_TYPE:
        if answer.body_truncated:
            files = _top_level_values(text).get('files')
            if files is None:
                return ('answered a PEP 691 page larger than %d KiB whose start holds no "files" list'
                        % (PACKAGE_BODY_LIMIT // 1024))
            return None if files[:1] == '[' and files[1:2] not in ('', ']') else 'lists no files of %s' % project
        try:
            page = json.loads(text)
        except ValueError:
            return 'answered %s with a body that is not JSON' % PYPI_JSON_TYPE
        if not isinstance(page, dict) or not isinstance(page.get('files'), list):
            return 'answered %s without a "files" list (PEP 691)' % PYPI_JSON_TYPE
        name = page.get('name')
        if isinstance(name, str) and canonical_project_name(name) != project:
            return 'answered the page of another project (%s) for %s' % (name[:80], project)
        return None if page['files'] else 'lists no files of %s' % project
    if media_type in PYPI_HTML_TYPES:
        links = _DistributionLinks()
        try:
            links.feed(text)
        except Exception:  # pylint: disable=broad-exception-caught  # a parser error is a page pip cannot read
            return 'answered HTML that is not a simple-API page'
        if links.files:
            return None
        return ('answered HTML with %d links and none to a file of %s: not the PEP 503 page of the project (a login '
                'or error page?)' % (links.anchors, project))
    return ('answered 200 with Content-Type %s; pip reads only %s, %s' % (
        repr(answer.header('Content-Type'))[:80] if answer.header('Content-Type') else 'none', PYPI_JSON_TYPE,
        ' and '.join(PYPI_HTML_TYPES)))


def judge_packument(answer, package):
    """A packument: 200 and a JSON object with a ``versions`` object that is not empty (and the package's own name)."""
    if answer.status != 200:
        return 'answered HTTP %d, expected 200 with the packument of %s' % (answer.status, package)
    text = answer.body.decode('utf-8', 'replace')
    if answer.body_truncated:
        versions = _top_level_values(text).get('versions')
        if versions is None:
            return ('answered a body larger than %d KiB whose start is not a packument with "versions"'
                    % (PACKAGE_BODY_LIMIT // 1024))
        return None if versions[:1] == '{' and versions[1:2] not in ('', '}') else 'has no versions of %s' % package
    try:
        packument = json.loads(text)
    except ValueError:
        return 'answered 200 with a body that is not JSON, not a packument'
    if not isinstance(packument, dict) or not isinstance(packument.get('versions'), dict):
        return 'answered JSON without a "versions" object, not a packument'
    name = packument.get('name')
    if isinstance(name, str) and name != package:
        return 'answered the packument of another package (%s) for %s' % (name[:80], package)
    return None if packument['versions'] else 'has no versions of %s' % package


def _is_json_object(body):
    try:
        return isinstance(json.loads(body.decode('utf-8')), dict)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False


def judge_registry(answer, expectation='200 or 401 on /v2/ (the Registry HTTP API v2)'):
    """A registry answers /v2/ with 200 or 401 and its API version header, or with 200 and a JSON object.

    Docker's registry (and Debian's ``docker-registry``) sends
    ``Docker-Distribution-Api-Version: registry/2.0`` and ``{}``; a plain web
    server answering 200 with a page is not a registry, whatever its status.
    """
    has_version = answer.header(REGISTRY_API_VERSION_HEADER) is not None
    if answer.status not in (200, 401):
        return 'answered HTTP %d, expected %s' % (answer.status, expectation)
    if has_version:
        return None
    if answer.status == 401:
        return ('answered HTTP 401 without the %s header: a login page, not the Registry HTTP API v2'
                % REGISTRY_API_VERSION_HEADER)
    if answer.body_truncated:
        body = 'a body larger than %d KiB' % (REGISTRY_BODY_LIMIT // 1024)
    elif _is_json_object(answer.body):
        return None
    else:
        content_type = (answer.header('Content-Type') or '').strip()
        body = 'a body that is not a JSON object' + (' (%s)' % content_type[:60] if content_type else '')
    return ('answered HTTP 200 without the %s header and with %s: a web server, not the Registry HTTP API v2'
            % (REGISTRY_API_VERSION_HEADER, body))


# ---------------------------------------------------------------------------
# The deadline of one probe, and the connection that keeps it
# ---------------------------------------------------------------------------

class Deadline:
    """The wall-clock end of one probe: every connect, read, retry and back-off of the probe ends by it.

    The sockets the probe opens are registered here, so that :meth:`expire`,
    called from another thread when the time is up, can shut them: a thread
    blocked in a read wakes at once.
    """

    def __init__(self, seconds, latest_end=None):
        self.seconds = seconds
        self.started = time.monotonic()
        self.end = self.started + seconds
        # A probe that starts late, behind max_workers, gets only what is left of the whole check.
        self.shortened = latest_end is not None and latest_end < self.end
        if self.shortened:
            self.end = latest_end
        self.attempts = 0
        self._expired = threading.Event()
        self._lock = threading.Lock()
        self._sockets = set()

    @property
    def passed(self):
        return self._expired.is_set() or time.monotonic() >= self.end

    def describe(self):
        """The error of a probe whose deadline passed."""
        if self.shortened:
            return ('timed out after %.2gs, what was left of the whole check (%g x timeout, with more probes than '
                    'max_workers)' % (max(self.end - self.started, 0), CHECK_DEADLINE_FACTOR))
        return 'timed out after %gs' % self.seconds

    def remaining(self):
        """Seconds left; raises DeadlinePassed when none are."""
        left = self.end - time.monotonic()
        if left <= 0 or self._expired.is_set():
            raise DeadlinePassed('timed out')
        return left

    def pause(self, seconds):
        """Wait ``seconds`` before a retry and return True; return False at once if the deadline would pass first."""
        if time.monotonic() + seconds >= self.end:
            return False
        return not self._expired.wait(seconds)

    def track(self, sock):
        with self._lock:
            self._sockets.add(sock)
        if self._expired.is_set():
            _shut(sock)

    def forget(self, sock):
        with self._lock:
            self._sockets.discard(sock)

    def expire(self):
        """The time is up: wake every read of this probe by shutting its sockets."""
        self._expired.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock):
    try:
        # The plain socket call, also for a TLS socket: SSLSocket.shutdown would drop its TLS state under the
        # feet of the thread that is reading from it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet, or already closed


class _Exchange:
    """One request: its sockets, closed together at the end, and the bytes received, bounded."""

    def __init__(self, deadline, receive_limit):
        self.deadline = deadline
        self.receive_limit = receive_limit
        self.received = 0
        self._sockets = []

    def own(self, sock):
        self._sockets.append(sock)
        self.deadline.track(sock)

    def count(self, size):
        self.received += size
        if self.received > self.receive_limit:
            raise AnswerTooLarge('sent more than %d KiB of status lines and headers: not a mirror\'s answer'
                                 % (HEAD_LIMIT // 1024))

    def close(self):
        for sock in self._sockets:
            self.deadline.forget(sock)
            try:
                sock.close()
            except OSError:
                pass


class _DeadlineSocket:
    """A connected socket whose every send and receive waits only until the deadline, and counts what it reads.

    http.client reads through ``makefile('rb')``: each refill of its buffer is
    one ``recv_into`` here, so a server that trickles bytes or repeats
    ``100 Continue`` forever runs into the deadline on the next read.
    """

    def __init__(self, sock, exchange):
        self.raw = sock
        self._exchange = exchange
        self._io_refs = 0
        self._closed = False

    def _arm(self):
        self.raw.settimeout(self._exchange.deadline.remaining())

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._arm()
        size = self.raw.recv_into(buffer, nbytes or len(buffer), flags)
        self._exchange.count(size)
        return size

    def recv(self, bufsize, flags=0):
        self._arm()
        data = self.raw.recv(bufsize, flags)
        self._exchange.count(len(data))
        return data

    def sendall(self, data, *flags):
        self._arm()
        return self.raw.sendall(data, *flags)

    def makefile(self, mode='rb', buffering=None, **dummy):
        if mode != 'rb':
            raise ValueError('only binary reading is supported, not %r' % mode)
        self._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, 'rb'), buffering or io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self):
        self._io_refs -= 1
        if self._closed:
            self.close()

    def close(self):
        # As socket.socket does: a response still reading keeps the socket open (the exchange closes it in the end).
        self._closed = True
        if self._io_refs <= 0:
            self.raw.close()

    def fileno(self):
        return self.raw.fileno()

    def __getattr__(self, name):
        return getattr(self.raw, name)


def _open_socket(host, port, exchange):
    """socket.create_connection, each address tried only until the deadline, every socket owned by the exchange."""
    deadline = exchange.deadline
    last_error = None
    # Name resolution has no timeout; a thread stuck here is left behind by run_probes at the deadline.
    for family, kind, proto, dummy, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        exchange.own(sock)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address)
        except OSError as error:
            if deadline.passed:
                raise DeadlinePassed('timed out') from None
            last_error = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error or OSError('no address for %s' % host)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that connects, sends and reads within the exchange's deadline."""

    def __init__(self, host, port, exchange):
        super().__init__(host, port, timeout=exchange.deadline.remaining())
        self._exchange = exchange

    def connect(self):
        self.sock = _DeadlineSocket(_open_socket(self.host, self.port, self._exchange), self._exchange)
        if self._tunnel_host:
            self._tunnel()  # CONNECT through the proxy, read through the deadline socket as well


class _DeadlineHTTPSConnection(_DeadlineHTTPConnection):
    """HTTPS on top of the deadline connection: the handshake too must end by the deadline."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host, port, exchange, context):
        super().__init__(host, port, exchange)
        self._context = context

    def connect(self):
        super().connect()
        server_hostname = self._tunnel_host or self.host
        tls = self._context.wrap_socket(self.sock.raw, server_hostname=server_hostname,
                                        do_handshake_on_connect=False)
        self._exchange.own(tls)
        tls.settimeout(self._exchange.deadline.remaining())
        tls.do_handshake()
        self.sock = _DeadlineSocket(tls, self._exchange)


def basic_authorization(user, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode('utf-8')).decode('ascii')


@dataclass(frozen=True)
class _Proxy:
    host: str
    port: int
    authorization: str | None


class HttpFetcher:
    """The real ``fetch``: one GET over a connection of its own, within the probe's deadline.

    It behaves as Ansible's URL layer does for ``ansible.builtin.uri``:
    ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` from the environment when
    ``use_proxy`` (a ``CONNECT`` tunnel for https, proxy credentials from the
    proxy URL), the TLS context built by ``make_context`` (CA bundle, client
    certificate, ``validate_certs``). Safe to call from many threads.
    """

    def __init__(self, tls_context, use_proxy=True, user_agent='ansible-buildfleet.mirrors.mirror_check'):
        self.tls_context = tls_context
        self.use_proxy = use_proxy
        self.user_agent = user_agent

    def proxy_for(self, scheme, host_port):
        """The proxy from the environment for this scheme and host, as urllib's ProxyHandler picks it, or None."""
        if not self.use_proxy:
            return None
        proxy = urllib.request.getproxies().get(scheme)
        if not proxy or urllib.request.proxy_bypass(host_port):
            return None
        parts = urlsplit(proxy if '://' in proxy else 'http://' + proxy)
        authorization = None
        if parts.username is not None:
            authorization = basic_authorization(unquote(parts.username), unquote(parts.password or ''))
        # As urllib does, the proxy itself is spoken to in plain HTTP whatever its URL's scheme.
        return _Proxy(parts.hostname, parts.port or 80, authorization)

    def __call__(self, url, deadline, credentials=None, body_limit=0, method='GET', headers=None,
                 error_body_limit=0):
        """One request; ``headers`` are added to (and may replace) the default ones, ``credentials`` are Basic auth."""
        if method not in ('GET', 'HEAD'):
            raise ProbeError('cannot fetch with %s: only GET and HEAD' % method)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ('http', 'https') or not parts.hostname:
            raise ProbeError('cannot fetch %s: only http and https URLs with a host' % redact_url(url))
        port = parts.port or (443 if scheme == 'https' else 80)
        host_port = parts.netloc.rpartition('@')[2]
        target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
        extra_headers = headers or {}
        headers = {'User-Agent': self.user_agent, 'Connection': 'close'}
        if credentials is not None:
            headers['Authorization'] = basic_authorization(*credentials)
        headers.update(extra_headers)

        exchange = _Exchange(deadline, HEAD_LIMIT + max(body_limit, error_body_limit) + 1 + io.DEFAULT_BUFFER_SIZE)
        proxy = self.proxy_for(scheme, host_port)
        if proxy is None and scheme == 'http':
            connection = _DeadlineHTTPConnection(parts.hostname, port, exchange)
        elif proxy is None:
            connection = _DeadlineHTTPSConnection(parts.hostname, port, exchange, self.tls_context)
        elif scheme == 'http':
            connection = _DeadlineHTTPConnection(proxy.host, proxy.port, exchange)
            target = urlunsplit(('http', host_port, parts.path or '/', parts.query, ''))
            if proxy.authorization:
                headers['Proxy-Authorization'] = proxy.authorization
        else:
            connection = _DeadlineHTTPSConnection(proxy.host, proxy.port, exchange, self.tls_context)
            connection.set_tunnel(parts.hostname, port,
                                  headers={'Proxy-Authorization': proxy.authorization} if proxy.authorization else None)
        try:
            connection.request(method, target, headers=headers)
            response = connection.getresponse()
            limit = body_limit if 200 <= response.status < 300 else error_body_limit
            body = b''
            if limit and method != 'HEAD':
                body = response.read(limit + 1)  # one byte more tells that there was more
            return HttpAnswer(response.status, _joined_headers(response.getheaders()), body[:limit],
                              len(body) > limit, exchange.received)
        finally:
            exchange.close()


def _joined_headers(pairs):
    """The answer's headers as a dict; a header sent more than once (WWW-Authenticate) has its values joined by ', '."""
    headers = {}
    for name, value in pairs:
        known = next((key for key in headers if key.lower() == name.lower()), None)
        if known is None:
            headers[name] = value
        else:
            headers[known] += ', ' + value
    return headers


# ---------------------------------------------------------------------------
# Credentials and redirects
# ---------------------------------------------------------------------------

def _without_userinfo(url):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition('@')[2]))


def request_credentials(url):
    """Basic auth for the caller's URL: its userinfo, percent-decoded, else ~/.netrc for its host, else None."""
    login = url_login(url)
    return (login.user, login.password) if login is not None else None


def url_login(url, netrc_too=True):
    """The :class:`Login` of a URL's userinfo (percent-decoded), else of ~/.netrc for its host (if ``netrc_too``)."""
    parts = urlsplit(url)
    userinfo, at_sign, dummy = parts.netloc.rpartition('@')
    if at_sign:
        user, dummy, password = userinfo.partition(':')
        return Login(unquote(user), unquote(password), 'in the URL')
    if not netrc_too:
        return None
    try:
        login = netrc.netrc(os.environ.get('NETRC')).authenticators(parts.hostname or '')
    except (OSError, netrc.NetrcParseError):
        return None
    if login and login[0] and login[2]:
        where = '$NETRC' if os.environ.get('NETRC') else '~/.netrc'
        return Login(login[0], login[2], 'of %s for machine %s' % (where, parts.hostname))
    return None


def probe_login(probe):
    """The :class:`Login` a probe sends to its own host: the URL's userinfo, else its given login, else ~/.netrc."""
    own = url_login(probe.target, netrc_too=False) or probe.login
    return own or (url_login(probe.target) if probe.netrc else None)


def go_login(url, credentials):
    """The :class:`Login` the go command would send to ``url`` with the netrc of ``credentials``, or None.

    ``credentials`` are validated :class:`_go_credentials.GoCredential` items (or their dicts); the matching is
    ``credentials_for_url``'s, so nothing goes to a plain http URL. The source names the entry's own machine.
    """
    pair = credentials_for_url(url, credentials)
    if pair is None:
        return None
    for credential in credentials:
        if credentials_for_url(url, [credential]) == pair:
            machine = credential['machine'] if isinstance(credential, dict) else credential.machine
            return Login(pair[0], pair[1], 'for machine %s' % machine)
    return Login(pair[0], pair[1], 'for its host')  # not reached: some entry gave the pair


def with_go_credentials(probe, credentials):
    """The probe of a Go proxy or checksum database once ``credentials`` (a list, None: not given) are given.

    It then sends what Go would send with the netrc those credentials make (nothing over http) and no longer
    reads ~/.netrc, which the go command does not read either once NETRC names the collection's file.
    """
    if credentials is None or probe.kind not in GO_KINDS or probe.is_local:
        return probe
    return replace(probe, login=go_login(_without_userinfo(probe.target), credentials), netrc=False)


def _effective_port(parts):
    try:
        return parts.port or {'http': 80, 'https': 443}.get(parts.scheme.lower())
    except ValueError:
        return None


def same_host(first, second):
    """Whether two split URLs name the same host and port (an http:80 to https:443 upgrade counts as the same)."""
    if (first.hostname or '').lower() != (second.hostname or '').lower():
        return False
    first_port, second_port = _effective_port(first), _effective_port(second)
    if first_port == second_port:
        return True
    return ((first.scheme.lower(), first_port) == ('http', 80)
            and (second.scheme.lower(), second_port) == ('https', 443))


def redirect_refusal(probe, origin, current, target, redirects):
    """Why the redirect from ``current`` to ``target`` is not followed, or None when it is."""
    shown = redact_url(target)
    try:
        parts = urlsplit(target)
        parts.port  # pylint: disable=pointless-statement  # urlsplit checks the port only when it is read
    except ValueError:
        return 'redirected to %s, which is not a valid URL; not followed' % shown
    scheme = parts.scheme.lower()
    if redirects >= MAX_REDIRECTS:
        return 'more than %d redirects (the last to %s); not followed' % (MAX_REDIRECTS, shown)
    if scheme not in ('http', 'https') or not parts.hostname:
        return 'redirected to %s, which is not an http or https URL with a host; not followed' % shown
    if urlsplit(current).scheme.lower() == 'https' and scheme == 'http':
        return 'redirected from https to http (%s); a downgrade is never followed' % shown
    if not probe.follow_other_hosts and not same_host(origin, parts):
        return ('redirected to another host (%s); a registry mirror must answer /v2/ itself, so a redirect to '
                'another host is not followed' % shown)
    return None


@dataclass(frozen=True)
class Request:
    """How to ask, when it is not a plain GET: the manifest requests of an image probe."""

    method: str = 'GET'
    headers: tuple = ()                 # (name, value) pairs sent to every host, such as Accept
    bearer: str | None = None           # a token: sent (instead of Basic credentials) only to the probe's own host
    error_body_limit: int = 0           # bytes of a non-2xx body to read (the registry's error code)


def fetch_following_redirects(probe, fetch, deadline, request=None):
    """Ask for the probe's target, following the redirects its kind allows; return (answer, URL redirected to or None).

    A GET unless ``request`` says otherwise. Credentials (the URL's userinfo,
    or ~/.netrc) and a Bearer token go only to the URL's own host and port,
    never to another host a redirect names.
    """
    url = _without_userinfo(probe.target)
    origin = urlsplit(url)
    login = probe_login(probe) if request is None or request.bearer is None else None
    credentials = (login.user, login.password) if login is not None else None
    redirected_to = None
    redirects = 0
    while True:
        own_host = same_host(origin, urlsplit(url))
        extra = {'headers': {'Accept': probe.accept}} if probe.accept and request is None else {}
        if request is not None:
            headers = dict(request.headers)
            if request.bearer is not None and own_host:
                headers['Authorization'] = 'Bearer ' + request.bearer
            extra = dict(method=request.method, headers=headers, error_body_limit=request.error_body_limit)
        answer = fetch(url, deadline, credentials=credentials if own_host else None, body_limit=probe.body_limit,
                       **extra)
        location = answer.header('Location')
        if answer.status not in REDIRECT_STATUSES or location is None:
            return answer, redirected_to
        try:
            target = _without_userinfo(urljoin(url, location.strip()))
        except ValueError:
            target = location.strip()
        refusal = redirect_refusal(probe, origin, url, target, redirects)
        if refusal:
            raise RedirectRefused(answer.status, refusal)
        url = redirected_to = target
        redirects += 1


# ---------------------------------------------------------------------------
# The manifest of a probe image, and the Bearer token flow in front of it
# ---------------------------------------------------------------------------

_AUTH_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CHALLENGE_PART = re.compile(r'[\s,]*(?:(?P<name>%s)[ \t]*=[ \t]*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s,]*))'
                             r'|(?P<scheme>%s))' % (_AUTH_TOKEN, _AUTH_TOKEN))
_QUOTED_PAIR = re.compile(r'\\(.)')
# What a token may be to go in an Authorization header: visible ASCII (RFC 6750's b64token and more), nothing else.
_HEADER_SAFE_TOKEN = re.compile(r'[\x21-\x7e]+\Z')
# A Docker-Content-Digest worth reporting (algorithm:encoded); anything else a mirror sends is reported as null.
_CONTENT_DIGEST = re.compile(r'[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,256}\Z')
# A registry's error code, such as MANIFEST_UNKNOWN (the distribution spec's codes are upper case and _).
_ERROR_CODE = re.compile(r'[A-Z][A-Z0-9_]{0,63}\Z')


def parse_challenges(value):
    """Read a WWW-Authenticate value: [(scheme in lower case, {parameter in lower case: value})], in order."""
    challenges = []
    position = 0
    while value and position < len(value):
        match = _CHALLENGE_PART.match(value, position)
        if not match or match.end() == position:
            break
        position = match.end()
        if match.group('scheme'):
            challenges.append((match.group('scheme').lower(), {}))
        elif challenges:
            quoted = match.group('quoted')
            parameter = _QUOTED_PAIR.sub(r'\1', quoted) if quoted is not None else match.group('bare')
            challenges[-1][1].setdefault(match.group('name').lower(), parameter)
    return challenges


def bearer_challenge(answer):
    """The parameters of the answer's Bearer challenge (realm, service, scope), or None when it has none."""
    for scheme, parameters in parse_challenges(answer.header('WWW-Authenticate') or ''):
        if scheme == 'bearer':
            return parameters
    return None


def registry_error_code(answer):
    """The first error code of a registry's JSON error body ({"errors": [{"code": ...}]}), or None."""
    if answer is None or not answer.body or answer.body_truncated:
        return None
    try:
        errors = json.loads(answer.body.decode('utf-8')).get('errors')
        code = errors[0].get('code')
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        return None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else None


def fetch_token(probe, fetch, deadline, challenge, asked_url):
    """Get a pull token from the realm of ``challenge``; return it. Raise Refused or ProbeError with the reason.

    The realm must be an http or https URL, and not http when the manifest was
    asked over https. The mirror's credentials (URL userinfo or ~/.netrc) go to
    the realm only when it is on the mirror's own host and port; any other
    token service is asked anonymously. The token never appears in a message.
    """
    image = probe.image
    cannot = 'cannot get a pull token for %s' % image.shown
    realm = (challenge.get('realm') or '').strip()
    if not realm:
        raise Refused(401, '%s: the mirror asked for a Bearer token without naming its realm' % cannot)
    shown = redact_url(realm)
    try:
        realm = _without_userinfo(realm) if '://' in realm else realm
        parts = urlsplit(realm)
        parts.port  # pylint: disable=pointless-statement  # urlsplit checks the port only when it is read
    except ValueError:
        raise Refused(401, '%s: the token realm %s is not a valid URL' % (cannot, shown)) from None
    shown = redact_url(realm)
    scheme = parts.scheme.lower()
    if scheme not in ('http', 'https') or not parts.hostname:
        raise Refused(401, '%s: the token realm %s is not an http or https URL with a host; not asked'
                      % (cannot, shown))
    if urlsplit(asked_url).scheme.lower() == 'https' and scheme == 'http':
        raise Refused(401, '%s: the token realm %s is http for an https mirror; a downgrade is never followed'
                      % (cannot, shown))
    query = []
    if challenge.get('service'):
        query.append(('service', challenge['service']))
    scope = challenge.get('scope') or 'repository:%s:pull' % image.repository
    query.extend(('scope', one) for one in scope.split())
    url = realm + ('&' if parts.query else '?') + urlencode(query)
    mirror = urlsplit(_without_userinfo(probe.target))
    login = probe_login(probe) if same_host(mirror, parts) else None
    credentials = (login.user, login.password) if login is not None else None
    answer = fetch(url, deadline, credentials=credentials, body_limit=TOKEN_BODY_LIMIT)
    if answer.status != 200:
        reason = '%s: the token service %s answered HTTP %d' % (cannot, shown, answer.status)
        if answer.status >= 500:
            raise TokenServiceError(reason)  # may pass: a retry asks again
        raise Refused(answer.status, reason)
    if answer.body_truncated:
        raise Refused(answer.status, '%s: the token service %s sent more than %d KiB'
                      % (cannot, shown, TOKEN_BODY_LIMIT // 1024))
    try:
        document = json.loads(answer.body.decode('utf-8'))
    except ValueError:
        document = None
    token = None
    if isinstance(document, dict):
        token = document.get('token') or document.get('access_token')
    if not isinstance(token, str) or not token:
        raise Refused(answer.status, '%s: the token service %s sent no token (a JSON object with token or '
                      'access_token)' % (cannot, shown))
    if not _HEADER_SAFE_TOKEN.match(token):
        raise Refused(answer.status, '%s: the token service %s sent a token that cannot go in an HTTP header'
                      % (cannot, shown))
    return token


def _ask_manifest(manifest_probe, fetch, deadline, bearer):
    """HEAD the manifest (GET when the mirror refuses HEAD with 405 or 501); return (answer, redirected_to, method)."""
    accept = (('Accept', ', '.join(MANIFEST_MEDIA_TYPES)),)
    answer, redirected_to = fetch_following_redirects(manifest_probe, fetch, deadline, Request('HEAD', accept, bearer))
    if answer.status not in (405, 501):
        return answer, redirected_to, 'HEAD'
    answer, redirected_to = fetch_following_redirects(manifest_probe, fetch, deadline,
                                                      Request('GET', accept, bearer, ERROR_BODY_LIMIT))
    return answer, redirected_to, 'GET'


def _error_detail(manifest_probe, fetch, deadline, bearer, answer, method):
    """The registry's error code for a manifest that was not served: a HEAD answer has no body, so GET it once."""
    if method == 'GET':
        return registry_error_code(answer)
    accept = (('Accept', ', '.join(MANIFEST_MEDIA_TYPES)),)
    try:
        detail, dummy = fetch_following_redirects(manifest_probe, fetch, deadline,
                                                  Request('GET', accept, bearer, ERROR_BODY_LIMIT))
    except Exception:  # pylint: disable=broad-exception-caught
        # Why broad: the detail only adds a word to the message; the HEAD answer already decided.
        return None
    return registry_error_code(detail) if detail.status == answer.status else None


def check_manifest(probe, fetch, deadline, secrets, stage):
    """Ask the mirror for the manifest of ``probe.image``; return (error or None, answer, redirected_to, digest).

    ``secrets`` gets the token, so that no error text can carry it; ``stage``
    (a list) says where a failure happened, for the message of a request that
    got no answer. Raises when a request gets no HTTP answer, Refused when the
    token flow is refused for good.
    """
    image = probe.image
    manifest_probe = replace(probe, target=manifest_url(probe), body_limit=0, follow_other_hosts=True,
                             registry=False)
    stage[:] = ['on the manifest of %s' % image.shown]
    answer, redirected_to, method = _ask_manifest(manifest_probe, fetch, deadline, None)
    bearer = None
    realm = None
    if answer.status == 401:
        challenge = bearer_challenge(answer)
        if challenge is not None:
            realm = redact_url((challenge.get('realm') or '').strip())
            stage[:] = ['on the token service %s' % realm]
            bearer = fetch_token(manifest_probe, fetch, deadline, challenge, redirected_to or manifest_probe.target)
            secrets.append(bearer)
            stage[:] = ['on the manifest of %s, with a token' % image.shown]
            answer, redirected_to, method = _ask_manifest(manifest_probe, fetch, deadline, bearer)
    if answer.status == 200:
        digest = (answer.header(CONTENT_DIGEST_HEADER) or '').strip()
        return None, answer, redirected_to, digest if _CONTENT_DIGEST.match(digest) else None
    code = _error_detail(manifest_probe, fetch, deadline, bearer, answer, method)
    detail = '%d on the manifest' % answer.status
    if answer.status == 401:
        if bearer is not None:
            detail += ' even with the token from %s' % realm
        elif probe_login(probe) is not None:
            detail += ': the mirror refused the credentials'
        else:
            detail += ': the mirror wants a login (credentials in the URL or ~/.netrc)'
    if code:
        detail += ', ' + code
    return 'does not serve %s (%s)' % (image.shown, detail), answer, redirected_to, None


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def describe_failure(error, timeout):
    """Say in a few words why a request got no HTTP answer."""
    # urllib wraps socket and TLS errors in URLError; the wrapped one says more.
    while isinstance(error, URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    if isinstance(error, ProbeError):
        return str(error)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return 'timed out after %gs' % timeout
    if isinstance(error, ssl.SSLCertVerificationError):
        return 'TLS certificate verification failed: %s' % (error.verify_message or error.reason)
    if isinstance(error, ssl.SSLError):
        return 'TLS error: %s' % (error.reason or error)
    if isinstance(error, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(error, socket.gaierror):
        return 'name resolution failed: %s' % error.strerror
    if isinstance(error, (ConnectionResetError, http.client.RemoteDisconnected)):
        return 'connection reset without an HTTP answer'
    if isinstance(error, http.client.HTTPException):
        return 'no valid HTTP answer: %s' % (type(error).__name__)
    if isinstance(error, URLError):
        return str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, OSError) and str(error).startswith('Tunnel connection failed: '):  # http.client's CONNECT
        return 'the proxy refused the tunnel: %s' % str(error).partition(': ')[2]
    return '%s: %s' % (type(error).__name__, error)


def _elapsed_ms(started):
    return int(round((time.monotonic() - started) * 1000))


def _check_local(probe):
    exists = os.path.isfile(probe.target) if probe.accepted else os.path.isdir(probe.target)
    return Outcome(exists, None, 0, None if exists else 'not found on this host: ' + probe.target, 1)


def backoff(retry):
    """Seconds to wait before retry number ``retry`` (1, 2, ...)."""
    return min(BACKOFF_FIRST * 2 ** (retry - 1), BACKOFF_MAX)


def _attempt(probe, fetch, deadline, secrets, stage):
    """One try of a probe: its target, judged; then, for a registry mirror with an image, that image's manifest."""
    started = time.monotonic()
    answer, redirected_to = fetch_following_redirects(probe, fetch, deadline)
    login = probe_login(probe)
    # The credentials went only to the probe's own host: a 401 from another host a redirect named never saw them.
    sent_login = login if login is not None and (
        redirected_to is None or same_host(urlsplit(_without_userinfo(probe.target)), urlsplit(redirected_to))) \
        else None
    error = judge(probe, answer, sent_login)
    if error is not None or probe.image is None:
        return Outcome(error is None, answer.status, _elapsed_ms(started), error, deadline.attempts, answer,
                       redirected_to)
    error, manifest, redirected_to, digest = check_manifest(probe, fetch, deadline, secrets, stage)
    return Outcome(error is None, manifest.status, _elapsed_ms(started), error, deadline.attempts, answer,
                   redirected_to, manifest_url(probe), digest)


def run_probe(probe, fetch, deadline, retries):
    """Run one probe within ``deadline``, retrying (with back-off) on no answer or a 5xx answer; never raises.

    ``deadline`` is a :class:`Deadline` or a number of seconds. Retries and
    their back-off happen only while the deadline leaves time for them. A
    registry probe with an image asks, after ``/v2/``, for the image's manifest
    (with the registry's Bearer token flow): all of it within the one deadline.
    """
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    if probe.is_local:
        return _check_local(probe)
    secrets = url_secrets(probe.url)
    login = probe_login(probe)
    if login is not None and login.password:
        secrets.append(login.password)  # given, or from ~/.netrc: whatever an exception's text quotes, it is hidden
    outcome = None
    for attempt in range(1, retries + 2):
        deadline.attempts = attempt
        started = time.monotonic()
        stage = []
        request_url = manifest_url(probe) if probe.image is not None else None
        try:
            outcome = _attempt(probe, fetch, deadline, secrets, stage)
        except Refused as refusal:
            # A definite answer: the mirror said where to go, and that is not a place this probe goes.
            where = ' (%s)' % stage[0] if stage and isinstance(refusal, RedirectRefused) else ''
            reason = _hide(str(refusal) + where, secrets)
            return Outcome(False, refusal.status, _elapsed_ms(started), reason, attempt,
                           request_url=request_url if stage else None)
        except Exception as error:  # pylint: disable=broad-exception-caught
            # Why broad: one probe's failure, whatever it is, is that probe's result, never the module's crash.
            reason = deadline.describe() if deadline.passed else describe_failure(error, deadline.seconds)
            if stage and not isinstance(error, TokenServiceError):
                reason += ' (%s)' % stage[0]
            outcome = Outcome(False, None, _elapsed_ms(started), _hide(reason, secrets), attempt,
                              request_url=request_url if stage else None)
        else:
            if outcome.status < 500:
                break  # a definite answer: asking again would get the same one
        if attempt > retries or not deadline.pause(backoff(attempt)):
            break
    return outcome


def _hide(text, secrets):
    """Replace every secret (URL credentials, a token) in a text, longest first ('user:pw' before 'pw')."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, '***')
    return text


class _Slot:
    """One probe's place in run_probes: its deadline once started, its outcome once known."""

    __slots__ = ('deadline', 'outcome')

    def __init__(self):
        self.deadline = None
        self.outcome = None


def run_probes(probes, fetch, timeout, retries=0, max_workers=None):
    """Run every probe in parallel threads; return the outcomes in the same order.

    Each probe has ``timeout`` seconds from its start (retries and back-off
    included). At most ``max_workers`` run at once; when probes wait for a free
    worker, no deadline runs past CHECK_DEADLINE_FACTOR x ``timeout`` from the
    start of the check: a probe that starts late gets what is left, and one
    still waiting then is not started and is reported unreachable. So the whole
    check ends within ``timeout`` when every probe can start at once, and
    within CHECK_DEADLINE_FACTOR x ``timeout`` otherwise, plus ABANDON_GRACE,
    whatever the servers do: at its deadline a probe's sockets are shut, and a
    thread still blocked (in name resolution) is left behind. The threads are
    daemon threads, so such a thread never keeps the process alive.
    """
    if not probes:
        return []
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError('timeout must be a finite number of seconds above 0, got %r' % (timeout,))
    workers = max(1, min(max_workers or len(probes), len(probes)))
    check_end = time.monotonic() + CHECK_DEADLINE_FACTOR * timeout
    slots = [_Slot() for dummy in probes]
    waiting = collections.deque(range(len(probes)))
    changed = threading.Condition()
    not_started = ('not started: no worker was free before the end of the whole check (%g x timeout of %gs, '
                   '%d probes, max_workers %d)' % (CHECK_DEADLINE_FACTOR, timeout, len(probes), workers))

    def finish(slot, outcome):
        with changed:
            if slot.outcome is None:  # the check may have given up on it already
                slot.outcome = outcome
            changed.notify_all()

    def work():
        while True:
            with changed:
                if not waiting:
                    return
                number = waiting.popleft()
                if time.monotonic() >= check_end:
                    slots[number].outcome = Outcome(False, None, None, not_started, 0)
                    changed.notify_all()
                    continue
                deadline = slots[number].deadline = Deadline(timeout, check_end)
            try:
                outcome = run_probe(probes[number], fetch, deadline, retries)
            except BaseException as error:  # pylint: disable=broad-exception-caught
                # Why: the check must hear of every probe, or it would wait for this one until its deadline.
                outcome = Outcome(False, None, None, describe_failure(error, timeout), deadline.attempts)
            finish(slots[number], outcome)

    for dummy in range(workers):
        threading.Thread(target=work, name='mirror_check', daemon=True).start()

    with changed:
        while True:
            now = time.monotonic()
            if now >= check_end:
                while waiting:
                    slots[waiting.popleft()].outcome = Outcome(False, None, None, not_started, 0)
            wake = check_end if waiting else math.inf
            for slot in slots:
                if slot.outcome is not None or slot.deadline is None:
                    continue
                deadline = slot.deadline
                if now >= deadline.end + ABANDON_GRACE:
                    slot.outcome = Outcome(False, None, _elapsed_ms(deadline.started), deadline.describe(),
                                           deadline.attempts)
                    continue
                if now >= deadline.end:
                    deadline.expire()
                    wake = min(wake, deadline.end + ABANDON_GRACE)
                else:
                    wake = min(wake, deadline.end)
            if all(slot.outcome is not None for slot in slots):
                return [slot.outcome for slot in slots]
            changed.wait(max(0.005, min(wake - now, timeout)))


# ---------------------------------------------------------------------------
# The whole check and its report
# ---------------------------------------------------------------------------

def shown_url(url):
    """The caller's URL as it may appear in a result: as given, or redacted if it carries credentials."""
    return redact_url(url) if has_credentials(url) else url


def _probe_item(probe, outcome):
    return {
        'kind': probe.kind,
        'index': probe.index,
        'url': redact_url(probe.url),
        'request_url': redact_url(outcome.request_url or probe.target),
        'reachable': outcome.reachable,
        'status': outcome.status,
        'latency_ms': outcome.latency_ms,
        'error': outcome.error,
        'attempts': outcome.attempts,
        'redirected_to': redact_url(outcome.redirected_to) if outcome.redirected_to else None,
    }


def _probe_image(image):
    """A ProbeImage from what _image_refs.parse_image returns (or a ProbeImage already)."""
    if image is None or isinstance(image, ProbeImage):
        return image
    return ProbeImage(image['repository'], image['reference'], image['shown'])


def plan_registries(registry_urls=(), registries=None, probe_images=None):
    """The registry probes: Docker Hub's mirrors first, then each registry's mirrors, each in the order given.

    The same URL listed for two registries is two probes: a mirror may serve one registry's images and not
    another's. ``probe_images`` maps a registry to its image (parse_image's dict); a Docker Hub image applies to
    ``registry_urls``.
    """
    images = dict((registry, _probe_image(image)) for registry, image in (probe_images or {}).items())
    probes = [plan_registry(url, index, DOCKER_HUB, images.get(DOCKER_HUB)) for index, url in enumerate(registry_urls)]
    for registry, urls in (registries or {}).items():
        probes.extend(plan_registry(url, index, registry, images.get(registry)) for index, url in enumerate(urls))
    return probes


def _package_entries(entries, default):
    """(url, package) pairs from a list of URLs (each gets ``default``) or of (url, package) pairs."""
    return [(entry, default) if isinstance(entry, str) else (entry[0], entry[1] or default) for entry in entries]


def plan_package_indexes(pypi_indexes=(), npm_registries=(), pypi_project='pip', npm_package='npm'):
    """The pypi probes, then the npm probes, each in the caller's order.

    An entry is a URL (it gets ``pypi_project`` or ``npm_package``) or a (URL, package) pair: a scope's registry
    may serve only its scope's packages, so it may need a probe package of its own.
    """
    return ([plan_pypi(url, index, project) for index, (url, project)
             in enumerate(_package_entries(pypi_indexes, pypi_project))]
            + [plan_npm(url, index, package) for index, (url, package)
               in enumerate(_package_entries(npm_registries, npm_package))])


def parse_pypi_indexes(value):
    """Check ``pypi_indexes`` with the rules of pip's index URLs (http allowed: a probe writes nothing); return them.

    The caller's own strings are kept, for ``reachable_urls``; the same index twice (after normalisation) is refused.
    """
    if value is None:
        return []
    if not value:
        raise PolicyError('pypi_indexes is an empty list; give at least one simple index URL, or leave it out')
    seen = []
    for url in value:
        checked = validate_index_url(url, 'pypi_indexes', allow_http=True, entry=True)
        if checked in seen:
            raise PolicyError('pypi_indexes entry %s is given twice; name each index once' % show(url))
        seen.append(checked)
    return list(value)


NPM_ITEM_KEYS = ('url', 'package')


def parse_npm_registries(value, default_package):
    """Check ``npm_registries``; return (URL, package) pairs, the caller's URL strings kept.

    An item is a URL (probed with ``default_package``) or a mapping with ``url`` and an optional ``package``, for a
    scope's registry that serves only its scope. The same URL with the same package twice is refused.
    """
    if value is None:
        return []
    if not value:
        raise PolicyError('npm_registries is an empty list; give at least one registry URL, or leave it out')
    entries, seen = [], []
    for position, item in enumerate(value):
        if isinstance(item, dict):
            name = 'npm_registries[%d]' % position
            unknown = sorted((show(key) for key in item if key not in NPM_ITEM_KEYS))
            if unknown:
                raise PolicyError('%s has the unknown key(s) %s; an item is a URL or a mapping with url and, '
                                  'optionally, package' % (name, ', '.join(unknown)))
            if 'url' not in item:
                raise PolicyError('%s has no url; an item is a URL or a mapping with url and, optionally, package'
                                  % name)
            checked = validate_registry_url(item['url'], name + '.url', allow_http=True)
            package = default_package if item.get('package') is None \
                else validate_package_name(item['package'], name + '.package')
            url = item['url']
        elif isinstance(item, str):
            checked = validate_registry_url(item, 'npm_registries', allow_http=True, entry=True)
            url, package = item, default_package
        else:
            raise PolicyError('npm_registries[%d] must be a URL or a mapping with url and package, got %s'
                              % (position, show(item)))
        if (checked, package) in seen:
            raise PolicyError('npm_registries entry %s is given twice with the probe package %s; name each '
                              'registry once per package' % (show(url), package))
        seen.append((checked, package))
        entries.append((url, package))
    return entries


def check_mirrors(fetch, goproxy_urls=(), probe_module=None, sumdb=None, registry_urls=(),
                  timeout=5.0, retries=0, max_workers=None, registries=None, probe_images=None, credentials=None,
                  pypi_indexes=(), npm_registries=(), pypi_project='pip', npm_package='npm'):
    """Probe every mirror and return the report (``probes``, ``reachable_urls``, ``unreachable_urls``, ``msg``).

    ``goproxy_urls`` are proxy URLs only (GOPROXY keywords already removed),
    ``sumdb`` a parsed GOSUMDB (``_go_rules.SumDB``) or None, ``registry_urls``
    already validated Docker Hub mirror URLs, ``registries`` a dict of other
    registries (validated names) to their validated mirror URLs, and
    ``probe_images`` a dict of registry (``docker.io`` for ``registry_urls``)
    to an image (parse_image's dict) whose manifest each of its mirrors must
    serve. All requests, including each proxy's
    ``/sumdb/<name>/supported``, run at once (up to ``max_workers`` at a time),
    each within its own ``timeout`` deadline, so the whole check costs at most
    about one ``timeout`` however many mirrors do not answer (1.5 when there
    are more probes than ``max_workers``; see :func:`run_probes`).

    ``credentials``, validated ``_go_credentials.GoCredential`` items, are
    what the go command will find in its netrc: every goproxy and gosumdb
    request (the version list, ``/sumdb/<name>/supported``, ``/latest``) sends
    what Go would send to its URL (https only), and ~/.netrc is no longer read
    for them (also with an empty list; None reads it as before). Registry
    probes keep their own credentials (URL, ~/.netrc) and token flow.

    ``pypi_indexes`` (simple index URLs) and ``npm_registries`` (registry URLs), validated by _python_rules and
    _node_rules, are probed in the same run (see :func:`plan_package_indexes`): each needs a 200 with the simple-API
    page of its project, or the packument of its package. Their kinds appear in ``reachable_urls`` and
    ``unreachable_urls`` only when some of them were asked for.
    """
    goproxy_probes = [with_go_credentials(plan_goproxy(url, index, probe_module), credentials)
                      for index, url in enumerate(goproxy_urls)]
    supported_probes = ([with_go_credentials(plan_sumdb_supported(url, index, sumdb), credentials)
                         for index, url in enumerate(goproxy_urls)] if sumdb else [])
    sumdb_probes = [with_go_credentials(plan_gosumdb(sumdb), credentials)] if sumdb else []
    registry_probes = plan_registries(registry_urls, registries, probe_images)
    package_probes = plan_package_indexes(pypi_indexes, npm_registries, pypi_project, npm_package)

    groups = (goproxy_probes, supported_probes, sumdb_probes, registry_probes, package_probes)
    outcomes = iter(run_probes([probe for group in groups for probe in group], fetch, timeout, retries, max_workers))
    goproxy_outcomes, supported_outcomes, sumdb_outcomes, registry_outcomes, package_outcomes = (
        [next(outcomes) for dummy in group] for group in groups)

    items = []
    for number, probe in enumerate(goproxy_probes):
        item = _probe_item(probe, goproxy_outcomes[number])
        item['sumdb_supported'] = (_sumdb_supported(supported_probes[number], supported_outcomes[number])
                                   if sumdb else None)
        items.append(item)
    for probe, outcome in zip(sumdb_probes, sumdb_outcomes):
        items.append(_sumdb_item(probe, outcome, sumdb, goproxy_probes, items))
    for probe, outcome in zip(registry_probes, registry_outcomes):
        item = _probe_item(probe, outcome)
        item['api_version'] = outcome.answer.header(REGISTRY_API_VERSION_HEADER) if outcome.answer else None
        item['registry'] = probe.upstream
        item['image'] = probe.image.shown if probe.image else None
        item['digest'] = outcome.digest
        items.append(item)
    for probe, outcome in zip(package_probes, package_outcomes):
        item = _probe_item(probe, outcome)
        item['package'] = probe.package
        items.append(item)

    probed_urls = ([probe.url for probe in goproxy_probes] + [sumdb.url for dummy in sumdb_probes]
                   + [probe.url for probe in registry_probes] + [probe.url for probe in package_probes])
    kinds = KINDS + tuple(kind for kind in PACKAGE_KINDS if any(probe.kind == kind for probe in package_probes))
    reachable_urls = dict((kind, []) for kind in kinds)
    unreachable_urls = dict((kind, []) for kind in kinds)
    for item, url in zip(items, probed_urls):
        bucket = reachable_urls if item['reachable'] else unreachable_urls
        bucket[item['kind']].append(shown_url(url))
    return {
        'probes': items,
        'reachable_urls': reachable_urls,
        'unreachable_urls': unreachable_urls,
        'msg': summarize(items),
    }


def _sumdb_supported(probe, outcome):
    """Go's rule: a 200 on /sumdb/<name>/supported means the proxy serves the database, any other answer no."""
    if probe.is_local or outcome.status is not None:
        return outcome.reachable
    return None  # no answer at all: cannot tell


def _sumdb_item(probe, outcome, sumdb, goproxy_probes, goproxy_items):
    item = _probe_item(probe, outcome)
    item['name'] = sumdb.name
    # Go asks the proxies first and uses the first that serves the database; a URL
    # written in GOSUMDB is always reached directly.
    item['proxied_by'] = [] if sumdb.url_is_explicit else [
        redact_url(goproxy.url) for goproxy, goproxy_item in zip(goproxy_probes, goproxy_items)
        if goproxy_item['reachable'] and goproxy_item['sumdb_supported']]
    item['direct'] = outcome.reachable
    item['reachable'] = outcome.reachable or bool(item['proxied_by'])
    if item['reachable']:
        item['error'] = None
    elif not sumdb.url_is_explicit:
        item['error'] = '%s; and no reachable goproxy serves %s' % (outcome.error, sumdb.name)
    return item


def summarize(items):
    """One line: how many mirrors answered, per kind."""
    if not items:
        return 'nothing to probe: every GOPROXY entry is a keyword and GOSUMDB is off'
    per_kind = []
    for kind in ALL_KINDS:
        of_kind = [item for item in items if item['kind'] == kind]
        if of_kind:
            per_kind.append('%s %d/%d' % (kind, sum(item['reachable'] for item in of_kind), len(of_kind)))
    reachable = sum(item['reachable'] for item in items)
    return '%d of %d mirrors reachable (%s)' % (reachable, len(items), ', '.join(per_kind))


def _group(item):
    """What require=any asks one answer of: each kind; for registry mirrors, each registry; for npm registries, each
    probe package (a scope's registry probed with a package of its scope is no alternative to the main registry)."""
    if item['kind'] == 'registry':
        return (item['kind'], item.get('registry') or DOCKER_HUB)
    if item['kind'] == 'npm':
        return (item['kind'], item.get('package'))
    return (item['kind'], None)


def _group_name(group, groups):
    """'registry (ghcr.io)'; plain 'registry' for Docker Hub when it is the only registry probed, as before.

    'npm (@corp/tool)' when the npm registries were probed with more than one package, else plain 'npm'.
    """
    kind, detail = group
    if kind == 'npm':
        return '%s (%s)' % (kind, detail) if sum(other[0] == 'npm' for other in groups) > 1 else kind
    only_docker_hub = all(other[1] in (None, DOCKER_HUB) for other in groups if other[0] != 'npm')
    return '%s (%s)' % (kind, detail) if detail and not only_docker_hub else kind


def _detail(item):
    registry = item.get('registry')
    where = ' for %s' % registry if item['kind'] == 'registry' and registry and registry != DOCKER_HUB else ''
    return '%s %s%s: %s' % (item['kind'], item['url'], where, item['error'])


def unmet_requirement(report, require):
    """Return the failure message when the report does not meet ``require``, else None.

    ``all``: every probed mirror answers. ``any``: for each kind that was
    probed, for registry mirrors for each registry, and for npm registries for
    each probe package, at least one mirror answers. ``none``: never fails.
    """
    items = report['probes']
    if require == 'none':
        return None
    if require == 'all':
        failed_items = [item for item in items if not item['reachable']]
        if not failed_items:
            return None
        headline = '%d of %d mirrors unreachable (require=all)' % (len(failed_items), len(items))
    else:
        groups = []
        for item in items:
            if _group(item) not in groups:
                groups.append(_group(item))
        groups_without_answer = [group for group in groups
                                 if not any(_group(item) == group and item['reachable'] for item in items)]
        if not groups_without_answer:
            return None
        failed_items = [item for item in items if _group(item) in groups_without_answer]
        headline = 'no reachable %s mirror (require=any)' % ' or '.join(
            _group_name(group, groups) for group in groups_without_answer)
    details = [_detail(item) for item in failed_items]
    return '%s: %s' % (headline, '; '.join(details))
