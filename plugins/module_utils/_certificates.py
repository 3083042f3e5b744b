# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CA certificates in PEM text: read them, check that they can serve as trust anchors, and normalise them.

A policy carries CA certificates as PEM text (one or more ``CERTIFICATE``
blocks). Before anything is written, every certificate must parse, be a CA
(basicConstraints with CA:TRUE, and keyCertSign when keyUsage is present),
be valid at ``now``, and the text must carry no private key. The rules:

- Between the blocks only blank lines and comment lines (first non-blank
  character ``#``) may stand, as in the bundles that Mozilla, curl and
  ``ca-certificates`` ship. Any other text is refused: it is most often the
  ``openssl x509 -text`` dump, a truncated paste or a key without its markers,
  and we never guess which.
- A block whose label contains ``PRIVATE KEY`` (``PRIVATE KEY``, ``RSA PRIVATE
  KEY``, ``EC PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``, ``OPENSSH PRIVATE
  KEY``...) is refused before anything else is looked at, so the first message
  about such a text is always about the key. Any other label than
  ``CERTIFICATE`` is refused too.
- The normalised PEM is made from the DER: LF line endings, base64 in lines of
  64 characters, one trailing newline, comments dropped. The same input gives
  the same bytes on every controller, so the files written are idempotent.

No message ever shows the base64 of a block or the text of a refused line: a
message names the variable (``name``), the block's position (certificate
number and line) and, once the certificate has parsed, its subject, which is
public. ``is_self_signed`` compares names and key identifiers only: the
signature is not checked (no cryptography library is assumed on the host).

Pure Python, standard library only, no Ansible import: it runs on the
controller (filters) and on target hosts (modules) alike.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re

from dataclasses import dataclass

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)


# ---------------------------------------------------------------------------
# A minimal DER reader: just what an X.509 certificate needs.
# ---------------------------------------------------------------------------

class _DerError(ValueError):
    """A structural fault in the DER of a certificate (the message says which, never the bytes)."""


_BOOLEAN, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x01, 0x02, 0x03, 0x04, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_SEQUENCE, _SET = 0x30, 0x31


@dataclass(frozen=True)
class _Element:
    tag: int
    data: bytes  # the whole buffer
    start: int   # first content byte
    end: int     # one past the last content byte
    header: int  # where the element's tag is

    @property
    def content(self):
        return self.data[self.start:self.end]

    @property
    def encoded(self):
        """The element's own DER, tag and length included."""
        return self.data[self.header:self.end]

    def children(self):
        return list(_elements(self.data, self.start, self.end))


def _element_at(data, offset, limit):
    if offset + 2 > limit:
        raise _DerError('it ends in the middle of an element')
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise _DerError('it uses a multi-byte tag, which no certificate field has')
    length = data[offset + 1]
    start = offset + 2
    if length == 0x80:
        raise _DerError('it uses an indefinite length, which DER forbids')
    if length > 0x80:
        count = length & 0x7F
        if count > 4 or start + count > limit:
            raise _DerError('it has an impossible length')
        length = int.from_bytes(data[start:start + count], 'big')
        if data[start] == 0 or length < 0x80:
            raise _DerError('it has a length that is not in its shortest form, which DER requires')
        start += count
    end = start + length
    if end > limit:
        raise _DerError('it is truncated')
    return _Element(tag, data, start, end, offset)


def _elements(data, offset, limit):
    while offset < limit:
        element = _element_at(data, offset, limit)
        yield element
        offset = element.end


def _expect(element, tag, what):
    if element.tag != tag:
        raise _DerError('%s has tag 0x%02X, not 0x%02X' % (what, element.tag, tag))
    return element


def _oid(element):
    _expect(element, _OID, 'an object identifier')
    content = element.content
    if not content or content[-1] & 0x80:
        raise _DerError('it has a malformed object identifier')
    arcs, value = [], 0
    for byte in content:
        if value == 0 and byte == 0x80:
            raise _DerError('it has an object identifier that is not in its shortest form')
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return '.'.join(str(arc) for arc in [first, arcs[0] - 40 * first] + arcs[1:])


