# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Credentials in URLs: find them inside any value (every URL in it) and mask them.

Used for every value that may end up in a message, a result or a diff. Pure Python, no Ansible import.
"""

from __future__ import annotations

import re
import unicodedata

from urllib.parse import unquote


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
