# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ca_certificates' transaction on a temporary tree, with a stand-in update command that works as the real ones do.

The stand-in update-ca-certificates builds the bundle from the distro's
certificates and every ``*.crt`` below the local directory (``find -L``), links
each local certificate as ``<links>/<name>.pem``, and (like the real script)
drops the links of removed files only with ``--fresh``. The stand-in
update-ca-trust builds its bundle from every file of the anchors directory.
Python's default trust is read from the bundle, as Debian's OpenSSL does.
Files are real; only the commands are simulated, so the host's trust store is
never touched.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._ca_writer import (
    FAMILIES,
    CaWriter,
    Failure,
    Host,
    Refusal,
    bundle_certificates,
)


class FakeTrustStore:
    """update-ca-certificates / update-ca-trust on a temporary tree."""

    def __init__(self, root, family='debian', distro_pem=''):
        self.root = str(root)
        self.family = family
        self.layout = {}
        for name, layout in FAMILIES.items():
            moved = dict(layout)
            for key in ('directory', 'bundle', 'links'):
                if moved[key]:
                    moved[key] = self.root + moved[key]
            self.layout[name] = moved
        self.store = self.layout[family]
        os.makedirs(os.path.dirname(self.store['bundle']), exist_ok=True)
        self.distro_pem = distro_pem
        self.calls = []
        self.fail_update = False
        self.leave_out = None      # a PEM the update "forgets" (a broken hook)
        self.python_sees = True
        self.warnings = []
        self.update([])

    def which(self, name):
        return '/fake/' + name if name == self.store['command'] else None

    def local_files(self):
        found = []
        directory = self.store['directory']
        if self.family == 'debian':
            for base, dirs, files in os.walk(os.path.dirname(directory), followlinks=True):
                found.extend(os.path.join(base, name) for name in sorted(files) if name.endswith('.crt'))
        elif os.path.isdir(directory):
            found.extend(os.path.join(directory, name) for name in sorted(os.listdir(directory)))
        return found

    def update(self, arguments):
        pems = [self.distro_pem]
        links = self.store['links']
        if links:
            os.makedirs(links, exist_ok=True)
            if '--fresh' in arguments:
                for name in os.listdir(links):
                    if os.path.islink(os.path.join(links, name)):
                        os.unlink(os.path.join(links, name))
        for path in self.local_files():
            text = open(path).read()
            if self.leave_out and text == self.leave_out:
                continue
            pems.append(text)
            if links:
                link = os.path.join(links, os.path.basename(path)[:-4] + '.pem')
                if not os.path.lexists(link):
                    os.symlink(path, link)
        with open(self.store['bundle'], 'w') as stream:
            stream.write(''.join(pems))

    def run(self, argv):
        self.calls.append(list(argv))
        if self.fail_update:
            return 1, '', 'E: run-parts: /etc/ca-certificates/update.d/jks-keystore exited with return code 1'
        self.update(argv[1:])
        return 0, 'Updating certificates... done.', ''

    def python_trust(self):
        return bundle_certificates(open(self.store['bundle']).read()) if self.python_sees else set()

    def host(self):
        return Host(run=self.run, which=self.which, warn=self.warnings.append, python_trust=self.python_trust,
                    families={self.family: self.store})

    def tree(self):
        """Every path below the root with its bytes (files), target (links) or None (directories)."""
        found = {}
        for base, dirs, files in os.walk(self.root):
            for name in dirs + files:
                path = os.path.join(base, name)
                if os.path.islink(path):
                    found[path] = ('link', os.readlink(path))
                elif os.path.isfile(path):
                    found[path] = ('file', open(path, 'rb').read(), stat.S_IMODE(os.stat(path).st_mode))
                else:
                    found[path] = ('dir',)
        return found


def params(*entries, state='present'):
    return dict(certificates=[dict(name=name, content=content) for name, content in entries], state=state)


def run(store, parameters, check_mode=False, diff=False):
    return CaWriter(store.host(), parameters, check_mode=check_mode, diff=diff).run()


@pytest.fixture
def debian(tmp_path, pki):
    return FakeTrustStore(tmp_path, 'debian', distro_pem=pki.text('ec-root'))


