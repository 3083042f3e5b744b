# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CA certificates in PEM text, checked against certificates and keys that the openssl CLI makes.

Every field the reader returns is compared with what openssl (fingerprint,
serial, dates, PEM) or the cryptography library (RFC 4514 names) says of the
same certificate, and every refusal is checked for naming the variable and for
showing nothing of the certificate or key body.
"""

from __future__ import annotations

import base64
import datetime
import random
import re
import shutil
import subprocess

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _certificates
from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import (
    parse_certificate,
    read_ca_certificates,
    validate_ca_bundle,
    validate_named_ca_certificates,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

pytestmark = pytest.mark.skipif(shutil.which('openssl') is None, reason='needs the openssl CLI')

# An hour ahead: the fixture makes its certificates after this module is imported.
NOW = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
GOOD_CAS = ['root', 'intermediate', 'ec-root', 'unicode-root', 'multi-rdn']


def body_lines(text):
    """The base64 lines of every block of a text: none of them may appear in a message."""
    return [line.strip() for line in text.splitlines() if len(line.strip()) >= 16 and
            re.fullmatch(r'[A-Za-z0-9+/=]+', line.strip())]


def refusal(function, *args, **kwargs):
    with pytest.raises(PolicyError) as caught:
        function(*args, **kwargs)
    return str(caught.value)


def assert_nothing_secret(message, *texts):
    for text in texts:
        for line in body_lines(text):
            assert line[:16] not in message
    assert 'MII' not in message  # how the base64 of every DER certificate and key starts
    assert '\n' not in message


# ---------------------------------------------------------------------------
# Reading certificates: every field as openssl and cryptography read it
# ---------------------------------------------------------------------------

def openssl_time(value):
    return datetime.datetime.strptime(value, '%b %d %H:%M:%S %Y GMT').replace(tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize('stem', GOOD_CAS + ['leaf', 'v1', 'expired', 'future'])
def test_every_field_agrees_with_openssl_and_cryptography(pki, stem):
    x509 = pytest.importorskip('cryptography.x509')
    certificate = parse_certificate(pki.der(stem))
    reference = x509.load_der_x509_certificate(pki.der(stem))
    assert certificate.subject == reference.subject.rfc4514_string()
    assert certificate.issuer == reference.issuer.rfc4514_string()
    printed = pki.run('x509', '-in', stem + '.pem', '-noout', '-fingerprint', '-sha256', '-serial',
                      '-startdate', '-enddate')
    fields = dict(line.split('=', 1) for line in printed.splitlines())
    assert certificate.sha256_fingerprint == fields['sha256 Fingerprint']
    # openssl prints the serial without leading zeros; the reader keeps whole bytes (0C:09...).
    assert (certificate.serial_number.replace(':', '').lstrip('0') or '0') == (fields['serial'].lstrip('0') or '0')
    assert certificate.not_before == openssl_time(fields['notBefore'])
    assert certificate.not_after == openssl_time(fields['notAfter'])
    assert certificate.pem == pki.run('x509', '-in', stem + '.pem')


def test_names_are_escaped_as_rfc_4514_says(pki):
    assert parse_certificate(pki.der('root')).subject == \
        r'CN=Corp Root CA,OU=Platform\+Tools,O=Corp\, Inc.,DC=corp,DC=example'
    assert parse_certificate(pki.der('ec-root')).subject == r'CN=\  spaced \ ,O=Ex\"ample #1,L=Berlin,ST=Berlin,C=DE'
    assert parse_certificate(pki.der('unicode-root')).subject == 'CN=Ünïcode Root,O=Zürich Größe'
    assert parse_certificate(pki.der('multi-rdn')).subject == 'CN=Multi+OU=Valued,O=Corp'


def test_a_control_character_in_a_name_cannot_break_a_message_line():
    assert _certificates._escape_value('evil\nline') == 'evil\\0Aline'


@pytest.mark.parametrize('stem, self_signed, path_length', [
    ('root', True, None), ('intermediate', False, 0), ('ec-root', True, None), ('leaf', False, None)])
def test_self_signed_and_path_length(pki, stem, self_signed, path_length):
    certificate = parse_certificate(pki.der(stem))
    assert certificate.is_self_signed is self_signed
    assert certificate.path_length == path_length


@pytest.mark.parametrize('issuer, findings, openssl_error', [
    ('root', [], None),
    ('loose-constraints', ['basicConstraints is not marked critical'], 'Basic Constraints of CA cert not marked critical'),
    ('no-key-usage', ['no keyUsage extension'], 'CA cert does not include key usage extension'),
])
def test_strict_findings_are_what_openssl_strict_verification_refuses(pki, issuer, findings, openssl_error):
    """The CA is accepted (Go and curl trust it) but reported, since strict verification refuses what it signed."""
    result = validate_ca_bundle(pki.text(issuer), 'x', NOW)
    assert result['certificates'][0]['strict_findings'] == findings
    lax = subprocess.run(['openssl', 'verify', '-CAfile', issuer + '.pem', issuer + '-server.pem'], cwd=str(pki.dir),
                         capture_output=True, text=True, check=False)
    strict = subprocess.run(['openssl', 'verify', '-x509_strict', '-CAfile', issuer + '.pem', issuer + '-server.pem'],
                            cwd=str(pki.dir), capture_output=True, text=True, check=False)
    assert lax.returncode == 0, lax.stdout + lax.stderr
    if openssl_error:
        assert strict.returncode != 0 and openssl_error in strict.stdout + strict.stderr
    else:
        assert strict.returncode == 0, strict.stdout + strict.stderr


def test_a_bundle_is_normalised_from_its_der(pki):
    expected = pki.run('x509', '-in', 'root.pem') + pki.run('x509', '-in', 'intermediate.pem')
    messy = ('# Corp trust, 2026\r\n\r\n  ' + pki.text('root').replace('\n', '  \r\n') + '\n\n# the mirrors CA\n'
             + pki.text('intermediate').rstrip('\n'))
    result = validate_ca_bundle(messy, 'docker_mirrors_ca_certificates', NOW)
    assert result['pem'] == expected
    assert result['pem'].endswith('-----END CERTIFICATE-----\n') and '\r' not in result['pem']
    assert [item['subject'] for item in result['certificates']] == ['CN=Corp Root CA,OU=Platform\\+Tools,'
                                                                    'O=Corp\\, Inc.,DC=corp,DC=example',
                                                                    'CN=Corp Mirrors CA,O=Corp']
    assert validate_ca_bundle(result['pem'], 'x', NOW) == result  # idempotent
    described = result['certificates'][1]
    assert sorted(described) == ['is_self_signed', 'issuer', 'not_after', 'not_before', 'path_length', 'pem',
                                 'serial_number', 'sha256_fingerprint', 'strict_findings', 'subject']
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', described['not_after'])
    assert described['issuer'] == result['certificates'][0]['subject']


def test_a_byte_order_mark_is_not_text(pki):
    assert validate_ca_bundle('\ufeff' + pki.text('root'), 'x', NOW)['pem'] == pki.run('x509', '-in', 'root.pem')
    assert 'text outside any PEM block at line 2' in refusal(validate_ca_bundle, '\n\ufeff' + pki.text('root'), 'x', NOW)


def test_validity_is_judged_at_now(pki):
    certificate = parse_certificate(pki.der('root'))
    text = pki.text('root')
    assert read_ca_certificates(text, 'x', certificate.not_after)  # the last valid second
    assert read_ca_certificates(text, 'x', certificate.not_before)  # the first one
    late = certificate.not_after + datetime.timedelta(seconds=1)
    assert 'expired on' in refusal(read_ca_certificates, text, 'x', late)
    assert 'expired on' in refusal(read_ca_certificates, text, 'x', _certificates.iso_time(late))
    early = (certificate.not_before - datetime.timedelta(seconds=1)).replace(tzinfo=None)  # naive reads as UTC
    assert 'is not valid yet' in refusal(read_ca_certificates, text, 'x', early)
    assert 'now must be an ISO 8601 time' in refusal(read_ca_certificates, text, 'x', 'yesterday')


# ---------------------------------------------------------------------------
# Refusals: each names the variable, none shows a body
# ---------------------------------------------------------------------------

KEY_FILES = {'pkcs8.key': 'PRIVATE KEY', 'rsa-traditional.key': 'RSA PRIVATE KEY', 'ec.key': 'EC PRIVATE KEY',
             'encrypted.key': 'ENCRYPTED PRIVATE KEY', 'legacy-encrypted.key': 'RSA PRIVATE KEY'}


@pytest.mark.parametrize('key_file', sorted(KEY_FILES))
@pytest.mark.parametrize('arrangement', ['alone', 'after a certificate', 'before a certificate',
                                         'after other faults', 'cut short'])
def test_a_private_key_is_refused_first_and_never_shown(pki, key_file, arrangement):
    key, root = pki.text(key_file), pki.text('root')
    text = {'alone': key,
            'after a certificate': root + key,
            'before a certificate': key + root,
            'after other faults': 'some prose\n' + pki.text('leaf') + key,
            'cut short': root + '\n'.join(re.search('-----BEGIN [A-Z ]*PRIVATE KEY-----.*', key, re.S).group(0)
                                          .splitlines()[:3])}[arrangement]
    message = refusal(validate_ca_bundle, text, 'docker_mirrors_ca_certificates', NOW)
    assert message.startswith('docker_mirrors_ca_certificates holds a private key (a %s block at line '
                              % KEY_FILES[key_file])
    assert_nothing_secret(message, key, root)


def test_the_key_line_is_counted_in_the_text_as_given(pki):
    text = pki.text('root').replace('\n', '\r\n') + pki.text('ec.key')
    line = len(pki.text('root').splitlines()) + 1 + pki.text('ec.key').splitlines().index(
        '-----BEGIN EC PRIVATE KEY-----')
    assert 'block at line %d)' % line in refusal(validate_ca_bundle, text, 'x', NOW)


def cut_der(pki):
    """Valid base64 of a certificate's DER with its end cut off."""
    return '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % base64.b64encode(
        pki.der('root')[:-40]).decode()


