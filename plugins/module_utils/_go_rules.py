# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the go command accepts: GOPROXY, GOSUMDB (with its verifier key check), module path patterns, GOFLAGS
and GOTOOLCHAIN, and module paths as the module proxy protocol escapes them.

Each check names the variable or option the caller passes in (``name``), never a role of its own: only the
filter plugins know role variable names. Pure Python, no Ansible import.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct

from dataclasses import dataclass

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    _as_list,
    PolicyError,
    refuse_unsafe_characters,
    require_string,
    _split_url,
    _subject,
    _unsafe_character,
    UNSAFE_CHARACTERS_HELP,
)


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
