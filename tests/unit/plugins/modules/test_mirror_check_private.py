# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_check against private mirrors: a CA of its own (``ca_data``) and basic auth (``credentials``).

The servers are real (TLS with a certificate for 127.0.0.1 that a CA made by the
openssl CLI signs; basic auth checked as an authenticated GOPROXY checks it), and
the module runs as Ansible runs it on a host.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading

import pytest

from local_mirrors import API_VERSION, PRIVATE_MODULE
from openssl_pki import CA_EXTENSIONS, REQ_CONFIG, openssl

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    validate_go_credentials,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import parse_gosumdb
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import HttpAnswer, check_mirrors
from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import validate_ca_bundle
from ansible_collections.buildfleet.mirrors.plugins.modules.mirror_check import (
    build_fetch,
    strict_verification_warnings,
)

LOGIN = 'ci-builder'
PASSWORD = 'Pr1vateGoPw'
WRONG_PASSWORD = 'Wr0ngGoPw'
SUMDB_KEY = 'sum.corp.example.com+d67b3b17+AZKHxjQHbRA8/wKDHoEKai2Chpql/U41cPPBXJNlsiyu'
LIST_PATH = '/%s/@v/list' % PRIVATE_MODULE


# ---------------------------------------------------------------------------
# A private CA from the openssl CLI, and servers that use it
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def lab_pki(tmp_path_factory):
    """A lab CA, a server certificate for 127.0.0.1 it signs, and an unrelated CA (the wrong one)."""
    work = tmp_path_factory.mktemp('lab-pki')
    (work / 'req.cnf').write_text(REQ_CONFIG)

    def run(*arguments):
        return openssl(*arguments, cwd=work)

    for stem, subject in (('lab-ca', '/O=Buildfleet Lab/CN=Lab Mirrors CA'), ('other-ca', '/CN=Some Other CA')):
        run('req', '-x509', '-config', 'req.cnf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', stem + '.key', '-out', stem + '.pem', '-subj', subject, '-days', '30', *CA_EXTENSIONS)
    run('req', '-new', '-config', 'req.cnf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
    (work / 'server.ext').write_text('[v3]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, '
                                     'digitalSignature\nextendedKeyUsage = serverAuth\n'
                                     'subjectAltName = IP:127.0.0.1, DNS:localhost\n')
    run('x509', '-req', '-in', 'server.csr', '-CA', 'lab-ca.pem', '-CAkey', 'lab-ca.key', '-set_serial', '0x51',
        '-days', '30', '-extfile', 'server.ext', '-extensions', 'v3', '-out', 'server.pem')

    def server_context():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(work / 'server.pem'), str(work / 'server.key'))
        return context

    class Pki:  # pylint: disable=too-few-public-methods
        dir = work
        ca = (work / 'lab-ca.pem').read_text()
        other_ca = (work / 'other-ca.pem').read_text()
        ca_key = (work / 'lab-ca.key').read_text()
        leaf = (work / 'server.pem').read_text()
        context = staticmethod(server_context)
    return Pki


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        if self.server.tls_context is not None:
            self.request = self.server.tls_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def _answer(self, with_body):
        server = self.server
        authorization = self.headers.get('Authorization')
        with server.lock:
            server.seen.append((self.path, authorization))
        path = self.path.split('?')[0]
        if server.expected is not None and authorization != server.expected:
            status, headers, body = 401, {'WWW-Authenticate': 'Basic realm="goproxy"'}, b'unauthorized\n'
        elif path in server.routes:
            status, headers, body = server.routes[path]
        else:
            status, headers, body = 404, {}, b'not found\n'
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):  # pylint: disable=invalid-name
        self._answer(True)

    def do_HEAD(self):  # pylint: disable=invalid-name
        self._answer(False)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # refused TLS handshakes are expected


