# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The npm_registry_config transaction: the registry policy in the global npmrc, verified by npm and pnpm, or put back.

No AnsibleModule import: the module hands a :class:`Host` (which, warn, the environment a client keeps) to
:class:`NpmWriter`, so the unit tests run the whole transaction with the real npm against a file of their own
(``globalconfig``). The host lock and the file mechanics are ``_transaction``'s, the merge is
``_package_index_outputs.merge_npmrc``'s.

One run, under the host lock:

1. validate the policy again on the host (the same rules as the role's filter);
2. find the global npmrc: what ``npm config get globalconfig`` says in a clean environment (NodeSource's npm:
   ``/usr/etc/npmrc``; Debian's npm, whose builtin npmrc sets it: ``/etc/npmrc``), ``/etc/npmrc`` when npm is
   absent; and, when pnpm is installed, the file pnpm reads as its global one, ``<npm's prefix>/etc/npmrc`` (pnpm 9
   computes its prefix as npm does, but ignores npm's ``globalconfig`` setting), when that is another file;
3. merge the block into each (a key of the host's own that would override the policy is a conflict: the run
   fails naming the file, the key and the line, and nothing is written);
4. write with a backup of the host's file, ask npm (and pnpm) in a clean environment what they resolve, and
   with ``verify_package`` fetch a package's metadata through the written configuration;
5. on any failure, put every file back byte for byte and fail with the client's own words.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
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

from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    validate_package_name,
    validate_registry_url,
    validate_scope,
    validate_scopes,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._package_index_outputs import (
    NPMRC_DEBIAN,
    holds_block,
    merge_npmrc,
    plan_npmrc,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import Transaction
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    validate_absolute_path,
)

FILE_MODE = 0o644
CLIENT_TIMEOUT = 60
# The environment a verifying client keeps from the module's own: how the host reaches its registry.
PASSED_ENVIRONMENT = ('http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY')
SEARCH_PATH = '/usr/local/bin:/usr/bin:/bin'
# The system CA bundle, as ca_trust completes it: Debian and derivatives, then the RHEL family.
SYSTEM_BUNDLES = ('/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt')


# The node_mirrors role as an owner of environment variables (the shared writer renders its files). npm reads
# npm_config_<key> lower-cased; a scope key (npm_config_@corp:registry) is no name a shell or pam_env can set, so
# scoped registries stay in the npmrc.
NODE_OWNER = EnvOwner('node_mirrors', 'The npm registry policy', r'npm_config_registry|YARN_NPM_REGISTRY_SERVER',
                      value_note='the values are registry URLs')


class Refusal(Exception):
    """Refused before any write: the host is unchanged."""


class Failure(Exception):
    """A step after the first write failed: every file went back."""


def _read(path):
    try:
        with open(path, 'rb') as stream:
            return stream.read().decode('utf-8', 'surrogateescape')
    except (FileNotFoundError, NotADirectoryError):
        return None


def _one_line(text, limit=600):
    text = ' '.join((text or '').split())
    return text if len(text) <= limit else text[:limit] + '...'


def _client_error(out, err):
    """What a failed npm or pnpm said, without the lines that only point at its log file."""
    lines = [line for line in (err or out or '').splitlines()
             if line.strip() and 'complete log of this run' not in line
             and line.strip() not in ('npm error', 'npm ERR!')]
    return _one_line(' '.join(lines)) or 'no output'


def parse_config_get(out, keys):
    """``npm config get k1 k2`` prints ``k=v`` lines (one key alone: the bare value); undefined/null -> None."""
    lines = [line for line in out.splitlines() if line.strip()]
    values = {}
    if len(keys) == 1:
        values[keys[0]] = lines[0].strip() if lines else None
    else:
        for line in lines:
            key, sep, value = line.partition('=')
            if sep:
                values[key.strip()] = value.strip()
    return {key: (None if values.get(key) in (None, '', 'undefined', 'null') else values[key]) for key in keys}


class Host:
    """What the writer needs from the managed host; the module builds it from AnsibleModule."""

    def __init__(self, which, warn, environ=None, atomic_move=None, backup_local=None):
        self.which = which          # name -> path or None (sbin directories included)
        self.warn = warn
        self.environ = os.environ if environ is None else environ
        self.atomic_move = atomic_move
        self.backup_local = backup_local


class NpmWriter:
    """One npm_registry_config run. :meth:`run` returns the result, or raises Refusal / Failure."""

    def __init__(self, host, params, check_mode=False, diff=False):
        self.host = host
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.npm = None
        self.pnpm = None
        self.work = None
        self.result = dict(changed=False, written=[], files=[], backups={}, verified=[], pruned=[], npmrc=None,
                           pnpm_npmrc=None, npm=None, pnpm=None, systemd_reloaded=False)

    # --- input ---------------------------------------------------------------------------------------------------
    def policy(self):
        """(registry, scopes, cafile, packages to fetch) validated again on the host; None registry for absent."""
        params = self.params
        self.result['pruned'] = [redact_url(url) for url in params.get('pruned') or []]
        if params['state'] == 'absent':
            return None, {}, None, []
        allow_http = params.get('allow_http', False)
        try:
            if not params.get('registry'):
                raise PolicyError('registry is required with state=present: the npm registry every install uses')
            registry = validate_registry_url(params['registry'], 'registry', allow_http, 'allow_http')
            scopes = validate_scopes(params.get('scopes') or {}, 'scopes', allow_http, 'allow_http')
            cafile = params.get('cafile') or None
            if params.get('system_cafile'):
                cafile = next((path for path in SYSTEM_BUNDLES if os.path.isfile(path)), None)
                if cafile is None:
                    raise PolicyError('system_cafile is true but this host has no system CA bundle (%s); install '
                                      'ca-certificates' % ' or '.join(SYSTEM_BUNDLES))
            if cafile:
                validate_absolute_path(cafile, 'cafile')
            packages = []
            if params.get('verify_package'):
                packages.append(validate_package_name(params['verify_package'], 'verify_package'))
            for scope, package in (params.get('verify_scope_packages') or {}).items():
                validate_scope(scope, 'verify_scope_packages key')
                if scope not in scopes:
                    raise PolicyError('verify_scope_packages names %s, which is not a scope of scopes (%s)'
                                      % (scope, ', '.join(scopes) or 'none'))
                package = validate_package_name(package, 'verify_scope_packages[%s]' % scope)
                if not package.startswith(scope + '/'):
                    raise PolicyError('verify_scope_packages[%s] is %r, which is not a package of the scope %s '
                                      '(%s/<name>): npm would fetch it from the main registry'
                                      % (scope, package, scope, scope))
                packages.append(package)
        except PolicyError as error:
            raise Refusal(str(error)) from None
        if cafile and not os.path.isfile(cafile):
            message = ('cafile %s does not exist on this host; npm would fail every request. Point it at the system '
                       'bundle (ca_trust completes it), such as /etc/ssl/certs/ca-certificates.crt' % cafile)
            if not self.check_mode:
                raise Refusal(message)
            self.host.warn(message + '. Check mode goes on as if it did.')
        return registry, scopes, cafile, packages

    # --- the clients ---------------------------------------------------------------------------------------------
    def environment(self):
        """A clean environment for npm and pnpm: a HOME of their own (no user npmrc), no npm_config_* but ours."""
        variables = {name: self.host.environ[name] for name in PASSED_ENVIRONMENT if self.host.environ.get(name)}
        directories = [os.path.dirname(path) for path in (self.npm, self.pnpm) if path]
        variables.update(HOME=os.path.join(self.work, 'home'), PATH=':'.join(directories + [SEARCH_PATH]),
                         npm_config_cache=os.path.join(self.work, 'cache'), npm_config_update_notifier='false',
                         npm_config_fund='false', npm_config_audit='false', NO_COLOR='1', CI='true',
                         # One try: a registry that is down must fail the check now, not after a minute of backoff.
                         npm_config_fetch_retries='0')
        if self.params.get('globalconfig'):
            # A file of the caller's (tests, unusual layouts): every client is pointed at it.
            variables['npm_config_globalconfig'] = self.params['globalconfig']
        return variables

    def client(self, argv):
        """Run npm or pnpm in the work directory with the clean environment: (rc, stdout, stderr)."""
        for name in ('home', 'cwd'):
            os.makedirs(os.path.join(self.work, name), exist_ok=True)
        try:
            done = subprocess.run(argv, cwd=os.path.join(self.work, 'cwd'), env=self.environment(),
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=CLIENT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return 124, '', 'no answer within %d s' % CLIENT_TIMEOUT
        except OSError as error:
            return 127, '', str(error)
        return (done.returncode, done.stdout.decode('utf-8', 'replace'), done.stderr.decode('utf-8', 'replace'))

    def find_files(self):
        """(the npm global npmrc, the other file pnpm may read as its global one, or None).

        pnpm reads npm's global npmrc by its own rules: pnpm 10 names the file (``npm-globalconfig`` in ``pnpm
        config list``: ``/usr/etc/npmrc`` on Debian, where npm reads ``/etc/npmrc``); pnpm 9 sets it to
        ``<prefix>/etc/npmrc``. That candidate is written only when the real pnpm does not get the policy from
        npm's file (or when an earlier run wrote it).
        """
        if self.params.get('globalconfig'):
            return self.params['globalconfig'], self.params.get('pnpm_globalconfig')
        if not self.npm:
            return NPMRC_DEBIAN, None
        rc, out, err = self.client([self.npm, 'config', 'get', 'globalconfig', 'prefix'])
        values = parse_config_get(out, ['globalconfig', 'prefix']) if rc == 0 else {}
        globalconfig = values.get('globalconfig')
        if not globalconfig or not globalconfig.startswith('/'):
            raise Refusal('%s config get globalconfig did not name a file (rc %s): %s'
                          % (self.npm, rc, _client_error(out, err) if rc else _one_line(out)))
        pnpm_file = None
        if self.pnpm:
            # pnpm 10 names the npm file it reads (npm-globalconfig); pnpm 9 reads <prefix>/etc/npmrc.
            try:
                pnpm_file = self.pnpm_config([self.pnpm]).get('npm-globalconfig')
            except Failure:
                pnpm_file = None
            if not (isinstance(pnpm_file, str) and pnpm_file.startswith('/')) and \
                    (values.get('prefix') or '').startswith('/'):
                pnpm_file = os.path.join(values['prefix'], 'etc', 'npmrc')
            if pnpm_file and os.path.realpath(pnpm_file) == os.path.realpath(globalconfig):
                pnpm_file = None
        return globalconfig, pnpm_file

    # --- the environment outputs ---------------------------------------------------------------------------------
    def env_paths(self):
        params = self.params
        return EnvPaths(NODE_OWNER, params.get('profile_d_path'), params.get('etc_environment_path') or
                        '/etc/environment', params.get('systemd_dir') or '/etc/systemd')

    def env_values(self, registry):
        """The variables to export: none for state absent or without the environment option."""
        if not registry or not self.params.get('export_environment'):
            return {}
        return {'npm_config_registry': registry, 'YARN_NPM_REGISTRY_SERVER': registry}

    def services(self):
        try:
            return service_names(self.params.get('systemd_units') or [], 'systemd_units')
        except UnitNameError as error:
            raise Refusal(str(error)) from None

    def plan_env(self, registry, services):
        """[(path, new text or None, old text or None)] of the environment outputs that change."""
        paths = self.env_paths()
        environment = self.env_values(registry)
        old_dropins = [path for path in sorted(glob.glob(paths.dropin_pattern()))
                       if is_ours(_read(path) or '', NODE_OWNER)]
        targets = plan_environment(paths, environment, {'profile_d': True, 'etc_environment': True}, services,
                                   _read, old_dropins)
        changes = []
        for path, after in targets.items():
            before = _read(path)
            if os.path.lexists(path) and not os.path.isfile(path):
                raise Refusal('%s exists and is not a regular file; refusing to replace it' % path)
            if after != before and not (after is None and before is None):
                changes.append((path, after, before))
        return changes

    def is_shared(self, path):
        """The host's files the module only edits: backed up, their mode never widened."""
        return path == self.env_paths().etc_environment or path in (self.result['npmrc'], self.result['pnpm_npmrc'])

    # --- verification --------------------------------------------------------------------------------------------
    def expected(self, registry, scopes, cafile):
        wanted = {'registry': registry}
        wanted.update(('%s:registry' % scope, url) for scope, url in scopes.items())
        wanted['cafile'] = cafile
        return wanted

    def ask(self, name, argv_prefix, wanted):
        """Ask one client what it resolves; the mismatches, or raise Failure.

        npm: ``npm config get <every key>``. pnpm: ``pnpm config list --json``, what pnpm's own loader read: pnpm 10's
        ``config get registry`` answers npm's value even where pnpm installs from another file (seen on Debian).
        """
        keys = list(wanted)
        if name.startswith('npm'):
            rc, out, err = self.client(argv_prefix + ['config', 'get'] + keys)
            if rc != 0:
                raise Failure('%s could not be asked (rc %s): %s' % (name, rc, _client_error(out, err)))
            seen = parse_config_get(out, keys)
        else:
            listed = self.pnpm_config(argv_prefix, name)
            # pnpm shows the CA certificates it loaded (ca), not the cafile key: the npm answer covers cafile.
            seen = dict((key, listed.get(key) or None) for key in keys if key != 'cafile')
        return ['%s gets %s=%s, not %s' % (name, key, seen[key] if seen[key] is not None else '(unset)',
                                           wanted[key] if wanted[key] is not None else '(unset)')
                for key in seen if seen[key] != wanted[key]]

    def pnpm_config(self, argv_prefix, name='pnpm'):
        """``pnpm config list --json`` as a dict, or raise Failure."""
        rc, out, err = self.client(argv_prefix + ['config', 'list', '--json'])
        try:
            listed = json.loads(out) if rc == 0 else None
        except ValueError:
            listed = None
        if not isinstance(listed, dict):
            raise Failure('%s could not be asked (rc %s): %s' % (name, rc, _client_error(out, err)))
        return listed

    def verify_environment(self, environment):
        """A login shell, a PAM session and each listed service must get the variables; the names asked."""
        def run(argv):
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLIENT_TIMEOUT,
                                      check=False)
            except subprocess.TimeoutExpired:
                return 124, '', 'no answer within %d s' % CLIENT_TIMEOUT
            return done.returncode, done.stdout.decode('utf-8', 'replace'), done.stderr.decode('utf-8', 'replace')

        systemctl = self.host.which('systemctl')
        booted = os.path.isdir(self.params.get('systemd_runtime_dir') or '/run/systemd/system')
        try:
            asked, wrong = environment_mismatches(run, environment, self.env_paths(), self.services(),
                                                  systemctl if booted else None, redact=redact_url)
        except OSError as error:
            raise Failure(str(error))
        if wrong:
            raise Failure('The registry was written but not every consumer gets it: %s. Something read after the '
                          "role's files sets these variables (a later /etc/profile.d script, another drop-in)."
                          % '; '.join(wrong))
        return asked

    def fetch(self, package):
        rc, out, err = self.client([self.npm, 'view', package, 'version'])
        if rc != 0 or not out.strip():
            raise Failure('npm view %s version through the written configuration failed (rc %s): %s'
                          % (package, rc, _client_error(out, err)))
        return out.strip().splitlines()[-1]

    def verify(self, registry, scopes, cafile, packages, pnpm_fallback=None):
        """Ask every client; ``pnpm_fallback()`` writes pnpm's other candidate file and returns it, or None."""
        wanted = self.expected(registry, scopes, cafile)
        wrong, verified = [], []
        if self.npm:
            wrong += self.ask('npm (clean environment)', [self.npm], wanted)
            verified.append('npm config get (%s)' % self.result['npmrc'])
        if self.pnpm:
            pnpm_wrong = self.ask('pnpm (clean environment)', [self.pnpm], wanted)
            if pnpm_wrong and pnpm_fallback is not None:
                written = pnpm_fallback()
                if written:
                    self.result['pnpm_npmrc'] = written
                    pnpm_wrong = self.ask('pnpm (clean environment, with %s too)' % written, [self.pnpm], wanted)
            wrong += pnpm_wrong
            verified.append('pnpm config get (%s)' % self.result['pnpm_npmrc'])
        if wrong:
            raise Failure('The registry policy was written but a client does not get it: %s. Something else sets '
                          'these keys (a builtin npmrc, or npm_config_* variables of the module\'s environment).'
                          % '; '.join(wrong))
        environment = self.env_values(registry)
        if environment:
            verified += self.verify_environment(environment)
        for package in packages:
            if not self.npm:
                self.host.warn('npm is not installed: %s was not fetched' % package)
                continue
            version = self.fetch(package)
            verified.append('npm view %s version (%s)' % (package, version))
        return verified

    # --- the run -------------------------------------------------------------------------------------------------
    def plan(self, registry, scopes, cafile, files):
        """[(path, new text or None, old text or None)] of the files that change."""
        plan = plan_npmrc(registry, scopes, cafile) if registry else {}
        changes = []
        for path in files:
            if path is None:
                continue
            if os.path.lexists(path) and not os.path.isfile(path):
                raise Refusal('%s exists and is not a regular file; refusing to replace it' % path)
            before = _read(path)
            if not plan and not holds_block(before or '', path):
                continue
            try:
                after = merge_npmrc(before, plan, path)
            except ValueError as error:
                raise Refusal(str(error)) from None
            if after != before:
                changes.append((path, after, before))
        return changes

    def run(self):
        registry, scopes, cafile, packages = self.policy()
        self.npm = self.host.which('npm')
        self.pnpm = self.host.which('pnpm')
        self.result.update(npm=self.npm, pnpm=self.pnpm)
        self.work = tempfile.mkdtemp(prefix='buildfleet-npm-')
        try:
            return self._run(registry, scopes, cafile, packages)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _run(self, registry, scopes, cafile, packages):
        params = self.params
        npmrc, pnpm_candidate = self.find_files()
        # pnpm's other candidate is managed only where an earlier run wrote it (or state absent cleans it up).
        candidate_in_use = pnpm_candidate is not None and holds_block(_read(pnpm_candidate) or '', pnpm_candidate)
        self.result.update(npmrc=npmrc, pnpm_npmrc=(pnpm_candidate if candidate_in_use else npmrc)
                           if self.pnpm else None)
        if not self.npm and not params.get('globalconfig'):
            self.host.warn('npm is not installed: the policy goes to %s, where Debian\'s npm reads its global '
                           'configuration; nothing could ask npm which file it reads' % npmrc)
        services = self.services()
        files = [npmrc] + ([pnpm_candidate] if candidate_in_use or (pnpm_candidate and not registry) else [])
        changes = self.plan(registry, scopes, cafile, files) + self.plan_env(registry, services)
        self.result['written'] = [path for path, dummy, dummy2 in changes]
        self.result['files'] = [dict(path=path, action='removed' if after is None else
                                     'updated' if before is not None else 'created')
                                for path, after, before in changes]
        self.result['changed'] = bool(changes)
        if self.want_diff and changes:
            self.result['diff'] = [dict(before_header=path if before is not None else '%s (absent)' % path,
                                        after_header=path if after is not None else '%s (removed)' % path,
                                        before=before or '', after=after or '')
                                   for path, after, before in changes]
        if self.check_mode:
            self.result['msg'] = self.summary(changes, would=True)
            return self.result
        verify = params.get('verify', 'changed')
        must_verify = registry and (verify == 'always' or (verify == 'changed' and changes))
        if not changes and not must_verify:
            self.result['msg'] = self.summary(changes)
            return self.result

        txn = Transaction(self.host.atomic_move, self.host.backup_local, tmp_prefix='.npmrc.')
        try:
            for path, after, before in changes:
                if after is None:
                    directory = os.path.dirname(path)
                    # A drop-in alone in its directory goes with it; never a directory with other files in it.
                    txn.remove(path, prune_empty_dir=path.endswith('/' + NODE_OWNER.dropin_name)
                               and directory.endswith('.d'))
                    continue
                snapshot = txn.snapshot(path)
                mode = snapshot.mode & FILE_MODE if self.is_shared(path) and snapshot.kind == 'file' else FILE_MODE
                ours = before is not None and is_ours(before, NODE_OWNER)
                made = txn.write(path, after, mode, backup=before is not None and not ours)
                if made:
                    self.result['backups'][path] = made
            self.reload_systemd([path for path, dummy, dummy2 in changes])

            def pnpm_fallback():
                """Write the block into pnpm's other candidate file too (once), in this transaction."""
                if not pnpm_candidate or candidate_in_use:
                    return None
                extra = self.plan(registry, scopes, cafile, [pnpm_candidate])
                for path, after, before in extra:
                    made = txn.write(path, after, FILE_MODE, backup=before is not None)
                    if made:
                        self.result['backups'][path] = made
                    self.result['written'].append(path)
                    self.result['files'].append(dict(path=path, action='updated' if before is not None
                                                     else 'created'))
                    self.result['changed'] = True
                return pnpm_candidate

            if must_verify:
                self.result['verified'] = self.verify(registry, scopes, cafile, packages, pnpm_fallback)
        except (Failure, OSError) as error:
            cause = str(error) if isinstance(error, Failure) else 'writing the npmrc failed: %s' % error
            touched = txn.changed_paths
            problems = txn.restore()
            if self.result.get('systemd_reloaded'):
                try:
                    self.reload_systemd(touched, force=True)
                except Failure as again:
                    problems.append(str(again))
            self.result.update(changed=False, written=[], files=[], backups={}, verified=[])
            self.result.pop('diff', None)
            msg = cause.rstrip('.')
            if problems:
                msg += '. Putting the files back failed: %s' % '; '.join(problems)
            elif touched:
                msg += '. Every file this run changed was put back byte for byte (%s)' % ', '.join(touched)
            raise Failure(msg + '.') from None
        self.result['msg'] = self.summary(changes)
        return self.result

    def reload_systemd(self, changed, force=False):
        """daemon-reload when a drop-in changed and systemd runs (so that `systemctl show` and restarts see it)."""
        unit_dir = self.env_paths().unit_dir.rstrip('/') + '/'
        if not force and not any(path.startswith(unit_dir) for path in changed):
            return
        systemctl = self.host.which('systemctl')
        if not systemctl or not os.path.isdir(self.params.get('systemd_runtime_dir') or '/run/systemd/system'):
            return
        done = subprocess.run([systemctl, 'daemon-reload'], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=CLIENT_TIMEOUT, check=False)
        if done.returncode != 0:
            raise Failure('systemctl daemon-reload failed (rc %s): %s'
                          % (done.returncode, _one_line(done.stderr.decode('utf-8', 'replace'))))
        self.result['systemd_reloaded'] = True

    def summary(self, changes, would=False):
        verb = 'would be ' if would else ''
        parts = ['%s %s%s' % (path, verb, 'removed' if after is None else 'updated' if before is not None
                              else 'created') for path, after, before in changes]
        if not changes:
            parts.append('nothing to change' if self.params['state'] == 'present'
                         else 'nothing to remove: no npmrc holds the collection\'s lines')
        if self.result['verified']:
            parts.append('verified: %s' % ', '.join(self.result['verified']))
        return '; '.join(parts)
