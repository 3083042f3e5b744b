# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The read-only audit of one host (the mirror_audit module): what each consumer gets, against the policy.

No Ansible import: the module builds a :class:`HostView` (a root directory, a
command runner, a ``which``) and calls :func:`audit`; the unit tests give it a
temporary tree and a runner of their own. Nothing here writes a file, opens a
login session or runs ``su``: users' ``go env -w`` files are read as files, the
login shell's environment is what ``/etc/profile.d/*.sh`` exports when a plain
``sh`` sources them in order (as ``/etc/profile`` does), and services are asked
through ``systemctl show``.

The rules are the collection's: GOPROXY and pattern matching from
``_go_rules``, dockerd's comparison from ``_daemon_json``, and the expected
hosts.toml and containers drop-in from the ``_registry_outputs`` renderers.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    INSECURE_KEY,
    MIRRORS_KEY,
    DaemonJsonError,
    normalize_mirror,
    parse_daemon_json,
    registry_config_problems,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    UnitNameError,
    is_go_env_version,
    parse_env_output,
    service_names,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._docker_writer import docker_info
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    policy_targets,
    validate_go_credentials,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    matches_every_module,
    module_pattern_matches,
    parse_gosumdb,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import DOCKER_HUB
from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    validate_package_name,
    validate_registry_url,
    validate_scope,
    validate_scopes,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    check_mirrors,
    parse_npm_registries,
    parse_pypi_indexes,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    validate_extra_index_urls,
    validate_index_url,
    validate_project_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import (
    CONTAINERS_DROPIN,
    hosts_toml_path,
    render_containers_dropin,
    render_hosts_toml,
    upstream_server,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

SCHEMA = 1
SEVERITIES = ('info', 'low', 'medium', 'high')
# Every check of the audit and its severity: the ids are stable (JUnit test case names, report columns).
CHECKS = {
    'go.missing_value': 'high',
    'go.override_weakens': 'high',
    'go.upstream_fallback': 'high',
    'docker.missing_mirror': 'high',
    'docker.not_applied': 'medium',
    'docker.unproven': 'info',
    'docker.upstream_fallback': 'high',
    'containerd.missing_mirror': 'high',
    'containers.missing_mirror': 'high',
    'python.missing_index': 'high',
    'python.extra_index': 'medium',
    'uv.missing_index': 'high',
    'npm.missing_registry': 'high',
    'npm.missing_scope': 'high',
    'mirror.down': 'high',
    'mirror.slow': 'low',
}
DEFAULT_SLOW_MS = 500
COMMAND_TIMEOUT = 30
PUBLIC_GOPROXY_HOSTS = ('proxy.golang.org',)
# Pattern variables whose widening switches a protection off for the modules it matches.
WIDENING_PATTERNS = ('GONOSUMDB', 'GOPRIVATE', 'GOINSECURE')
# From / (no go.mod there asks Go for another toolchain), every profile.d script in order, then the command.
PROFILE_SCRIPT = 'cd / && for f in "$0"/etc/profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; exec "$@"'
# go writes telemetry counters under os.UserConfigDir() (Go 1.23 and newer): root's go env runs with a HOME and an
# XDG_CONFIG_HOME that do not exist, so it writes nothing, and reads root's go env file through GOENV.
NO_HOME = '/nonexistent/buildfleet-mirror-audit'
CLEAN_PATH = 'PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin'


def _shown(value):
    """Every string of a value (nested), redacted: what may appear in a record."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return dict((_shown(key), _shown(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    return value


class HostView:
    """The host as the audit reads it: files under ``root``, commands through ``run(argv) -> (rc, out, err)``."""

    def __init__(self, root='/', run=None, which=None, systemd_runtime_dir='/run/systemd/system'):
        self.root = root
        self.run = run or _run
        self.which = which or _which
        self.systemd_booted = os.path.isdir(self.path(systemd_runtime_dir))

    def path(self, path):
        return os.path.join(self.root, path.lstrip('/')) if self.root not in ('', '/') else path

    def read(self, path):
        try:
            with open(self.path(path), 'rb') as stream:
                return stream.read().decode('utf-8', 'replace')
        except OSError:
            return None


def _run(argv):
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        return 124, '', 'no answer within %d s' % COMMAND_TIMEOUT
    except OSError as error:
        return 127, '', str(error)
    return done.returncode, done.stdout.decode('utf-8', 'replace'), done.stderr.decode('utf-8', 'replace')


def _which(name):
    for directory in ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/go/bin'):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# ---------------------------------------------------------------------------
# Reading what each Go consumer gets
# ---------------------------------------------------------------------------

def parse_pam_environment(text):
    """/etc/environment as pam_env reads it: NAME=value lines, one pair of double quotes stripped, # comments."""
    values = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('export '):
            line = line[len('export '):].lstrip()
        name, sep, value = line.partition('=')
        if not sep or not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        values[name] = value
    return values


def parse_go_env_file(text):
    """A go env file (``go env -w``'s, or $GOROOT/go.env) as Go reads it: KEY=VALUE, the first one wins there.

    In the user's file each key appears once (``go env -w`` rewrites it); in go.env the first value wins.
    """
    values = {}
    for line in (text or '').splitlines():
        name, sep, value = line.partition('=')
        if not sep or not line[:1].isupper() or not re.fullmatch(r'[A-Z_][A-Z0-9_]*', name):
            continue
        values.setdefault(name, value)
    return values


def parse_systemd_environment(value):
    """``systemctl show -p Environment --value``: space-separated assignments, quoted where they hold a space."""
    values = {}
    try:
        words = shlex.split(value or '')
    except ValueError:
        words = (value or '').split()
    for word in words:
        name, sep, item = word.partition('=')
        if sep:
            values[name] = item
    return values


def go_values(values):
    """Only the GO* variables."""
    return dict((name, value) for name, value in values.items() if name.startswith('GO'))


def login_users(view):
    """[(name, home)] of the users with a login shell (listed in /etc/shells) and a home directory, root first."""
    shells = set(line.strip() for line in (view.read('/etc/shells') or '').splitlines()
                 if line.strip().startswith('/'))
    if not shells:
        shells = {'/bin/sh', '/bin/bash', '/usr/bin/bash', '/bin/dash', '/usr/bin/sh', '/bin/zsh', '/usr/bin/zsh'}
    users = []
    for line in (view.read('/etc/passwd') or '').splitlines():
        fields = line.split(':')
        if len(fields) < 7 or fields[6] not in shells or not fields[5]:
            continue
        if os.path.isdir(view.path(fields[5])) and (fields[0], fields[5]) not in users:
            users.append((fields[0], fields[5]))
    return users


def goroots(view, parents=('/usr/lib', '/usr/local')):
    """The Go 1.21 and newer installs (their go.env is read); a link to an install found already counts once."""
    found, real = [], set()
    for parent in parents:
        for pattern in ('go-*', 'golang', 'go'):
            for candidate in sorted(glob.glob(os.path.join(view.path(parent), pattern))):
                version = None
                try:
                    with open(os.path.join(candidate, 'VERSION'), encoding='utf-8', errors='replace') as stream:
                        version = stream.readline()
                except OSError:
                    continue
                if os.path.realpath(candidate) in real or not is_go_env_version(version):
                    continue
                real.add(os.path.realpath(candidate))
                relative = '/' + os.path.relpath(candidate, view.path('/')) if view.root not in ('', '/') else candidate
                found.append(relative)
    return found


class Consumer:
    def __init__(self, consumer_id, kind, source, values, expected=False, error=''):
        self.id = consumer_id
        self.kind = kind
        self.source = source
        self.values = values
        self.expected = expected  # must carry every value of the policy (an output the policy writes for it)
        self.error = error

    def record(self):
        record = dict(id=self.id, kind=self.kind, source=self.source, values=_shown(self.values))
        if self.error:
            record['error'] = redact_url(self.error)
        return record


def _login_shell_env(view, extra_argv=None, extra_env=()):
    root = view.root if view.root not in ('', '/') else ''
    argv = (['/usr/bin/env', '-i', 'HOME=/nonexistent', CLEAN_PATH] + list(extra_env)
            + ['/bin/sh', '-c', PROFILE_SCRIPT, root] + (extra_argv or ['/usr/bin/env']))
    return view.run(argv)


def gather_go(view, go):
    """Every Go consumer of the host and what it gets (values), in a stable order."""
    consumers = []
    rc, out, err = _login_shell_env(view)
    consumers.append(Consumer('go:login-shell', 'go', '/etc/profile.d/*.sh', go_values(parse_env_output(out))
                              if rc == 0 else {}, go.get('profile_d', True),
                              '' if rc == 0 else 'sh rc %s: %s' % (rc, ' '.join(err.split()))))
    consumers.append(Consumer('go:pam', 'go', '/etc/environment',
                              go_values(parse_pam_environment(view.read('/etc/environment'))),
                              go.get('etc_environment', True)))
    manager = {}
    systemctl = view.which('systemctl') if view.systemd_booted else None
    if systemctl:
        rc, out, err = view.run([systemctl, 'show-environment'])
        manager = parse_env_output(out) if rc == 0 else {}
        consumers.append(Consumer('go:systemd-manager', 'go', 'systemctl show-environment', go_values(manager),
                                  go.get('systemd_default_environment', True),
                                  '' if rc == 0 else 'rc %s: %s' % (rc, ' '.join(err.split()))))
        try:
            units = service_names(go.get('systemd_units') or [], 'go.systemd_units')
        except UnitNameError as error:
            raise PolicyError(str(error)) from None
        for unit in units:
            rc, out, err = view.run([systemctl, 'show', '--property=Environment', '--value', '--', unit])
            own = parse_systemd_environment(out) if rc == 0 else {}
            values = dict(go_values(manager), **go_values(own))  # a unit's Environment= wins over the manager's
            consumers.append(Consumer('go:unit:%s' % unit, 'go', 'systemctl show -p Environment %s' % unit, values,
                                      True, '' if rc == 0 else 'rc %s: %s' % (rc, ' '.join(err.split()))))
    go_binary = view.which('go')
    if go_binary:
        root_home = dict(login_users(view)).get('root', '/root')
        rc, out, err = _login_shell_env(view, [go_binary, 'env', '-json'], [
            'HOME=' + NO_HOME, 'XDG_CONFIG_HOME=' + NO_HOME, 'GOENV=' + os.path.join(root_home, '.config', 'go', 'env')])
        try:
            values = go_values(json.loads(out)) if rc == 0 else {}
            error = '' if rc == 0 else 'rc %s: %s' % (rc, ' '.join(err.split()))
        except ValueError as exc:
            values, error = {}, 'unreadable go env -json output (%s)' % exc
        consumers.append(Consumer('go:root', 'go', 'go env -json (root, login shell environment)', values,
                                  go.get('profile_d', True), error))
    for name, home in login_users(view):
        if name == 'root':
            continue  # go:root is what root's go really uses, its go env file included
        path = os.path.join(home, '.config', 'go', 'env')
        text = view.read(path)
        if text is not None:
            consumers.append(Consumer('go:user:%s' % name, 'go', path, go_values(parse_go_env_file(text))))
    for goroot in goroots(view, go.get('goroot_parents') or ('/usr/lib', '/usr/local')):
        path = os.path.join(goroot, 'go.env')
        text = view.read(path)
        if text is not None:
            consumers.append(Consumer('go:goroot-env', 'go', path, go_values(parse_go_env_file(text)),
                                      go.get('goroot_env', False)))
    return consumers


# ---------------------------------------------------------------------------
# Judging the Go consumers
# ---------------------------------------------------------------------------

def _goproxy_entries(value):
    return [entry.strip() for entry in re.split(r'[,|]', value or '') if entry.strip()]


def reaches_upstream(goproxy):
    """The entries of a GOPROXY value that reach the public internet: direct, or a public proxy."""
    found = []
    for entry in _goproxy_entries(goproxy):
        host = re.sub(r'^[a-z]+://', '', entry).split('/')[0].split('@')[-1].split(':')[0]
        if entry == 'direct' or host in PUBLIC_GOPROXY_HOSTS:
            found.append(entry)
        if entry in ('direct', 'off'):
            break  # Go never reads past them
    return found


def _patterns(value):
    return [pattern for pattern in (value or '').split(',') if pattern and pattern != 'none']


def wider_patterns(seen, allowed):
    """The patterns of ``seen`` that no pattern of ``allowed`` covers (a pattern for every module is never covered)."""
    return [pattern for pattern in _patterns(seen)
            if matches_every_module(pattern) or not any(module_pattern_matches(other, pattern.rstrip('/'))
                                                        for other in _patterns(allowed))]


def weakenings(values, policy):
    """{variable: why} for each value that switches off a protection the policy keeps."""
    found = {}
    if values.get('GOSUMDB') == 'off' and policy.get('GOSUMDB') != 'off':
        found['GOSUMDB'] = 'GOSUMDB=off turns off checksum verification'
    for variable in WIDENING_PATTERNS:
        allowed = policy.get(variable)
        if allowed is None and variable == 'GONOSUMDB':
            allowed = policy.get('GOPRIVATE')  # Go's default for GONOSUMDB
        wider = wider_patterns(values.get(variable), allowed)
        if wider:
            found[variable] = '%s holds %s, wider than the policy' % (variable, ','.join(wider))
    flags = (values.get('GOFLAGS') or '').split()
    policy_flags = (policy.get('GOFLAGS') or '').split()
    for flag in ('-insecure', '-mod=mod'):
        if flag in flags and flag not in policy_flags:
            found['GOFLAGS'] = 'GOFLAGS holds %s, which the policy does not' % flag
    return found


def check_go(policy, consumers):
    """The go.* findings of the consumers against the policy's environment (``policy``: the GO* dict)."""
    findings = []
    upstream_forbidden = not reaches_upstream(policy.get('GOPROXY'))
    for consumer in consumers:
        if not consumer.expected and consumer.id == 'go:goroot-env':
            continue  # a go.env the policy does not manage: Go's defaults, not a drift
        values = consumer.values
        flagged = set()
        weak = weakenings(values, policy)
        if weak:
            flagged.update(weak)
            findings.append(_finding('go.override_weakens', consumer, '; '.join(weak.values()),
                                     dict(source=consumer.source, variables=dict(
                                         (name, dict(seen=values.get(name), policy=policy.get(name)))
                                         for name in weak))))
        upstream = reaches_upstream(values.get('GOPROXY')) if 'GOPROXY' in values else []
        if upstream and upstream_forbidden:
            flagged.add('GOPROXY')
            findings.append(_finding('go.upstream_fallback', consumer,
                                     'GOPROXY reaches %s, which the policy forbids' % ', '.join(upstream),
                                     dict(source=consumer.source, seen=values.get('GOPROXY'),
                                          policy=policy.get('GOPROXY'))))
        differing = dict((name, dict(seen=values.get(name), policy=value)) for name, value in policy.items()
                         if name not in flagged and values.get(name) != value
                         and (consumer.expected or name in values))
        if differing:
            findings.append(_finding('go.missing_value', consumer, '%s: %s' % (
                'lacks or changes' if consumer.expected else 'sets another', ', '.join(
                    '%s=%s' % (name, item['seen'] if item['seen'] is not None else '(unset)')
                    for name, item in differing.items())),
                dict(source=consumer.source, variables=differing)))
        if consumer.error:
            findings.append(_finding('go.missing_value', consumer, 'could not be read: %s' % consumer.error,
                                     dict(source=consumer.source, error=consumer.error)))
    return findings


def _finding(check, consumer, summary, evidence):
    consumer_id = consumer if isinstance(consumer, str) or consumer is None else consumer.id
    return dict(check=check, severity=CHECKS[check], consumer=consumer_id, summary=redact_url(summary),
                evidence=_shown(evidence))


# ---------------------------------------------------------------------------
# Docker, containerd and the containers tools
# ---------------------------------------------------------------------------

class _EngineHost:
    """The part of _docker_writer.Host that docker_info() needs."""

    def __init__(self, view):
        self.run = view.run
        self.which = view.which


def check_docker(view, docker):
    """(consumers, findings, checks run) for dockerd, containerd's hosts.toml and the containers drop-in."""
    consumers, findings, checks = [], [], ['docker.missing_mirror', 'docker.not_applied', 'docker.unproven']
    mirrors = [normalize_mirror(url) for url in docker.get('registry_mirrors') or []]
    insecure = docker.get('insecure_registries')
    registries = dict(docker.get('registries') or {})
    fallback = docker.get('fallback', True)
    path = docker.get('daemon_json') or '/etc/docker/daemon.json'
    text = view.read(path)
    config, error = {}, ''
    try:
        config = parse_daemon_json(text, path) if text is not None else {}
    except DaemonJsonError as exc:
        error = str(exc)
    file_mirrors = config.get(MIRRORS_KEY) if isinstance(config.get(MIRRORS_KEY), list) else []
    file_insecure = config.get(INSECURE_KEY) if isinstance(config.get(INSECURE_KEY), list) else None
    info = docker_info(_EngineHost(view), with_store=True) if view.which('docker') else None
    engine, store = info if info else (None, False)
    values = {MIRRORS_KEY: file_mirrors}
    if engine is not None:
        values['engine ' + MIRRORS_KEY] = list(engine.get('Mirrors') or [])
    consumers.append(dict(id='docker:daemon', kind='docker', source='%s, docker info' % path, values=_shown(values)))
    if error:
        findings.append(_finding('docker.missing_mirror', 'docker:daemon', error, dict(source=path)))
    elif engine is None:
        wrong = [] if [normalize_mirror(url) for url in file_mirrors] == mirrors else [
            '%s sets the registry mirrors %s, but the policy is %s' % (path, json.dumps(file_mirrors),
                                                                       json.dumps(mirrors))]
        if wrong:
            findings.append(_finding('docker.missing_mirror', 'docker:daemon', wrong[0],
                                     dict(source=path, engine='not running')))
    else:
        missing = registry_config_problems(engine, mirrors, insecure)
        if missing:
            findings.append(_finding('docker.missing_mirror', 'docker:daemon', '; '.join(missing),
                                     dict(source='docker info', problems=missing)))
        stale = registry_config_problems(engine, file_mirrors, file_insecure if insecure is not None else None)
        if stale:
            findings.append(_finding(
                'docker.not_applied', 'docker:daemon', '%s differs from what dockerd runs with' % path,
                dict(source=path, problems=[problem.replace('but the policy is', 'but %s says' % path)
                                            for problem in stale])))
        if store and registries:
            findings.append(_finding(
                'docker.unproven', 'docker:daemon',
                "dockerd uses containerd's image store: docker info cannot tell which mirrors it uses for %s"
                % ', '.join(registries), dict(source='docker info', registries=list(registries))))

    every = ({DOCKER_HUB: list(docker.get('registry_mirrors'))} if docker.get('registry_mirrors') else {})
    every.update(registries)
    if docker.get('containerd'):
        checks += ['containerd.missing_mirror', 'docker.upstream_fallback']
        certs_dir = docker.get('containerd_certs_dir') or '/etc/containerd/certs.d'
        for registry, urls in every.items():
            toml_path = hosts_toml_path(certs_dir, registry)
            seen = view.read(toml_path)
            wanted = render_hosts_toml(registry, urls, insecure, fallback)
            consumer_id = 'containerd:%s' % registry
            consumers.append(dict(id=consumer_id, kind='containerd', source=toml_path,
                                  values=_shown(_hosts_toml_values(seen))))
            findings += _compare_toml('containerd.missing_mirror', consumer_id, toml_path, seen, wanted, registry,
                                      fallback, _hosts_toml_values)
    if docker.get('containers_registries_conf'):
        checks += ['containers.missing_mirror'] + ([] if 'docker.upstream_fallback' in checks
                                                   else ['docker.upstream_fallback'])
        dropin = docker.get('containers_dropin') or CONTAINERS_DROPIN
        seen = view.read(dropin)
        wanted = render_containers_dropin(every, insecure, fallback)
        parsed = _containers_values(seen)
        for registry in every:
            consumer_id = 'containers:%s' % registry
            consumers.append(dict(id=consumer_id, kind='containers', source=dropin,
                                  values=_shown(parsed.get(registry, {}))))
            want = _containers_values(wanted).get(registry)
            if want is None:
                continue  # every mirror has a path: the drop-in cannot express it (the writer says so)
            findings += _compare_values('containers.missing_mirror', consumer_id, dropin, parsed.get(registry, {}),
                                        want, registry, fallback)
    return consumers, findings, checks


def _toml(text):
    try:
        import tomllib
    except ImportError:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _hosts_toml_values(text):
    """{'server': ..., 'mirrors': [...]} of a hosts.toml: the hosts tried in order, the server last unless upstream."""
    if text is None:
        return {}
    data = _toml(text)
    if data is None:  # no tomllib (Python before 3.11): the server and host lines, read plainly
        server = re.search(r'^server\s*=\s*"([^"]*)"', text, re.MULTILINE)
        server = server.group(1) if server else None
        hosts = re.findall(r'^\[host\."([^"]*)"\]', text, re.MULTILINE)
    else:
        server, hosts = data.get('server'), list((data.get('host') or {}).keys())
    route = []
    for url in hosts + ([server] if server else []):
        url = url.rstrip('/')
        if url not in route:
            route.append(url)
    return dict(server=server, mirrors=route)


def _containers_values(text):
    """{registry: {'mirrors': [...], 'blocked': bool}} of a registries.conf drop-in."""
    if not text:
        return {}
    data = _toml(text)
    if data is None:
        return {}
    found = {}
    for entry in data.get('registry') or []:
        prefix = entry.get('prefix') or entry.get('location')
        found[prefix] = dict(mirrors=[mirror.get('location') for mirror in entry.get('mirror') or []],
                             blocked=bool(entry.get('blocked')))
    return found


def _compare_toml(check, consumer_id, path, seen, wanted, registry, fallback, read):
    if seen == wanted:
        return []
    if seen is None:
        return [_finding(check, consumer_id, '%s is missing: %s is not mirrored there' % (path, registry),
                         dict(source=path))]
    return _compare_values(check, consumer_id, path, read(seen), read(wanted), registry, fallback)


def _compare_values(check, consumer_id, path, seen, wanted, registry, fallback):
    findings = []
    upstream = upstream_server(registry).split('://', 1)[-1]
    public = [url for url in seen.get('mirrors') or [] if upstream in url]
    if [url for url in seen.get('mirrors') or [] if url not in public] != [
            url for url in wanted.get('mirrors') or [] if upstream not in url]:
        findings.append(_finding(check, consumer_id, '%s does not list the policy\'s mirrors of %s' % (path, registry),
                                 dict(source=path, seen=seen, policy=wanted)))
    if not fallback:
        if public or ('server' in seen and not seen['server']) or ('blocked' in seen and not seen['blocked']):
            findings.append(_finding('docker.upstream_fallback', consumer_id,
                                     '%s still lets pulls of %s fall back to %s' % (path, registry, upstream),
                                     dict(source=path, seen=seen, policy=wanted)))
    return findings


# ---------------------------------------------------------------------------
# Python (pip, uv) and Node (npm): the index and registry each client resolves
# ---------------------------------------------------------------------------

PYPI_DEFAULT_INDEX = 'https://pypi.org/simple/'
NPM_DEFAULT_REGISTRY = 'https://registry.npmjs.org/'
# npm makes its cache and log directories at every start: a cache it cannot create and no log file keep it read-only.
NPM_READ_ONLY = ['--logs-max=0', '--cache=/dev/null/buildfleet-mirror-audit']
# The pip commands that resolve packages; [install] and the others may each override [global].
PIP_COMMANDS = ('install', 'download', 'wheel')
PIP_KEYS = ('index-url', 'extra-index-url', 'no-index')
PIP_VARIABLES = dict(('PIP_' + key.upper().replace('-', '_'), key) for key in PIP_KEYS)
UV_VARIABLES = ('UV_DEFAULT_INDEX', 'UV_INDEX_URL', 'UV_INDEX', 'UV_EXTRA_INDEX_URL')
NPM_ENV_PREFIX = 'npm_config_'
# The command that runs a client in a clean environment (no profile.d, no home), from /.
CLEAN_SHELL = '/bin/sh', '-c', 'cd / && exec "$@"', 'sh'


def python_policy(python):
    """The python option checked (http allowed: the audit writes nothing) and normalised; PolicyError names it."""
    index = validate_index_url(python.get('index_url'), 'python.index_url', allow_http=True)
    return dict(
        index_url=index,
        extra_index_urls=validate_extra_index_urls(python.get('extra_index_urls') or [], 'python.extra_index_urls',
                                                   index, allow_http=True),
        uv=python.get('uv') is not False,
        probe_package=validate_project_name(python.get('probe_package') or 'pip', 'python.probe_package'),
        environment=bool(python.get('environment')),
        systemd_units=_units(python.get('systemd_units'), 'python.systemd_units'))


def node_policy(node):
    """The node option checked and normalised, as :func:`python_policy`."""
    scopes = validate_scopes(node.get('scopes') or {}, 'node.scopes', allow_http=True)
    packages = node.get('scope_probe_packages') or {}
    if not isinstance(packages, dict):
        raise PolicyError('node.scope_probe_packages must be a mapping of scope to package, got %s'
                          % redact_url(repr(packages)))
    for scope, package in packages.items():
        validate_scope(scope, 'node.scope_probe_packages key')
        if scope not in scopes:
            raise PolicyError('node.scope_probe_packages key %s is not a scope of node.scopes (%s)'
                              % (scope, ', '.join(sorted(scopes)) or 'none'))
        validate_package_name(package, 'node.scope_probe_packages[%s]' % scope)
    return dict(
        registry=validate_registry_url(node.get('registry'), 'node.registry', allow_http=True),
        scopes=scopes,
        probe_package=validate_package_name(node.get('probe_package') or 'npm', 'node.probe_package'),
        scope_probe_packages=dict(packages),
        environment=bool(node.get('environment')),
        systemd_units=_units(node.get('systemd_units'), 'node.systemd_units'))


def _units(units, name):
    try:
        return service_names(units or [], name)
    except UnitNameError as error:
        raise PolicyError(str(error)) from None


def _same_url(first, second):
    return isinstance(first, str) and isinstance(second, str) and first.rstrip('/') == second.rstrip('/')


def _rc_error(rc, err):
    return 'rc %s: %s' % (rc, ' '.join((err or '').split())[-300:])


def _clean_run(view, argv):
    """A client run with no environment but a PATH and a home that does not exist, from /."""
    return view.run(['/usr/bin/env', '-i', 'HOME=' + NO_HOME, CLEAN_PATH] + list(CLEAN_SHELL) + list(argv))


def login_environment(view):
    """(the environment a login shell gets from /etc/profile.d, error)."""
    rc, out, err = _login_shell_env(view)
    return (parse_env_output(out), '') if rc == 0 else ({}, 'sh ' + _rc_error(rc, err))


def service_environments(view, units):
    """[(unit, environment, error)]: each unit's Environment= over the systemd manager's."""
    systemctl = view.which('systemctl') if view.systemd_booted else None
    if not systemctl or not units:
        return []
    rc, out, err = view.run([systemctl, 'show-environment'])
    manager = parse_env_output(out) if rc == 0 else {}
    found = []
    for unit in units:
        rc_unit, out, err_unit = view.run([systemctl, 'show', '--property=Environment', '--value', '--', unit])
        values = dict(manager, **(parse_systemd_environment(out) if rc_unit == 0 else {}))
        error = '' if rc == 0 and rc_unit == 0 else _rc_error(rc_unit or rc, err_unit or err)
        found.append((unit, values, error))
    return found


class PackageConsumer(Consumer):
    """A consumer of a package client: ``env_expected`` when the policy exports its variables to this source."""

    def __init__(self, consumer_id, kind, source, values, env_expected=False, error='', environment=None):
        Consumer.__init__(self, consumer_id, kind, source, values, error=error)
        self.env_expected = env_expected
        self.environment = environment or {}  # the variables of this source the client reads
        self.judged = True


def _judged(consumers):
    """The consumers to judge: the global view, and each other one that differs from it or must carry variables.

    A PAM session or a service that gets nothing of its own resolves what the global view resolves: one finding
    (on the global view) says it, not one per source.
    """
    for consumer in consumers[1:]:
        consumer.judged = bool(consumer.env_expected or consumer.error or consumer.environment
                               or consumer.values != consumers[0].values)
    return [consumer for consumer in consumers if consumer.judged]


def _env_sources(view, policy, login_env, login_error):
    """[(suffix, source, environment, env_expected, error)]: login shell, PAM, each service of the policy."""
    expected = policy['environment']
    sources = [('login-shell', '/etc/profile.d/*.sh', login_env, expected, login_error),
               ('pam', '/etc/environment', parse_pam_environment(view.read('/etc/environment')), expected, '')]
    for unit, values, error in service_environments(view, policy['systemd_units']):
        sources.append(('unit:' + unit, 'systemctl show -p Environment %s' % unit, values, expected, error))
    return sources


# pip ---------------------------------------------------------------------------------------------------------

def parse_pip_config_list(text):
    """``pip config list``: ``section.key='value'`` lines (the value a Python literal) -> {section.key: value}."""
    values = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if not sep or '.' not in key:
            continue
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str):
            values[key] = value
    return values