REFUSED_TEXTS = {
    'empty': (lambda pki: '', 'holds no certificate'),
    'blank': (lambda pki: ' \n\t\n', 'holds no certificate'),
    'comments only': (lambda pki: '# nothing here\n', 'holds no certificate'),
    'a server certificate': (lambda pki: pki.text('leaf'),
                             'certificate (line 1, CN=mirror.corp.example.com) is not a CA certificate: its '
                             'basicConstraints say CA:FALSE'),
    'no basicConstraints': (lambda pki: pki.text('no-constraints'), 'it has no basicConstraints extension'),
    'an X.509 v1 certificate': (lambda pki: pki.text('v1'), 'an X.509 v1 certificate, which has no extensions'),
    'keyUsage without keyCertSign': (lambda pki: pki.text('no-cert-sign'), 'its keyUsage lacks keyCertSign'),
    'expired': (lambda pki: pki.text('expired'),
                'certificate (line 1, CN=Expired CA) expired on 2001-01-01T00:00:00Z (now is '),
    'not yet valid': (lambda pki: pki.text('future'),
                      'certificate (line 1, CN=Future CA) is not valid yet: its validity starts 2090-01-01T00:00:00Z'),
    'the second of two is expired': (lambda pki: pki.text('root') + pki.text('expired'),
                                     'certificate 2 of 2 (line %d, CN=Expired CA) expired'),
    'openssl -text output': (lambda pki: pki.text('root-with-text.pem'), 'has text outside any PEM block at line 1;'),
    'prose after the block': (lambda pki: pki.text('root') + 'thanks, Bob\n', 'text outside any PEM block at line'),
    'a trusted certificate': (lambda pki: pki.text('trusted.pem'), 'OpenSSL TRUSTED CERTIFICATE block at line 1'),
    'a certificate request': (lambda pki: (pki.dir / 'leaf.csr').read_text(),
                              "has a 'CERTIFICATE REQUEST' block at line 1; only CERTIFICATE blocks"),
    'a character that is not base64': (lambda pki: re.sub(r'(?m)^M', '*', pki.text('root'), count=1),
                                       'with a line that is not base64 (line'),
    'a lost character': (lambda pki: re.sub(r'(?m)^(M.{62}).$', r'\1', pki.text('root'), count=1),
                         'whose base64 does not decode'),
    'a cut certificate': (cut_der, 'is not a valid X.509 certificate: it is truncated'),
    'base64 of something else': (lambda pki: '-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n'
                                 '-----END CERTIFICATE-----\n', 'is not a valid X.509 certificate'),
    'no END marker': (lambda pki: pki.text('root').rsplit('-----END', 1)[0], 'with no END marker (the text was cut)'),
    'two BEGIN markers': (lambda pki: pki.text('root').rsplit('-----END', 1)[0] + pki.text('intermediate'),
                          'with no END marker before the next BEGIN marker'),
    'an END without BEGIN': (lambda pki: pki.text('root') + '-----END CERTIFICATE-----\n',
                             'has an END marker at line %d without a BEGIN marker before it'),
    'mismatched END': (lambda pki: pki.text('root').replace('END CERTIFICATE', 'END X509 CRL'),
                       'ends with a different END marker'),
    'the same certificate twice': (lambda pki: pki.text('root') + pki.text('root'),
                                   'certificate 2 of 2 (line %d, CN=Corp Root CA,OU=Platform\\+Tools,O=Corp\\, Inc.,'
                                   'DC=corp,DC=example) is the same certificate as certificate 1'),
}


