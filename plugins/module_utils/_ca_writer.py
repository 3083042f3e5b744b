# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ca_certificates transaction: CA certificates into the system trust store, updated, verified, or put back.

No AnsibleModule import: the module hands a :class:`Host` (run_command,
get_bin_path, warn, the trust store's paths and Python's view of the trust) to
:class:`CaWriter`, so the unit tests run the whole transaction on a temporary
tree with a stand-in update command. The host lock and the file mechanics are
``_transaction``'s.

One run, under the host lock:

1. validate the certificates again on the host (its clock decides what has
   expired), find the trust store's family by its update command;
2. plan one file per certificate in a place of the collection's own, and the
   removal of the collection's files the policy no longer names (never another
   file);
3. write and remove atomically, run the update command (``--fresh`` on Debian
   after a removal, which alone drops the dangling links of removed files);
4. verify: every certificate is in the system bundle, and Python's default SSL
   context loads it (a removed one is in neither);
5. on any failure, put every file back, run the update again, and fail with
   the cause.

Where the files go, by family:

- Debian and derivatives: ``/usr/local/share/ca-certificates/buildfleet-mirrors/<name>.crt``.
  ``update-ca-certificates`` finds local certificates with ``find -L ... -name
  '*.crt'`` below that directory, so a subdirectory works, and every ``.crt`` in
  it is the collection's. Its link in /etc/ssl/certs is ``<name>.pem``: a name
  whose link already belongs to another certificate (a distro CA) is refused.