def _index_keys(values):
    return dict((key, value) for key, value in values.items() if key.rsplit('.', 1)[-1] in PIP_KEYS)


def _truthy(value):
    return str(value).strip().lower() in ('1', 'y', 'yes', 't', 'true', 'on')


def pip_resolution(values, command='install'):
    """(index or None for no-index, [extra indexes], where the index comes from) of ``pip <command>``.

    pip reads ``[global]``, then ``[<command>]``, then its PIP_* variables (``:env:``), each over the one before.
    """
    def pick(name):
        for section in (':env:', command, 'global'):
            if '%s.%s' % (section, name) in values:
                return values['%s.%s' % (section, name)], '%s.%s' % (section, name)
        return None, None

    no_index, where = pick('no-index')
    extras = (pick('extra-index-url')[0] or '').split()
    if no_index is not None and _truthy(no_index):
        return None, extras, where
    index, where = pick('index-url')
    return (index or PYPI_DEFAULT_INDEX), extras, where or "pip's default"


def _pip_argv(python3):
    # -I: neither the working directory nor PYTHON* variables decide which pip runs.
    return [python3, '-I', '-m', 'pip', 'config', 'list']


def gather_pip(view, policy, login_env, login_error):
    """The pip consumers: pip's global view (clean environment), then the login shell, PAM and services."""
    python3 = view.which('python3')
    if not python3:
        return [PackageConsumer('pip:global', 'pip', 'not installed (no python3)', {})], False
    rc, out, err = _clean_run(view, _pip_argv(python3))
    if rc != 0 and 'No module named pip' in err:
        return [PackageConsumer('pip:global', 'pip', 'not installed (%s has no pip)' % python3, {})], False
    source = '%s -m pip config list' % python3
    files = _index_keys(parse_pip_config_list(out)) if rc == 0 else {}
    consumers = [PackageConsumer('pip:global', 'pip', source + ' (clean environment)', files,
                                 error='' if rc == 0 else _rc_error(rc, err))]
    for suffix, where, environment, expected, error in _env_sources(view, policy, login_env, login_error):
        own = dict((name, value) for name, value in environment.items() if name in PIP_VARIABLES)
        if suffix == 'login-shell':  # pip itself, in the login shell's environment
            rc, out, err = _login_shell_env(view, _pip_argv(python3), ['HOME=' + NO_HOME])
            values = _index_keys(parse_pip_config_list(out)) if rc == 0 else {}
            error = error or ('' if rc == 0 else _rc_error(rc, err))
            where = '%s, %s' % (where, source)
        else:
            values = dict(files, **dict((':env:.' + PIP_VARIABLES[name], value) for name, value in own.items()))
        consumers.append(PackageConsumer('pip:' + suffix, 'pip', where, values, expected, error, own))
    return consumers, True