class AuthServer:
    """A GOPROXY (and checksum database) on 127.0.0.1 that wants basic auth when ``login`` is given, as Athens
    or Artifactory behind a gateway do, and records the Authorization header of every request."""

    def __init__(self, routes, login=None, password=None, tls_context=None):
        self._server = _Server(('127.0.0.1', 0), _Handler)
        self._server.routes = routes
        self._server.tls_context = tls_context
        self._server.lock = threading.Lock()
        self._server.seen = []
        self._server.expected = None
        if login is not None:
            token = base64.b64encode(('%s:%s' % (login, password)).encode()).decode()
            self._server.expected = 'Basic ' + token
        threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    @property
    def host_port(self):
        return '127.0.0.1:%d' % self._server.server_address[1]

    @property
    def url(self):
        return '%s://%s' % ('https' if self._server.tls_context else 'http', self.host_port)

    @property
    def seen(self):
        with self._server.lock:
            return list(self._server.seen)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


GOPROXY_ROUTES = {
    '/': (200, {}, b'goproxy\n'),
    LIST_PATH: (200, {}, b'v1.0.0\n'),
    '/sumdb/sum.corp.example.com/supported': (200, {}, b''),
    '/sumdb/sum.golang.org/supported': (200, {}, b''),
    '/latest': (200, {}, b'go.sum database tree\n1\n'),
}


@pytest.fixture(scope='module')
def tls_goproxy(lab_pki):
    """An open https GOPROXY whose certificate the lab CA signs."""
    server = AuthServer(GOPROXY_ROUTES, tls_context=lab_pki.context())
    yield server
    server.close()


@pytest.fixture(scope='module')
def auth_goproxy(lab_pki):
    """An https GOPROXY (and checksum database) that wants LOGIN and PASSWORD."""
    server = AuthServer(GOPROXY_ROUTES, LOGIN, PASSWORD, tls_context=lab_pki.context())
    yield server
    server.close()


@pytest.fixture
def auth_registry(lab_pki):
    """An https registry on 127.0.0.1 (another port) that records what it is sent."""
    server = AuthServer({'/v2/': (200, dict(API_VERSION, **{'Content-Type': 'application/json'}), b'{}')},
                        tls_context=lab_pki.context())
    yield server
    server.close()


@pytest.fixture
def plain_goproxy():
    """An http GOPROXY that answers everything and records the Authorization headers."""
    server = AuthServer(GOPROXY_ROUTES)
    yield server
    server.close()


def credential(machine, password=PASSWORD, login=LOGIN):
    return {'machine': machine, 'login': login, 'password': password}


def assert_never_printed(run, *secrets):
    for secret in secrets + (PASSWORD, WRONG_PASSWORD):
        assert secret not in run.stdout, secret
        assert secret not in run.stderr, secret


def warnings(run):
    """The module's warnings as one text (ansible-core 2.19 returns them as structured events)."""
    return json.dumps(run.result.get('warnings', []))


def pem_body_lines(pem):
    return [line for line in pem.splitlines() if line and not line.startswith('-----')]


# ---------------------------------------------------------------------------
# ca_data
# ---------------------------------------------------------------------------