def test_debian_writes_one_file_per_certificate_updates_and_verifies(debian, pki):
    chain = pki.text('root') + pki.text('intermediate')
    result = run(debian, params(('corp', chain), ('lab', pki.text('unicode-root'))), diff=True)
    directory = debian.store['directory']
    assert result['changed'] is True
    assert result['written'] == [directory + '/corp-1.crt', directory + '/corp-2.crt', directory + '/lab.crt']
    assert open(directory + '/corp-1.crt').read() == pki.text('root').replace('\r\n', '\n')
    assert stat.S_IMODE(os.stat(directory + '/lab.crt').st_mode) == 0o644
    assert debian.calls == [['/fake/update-ca-certificates']]
    bundle = bundle_certificates(open(debian.store['bundle']).read())
    assert {pki.der('root'), pki.der('intermediate'), pki.der('unicode-root'), pki.der('ec-root')} <= bundle
    assert result['verified'] == ['the system bundle %s' % debian.store['bundle'], "Python's default SSL context"]
    assert [item['entry'] for item in result['certificates']] == ['corp', 'corp', 'lab']
    assert result['certificates'][0]['sha256_fingerprint'].count(':') == 31
    # The diff names each certificate by subject and fingerprint, never with its base64.
    assert len(result['diff']) == 3
    assert 'subject: ' in result['diff'][0]['after'] and 'sha256: ' in result['diff'][0]['after']
    assert 'BEGIN CERTIFICATE' not in str(result['diff'])
    assert result['diff'][0]['before_header'].endswith('(absent)')
    # The intermediate is no self-signed anchor: a warning says what that means for OpenSSL clients.
    assert any('not self-signed' in warning for warning in debian.warnings)


def test_second_run_changes_nothing_and_runs_no_update(debian, pki):
    run(debian, params(('corp', pki.text('root'))))
    debian.calls.clear()
    result = run(debian, params(('corp', pki.text('root'))))
    assert result['changed'] is False and result['written'] == []
    assert debian.calls == []
    assert result['verified'] == ['the system bundle %s' % debian.store['bundle'], "Python's default SSL context"]
    assert result['msg'].startswith('nothing to change')


def test_check_mode_predicts_and_writes_nothing(debian, pki):
    before = debian.tree()
    result = run(debian, params(('corp', pki.text('root'))), check_mode=True, diff=True)
    assert result['changed'] is True
    assert result['written'] == [debian.store['directory'] + '/corp.crt']
    assert 'would run' in result['msg']
    assert debian.tree() == before and debian.calls == []


def test_a_file_the_update_left_out_of_the_bundle_is_applied_again(debian, pki):
    run(debian, params(('corp', pki.text('root'))))
    debian.update([])
    with open(debian.store['bundle'], 'w') as stream:
        stream.write(debian.distro_pem)  # someone rebuilt the bundle without the local certificates
    debian.calls.clear()
    result = run(debian, params(('corp', pki.text('root'))))
    assert result['changed'] is True and result['written'] == []
    assert debian.calls == [['/fake/update-ca-certificates']]
    assert pki.der('root') in bundle_certificates(open(debian.store['bundle']).read())


def test_a_certificate_left_out_of_the_policy_is_removed_with_a_fresh_update(debian, pki):
    run(debian, params(('corp', pki.text('root')), ('lab', pki.text('unicode-root'))))
    other = os.path.join(debian.store['directory'], 'notes.txt')   # not a certificate file: never ours to remove
    open(other, 'w').write('kept')
    debian.calls.clear()
    result = run(debian, params(('corp', pki.text('root'))), diff=True)
    lab = debian.store['directory'] + '/lab.crt'
    assert result['removed'] == [lab] and result['written'] == [lab]
    assert not os.path.exists(lab) and open(other).read() == 'kept'
    assert debian.calls == [['/fake/update-ca-certificates', '--fresh']]
    assert pki.der('unicode-root') not in bundle_certificates(open(debian.store['bundle']).read())
    assert not os.path.lexists(os.path.join(debian.store['links'], 'lab.pem'))  # --fresh dropped the dangling link
    assert result['diff'][0]['after_header'].endswith('(removed)')


def test_state_absent_removes_only_the_collections_files_and_its_directory(debian, pki):
    run(debian, params(('corp', pki.text('root'))))
    neighbour = os.path.join(os.path.dirname(debian.store['directory']), 'team.crt')
    open(neighbour, 'w').write(pki.text('multi-rdn'))
    debian.calls.clear()
    result = run(debian, params(state='absent'))
    assert result['changed'] is True and result['removed'] == [debian.store['directory'] + '/corp.crt']
    assert not os.path.exists(debian.store['directory'])
    assert open(neighbour).read() == pki.text('multi-rdn')
    assert debian.calls == [['/fake/update-ca-certificates', '--fresh']]
    bundle = bundle_certificates(open(debian.store['bundle']).read())
    assert pki.der('root') not in bundle and pki.der('multi-rdn') in bundle
    debian.calls.clear()
    again = run(debian, params(state='absent'))
    assert again['changed'] is False and debian.calls == []
    assert again['msg'].startswith('nothing to remove')