def check_pip(policy, consumers):
    """python.missing_index and python.extra_index findings of the pip consumers."""
    findings = []
    wanted_extras = policy['extra_index_urls']
    for consumer in _judged(consumers):
        if consumer.error:
            findings.append(_finding('python.missing_index', consumer, 'could not be read: %s' % consumer.error,
                                     dict(source=consumer.source, error=consumer.error)))
            continue
        missing, foreign = [], []
        install = pip_resolution(consumer.values, 'install')
        for command in PIP_COMMANDS:
            index, extras, where = pip_resolution(consumer.values, command)
            if command != 'install' and (index, extras) == install[:2]:
                continue
            label = 'pip %s' % command
            if index is None:
                missing.append('%s uses no index (no-index, from %s)' % (label, where))
            elif not _same_url(index, policy['index_url']):
                missing.append('%s resolves %s (from %s), not %s' % (label, index, where, policy['index_url']))
            lacking = [url for url in wanted_extras if not any(_same_url(url, seen) for seen in extras)]
            if lacking:
                missing.append('%s lacks the extra index %s' % (label, ', '.join(lacking)))
            other = [url for url in extras if not any(_same_url(url, known)
                                                      for known in wanted_extras + [policy['index_url']])]
            if other:
                foreign.append('%s also searches %s' % (label, ', '.join(other)))
        if consumer.env_expected and 'PIP_INDEX_URL' not in consumer.environment:
            missing.append('lacks PIP_INDEX_URL, which the policy exports')
        evidence = dict(source=consumer.source, seen=consumer.values,
                        policy=dict(index_url=policy['index_url'], extra_index_urls=wanted_extras))
        if missing:
            findings.append(_finding('python.missing_index', consumer, '; '.join(missing), evidence))
        if foreign:
            findings.append(_finding('python.extra_index', consumer, '; '.join(foreign) + ', which the policy does '
                                     'not name: pip takes the best candidate of every index (dependency confusion)',
                                     evidence))
    return findings


