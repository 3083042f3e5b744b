# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Validation and parsing of mirror-policy values, shared by modules and filters.

Pure Python on purpose (no Ansible import): the module runs it on the managed
host, the filters run it on the controller, and the unit tests call it directly.

Every check raises :class:`PolicyError` (a ``ValueError``) whose message names
the variable the caller passed in and shows the offending value with any
credentials redacted, for example::

    go_proxy_urls entry 'htp://x' has scheme 'htp'; use https, http or file
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import struct
import unicodedata

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import UnitNameError, service_names


class PolicyError(ValueError):
    """A policy value that Go, dockerd or a config file would refuse or misread."""


# ---------------------------------------------------------------------------
# Redaction: used for every value that may end up in a message or a result.
# ---------------------------------------------------------------------------

REDACTED = '***'

# A query (or fragment) parameter whose name contains one of these words
# carries a credential: token=, access_token=, password=, X-Amz-Signature=...
_SECRET_PARAMETER_WORDS = ('token', 'pass', 'pwd', 'secret', 'key', 'sig', 'auth', 'cred', 'session')

# Where a URL starts inside a longer text: a scheme at the start of a word. A scheme-like run right after
# ':', '/', '@' or '%' is part of the URL before it (a password such as 'a://b'), not a URL of its own.
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-:/@%])[A-Za-z][A-Za-z0-9+.-]*://")
_PARAMETER = re.compile(r'[?&#;](?P<name>[^=&#;]*)=(?P<value>[^&#;]*)')


def _looks_like_userinfo(authority):
    """'u:Tok' in 'https://u:Tok/en@host': a host:port whose port is no number is a user:password cut at a '/'."""
    if authority.startswith('[') or ':' not in authority:
        return False
    port = authority.rpartition(':')[2]
    return bool(port) and not port.isdigit()


def _userinfo_end(text, begin, limit):
    """Where the userinfo of the URL whose authority starts at ``begin`` ends (its last '@'), or None.

    The URL runs to ``limit`` (the next URL, or the end of the text). Its userinfo is what comes before the
    last '@' ahead of the first '/', as URL parsers read it, and ahead of '?' and '#' too (a password holding
    them must still be hidden). A password holding a raw '/' ('https://u:Tok/en@host') puts its '@' after that
    '/': an '@' there that does not start a path segment (as '/@v/' of the GOPROXY protocol does), or any '@'
    after an authority shaped user:password, ends the userinfo too.
    """
    slash = text.find('/', begin, limit)
    authority_end = limit if slash == -1 else slash
    at = text.rfind('@', begin, authority_end)
    if at != -1:
        return at
    if slash == -1:
        return None
    loose = [index for index in range(authority_end, limit) if text[index] == '@' and text[index - 1] != '/']
    if loose:
        return loose[-1]
    if _looks_like_userinfo(text[begin:authority_end]):
        at = text.rfind('@', authority_end, limit)
        if at != -1:
            return at
    return None


def _secret_spans(text):
    """Return the credentials inside a text as (kind, start, end), kind 'userinfo' or 'parameter'.

    Every URL in the text counts, wherever it starts: a joined GOPROXY ('https://a,https://u:pw@b|...'), a
    GOSUMDB 'name+hash+key https://u:pw@host', a message naming several mirrors.
    """
    spans = []
    starts = list(_SCHEME.finditer(text))
    # Text before the first URL (all of it when there is none) has no URL grammar to go by:
    # everything before its last '@' counts as userinfo ('user:pw@host').
    head = starts[0].start() if starts else len(text)
    at = text.rfind('@', 0, head)
    if at > 0:
        spans.append(('userinfo', 0, at))
    for number, start in enumerate(starts):
        begin = start.end()
        limit = starts[number + 1].start() if number + 1 < len(starts) else len(text)
        end = _userinfo_end(text, begin, limit)
        if end is not None and end > begin:
            spans.append(('userinfo', begin, end))
    for parameter in _PARAMETER.finditer(text):
        name = unquote(parameter.group('name')).lower()
        if parameter.group('value') and any(word in name for word in _SECRET_PARAMETER_WORDS):
            spans.append(('parameter',) + parameter.span('value'))
    return spans