def test_a_failed_update_puts_every_file_back_and_updates_again(debian, pki):
    run(debian, params(('corp', pki.text('root'))))
    before = debian.tree()
    debian.calls.clear()
    debian.fail_update = True
    with pytest.raises(Failure) as failure:
        run(debian, params(('corp', pki.text('ec-root')), ('lab', pki.text('unicode-root'))))
    message = str(failure.value)
    assert 'update-ca-certificates failed (rc 1)' in message and 'jks-keystore' in message
    assert 'restored byte for byte' in message and 'updating the trust store again failed too' in message
    files = {path: value for path, value in debian.tree().items() if value[0] == 'file'}
    assert files == {path: value for path, value in before.items() if value[0] == 'file'}
    assert debian.calls == [['/fake/update-ca-certificates'], ['/fake/update-ca-certificates', '--fresh']]


def test_a_certificate_missing_from_the_bundle_after_the_update_rolls_back(debian, pki):
    before = debian.tree()
    debian.leave_out = pki.text('unicode-root')
    writer = CaWriter(debian.host(), params(('lab', pki.text('unicode-root'))))
    with pytest.raises(Failure) as failure:
        writer.run()
    assert 'does not hold lab (CN=' in str(failure.value)
    assert not os.path.exists(debian.store['directory'] + '/lab.crt')
    assert writer.result['changed'] is False and writer.result['written'] == []
    assert debian.calls[-1] == ['/fake/update-ca-certificates', '--fresh']
    assert {p: v for p, v in debian.tree().items() if v[0] == 'file'} == \
        {p: v for p, v in before.items() if v[0] == 'file'}


def test_python_not_loading_the_certificate_rolls_back(debian, pki):
    debian.python_sees = False
    with pytest.raises(Failure) as failure:
        run(debian, params(('corp', pki.text('root'))))
    assert "Python's default SSL context does not load corp" in str(failure.value)
    assert not os.path.exists(debian.store['directory'] + '/corp.crt')
    assert pki.der('root') not in bundle_certificates(open(debian.store['bundle']).read())


@pytest.mark.parametrize('stem, content, expected', [
    ('expired', 'expired', "certificates (ca_trust_certificates)[0] (name bad)"),
    ('key', 'pkcs8.key', 'PRIVATE KEY'),
    ('leaf', 'leaf', 'not a CA'),
])
def test_bad_certificates_are_refused_with_the_host_unchanged(debian, pki, stem, content, expected):
    before = debian.tree()
    with pytest.raises(Refusal) as refusal:
        run(debian, params(('bad', pki.text(content))))
    assert expected in str(refusal.value)
    assert 'MII' not in str(refusal.value)  # no base64 of a certificate or a key
    assert debian.tree() == before and debian.calls == []


def test_an_empty_list_for_state_present_is_refused(debian):
    with pytest.raises(Refusal, match='is empty'):
        run(debian, params())


def test_a_name_whose_link_belongs_to_a_distro_certificate_is_refused(debian, pki):
    distro = os.path.join(debian.root, 'usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt')
    os.makedirs(os.path.dirname(distro))
    open(distro, 'w').write(pki.text('ec-root'))
    os.symlink(distro, os.path.join(debian.store['links'], 'ISRG_Root_X1.pem'))
    before = debian.tree()
    with pytest.raises(Refusal, match='would replace .*ISRG_Root_X1.pem.*choose another name'):
        run(debian, params(('ISRG_Root_X1', pki.text('root'))))
    assert debian.tree() == before


def test_no_update_command_is_a_refusal(debian, pki):
    host = debian.host()
    host.which = lambda name: None
    with pytest.raises(Refusal, match='install the ca-certificates package'):
        CaWriter(host, params(('corp', pki.text('root')))).run()


def test_redhat_layout_prefixes_its_files_and_never_removes_another_anchor(tmp_path, pki):
    store = FakeTrustStore(tmp_path, 'redhat', distro_pem=pki.text('ec-root'))
    anchors = store.store['directory']
    os.makedirs(anchors)
    open(os.path.join(anchors, 'corp-legacy.pem'), 'w').write(pki.text('multi-rdn'))
    result = run(store, params(('corp', pki.text('root') + pki.text('intermediate'))))
    assert result['family'] == 'redhat'
    assert result['written'] == [anchors + '/buildfleet-mirrors-corp-1.pem', anchors + '/buildfleet-mirrors-corp-2.pem']
    assert store.calls == [['/fake/update-ca-trust', 'extract']]
    assert result['bundle'].endswith('/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem')
    store.calls.clear()
    result = run(store, params(state='absent'))
    assert sorted(os.listdir(anchors)) == ['corp-legacy.pem']
    assert store.calls == [['/fake/update-ca-trust', 'extract']]
    assert pki.der('multi-rdn') in bundle_certificates(open(store.store['bundle']).read())
    assert pki.der('root') not in bundle_certificates(open(store.store['bundle']).read())
