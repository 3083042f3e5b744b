# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every policy value must be before any file or client sees it: the shared checks and the error.

Every check raises :class:`PolicyError` (a ``ValueError``) whose message names
the variable or option the caller passed in and shows the offending value with
any credentials redacted. Pure Python, no Ansible import.
"""

from __future__ import annotations

import re
import unicodedata

from urllib.parse import urlsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    _SCHEME,
    has_credentials,
    show,
    _userinfo_end,
)


class PolicyError(ValueError):
    """A policy value that Go, dockerd or a config file would refuse or misread."""


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
# Package index and registry URLs written into INI, TOML and npmrc files
# ---------------------------------------------------------------------------

CONFIG_FILE_URL_HELP = ('it is written into world-readable system-wide files (pip.conf, uv.toml, the global npmrc) '
                        'that every user of the host can read; credentials for a private index are not managed by '
                        'this collection yet: give them to each user instead (~/.netrc for pip and uv, '
                        '~/.npmrc for npm)')


def validate_config_file_url(url, name, allow_http=False, opt_in=None, entry=False):
    """Check a package index or registry URL that goes into pip.conf, uv.toml or an npmrc; return it with one ``/``.

    https only, or http when ``allow_http`` (``opt_in`` names the variable that allows it); a host; no query
    (pip and npm append the project after the path, so a query would end up in the middle), no fragment; no
    credentials (user info, or a query parameter that looks like a secret), since the files are world-readable;
    none of the characters :func:`refuse_unsafe_characters` refuses, and no ``#``: ``;`` and ``#`` start a comment
    anywhere in an npmrc value (npm's ini parser), ``$`` starts ``${VAR}`` expansion there, and whitespace ends a
    pip ``extra-index-url`` entry. The returned URL ends with exactly one ``/``.
    """
    refuse_unsafe_characters(url, name, entry)
    subject = _subject(name, url, entry)
    if '#' in url:
        raise PolicyError("%s contains '#', which starts a comment in an npmrc and a fragment in a URL" % subject)
    if '://' not in url:
        raise PolicyError('%s has no scheme; write it as a URL such as https://pypi.corp.example/simple/' % subject)
    parts = _split_url(url, subject)
    scheme = parts.scheme.lower()
    if scheme not in ('https', 'http'):
        raise PolicyError("%s has scheme '%s'; use https (or http with %s: true)"
                          % (subject, parts.scheme, opt_in or 'the http opt-in'))
    if has_credentials(url):
        raise PolicyError('%s carries credentials; %s' % (subject, CONFIG_FILE_URL_HELP))
    if not parts.hostname:
        raise PolicyError('%s has no host' % subject)
    if parts.query or '?' in url:
        raise PolicyError("%s has a query ('?...'); the clients append the package name after the path, so a "
                          'query would end up in the middle of every request' % subject)
    if scheme == 'http' and not allow_http:
        raise PolicyError('%s is plain http://, which lets anyone on the path change the packages; use https, '
                          'or set %s: true if that is really the policy' % (subject, opt_in or 'the http opt-in'))
    return url.rstrip('/') + '/'


def validate_absolute_path(path, name):
    """Check a file path that goes into a config file (a CA bundle): absolute, none of the unsafe characters."""
    refuse_unsafe_characters(path, name)
    if '#' in path:
        raise PolicyError("%s contains '#', which starts a comment in an npmrc" % _subject(name, path, False))
    if not path.startswith('/'):
        raise PolicyError('%s is not an absolute path' % _subject(name, path, False))
    return path