@pytest.mark.parametrize('case', sorted(REFUSED_TEXTS))
def test_a_bad_text_is_refused_with_the_variable_and_no_body(pki, case):
    make, expected = REFUSED_TEXTS[case]
    text = make(pki)
    if '%d' in expected:
        expected %= len(pki.text('root').splitlines()) + 1
    message = refusal(validate_ca_bundle, text, 'docker_mirrors_ca_certificates', NOW)
    assert message.startswith('docker_mirrors_ca_certificates ')
    assert expected in message
    assert_nothing_secret(message, text)


@pytest.mark.parametrize('value, expected', [
    (None, 'must be PEM text'), (b'-----BEGIN CERTIFICATE-----', 'got bytes'), (42, 'got int')])
def test_a_value_that_is_not_text_is_refused(value, expected):
    assert expected in refusal(validate_ca_bundle, value, 'docker_mirrors_ca_certificates', NOW)


def test_no_damaged_der_escapes_as_another_error(pki):
    """Cuts and flipped bytes anywhere in a certificate give a PolicyError or a certificate, never a crash."""
    der = pki.der('intermediate')
    generator = random.Random(14)
    damaged = [der[:length] for length in range(0, len(der), 7)]
    for dummy in range(600):
        copy = bytearray(der)
        for dummy_flip in range(generator.randint(1, 3)):
            copy[generator.randrange(len(copy))] = generator.randrange(256)
        damaged.append(bytes(copy))
    for data in damaged:
        text = '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % base64.b64encode(data).decode()
        try:
            validate_ca_bundle(text, 'x', NOW)
        except PolicyError as error:
            assert str(error).startswith('x ')