- RHEL family: ``/etc/pki/ca-trust/source/anchors/buildfleet-mirrors-<name>.pem``.
  ``update-ca-trust`` (p11-kit's ``trust extract``) reads the files of the
  anchors directory whatever their name; whether it descends into
  subdirectories is not documented, so the collection marks its files with a
  prefix in that directory instead. Not run in the lab: unit-tested only.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat

from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import (
    parse_certificate,
    validate_named_ca_certificates,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import Transaction

VARIABLE = 'certificates (ca_trust_certificates)'
FILE_MODE = 0o644
FILE_PREFIX = 'buildfleet-mirrors-'

FAMILIES = {
    'debian': dict(
        command='update-ca-certificates',
        update=[], fresh=['--fresh'],
        directory='/usr/local/share/ca-certificates/buildfleet-mirrors',
        prefix='', suffix='.crt',
        bundle='/etc/ssl/certs/ca-certificates.crt',
        links='/etc/ssl/certs',
        package='ca-certificates',
    ),
    'redhat': dict(
        command='update-ca-trust',
        update=['extract'], fresh=['extract'],
        directory='/etc/pki/ca-trust/source/anchors',
        prefix=FILE_PREFIX, suffix='.pem',
        bundle='/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
        links=None,
        package='ca-certificates',
    ),
}

_PEM_CERTIFICATE = re.compile(r'-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----', re.S)


class Refusal(Exception):
    """Refused before any write: the host is unchanged."""


class Failure(Exception):
    """A step after the first write failed: every file went back."""


def python_default_trust():
    """The DER of every CA certificate Python's default SSL context loads (its default CA file, read now)."""
    import ssl
    context = ssl.create_default_context()
    return set(context.get_ca_certs(binary_form=True))


class Host:
    """What the writer needs from the managed host; the module builds it from AnsibleModule."""

    def __init__(self, run, which, warn, python_trust=python_default_trust, families=None,
                 atomic_move=None, backup_local=None):
        self.run = run                      # argv -> (rc, stdout, stderr)
        self.which = which                  # name -> path or None (sbin directories included)
        self.warn = warn
        self.python_trust = python_trust    # () -> set of DER that Python's default context trusts
        self.families = families or FAMILIES
        self.atomic_move = atomic_move
        self.backup_local = backup_local


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def bundle_certificates(data):
    """The DER of every CERTIFICATE block of a PEM bundle (bytes or text); unreadable blocks are skipped."""
    if data is None:
        return set()
    if isinstance(data, bytes):
        data = data.decode('ascii', 'replace')
    found = set()
    for match in _PEM_CERTIFICATE.finditer(data):
        try:
            found.add(base64.b64decode(''.join(match.group(1).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def describe(data):
    """What a diff shows of a certificate file: subject, issuer, fingerprint and validity, never the base64."""
    if data is None:
        return ''
    ders = list(_ordered_ders(data))
    if not ders:
        return '(%d bytes, no certificate)\n' % len(data)
    lines = []
    for der in ders:
        try:
            certificate = parse_certificate(der).as_dict()
        except Exception:  # a file of someone else's: say what it is without reading further
            lines.append('(a certificate this module cannot read, %d bytes)' % len(der))
            continue
        lines.extend(['subject: %s' % certificate['subject'], 'issuer: %s' % certificate['issuer'],
                      'sha256: %s' % certificate['sha256_fingerprint'],
                      'not_before: %s' % certificate['not_before'], 'not_after: %s' % certificate['not_after']])
    return '\n'.join(lines) + '\n'


def _ordered_ders(data):
    text = data.decode('ascii', 'replace') if isinstance(data, bytes) else data
    for match in _PEM_CERTIFICATE.finditer(text):
        try:
            yield base64.b64decode(''.join(match.group(1).split()), validate=True)
        except (binascii.Error, ValueError):
            continue


def _one_line(text):
    return ' '.join((text or '').split())


class CaWriter:
    """One ca_certificates run. :meth:`run` returns the result, or raises Refusal / Failure with it."""

    def __init__(self, host, params, check_mode=False, diff=False, now=None):
        self.host = host
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.now = now
        self.family = None
        self.layout = None
        self.command = None
        self.result = dict(changed=False, written=[], removed=[], certificates=[], bundle=None, family=None,
                           updated=False, verified=[], pruned=[])

    # --- reading and deciding ----------------------------------------------------------------------------------
    def find_family(self):
        for family, layout in self.host.families.items():
            command = self.host.which(layout['command'])
            if command:
                return family, layout, command
        names = ' or '.join(layout['command'] for layout in self.host.families.values())
        raise Refusal('no trust store update command (%s) on this host; install the ca-certificates package'
                      % names)

    def policy(self):
        """The validated entries (none for state absent); a PolicyError names the variable."""
        if self.params['state'] == 'absent':
            return []
        try:
            checked = validate_named_ca_certificates(self.params.get('certificates') or [], VARIABLE, self.now)
        except PolicyError as error:
            raise Refusal(str(error)) from None
        if not checked['entries']:
            raise Refusal('%s is empty; name at least one CA certificate, or use state absent to remove the '
                          'certificates this collection installed' % VARIABLE)
        return checked['entries']

    def path_of(self, file_name):
        """corp.crt -> the path of that certificate file in this family's layout."""
        stem = file_name[:-len('.crt')] if file_name.endswith('.crt') else file_name
        return os.path.join(self.layout['directory'], self.layout['prefix'] + stem + self.layout['suffix'])

    def installed(self):
        """The collection's files in the trust store now: {path: bytes}."""
        directory = self.layout['directory']
        found = {}
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return found
        for name in names:
            if not (name.startswith(self.layout['prefix']) and name.endswith(self.layout['suffix'])):
                continue
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[path] = _read(path)
        return found

    def check_link_names(self, wanted):
        """Debian links a local certificate as /etc/ssl/certs/<name>.pem: refuse a name whose link is another's."""
        links = self.layout.get('links')
        if not links:
            return
        own = os.path.realpath(self.layout['directory'])
        for path in wanted:
            stem = os.path.basename(path)[:-len(self.layout['suffix'])]
            link = os.path.join(links, stem + '.pem')
            if not os.path.lexists(link):
                continue
            target = os.path.realpath(link)
            if os.path.dirname(target) != own:
                raise Refusal('%s: the file name %s would replace %s, the link of %s in the trust store; '
                              'choose another name' % (VARIABLE, os.path.basename(path), link, target))

    def trusted(self):
        """(DER in the system bundle, DER Python's default context loads)."""
        in_bundle = bundle_certificates(_read(self.layout['bundle']))
        try:
            in_python = set(self.host.python_trust())
        except Exception as error:  # ssl errors and OSError alike: the check could not be made
            raise Failure('Python could not load its default trust: %s' % error)
        return in_bundle, in_python

    # --- acting ------------------------------------------------------------------------------------------------
    def update(self, fresh):
        argv = [self.command] + list(self.layout['fresh'] if fresh else self.layout['update'])
        rc, out, err = self.host.run(argv)
        if rc != 0:
            raise Failure('%s failed (rc %s): %s' % (' '.join(argv), rc, _one_line(err or out) or 'no output'))
        self.result['updated'] = True
        return _one_line(out)

    def verify(self, wanted_ders, gone_ders):
        in_bundle, in_python = self.trusted()
        missing = [name for der, name in wanted_ders if der not in in_bundle]
        if missing:
            raise Failure('after the update, %s does not hold %s' % (self.layout['bundle'], ', '.join(missing)))
        missing = [name for der, name in wanted_ders if der not in in_python]
        if missing:
            raise Failure("Python's default SSL context does not load %s after the update" % ', '.join(missing))
        still = [name for der, name in gone_ders if der in in_bundle]
        if still:
            self.host.warn('%s still holds %s after the removal: another file of the trust store provides it'
                           % (self.layout['bundle'], ', '.join(still)))
        verified = []
        if wanted_ders:
            verified = ['the system bundle %s' % self.layout['bundle'], "Python's default SSL context"]
        elif gone_ders and not still:
            verified = ['the system bundle %s (removed)' % self.layout['bundle']]
        return verified

    # --- the run -----------------------------------------------------------------------------------------------
    def run(self):
        entries = self.policy()
        self.family, self.layout, self.command = self.find_family()
        self.result.update(family=self.family, bundle=self.layout['bundle'])
        for entry in entries:
            for certificate in entry['certificates']:
                if certificate['strict_findings']:
                    findings = ', '.join(certificate['strict_findings'])
                    self.host.warn('%s %s (%s): %s; Python 3.13 and newer refuse what it signs (X509 strict), '
                                   'Go and curl accept it' % (VARIABLE, entry['name'], certificate['subject'], findings))
                if not certificate['is_self_signed']:
                    self.host.warn('%s %s (%s) is not self-signed: Go trusts it as an anchor, OpenSSL clients '
                                   'only with partial chains' % (VARIABLE, entry['name'], certificate['subject']))

        wanted = {}          # path -> PEM text
        wanted_ders = []     # (DER, shown name)
        for entry in entries:
            for file_entry, certificate in zip(entry['files'], entry['certificates']):
                path = self.path_of(file_entry['name'])
                wanted[path] = file_entry['content']
                wanted_ders.append((base64.b64decode(''.join(
                    line for line in file_entry['content'].splitlines() if not line.startswith('-----'))),
                    '%s (%s)' % (entry['name'], certificate['subject'])))
                self.result['certificates'].append(dict(
                    entry=entry['name'], path=path, subject=certificate['subject'],
                    sha256_fingerprint=certificate['sha256_fingerprint'], not_after=certificate['not_after']))
        self.check_link_names(wanted)

        have = self.installed()
        changes = []         # (path, new text or None, old bytes or None)
        for path, text in wanted.items():
            current = have.get(path)
            if current is None and os.path.lexists(path):
                raise Refusal('%s exists and is not a regular file; refusing to replace it' % path)
            mode_ok = current is not None and stat.S_IMODE(os.lstat(path).st_mode) == FILE_MODE
            if current != text.encode('ascii') or not mode_ok:
                changes.append((path, text, current))
        for path, current in have.items():
            if path not in wanted:
                changes.append((path, None, current))
        gone_ders = []
        for path, text, before in changes:
            if text is None:
                gone_ders.extend((der, os.path.basename(path)) for der in _ordered_ders(before or b''))
        removal = any(text is None for path, text, before in changes)

        in_bundle = bundle_certificates(_read(self.layout['bundle']))
        drift = [name for der, name in wanted_ders if der not in in_bundle]
        needs_update = bool(changes) or bool(drift)

        self.result['written'] = [path for path, dummy, dummy2 in changes]
        self.result['removed'] = [path for path, text, dummy in changes if text is None]
        self.result['changed'] = needs_update
        if self.want_diff and changes:
            self.result['diff'] = [dict(before_header=path if before is not None else '%s (absent)' % path,
                                        after_header=path if text is not None else '%s (removed)' % path,
                                        before=describe(before), after=describe(text))
                                   for path, text, before in changes]

        if self.check_mode:
            self.result['msg'] = self.summary(changes, drift, would=True)
            return self.result
        if not needs_update:
            if wanted_ders:
                in_python = self.trusted()[1]
                if all(der in in_python for der, name in wanted_ders):
                    self.result['verified'] = ['the system bundle %s' % self.layout['bundle'],
                                               "Python's default SSL context"]
            self.result['msg'] = self.summary(changes, drift)
            return self.result

        txn = Transaction(self.host.atomic_move, self.host.backup_local)
        try:
            for path, text, before in changes:
                if text is None:
                    # The Debian directory is the collection's own: it goes when its last certificate goes.
                    txn.remove(path, prune_empty_dir=not self.layout['prefix'])
                else:
                    txn.write(path, text, FILE_MODE)
            said = self.update(fresh=removal)
            verified = self.verify(wanted_ders, gone_ders)
        except (Failure, OSError, ValueError) as error:
            cause = str(error) if isinstance(error, Failure) else 'writing the certificates failed: %s' % error
            touched = txn.changed_paths
            problems = txn.restore()
            again = None
            if touched:
                try:
                    self.update(fresh=True)
                except Failure as second:
                    again = str(second)
            self.result.update(changed=False, written=[], removed=[], verified=[], updated=False)
            self.result.pop('diff', None)
            msg = cause.rstrip('.')
            if problems:
                msg += '. Putting the files back failed: %s' % '; '.join(problems)
            elif touched:
                msg += '. Every file this run changed was restored byte for byte (%s)' % ', '.join(touched)
            if again:
                msg += ', but updating the trust store again failed too: %s' % again
            elif touched:
                msg += ', and the trust store was updated from them again'
            raise Failure(msg + '.') from None
        self.result['verified'] = verified
        self.result['msg'] = self.summary(changes, drift) + ('; %s said: %s' % (self.layout['command'], said)
                                                             if said else '')
        return self.result

    def summary(self, changes, drift, would=False):
        verb = 'would be ' if would else ''
        parts = []
        for path, text, before in changes:
            parts.append('%s %s%s' % (path, verb, 'removed' if text is None else 'updated' if before is not None
                                      else 'created'))
        if changes or drift:
            if drift and not changes:
                parts.append('%s lacks %s' % (self.layout['bundle'], ', '.join(drift)))
            fresh = ' --fresh' if self.family == 'debian' and any(text is None for path, text, before in changes) \
                else ''
            parts.append('%s%s %s' % (self.layout['command'], fresh, 'would run' if would else 'ran, and the '
                                      'certificates are %s' % ('in the system bundle and Python\'s default trust'
                                                               if self.params['state'] == 'present'
                                                               else 'out of the system bundle')))
        else:
            parts.append('nothing to change: the trust store already holds exactly the policy\'s certificates'
                         if self.params['state'] == 'present'
                         else 'nothing to remove: no certificate of this collection is installed')
        return '; '.join(parts)
