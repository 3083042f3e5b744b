# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_daemon_config transaction: read the engine, merge, write, reload, verify, or put everything back.

No AnsibleModule import: the module hands a :class:`Host` (its run_command,
get_bin_path and warn) to :class:`DockerWriter`, so
the unit tests run the whole transaction on a temporary tree with a stand-in
dockerd. The host lock and the file mechanics are ``_transaction``'s.

One run, under the host lock:

1. read the engine (``dockerd --version``, ``docker info``, systemd) and how
   dockerd is started (unit files, command line);
2. validate the policy (a path in a mirror URL needs Docker 24; the CA
   certificates again, with the host's clock), merge it into daemon.json (every
   other key kept), render containerd's hosts.toml, the containers drop-in and
   the CA files of the https mirrors (certs.d, read per connection: a CA
   change alone reloads nothing);
3. refuse, before any write, a file that is not JSON, a conflicting flag, and a
   file ``dockerd --validate`` refuses;
4. write every changed file atomically (daemon.json after a backup), reload
   dockerd (SIGHUP) when the file changed or dockerd runs with other settings,
   and wait until ``docker info`` shows exactly the policy;
5. on any failure, put every file back, reload dockerd onto the old file (or
   start it, when it went down), and fail with the cause.

dockerd keeps a key's old value when a reload finds the key missing, so a
removal reloads with the key written as an empty list first, and removes the
key once dockerd has forgotten it, in the same transaction.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import tempfile
import time

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import (
    CONFIG_FILE_FLAG,
    INSECURE_KEY,
    MIRRORS_KEY,
    DaemonJsonError,
    apply_policy,
    config_file_in_argv,
    describe_flag_conflicts,
    detect_indent,
    flag_conflicts,
    managed_values,
    parse_daemon_json,
    registry_config_problems,
    render_daemon_json,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
    url_secrets,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    refuse_insecure_all,
    validate_insecure_registries,
    validate_probe_images,
    validate_registries,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import validate_ca_bundle
from ansible_collections.buildfleet.mirrors.plugins.module_utils._ca_writer import describe
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import (
    CERTS_DIR_FILES,
    DOCKER_HUB,
    HOSTS_CA_FILE,
    MIRROR_CA_FILE,
    check_toml,
    containers_mirrors,
    HOSTS_TOML,
    hosts_toml_files,
    hosts_toml_path,
    https_mirror_hosts,
    is_ours,
    render_ca_file,
    render_containers_dropin,
    render_hosts_toml,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._buildkitd_toml import merge_buildkitd, plan_buildkitd
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import Transaction

DEFAULT_DAEMON_JSON = '/etc/docker/daemon.json'
SBIN_DIRECTORIES = ['/usr/local/sbin', '/usr/sbin', '/sbin']
NEW_FILE_MODE = 0o644
DOCKERD_CONSUMER = 'dockerd (docker info)'
# The first Docker Engine whose containerd image store reads /etc/docker/certs.d/<registry>/hosts.toml.
DOCKERD_HOSTS_TOML_VERSION = 28
# How long one verification pull through dockerd may take, in seconds.
PULL_TIMEOUT = 300

# The module's options are the docker_mirrors role's variables without the role prefix. A refusal that only the
# module can make (it needs the engine) names both, so that a role user reads the variable to fix.
ROLE_VARIABLES = {
    'registry_mirrors': 'docker_mirrors_registry_mirrors',
    'registries': 'docker_mirrors_registries',
    'probe_images': 'docker_mirrors_probe_images',
    'insecure_registries': 'docker_mirrors_insecure_registries',
    'allow_insecure_all': 'docker_mirrors_allow_insecure_all',
    'ca_certificates': 'docker_mirrors_ca_certificates',
}


def label(option):
    """``registry_mirrors (docker_mirrors_registry_mirrors)``: an option and the role variable that feeds it."""
    return '%s (%s)' % (option, ROLE_VARIABLES[option]) if option in ROLE_VARIABLES else option


class Refusal(Exception):
    """Refused before any write: the host is unchanged."""


class Failure(Exception):
    """A step after the first write failed: every file goes back."""


class Host:
    """What the writer needs from the managed host; the module builds it from AnsibleModule."""

    def __init__(self, run, which, warn, atomic_move=None, backup_local=None, tmpdir=None,
                 systemd_dir='/run/systemd/system', pidfile='/run/docker.pid', proc='/proc', sleep=time.sleep, settle_tries=10,
                 default_daemon_json=DEFAULT_DAEMON_JSON):
        self.run = run                    # argv -> (rc, stdout, stderr)
        self.which = which                # name -> path or None (sbin directories included)
        self.atomic_move = atomic_move    # None: the transaction's own rename and backup
        self.backup_local = backup_local
        self.warn = warn
        self.tmpdir = tmpdir
        self.systemd_dir = systemd_dir
        self.pidfile = pidfile
        self.proc = proc
        self.sleep = sleep
        self.settle_tries = settle_tries  # docker info tries, 1 s apart, after a reload or a start
        self.default_daemon_json = default_daemon_json  # what dockerd reads without --config-file


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def _text(data):
    return data.decode('utf-8', 'replace') if isinstance(data, bytes) else data


def _strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# ---------------------------------------------------------------------------
# The engine and how it is started
# ---------------------------------------------------------------------------

def read_engine(host):
    """The host's Docker Engine: installed, its version, whether it runs and with which registry settings."""
    engine = dict(installed=False, dockerd='', version='', running=False, registry_config=None,
                  containerd_store=False, systemd=os.path.isdir(host.systemd_dir))
    dockerd = host.which('dockerd')
    if dockerd:
        engine.update(installed=True, dockerd=dockerd)
        rc, out, err = host.run([dockerd, '--version'])
        match = re.search(r'[0-9]+\.[0-9]+(\.[0-9]+)?', out) if rc == 0 else None
        if match:
            engine['version'] = match.group(0)
    info = docker_info(host, with_store=True)
    if info is not None:
        config, store = info
        engine.update(running=True, registry_config=config, containerd_store=store)
    return engine


def docker_info(host, with_store=False):
    """docker info's RegistryConfig, or None when dockerd does not answer (Docker 26 prints null, rc 0).

    With ``with_store``: (RegistryConfig, whether images live in containerd's image store), or None.
    """
    docker = host.which('docker')
    if not docker:
        return None
    rc, out, err = host.run([docker, 'info', '--format',
                             '{"registry": {{json .RegistryConfig}}, "driver": {{json .DriverStatus}}}'])
    try:
        info = json.loads(out or 'null') if rc == 0 else None
    except ValueError:
        return None
    config = info.get('registry') if isinstance(info, dict) else None
    if not isinstance(config, dict):
        return None
    if not with_store:
        return config
    # The containerd image store reports the driver type io.containerd.snapshotter.v1 among its DriverStatus pairs.
    driver = info.get('driver') if isinstance(info.get('driver'), list) else []
    store = any(isinstance(pair, list) and len(pair) == 2 and 'containerd.snapshotter' in str(pair[1])
                for pair in driver)
    return config, store


def engine_at_least(engine, major):
    """Whether the engine's version is major.0 or newer (False when no engine is installed)."""
    version = engine['version']
    return bool(version) and int(version.split('.')[0]) >= major


class DaemonStart:
    """How dockerd is started: the running daemon's command line and the files of its systemd unit."""

    def __init__(self, host, unit):
        self.host = host
        self.unit = unit
        self.running = {}  # pid -> argv
        self.files = []    # (label, path)
        self._main_pid = None
        self._read_unit()
        pidfile = _read(host.pidfile)
        for pid in [self._main_pid, _text(pidfile).strip() if pidfile else None]:
            if pid and pid != '0' and pid not in self.running:
                argv = self._argv_of(pid)
                if argv is not None:
                    self.running[pid] = argv

    def _argv_of(self, pid):
        comm = _read(os.path.join(self.host.proc, pid, 'comm'))
        cmdline = _read(os.path.join(self.host.proc, pid, 'cmdline'))
        if comm is None or cmdline is None or _text(comm).strip() != 'dockerd':
            return None
        return [argument.decode('utf-8', 'surrogateescape') for argument in cmdline.split(b'\0') if argument]

    def _read_unit(self):
        systemctl = self.host.which('systemctl')
        if not systemctl:
            return
        rc, out, err = self.host.run(
            [systemctl, 'show', self.unit, '--property=MainPID,FragmentPath,DropInPaths,EnvironmentFiles'])
        if rc != 0:
            return
        for line in out.splitlines():
            name, dummy, value = line.partition('=')
            if name == 'MainPID':
                self._main_pid = value.strip()
            elif name == 'FragmentPath' and value:
                self.files.append(('the unit file %s' % value, value))
            elif name == 'DropInPaths':
                self.files.extend(('the drop-in %s' % path, path) for path in value.split())
            elif name == 'EnvironmentFiles' and value:
                path = value.rsplit(' (', 1)[0]
                self.files.append(('the environment file %s of %s' % (path, self.unit), path))

    def sources(self):
        found = [('the running dockerd (pid %s)' % pid, argv) for pid, argv in self.running.items()]
        for name, path in self.files:
            content = _read(path)
            if content is not None:
                found.append((name, _text(content)))
        return found

    def config_files(self):
        """(pid, the configuration file it reads) of each running dockerd found."""
        return [(pid, os.path.realpath(config_file_in_argv(argv) or self.host.default_daemon_json))
                for pid, argv in self.running.items()]


# ---------------------------------------------------------------------------
# The transaction
# ---------------------------------------------------------------------------

class DockerWriter:
    """One docker_daemon_config run. :meth:`run` returns the result, or raises Refusal / Failure with it."""

    def __init__(self, host, params, check_mode=False, diff=False, secrets=None):
        self.host = host
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.secrets = secrets if secrets is not None else set()
        self.path = os.path.realpath(params['path'])
        self.engine = None
        self.result = dict(changed=False, path=self.path, created=False, written=[], limits=[], unproven=[],
                           pruned=[redact_url(url) for url in params.get('pruned') or []], verified=[],
                           backup_files={}, reloaded=False, created_directories=[], registry_mirrors=None,
                           insecure_registries=None, engine=None)
        self.journal_cursor = None
        self.registries = {}     # the registries other than Docker Hub: {registry: [mirror URLs]}
        self.probe_images = {}   # {registry: parsed image} (see _image_refs.parse_image)
        self.merged_files = set()  # outputs that are only partly ours (buildkitd.toml): their mode is kept
        self.ca_pem = ''         # the CA certificates for the https mirrors, normalised PEM ('' for none)
        self.ca_files = set()    # the paths of CA files among the outputs (a diff shows what they hold, not base64)

    # --- reading and deciding ----------------------------------------------------------------------------------
    def policy(self):
        """The validated lists (None for a key that is not managed); the other registries go to self.registries."""
        params = self.params
        mirrors, insecure = params['registry_mirrors'], params['insecure_registries']
        registries = params.get('registries') or {}
        for value in (mirrors or []) + (insecure or []) + list(params.get('pruned') or []) + \
                [url for urls in registries.values() if isinstance(urls, list) for url in urls]:
            if isinstance(value, str):
                self.secrets.update(url_secrets(value))
        if params['state'] == 'absent':
            self.registries = {}
            return mirrors, insecure
        ca_text = params.get('ca_certificates') or ''
        try:
            if ca_text.strip():
                # Again on the host, with its clock: a CA that expired since the controller checked it is refused.
                self.ca_pem = validate_ca_bundle(ca_text, label('ca_certificates'))['pem']
        except PolicyError as error:
            raise Refusal('%s. Nothing was written' % str(error).rstrip('.')) from None
        try:
            # Checked as given here; the mirror URLs are checked (and normalised) below, once the engine is known.
            self.registries = validate_registries(registries, label('registries'),
                                                  docker_hub_option=label('registry_mirrors'), check_urls=False)
            self.probe_images = validate_probe_images(
                params.get('probe_images'), label('probe_images'), self.registries, bool(mirrors),
                docker_hub_option=label('registry_mirrors'), registries_option=label('registries'))
        except PolicyError as error:
            raise Refusal(str(error)) from None
        allow_path = params['allow_path']
        if allow_path is None:
            allow_path = engine_at_least(self.engine, 24)
        try:
            for registry, urls in self.registries.items():
                self.registries[registry] = validate_registry_mirrors(
                    urls, '%s[%s]' % (label('registries'), show(registry)), allow_path)
            if mirrors is not None:
                mirrors = validate_registry_mirrors(mirrors, label('registry_mirrors'), allow_path) \
                    if mirrors or not self.registries else []
            if insecure is not None:
                insecure = validate_insecure_registries(insecure, label('insecure_registries'))
                refuse_insecure_all(insecure, label('insecure_registries'), params['allow_insecure_all'],
                                    label('allow_insecure_all'))
        except PolicyError as error:
            raise Refusal(str(error)) from None
        return mirrors, insecure

    def read_daemon_json(self):
        raw = _read(self.path)
        if raw is None:
            if os.path.exists(self.path):
                raise Refusal('%s exists but cannot be read' % self.path)
            return None, {}
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as error:
            raise Refusal('%s is not UTF-8 text (%s); dockerd cannot read it either. It was left untouched'
                          % (self.path, error)) from None
        try:
            config = parse_daemon_json(text, self.path)
        except DaemonJsonError as error:
            raise Refusal(str(error)) from None
        for string in _strings(config):
            self.secrets.update(url_secrets(string))
        return text, config

    def check_start(self, start, new_config, keys_written):
        for pid, argv in start.running.items():
            config_file = config_file_in_argv(argv)
            if config_file and os.path.realpath(config_file) != self.path:
                raise Refusal('the running dockerd (pid %s) reads its configuration from %s (%s), not from %s; '
                              'manage that file instead. %s was left untouched'
                              % (pid, config_file, CONFIG_FILE_FLAG, self.path, self.path))
        keys = [key for key in keys_written if key in new_config]
        conflicts = flag_conflicts(start.sources(), keys) if keys else []
        if conflicts:
            option = 'registry_mirrors' if any(key == MIRRORS_KEY for key, dummy, dummy2 in conflicts) \
                else 'insecure_registries'
            raise Refusal('%s. The policy comes from %s'
                          % (describe_flag_conflicts(conflicts, self.path), label(option)))

    def validate_file(self, text):
        """Run the validate command on a temporary copy of the new file; Refusal with its output when it refuses."""
        command = self.params['validate']
        if not command and self.params['dockerd_validate'] and engine_at_least(self.engine, 23):
            command = '%s --validate --config-file %%s' % shlex.quote(self.engine['dockerd'])
        if not command:
            return
        if '%s' not in command:
            raise Refusal('validate must contain %%s, the place of the new file, got %r' % command)
        handle, temporary = tempfile.mkstemp(prefix='daemon.', suffix='.json', dir=self.host.tmpdir)
        try:
            with os.fdopen(handle, 'wb') as stream:
                stream.write(text.encode('utf-8'))
            rc, out, err = self.host.run(shlex.split(command.replace('%s', shlex.quote(temporary))))
        finally:
            os.unlink(temporary)
        if rc != 0:
            output = ' '.join((err or out).split()) or 'no output'
            raise Refusal('the new %s was refused by `%s` (rc %s): %s. The file was left untouched'
                          % (self.path, command.replace('%s', '<new file>'), rc, output))

    def every_registry(self, mirrors):
        """{registry: mirrors} of this run, Docker Hub first (when it has mirrors)."""
        everything = {DOCKER_HUB: list(mirrors)} if mirrors else {}
        everything.update(self.registries)
        return everything

    def dockerd_reads_hosts_toml(self):
        """Whether the engine is one that can read /etc/docker/certs.d/<registry>/hosts.toml (Docker 28 and newer).

        Only its containerd image store does; the files are written for the graphdriver too, so that a switch of the
        store needs no other run, and the result says what the graphdriver does not mirror (see limits()).
        """
        return engine_at_least(self.engine, DOCKERD_HOSTS_TOML_VERSION)

    def outputs(self, mirrors, insecure):
        """{path: text, or None to remove a file this collection wrote} of every output but daemon.json."""
        params = self.params
        present = params['state'] == 'present'
        fallback = params.get('fallback', True)
        registries = self.every_registry(mirrors) if present else {}
        wanted = {}

        def hosts_files(certs_dir, chosen, consumer):
            for file_name in (HOSTS_TOML, HOSTS_CA_FILE):
                for registry, path in hosts_toml_files(certs_dir, file_name).items():
                    wanted[path] = None  # removed when it is ours and no longer wanted
                    self.ca_files.update([path] if file_name == HOSTS_CA_FILE else [])
            for registry, urls in chosen.items():
                ca = None
                if self.ca_pem and https_mirror_hosts(urls):
                    # The CA file lives next to the hosts.toml that names it, so the registry's directory is whole.
                    ca = os.path.join(certs_dir, registry, HOSTS_CA_FILE)
                    wanted[ca] = render_ca_file(self.ca_pem, 'the https:// mirrors of %s in %s' % (
                        registry, hosts_toml_path(certs_dir, registry)))
                    self.ca_files.add(ca)
                wanted[hosts_toml_path(certs_dir, registry)] = render_hosts_toml(registry, urls, insecure, fallback,
                                                                                 consumer, ca=ca)

        def mirror_ca_files(certs_dir, hosts, consumer):
            """<certs_dir>/<host:port>/ca.crt of each https mirror host, where dockerd and the containers tools read
            a mirror's CA on every connection (no reload); the collection's other ca.crt files there are removed."""
            for name, path in hosts_toml_files(certs_dir, MIRROR_CA_FILE).items():
                wanted[path] = None
                self.ca_files.add(path)
            for netloc in hosts if self.ca_pem else []:
                path = os.path.join(certs_dir, netloc, MIRROR_CA_FILE)
                wanted[path] = render_ca_file(self.ca_pem, 'the registry mirror %s (%s)' % (netloc, consumer))
                self.ca_files.add(path)

        hosts_files(params['containerd_certs_dir'], registries if params['containerd'] else {},
                    'containerd (ctr --hosts-dir, nerdctl, the CRI plugin\'s registry config_path)')
        if params.get('docker_certs_dir'):
            # Docker Hub too: on the containerd image store its hosts.toml replaces registry-mirrors entirely (the
            # same mirrors, so docker info tells the truth), and it is how fallback=false holds for Docker Hub there.
            hosts_files(params['docker_certs_dir'], registries if self.dockerd_reads_hosts_toml() else {},
                        "dockerd's containerd image store (Docker 28 and newer)")
            mirror_ca_files(params['docker_certs_dir'],
                            https_mirror_hosts([url for urls in registries.values() for url in urls]),
                            'dockerd, and the containers tools, which read this directory too')
        if params.get('containers_certs_dir'):
            usable = [host['url'] for urls in registries.values() for host in containers_mirrors(urls, insecure)[0]] \
                if params['containers_registries_conf'] else []
            mirror_ca_files(params['containers_certs_dir'], https_mirror_hosts(usable),
                            'podman, buildah, skopeo and CRI-O')
        dropin = params['containers_dropin']
        text = None
        if present and params['containers_registries_conf']:
            text = render_containers_dropin(registries, insecure, fallback)
            with_path = [url for urls in registries.values() for url in containers_mirrors(urls, insecure)[1]]
            if with_path:
                self.host.warn(
                    '%s %s: containers-registries.conf reads a path in a mirror location as a repository namespace, '
                    'not as the place of the registry API as dockerd does, so %s left out of %s'
                    % (', '.join(redact_url(url) for url in with_path), 'has a path' if len(with_path) == 1
                       else 'have paths', 'it is' if len(with_path) == 1 else 'they are', dropin))
        wanted[dropin] = text
        buildkitd = params.get('buildkitd_toml')
        if buildkitd:
            current = _read(buildkitd)
            current_text = _text(current) if current is not None else None
            chosen = registries if present and params.get('buildkitd') else {}
            if current_text is not None or chosen:
                try:
                    wanted[buildkitd] = merge_buildkitd(current_text, chosen, insecure, path=buildkitd)
                except ValueError as error:
                    raise Refusal('%s. Nothing was written' % str(error).rstrip('.')) from None
                self.merged_files.add(buildkitd)
                left_out = plan_buildkitd(chosen, insecure)[1] if chosen else []
                if left_out:
                    self.host.warn(
                        '%s: buildkitd puts a mirror\'s path after /v2 (dockerd and containerd put /v2 after it), so '
                        'mirrors with a path are left out of %s' % (', '.join(
                            '%s (for %s)' % (redact_url(url), registry) for registry, url in left_out), buildkitd))
        for path, content in wanted.items():
            if content is not None and path not in self.ca_files:
                check_toml(content, path)
        return wanted

    # --- dockerd ---------------------------------------------------------------------------------------------
    def systemctl(self, *arguments):
        systemctl = self.host.which('systemctl')
        if not systemctl:
            return 127, '', 'systemctl not found'
        return self.host.run([systemctl] + list(arguments))

    def mark_journal(self):
        journalctl = self.host.which('journalctl')
        if not journalctl:
            return
        rc, out, err = self.host.run([journalctl, '--unit', self.params['unit'], '--lines', '1', '--show-cursor',
                                      '--output', 'cat', '--quiet', '--no-pager'])
        match = re.search(r'^-- cursor: (.+)$', out or '', re.MULTILINE) if rc == 0 else None
        self.journal_cursor = match.group(1).strip() if match else None

    def journal_errors(self):
        """What dockerd logged at level error or fatal since the mark (its msg="..." parts)."""
        journalctl = self.host.which('journalctl')
        if not journalctl:
            return []
        where = ['--after-cursor', self.journal_cursor] if self.journal_cursor else ['--lines', '20']
        rc, out, err = self.host.run([journalctl, '--unit', self.params['unit'], '--output', 'cat', '--quiet',
                                      '--no-pager'] + where)
        errors = []
        for line in (out or '').splitlines():
            if re.search(r'level=(error|fatal)', line):
                match = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
                message = match.group(1).replace('\\"', '"') if match else line.strip()
                if message not in errors:
                    errors.append(message)
        return errors[-3:]

    def reload_and_verify(self, mirrors, insecure):
        """SIGHUP through systemd, then wait until docker info shows exactly (mirrors, insecure)."""
        self.mark_journal()
        rc, out, err = self.systemctl('reload', self.params['unit'])
        self.result['reloaded'] = True
        if rc != 0:
            output = ' '.join((err or out).split())
            raise Failure('systemctl reload %s failed (rc %s): %s' % (self.params['unit'], rc, output))
        problems = ['docker info was not asked']
        for attempt in range(self.host.settle_tries):
            config = docker_info(self.host)
            if config is None:
                problems = ['dockerd does not answer docker info after the reload']
            else:
                problems = registry_config_problems(config, mirrors, insecure)
                if not problems:
                    return
            if self.journal_errors():
                break
            if attempt < self.host.settle_tries - 1:
                self.host.sleep(1)
        raise Failure('dockerd did not take the new %s: %s' % (self.path, '; '.join(problems)))

    def bring_dockerd_back(self):
        """After the files went back: reload dockerd onto them, or start it when it went down. True when it answers."""
        if docker_info(self.host) is not None:
            self.systemctl('reload', self.params['unit'])
        else:
            self.systemctl('reset-failed', self.params['unit'])
            self.systemctl('start', self.params['unit'])
        for attempt in range(self.host.settle_tries):
            if docker_info(self.host) is not None:
                return True
            if attempt < self.host.settle_tries - 1:
                self.host.sleep(1)
        return False

    # --- what proves the path, and what cannot be enforced ---------------------------------------------------------
    def dockerd_registries(self, mirrors):
        """The registries whose pulls through dockerd take the mirrors: Docker Hub (registry-mirrors) on every
        store, the others only on the containerd image store of Docker 28 and newer (hosts.toml)."""
        chosen = [DOCKER_HUB] if mirrors else []
        if self.engine['containerd_store'] and self.dockerd_reads_hosts_toml() and self.params.get('docker_certs_dir'):
            chosen += list(self.registries)
        return chosen

    def limits(self, mirrors):
        """What this policy cannot do on this host, one sentence per consumer (nothing is claimed for it)."""
        params = self.params
        if params['state'] != 'present':
            return []
        found = []
        others = [registry for registry in self.registries if registry not in self.dockerd_registries(mirrors)]
        if others and self.engine['installed']:
            if not self.dockerd_reads_hosts_toml():
                why = 'Docker %s reads no hosts.toml (Docker 28 and newer do, with the containerd image store)' \
                    % self.engine['version']
            else:
                why = ('Docker %s uses the graphdriver image store, which ignores /etc/docker/certs.d/<registry>/'
                       'hosts.toml (the containerd image store reads it)' % self.engine['version'])
            builds = ' (docker build with BuildKit reads those files on any store)' \
                if self.dockerd_reads_hosts_toml() else ''
            found.append('dockerd: pulls of %s go to the registry itself: %s%s' % (', '.join(others), why, builds))
        hosts_toml_store = self.engine['containerd_store'] and self.dockerd_reads_hosts_toml()
        if not params.get('fallback', True) and mirrors and self.engine['installed'] and not hosts_toml_store:
            found.append('dockerd: registry-mirrors always falls back to Docker Hub when no mirror answers; '
                         'fallback=false cannot be enforced for docker.io pulls through dockerd with this image store '
                         '(the containerd image store of Docker 28 and newer reads hosts.toml, where it can)')
        if params.get('buildkitd') and params.get('buildkitd_toml'):
            found.append('buildkitd: running buildkitd daemons read %s only when they start, and docker buildx '
                         'create --config copies it into a builder when the builder is created (remove and create '
                         'the builder again); nothing was restarted' % params['buildkitd_toml'])
            if not params.get('fallback', True):
                found.append('buildkitd: falls back to the registry itself when its mirrors fail; fallback=false '
                             'cannot be enforced for BuildKit')
        return found

    def unproven(self, mirrors):
        """The dockerd paths no pull can prove in this run (no probe image), on the store where docker info is no proof."""
        if not (self.engine['running'] and self.engine['containerd_store']):
            return []
        return ['dockerd (containerd image store): pulls of %s are not proven to take the mirrors; docker info '
                'shows the settings, not the path a pull takes. Give %s an image for it to prove it with a pull'
                % (registry, label('probe_images'))
                for registry in self.dockerd_registries(mirrors) if registry not in self.probe_images]

    def prove_with_pulls(self, mirrors):
        """Pull each probe image through dockerd (the real engine, the real path) and remove it again.

        Returns (proofs, notes). A pull that fails raises Failure (the run is undone). An image the host already
        has is not pulled (a pull could move its tag): a note says so.
        """
        docker = self.host.which('docker')
        proofs, notes = [], []
        if not docker:
            return proofs, notes
        for registry in self.dockerd_registries(mirrors):
            image = self.probe_images.get(registry)
            if image is None:
                continue
            ref = image['shown']
            rc, out, err = self.host.run([docker, 'image', 'inspect', '--format', '{{.Id}}', ref])
            if rc == 0:
                notes.append('dockerd: %s is already on this host, so it was not pulled to prove the path (a pull '
                             'could move its tag); choose a probe image the hosts do not keep' % ref)
                continue
            argv = [docker, 'pull', '--quiet', ref]
            timeout = self.host.which('timeout')
            if timeout:
                argv = [timeout, '--kill-after=10', str(PULL_TIMEOUT)] + argv
            rc, out, err = self.host.run(argv)
            if rc != 0:
                output = ' '.join((err or out).split()) or 'no output'
                raise Failure('dockerd could not pull the probe image %s through the mirrors of %s (rc %s): %s'
                              % (ref, registry, rc, output))
            rc, out, err = self.host.run([docker, 'image', 'inspect', '--format', '{{json .RepoDigests}}', ref])
            try:
                digests = json.loads(out) if rc == 0 else []
            except ValueError:
                digests = []
            digest = next((item.rpartition('@')[2] for item in digests or [] if '@' in item), 'digest unknown')
            proofs.append('dockerd pulled %s through the mirrors of %s (%s)' % (ref, registry, digest))
            # Only what this run pulled goes again; an image a container started since then keeps it (rm refuses).
            rc, out, err = self.host.run([docker, 'image', 'rm', ref])
            if rc != 0:
                self.host.warn('the probe image %s pulled to prove the mirrors could not be removed again: %s'
                               % (ref, ' '.join((err or out).split())))
        return proofs, notes

    def reload_crio(self):
        rc, out, err = self.systemctl('is-active', '--quiet', 'crio.service')
        if rc == 0:
            rc, out, err = self.systemctl('reload', 'crio.service')
            if rc != 0:
                raise Failure('systemctl reload crio.service failed (rc %s): %s' % (rc, ' '.join((err or out).split())))

    # --- the run -----------------------------------------------------------------------------------------------
    def run(self):
        params = self.params
        self.engine = read_engine(self.host)
        self.result['engine'] = self.engine
        mirrors, insecure = self.policy()
        before_text, config = self.read_daemon_json()
        existed = before_text is not None
        state = params['state']
        try:
            final = apply_policy(config, state, params['strategy'], mirrors, insecure, self.path)
            # What a reload must see for a removal: the removed keys as empty lists (see the module docstring).
            emptied = apply_policy(config, state, params['strategy'], mirrors, insecure, self.path, keep_empty=True)
        except DaemonJsonError as error:
            raise Refusal(str(error)) from None
        for string in _strings(final):
            self.secrets.update(url_secrets(string))
        keys_written = [key for key, value in ((MIRRORS_KEY, mirrors), (INSECURE_KEY, insecure)) if value is not None]
        final_mirrors, final_insecure = managed_values(final, mirrors is not None, insecure is not None)
        self.result.update(registry_mirrors=final_mirrors, insecure_registries=final_insecure)

        start = DaemonStart(self.host, params['unit'])
        # Also when nothing changes: a file edited since dockerd started can already be in conflict.
        if params['check_flags']:
            self.check_start(start, final, keys_written)

        daemon_changed = existed and final != config or not existed and state == 'present'
        indent = detect_indent(before_text or '')
        after_text = render_daemon_json(final, indent) if daemon_changed else before_text
        if daemon_changed:
            if parse_daemon_json(after_text, self.path) != final:
                raise Refusal('internal error: the new %s does not read back as written' % self.path)
            self.validate_file(after_text)

        # dockerd is reloaded when it reads this file and runs (under systemd) with other settings than the file's
        # (a file edited by hand and never applied counts too).
        reads_this_file = any(config_file == self.path for dummy, config_file in start.config_files()) or (
            not start.running and self.path == os.path.realpath(self.host.default_daemon_json))
        applies = self.engine['running'] and self.engine['systemd'] and reads_this_file
        drift = registry_config_problems(self.engine['registry_config'], final_mirrors, final_insecure) \
            if self.engine['running'] else []
        needs_reload = applies and (daemon_changed or bool(drift))
        two_phase = needs_reload and emptied != final

        daemon_mode = stat.S_IMODE(os.stat(self.path).st_mode) if existed else NEW_FILE_MODE
        # The files this run changes: (path, new text or None to remove, before).
        changes = []
        if daemon_changed:
            changes.append((self.path, after_text, before_text or ''))
        for path, text in self.outputs(final_mirrors if state == 'present' else [], final_insecure).items():
            current = _read(path)
            current_text = _text(current) if current is not None else None
            merged = path in self.merged_files
            if text is None:
                if current is not None and is_ours(current_text):
                    changes.append((path, None, current_text))
            elif current_text != text or not merged and stat.S_IMODE(os.stat(path).st_mode) != NEW_FILE_MODE:
                changes.append((path, text, current_text or ''))

        self.result['written'] = [path for path, dummy, dummy2 in changes]
        self.result['created'] = daemon_changed and not existed
        self.result['changed'] = bool(changes) or needs_reload
        if self.want_diff and changes:
            self.result['diff'] = [dict(before_header=path if before or text is None else '%s (absent)' % path,
                                        after_header=path if text is not None else '%s (removed)' % path,
                                        before=self.shown(path, before), after=self.shown(path, text))
                                   for path, text, before in changes]
        verified = [DOCKERD_CONSUMER] if applies and not drift else []
        self.result['limits'] = self.limits(final_mirrors)
        self.result['unproven'] = self.unproven(final_mirrors) if state == 'present' else []

        if self.check_mode:
            self.result['verified'] = verified if not changes and not needs_reload else []
            self.result['msg'] = self.summary(changes, needs_reload, applies, existed, would=True)
            return self.result
        if not changes and not needs_reload:
            self.result['verified'] = verified
            self.result['msg'] = self.summary(changes, needs_reload, applies, existed)
            return self.result

        txn = Transaction(self.host.atomic_move, self.host.backup_local)
        try:
            if two_phase:
                txn.write(self.path, render_daemon_json(emptied, indent), daemon_mode,
                          backup=existed and params['backup'])
            for path, text, before in changes:
                if text is None:
                    # A certs.d directory goes with the last of the collection's files when nothing else (a key,
                    # a certificate of the host's own) is in it.
                    txn.remove(path, prune_empty_dir=os.path.basename(path) in CERTS_DIR_FILES)
                elif path == self.path:
                    if not two_phase:
                        txn.write(path, text, daemon_mode, backup=existed and params['backup'])
                else:
                    # A file of the host's own (buildkitd.toml, or a hosts.toml someone else wrote) is backed up
                    # first; a merged file keeps its mode.
                    mode = stat.S_IMODE(os.stat(path).st_mode) if path in self.merged_files and before \
                        else NEW_FILE_MODE
                    txn.write(path, text, mode, backup=bool(before) and params['backup'] and not is_ours(before))
            if needs_reload:
                self.reload_and_verify(*managed_values(emptied, mirrors is not None, insecure is not None))
                if two_phase:
                    # dockerd has forgotten the keys; a missing key reads as an empty list at its next start.
                    if after_text is None:
                        txn.remove(self.path)
                    else:
                        txn.write(self.path, after_text, daemon_mode)
                verified = [DOCKERD_CONSUMER]
            if state == 'present' and self.engine['running'] and self.engine['systemd']:
                proofs, notes = self.prove_with_pulls(final_mirrors)
                verified = verified + proofs
                self.result['unproven'] = self.result['unproven'] + notes
            if params['containers_dropin'] in self.result['written']:
                self.reload_crio()
        except (Failure, OSError, ValueError) as error:
            cause = str(error) if isinstance(error, Failure) else 'writing the policy failed: %s' % error
            said = self.journal_errors() if self.result['reloaded'] else []
            touched = txn.changed_paths
            problems = txn.restore()
            back = self.bring_dockerd_back() if self.result['reloaded'] else None
            self.result.update(changed=False, written=[], verified=[], backup_files={}, created_directories=[],
                               unproven=[])
            self.result.pop('diff', None)
            msg = cause.rstrip('.')
            if said:
                msg += '. dockerd said: %s' % ' | '.join(said)
            if problems:
                msg += '. Putting the files back failed: %s' % '; '.join(problems)
            else:
                msg += '. Every file this run changed was restored byte for byte (%s)' % ', '.join(touched)
            if back is True:
                msg += ', and dockerd runs with it again'
            elif back is False:
                msg += ', but dockerd did NOT come back: see journalctl --unit %s' % params['unit']
            raise Failure(msg + '.') from None
        self.result['verified'] = verified
        self.result['backup_files'] = dict(txn.backups)
        self.result['created_directories'] = list(txn.created_dirs)
        self.result['msg'] = self.summary(changes, needs_reload, applies, existed)
        return self.result

    def shown(self, path, text):
        """What a diff shows of a file: a CA file's certificates by subject and fingerprint, never their base64."""
        if not text:
            return ''
        return describe(text) if path in self.ca_files else text

    def summary(self, changes, needs_reload, applies, existed, would=False):
        verb = 'would be ' if would else ''
        parts = []
        for path, text, before in changes:
            if text is None:
                parts.append('%s %sremoved' % (path, verb))
            elif path == self.path:
                parts.append('%s %s%s' % (path, verb, 'updated' if existed else 'created'))
            else:
                parts.append('%s %s%s' % (path, verb, 'updated' if before else 'created'))
        if needs_reload:
            parts.append('dockerd would be reloaded (SIGHUP)' if would
                         else 'dockerd reloaded (SIGHUP) and runs with exactly the policy')
        elif not applies and (changes or self.params['state'] == 'present'):
            if not self.engine['installed']:
                why = 'dockerd is not installed'
            elif not self.engine['running']:
                why = 'Docker %s does not run' % self.engine['version']
            elif not self.engine['systemd']:
                why = 'Docker %s does not run under systemd' % self.engine['version']
            else:
                why = 'the running dockerd reads another file than %s' % self.path
            parts.append('%s: the policy takes effect when dockerd starts; nothing was reloaded' % why)
        if not changes and not needs_reload:
            parts.insert(0, 'nothing to change: %s already sets the policy' % self.path
                         if self.params['state'] == 'present' else 'nothing to remove from %s' % self.path)
        return '; '.join(parts)