# ---------------------------------------------------------------------------
# Named certificates (ca_trust_certificates)
# ---------------------------------------------------------------------------

def test_named_certificates_give_entries_files_and_one_bundle(pki):
    entries = [{'name': 'corp-root', 'content': pki.text('root') + pki.text('intermediate')},
               {'name': 'lab_2026.ec', 'content': pki.text('ec-root').replace('\n', '\r\n')}]
    result = validate_named_ca_certificates(entries, 'ca_trust_certificates', NOW)
    root, intermediate, ec_root = (pki.run('x509', '-in', stem + '.pem') for stem in ('root', 'intermediate', 'ec-root'))
    assert [entry['name'] for entry in result['entries']] == ['corp-root', 'lab_2026.ec']
    assert result['entries'][0]['content'] == root + intermediate
    assert result['entries'][0]['files'] == [{'name': 'corp-root-1.crt', 'content': root},
                                             {'name': 'corp-root-2.crt', 'content': intermediate}]
    assert result['entries'][1]['files'] == [{'name': 'lab_2026.ec.crt', 'content': ec_root}]
    assert result['pem'] == root + intermediate + ec_root
    assert [item['entry'] for item in result['certificates']] == ['corp-root', 'corp-root', 'lab_2026.ec']
    assert result['entries'][1]['certificates'] == result['certificates'][2:]


