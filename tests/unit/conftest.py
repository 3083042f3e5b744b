# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared fixtures: the collection on sys.path, an offline guard, and real mirrors on 127.0.0.1.

Run from the repository root:

    ANSIBLE_COLLECTIONS_PATH=$PWD/.build/collections .venv/bin/pytest tests/unit
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys

from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parent
REPO = UNIT_DIR.parents[1]


def _collections_root():
    """The directory that holds ansible_collections/buildfleet/mirrors, made if needed."""
    if REPO.parents[1].name == 'ansible_collections':
        return REPO.parents[2]  # the checkout already sits in a collections tree (ansible-test, sanity copy)
    root = REPO / '.build' / 'collections'
    link = root / 'ansible_collections' / 'buildfleet' / 'mirrors'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    return root


COLLECTIONS_ROOT = _collections_root()
sys.path.insert(0, str(COLLECTIONS_ROOT))
sys.path.insert(0, str(UNIT_DIR))  # for local_mirrors

from local_mirrors import API_VERSION, Answer, BlackHole, MirrorServer, closed_port_url, make_tls_files  # noqa: E402
# pki: a session fixture, CA certificates and keys from the openssl CLI.
from openssl_pki import pki  # noqa: E402,F401 pylint: disable=unused-import

PROXY_VARIABLES = ('http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
                   'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY')

# ---------------------------------------------------------------------------
# Offline guard
# ---------------------------------------------------------------------------

_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host):
    if host in (None, 'localhost', 'localhost.'):
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def _offline_getaddrinfo(host, *args, **kwargs):
    """Resolve loopback only. '.invalid' names fail as RFC 6761 says they must, without asking a DNS server."""
    host_text = host.decode() if isinstance(host, bytes) else host
    if _is_loopback(host_text):
        return _real_getaddrinfo(host, *args, **kwargs)
    if host_text.rstrip('.').endswith('.invalid'):
        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')
    raise socket.gaierror(socket.EAI_NONAME, 'the unit tests stay on 127.0.0.1 and refuse to resolve %s' % host_text)


@pytest.fixture(autouse=True, scope='session')
def stay_on_loopback():
    """Every in-process connection stays on 127.0.0.1; no proxy from the developer's environment interferes."""
    saved = dict((name, os.environ.pop(name)) for name in PROXY_VARIABLES if name in os.environ)
    socket.getaddrinfo = _offline_getaddrinfo
    yield
    socket.getaddrinfo = _real_getaddrinfo
    os.environ.update(saved)


# ---------------------------------------------------------------------------
# Real mirrors
# ---------------------------------------------------------------------------

def goproxy_routes(prefix=''):
    """A GOPROXY tree: two modules (one with uppercase letters), and the sum.golang.org database proxied."""
    return {
        prefix + '/corp.example.com/platform/lib/@v/list': Answer(200, body=b'v1.0.0\nv1.1.0\n'),
        prefix + '/github.com/!azure/go-autorest/@v/list': Answer(200, body=b'v14.2.0+incompatible\n'),
        prefix + '/sumdb/sum.golang.org/supported': Answer(200),
        prefix + '/sumdb/sum.corp.example.com/supported': Answer(200),
    }


@pytest.fixture(scope='session')
def goproxy():
    """A module proxy: 200 on the lists it holds, 404 for any other module, proxies sum.golang.org."""
    server = MirrorServer(goproxy_routes())
    yield server
    server.close()


@pytest.fixture(scope='session')
def goproxy_gone():
    """A module proxy that answers 410 Gone to everything (as proxy.golang.org does for unknown modules)."""
    server = MirrorServer(default=Answer(410, body=b'gone\n'))
    yield server
    server.close()


@pytest.fixture(scope='session')
def sumdb():
    """A checksum database answering /latest."""
    server = MirrorServer({'/latest': Answer(200, body=b'go.sum database tree\n1\n')})
    yield server
    server.close()


