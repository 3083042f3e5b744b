# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The python_index_config transaction: pip.conf and uv.toml merged, written, verified with pip and uv, or put back.

No AnsibleModule import: the module hands a :class:`Host` (run a command with a given environment, find a
command, warn, the file mechanics) to :class:`PythonIndexWriter`, so the unit tests run the whole transaction on
files in a temporary directory with the real pip and uv of the machine. The merge rules are
``_package_index_outputs``'; the host lock, snapshots, atomic writes and restore are ``_transaction``'s.

One run, under the host lock:

1. check the values again (the same rules as the role's filter), find the files: pip's ``/etc/pip.conf`` (the
   last global file pip reads, so it wins over ``$XDG_CONFIG_DIRS/pip/pip.conf``) and the ``uv.toml`` uv reads
   (the first of ``$XDG_CONFIG_DIRS/uv/uv.toml`` and ``/etc/uv/uv.toml`` that exists, the latter by default);
2. merge the policy's block into each file; a key of the host's own that would override or contradict it is a
   refusal naming the file and the key, with nothing written;
3. write the files that differ (a backup of a file that holds the host's own lines first);
4. verify with the real clients, each started with an empty environment and a throw-away HOME (so no user file
   and no PIP_*/UV_* variable hides what the system files say): ``pip config debug`` (pip reads the written
   file, and no other file it reads sets an index), ``pip config list`` (the effective index), ``pip download
   --no-deps`` of the probe package through it; ``uv venv`` (uv accepts the file) and ``uv pip install
   --no-deps`` of the probe package into that venv;
5. on any failure, put every file back byte for byte and fail with the client's own reason.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import stat
import subprocess
import tempfile

from ansible_collections.buildfleet.mirrors.plugins.module_utils._consumers import environment_mismatches
from ansible_collections.buildfleet.mirrors.plugins.module_utils._env_outputs import (
    EnvOwner,
    EnvPaths,
    UnitNameError,
    is_ours,
    plan_environment,
    service_names,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._package_index_outputs import (
    PIP_CONF,
    UV_TOML,
    merge_pip_conf,
    merge_uv_toml,
    plan_pip_conf,
    plan_uv_toml,
    uv_settings,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    validate_extra_index_urls,
    validate_index_url,
    validate_project_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import Transaction
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    validate_absolute_path,
)

FILE_MODE = 0o644
# Each client command has this long to answer (a download through a slow mirror included).
CLIENT_TIMEOUT = 120
# The environment a verifying client keeps from the module's own: how the host reaches its mirrors.
PASSED_ENVIRONMENT = ('http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY')
# pip.conf keys of another file that change which index pip asks (in any section: [install] beats [global]).
PIP_INDEX_KEYS = ('index-url', 'extra-index-url', 'no-index')
DEFAULT_XDG_CONFIG_DIRS = ('/etc/xdg',)
# The system CA bundle, by family: Debian and derivatives, then the RHEL family. ca_trust completes it.
SYSTEM_BUNDLES = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt')

# The variables python_mirrors exports with its environment option; no other role may write them, nor it others'.
PYTHON_OWNER = EnvOwner('python_mirrors', 'The Python package index policy',
                        r'PIP_INDEX_URL|PIP_EXTRA_INDEX_URL|UV_DEFAULT_INDEX|UV_INDEX',
                        value_note='a list of indexes is separated by single spaces')

_PIP_DEBUG_FILE = re.compile(r'^  (/.*), exists: (True|False)$')
_PIP_DEBUG_VALUE = re.compile(r'^    ([a-z0-9_:-]+)\.([a-z0-9_-]+): (.*)$')
_PIP_LIST_VALUE = re.compile(r"^([a-z0-9_:-]+)\.([a-z0-9_-]+)='(.*)'$")


class Refusal(Exception):
    """Refused before any write: the host is unchanged."""


class Failure(Exception):
    """A step after the first write failed: every file went back."""


class Host:
    """What the writer needs from the managed host; the module builds it from AnsibleModule."""

    def __init__(self, run, which, warn, atomic_move=None, backup_local=None):
        self.run = run              # (argv, environ, cwd) -> (rc, stdout, stderr); environ replaces the module's
        self.which = which          # name -> path or None
        self.warn = warn
        self.atomic_move = atomic_move
        self.backup_local = backup_local


def run_clean(argv, environ, cwd):
    """Run a client with exactly ``environ`` (nothing of the module's own), no stdin and CLIENT_TIMEOUT seconds."""
    try:
        done = subprocess.run(argv, env=environ, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=CLIENT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return 124, '', 'no answer within %d s' % CLIENT_TIMEOUT
    except OSError as error:
        return 127, '', str(error)
    return (done.returncode, done.stdout.decode('utf-8', 'replace'), done.stderr.decode('utf-8', 'replace'))


def _read(path):
    """A file's text (through a symlink), or None when there is no regular file to read."""
    try:
        with open(path, 'rb') as stream:
            return stream.read().decode('utf-8', 'surrogateescape')
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _one_line(text, limit=600):
    """The last ``limit`` characters of a client's output on one line."""
    text = ' '.join((text or '').split())
    return text if len(text) <= limit else '...' + text[-limit:]


def uv_toml_path(config_dirs):
    """The system uv.toml uv reads: the first of <dir>/uv/uv.toml (each XDG config dir) and /etc/uv/uv.toml that
    exists, /etc/uv/uv.toml when none does (a file in an XDG dir hides /etc/uv/uv.toml)."""
    for directory in config_dirs:
        candidate = os.path.join(directory, 'uv', 'uv.toml')
        if os.path.isfile(candidate):
            return candidate
    return UV_TOML


def parse_pip_config_debug(text):
    """``pip config debug`` as [(file, exists, {'section.key': value})], in pip's order of reading."""
    files, current, key = [], None, None
    for line in text.splitlines():
        found = _PIP_DEBUG_FILE.match(line)
        if found:
            current = (found.group(1), found.group(2) == 'True', {})
            files.append(current)
            key = None
            continue
        value = _PIP_DEBUG_VALUE.match(line)
        if value and current is not None:
            key = '%s.%s' % (value.group(1), value.group(2))
            current[2][key] = value.group(3)
        elif line.startswith('    ') and current is not None and key is not None:
            current[2][key] += '\n' + line.strip()  # a value's continuation lines
        elif not line.startswith('    '):
            current, key = None, None  # 'env_var:', 'global:'...: the next files are of another kind
    return files


def parse_pip_config_list(text):
    """``pip config list`` as {'section.key': value} (pip prints each value with repr-like quotes)."""
    values = {}
    for line in text.splitlines():
        found = _PIP_LIST_VALUE.match(line.strip())
        if found:
            values['%s.%s' % (found.group(1), found.group(2))] = found.group(3).replace('\\n', '\n')
    return values


def index_environment(index, extras, uv):
    """The variables that override a user's or a project's own index settings (pip and uv split lists on spaces)."""
    environment = {'PIP_INDEX_URL': index}
    if extras:
        environment['PIP_EXTRA_INDEX_URL'] = ' '.join(extras)
    if uv:
        environment['UV_DEFAULT_INDEX'] = index
        if extras:
            environment['UV_INDEX'] = ' '.join(extras)
    return environment


def _values(text):
    """The values of a pip key (one per line; pip splits on whitespace)."""
    return (text or '').split()


class PythonIndexWriter:
    """One python_index_config run. :meth:`run` returns the result, or raises Refusal / Failure with it."""

    def __init__(self, host, params, check_mode=False, diff=False):
        self.host = host
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.result = dict(changed=False, written=[], files=[], backup_files={}, pruned=[], verified=[],
                           pip_conf=None, uv_toml=None, changed_units=[])
        self.txn = None
        self.env_paths = EnvPaths(PYTHON_OWNER, params.get('profile_d_path'),
                                  params.get('etc_environment_path') or '/etc/environment',
                                  params.get('systemd_dir') or '/etc/systemd')
        self.systemd_reloaded = False

    # --- input -------------------------------------------------------------------------------------------------
    def policy(self):
        """(index, extras, cert, package) checked as the role's filter checks them; None index for state absent."""
        params = self.params
        self.result['pruned'] = [redact_url(url) for url in params.get('pruned') or []]
        try:
            package = params.get('verify_package') or None
            if package is not None:
                package = validate_project_name(package, 'verify_package')
            if params['state'] == 'absent':
                return None, [], None, package
            allow_http = params['allow_http']
            index = validate_index_url(params['index_url'], 'index_url', allow_http, 'allow_http')
            extras = validate_extra_index_urls(params.get('extra_index_urls') or [], 'extra_index_urls', index,
                                               allow_http, 'allow_http')
            cert = params.get('cert') or None
            if params.get('cert_system_bundle'):
                found = [path for path in self.system_bundles() if os.path.isfile(path)]
                if not found:
                    raise PolicyError('cert_system_bundle is true but this host has no system CA bundle (%s); '
                                      'install the ca-certificates package' % ', '.join(self.system_bundles()))
                cert = found[0]
            if cert is not None:
                validate_absolute_path(cert, 'cert')
                if not os.path.isfile(cert):
                    raise PolicyError('cert %r is not a file on this host; give the system CA bundle (such as '
                                      '/etc/ssl/certs/ca-certificates.crt), which pip then uses instead of its own'
                                      % cert)
        except PolicyError as error:
            raise Refusal(str(error)) from None
        return index, extras, cert, package

    def system_bundles(self):
        return list(self.params.get('system_bundles') or SYSTEM_BUNDLES)

    def config_dirs(self):
        return list(self.params.get('xdg_config_dirs') or DEFAULT_XDG_CONFIG_DIRS)

    def paths(self):
        pip_conf = self.params.get('pip_conf_path') or PIP_CONF
        uv_toml = self.params.get('uv_toml_path') or uv_toml_path(self.config_dirs())
        return pip_conf, uv_toml

    # --- planning ----------------------------------------------------------------------------------------------
    def plan(self, index, extras, cert):
        """[(path, before, after, host's own text)] of the files that change (None: no file, or no host lines)."""
        pip_conf, uv_toml = self.paths()
        self.result.update(pip_conf=pip_conf, uv_toml=uv_toml)
        uv_wanted = index is not None and self.params['uv']
        tls_key = self.uv_tls_key() if uv_wanted and cert is not None else 'native-tls'
        targets = [
            (pip_conf, lambda text, path: merge_pip_conf(text, plan_pip_conf(index, extras, cert), path),
             lambda text, path: merge_pip_conf(text, {}, path)),
            # With uv false (or state absent) the collection's lines come out of the file uv reads. With a CA bundle
            # for pip, uv trusts the system store too (native-tls): its own roots know no corporate CA.
            (uv_toml, lambda text, path: merge_uv_toml(text, plan_uv_toml(index, extras) if uv_wanted else [], path,
                                                       uv_settings(cert is not None, tls_key)),
             lambda text, path: merge_uv_toml(text, [], path)),
        ]
        changes = []
        for path, merge, take_out in targets:
            if os.path.lexists(path) and not os.path.isfile(path):
                raise Refusal('%s exists and is not a regular file; refusing to replace it' % path)
            before = _read(path)
            try:
                after = merge(before, path)
                own = take_out(before, path)
            except ValueError as error:
                raise Refusal(str(error)) from None
            if after != before:
                changes.append((path, before, after, own))
            if after is not None and before is not None and not stat.S_IMODE(os.stat(path).st_mode) & 0o004:
                self.host.warn('%s is not readable by every user (mode %04o): pip and uv run by other users than '
                               'root do not see the policy; the mode is the host\'s and is kept'
                               % (path, stat.S_IMODE(os.stat(path).st_mode)))
        environment = self.environment(index, extras)
        old_dropins = [path for path in sorted(glob.glob(self.env_paths.dropin_pattern()))
                       if is_ours(_read(path) or '', PYTHON_OWNER)]
        want = {'profile_d': True, 'etc_environment': True, 'systemd_default_environment': False}
        for path, after in plan_environment(self.env_paths, environment, want, self.services(), _read,
                                            old_dropins).items():
            if os.path.lexists(path) and not os.path.isfile(path):
                raise Refusal('%s exists and is not a regular file; refusing to replace it' % path)
            before = _read(path)
            if after == before:
                continue
            # /etc/environment is the host's (backed up); a file of the host's own at one of our paths too.
            own = before if before is not None and (path == self.env_paths.etc_environment
                                                    or not is_ours(before, PYTHON_OWNER)) else None
            changes.append((path, before, after, own))
        return changes

    def uv_command(self):
        return self.params.get('uv_command') or self.host.which('uv')

    def uv_tls_key(self):
        """system-certs when the host's uv reads it (newer uv deprecates native-tls), else native-tls."""
        uv = self.uv_command()
        if not uv or not os.path.isfile(uv):
            return 'native-tls'
        work = tempfile.mkdtemp(prefix='buildfleet-python-index-')
        try:
            os.makedirs(os.path.join(work, 'uv'))
            with open(os.path.join(work, 'uv', 'uv.toml'), 'w') as stream:
                stream.write('system-certs = true\n')
            environment = self.client_environment(work)
            environment['XDG_CONFIG_DIRS'] = work
            rc, dummy, err = self.host.run([uv, 'cache', 'dir'], environment, work)
            return 'system-certs' if rc == 0 and 'system-certs' not in err else 'native-tls'
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def environment(self, index, extras):
        """The variables to export ({} removes what an earlier run exported)."""
        if index is None or not self.params.get('export_environment'):
            return {}
        try:
            return PYTHON_OWNER.check(index_environment(index, extras, self.params['uv']), 'export_environment')
        except PolicyError as error:
            raise Refusal(str(error)) from None

    def services(self):
        try:
            return service_names(self.params.get('systemd_units') or [], 'systemd_units')
        except UnitNameError as error:
            raise Refusal(str(error)) from None

    @staticmethod
    def mode_for(path):
        """A new file is 0644; an existing one keeps its mode (never wider than 0644)."""
        try:
            return stat.S_IMODE(os.lstat(path).st_mode) & FILE_MODE if os.path.isfile(path) else FILE_MODE
        except FileNotFoundError:
            return FILE_MODE

    # --- the clients -------------------------------------------------------------------------------------------
    def client_environment(self, home):
        environment = {name: os.environ[name] for name in PASSED_ENVIRONMENT if os.environ.get(name)}
        environment.update(HOME=home, PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                           LANG='C.UTF-8', PIP_DISABLE_PIP_VERSION_CHECK='1', UV_PYTHON_DOWNLOADS='never',
                           UV_NO_PROGRESS='1')
        if self.params.get('xdg_config_dirs'):
            environment['XDG_CONFIG_DIRS'] = ':'.join(self.config_dirs())
        return environment

    def client(self, argv, work, what):
        rc, out, err = self.host.run(argv, self.client_environment(os.path.join(work, 'home')), work)
        if rc != 0:
            raise Failure('%s failed (rc %s): %s' % (what, rc, _one_line(redact_url(err or out)) or 'no output'))
        return out

    def pip_python(self):
        """The Python whose pip verifies (option python, else python3 on PATH), or None when it has no pip."""
        python = self.params.get('python') or self.host.which('python3')
        if not python:
            return None
        rc, dummy, dummy2 = self.host.run([python, '-m', 'pip', '--version'],
                                          self.client_environment(tempfile.gettempdir()), '/')
        return python if rc == 0 else None

    def verify_pip(self, python, work, index, extras, cert, package, pip_conf):
        verified = []
        debug = parse_pip_config_debug(self.client([python, '-m', 'pip', 'config', 'debug'], work,
                                                   'pip config debug'))
        read = [path for path, exists, dummy in debug if exists]
        if os.path.realpath(pip_conf) not in [os.path.realpath(path) for path in read]:
            raise Failure('pip does not read %s (it reads %s); the index was not taken up'
                          % (pip_conf, ', '.join(read) or 'no configuration file'))
        others = []
        for path, exists, values in debug:
            if not exists or os.path.realpath(path) == os.path.realpath(pip_conf):
                continue
            for key in sorted(values):
                name = key.split('.', 1)[1]
                if name in PIP_INDEX_KEYS or (name == 'cert' and cert) or (name == 'trusted-host' and
                                                                           key != 'global.trusted-host'):
                    others.append('%s in %s' % (key, path))
        if others:
            raise Failure('another file pip reads sets %s, which overrides or adds to the policy of %s; remove '
                          'it from there' % (', '.join(others), pip_conf))
        effective = parse_pip_config_list(self.client([python, '-m', 'pip', 'config', 'list'], work,
                                                      'pip config list'))
        wanted = {'global.index-url': [index], 'global.extra-index-url': extras}
        if cert:
            wanted['global.cert'] = [cert]
        for key, values in wanted.items():
            seen = _values(effective.get(key))
            if seen != list(values):
                raise Failure('pip config list gives %s = %s, not the policy\'s %s'
                              % (key, redact_url(' '.join(seen)) or '(unset)', redact_url(' '.join(values))))
        verified.append('pip reads %s (pip config debug, pip config list)' % pip_conf)
        if package:
            target = os.path.join(work, 'pip-download')
            said = self.client([python, '-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--progress-bar',
                                'off', '--dest', target, package], work, 'pip download --no-deps %s' % package)
            if 'Looking in indexes: %s' % redact_url(index) not in redact_url(said):
                raise Failure('pip download %s did not say it looked in %s: %s'
                              % (package, redact_url(index), _one_line(redact_url(said))))
            if not os.listdir(target):
                raise Failure('pip download %s saved no file' % package)
            verified.append('pip download --no-deps %s through %s' % (package, redact_url(index)))
        return verified

    def verify_uv(self, uv, python, work, index, package, uv_toml):
        venv = os.path.join(work, 'uv-venv')
        argv = [uv, '--no-cache', 'venv', '--quiet']
        if python:
            argv += ['--python', python]
        self.client(argv + [venv], work, 'uv venv (uv reads %s)' % uv_toml)
        if not package:
            return ['uv accepts %s (uv venv)' % uv_toml]
        self.client([uv, '--no-cache', 'pip', 'install', '--python', os.path.join(venv, 'bin', 'python'),
                     '--no-deps', package], work, 'uv pip install --no-deps %s' % package)
        return ['uv pip install --no-deps %s into a venv through %s' % (package, redact_url(index))]

    def systemd_booted(self):
        return os.path.isdir(self.params.get('systemd_runtime_dir') or '/run/systemd/system')

    def systemctl(self, *arguments):
        systemctl = self.host.which('systemctl')
        if not systemctl:
            raise Failure('systemctl is not installed')
        rc, out, err = self.host.run([systemctl] + list(arguments), {'PATH': '/usr/bin:/bin'}, '/')
        if rc != 0:
            raise Failure('systemctl %s failed (rc %s): %s' % (' '.join(arguments), rc, _one_line(err or out)))
        return out

    def verify_environment(self, environment):
        """A login shell and a PAM session get the variables (when the files are the host's own); each listed
        service that is loaded too."""
        shells = (self.params.get('profile_d_path') in (None, PYTHON_OWNER.profile_d)
                  and self.env_paths.etc_environment == '/etc/environment')
        systemctl = self.host.which('systemctl') if self.systemd_booted() else None
        try:
            verified, wrong = environment_mismatches(lambda argv: self.host.run(argv, {}, '/'), environment,
                                                     self.env_paths, self.services(), systemctl, shells=shells,
                                                     redact=redact_url)
        except OSError as error:
            raise Failure(str(error))
        if wrong:
            raise Failure("The variables were written but not every consumer gets them: %s. Something read after "
                          "the role's files sets them (a later /etc/profile.d script, another drop-in)."
                          % '; '.join(wrong))
        return ['%s get %s' % (name, ', '.join(environment)) for name in verified]

    def verify(self, index, extras, cert, package):
        pip_conf, uv_toml = self.paths()
        work = tempfile.mkdtemp(prefix='buildfleet-python-index-')
        os.chmod(work, 0o700)
        os.mkdir(os.path.join(work, 'home'))
        try:
            verified = []
            python = self.pip_python()
            if python:
                verified += self.verify_pip(python, work, index, extras, cert, package, pip_conf)
            else:
                self.host.warn('pip is not installed for %s: %s was written but not checked with pip'
                               % (self.params.get('python') or 'python3', pip_conf))
            environment = self.environment(index, extras)
            if environment:
                verified += self.verify_environment(environment)
            uv = self.uv_command()
            if self.params['uv'] and uv:
                verified += self.verify_uv(uv, self.params.get('python') or self.host.which('python3'), work, index,
                                           package, uv_toml)
            return verified
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # --- the run -----------------------------------------------------------------------------------------------
    def run(self):
        index, extras, cert, package = self.policy()
        changes = self.plan(index, extras, cert)
        self.result['written'] = [change[0] for change in changes]
        self.result['changed_units'] = [os.path.basename(os.path.dirname(change[0]))[:-len('.d')]
                                        for change in changes if change[0].endswith('/' + PYTHON_OWNER.dropin_name)
                                        and os.path.dirname(os.path.dirname(change[0])) == self.env_paths.unit_dir]
        self.result['files'] = [dict(path=path, action='removed' if after is None else
                                     'created' if before is None else 'updated')
                                for path, before, after, dummy in changes]
        self.result['changed'] = bool(changes)
        if self.want_diff and changes:
            self.result['diff'] = [dict(before_header=path if before is not None else '%s (absent)' % path,
                                        after_header=path if after is not None else '%s (removed)' % path,
                                        before=before or '', after=after or '')
                                   for path, before, after, dummy in changes]
        verify = self.params['verify']
        wants_verify = index is not None and (verify == 'always' or (verify == 'changed' and changes))
        if self.check_mode:
            self.result['msg'] = self.summary(changes, would=True)
            return self.result
        self.txn = Transaction(self.host.atomic_move, self.host.backup_local, tmp_prefix='.python-index.')
        try:
            for path, before, after, own in changes:
                if after is None:
                    # A directory the collection made for the file (/etc/uv) goes with it when nothing else is in it.
                    directory = os.path.dirname(path)
                    self.txn.remove(path, prune_empty_dir=os.path.basename(directory) == 'uv'
                                    or (path.endswith('/' + PYTHON_OWNER.dropin_name) and directory.endswith('.d')))
                    continue
                # A file with the host's own lines is backed up first; one that holds only the block is ours.
                made = self.txn.write(path, after, mode=self.mode_for(path), backup=own is not None)
                if made:
                    self.result['backup_files'][path] = made
            systemd_dir = self.env_paths.unit_dir.rstrip('/') + '/'
            if any(change[0].startswith(systemd_dir) for change in changes) and self.systemd_booted():
                self.systemctl('daemon-reload')
                self.systemd_reloaded = True
            if wants_verify:
                self.result['verified'] = self.verify(index, extras, cert, package)
        except (Failure, OSError) as error:
            self.roll_back(error)
        self.result['msg'] = self.summary(changes)
        return self.result

    def roll_back(self, error):
        touched = self.txn.changed_paths
        problems = self.txn.restore()
        if self.systemd_reloaded:
            try:
                self.systemctl('daemon-reload')
            except Failure as reload_error:
                problems.append(str(reload_error))
        self.result.update(changed=False, written=[], files=[], backup_files={}, verified=[], changed_units=[])
        self.result.pop('diff', None)
        cause = str(error) if isinstance(error, Failure) else 'writing the files failed: %s' % error
        msg = cause.rstrip('.')
        if problems:
            msg += '. Putting the files back failed: %s' % '; '.join(problems)
        elif touched:
            msg += '. Every file this run changed was put back byte for byte (%s)' % ', '.join(touched)
        raise Failure(msg + '.') from None

    def summary(self, changes, would=False):
        verb = 'would be ' if would else ''
        parts = ['%s %s%s' % (path, verb, 'removed' if after is None else 'updated' if before is not None
                              else 'created') for path, before, after, dummy in changes]
        if not parts:
            parts.append('nothing to change' if self.params['state'] == 'present'
                         else 'nothing to remove: no file holds the collection\'s lines')
        if self.result['verified']:
            parts.append('verified: %s' % '; '.join(self.result['verified']))
        return '; '.join(parts)
