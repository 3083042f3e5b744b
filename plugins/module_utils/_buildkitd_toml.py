# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Registry mirrors merged into BuildKit's ``buildkitd.toml``, every other key and comment of the file kept.

Pure Python on purpose (no Ansible import): docker_daemon_config runs it on the
managed host inside its transaction, and the unit tests call it directly.

What buildkitd reads (moby/buildkit ``util/resolver``, read in its 2026 source)::

    [registry."ghcr.io"]              # the registry as an image name spells it
      mirrors = ["mirror.corp:5000"]  # host[:port][/path], tried in order
    [registry."mirror.corp:5000"]     # the mirror's own connection settings
      http = true                     # plain HTTP (default: HTTPS, but plain
                                      # HTTP for localhost, 127.0.0.0/8, ::1)
      insecure = true                 # HTTPS without certificate checks

- A mirror entry's scheme is parsed and thrown away: whether buildkitd speaks
  HTTP or HTTPS to a mirror comes only from the ``http`` key of the table named
  by the mirror's host[:port]. So this file writes entries without a scheme
  and gives every http:// mirror ``http = true``, and every https:// mirror on a
  loopback host ``http = false`` (without it buildkitd would speak plain HTTP
  to it).
- A path in a mirror entry is a repository namespace put *after* ``/v2``
  (``m/p`` -> ``https://m/v2/p/<repo>/...``, for Harbor-style proxy projects),
  while dockerd and containerd read a mirror URL's path as the place of the
  registry API (``https://m/p/v2/<repo>/...``). The same URL would name a
  different place here, so mirrors with a path are left out (see
  :func:`plan_buildkitd`), as in the containers drop-in.
- buildkitd always appends the registry itself as the last host: a failing
  mirror (connection error, 404, any status >= 400) is skipped for the next one
  and in the end for the registry. No key turns that fallback off.
- The file is read when buildkitd starts (no reload). ``docker buildx create
  --config`` copies it into the builder's state when the builder is created;
  a later change reaches that builder only when it is created again.

Every line this module writes ends with the comment ``# buildfleet.mirrors``,
and so does the header of every table it creates. A later run replaces or
removes exactly those lines; a ``mirrors`` key without the mark in a table this
module needs is the user's, and is a conflict (ValueError) rather than
overwritten.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re

from bisect import bisect_right
from urllib.parse import urlsplit

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import mirror_hosts
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import MANAGED_BY

DEFAULT_PATH = '/etc/buildkit/buildkitd.toml'
# The trailing comment that marks a line (a key or a table header) as this collection's.
MARK = 'buildfleet.mirrors'
MANAGED_KEYS = ('mirrors', 'http', 'insecure')
HEADER = (
    '# ' + MANAGED_BY,
    '# Registry mirrors for BuildKit: standalone buildkitd and builders created with',
    '# `docker buildx create --config`. They read this file only when they start or',
    '# are created. Lines ending in "# %s" are the collection\'s; others are kept.' % MARK,
)
_REGISTRY_NAME = re.compile(r'^[A-Za-z0-9._\-:\[\]]+$')
_BARE_KEY = re.compile(r'[A-Za-z0-9_-]+')


# ---------------------------------------------------------------------------
# What to write
# ---------------------------------------------------------------------------

def _is_loopback(host):
    """containerd's MatchLocalhost: the hosts buildkitd talks plain HTTP to unless ``http = false``."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_mirror_url(registry, url):
    if not isinstance(url, str):
        raise ValueError('the mirrors of registry %s must be URL strings, got %s' % (registry, type(url).__name__))
    parts = urlsplit(url)
    # The netloc is not shown: a URL with credentials must not reach a message.
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise ValueError('a mirror of registry %s is not an http:// or https:// URL with a host' % registry)
    if '@' in parts.netloc or parts.query or parts.fragment or '?' in url or '#' in url:
        raise ValueError('a mirror of registry %s has credentials, a query or a fragment; '
                         'buildkitd.toml cannot carry them' % registry)
    if any(char in url for char in '"\\\'') or any(ord(char) < 0x20 or ord(char) == 0x7f for char in url):
        raise ValueError('a mirror of registry %s has a quote, a backslash or a control character' % registry)


def plan_buildkitd(registries, insecure_registries=None):
    """Decide what ``buildkitd.toml`` gets for a policy.

    ``registries``: ``{registry: [mirror URL, ...]}`` in priority order
    (``docker.io`` included); URLs as normalised by ``_registry_rules``.
    ``insecure_registries``: dockerd's entries (host[:port], CIDR ranges).

    Returns ``(tables, left_out)``: ``tables`` is an ordered dict, table name
    (``registry."<name>"``) -> ordered dict key -> Python value, in the order
    they are written; ``left_out`` lists ``(registry, url)`` for mirrors with a
    path, which buildkitd would read as another place (see the module's notes).
    Raises ValueError on a registry name or mirror URL that cannot be written,
    and on one mirror host given both as http:// and https://.
    """
    if not isinstance(registries, dict):
        raise ValueError('registries must be a mapping registry -> list of mirror URLs, got %s'
                         % type(registries).__name__)
    tables = {}
    scheme_of = {}
    left_out = []
    for registry, urls in registries.items():
        if not isinstance(registry, str) or not _REGISTRY_NAME.match(registry):
            raise ValueError('registry name %s cannot be a buildkitd.toml table: use host[:port]'
                             % json.dumps(str(registry)))
        if not isinstance(urls, (list, tuple)):
            raise ValueError('the mirrors of registry %s must be a list, got %s' % (registry, type(urls).__name__))
        for url in urls:
            _check_mirror_url(registry, url)
        entries = []
        for host in mirror_hosts(list(urls), insecure_registries):
            if host['path']:
                left_out.append((registry, host['url'] + '/'))
                continue
            if host['netloc'] not in entries:
                entries.append(host['netloc'])
            scheme = 'http' if host['plain_http'] else 'https'
            if scheme_of.setdefault(host['netloc'], scheme) != scheme:
                raise ValueError('mirror host %s is given both as http:// and as https://; buildkitd.toml sets the '
                                 'scheme per host ([registry."%s"] http), so use one' % (host['netloc'], host['netloc']))
            hostname = urlsplit(host['url']).hostname
            settings = {}
            if host['plain_http']:
                settings['http'] = True
            elif _is_loopback(hostname):
                settings['http'] = False
            if host['skip_verify']:
                settings['insecure'] = True
            if settings:
                tables.setdefault(host['netloc'], {}).update(settings)
        if entries:
            # A registry that is also some mirror's host keeps one table: mirrors first.
            keys = {'mirrors': entries}
            keys.update(tables.pop(registry, {}))
            tables[registry] = keys
    # Mirror host tables after the registries, in order of first use; a registry's own entry stays in place.
    ordered = {}
    for name in [name for name in registries if name in tables] + [name for name in tables if name not in registries]:
        ordered[name] = tables[name]
    return ordered, left_out


def _render_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '[%s]' % ', '.join(json.dumps(item, ensure_ascii=False) for item in value)


def _render_key(key, value, indent):
    return '%s%s = %s  # %s' % (indent, key, _render_value(value), MARK)


def _render_header(name):
    return '[registry.%s]  # %s' % (json.dumps(name, ensure_ascii=False), MARK)


def _table_label(name):
    return '[registry.%s]' % json.dumps(name, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Reading the file: a TOML statement scanner that keeps positions
# ---------------------------------------------------------------------------

class _Statement(object):
    """One statement of the file: ``kind`` is 'table', 'array', 'key' or 'comment' (a line with only a comment)."""

    def __init__(self, kind, path, first, last, comment, table=(), value=''):
        self.kind = kind
        self.path = path
        self.first = first
        self.last = last
        self.comment = comment
        self.table = table
        self.value = value

    @property
    def ours(self):
        return self.comment is not None and self.comment.strip() == MARK


_ESCAPES = {'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', 'e': '\x1b', '"': '"', '\\': '\\'}


class _Scanner(object):
    """Splits TOML text into statements with their line numbers.

    It reads enough of TOML to know where each statement starts and ends
    (strings of all four kinds, arrays and inline tables over several lines,
    comments) and the parsed key paths; values are kept as raw text. Anything it
    cannot read is a ValueError naming the line: callers only edit what it read.
    """

    def __init__(self, text, path):
        self.text = text
        self.path = path
        self.pos = 0
        self.starts = [0] + [index + 1 for index, char in enumerate(text) if char == '\n']

    def line(self, pos):
        return bisect_right(self.starts, pos) - 1

    def fail(self, what):
        raise ValueError('%s line %d: %s; buildkitd.toml was left untouched'
                         % (self.path, self.line(min(self.pos, len(self.text))) + 1, what))

    def peek(self, count=1):
        return self.text[self.pos:self.pos + count]

    def skip_blanks(self):
        while self.pos < len(self.text) and self.text[self.pos] in ' \t':
            self.pos += 1

    def comment(self):
        """Consume a comment up to the end of the line; return its text after '#', or None."""
        if self.peek() != '#':
            return None
        end = self.text.find('\n', self.pos)
        end = len(self.text) if end < 0 else end
        text = self.text[self.pos + 1:end].rstrip('\r')
        self.pos = end
        return text

    def end_of_line(self):
        if self.pos >= len(self.text):
            return
        if self.peek() == '\n':
            self.pos += 1
        elif self.peek(2) == '\r\n':
            self.pos += 2
        else:
            self.fail('unexpected %s after a value' % json.dumps(self.peek()))

    def skip_space_in_brackets(self):
        """Whitespace, newlines and comments, as allowed inside an array (and by TOML 1.1 in inline tables)."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in ' \t\n':
                self.pos += 1
            elif self.peek(2) == '\r\n':
                self.pos += 2
            elif char == '#':
                self.comment()
            else:
                return

    def statements(self):
        found = []
        table = ()
        while True:
            self.skip_blanks()
            if self.pos >= len(self.text):
                return found
            start = self.pos
            char = self.text[self.pos]
            if char == '\n' or self.peek(2) == '\r\n':
                self.end_of_line()
            elif char == '#':
                line = self.line(start)
                found.append(_Statement('comment', (), line, line, self.comment()))
                self.end_of_line()
            elif char == '[':
                array = self.peek(2) == '[['
                self.pos += 2 if array else 1
                self.skip_blanks()
                path = self.key()
                self.skip_blanks()
                close = ']]' if array else ']'
                if self.peek(len(close)) != close:
                    self.fail('a table header without its closing %s' % close)
                self.pos += len(close)
                self.skip_blanks()
                line = self.line(start)
                found.append(_Statement('array' if array else 'table', path, line, line, self.comment()))
                self.end_of_line()
                table = path
            else:
                path = self.key()
                self.skip_blanks()
                if self.peek() != '=':
                    self.fail("a key without '='")
                self.pos += 1
                self.skip_blanks()
                value_start = self.pos
                self.value()
                value = self.text[value_start:self.pos]
                last = self.line(self.pos - 1)
                self.skip_blanks()
                found.append(_Statement('key', path, self.line(start), last, self.comment(), table, value))
                self.end_of_line()

    def key(self):
        parts = []
        while True:
            self.skip_blanks()
            char = self.peek()
            if char == '"':
                parts.append(self.basic_string())
            elif char == "'":
                parts.append(self.literal_string())
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if not match:
                    self.fail('a key was expected, found %s' % json.dumps(char or 'the end of the file'))
                parts.append(match.group(0))
                self.pos = match.end()
            self.skip_blanks()
            if self.peek() != '.':
                return tuple(parts)
            self.pos += 1

    def basic_string(self):
        self.pos += 1
        chars = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return ''.join(chars)
            if char == '\n':
                break
            if char == '\\':
                chars.append(self.escape())
                continue
            chars.append(char)
            self.pos += 1
        self.fail('a string without its closing quote')

    def escape(self):
        letter = self.text[self.pos + 1:self.pos + 2]
        if letter in _ESCAPES:
            self.pos += 2
            return _ESCAPES[letter]
        size = {'u': 4, 'U': 8, 'x': 2}.get(letter)
        digits = self.text[self.pos + 2:self.pos + 2 + size] if size else ''
        if not size or not re.match(r'^[0-9A-Fa-f]{%d}$' % size, digits):
            self.fail('an escape sequence it cannot read (\\%s)' % letter)
        self.pos += 2 + size
        return chr(int(digits, 16))

    def literal_string(self):
        end = self.text.find("'", self.pos + 1)
        newline = self.text.find('\n', self.pos + 1)
        if end < 0 or 0 <= newline < end:
            self.fail('a string without its closing quote')
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def multiline_string(self, quote):
        self.pos += 3
        while self.pos < len(self.text):
            if self.text.startswith(quote * 3, self.pos):
                # Up to two quotes may stand right before the closing three.
                count = 3
                while count < 5 and self.text.startswith(quote, self.pos + count):
                    count += 1
                self.pos += count
                return
            self.pos += 2 if quote == '"' and self.text[self.pos] == '\\' else 1
        self.fail('a multi-line string without its end')

    def value(self):
        char = self.peek()
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(char)
        elif char == '"':
            self.basic_string()
        elif char == "'":
            self.literal_string()
        elif char == '[':
            self.pos += 1
            while True:
                self.skip_space_in_brackets()
                if self.peek() == ']':
                    self.pos += 1
                    return
                self.value()
                self.skip_space_in_brackets()
                if self.peek() == ',':
                    self.pos += 1
                elif self.peek() != ']':
                    self.fail("an array without ',' or ']'")
        elif char == '{':
            self.pos += 1
            while True:
                self.skip_space_in_brackets()
                if self.peek() == '}':
                    self.pos += 1
                    return
                self.key()
                self.skip_blanks()
                if self.peek() != '=':
                    self.fail("an inline table key without '='")
                self.pos += 1
                self.skip_blanks()
                self.value()
                self.skip_space_in_brackets()
                if self.peek() == ',':
                    self.pos += 1
                elif self.peek() != '}':
                    self.fail("an inline table without ',' or '}'")
        else:
            # Numbers, booleans, dates (a date-time may hold one space): up to a delimiter, blanks trimmed.
            end = self.pos
            while end < len(self.text) and self.text[end] not in ',]}#\n':
                end += 1
            while end > self.pos and self.text[end - 1] in ' \t\r':
                end -= 1
            if end == self.pos:
                self.fail('a value was expected')
            self.pos = end


# ---------------------------------------------------------------------------
# The safety net
# ---------------------------------------------------------------------------

def _tomllib():
    """Python's TOML parser (3.11 and newer), or None."""
    try:
        import tomllib
    except ImportError:
        return None
    return tomllib


def _registry_of(document):
    registry = document.get('registry', {})
    return registry if isinstance(registry, dict) else {}


def _check_result(tomllib, before, text, touched, ours_before, tables, path):
    """Parse the result and compare it with the input: only our keys of the touched tables may differ."""
    try:
        after = tomllib.loads(text) if text is not None else {}
    except tomllib.TOMLDecodeError as error:
        raise ValueError('internal error: the merged %s is not TOML (%s); the file was left untouched'
                         % (path, error)) from None

    def outside(document):
        document = copy.deepcopy(document)
        registry = document.get('registry')
        if isinstance(registry, dict):
            for name in touched:
                registry.pop(name, None)
            if not registry:
                document.pop('registry')
        return document

    problems = []
    if outside(before) != outside(after):
        problems.append('keys outside the registry tables it manages')
    for name in sorted(touched):
        old = _registry_of(before).get(name, {})
        new = _registry_of(after).get(name, {})
        expected = dict((key, value) for key, value in old.items() if key not in ours_before.get(name, ()))
        expected.update(tables.get(name, {}))
        if new != expected:
            problems.append(_table_label(name))
    if problems:
        raise ValueError('internal error: merging the registry mirrors into %s would change %s; '
                         'the file was left untouched' % (path, ', '.join(problems)))


# ---------------------------------------------------------------------------
# The merge
# ---------------------------------------------------------------------------

def _render_new_file(tables):
    lines = list(HEADER)
    for name, keys in tables.items():
        lines += ['', _render_header(name)] + [_render_key(key, value, '  ') for key, value in keys.items()]
    return '\n'.join(lines) + '\n'


def _created_by_us(lines, statements):
    """A file that starts with our header and holds nothing but our header, our tables and our keys."""
    if lines[:len(HEADER)] != list(HEADER):
        return False
    for statement in statements:
        if statement.kind == 'comment':
            if statement.first >= len(HEADER):
                return False
        elif not statement.ours:
            return False
    return True


def _registry_table(statement):
    """The registry name of a ``[registry."<name>"]`` header or key table, else None."""
    path = statement.table if statement.kind == 'key' else statement.path
    if len(path) == 2 and path[0] == 'registry':
        return path[1]
    return None


def _refuse_forms(statements, touched, path):
    """Forms the line editor cannot change safely, where they reach a table it must change."""
    for statement in statements:
        where = '%s line %d' % (path, statement.first + 1)
        if statement.kind == 'key':
            full = statement.table + statement.path
            if statement.table == () and statement.path == ('registry',):
                raise ValueError('%s: the registry table is an inline table (registry = {...}); buildkitd.toml '
                                 'cannot take the mirrors beside it: write it as [registry."<name>"] tables'
                                 % where)
            if len(full) >= 2 and full[0] == 'registry' and full[1] in touched and len(statement.table) < 2:
                raise ValueError('%s: %s is set with a dotted key or an inline table (%s); write it as a '
                                 '%s table' % (where, _table_label(full[1]), '.'.join(statement.path),
                                               _table_label(full[1])))
            name = _registry_table(statement)
            if name in touched and statement.path[0] in MANAGED_KEYS:
                if len(statement.path) > 1:
                    raise ValueError('%s: %s sets %s with a dotted key; remove it or write it as a plain key'
                                     % (where, _table_label(name), '.'.join(statement.path)))
                if statement.ours and statement.first != statement.last:
                    raise ValueError('%s: %s key %s marked "# %s" spans several lines; this collection writes '
                                     'it on one line: remove the line' % (where, _table_label(name),
                                                                          statement.path[0], MARK))
        elif statement.kind in ('table', 'array'):
            name = _registry_table(statement)
            if name in touched and statement.kind == 'array':
                raise ValueError('%s: %s is an array of tables ([[...]]); buildkitd reads one table per registry'
                                 % (where, _table_label(name)))
            if (len(statement.path) >= 3 and statement.path[0] == 'registry' and statement.path[1] in touched
                    and statement.path[2] in MANAGED_KEYS):
                raise ValueError('%s: %s is a table header; %s is a key of %s'
                                 % (where, '.'.join(statement.path), statement.path[2],
                                    _table_label(statement.path[1])))


def _check_marks(statements, path):
    for statement in statements:
        if not statement.ours:
            continue
        name = _registry_table(statement)
        wrong = (statement.kind == 'comment' or name is None or statement.kind == 'array'
                 or (statement.kind == 'key' and statement.path not in [(key,) for key in MANAGED_KEYS]))
        if wrong:
            raise ValueError('%s line %d ends with "# %s" but is not a line this collection writes; '
                             'remove that comment' % (path, statement.first + 1, MARK))


def merge_buildkitd(text, registries, insecure_registries=None, path=DEFAULT_PATH):
    """Merge registry mirrors into the text of a ``buildkitd.toml``.

    ``text``: the file's current text, or None when it does not exist.
    ``registries``: ``{registry: [mirror URL, ...]}`` (see :func:`plan_buildkitd`);
    ``{}`` takes out everything this collection put in.
    ``insecure_registries``: dockerd's entries; an https:// mirror they name is
    written ``insecure = true``.

    Returns the new text (the same string when nothing changes), or None when
    the file should not exist (absent and nothing to write, or created by this
    collection and nothing of it left). Raises ValueError naming the file and
    the table or line on a conflict (a ``mirrors`` key this collection did not
    write), a form it cannot edit safely, TOML it cannot read, or, without
    Python's tomllib, a file that this collection did not create.
    """
    tables, dummy = plan_buildkitd(registries, insecure_registries)
    tomllib = _tomllib()
    if text is None:
        if not tables:
            return None
        result = _render_new_file(tables)
        if tomllib is not None:
            _check_result(tomllib, {}, result, set(tables), {}, tables, path)
        return result

    before = None
    if tomllib is not None:
        try:
            before = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError('%s is not valid TOML (%s); it was left untouched: fix or remove it, then run again'
                             % (path, error)) from None
    statements = _Scanner(text, path).statements()
    _check_marks(statements, path)
    ours_before = {}
    for statement in statements:
        if statement.kind == 'key' and statement.ours:
            ours_before.setdefault(_registry_table(statement), set()).add(statement.path[0])
    our_headers = dict((_registry_table(s), s) for s in statements if s.kind == 'table' and s.ours)
    touched = set(tables) | set(ours_before) | set(our_headers)
    if not touched:
        return text
    lines = text.split('\n')
    created = _created_by_us(lines, statements)
    if tomllib is None and not created:
        raise ValueError('%s was not written by this collection alone, and this Python (before 3.11) has no '
                         'tomllib to prove an edit keeps every other key; it was left untouched. Run with '
                         'Python 3.11 or newer on the host, or add the mirrors to it by hand' % path)
    _refuse_forms(statements, touched, path)

    headers = {}
    for statement in statements:
        name = _registry_table(statement)
        if statement.kind == 'table' and name in touched:
            if name in headers:
                raise ValueError('%s line %d: %s is defined twice' % (path, statement.first + 1, _table_label(name)))
            headers[name] = statement
    newline = '\r' if lines[0].endswith('\r') else ''
    replace = {}   # line index -> lines that take its place ([] deletes it)
    appended = []
    for name in sorted(touched, key=lambda n: (n not in tables, list(tables).index(n) if n in tables else 0, n)):
        keys = dict(tables.get(name, {}))
        in_table = [s for s in statements if s.kind == 'key' and _registry_table(s) == name]
        ours = [s for s in in_table if s.ours]
        for statement in in_table:
            key = statement.path[0]
            if statement.ours or len(statement.path) != 1 or key not in keys:
                continue
            if key == 'mirrors':
                raise ValueError('%s line %d: %s already has a mirrors key that this collection did not write; '
                                 'remove it (or the docker_mirrors policy for %s) and run again; the file was left '
                                 'untouched' % (path, statement.first + 1, _table_label(name), name))
            if statement.value.strip() != _render_value(keys[key]):
                raise ValueError('%s line %d: %s sets %s = %s, the mirrors need %s = %s; change or remove that key '
                                 'and run again; the file was left untouched'
                                 % (path, statement.first + 1, _table_label(name), key, statement.value.strip(),
                                    key, _render_value(keys[key])))
            del keys[key]  # the user's line already says it
        if ours:
            indent = re.match(r'[ \t]*', lines[ours[0].first]).group(0)
        elif in_table:
            indent = re.match(r'[ \t]*', lines[in_table[0].first]).group(0)
        else:
            indent = '  ' if name not in headers or headers[name].ours else ''
        rendered = [_render_key(key, value, indent) + newline for key, value in keys.items()]
        for statement in ours:
            replace[statement.first] = []
        header = headers.get(name)
        if ours:
            replace[ours[0].first] = rendered
        elif rendered and header is not None:
            replace[header.first] = [lines[header.first]] + rendered
        elif rendered:
            appended.append([_render_header(name) + newline] + rendered)
        if header is not None and header.ours and not rendered and len(ours) == len(in_table):
            end = min([s.first for s in statements if s.kind in ('table', 'array') and s.first > header.first]
                      + [len(lines)])
            if all(not lines[index].strip() or index in replace for index in range(header.first + 1, end)):
                replace[header.first] = []
                if header.first > 0 and not lines[header.first - 1].strip() and header.first - 1 not in replace:
                    replace[header.first - 1] = []

    result_lines = []
    for index, line in enumerate(lines):
        result_lines.extend(replace.get(index, [line]))
    result = '\n'.join(result_lines)
    if appended:
        if result and not result.endswith('\n'):
            result += newline + '\n'
        for block in appended:
            result += (newline + '\n' if result.strip() else '') + '\n'.join(block) + '\n'
    if created:
        remaining = _Scanner(result, path).statements()
        if not [s for s in remaining if s.kind != 'comment']:
            result = None
    if tomllib is not None:
        _check_result(tomllib, before, result, touched, ours_before, tables, path)
    return result