def test_the_ca_is_trusted_only_through_ca_data(run_module, tls_goproxy, lab_pki):
    without = run_module(goproxy=[tls_goproxy.url], timeout=3)
    assert without.rc == 1
    assert 'TLS certificate verification failed' in without.result['msg']

    run = run_module(goproxy=[tls_goproxy.url], probe_module=PRIVATE_MODULE, ca_data=lab_pki.ca, timeout=3)
    assert run.rc == 0, run.stdout
    assert run.result['reachable_urls']['goproxy'] == [tls_goproxy.url]
    assert run.result['invocation']['module_args']['ca_data'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert_never_printed(run, *pem_body_lines(lab_pki.ca))


def test_a_ca_that_does_not_sign_the_mirror_fails_with_a_certificate_reason(run_module, tls_goproxy, lab_pki):
    run = run_module(goproxy=[tls_goproxy.url], ca_data=lab_pki.other_ca, timeout=3)
    assert run.rc == 1
    probe = run.result['probes'][0]
    assert probe['reachable'] is False
    assert probe['error'].startswith('TLS certificate verification failed: ')
    assert_never_printed(run, *pem_body_lines(lab_pki.other_ca))


def test_ca_data_adds_to_ca_path_instead_of_replacing_it(run_module, tls_goproxy, auth_registry, lab_pki):
    # ca_path names the other CA only; the lab CA comes from ca_data, and both mirrors verify with it.
    run = run_module(goproxy=[tls_goproxy.url], registry_mirrors=[auth_registry.url], ca_data=lab_pki.ca,
                     ca_path=str(lab_pki.dir / 'other-ca.pem'), timeout=3)
    assert run.rc == 0, run.stdout
    assert [probe['reachable'] for probe in run.result['probes']] == [True, True]


def test_ca_data_with_the_other_ca_too_still_verifies(run_module, tls_goproxy, lab_pki):
    run = run_module(goproxy=[tls_goproxy.url], ca_data=lab_pki.other_ca + '\n# the lab\n' + lab_pki.ca, timeout=3)
    assert run.rc == 0, run.stdout


@pytest.mark.parametrize('blank', ['', '  \n'])
def test_an_empty_ca_data_adds_nothing(run_module, tls_goproxy, blank):
    run = run_module(goproxy=[tls_goproxy.url], ca_data=blank, timeout=3)
    assert run.rc == 1
    assert 'TLS certificate verification failed' in run.result['msg']


@pytest.mark.parametrize('stem, message', [
    ('ca-key', 'ca_data holds a private key'),
    ('leaf', 'is not a CA certificate'),
    ('expired', 'expired on 2001-01-01'),
])
def test_a_bad_ca_data_is_refused_before_any_probe(run_module, tls_goproxy, lab_pki, pki, stem, message):
    text = {'ca-key': lab_pki.ca + lab_pki.ca_key, 'leaf': lab_pki.leaf, 'expired': pki.text('expired')}[stem]
    before = len(tls_goproxy.seen)
    run = run_module(goproxy=[tls_goproxy.url], ca_data=text, timeout=3)
    assert run.rc == 1
    assert run.result['msg'].startswith('ca_data'), run.result['msg']
    assert message in run.result['msg'], run.result['msg']
    assert 'probes' not in run.result
    assert len(tls_goproxy.seen) == before
    assert_never_printed(run, *pem_body_lines(text))


# ---------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------

def test_the_right_password_passes_the_gate(run_module, auth_goproxy, lab_pki):
    run = run_module(goproxy=[auth_goproxy.url, 'off'], probe_module=PRIVATE_MODULE,
                     gosumdb='%s %s' % (SUMDB_KEY, auth_goproxy.url), ca_data=lab_pki.ca,
                     credentials=[credential(auth_goproxy.host_port)], timeout=3)
    assert run.rc == 0, run.stdout
    assert [probe['reachable'] for probe in run.result['probes']] == [True, True]
    assert run.result['probes'][0]['sumdb_supported'] is True
    # The version list, /sumdb/<name>/supported and /latest each carried the credentials.
    seen = dict(auth_goproxy.seen[-3:])
    assert set(seen) == {LIST_PATH, '/sumdb/sum.corp.example.com/supported', '/latest'}
    assert all(value is not None for value in seen.values())
    assert_never_printed(run)
    echoed = run.result['invocation']['module_args']['credentials']
    assert echoed == [{'machine': auth_goproxy.host_port, 'login': LOGIN,
                       'password': 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'}]
    # Only the password is a secret: the host and port stay readable in the result.
    assert run.result['reachable_urls']['goproxy'] == [auth_goproxy.url]


def test_a_machine_without_port_matches_every_port_as_go_before_124_reads_it(run_module, auth_goproxy, lab_pki):
    run = run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca, credentials=[credential('127.0.0.1')], timeout=3)
    assert run.rc == 0, run.stdout


def test_a_wrong_password_fails_naming_the_machine_never_the_password(run_module, auth_goproxy, lab_pki):
    run = run_module(goproxy=[auth_goproxy.url], probe_module=PRIVATE_MODULE,
                     gosumdb='%s %s' % (SUMDB_KEY, auth_goproxy.url), ca_data=lab_pki.ca,
                     credentials=[credential(auth_goproxy.host_port, WRONG_PASSWORD)], timeout=3)
    assert run.rc == 1
    reason = 'refused the credentials for machine %s (401)' % auth_goproxy.host_port
    assert [probe['error'] for probe in run.result['probes']] == [reason, reason]
    assert 'goproxy %s: %s' % (auth_goproxy.url, reason) in run.result['msg']
    assert_never_printed(run)


def test_a_proxy_that_wants_credentials_fails_without_them(run_module, auth_goproxy, lab_pki):
    # Without probe_module any answer below 500 used to count; 401 means the go command cannot fetch there.
    run = run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca, timeout=3)
    assert run.rc == 1
    assert run.result['probes'][0]['status'] == 401
    assert run.result['probes'][0]['error'].startswith('asks for credentials (401): set go_proxy_credentials')


def test_credentials_in_the_url_are_named_as_such_when_refused(run_module, auth_goproxy, lab_pki):
    url = auth_goproxy.url.replace('https://', 'https://%s:%s@' % (LOGIN, WRONG_PASSWORD))
    run = run_module(goproxy=[url], ca_data=lab_pki.ca, credentials=[credential(auth_goproxy.host_port)], timeout=3)
    assert run.rc == 1
    assert run.result['probes'][0]['error'] == 'refused the credentials in the URL (401)'
    assert_never_printed(run)


def test_an_http_url_never_gets_the_credentials(run_module, plain_goproxy):
    run = run_module(goproxy=[plain_goproxy.url], probe_module=PRIVATE_MODULE,
                     credentials=[credential('127.0.0.1')], timeout=3)
    assert run.rc == 0, run.stdout
    assert plain_goproxy.seen == [(LIST_PATH, None)]
    assert 'credentials[0] (machine 127.0.0.1) matches no https goproxy or gosumdb URL' in warnings(run)


def test_another_port_of_the_host_does_not_get_them(run_module, auth_goproxy, lab_pki):
    run = run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca, credentials=[credential('127.0.0.1:1')],
                     timeout=3)
    assert run.rc == 1
    assert auth_goproxy.seen[-1] == ('/', None)
    assert run.result['probes'][0]['error'].startswith('asks for credentials (401)')
    assert 'credentials[0] (machine 127.0.0.1:1) matches no https goproxy or gosumdb URL' in warnings(run)