# uv ----------------------------------------------------------------------------------------------------------

def uv_config_path(view, xdg_config_dirs=None):
    """The system uv.toml uv reads: the first that exists of $XDG_CONFIG_DIRS/uv/uv.toml and /etc/uv/uv.toml."""
    dirs = [item for item in (xdg_config_dirs or '/etc/xdg').split(':') if item]
    for path in [os.path.join(item, 'uv', 'uv.toml') for item in dirs] + ['/etc/uv/uv.toml']:
        if os.path.isfile(view.path(path)):
            return path
    return None


_TOML_LINE = re.compile(r'^([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(true|false))\s*(?:#.*)?$')


def _plain_uv_toml(text):
    """What a uv.toml says about indexes, read line by line where Python has no tomllib.

    Top-level and ``[pip]`` keys, and each ``[[index]]`` table, with one-line string or boolean values: what the
    collection writes and what a host's file usually holds. Other tables and values are skipped.
    """
    data = {}
    table = data
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('[['):
            if line.replace(' ', '') == '[[index]]':
                table = {}
                data.setdefault('index', []).append(table)
            else:
                table = None
            continue
        if line.startswith('['):
            table = data.setdefault('pip', {}) if line.replace(' ', '') == '[pip]' else None
            continue
        match = _TOML_LINE.match(line)
        if match and table is not None:
            key, string, boolean = match.groups()
            table[key] = (boolean == 'true') if boolean else string.replace('\\"', '"').replace('\\\\', '\\')
    return data


