# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Probe Go module proxies, Go checksum databases and Docker registry mirrors, in parallel.

Pure Python: the HTTP request itself is done by an injected ``fetch`` callable,
so the module can pass one built on Ansible's URL layer (proxies, CA bundles,
client certificates) while this file stays testable without Ansible.

The contract of ``fetch(url, timeout)``: return an :class:`HttpAnswer` for any
HTTP answer, whatever its status (404 and 500 are answers, not failures), and
raise an exception when no HTTP answer came (timeout, refused connection, TLS
failure, name resolution failure...).

Nothing here ever puts a credential in a result or a message: URLs go through
``redact_url`` and error texts through the URL's own list of secrets.
"""

from __future__ import annotations

import os
import socket
import ssl
import time

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from urllib.error import URLError
from urllib.parse import unquote, urlsplit, urlunsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import (
    escape_module_path,
    has_credentials,
    redact_url,
    url_secrets,
)

KINDS = ('goproxy', 'gosumdb', 'registry')
REQUIREMENTS = ('all', 'any', 'none')
REGISTRY_API_VERSION_HEADER = 'Docker-Distribution-API-Version'


@dataclass(frozen=True)
class HttpAnswer:
    """What a fetch returns: the HTTP status and the response headers."""

    status: int
    headers: dict = field(default_factory=dict)

    def header(self, name):
        """Case-insensitive header lookup."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


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


def plan_registry(url, index):
    return Probe('registry', index, url, join_url(url, 'v2/'), (200, 401),
                 '200 or 401 on /v2/ (the Registry HTTP API v2)')


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def describe_failure(error, timeout):
    """Say in a few words why a request got no HTTP answer."""
    # urllib wraps socket and TLS errors in URLError; the wrapped one says more.
    while isinstance(error, URLError) and isinstance(error.reason, BaseException):
        error = error.reason
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
    if isinstance(error, ConnectionResetError):
        return 'connection reset without an HTTP answer'
    if isinstance(error, HTTPException):
        return 'no valid HTTP answer: %s' % (type(error).__name__)
    if isinstance(error, URLError):
        return str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return '%s: %s' % (type(error).__name__, error)


def _elapsed_ms(started):
    return int(round((time.monotonic() - started) * 1000))


def _check_local(probe):
    exists = os.path.isfile(probe.target) if probe.accepted else os.path.isdir(probe.target)
    return Outcome(exists, None, 0, None if exists else 'not found on this host: ' + probe.target, 1)


def run_probe(probe, fetch, timeout, retries):
    """Run one probe, retrying on no answer or a 5xx answer; never raises."""
    if probe.is_local:
        return _check_local(probe)
    secrets = sorted(url_secrets(probe.url), key=len, reverse=True)  # longest first: 'user:pw' before 'pw'
    outcome = None
    for attempt in range(1, retries + 2):
        started = time.monotonic()
        try:
            answer = fetch(probe.target, timeout)
        except Exception as error:  # pylint: disable=broad-exception-caught
            # Why broad: one probe's failure, whatever it is, is that probe's result, never the module's crash.
            reason = describe_failure(error, timeout)
            for secret in secrets:
                reason = reason.replace(secret, '***')
            outcome = Outcome(False, None, _elapsed_ms(started), reason, attempt)
            continue
        reachable = probe.accepts(answer.status)
        error = None if reachable else 'answered HTTP %d, expected %s' % (answer.status, probe.expectation)
        outcome = Outcome(reachable, answer.status, _elapsed_ms(started), error, attempt, answer)
        if answer.status < 500:
            break  # a definite answer: asking again would get the same one
    return outcome


def run_probes(probes, fetch, timeout, retries=0, max_workers=None):
    """Run every probe in parallel threads; return the outcomes in the same order."""
    if not probes:
        return []
    workers = max(1, min(max_workers or len(probes), len(probes)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='mirror_check') as pool:
        return list(pool.map(lambda probe: run_probe(probe, fetch, timeout, retries), probes))


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
        'request_url': redact_url(probe.target),
        'reachable': outcome.reachable,
        'status': outcome.status,
        'latency_ms': outcome.latency_ms,
        'error': outcome.error,
        'attempts': outcome.attempts,
    }


def check_mirrors(fetch, goproxy_urls=(), probe_module=None, sumdb=None, registry_urls=(),
                  timeout=5.0, retries=0, max_workers=None):
    """Probe every mirror and return the report (``probes``, ``reachable_urls``, ``unreachable_urls``, ``msg``).

    ``goproxy_urls`` are proxy URLs only (GOPROXY keywords already removed),
    ``sumdb`` a parsed GOSUMDB (``_policy.SumDB``) or None, ``registry_urls``
    already validated mirror URLs. All requests, including each proxy's
    ``/sumdb/<name>/supported``, run at once, so the whole check costs about
    one ``timeout`` however many mirrors do not answer (up to ``max_workers``
    at a time).
    """
    goproxy_probes = [plan_goproxy(url, index, probe_module) for index, url in enumerate(goproxy_urls)]
    supported_probes = ([plan_sumdb_supported(url, index, sumdb) for index, url in enumerate(goproxy_urls)]
                        if sumdb else [])
    sumdb_probes = [plan_gosumdb(sumdb)] if sumdb else []
    registry_probes = [plan_registry(url, index) for index, url in enumerate(registry_urls)]

    groups = (goproxy_probes, supported_probes, sumdb_probes, registry_probes)
    outcomes = iter(run_probes([probe for group in groups for probe in group], fetch, timeout, retries, max_workers))
    goproxy_outcomes, supported_outcomes, sumdb_outcomes, registry_outcomes = (
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
        items.append(item)

    callers_urls = {'goproxy': list(goproxy_urls), 'gosumdb': [sumdb.url] if sumdb else [],
                    'registry': list(registry_urls)}
    reachable_urls = dict((kind, []) for kind in KINDS)
    unreachable_urls = dict((kind, []) for kind in KINDS)
    for item in items:
        bucket = reachable_urls if item['reachable'] else unreachable_urls
        bucket[item['kind']].append(shown_url(callers_urls[item['kind']][item['index']]))
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
    for kind in KINDS:
        of_kind = [item for item in items if item['kind'] == kind]
        if of_kind:
            per_kind.append('%s %d/%d' % (kind, sum(item['reachable'] for item in of_kind), len(of_kind)))
    reachable = sum(item['reachable'] for item in items)
    return '%d of %d mirrors reachable (%s)' % (reachable, len(items), ', '.join(per_kind))


def unmet_requirement(report, require):
    """Return the failure message when the report does not meet ``require``, else None.

    ``all``: every probed mirror answers. ``any``: for each kind that was
    probed, at least one mirror answers. ``none``: never fails.
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
        kinds_without_answer = [kind for kind in KINDS
                                if any(item['kind'] == kind for item in items)
                                and not any(item['kind'] == kind and item['reachable'] for item in items)]
        if not kinds_without_answer:
            return None
        failed_items = [item for item in items if item['kind'] in kinds_without_answer]
        headline = 'no reachable %s mirror (require=any)' % ' or '.join(kinds_without_answer)
    details = ['%s %s: %s' % (item['kind'], item['url'], item['error']) for item in failed_items]
    return '%s: %s' % (headline, '; '.join(details))
