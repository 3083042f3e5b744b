# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The package-index policy merged into the clients' system-wide files, every line of the host's own kept.

- ``pip.conf`` (INI, read by Python's RawConfigParser): ``index-url``, ``extra-index-url``, ``trusted-host`` (for
  each http:// index) and ``cert`` in ``[global]``;
- ``uv.toml``: one ``[[index]]`` table per index, the extra ones first, the main one last with ``default = true``;
- the global ``npmrc`` (npm's ini parser, flat): ``registry``, ``@scope:registry`` and ``cafile``.

Neither pip nor npm reads a comment at the end of a value line (pip keeps it in the value), so the collection's
lines are one block between two comment lines, ``# BEGIN buildfleet.mirrors`` and ``# END buildfleet.mirrors``.
Each merge takes the block out, checks what is left for a key that would override or contradict the policy
(a conflict is a ValueError naming the file, the line and the key: the host's own line is never changed), and puts
a fresh block in a place that depends only on what is left, so a second run gives the same text. Removal takes the
block out, and the file itself when nothing else is left in it.

Pure Python on purpose (no Ansible import): a writer module runs it on the managed host inside its transaction,
and the unit tests call it directly.
"""

from __future__ import annotations

import configparser
import json
import re
import sys

from urllib.parse import urlsplit

BEGIN = '# BEGIN buildfleet.mirrors'
END = '# END buildfleet.mirrors'
EXPLAIN = '# Managed by Ansible (buildfleet.mirrors): the lines up to END are replaced by every run; others are kept.'

PIP_CONF = '/etc/pip.conf'
UV_TOML = '/etc/uv/uv.toml'
NPMRC_DEBIAN = '/etc/npmrc'

# pip reads a key in a command's section ([install], [download]...) before the same key in [global], so any of
# these in any section the collection does not own would override or defeat the policy. trusted-host and cert are
# conflicts only when the policy writes them (a second one in [global] breaks pip; one in [install] beats ours): a
# host's own cert line, with a policy that has none, is the host's trust and is kept.
PIP_KEYS = ('index-url', 'extra-index-url', 'trusted-host', 'cert', 'no-index')
PIP_INDEX_KEYS = ('index-url', 'extra-index-url', 'no-index')
NPM_KEYS = ('registry',)
# The host's own CA settings conflict only with a policy that sets cafile: without one they are the host's trust.
NPM_CA_KEYS = ('cafile', 'ca')


# ---------------------------------------------------------------------------
# The block
# ---------------------------------------------------------------------------

def split_block(text, path):
    """Return (lines before the block, the block's lines, lines after it); no block: (lines, [], [])."""
    lines = text.split('\n') if text else []
    begins = [number for number, line in enumerate(lines) if line.rstrip() == BEGIN]
    ends = [number for number, line in enumerate(lines) if line.rstrip() == END]
    if not begins and not ends:
        return lines, [], []
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise ValueError('%s holds %d "%s" and %d "%s" lines; it must hold one pair or none. It was edited by hand: '
                         'remove the collection\'s lines (and those markers), then run again; the file was left '
                         'untouched' % (path, len(begins), BEGIN, len(ends), END))
    return lines[:begins[0]], lines[begins[0]:ends[0] + 1], lines[ends[0] + 1:]


def _block(body):
    return [BEGIN, EXPLAIN] + body + [END]


def _joined(lines):
    text = '\n'.join(lines)
    if text.strip() == '':
        return None
    return text if text.endswith('\n') else text + '\n'


def holds_block(text, path='the file'):
    """Whether the text holds the collection's block."""
    return bool(text) and bool(split_block(text, path)[1])


def _numbered_rest(text, path):
    """The lines outside the block, each with its line number in the file (0-based).

    The blank line that separates a block at the top (or the end) of the file from the rest goes with the block.
    """
    if not text:
        return []
    before, block, after = split_block(text, path)
    if block and not before and after[:1] == ['']:
        after = after[1:]
        skipped = 1
    else:
        skipped = 0
    if block and after in ([], ['']) and before[-1:] == ['']:
        before = before[:-1]
    offset = len(before) + len(block) + skipped
    return list(enumerate(before)) + [(offset + number, line) for number, line in enumerate(after)]


def _without_block(text, path):
    return [line for dummy, line in _numbered_rest(text, path)]


def _removed(text, path):
    """The text without the block (the same string when it has none), or None when nothing else is left."""
    if not holds_block(text, path):
        return text
    return _joined(_without_block(text, path))


# ---------------------------------------------------------------------------
# pip.conf
# ---------------------------------------------------------------------------

def _host_port(url):
    parts = urlsplit(url)
    return parts.netloc.rpartition('@')[2]


def plan_pip_conf(index_url, extra_index_urls=(), cert=None):
    """The ``[global]`` keys of the policy, in order: key -> list of values (one per line).

    Every http:// index gets its host[:port] in ``trusted-host`` (pip refuses plain http otherwise); ``cert`` is
    the CA bundle pip then uses instead of its own (certifi): the system bundle, never one corporate CA alone.
    An empty plan (``index_url`` None) takes the collection's lines out.
    """
    if not index_url:
        return {}
    plan = {'index-url': [index_url]}
    if extra_index_urls:
        plan['extra-index-url'] = list(extra_index_urls)
    trusted = []
    for url in [index_url] + list(extra_index_urls or ()):
        if urlsplit(url).scheme.lower() == 'http' and _host_port(url) not in trusted:
            trusted.append(_host_port(url))
    if trusted:
        plan['trusted-host'] = trusted
    if cert:
        plan['cert'] = [cert]
    return plan


def _pip_key(name):
    """pip's own normalisation of a configuration key (configuration._normalize_name)."""
    name = name.lower().replace('_', '-')
    return name[2:] if name.startswith('--') else name


def _pip_conflicts(lines, path, keys=PIP_KEYS):
    parser = configparser.RawConfigParser()
    parser.optionxform = _pip_key
    try:
        parser.read_string('\n'.join(lines), source=path)
    except configparser.Error as error:
        raise ValueError('%s cannot be read as pip reads it (%s); it was left untouched: fix it, then run again'
                         % (path, str(error).splitlines()[0])) from None
    found = []
    for section in parser.sections():
        for key in parser.options(section):
            if key in keys:
                found.append('%s in [%s]' % (key, section))
    return found


def merge_pip_conf(text, plan, path=PIP_CONF):
    """Merge the plan (see :func:`plan_pip_conf`) into the text of a pip.conf (None: no file).

    Returns the new text (the same string when nothing changes), or None when the file should not exist. The block
    goes right after the first ``[global]`` header, or, with none, at the top of the file with a ``[global]`` header
    of its own. A key of the plan, or ``index-url``, ``extra-index-url`` or ``no-index``, that the host's own lines
    set in any section is a conflict.
    """
    rest = _without_block(text, path) if text else []
    conflicts = _pip_conflicts(rest, path, set(PIP_INDEX_KEYS) | set(plan)) if plan else []
    if conflicts:
        raise ValueError('%s already sets %s outside the collection\'s lines; pip would read those instead of (or '
                         'beside) the policy. Remove them from the file, then run again; the file was left untouched'
                         % (path, ', '.join(conflicts)))
    if not plan:
        return _removed(text, path)
    body = []
    for key, values in plan.items():
        body.append('%s = %s' % (key, values[0]))
        body.extend('    %s' % value for value in values[1:])
    headers = [number for number, line in enumerate(rest) if re.match(r'^\[\s*global\s*\]\s*$', line)]
    if headers:
        at = headers[0] + 1
        lines = rest[:at] + _block(body) + rest[at:]
    else:
        lines = _block(['[global]'] + body) + ([''] + rest if _joined(rest) else [])
    result = _joined(lines)
    return text if result == text else result


# ---------------------------------------------------------------------------
# uv.toml
# ---------------------------------------------------------------------------

def _toml_string(value):
    return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's (\uXXXX for anything not ASCII)


def plan_uv_toml(index_url, extra_index_urls=()):
    """The ``[[index]]`` tables, in uv's order of priority: each extra index, then the main one as the default.

    uv asks its indexes in order and, with its default ``index-strategy`` (``first-index``), takes a package from
    the first index that has it: unlike pip it never mixes candidates from two indexes. An empty plan takes the
    collection's tables out.
    """
    if not index_url:
        return []
    return [{'url': url} for url in extra_index_urls or ()] + [{'url': index_url, 'default': True}]


def _uv_conflicts(document):
    found = []
    for table, where in ((document, ''), (document.get('pip') if isinstance(document.get('pip'), dict) else {},
                                          'pip.')):
        for key in ('index-url', 'extra-index-url', 'no-index'):
            if key in table:
                found.append(where + key)
    for entry in document.get('index') or []:
        if isinstance(entry, dict) and entry.get('default'):
            found.append('an [[index]] with default = true (%s)' % entry.get('url', 'no url'))
    return found


# Top-level settings must come before the first table of a TOML file, and the index tables go at its end: the
# settings are a second block of their own, always at the very top of the file.
UV_SETTINGS_BEGIN = '# BEGIN buildfleet.mirrors settings'
UV_SETTINGS_END = '# END buildfleet.mirrors settings'
# native-tls makes uv trust the system store (which ca_trust completes) instead of its bundled roots; every uv since
# 0.3 reads it. Newer uv calls it system-certs (0.13 warns that native-tls is deprecated), which an older uv refuses.
UV_TLS_KEYS = ('native-tls', 'system-certs')


def uv_settings(native_tls=False, key='native-tls'):
    """The top-level uv.toml settings of the policy: ``native-tls = true`` (or ``key``, ``system-certs`` for a uv
    that knows it) when a private CA is in use."""
    if key not in UV_TLS_KEYS:
        raise ValueError('uv TLS key %r is not one of %s' % (key, ', '.join(UV_TLS_KEYS)))
    return {key: True} if native_tls else {}


def _without_uv_settings(text, path):
    """The text without the settings block at its top (and the blank line the merge put after it)."""
    if not text:
        return text
    lines = text.split('\n')
    begins = [number for number, line in enumerate(lines) if line.rstrip() == UV_SETTINGS_BEGIN]
    ends = [number for number, line in enumerate(lines) if line.rstrip() == UV_SETTINGS_END]
    if not begins and not ends:
        return text
    if begins != [0] or len(ends) != 1:
        raise ValueError('%s holds the "%s" lines somewhere else than at its top, or more than once. It was edited '
                         'by hand: remove the collection\'s lines (and those markers), then run again; the file was '
                         'left untouched' % (path, UV_SETTINGS_BEGIN))
    rest = lines[ends[0] + 1:]
    if rest[:1] == [''] and len(rest) > 1:
        rest = rest[1:]
    return '\n'.join(rest)


def merge_uv_toml(text, plan, path=UV_TOML, settings=None):
    """Merge the plan (see :func:`plan_uv_toml`) into the text of a uv.toml (None: no file).

    ``settings`` (top-level keys such as :func:`uv_settings`' ``native-tls``) go in a block of their own at the very
    top of the file, before any table; a host that sets one of them (or ``system-certs`` for ``native-tls``) to the
    same value keeps its line and gets none, another value is a conflict. Returns the new text, or None when the
    file should not exist. The tables go at the end of the file (after every table of the host's, so no key of the
    host's moves into them). A default index, ``index-url``, ``extra-index-url`` or ``no-index`` of the host's own
    (at the top or in ``[pip]``) is a conflict (``find-links`` only adds local files, so it is kept). The result is
    parsed again: everything but the collection's tables must be as it was.
    """
    try:
        import tomllib  # Python 3.11 and newer
    except ImportError:
        tomllib = None

    original, text = text, _without_uv_settings(text, path)
    settings = dict(settings or {}) if plan else {}
    rest = _without_block(text, path) if text else []
    if tomllib is None:
        # An older Python (Debian 11's 3.9) cannot read the host's lines to check them; the collection's own lines
        # are rendered from checked values and need no reading back. uv itself reads the result at verification.
        if any(line.strip() and not line.lstrip().startswith('#') for line in rest):
            raise ValueError('%s has settings of its own, and this host\'s Python (%d.%d) has no tomllib to check '
                             'that they do not override the policy (Python 3.11 or newer has it). Move them out of '
                             'the file, or set python_mirrors_uv: false; the file was left untouched'
                             % ((path,) + tuple(sys.version_info[:2])))
        before = {}
    else:
        try:
            before = tomllib.loads('\n'.join(rest))
        except tomllib.TOMLDecodeError as error:
            raise ValueError('%s is not valid TOML (%s); it was left untouched: fix it, then run again'
                             % (path, error)) from None
    conflicts = _uv_conflicts(before) if plan else []
    for key, value in list(settings.items()):
        # A host that already says the same (native-tls, or system-certs, = true) keeps its line and gets none.
        same = [other for other in (UV_TLS_KEYS if key in UV_TLS_KEYS else (key,)) if other in before]
        if same and all(before[other] == value for other in same):
            del settings[key]
        else:
            conflicts += ['%s = %s' % (other, _toml_value(before[other])) for other in same]
    if conflicts:
        raise ValueError('%s already sets %s outside the collection\'s lines; uv would use those instead of (or '
                         'beside) the policy. Remove them from the file, then run again; the file was left untouched'
                         % (path, ', '.join(conflicts)))
    if not plan:
        removed = _removed(text, path)
        return original if removed == original else removed
    body = []
    for table in plan:
        body += ['[[index]]'] + ['%s = %s' % (key, _toml_value(value))
                                 for key, value in table.items()]
    while rest and rest[-1].strip() == '':
        rest = rest[:-1]
    lines = rest + ([''] if rest else []) + _block(body)
    if settings:
        top = ['%s = %s' % (key, _toml_value(value)) for key, value in settings.items()]
        lines = [UV_SETTINGS_BEGIN, EXPLAIN] + top + [UV_SETTINGS_END, ''] + lines
    result = _joined(lines)
    expected = dict(before)
    expected.update(settings)
    expected['index'] = list(before.get('index') or []) + plan
    if tomllib is not None and tomllib.loads(result) != expected:
        raise ValueError('internal error: merging the indexes into %s would change other keys; the file was left '
                         'untouched' % path)
    return original if result == original else result


def _toml_value(value):
    return ('true' if value else 'false') if isinstance(value, bool) else _toml_string(value)


# ---------------------------------------------------------------------------
# The global npmrc
# ---------------------------------------------------------------------------

def plan_npmrc(registry, scopes=None, cafile=None):
    """The npmrc keys of the policy, in order: ``registry``, each ``@scope:registry``, ``cafile``.

    ``cafile`` replaces npm's own CA list: point it at the system bundle, never at one corporate CA alone. An empty
    plan (``registry`` None) takes the collection's lines out.
    """
    if not registry:
        return {}
    plan = {'registry': registry}
    for scope, url in (scopes or {}).items():
        plan['%s:registry' % scope] = url
    if cafile:
        plan['cafile'] = cafile
    return plan


def _npm_top_level(lines):
    """(line number, key) of each ``key = value`` line before the first ``[section]`` (npm reads only those)."""
    found = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith('['):
            break
        if not stripped or stripped[0] in '#;' or '=' not in stripped:
            continue
        found.append((number, stripped.split('=', 1)[0].strip()))
    return found


def merge_npmrc(text, plan, path=NPMRC_DEBIAN):
    """Merge the plan (see :func:`plan_npmrc`) into the text of a global npmrc (None: no file).

    Returns the new text, or None when the file should not exist. The block goes at the top of the file: npm reads
    a key after a ``[section]`` header as part of that section, not as configuration. A key of the plan (or
    ``registry``; ``ca`` and ``cafile`` when the plan sets ``cafile``) that the host's own lines set is a conflict:
    npm would take the last one. A host's own ``cafile`` (many hosts point it at the system bundle) is kept when
    the policy sets none.
    """
    numbered = _numbered_rest(text, path)
    rest = [line for dummy, line in numbered]
    if plan:
        managed = set(NPM_KEYS) | set(plan) | (set(NPM_CA_KEYS) if 'cafile' in plan else set())
        conflicts = ['%s (line %d)' % (key, numbered[index][0] + 1)
                     for index, key in _npm_top_level(rest) if key in managed]
        if conflicts:
            raise ValueError('%s already sets %s outside the collection\'s lines; npm would read those instead of '
                             'the policy. Remove them from the file, then run again; the file was left untouched'
                             % (path, ', '.join(conflicts)))
    if not plan:
        return _removed(text, path)
    body = ['%s=%s' % (key, value) for key, value in plan.items()]
    result = _joined(_block(body) + ([''] + rest if _joined(rest) else []))
    return text if result == text else result