def uv_file_values(text):
    """The index settings of a uv.toml: ``index`` (default), ``index`` (others), ``index-url``, ``pip.index-url``."""
    data = _toml(text)
    if data is None:  # no tomllib (Python before 3.11): the lines that name indexes, read plainly
        data = _plain_uv_toml(text)
    if data == {} and text.strip() and _toml(text) is not None:
        return {}, 'uv.toml is not valid TOML'
    values, others = {}, []
    for entry in data.get('index') if isinstance(data.get('index'), list) else []:
        if isinstance(entry, dict) and entry.get('default') is True:
            values['index (default)'] = entry.get('url')
        elif isinstance(entry, dict):
            others.append(entry.get('url'))
    if others:
        values['index'] = others
    for key in ('index-url', 'extra-index-url'):
        if key in data:
            values[key] = data[key]
        if isinstance(data.get('pip'), dict) and key in data['pip']:
            values['pip.' + key] = data['pip'][key]
    return values, ''


def uv_resolution(values, interface='project'):
    """(the default index of uv, where from); ``interface`` 'pip' for ``uv pip``, whose [pip] table comes first."""
    order = ['UV_DEFAULT_INDEX', 'UV_INDEX_URL'] + (['pip.index-url'] if interface == 'pip' else []) + [
        'index (default)', 'index-url']
    for key in order:
        if values.get(key):
            return values[key], key
    return PYPI_DEFAULT_INDEX, "uv's default"