@pytest.fixture(scope='session')
def registry():
    """A Registry v2 base that answers /v2/ with 200, as an open pull-through cache does."""
    server = MirrorServer({'/v2/': Answer(200, dict(API_VERSION, **{'Content-Type': 'application/json'}), b'{}')})
    yield server
    server.close()


@pytest.fixture(scope='session')
def registry_login():
    """A Registry v2 base that wants a login: 401 with the API version header."""
    headers = dict(API_VERSION, **{'WWW-Authenticate': 'Basic realm="registry"'})
    server = MirrorServer({'/v2/': Answer(401, headers, b'{"errors":[{"code":"UNAUTHORIZED"}]}')})
    yield server
    server.close()


@pytest.fixture(scope='session')
def broken():
    """A server that answers 500 to everything."""
    server = MirrorServer(default=Answer(500, body=b'internal error\n'))
    yield server
    server.close()


@pytest.fixture(scope='session')
def plain_web_server():
    """An HTTP server that is not a mirror at all: 404 to everything."""
    server = MirrorServer()
    yield server
    server.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def closed_port():
    return closed_port_url()


@pytest.fixture(scope='session')
def tls_files(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp('tls'))


@pytest.fixture(scope='session')
def tls_registry(tls_files):
    """An HTTPS registry whose certificate is signed by the test's private CA."""
    server = MirrorServer({'/v2/': Answer(200, API_VERSION)}, tls_context=tls_files.server_context())
    yield server
    server.close()


@pytest.fixture(scope='session')
def mtls_registry(tls_files):
    """An HTTPS registry that also requires a client certificate signed by the private CA."""
    server = MirrorServer({'/v2/': Answer(200, API_VERSION)},
                          tls_context=tls_files.server_context(require_client_cert=True))
    yield server
    server.close()


# ---------------------------------------------------------------------------
# Running the module and the ansible CLI
# ---------------------------------------------------------------------------

def clean_environment(**extra):
    """The environment for a child process: the collection importable, no proxies, no colour."""
    environment = dict((name, value) for name, value in os.environ.items() if name not in PROXY_VARIABLES)
    environment.update(
        PYTHONPATH=str(COLLECTIONS_ROOT),
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_HOST_KEY_CHECKING='0',
        ANSIBLE_LOCALHOST_WARNING='0',
        ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    environment.update(extra)
    return environment


class ModuleRun:
    def __init__(self, completed):
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.result = json.loads(completed.stdout)


def run_collection_module(name, work_dir, module_args, check_mode=False, diff=False):
    """Run one of the collection's modules as Ansible would on a host: JSON arguments in a file, JSON on stdout."""
    tmpdir = Path(work_dir) / 'tmp'
    tmpdir.mkdir(exist_ok=True)
    arguments = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_tmpdir=str(tmpdir))
    args_file = Path(work_dir) / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': arguments}))
    completed = subprocess.run(
        [sys.executable, '-m', 'ansible_collections.buildfleet.mirrors.plugins.modules.' + name, str(args_file)],
        capture_output=True, text=True, env=clean_environment(), cwd=str(work_dir), timeout=120, check=False)
    return ModuleRun(completed)


@pytest.fixture
def run_module(tmp_path):
    """Run mirror_check on this machine as a host."""
    def run(check_mode=False, **module_args):
        return run_collection_module('mirror_check', tmp_path, module_args, check_mode)
    return run


@pytest.fixture
def ansible_cli(tmp_path):
    """Run an ansible CLI tool against localhost with the JSON stdout callback; return (rc, stdout, stderr)."""
    def run(*arguments):
        tool = Path(sys.executable).with_name(arguments[0])
        completed = subprocess.run(
            [str(tool)] + list(arguments[1:]), capture_output=True, text=True, timeout=300, check=False,
            cwd=str(tmp_path),
            env=clean_environment(ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                                  ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_HOME=str(tmp_path / 'home')))
        return completed.returncode, completed.stdout, completed.stderr
    return run