# ---------------------------------------------------------------------------
# Names (RFC 4514 strings) and times
# ---------------------------------------------------------------------------

# RFC 4514 section 3 names, then the ones OpenSSL and the cryptography library print.
_ATTRIBUTE_NAMES = {
    '2.5.4.3': 'CN', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C',
    '2.5.4.9': 'STREET', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
    '2.5.4.5': 'serialNumber', '2.5.4.4': 'SN', '2.5.4.42': 'GN', '2.5.4.12': 'title', '2.5.4.17': 'postalCode',
    '2.5.4.46': 'dnQualifier', '2.5.4.65': 'pseudonym', '2.5.4.97': 'organizationIdentifier',
    '1.2.840.113549.1.9.1': 'emailAddress',
}
# Directory string types and how their bytes read.
_STRING_CODECS = {
    0x0C: 'utf-8',      # UTF8String
    0x12: 'ascii',      # NumericString
    0x13: 'ascii',      # PrintableString
    0x14: 'latin-1',    # TeletexString (T.61; latin-1 is what every library actually does)
    0x16: 'ascii',      # IA5String
    0x1A: 'ascii',      # VisibleString
    0x1C: 'utf-32-be',  # UniversalString
    0x1E: 'utf-16-be',  # BMPString
}


def _escape_value(value):
    """RFC 4514 escaping, plus control characters as \\XX so a subject can never break a message line."""
    out = []
    for index, char in enumerate(value):
        if char in '\\"+,;<>' or (char == '#' and index == 0) or (char == ' ' and index in (0, len(value) - 1)):
            out.append('\\' + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0x80 <= ord(char) < 0xA0:
            out.append(''.join('\\%02X' % byte for byte in char.encode('utf-8')))
        else:
            out.append(char)
    return ''.join(out)


def _attribute_value(element):
    codec = _STRING_CODECS.get(element.tag)
    if codec is None:
        # RFC 4514: a value of another type is written as '#' and the hex of its DER.
        return '#' + binascii.hexlify(element.encoded).decode('ascii')
    try:
        return _escape_value(element.content.decode(codec))
    except UnicodeDecodeError:
        raise _DerError('it has a name attribute whose text does not decode') from None


def _name(element):
    """An X.501 Name as an RFC 4514 string: the last RDN first, multi-valued RDNs joined by '+'."""
    _expect(element, _SEQUENCE, 'a name')
    rdns = []
    for rdn in element.children():
        _expect(rdn, _SET, 'a relative distinguished name')
        parts = []
        for attribute in rdn.children():
            _expect(attribute, _SEQUENCE, 'a name attribute')
            items = attribute.children()
            if len(items) != 2:
                raise _DerError('it has a malformed name attribute')
            oid = _oid(items[0])
            parts.append('%s=%s' % (_ATTRIBUTE_NAMES.get(oid, oid), _attribute_value(items[1])))
        if not parts:
            raise _DerError('it has an empty relative distinguished name')
        rdns.append('+'.join(parts))
    return ','.join(reversed(rdns))


_TIME_FORMS = {
    _UTC_TIME: re.compile(r'^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$'),
    _GENERALIZED_TIME: re.compile(r'^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$'),
}


def _time(element):
    form = _TIME_FORMS.get(element.tag)
    if form is None:
        raise _DerError('it has a validity time that is neither UTCTime nor GeneralizedTime')
    match = form.match(element.content.decode('ascii', 'replace'))
    if not match:
        raise _DerError('it has a validity time that is not of the form DER requires (seconds and Z)')
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if element.tag == _UTC_TIME:
        year += 1900 if year >= 50 else 2000  # RFC 5280 4.1.2.5.1
    try:
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
    except ValueError:
        raise _DerError('it has a validity time that is not a real date') from None


def iso_time(moment):
    """A UTC moment as ``2026-01-31T12:00:00Z``."""
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

_BASIC_CONSTRAINTS, _KEY_USAGE = '2.5.29.19', '2.5.29.15'
_SUBJECT_KEY_ID, _AUTHORITY_KEY_ID = '2.5.29.14', '2.5.29.35'


@dataclass(frozen=True)
class Certificate:
    """What the policy needs to know of one X.509 certificate."""

    der: bytes
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    version: int                     # 1, 2 or 3, as people count them
    is_ca: bool                      # basicConstraints present with cA TRUE
    has_basic_constraints: bool
    path_length: int | None
    key_cert_sign: bool | None       # None: no keyUsage extension (no restriction)
    basic_constraints_critical: bool
    # Issuer equals subject and the key identifiers, where both are present, agree (the signature is not checked).
    is_self_signed: bool

    @property
    def sha256_fingerprint(self):
        """As ``openssl x509 -fingerprint -sha256`` prints it: upper-case hex pairs joined by colons."""
        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ':'.join(digest[index:index + 2] for index in range(0, len(digest), 2))

    @property
    def pem(self):
        """The certificate as PEM: LF endings, 64-column base64, one trailing newline."""
        encoded = base64.b64encode(self.der).decode('ascii')
        lines = [encoded[index:index + 64] for index in range(0, len(encoded), 64)]
        return '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % '\n'.join(lines)

    @property
    def strict_findings(self):
        """What OpenSSL's X509_V_FLAG_X509_STRICT refuses in a CA certificate that the other checks here accept.

        Python 3.13 and newer verify with that flag by default (ssl.create_default_context, cpython#107361), so a
        client such as the gate refuses a CA with these findings on Debian 13 while Go and curl accept it.
        """
        findings = []
        if self.is_ca and not self.basic_constraints_critical:
            findings.append('basicConstraints is not marked critical')
        if self.is_ca and self.key_cert_sign is None:
            findings.append('no keyUsage extension')
        return findings

    def as_dict(self):
        """The public description of the certificate (the contract of the filters' ``certificates`` items)."""
        return {
            'subject': self.subject,
            'issuer': self.issuer,
            'serial_number': self.serial_number,
            'not_before': iso_time(self.not_before),
            'not_after': iso_time(self.not_after),
            'sha256_fingerprint': self.sha256_fingerprint,
            'is_self_signed': self.is_self_signed,
            'path_length': self.path_length,
            'strict_findings': self.strict_findings,
            'pem': self.pem,
        }


def _extensions(element):
    """{oid: (critical, value bytes)} of an extensions field; a repeated extension is refused (RFC 5280 4.2)."""
    wrapper = element.children()
    if len(wrapper) != 1:
        raise _DerError('it has a malformed extensions field')
    extensions = {}
    for extension in _expect(wrapper[0], _SEQUENCE, 'the extensions').children():
        items = _expect(extension, _SEQUENCE, 'an extension').children()
        if len(items) not in (2, 3):
            raise _DerError('it has a malformed extension')
        oid = _oid(items[0])
        critical = False
        if len(items) == 3:
            critical = _expect(items[1], _BOOLEAN, 'an extension critical flag').content != b'\x00'
        value = _expect(items[-1], _OCTET_STRING, 'an extension value').content
        if oid in extensions:
            raise _DerError('it carries the extension %s twice' % oid)
        extensions[oid] = (critical, value)
    return extensions


def _single(value, what):
    elements = list(_elements(value, 0, len(value)))
    if len(elements) != 1:
        raise _DerError('it has a malformed %s extension' % what)
    return elements[0]


def _basic_constraints(value):
    items = _expect(_single(value, 'basicConstraints'), _SEQUENCE, 'basicConstraints').children()
    is_ca, path_length = False, None
    for item in items:
        if item.tag == _BOOLEAN:
            is_ca = item.content != b'\x00'
        elif item.tag == _INTEGER:
            path_length = int.from_bytes(item.content, 'big', signed=True)
        else:
            raise _DerError('it has a malformed basicConstraints extension')
    return is_ca, path_length


def _key_cert_sign(value):
    bits = _expect(_single(value, 'keyUsage'), _BIT_STRING, 'keyUsage').content
    # Byte 0 counts unused bits; keyCertSign is bit 5 (0x04 of the first byte of flags).
    return len(bits) > 1 and bool(bits[1] & 0x04)


def _key_identifier(extensions, oid):
    if oid not in extensions:
        return None
    outer = _single(extensions[oid][1], 'key identifier')
    if oid == _SUBJECT_KEY_ID:
        return _expect(outer, _OCTET_STRING, 'subjectKeyIdentifier').content
    for item in _expect(outer, _SEQUENCE, 'authorityKeyIdentifier').children():
        if item.tag == 0x80:  # [0] keyIdentifier, implicit
            return item.content
    return None


def parse_certificate(der):
    """Read one DER certificate; raise ValueError (a _DerError) saying what is structurally wrong."""
    outer = _element_at(der, 0, len(der))
    if outer.end != len(der):
        raise _DerError('it has bytes after the certificate')
    items = _expect(outer, _SEQUENCE, 'the certificate').children()
    if len(items) != 3:
        raise _DerError('it is not a certificate (a certificate is to-be-signed data, an algorithm and a signature)')
    tbs, algorithm, signature = items
    _expect(tbs, _SEQUENCE, 'the to-be-signed certificate')
    _expect(algorithm, _SEQUENCE, 'the signature algorithm')
    _expect(signature, _BIT_STRING, 'the signature')
    fields = tbs.children()
    version = 1
    if fields and fields[0].tag == 0xA0:
        version_items = fields.pop(0).children()
        if len(version_items) != 1:
            raise _DerError('it has a malformed version')
        version = int.from_bytes(_expect(version_items[0], _INTEGER, 'the version').content, 'big') + 1
        if version not in (2, 3):
            raise _DerError('it has an unknown X.509 version')
    if len(fields) < 6:
        raise _DerError('it lacks some fields of a certificate')
    serial, inner_algorithm, issuer, validity, subject, key_info = fields[:6]
    _expect(serial, _INTEGER, 'the serial number')
    if inner_algorithm.encoded != algorithm.encoded:
        raise _DerError('its two signature algorithm fields differ')
    times = _expect(validity, _SEQUENCE, 'the validity').children()
    if len(times) != 2:
        raise _DerError('it has a malformed validity')
    _expect(key_info, _SEQUENCE, 'the public key')
    extensions = {}
    for extra in fields[6:]:
        if extra.tag in (0x81, 0x82):  # issuer and subject unique identifiers
            continue
        if extra.tag == 0xA3 and version == 3 and not extensions:
            extensions = _extensions(extra)
            continue
        raise _DerError('it has an unexpected field after the public key')

    is_ca, path_length = _basic_constraints(extensions[_BASIC_CONSTRAINTS][1]) \
        if _BASIC_CONSTRAINTS in extensions else (False, None)
    key_cert_sign = _key_cert_sign(extensions[_KEY_USAGE][1]) if _KEY_USAGE in extensions else None
    subject_key_id = _key_identifier(extensions, _SUBJECT_KEY_ID)
    authority_key_id = _key_identifier(extensions, _AUTHORITY_KEY_ID)
    self_issued = issuer.encoded == subject.encoded and (
        subject_key_id is None or authority_key_id is None or subject_key_id == authority_key_id)
    serial_bytes = serial.content.lstrip(b'\x00') or b'\x00'
    return Certificate(
        der=bytes(der), subject=_name(subject), issuer=_name(issuer),
        serial_number=':'.join('%02X' % byte for byte in serial_bytes),
        not_before=_time(times[0]), not_after=_time(times[1]), version=version,
        is_ca=is_ca, has_basic_constraints=_BASIC_CONSTRAINTS in extensions, path_length=path_length,
        key_cert_sign=key_cert_sign, is_self_signed=self_issued,
        basic_constraints_critical=_BASIC_CONSTRAINTS in extensions and extensions[_BASIC_CONSTRAINTS][0])


# ---------------------------------------------------------------------------
# PEM text
# ---------------------------------------------------------------------------

_BEGIN = re.compile(r'^-----BEGIN ([^-]*)-----$')
_END = re.compile(r'^-----END ([^-]*)-----$')
# Anywhere in the text, even in a malformed block or after other faults: a key is reported first.
_PRIVATE_KEY = re.compile(r'-----BEGIN ([A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*)-----')
_BASE64_LINE = re.compile(r'^[A-Za-z0-9+/]*={0,2}$')
OUTSIDE_TEXT_HELP = ('only blank lines and comment lines starting with # may stand outside the '
                     '-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks (paste the blocks alone; '
                     '`openssl x509 -in ca.crt` prints just the block)')


@dataclass(frozen=True)
class PemBlock:
    """One CERTIFICATE block: its DER and the line (from 1) of its BEGIN marker."""

    der: bytes
    line: int


def _lines(text):
    # Only the line breaks a PEM file can hold; str.splitlines would also split at form feeds and U+2028.
    return re.split(r'\r\n|\r|\n', text)


def read_certificate_blocks(text, where):
    """Return the CERTIFICATE blocks of a PEM text as PemBlocks, in order.

    ``where`` names the value in messages (``docker_mirrors_ca_certificates``,
    ``ca_trust_certificates[0] (name corp-root)``). A private key block is
    refused first, wherever it is; then, in reading order, text outside the
    blocks, other labels, unterminated blocks and bad base64. A text without a
    certificate is refused.
    """
    if not isinstance(text, str):
        raise PolicyError('%s must be PEM text (-----BEGIN CERTIFICATE----- blocks), got %s'
                          % (where, type(text).__name__))
    key = _PRIVATE_KEY.search(text)
    if key:
        line = len(_lines(text[:key.start()]))
        raise PolicyError('%s holds a private key (a %s block at line %d); a trust store takes certificates only. '
                          'Remove the key from the variable, and if it was ever committed or shared, treat it as '
                          'exposed and replace it' % (where, key.group(1), line))
    blocks, label, body, begin_line = [], None, [], 0
    # A byte order mark is what some editors put first in a file; it is not text.
    for number, raw in enumerate(_lines(text[1:] if text.startswith('\ufeff') else text), start=1):
        line = raw.strip()
        if label is None:
            if not line or line.startswith('#'):
                continue
            begin = _BEGIN.match(line)
            if not begin:
                if _END.match(line):
                    raise PolicyError('%s has an END marker at line %d without a BEGIN marker before it'
                                      % (where, number))
                raise PolicyError('%s has text outside any PEM block at line %d; %s'
                                  % (where, number, OUTSIDE_TEXT_HELP))
            label, body, begin_line = begin.group(1), [], number
            if label == 'TRUSTED CERTIFICATE':
                raise PolicyError('%s has an OpenSSL TRUSTED CERTIFICATE block at line %d; give it as a plain '
                                  'CERTIFICATE block (`openssl x509 -in ca.crt -out plain.crt` converts it)'
                                  % (where, number))
            if label != 'CERTIFICATE':
                raise PolicyError('%s has a %s block at line %d; only CERTIFICATE blocks are accepted'
                                  % (where, show(label), number))
            continue
        end = _END.match(line)
        if end:
            if end.group(1) != label:
                raise PolicyError('%s has a CERTIFICATE block at line %d that ends with a different END marker '
                                  'at line %d' % (where, begin_line, number))
            try:
                der = base64.b64decode(''.join(body), validate=True)
            except (binascii.Error, ValueError):
                raise PolicyError('%s has a CERTIFICATE block at line %d whose base64 does not decode (a line was '
                                  'cut, joined or edited)' % (where, begin_line)) from None
            blocks.append(PemBlock(der, begin_line))
            label = None
            continue
        if _BEGIN.match(line):
            raise PolicyError('%s has a CERTIFICATE block at line %d with no END marker before the next BEGIN '
                              'marker at line %d' % (where, begin_line, number))
        if not _BASE64_LINE.match(line):
            raise PolicyError('%s has a CERTIFICATE block at line %d with a line that is not base64 (line %d); '
                              'a certificate block holds base64 only, without headers'
                              % (where, begin_line, number))
        body.append(line)
    if label is not None:
        raise PolicyError('%s has a CERTIFICATE block at line %d with no END marker (the text was cut)'
                          % (where, begin_line))
    if not blocks:
        raise PolicyError('%s holds no certificate; give one or more -----BEGIN CERTIFICATE----- blocks' % where)
    return blocks


def _certificate_where(where, index, count, block, certificate=None):
    """'ca_trust_certificates[0] (name corp) certificate 2 of 3 (line 31, CN=Corp Root)'."""
    position = 'certificate %d of %d ' % (index + 1, count) if count > 1 else 'certificate '
    detail = 'line %d' % block.line
    if certificate is not None:
        detail += ', ' + (certificate.subject or 'empty subject')
    return '%s %s(%s)' % (where, position, detail)


def check_trust_anchor(certificate, subject, now):
    """Refuse a certificate that cannot serve as a CA, or is not valid at ``now``; ``subject`` names it."""
    if not certificate.has_basic_constraints:
        version = (' (an X.509 v1 certificate, which has no extensions)' if certificate.version == 1 else '')
        raise PolicyError('%s is not a CA certificate: it has no basicConstraints extension%s; give the certificate '
                          'of the CA that signs the mirror, not the mirror\'s own certificate' % (subject, version))
    if not certificate.is_ca:
        raise PolicyError('%s is not a CA certificate: its basicConstraints say CA:FALSE (a server or client '
                          'certificate); give the certificate of the CA that signs the mirror' % subject)
    if certificate.key_cert_sign is False:
        raise PolicyError('%s cannot sign certificates: its keyUsage lacks keyCertSign, so no client accepts a '
                          'certificate it signed' % subject)
    if now < certificate.not_before:
        raise PolicyError('%s is not valid yet: its validity starts %s (now is %s); check the clock of the '
                          'controller, or wait' % (subject, iso_time(certificate.not_before), iso_time(now)))
    if now > certificate.not_after:
        raise PolicyError('%s expired on %s (now is %s); give the CA\'s current certificate'
                          % (subject, iso_time(certificate.not_after), iso_time(now)))


def utc_now(now=None):
    """``now`` as an aware UTC datetime: None means the current time; a naive datetime or an ISO 8601 string
    (``2026-01-31T12:00:00Z``) is read as UTC."""
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, str):
        try:
            now = datetime.datetime.fromisoformat(now[:-1] + '+00:00' if now.endswith('Z') else now)
        except ValueError:
            raise PolicyError('now must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got %s' % show(now)) from None
    if not isinstance(now, datetime.datetime):
        raise PolicyError('now must be a datetime or an ISO 8601 string, got %s' % type(now).__name__)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc)