def gather_uv(view, policy, login_env, login_error):
    """The uv consumers, from the file uv reads and the variables of each source; uv itself has no config command."""
    if not view.which('uv'):
        return [PackageConsumer('uv:global', 'uv', 'not installed', {})], False
    path = uv_config_path(view)
    values, error = ({}, '') if path is None else uv_file_values(view.read(path) or '')
    source = path or 'no uv.toml (%s/uv/uv.toml, /etc/uv/uv.toml)' % '/etc/xdg'
    consumers = [PackageConsumer('uv:global', 'uv', source, values, error=error)]
    for suffix, where, environment, expected, env_error in _env_sources(view, policy, login_env, login_error):
        own = dict((name, value) for name, value in environment.items() if name in UV_VARIABLES)
        consumers.append(PackageConsumer('uv:' + suffix, 'uv', '%s, %s' % (where, source), dict(values, **own),
                                         expected, error or env_error, own))
    return consumers, True


def check_uv(policy, consumers):
    findings = []
    for consumer in _judged(consumers):
        if consumer.error:
            findings.append(_finding('uv.missing_index', consumer, 'could not be read: %s' % consumer.error,
                                     dict(source=consumer.source, error=consumer.error)))
            continue
        missing = []
        for interface, label in (('project', 'uv'), ('pip', 'uv pip')):
            index, where = uv_resolution(consumer.values, interface)
            if not _same_url(index, policy['index_url']) and (
                    interface == 'project' or where == 'pip.index-url'):
                missing.append('%s resolves %s (from %s), not %s' % (label, index, where, policy['index_url']))
        if consumer.env_expected and 'UV_DEFAULT_INDEX' not in consumer.environment:
            missing.append('lacks UV_DEFAULT_INDEX, which the policy exports')
        if missing:
            findings.append(_finding('uv.missing_index', consumer, '; '.join(missing), dict(
                source=consumer.source, seen=consumer.values, policy=dict(index_url=policy['index_url']))))
    return findings