def _merged(spans):
    """The (start, end) ranges covered by the spans, overlapping ones merged, in order."""
    merged = []
    for dummy, start, end in sorted(spans, key=lambda span: span[1:]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def redact_url(text):
    """Return ``text`` with the credentials of every URL in it replaced by ``***``.

    Userinfo (``user:password@`` or ``token@``) becomes ``***@``, and the value
    of every query or fragment parameter whose name looks like a credential
    (token, password, key, secret, signature, ...) becomes ``***``. Every URL
    in the text counts, not only one at its start: a joined GOPROXY, the
    ``name+hash+key url`` form of GOSUMDB and a message naming several mirrors
    are redacted whole. Never raises: it works on malformed URLs too (a raw
    ``/`` or ``@`` in a password hides all of it), so it is safe to use in
    error messages.
    """
    if not isinstance(text, str):
        return text
    redacted = text
    for start, end in reversed(_merged(_secret_spans(text))):
        redacted = redacted[:start] + REDACTED + redacted[end:]
    return redacted


def url_secrets(text):
    """Return the credential strings inside ``text`` (raw and percent-decoded), for every URL in it.

    A module adds them to ``no_log_values`` so that Ansible masks them in every
    output it produces, including the echo of the module arguments.
    """
    if not isinstance(text, str):
        return []
    secrets = []
    for dummy, start, end in _secret_spans(text):
        secret = text[start:end]
        secrets += [secret, unquote(secret)]
    # A URL redacted already holds no secret: masking '***' would only garble every redacted URL in the output.
    secrets = set(secret for secret in secrets if secret and secret != REDACTED)
    # Whole spans only ('user:password', not also 'password'): ansible-core before 2.19 masks no_log values in no
    # set order, and masking 'password' first would leave 'user:' standing in front of the mask.
    return sorted(secret for secret in secrets if not any(secret != other and secret in other for other in secrets))


def has_credentials(text):
    """Tell whether ``text`` carries credentials that :func:`redact_url` would hide."""
    return isinstance(text, str) and bool(_secret_spans(text))


def type_name(value):
    """The plain type of a value for a message: 'list', not the name of a templating engine's subclass of list."""
    for kind in (bool, int, float, str, bytes, list, tuple, dict):
        if isinstance(value, kind):
            return kind.__name__
    return 'null' if value is None else type(value).__name__


def show(value):
    """Quote a value for a message: credentials redacted, invisible characters escaped."""
    if not isinstance(value, str):
        return '%s (a %s)' % (redact_url(repr(value)), type_name(value))
    escaped = []
    for char in redact_url(value):
        if char == '\n':
            escaped.append('\\n')
        elif char == '\t':
            escaped.append('\\t')
        elif char == '\r':
            escaped.append('\\r')
        elif unicodedata.category(char) in ('Cc', 'Cf'):
            escaped.append('\\u%04x' % ord(char))
        else:
            escaped.append(char)
    return "'%s'" % ''.join(escaped)


def _subject(name, value, entry):
    """'go_proxy_urls entry 'x'' for list items, 'go_proxy_sumdb 'x'' for scalars."""
    return '%s%s %s' % (name, ' entry' if entry else '', show(value))


# ---------------------------------------------------------------------------
# Characters that could break a shell, pam_env, a systemd unit or a TOML file.
# ---------------------------------------------------------------------------

_UNSAFE_NAMES = {
    ' ': 'a space',
    '\t': 'a tab',
    '\n': 'a newline',
    '\r': 'a carriage return',
    "'": 'a single quote',
    '"': 'a double quote',
    '$': "a '$'",
    '`': 'a backtick',
    ';': "a ';'",
    '\\': 'a backslash',
}

UNSAFE_CHARACTERS_HELP = 'policy values may not contain whitespace, quotes, $, backticks, ;, \\ or control characters'


def _unsafe_character(value):
    """Return a description of the first unsafe character in ``value``, or None."""
    for char in value:
        if char in _UNSAFE_NAMES:
            return _UNSAFE_NAMES[char]
        if char.isspace():
            return 'whitespace U+%04X' % ord(char)
        if unicodedata.category(char) in ('Cc', 'Cf'):
            return 'the control character U+%04X' % ord(char)
    return None


def require_string(value, name, entry=False):
    """Refuse anything but a non-empty string."""
    if not isinstance(value, str):
        raise PolicyError('%s must be a string, got %s' % (name + (' entry' if entry else ''), show(value)))
    if not value:
        raise PolicyError('%s is empty' % (name + (' entry' if entry else '')))
    return value


def refuse_unsafe_characters(value, name, entry=False):
    """Raise PolicyError when ``value`` holds whitespace, quotes, ``$``, backticks, ``;``, ``\\`` or control characters."""
    require_string(value, name, entry)
    unsafe = _unsafe_character(value)
    if unsafe:
        raise PolicyError('%s contains %s; %s' % (_subject(name, value, entry), unsafe, UNSAFE_CHARACTERS_HELP))
    return value


def _as_list(value, name, separator):
    """Accept a list of strings, or one string of entries joined by ``separator``."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(separator) if value else []
    if isinstance(value, (list, tuple)):
        return list(value)
    raise PolicyError('%s must be a list or a string, got %s' % (name, show(value)))


# What RFC 3986 allows unencoded in a user name or password (besides %XX escapes), as Go's net/url checks it.
_USERINFO_CHARACTERS = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
                                 "-._~!$&'()*+,;=:%")
_BAD_PERCENT = re.compile(r'%(?![0-9A-Fa-f]{2})')
USERINFO_ENCODING_HELP = ('percent-encode every reserved character of a user name or password: / as %2F, @ as %40, '
                          '? as %3F, # as %23, [ as %5B, ] as %5D, % as %25 (Python: urllib.parse.quote(password, '
                          "safe='')); an '@' that belongs in the path is written %40 too. Better still, leave "
                          'credentials out of the URL and give them to the client in ~/.netrc')


def refuse_raw_userinfo(url, subject):
    """Refuse a URL whose user name or password holds a reserved character that is not percent-encoded.

    A raw ``/``, ``?`` or ``#`` ends the authority early, so URL parsers read
    part of the password as the host, a port or the path (``https://u:Tok/en@host``
    is host ``u`` with path ``/en@host`` to urllib), and a raw ``@`` sends the
    rest of the password to DNS in some clients. The message never shows the
    credentials, nor which character was found.
    """
    scheme = _SCHEME.match(url)
    if not scheme:
        return
    begin = scheme.end()
    slash = url.find('/', begin)
    authority = url[begin:len(url) if slash == -1 else slash]
    if '@' in authority:
        userinfo = authority[:authority.rindex('@')]
        unencoded = any(char not in _USERINFO_CHARACTERS for char in userinfo) or _BAD_PERCENT.search(userinfo)
    else:
        # No '@' before the first '/': either no credentials, or a password cut by a raw '/'.
        unencoded = _userinfo_end(url, begin, len(url)) is not None
    if unencoded:
        raise PolicyError('%s has a character in its user name or password (or an @ after the host) that must be '
                          'percent-encoded; %s' % (subject, USERINFO_ENCODING_HELP))


def _split_url(url, subject):
    """urlsplit that turns its ValueError (bad port, bad IPv6 literal) into a PolicyError.

    Credentials with unencoded reserved characters are refused first: urllib
    would read part of the password as a port and quote it in its error.
    """
    refuse_raw_userinfo(url, subject)
    try:
        parts = urlsplit(url)
        # urlsplit checks the port only when it is read.
        port = parts.port
    except ValueError as error:
        # urllib quotes a port it cannot read; say what is wrong without repeating the value.
        reason = 'its port is not a number from 1 to 65535' if 'Port' in str(error) else error
        raise PolicyError('%s is not a valid URL: %s' % (subject, reason)) from None
    if port == 0:
        raise PolicyError('%s is not a valid URL: port 0 cannot be connected to' % subject)
    return parts


# ---------------------------------------------------------------------------
# GOPROXY
# ---------------------------------------------------------------------------

GOPROXY_KEYWORDS = ('direct', 'off')
GOPROXY_SCHEMES = ('https', 'http', 'file')
GOPROXY_FALLBACKS = ('direct', 'off', 'none')
# The separator after an entry tells Go when to try the next one.
GOPROXY_FALLTHROUGH_SEPARATORS = {'not_found': ',', 'any_error': '|'}


@dataclass(frozen=True)
class GoProxyEntry:
    """One GOPROXY entry and the separator that follows it ('' for the last one)."""

    value: str
    separator: str = ''

    @property
    def is_keyword(self):
        return self.value in GOPROXY_KEYWORDS


def validate_goproxy_url(url, name, entry=True):
    """Check one GOPROXY URL as the go command does; return it unchanged.

    Schemes https, http and file only. A scheme is required (Go would add
    ``https://`` silently; a policy says what it means). Query strings are
    allowed because Go keeps them on every request (some proxies take a token
    there); fragments are not.
    """
    refuse_unsafe_characters(url, name, entry)
    subject = _subject(name, url, entry)
    for separator in ',|':
        if separator in url:
            raise PolicyError("%s contains '%s', which separates GOPROXY entries; give one proxy per list item "
                              "(a '%s' inside a URL is written %s)"
                              % (subject, separator, separator, '%2C' if separator == ',' else '%7C'))
    if url in GOPROXY_KEYWORDS:
        raise PolicyError('%s is a keyword, not a URL; give it as the fallback instead' % subject)
    if ':/' not in url:  # the go command's own test for "this is a URL"
        raise PolicyError('%s has no scheme; write it as a URL such as https://proxy.example.com '
                          '(or use the keyword direct or off)' % subject)
    parts = _split_url(url, subject)
    scheme = parts.scheme.lower()
    if scheme not in GOPROXY_SCHEMES:
        raise PolicyError("%s has scheme '%s'; use https, http or file" % (subject, parts.scheme))
    if '#' in url:
        raise PolicyError("%s has a fragment ('#...'); a GOPROXY URL cannot have one" % subject)
    if scheme == 'file':
        if parts.netloc or not parts.path.startswith('/') or parts.query:
            raise PolicyError('%s must be file:// followed by an absolute path, such as file:///srv/goproxy' % subject)
    elif not parts.hostname:
        raise PolicyError('%s has no host' % subject)
    return url


def parse_goproxy(value, name='goproxy'):
    """Parse a GOPROXY value into :class:`GoProxyEntry` items.

    ``value`` is a list (one entry per item, joined by ``,``) or one GOPROXY
    string whose entries are separated by ``,`` (next proxy on 404/410) or
    ``|`` (next proxy on any error). ``direct`` and ``off`` end the list: Go
    never reads what follows them, so anything after them is an error.
    """
    if isinstance(value, str):
        require_string(value, name)
        # re.split with a group keeps the separators: [entry, sep, entry, sep, ..., entry]
        pieces = re.split(r'([,|])', value)
        raw_entries = pieces[0::2]
        separators = pieces[1::2] + ['']
        if '' in raw_entries:
            raise PolicyError('%s %s has an empty entry (a separator at an end, or two in a row)' % (name, show(value)))
    elif isinstance(value, (list, tuple)):
        if not value:
            raise PolicyError('%s is an empty list; give at least one proxy URL or keyword' % name)
        raw_entries = list(value)
        separators = [','] * (len(raw_entries) - 1) + ['']
        for raw_entry in raw_entries:
            require_string(raw_entry, name, entry=True)
            for separator in ',|':
                if separator in raw_entry:
                    raise PolicyError("%s contains '%s'; give one proxy per list item"
                                      % (_subject(name, raw_entry, True), separator))
    else:
        raise PolicyError('%s must be a list or a GOPROXY string, got %s' % (name, show(value)))

    entries = []
    for raw_entry, separator in zip(raw_entries, separators):
        if entries and entries[-1].is_keyword:
            keyword = entries[-1].value
            raise PolicyError("%s comes after '%s'; Go stops at '%s' and never uses what follows, "
                              "so remove it or move '%s' to the end"
                              % (_subject(name, raw_entry, True), keyword, keyword, keyword))
        refuse_unsafe_characters(raw_entry, name, entry=True)
        if raw_entry not in GOPROXY_KEYWORDS:
            validate_goproxy_url(raw_entry, name)
        entries.append(GoProxyEntry(raw_entry, separator))
    return entries


def build_goproxy(urls, fallback='direct', fallthrough='not_found', name='go_proxy_urls'):
    """Build the GOPROXY string from proxy URLs, a fallback keyword and a fallthrough mode.

    ``fallback`` is ``direct`` or ``off`` (appended last) or ``none`` (nothing
    appended). ``fallthrough`` is ``not_found`` (``,``: next proxy only when one
    answers 404 or 410) or ``any_error`` (``|``: next proxy on any error).
    """
    if fallback not in GOPROXY_FALLBACKS:
        raise PolicyError('%s fallback %s is not one of %s' % (name, show(fallback), ', '.join(GOPROXY_FALLBACKS)))
    if fallthrough not in GOPROXY_FALLTHROUGH_SEPARATORS:
        raise PolicyError('%s fallthrough %s is not one of %s'
                          % (name, show(fallthrough), ', '.join(GOPROXY_FALLTHROUGH_SEPARATORS)))
    if urls is None:
        urls = []
    if not isinstance(urls, (list, tuple)):
        raise PolicyError('%s must be a list of proxy URLs, got %s' % (name, show(urls)))
    for url in urls:
        require_string(url, name, entry=True)
        validate_goproxy_url(url, name)
    entries = list(urls) + ([] if fallback == 'none' else [fallback])
    if not entries:
        raise PolicyError("%s is empty and the fallback is 'none', which would leave GOPROXY empty "
                          "(Go then uses proxy.golang.org)" % name)
    return GOPROXY_FALLTHROUGH_SEPARATORS[fallthrough].join(entries)


# ---------------------------------------------------------------------------
# GOSUMDB
# ---------------------------------------------------------------------------

# Databases whose public key the go command knows, so the name alone is enough.
_KNOWN_SUMDB_NAMES = ('sum.golang.org', 'sum.golang.google.cn')
_SUMDB_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?(/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-])?$')
_SUMDB_FORMS = "GOSUMDB takes 'name', 'name+hash+key', 'name+hash+key url' or 'off'"


@dataclass(frozen=True)
class SumDB:
    """A parsed GOSUMDB value.

    ``url`` is where the go command reaches the database directly: the URL
    given after the key, or ``https://<name>``. When the URL is given
    (``url_is_explicit``), Go goes there directly and never through a GOPROXY.
    """

    value: str
    name: str
    key: str | None
    url: str
    url_is_explicit: bool


# golang.org/x/mod/sumdb/note: a verifier key's public key is one algorithm byte (1: Ed25519) and 32 key bytes.
_NOTE_ALGORITHM_ED25519 = 1
_NOTE_ED25519_KEY_BYTES = 32


def note_key_hash(name, key):
    """The key hash of golang.org/x/mod/sumdb/note: the first 4 bytes (big-endian) of SHA-256(name, newline, key)."""
    digest = hashlib.sha256(name.encode('utf-8') + b'\n' + key).digest()
    return struct.unpack('>I', digest[:4])[0]


def _check_verifier_key(key, name, value):
    """Check a verifier key <name>+<hash>+<base64 key> as the go command's note.NewVerifier does; return the name.

    The hash must be 8 hexadecimal digits equal to :func:`note_key_hash` of the
    name and the decoded key, and the key one algorithm byte 0x01 (Ed25519)
    followed by 32 bytes. Go refuses any other key, and with it every module
    download it would check.
    """
    parts = key.split('+', 2)
    problem = None
    if len(parts) != 3:
        problem = 'has %d part(s) separated by +, not 3' % len(parts)
    elif not re.match(r'^[0-9a-fA-F]{8}\Z', parts[1]):
        problem = "has hash '%s', not 8 hexadecimal digits" % parts[1]
    else:
        try:
            decoded = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            decoded = b''
        if not decoded:
            problem = 'ends with a public key that is not base64'
        elif decoded[0] != _NOTE_ALGORITHM_ED25519:
            problem = ('has a public key of algorithm %d; Go knows only 1 (Ed25519), so the base64 must start '
                       'with A' % decoded[0])
        elif len(decoded) != 1 + _NOTE_ED25519_KEY_BYTES:
            problem = ('has a public key of %d bytes; an Ed25519 key is 33 (the algorithm byte and 32 key bytes, '
                       '44 base64 characters)' % len(decoded))
        elif int(parts[1], 16) != note_key_hash(parts[0], decoded):
            # The right hash is not shown: fitted to a damaged or altered key, it would make Go trust that key.
            problem = ("has hash '%s', which does not match its name and public key, so Go refuses it; copy the "
                       'whole key again from the operator of the checksum database' % parts[1])
    if problem:
        raise PolicyError("%s %s: the key %s; expected 'name+hash+key', for example "
                          "'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8'"
                          % (name, show(value), problem))
    return parts[0]


def parse_gosumdb(value, name='gosumdb'):
    """Parse a GOSUMDB value; return a :class:`SumDB`, or None for ``off``.

    Forms: ``name`` (only for databases whose key Go knows: sum.golang.org),
    ``name+hash+key``, ``name+hash+key url``, ``off``. The single space before
    the URL is the one space any policy value may hold.
    """
    require_string(value, name)
    fields = value.split(' ')
    if '' in fields:
        raise PolicyError('%s %s has a leading, trailing or double space; %s' % (name, show(value), _SUMDB_FORMS))
    if len(fields) > 2:
        raise PolicyError('%s %s has %d fields; %s' % (name, show(value), len(fields), _SUMDB_FORMS))
    for field in fields:
        unsafe = _unsafe_character(field)
        if unsafe:
            raise PolicyError('%s %s contains %s; %s (the one exception is the single space before the URL)'
                              % (name, show(value), unsafe, UNSAFE_CHARACTERS_HELP))
    if value == 'off':
        return None

    key_or_name = fields[0]
    if '://' in key_or_name:
        raise PolicyError('%s %s starts with a URL; %s, and the URL comes after the key'
                          % (name, show(value), _SUMDB_FORMS))
    if '+' in key_or_name:
        key = key_or_name
        db_name = _check_verifier_key(key, name, value)
    elif key_or_name in _KNOWN_SUMDB_NAMES:
        key = None
        db_name = key_or_name
    else:
        raise PolicyError("%s %s names the database '%s' without its public key; Go knows only the key of "
                          "sum.golang.org, so write 'name+hash+key' (then a space and the URL if it is not "
                          "https://name)" % (name, show(value), key_or_name))
    if not _SUMDB_NAME.match(db_name):
        raise PolicyError("%s %s has database name '%s'; a name is host[/path], such as sum.golang.org"
                          % (name, show(value), db_name))

    if len(fields) == 2:
        url = fields[1]
        subject = '%s URL %s' % (name, show(url))
        if '://' not in url:
            raise PolicyError('%s has no scheme; use https:// or http://' % subject)
        parts = _split_url(url, subject)
        if parts.scheme.lower() not in ('https', 'http'):
            raise PolicyError("%s has scheme '%s'; use https or http" % (subject, parts.scheme))
        if not parts.hostname:
            raise PolicyError('%s has no host' % subject)
        if '#' in url:  # an empty fragment too: pam_env cuts an /etc/environment value at '#'
            raise PolicyError("%s has a fragment ('#...'); remove it" % subject)
        return SumDB(value, db_name, key, url, True)
    if db_name == 'sum.golang.google.cn':
        # Go treats this name as an alias: sum.golang.org, reached at sum.golang.google.cn.
        return SumDB(value, 'sum.golang.org', key, 'https://sum.golang.google.cn', True)
    return SumDB(value, db_name, key, 'https://' + db_name, False)


# ---------------------------------------------------------------------------
# Docker registry mirrors and insecure registries
# ---------------------------------------------------------------------------

def validate_registry_mirror(url, name, allow_path=False):
    """Check one registry mirror URL as dockerd does; return it normalised as dockerd stores it.

    http/https only, a host, no query, no fragment, no ``user:password@``
    (Docker 26 ``dockerd --validate`` accepts credentials that the daemon then
    refuses). A path is accepted only with ``allow_path`` (Docker Engine 24 and
    newer; older engines refuse it). The result ends with exactly one ``/``.
    """
    refuse_unsafe_characters(url, name, entry=True)
    subject = _subject(name, url, True)
    if '://' not in url:
        raise PolicyError('%s has no scheme; dockerd needs https:// or http://' % subject)
    parts = _split_url(url, subject)
    if parts.scheme not in ('https', 'http'):
        raise PolicyError("%s has scheme '%s'; dockerd accepts only https and http" % (subject, parts.scheme))
    if '@' in parts.netloc:
        raise PolicyError('%s carries credentials (user:password@); dockerd refuses them in a mirror URL, '
                          'log in to the mirror with docker login instead' % subject)
    if '?' in url:
        raise PolicyError("%s has a query ('?...'); dockerd refuses it" % subject)
    if '#' in url:
        raise PolicyError("%s has a fragment ('#...'); dockerd refuses it" % subject)
    if not parts.hostname:
        raise PolicyError('%s has no host' % subject)
    if parts.path not in ('', '/') and not allow_path:
        raise PolicyError("%s has a path ('%s'); Docker Engine before 24 refuses a path in a mirror URL, "
                          'so allow paths only when every engine is 24 or newer' % (subject, parts.path))
    return (url[:-1] if url.endswith('/') else url) + '/'


def validate_registry_mirrors(urls, name, allow_path=False):
    """Check a list of registry mirror URLs; return them normalised (see :func:`validate_registry_mirror`)."""
    if not isinstance(urls, (list, tuple)):
        raise PolicyError('%s must be a list of URLs, got %s' % (name, show(urls)))
    if not urls:
        raise PolicyError('%s is an empty list; give at least one mirror URL' % name)
    return [validate_registry_mirror(url, name, allow_path) for url in urls]


def validate_insecure_registries(entries, name):
    """Check dockerd ``insecure-registries`` entries: ``host[:port]`` or a CIDR, never a URL."""
    if not isinstance(entries, (list, tuple)):
        raise PolicyError('%s must be a list, got %s' % (name, show(entries)))
    for entry in entries:
        refuse_unsafe_characters(entry, name, entry=True)
        subject = _subject(name, entry, True)
        if '://' in entry:
            raise PolicyError('%s is a URL; dockerd wants host[:port] or a CIDR such as 10.0.0.0/8' % subject)
        if '/' in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise PolicyError('%s is neither host[:port] nor a CIDR such as 10.0.0.0/8' % subject) from None
            continue
        parts = _split_url('//' + entry, subject)
        if not parts.hostname or '@' in entry or parts.path or parts.query or parts.fragment:
            raise PolicyError('%s is neither host[:port] nor a CIDR such as 10.0.0.0/8' % subject)
        # dockerd matches host[:port] against the reference grammar's domain (labels of letters, digits and
        # inner hyphens) unless the host is an IP address.
        if not _INSECURE_HOST_PORT.match(entry) and not _is_ip_address(parts.hostname):
            raise PolicyError('%s is not a valid host name (labels of letters, digits and inner hyphens, such as '
                              'registry.corp.example.com:5000), as dockerd requires' % subject)
    return list(entries)


def refuse_insecure_all(entries, name, allowed=False, opt_in='docker_mirrors_allow_insecure_all'):
    """Refuse an insecure-registries range that covers every address (``0.0.0.0/0``, ``::/0``) unless ``allowed``.

    dockerd then skips TLS verification for every registry it reaches by IP, mirrors included; that needs the
    explicit opt-in named by ``opt_in``. Run after :func:`validate_insecure_registries`; returns the entries.
    """
    for entry in entries or []:
        if isinstance(entry, str) and '/' in entry and not allowed:
            try:
                every_address = ipaddress.ip_network(entry, strict=False).prefixlen == 0
            except ValueError:
                continue
            if every_address:
                raise PolicyError('%s covers every address, so dockerd would skip TLS verification for every '
                                  'registry; set %s: true if that is really the policy'
                                  % (_subject(name, entry, True), opt_in))
    return list(entries or [])


_DOMAIN_LABEL = r'(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])'
_INSECURE_HOST_PORT = re.compile(r'^%s(?:\.%s)*(?::[0-9]+)?$' % (_DOMAIN_LABEL, _DOMAIN_LABEL))


def _is_ip_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# GOPRIVATE / GONOPROXY / GONOSUMDB / GOINSECURE, GOFLAGS, GOTOOLCHAIN
# ---------------------------------------------------------------------------

def _glob_brackets_are_closed(pattern):
    """path.Match refuses a pattern with an unclosed '[' (ErrBadPattern)."""
    depth = 0
    for char in pattern:
        if char == '[':
            if depth:
                return False
            depth = 1
        elif char == ']':
            depth = 0
    return depth == 0


def validate_module_patterns(value, name):
    """Check module path patterns (GOPRIVATE and friends); return them as a list.

    ``value`` is a list or one comma-separated string. Each pattern is a glob
    matched against module path prefixes, such as ``corp.example.com/*``;
    ``none`` is the pattern that matches nothing.
    """
    patterns = _as_list(value, name, ',')
    for pattern in patterns:
        refuse_unsafe_characters(pattern, name, entry=True)
        subject = _subject(name, pattern, True)
        if ',' in pattern:
            raise PolicyError("%s contains ','; give one pattern per list item" % subject)
        if '://' in pattern:
            raise PolicyError('%s is a URL; a module path pattern has no scheme, such as corp.example.com/*'
                              % subject)
        if '#' in pattern:  # pam_env cuts an /etc/environment value at '#'
            raise PolicyError("%s contains '#', where /etc/environment (pam_env) would cut the value" % subject)
        if not _glob_brackets_are_closed(pattern):
            raise PolicyError("%s has an unclosed '['; Go refuses the pattern" % subject)
    return patterns


# Public module paths of every shape (two and more elements, digits first, upper case, several TLDs). A pattern
# that matches all of them matches every module a build downloads.
_SAMPLE_MODULE_PATHS = (
    'github.com/golang/go', 'golang.org/x/mod', 'gopkg.in/yaml.v3', 'rsc.io/quote', 'k8s.io/api', '9fans.net/go',
    'go.uber.org/zap', 'cloud.google.com/go/storage', 'github.com/Azure/azure-sdk-for-go', 'example.com/m',
)


def _glob_element_regex(glob):
    """path.Match of Go as a regular expression: * and ? never match '/', [^...] negates a class."""
    regex = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == '*':
            regex.append('[^/]*')
        elif char == '?':
            regex.append('[^/]')
        elif char == '[' and ']' in glob[index + 1:]:
            close = glob.index(']', index + 1)
            body = glob[index + 1:close]
            negate = body.startswith('^')
            body = body[1:] if negate else body
            regex.append('[%s%s]' % ('^/' if negate else '', body.replace('\\', '\\\\').replace('[', '\\[')))
            index = close
        else:
            regex.append(re.escape(char))
        index += 1
    return ''.join(regex)


def module_pattern_matches(pattern, module_path):
    """Whether a GOPRIVATE-style pattern matches a module path, as golang.org/x/mod/module.MatchPrefixPatterns does.

    The pattern matches a prefix of the path with as many elements as it has.
    """
    glob = pattern[:-1] if pattern.endswith('/') else pattern  # TrimSuffix: one '/'
    if not glob:
        return False
    elements = glob.count('/') + 1
    path_elements = module_path.split('/')
    if len(path_elements) < elements:
        return False
    try:
        return re.fullmatch(_glob_element_regex(glob), '/'.join(path_elements[:elements])) is not None
    except re.error:
        return False  # Go's path.Match fails on a malformed pattern, which then matches nothing


def matches_every_module(pattern):
    """Whether a module path pattern (``*``, ``*/*``, ``*.*`` ...) matches every public module."""
    return all(module_pattern_matches(pattern, path) for path in _SAMPLE_MODULE_PATHS)


_GOFLAG = re.compile(r'^--?(?P<flag>[A-Za-z0-9][A-Za-z0-9._-]*)(=.*)?$')


def validate_goflags(value, name):
    """Check GOFLAGS entries (``-flag`` or ``-flag=value``); return them as a list.

    ``value`` is a list or one space-separated string. ``-insecure`` is
    refused: Go 1.17 and newer fail every command that gets it.
    """
    flags = _as_list(value, name, ' ')
    for flag in flags:
        refuse_unsafe_characters(flag, name, entry=True)
        subject = _subject(name, flag, True)
        if '#' in flag:  # pam_env cuts an /etc/environment value at '#'
            raise PolicyError("%s contains '#', where /etc/environment (pam_env) would cut the value" % subject)
        match = _GOFLAG.match(flag)
        if not match:
            raise PolicyError('%s is not shaped -flag or -flag=value' % subject)
        if match.group('flag') == 'insecure':
            raise PolicyError('%s is refused: Go 1.17 and newer fail every command with -insecure; '
                              'list the hosts in GOINSECURE instead' % subject)
    return flags


_GO_VERSION = r'go1(\.(0|[1-9][0-9]*)){1,2}((rc|beta)[1-9][0-9]*)?(-[A-Za-z0-9._-]+)?'
_GOTOOLCHAIN = re.compile(r'^(auto|path|(local|%s)(\+(auto|path))?)$' % _GO_VERSION)


def validate_gotoolchain(value, name):
    """Check a GOTOOLCHAIN value: ``local``, ``auto``, ``path``, ``go1.N.P`` with an optional ``+auto``/``+path``."""
    refuse_unsafe_characters(value, name)
    if not _GOTOOLCHAIN.match(value):
        raise PolicyError('%s %s is not a GOTOOLCHAIN value; use local, auto, path, or a toolchain such as '
                          'go1.22.4, optionally followed by +auto or +path' % (name, show(value)))
    return value


# ---------------------------------------------------------------------------
# Module paths in the module proxy protocol
# ---------------------------------------------------------------------------

_MODULE_PATH = re.compile(r'^[A-Za-z0-9._~+-]+(/[A-Za-z0-9._~+-]+)*$')


def escape_module_path(path, name='probe_module'):
    """Case-escape a module path for the GOPROXY protocol: each uppercase letter becomes '!' + lowercase.

    >>> escape_module_path('github.com/Azure/azure-sdk')
    'github.com/!azure/azure-sdk'
    """
    refuse_unsafe_characters(path, name)
    if '://' in path or not _MODULE_PATH.match(path):
        raise PolicyError('%s %s is not a module path such as corp.example.com/team/lib' % (name, show(path)))
    return ''.join('!' + char.lower() if 'A' <= char <= 'Z' else char for char in path)


# ---------------------------------------------------------------------------
# The go_proxy role's whole policy
# ---------------------------------------------------------------------------

GO_PATTERN_VARIABLES = (
    ('go_proxy_private', 'GOPRIVATE'),
    ('go_proxy_noproxy', 'GONOPROXY'),
    ('go_proxy_nosumdb', 'GONOSUMDB'),
    ('go_proxy_insecure', 'GOINSECURE'),
)


def _refuse_patterns_of_every_module(normalised):
    """A pattern matching every module in GONOSUMDB (or GOPRIVATE, which Go reads when GONOSUMDB is unset) turns
    checksum verification off for everything, as GOSUMDB=off does; in GOINSECURE it drops TLS checks for every
    module. Each needs its opt-in."""
    # Go reads GONOSUMDB when it is set, GOPRIVATE otherwise: only the one Go reads decides.
    nosumdb_variable = 'go_proxy_nosumdb' if normalised['go_proxy_nosumdb'] else 'go_proxy_private'
    checks = (
        (nosumdb_variable, 'go_proxy_allow_sumdb_off',
         'which turns off checksum verification of every module, as GOSUMDB=off does'),
        ('go_proxy_insecure', 'go_proxy_allow_insecure_all',
         'which fetches every module over plain HTTP or without certificate checks'),
    )
    for variable, opt_in, consequence in checks:
        if normalised[opt_in]:
            continue
        for pattern in normalised[variable]:
            if matches_every_module(pattern):
                raise PolicyError('%s matches every module, %s; name the modules (such as corp.example.com/*), '
                                  'or set %s: true if that is really the policy'
                                  % (_subject(variable, pattern, True), consequence, opt_in))


def validate_go_policy(policy):
    """Validate the go_proxy role's variables; return them normalised, same keys.

    Unset values come back as ``[]`` (pattern and flag lists) or ``None``
    (``go_proxy_sumdb``, ``go_proxy_toolchain``); Go reads an empty GONOPROXY or
    GONOSUMDB as unset, so the two mean the same. ``go_proxy_urls`` must name
    at least one proxy. ``go_proxy_systemd_units``, when given, comes back as
    service names (``gitlab-runner`` -> ``gitlab-runner.service``). Keys other
    than the policy's are ignored.

    Two opt-ins guard the values that switch a protection off for every module:
    ``go_proxy_allow_sumdb_off`` (GOSUMDB ``off``, or a GONOSUMDB pattern such as
    ``*`` that matches every module, from ``go_proxy_nosumdb`` or, when that is
    empty, ``go_proxy_private``) and ``go_proxy_allow_insecure_all`` (a
    ``go_proxy_insecure`` pattern that matches every module).
    """
    if not isinstance(policy, dict):
        raise PolicyError('the go_proxy policy must be a dict of go_proxy_* variables, got %s' % show(policy))
    normalised = {
        'go_proxy_urls': list(policy.get('go_proxy_urls') or []),
        'go_proxy_fallback': policy.get('go_proxy_fallback', 'direct'),
        'go_proxy_fallthrough': policy.get('go_proxy_fallthrough', 'not_found'),
        'go_proxy_allow_sumdb_off': policy.get('go_proxy_allow_sumdb_off', False),
        'go_proxy_allow_insecure_all': policy.get('go_proxy_allow_insecure_all', False),
    }
    if 'go_proxy_urls' in policy and not isinstance(policy['go_proxy_urls'], (list, tuple, type(None))):
        raise PolicyError('go_proxy_urls must be a list of proxy URLs, got %s' % show(policy['go_proxy_urls']))
    for opt_in in ('go_proxy_allow_sumdb_off', 'go_proxy_allow_insecure_all'):
        if not isinstance(normalised[opt_in], bool):
            raise PolicyError('%s must be true or false, got %s' % (opt_in, show(normalised[opt_in])))
    # Checks every URL, the fallback and the fallthrough, naming go_proxy_urls.
    build_goproxy(normalised['go_proxy_urls'], normalised['go_proxy_fallback'],
                  normalised['go_proxy_fallthrough'], name='go_proxy_urls')

    sumdb = policy.get('go_proxy_sumdb')
    if isinstance(sumdb, bool):  # an unquoted off in YAML; falsy, so it must not pass for "unset"
        raise PolicyError("go_proxy_sumdb is %s (a bool): YAML reads a bare off as false, so write 'off' in quotes"
                          % sumdb)
    sumdb = sumdb or None
    if sumdb is not None:
        parse_gosumdb(sumdb, 'go_proxy_sumdb')
        if sumdb == 'off' and not normalised['go_proxy_allow_sumdb_off']:
            raise PolicyError("go_proxy_sumdb is 'off', which turns off checksum verification of every module; "
                              'set go_proxy_allow_sumdb_off: true if that is really the policy')
    normalised['go_proxy_sumdb'] = sumdb

    for variable, dummy in GO_PATTERN_VARIABLES:
        normalised[variable] = validate_module_patterns(policy.get(variable), variable)
    _refuse_patterns_of_every_module(normalised)
    normalised['go_proxy_flags'] = validate_goflags(policy.get('go_proxy_flags'), 'go_proxy_flags')
    toolchain = policy.get('go_proxy_toolchain') or None
    normalised['go_proxy_toolchain'] = None if toolchain is None else validate_gotoolchain(toolchain,
                                                                                           'go_proxy_toolchain')
    if 'go_proxy_systemd_units' in policy:
        try:
            normalised['go_proxy_systemd_units'] = service_names(policy['go_proxy_systemd_units'])
        except UnitNameError as error:
            raise PolicyError(str(error)) from None
    if not normalised['go_proxy_urls']:
        raise PolicyError('go_proxy_urls is empty: give the corporate Go module proxies in priority order, '
                          'or set go_proxy_state: absent to remove the policy from this host')
    return normalised


def go_environment(policy):
    """Validate the go_proxy policy and return the Go environment it sets, in a stable order.

    Only the variables the policy sets appear. GOPROXY is always there; GOFLAGS
    entries are joined with spaces (quote the value in every output) and
    pattern lists with commas.
    """
    normalised = validate_go_policy(policy)
    environment = {'GOPROXY': build_goproxy(normalised['go_proxy_urls'], normalised['go_proxy_fallback'],
                                            normalised['go_proxy_fallthrough'])}
    if normalised['go_proxy_sumdb']:
        environment['GOSUMDB'] = normalised['go_proxy_sumdb']
    for variable, go_name in GO_PATTERN_VARIABLES:
        if normalised[variable]:
            environment[go_name] = ','.join(normalised[variable])
    if normalised['go_proxy_flags']:
        environment['GOFLAGS'] = ' '.join(normalised['go_proxy_flags'])
    if normalised['go_proxy_toolchain']:
        environment['GOTOOLCHAIN'] = normalised['go_proxy_toolchain']
    return environment