def test_registry_probes_do_not_get_the_go_credentials(run_module, auth_registry, lab_pki):
    run = run_module(registry_mirrors=[auth_registry.url], ca_data=lab_pki.ca, credentials=[credential('127.0.0.1')],
                     timeout=3)
    assert run.rc == 0, run.stdout
    assert auth_registry.seen == [('/v2/', None)]


def test_given_credentials_replace_the_netrc_for_go_probes(run_module, auth_goproxy, lab_pki, tmp_path,
                                                           monkeypatch):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login %s password %s\n' % (LOGIN, PASSWORD))
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    # Without credentials, ~/.netrc (here $NETRC) is read, as before.
    assert run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca, timeout=3).rc == 0
    # With credentials for another host only, Go would read the collection's netrc and not this one.
    run = run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca,
                     credentials=[credential('goproxy.corp.example.com')], timeout=3)
    assert run.rc == 1
    assert auth_goproxy.seen[-1] == ('/', None)


def test_a_netrc_with_a_wrong_password_is_named_in_the_reason(run_module, auth_goproxy, lab_pki, tmp_path,
                                                              monkeypatch):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine 127.0.0.1 login %s password %s\n' % (LOGIN, WRONG_PASSWORD))
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))
    run = run_module(goproxy=[auth_goproxy.url], ca_data=lab_pki.ca, timeout=3)
    assert run.rc == 1
    assert run.result['probes'][0]['error'] == 'refused the credentials of $NETRC for machine 127.0.0.1 (401)'
    assert_never_printed(run)


@pytest.mark.parametrize('entries, message', [
    ([credential('127.0.0.1:1', login='a'), credential('127.0.0.1:2', login='b')],
     'credentials[0] (machine \'127.0.0.1:1\') and credentials[1] (machine \'127.0.0.1:2\') both give credentials '
     'for \'127.0.0.1\''),
    ([credential('127.0.0.1', password='has space')], 'credentials[0] (machine \'127.0.0.1\') password contains '
     'whitespace'),
    ([credential('https://127.0.0.1')], 'a machine is a host name or host:port'),
    ([{'machine': '127.0.0.1', 'login': LOGIN}], 'missing required arguments: password'),
])
def test_bad_credentials_are_refused_without_showing_them(run_module, auth_goproxy, entries, message):
    before = len(auth_goproxy.seen)
    run = run_module(goproxy=[auth_goproxy.url], credentials=entries, timeout=3)
    assert run.rc == 1
    assert message in run.result['msg'], run.result['msg']
    assert len(auth_goproxy.seen) == before
    assert 'has space' not in run.stdout and 'has space' not in run.stderr
    assert_never_printed(run)