def read_ca_certificates(text, where, now=None):
    """Parse and check every certificate of a PEM text; return them as Certificate objects in order.

    Each must parse as X.509, be a CA, be valid at ``now`` (see utc_now); the
    same certificate twice in one text is refused. Messages start with ``where``.
    """
    now = utc_now(now)
    blocks = read_certificate_blocks(text, where)
    certificates, seen = [], {}
    for index, block in enumerate(blocks):
        try:
            certificate = parse_certificate(block.der)
        except _DerError as error:
            raise PolicyError('%s is not a valid X.509 certificate: %s'
                              % (_certificate_where(where, index, len(blocks), block), error)) from None
        subject = _certificate_where(where, index, len(blocks), block, certificate)
        if certificate.der in seen:
            raise PolicyError('%s is the same certificate as certificate %d; give each certificate once'
                              % (subject, seen[certificate.der] + 1))
        seen[certificate.der] = index
        check_trust_anchor(certificate, subject, now)
        certificates.append(certificate)
    return certificates


def normalise_pem(certificates):
    """The PEM text of certificates, in order: LF endings, one trailing newline, no comments."""
    return ''.join(certificate.pem for certificate in certificates)


def validate_ca_bundle(text, name, now=None):
    """Check a PEM text of CA certificates (a variable such as docker_mirrors_ca_certificates).

    Return ``{'pem': normalised text, 'certificates': [Certificate.as_dict(), ...]}``;
    raise PolicyError naming ``name`` otherwise.
    """
    certificates = read_ca_certificates(text, name, now)
    return {'pem': normalise_pem(certificates), 'certificates': [cert.as_dict() for cert in certificates]}