# npm ---------------------------------------------------------------------------------------------------------

def parse_npm_config_get(text):
    """``npm config get a b``: ``key=value`` lines; ``undefined`` is unset."""
    values = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep and key and value != 'undefined':
            values[key.strip()] = value.strip()
    return values


def npm_env_values(environment):
    """The npm settings of an environment: npm_config_<key> in any case, ``_`` inside the key read as ``-``."""
    values = {}
    for name, value in environment.items():
        if name.lower().startswith(NPM_ENV_PREFIX) and len(name) > len(NPM_ENV_PREFIX):
            key = name[len(NPM_ENV_PREFIX):]
            values[(key[0] + key[1:].replace('_', '-')).lower()] = value
    return values


def gather_npm(view, policy, login_env, login_error):
    npm = view.which('npm')
    if not npm:
        return [PackageConsumer('npm:global', 'npm', 'not installed', {})], False
    argv = [npm, 'config', 'get', 'registry', 'globalconfig'] + [
        '%s:registry' % scope for scope in policy['scopes']] + NPM_READ_ONLY
    rc, out, err = _clean_run(view, argv)
    files = parse_npm_config_get(out) if rc == 0 else {}
    source = '%s config get (clean environment)' % npm
    consumers = [PackageConsumer('npm:global', 'npm', source, files, error='' if rc == 0 else _rc_error(rc, err))]
    for suffix, where, environment, expected, error in _env_sources(view, policy, login_env, login_error):
        own = npm_env_values(environment)
        if suffix == 'login-shell':  # npm itself, in the login shell's environment
            rc, out, err = _login_shell_env(view, argv, ['HOME=' + NO_HOME])
            values = parse_npm_config_get(out) if rc == 0 else {}
            error = error or ('' if rc == 0 else _rc_error(rc, err))
            where = '%s, %s config get' % (where, npm)
        else:
            values = dict(files, **dict((key, value) for key, value in own.items()
                                        if key == 'registry' or key.endswith(':registry')))
        consumers.append(PackageConsumer('npm:' + suffix, 'npm', where, values, expected, error, own))
    return consumers, True


def check_npm(policy, consumers):
    findings = []
    for consumer in _judged(consumers):
        if consumer.error:
            findings.append(_finding('npm.missing_registry', consumer, 'could not be read: %s' % consumer.error,
                                     dict(source=consumer.source, error=consumer.error)))
            continue
        registry = consumer.values.get('registry') or NPM_DEFAULT_REGISTRY
        missing = []
        if not _same_url(registry, policy['registry']):
            missing.append('npm resolves %s, not %s' % (registry, policy['registry']))
        if consumer.env_expected and 'registry' not in consumer.environment:
            missing.append('lacks npm_config_registry, which the policy exports')
        evidence = dict(source=consumer.source, seen=consumer.values,
                        policy=dict(registry=policy['registry'], scopes=policy['scopes']))
        if missing:
            findings.append(_finding('npm.missing_registry', consumer, '; '.join(missing), evidence))
        # One finding per scope: a '@' after a URL in the same line would read as that URL's user info.
        for scope, url in policy['scopes'].items():
            seen = consumer.values.get('%s:registry' % scope) or registry
            if not _same_url(seen, url):
                findings.append(_finding('npm.missing_scope', consumer, '%s packages come from %s, not %s'
                                         % (scope, seen, url), dict(evidence, scope=scope)))
    return findings


def check_packages(view, python, node):
    """(consumers, findings, checks run) of the Python and Node clients; a client not installed is listed as such."""
    consumers, findings, checks = [], [], []
    login_env, login_error = login_environment(view) if (python or node) else ({}, '')
    if python:
        pip_consumers, installed = gather_pip(view, python, login_env, login_error)
        consumers += [consumer.record() for consumer in pip_consumers]
        if installed:
            findings += check_pip(python, pip_consumers)
            checks += ['python.missing_index', 'python.extra_index']
        if python['uv']:
            uv_consumers, installed = gather_uv(view, python, login_env, login_error)
            consumers += [consumer.record() for consumer in uv_consumers]
            if installed:
                findings += check_uv(python, uv_consumers)
                checks.append('uv.missing_index')
    if node:
        npm_consumers, installed = gather_npm(view, node, login_env, login_error)
        consumers += [consumer.record() for consumer in npm_consumers]
        if installed:
            findings += check_npm(node, npm_consumers)
            checks += ['npm.missing_registry'] + (['npm.missing_scope'] if node['scopes'] else [])
    return consumers, findings, checks


# ---------------------------------------------------------------------------
# The mirrors, probed from the host
# ---------------------------------------------------------------------------

def go_probe_credentials(credentials, go):
    """The credentials the Go probes send, checked by the go_proxy role's own rules against the policy's URLs.

    ``credentials`` is the list of {machine, login, password} (go_proxy_credentials), None or [] for none (the
    probes then read ~/.netrc, as mirror_check does). Raise PolicyError naming ``credentials`` on a bad entry,
    never quoting a login or a password.
    """
    if not credentials:
        return None
    if not go:
        raise PolicyError('credentials are for the Go proxies and checksum database: give go too')
    return validate_go_credentials(credentials, policy_targets(go['environment']), 'credentials')


def package_probes(python, node):
    """mirror_check's pypi_indexes and npm_registries of the policy (checked by mirror_check's rules), and packages.

    The main index first, then each extra index; the main registry with its probe package, then each scope's
    registry with its own probe package (else the main one), each pair once.
    """
    pypi, npm = [], []
    if python:
        pypi = parse_pypi_indexes([python['index_url']] + python['extra_index_urls'])
    if node:
        wanted = [node['registry']] + [dict(url=url, package=node['scope_probe_packages'].get(scope))
                                       for scope, url in node['scopes'].items()]
        pairs = []
        for item in wanted:
            pair = (item, None) if isinstance(item, str) else (item['url'], item['package'])
            known = [(url, package or node['probe_package']) for url, package in pairs]
            if (pair[0], pair[1] or node['probe_package']) not in known:
                pairs.append(pair)
        npm = parse_npm_registries([url if package is None else dict(url=url, package=package)
                                    for url, package in pairs], node['probe_package'])
    return pypi, npm