def test_no_secret_at_high_verbosity(ansible_cli, auth_goproxy, lab_pki):
    args = json.dumps({'goproxy': [auth_goproxy.url], 'ca_data': lab_pki.ca, 'timeout': 3,
                       'credentials': [credential(auth_goproxy.host_port, WRONG_PASSWORD)]})
    rc, stdout, stderr = ansible_cli('ansible', 'localhost', '-c', 'local', '-vvv', '-m',
                                     'buildfleet.mirrors.mirror_check', '-a', args)
    assert rc == 2, stderr
    assert 'refused the credentials for machine %s (401)' % auth_goproxy.host_port in stdout
    for secret in [WRONG_PASSWORD] + pem_body_lines(lab_pki.ca):
        assert secret not in stdout and secret not in stderr


# ---------------------------------------------------------------------------
# The version list of probe_module and the checksum database, each with its own credentials and the CA
# ---------------------------------------------------------------------------

SUMDB_PASSWORD = 'SumdbOwnPw'


@pytest.fixture(scope='module')
def auth_sumdb(lab_pki):
    """A checksum database of its own over TLS, with a login of its own, reached as localhost."""
    server = AuthServer({'/latest': (200, {}, b'go.sum database tree\n1\n')}, 'sumdb-reader', SUMDB_PASSWORD,
                        tls_context=lab_pki.context())
    yield server
    server.close()


def sumdb_url(server):
    return server.url.replace('127.0.0.1', 'localhost')


@pytest.mark.parametrize('sumdb_password, reachable', [(SUMDB_PASSWORD, True), (WRONG_PASSWORD, False)])
def test_the_checksum_database_gets_its_own_credentials(run_module, auth_goproxy, auth_sumdb, lab_pki,
                                                        sumdb_password, reachable):
    sumdb_machine = 'localhost:%s' % auth_sumdb.host_port.rpartition(':')[2]
    run = run_module(goproxy=[auth_goproxy.url], probe_module=PRIVATE_MODULE,
                     gosumdb='%s %s' % (SUMDB_KEY, sumdb_url(auth_sumdb)), ca_data=lab_pki.ca, require='none',
                     credentials=[credential(auth_goproxy.host_port),
                                  credential(sumdb_machine, sumdb_password, 'sumdb-reader')], timeout=3)
    assert run.rc == 0, run.stdout
    goproxy_probe, sumdb_probe = run.result['probes']
    assert goproxy_probe['reachable'] is True
    assert sumdb_probe['reachable'] is reachable
    assert sumdb_probe['proxied_by'] == []  # a GOSUMDB URL is always asked directly, as Go does
    if not reachable:
        assert sumdb_probe['error'] == 'refused the credentials for machine %s (401)' % sumdb_machine
    # Each server saw only its own login.
    sumdb_authorization = 'Basic ' + base64.b64encode(('sumdb-reader:%s' % sumdb_password).encode()).decode()
    assert auth_sumdb.seen[-1][1] == sumdb_authorization
    assert sumdb_authorization not in [authorization for dummy, authorization in auth_goproxy.seen]
    assert_never_printed(run, SUMDB_PASSWORD)


@pytest.mark.parametrize('with_credentials', [True, False])
def test_a_proxied_checksum_database_needs_the_proxy_credentials(run_module, auth_goproxy, lab_pki,
                                                                 with_credentials):
    # sum.golang.org itself does not resolve here: it is reachable only through the proxy, whose
    # /sumdb/sum.golang.org/supported wants the login like everything else on it.
    credentials = [credential(auth_goproxy.host_port)] if with_credentials else None
    arguments = dict(goproxy=[auth_goproxy.url], gosumdb='sum.golang.org', ca_data=lab_pki.ca, require='none',
                     timeout=3)
    if credentials:
        arguments['credentials'] = credentials
    run = run_module(**arguments)
    assert run.rc == 0, run.stdout
    goproxy_probe, sumdb_probe = run.result['probes']
    assert goproxy_probe['sumdb_supported'] is with_credentials
    assert sumdb_probe['reachable'] is with_credentials
    assert sumdb_probe['proxied_by'] == ([auth_goproxy.url] if with_credentials else [])
    if not with_credentials:
        assert goproxy_probe['error'].startswith('asks for credentials (401)')