@pytest.mark.parametrize('entries', [None, []])
def test_no_named_certificates(entries):
    assert validate_named_ca_certificates(entries, 'ca_trust_certificates', NOW) == \
        {'pem': '', 'certificates': [], 'entries': []}


NAMED_REFUSALS = {
    'a string': (lambda root, key: root, 'ca_trust_certificates must be a list of {name, content} items, got str'),
    'an item that is a string': (lambda root, key: [root], 'ca_trust_certificates[0] must be a dict with the keys name'),
    'an unknown key': (lambda root, key: [{'name': 'a', 'contents': root}],
                       "ca_trust_certificates[0] has the unknown key 'contents'"),
    'no name': (lambda root, key: [{'content': root}], 'ca_trust_certificates[0] needs a name'),
    'a number as name': (lambda root, key: [{'name': 7, 'content': root}], 'needs a name (the file name of the '
                         'certificate, such as corp-root), got int'),
    'no content': (lambda root, key: [{'name': 'a'}], 'ca_trust_certificates[0] (name a) has no content'),
    'a duplicate name': (lambda root, key: [{'name': 'Corp', 'content': root}, {'name': 'corp', 'content': root}],
                         "ca_trust_certificates[1] name 'corp' is already the name of ca_trust_certificates[0]"),
    'the same certificate in two items': (
        lambda root, key: [{'name': 'a', 'content': root}, {'name': 'b', 'content': root}],
        'ca_trust_certificates[1] (name b) certificate 1 (CN=Corp Root CA,OU=Platform\\+Tools,O=Corp\\, Inc.,'
        'DC=corp,DC=example) is also in ca_trust_certificates[0] (name a)'),
    'a private key in the second item': (
        lambda root, key: [{'name': 'a', 'content': root}, {'name': 'corp-root', 'content': root + key}],
        'ca_trust_certificates[1] (name corp-root) holds a private key (a EC PRIVATE KEY block at line'),
}


@pytest.mark.parametrize('case', sorted(NAMED_REFUSALS))
def test_bad_named_certificates_are_refused(pki, case):
    make, expected = NAMED_REFUSALS[case]
    ec_key = pki.text('ec.key')
    value = make(pki.text('root'), ec_key)
    message = refusal(validate_named_ca_certificates, value, 'ca_trust_certificates', NOW)
    assert expected in message
    assert_nothing_secret(message, pki.text('root'), ec_key)


@pytest.mark.parametrize('name', ['.hidden', '..', 'a/b', '../etc', 'a b', 'corp$root', 'x' * 65, 'ü', '-'[:0]])
def test_an_unsafe_file_name_is_refused(pki, name):
    message = refusal(validate_named_ca_certificates, [{'name': name, 'content': pki.text('root')}],
                      'ca_trust_certificates', NOW)
    assert message.startswith('ca_trust_certificates[0] ')
    assert 'is not a safe file name' in message or 'needs a name' in message


@pytest.mark.parametrize('name', ['corp-root', 'Corp_Root.2026', '0', 'a.b.c', 'x' * 64])
def test_a_safe_file_name_is_accepted(pki, name):
    result = validate_named_ca_certificates([{'name': name, 'content': pki.text('root')}], 'ca_trust_certificates', NOW)
    assert result['entries'][0]['files'][0]['name'] == name + '.crt'


def test_two_items_may_not_write_the_same_file(pki):
    entries = [{'name': 'corp', 'content': pki.text('root') + pki.text('intermediate')},
               {'name': 'corp-2', 'content': pki.text('ec-root')}]
    assert 'ca_trust_certificates[1] (name corp-2) would be written as corp-2.crt, which ca_trust_certificates[0] ' \
        '(name corp) writes too' in refusal(validate_named_ca_certificates, entries, 'ca_trust_certificates', NOW)


def test_an_expired_certificate_in_an_item_names_the_item(pki):
    entries = [{'name': 'corp-root', 'content': pki.text('root')}, {'name': 'old', 'content': pki.text('expired')}]
    message = refusal(validate_named_ca_certificates, entries, 'ca_trust_certificates', NOW)
    assert message.startswith('ca_trust_certificates[1] (name old) certificate (line 1, CN=Expired CA) expired on '
                              '2001-01-01T00:00:00Z')