# ---------------------------------------------------------------------------
# Named certificates: the list of {name, content} that a trust store takes
# ---------------------------------------------------------------------------

_FILE_STEM = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9._-]*$')
MAX_NAME_LENGTH = 64
ENTRY_KEYS = ('name', 'content')


def _entry_file_names(name, count):
    """One certificate per file, as OpenSSL's hash directory and the Java hook of ca-certificates need:
    ``corp.crt`` for one certificate, ``corp-1.crt``, ``corp-2.crt``... for a chain."""
    if count == 1:
        return [name + '.crt']
    return ['%s-%d.crt' % (name, number) for number in range(1, count + 1)]


def validate_named_ca_certificates(entries, name, now=None):
    """Check a list of ``{name, content}`` CA certificates (a variable such as ca_trust_certificates).

    ``name`` of an entry is a file stem: letters, digits, ``.``, ``_``, ``-``,
    not starting with a dot, at most 64 characters, unique (case-insensitively,
    and once expanded to file names). ``content`` is PEM text as for
    validate_ca_bundle. A certificate may appear once in the whole list.

    Return ``{'pem': all certificates, 'certificates': [...], 'entries': [...]}``
    where each entry is ``{'name', 'content' (normalised PEM), 'files':
    [{'name': 'corp.crt', 'content': one certificate}], 'certificates': [...]}``
    and each item of the top-level ``certificates`` also carries ``entry``.
    """
    if entries is None:
        entries = []
    if not isinstance(entries, (list, tuple)):
        raise PolicyError('%s must be a list of {name, content} items, got %s' % (name, type(entries).__name__))
    now = utc_now(now)
    result = {'pem': '', 'certificates': [], 'entries': []}
    names, files, fingerprints = {}, {}, {}
    for index, entry in enumerate(entries):
        position = '%s[%d]' % (name, index)
        if not isinstance(entry, dict):
            raise PolicyError('%s must be a dict with the keys name and content, got %s'
                              % (position, type(entry).__name__))
        unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
        if unknown:
            raise PolicyError('%s has the unknown key%s %s; an item has the keys name and content'
                              % (position, 's' if len(unknown) > 1 else '', ', '.join(show(key) for key in unknown)))
        stem = entry.get('name')
        if not isinstance(stem, str) or not stem:
            raise PolicyError('%s needs a name (the file name of the certificate, such as corp-root), got %s'
                              % (position, show(stem) if stem is None or isinstance(stem, str)
                                 else type(stem).__name__))
        if not _FILE_STEM.match(stem) or len(stem) > MAX_NAME_LENGTH:
            raise PolicyError('%s name %s is not a safe file name; use at most %d letters, digits, ., _ and -, '
                              'not starting with a dot' % (position, show(stem), MAX_NAME_LENGTH))
        if stem.lower() in names:
            raise PolicyError('%s name %s is already the name of %s[%d]; names must be unique (letter case '
                              'aside)' % (position, show(stem), name, names[stem.lower()]))
        names[stem.lower()] = index
        where = '%s (name %s)' % (position, stem)
        if 'content' not in entry or entry['content'] is None:
            raise PolicyError('%s has no content; give the CA certificate as PEM text' % where)
        certificates = read_ca_certificates(entry['content'], where, now)
        file_names = _entry_file_names(stem, len(certificates))
        for file_name in file_names:
            if file_name.lower() in files:
                raise PolicyError('%s would be written as %s, which %s writes too; rename one of them'
                                  % (where, file_name, files[file_name.lower()]))
            files[file_name.lower()] = where
        described = []
        for number, certificate in enumerate(certificates, start=1):
            earlier = fingerprints.get(certificate.der)
            if earlier is not None:
                raise PolicyError('%s certificate %d (%s) is also in %s; give each certificate once'
                                  % (where, number, certificate.subject, earlier))
            fingerprints[certificate.der] = where
            described.append(dict(certificate.as_dict(), entry=stem))
        content = normalise_pem(certificates)
        result['entries'].append({
            'name': stem,
            'content': content,
            'files': [{'name': file_name, 'content': certificate.pem}
                      for file_name, certificate in zip(file_names, certificates)],
            'certificates': described,
        })
        result['certificates'].extend(described)
        result['pem'] += content
    return result