# ---------------------------------------------------------------------------
# The probe layer: what an exception's text may carry
# ---------------------------------------------------------------------------

def go_credentials(machine, password=PASSWORD):
    return validate_go_credentials([credential(machine, password)], [CredentialTarget('https://%s' % machine, 'x')],
                                   'credentials')


def test_the_password_never_reaches_an_error_whatever_the_exception_says():
    def fetch(url, deadline, credentials=None, body_limit=0, **dummy):
        raise ValueError('client said Authorization for %s:%s' % credentials)

    report = check_mirrors(fetch, goproxy_urls=['https://goproxy.corp.example.com'],
                           sumdb=parse_gosumdb('%s https://goproxy.corp.example.com' % SUMDB_KEY, 'gosumdb'),
                           timeout=2, credentials=go_credentials('goproxy.corp.example.com'))
    errors = [probe['error'] for probe in report['probes']]
    assert errors == ['ValueError: client said Authorization for %s:***' % LOGIN] * 2
    assert PASSWORD not in json.dumps(report)


def test_credentials_go_with_the_first_request_and_never_to_another_host():
    asked = []

    def fetch(url, deadline, credentials=None, body_limit=0, **dummy):
        asked.append((url, credentials))
        if url.startswith('https://goproxy.corp.example.com'):
            return HttpAnswer(302, {'Location': 'https://storage.corp.example.com/list'})
        return HttpAnswer(401)

    report = check_mirrors(fetch, goproxy_urls=['https://goproxy.corp.example.com'], probe_module=PRIVATE_MODULE,
                           timeout=2, credentials=go_credentials('goproxy.corp.example.com'))
    assert asked == [('https://goproxy.corp.example.com' + LIST_PATH, (LOGIN, PASSWORD)),
                     ('https://storage.corp.example.com/list', None)]
    # The 401 came from a host that never saw them: it asks for credentials, it did not refuse ours.
    assert report['probes'][0]['error'].startswith('asks for credentials (401)')


def test_the_real_fetch_sends_basic_auth_over_tls(auth_goproxy, lab_pki):
    fetch = build_fetch(ca_pem=lab_pki.ca)
    report = check_mirrors(fetch, goproxy_urls=[auth_goproxy.url], probe_module=PRIVATE_MODULE, timeout=3,
                           credentials=go_credentials(auth_goproxy.host_port))
    assert report['probes'][0]['reachable'] is True
    wrong = check_mirrors(fetch, goproxy_urls=[auth_goproxy.url], probe_module=PRIVATE_MODULE, timeout=3,
                          credentials=go_credentials(auth_goproxy.host_port, WRONG_PASSWORD))
    assert wrong['probes'][0]['error'] == 'refused the credentials for machine %s (401)' % auth_goproxy.host_port


def test_a_strictly_verifying_python_warns_about_a_ca_go_accepts(pki):
    certificates = validate_ca_bundle(pki.text('root') + pki.text('loose-constraints'), 'ca_data')['certificates']
    context = ssl.create_default_context()
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # Python before 3.13
    assert strict_verification_warnings(context, certificates) == []
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13 and newer, by default
    assert strict_verification_warnings(context, certificates) == [
        'ca_data certificate CN=Loose Constraints CA: basicConstraints is not marked critical; this Python verifies '
        'strictly (X509_STRICT) and refuses what it signed, while Go, curl and containerd accept it']


def test_a_netrc_password_never_reaches_an_error_either(tmp_path, monkeypatch):
    netrc = tmp_path / 'netrc'
    netrc.write_text('machine goproxy.corp.example.com login %s password %s\n' % (LOGIN, PASSWORD))
    netrc.chmod(0o600)
    monkeypatch.setenv('NETRC', str(netrc))

    def fetch(url, deadline, credentials=None, body_limit=0, **dummy):
        raise ValueError('client said Authorization for %s:%s' % credentials)

    report = check_mirrors(fetch, goproxy_urls=['https://goproxy.corp.example.com'], timeout=2)
    assert report['probes'][0]['error'] == 'ValueError: client said Authorization for %s:***' % LOGIN