def probe_mirrors(fetch, go, docker, timeout=5.0, slow_ms=DEFAULT_SLOW_MS, credentials=None, python=None, node=None):
    """(probes, findings) of every mirror of the policy; a public upstream is never contacted.

    ``credentials``: the result of :func:`go_probe_credentials`; the Go probes send them as mirror_check does.
    ``python`` and ``node``: :func:`python_policy` and :func:`node_policy` results, or None.
    """
    goproxy_urls, sumdb = [], None
    if go:
        goproxy_urls = [entry for entry in _goproxy_entries(go['environment'].get('GOPROXY'))
                        if entry not in ('direct', 'off') and not reaches_upstream(entry)]
        value = go['environment'].get('GOSUMDB')
        if value and value != 'off':
            parsed = parse_gosumdb(value, 'GOSUMDB')
            sumdb = parsed if parsed.url_is_explicit else None  # a bare name is the public database: never asked
    registry_urls, registries = [], {}
    if docker:
        registry_urls = list(docker.get('registry_mirrors') or [])
        registries = dict(docker.get('registries') or {})
    pypi_indexes, npm_registries = package_probes(python, node)
    if not (goproxy_urls or sumdb or registry_urls or registries or pypi_indexes or npm_registries):
        return [], []
    report = check_mirrors(fetch, goproxy_urls=goproxy_urls, probe_module=(go or {}).get('probe_module') or None,
                           sumdb=sumdb, registry_urls=registry_urls, registries=registries, timeout=timeout,
                           credentials=credentials, pypi_indexes=pypi_indexes, npm_registries=npm_registries,
                           pypi_project=(python or {}).get('probe_package') or 'pip',
                           npm_package=(node or {}).get('probe_package') or 'npm')
    probes, findings = [], []
    for item in report['probes']:
        probe = dict(url=redact_url(item['url']), kind=item['kind'], registry=item.get('registry'),
                     reachable=bool(item['reachable']), status=item.get('status'),
                     latency_ms=item.get('latency_ms'), reason=redact_url(item.get('error') or ''))
        if 'package' in item:  # pypi and npm probes: the project or package the index had to serve
            probe['package'] = item['package']
        probes.append(probe)
        where = ' for %s' % probe['registry'] if probe['registry'] else ''
        if probe.get('package'):
            where = ' (asked for %s)' % probe['package']
        if not probe['reachable']:
            findings.append(_finding('mirror.down', None, '%s mirror %s%s is down: %s'
                                     % (probe['kind'], probe['url'], where, probe['reason']), probe))
        elif probe['latency_ms'] is not None and probe['latency_ms'] > slow_ms:
            findings.append(_finding('mirror.slow', None, '%s mirror %s%s answered in %.0f ms (more than %d ms)'
                                     % (probe['kind'], probe['url'], where, probe['latency_ms'], slow_ms), probe))
    return probes, findings


# ---------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------

def audit(view, go=None, docker=None, fetch=None, timeout=5.0, slow_ms=DEFAULT_SLOW_MS, credentials=None,
          python=None, node=None):
    """The host record (schema 1): consumers, probes, the checks run and the findings, secrets redacted.

    ``go``: {'environment': the GO* dict the go_policy writer takes, 'profile_d', 'etc_environment',
    'systemd_default_environment', 'systemd_units', 'goroot_env', 'goroot_parents', 'probe_module'};
    ``docker``: {'registry_mirrors', 'registries', 'fallback', 'insecure_registries', 'daemon_json',
    'containerd', 'containerd_certs_dir', 'containers_registries_conf', 'containers_dropin'}; either may be None.
    ``fetch``: _probe's fetcher (with the CAs the probes trust); None skips the probes.
    ``credentials``: go_proxy_credentials' list for the Go probes (checked here first), or None.
    ``python``: {'index_url', 'extra_index_urls', 'uv', 'probe_package', 'environment', 'systemd_units'};
    ``node``: {'registry', 'scopes', 'probe_package', 'scope_probe_packages', 'environment', 'systemd_units'};
    either may be None (not audited).
    """
    consumers, findings, checks = [], [], []
    if go and not (go.get('environment') or {}).get('GOPROXY'):
        raise PolicyError('go.environment must hold GOPROXY (the go_environment filter of the policy)')
    credentials = go_probe_credentials(credentials, go)
    python = python_policy(python) if python else None
    node = node_policy(node) if node else None
    package_probes(python, node)  # a bad index or registry is refused before anything is read
    # The probes wait on the network while the files and commands are read: one round costs about one timeout.
    pool = ThreadPoolExecutor(max_workers=1)
    probing = pool.submit(probe_mirrors, fetch, go, docker, timeout, slow_ms, credentials, python,
                          node) if fetch is not None else None
    try:
        return _audit_host(view, go, docker, probing, consumers, findings, checks, python, node)
    finally:
        pool.shutdown(wait=True)


def _audit_host(view, go, docker, probing, consumers, findings, checks, python=None, node=None):
    if go:
        environment = go['environment']
        go_consumers = gather_go(view, go)
        consumers += [consumer.record() for consumer in go_consumers]
        findings += check_go(environment, go_consumers)
        checks += ['go.missing_value', 'go.override_weakens', 'go.upstream_fallback']
    if docker:
        docker_consumers, docker_findings, docker_checks = check_docker(view, docker)
        consumers += docker_consumers
        findings += docker_findings
        checks += [check for check in docker_checks if check not in checks]
    if python or node:
        package_consumers, package_findings, package_checks = check_packages(view, python, node)
        consumers += package_consumers
        findings += package_findings
        checks += package_checks
    probes = []
    if probing is not None:
        probes, probe_findings = probing.result()
        findings += probe_findings
        if probes:
            checks += ['mirror.down', 'mirror.slow']
    order = list(CHECKS)
    return dict(schema=SCHEMA, consumers=consumers, probes=probes, checks=sorted(checks, key=order.index),
                findings=findings)


def counts(record):
    """{'high': n, ...} of a record's findings."""
    found = dict((severity, 0) for severity in SEVERITIES)
    for finding in record.get('findings') or []:
        found[finding['severity']] += 1
    return found
