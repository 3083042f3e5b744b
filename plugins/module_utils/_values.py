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
