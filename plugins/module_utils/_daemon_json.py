# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dockerd's registry keys: merge them into daemon.json, find conflicting flags, compare with ``docker info``.

Pure Python on purpose (no Ansible import): the docker_daemon_config module
runs it on the managed host, the filters run it on the controller, and the
unit tests call it directly. URL and entry validation is not repeated here: it
lives in ``_registry_rules`` and callers run it first.

The keys this file knows are the two registry keys dockerd reloads on SIGHUP::

    registry-mirrors      <->  dockerd --registry-mirror
    insecure-registries   <->  dockerd --insecure-registry
"""

from __future__ import annotations

import ipaddress
import json
import re

from urllib.parse import urlsplit

MIRRORS_KEY = 'registry-mirrors'
INSECURE_KEY = 'insecure-registries'
MANAGED_KEYS = (MIRRORS_KEY, INSECURE_KEY)
# dockerd refuses to start or reload when a key is set both in the file and by its flag.
FLAGS = {MIRRORS_KEY: '--registry-mirror', INSECURE_KEY: '--insecure-registry'}
CONFIG_FILE_FLAG = '--config-file'
STRATEGIES = ('replace', 'merge')
STATES = ('present', 'absent')
# dockerd always treats these as insecure; docker info lists them whatever the file says.
DEFAULT_INSECURE_CIDRS = ('127.0.0.0/8', '::1/128')
_UTF8_BOM = '\ufeff'


class DaemonJsonError(ValueError):
    """daemon.json, or the way dockerd is started, would make dockerd refuse the configuration."""


def normalize_mirror(url):
    """Return a mirror URL as dockerd stores and shows it: one trailing ``/`` (dockerd trims one, then adds one)."""
    return (url[:-1] if url.endswith('/') else url) + '/'


def _identity(value):
    return value


_CANONICAL = {MIRRORS_KEY: normalize_mirror, INSECURE_KEY: _identity}


# ---------------------------------------------------------------------------
# Reading and writing daemon.json
# ---------------------------------------------------------------------------

def parse_daemon_json(text, path='daemon.json'):
    """Parse daemon.json text into a dict, keeping key order.

    An empty (or whitespace-only) file is an empty configuration, as dockerd
    reads it. Anything that is not a JSON object raises DaemonJsonError naming
    the file and the parser's position.
    """
    if text.startswith(_UTF8_BOM):
        text = text[len(_UTF8_BOM):]
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as error:
        raise DaemonJsonError('%s is not valid JSON (%s); dockerd cannot read it either. '
                              'It was left untouched: fix or remove it, then run again' % (path, error)) from None
    if not isinstance(config, dict):
        raise DaemonJsonError('%s holds a JSON %s, not an object; dockerd cannot read it. It was left untouched'
                              % (path, type(config).__name__))
    return config


def detect_indent(text, default=2):
    """Return the indentation unit of a JSON text (a number of spaces, or a tab), so a rewrite keeps its look."""
    for line in text.splitlines()[1:]:
        match = re.match(r'^([ \t]+)\S', line)
        if match:
            indent = match.group(1)
            return '\t' if indent.startswith('\t') else len(indent)
    return default


def render_daemon_json(config, indent=2):
    """Serialise a configuration as daemon.json text: key order kept, UTF-8 kept, a final newline."""
    return json.dumps(config, indent=indent, ensure_ascii=False) + '\n'


def _string_list(value, key, path):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DaemonJsonError('%s sets "%s" to %s, which is not a list of strings; dockerd refuses it. '
                              'It was left untouched: fix the value, or use the replace strategy'
                              % (path, key, json.dumps(value)))
    return value


def apply_policy(config, state='present', strategy='replace', registry_mirrors=None, insecure_registries=None,
                 path='daemon.json', keep_empty=False):
    """Return a new configuration with the policy's registry keys set (or removed); every other key is kept.

    ``registry_mirrors`` and ``insecure_registries`` are lists, or None for a
    key that is not managed (left exactly as it is).

    present + replace: the key becomes the policy's list.
    present + merge:   the policy's entries first, then the existing entries the policy does not name.
    absent  + replace: the key is removed.
    absent  + merge:   only the policy's entries are removed; the key goes when nothing is left.

    With ``keep_empty``, absent writes a managed key that has nothing left as
    an empty list (adding it when it is missing) instead of removing it:
    dockerd keeps a key's old value when a reload finds the key missing, so
    only an empty list makes a reload forget the mirrors.

    When the result names the same entries as the file already does (mirrors
    compared as dockerd normalises them), the file's own value is kept, so a
    host that already complies is left alone.
    """
    if state not in STATES:
        raise ValueError('state must be one of %s, got %r' % (', '.join(STATES), state))
    if strategy not in STRATEGIES:
        raise ValueError('strategy must be one of %s, got %r' % (', '.join(STRATEGIES), strategy))
    result = dict(config)
    for key, policy in ((MIRRORS_KEY, registry_mirrors), (INSECURE_KEY, insecure_registries)):
        if policy is None:
            continue
        canonical = _CANONICAL[key]
        named = set(canonical(entry) for entry in policy)
        if state == 'present':
            if strategy == 'replace':
                value = list(policy)
            else:
                existing = _string_list(config.get(key), key, path)
                value = list(policy) + [entry for entry in existing if canonical(entry) not in named]
        elif key not in config:
            if not keep_empty:
                continue
            value = []
        elif strategy == 'replace':
            value = [] if keep_empty else None
        else:
            existing = _string_list(config.get(key), key, path)
            value = [entry for entry in existing if canonical(entry) not in named] or ([] if keep_empty else None)
        if value is None:
            del result[key]
        elif key in config and _same_entries(config[key], value, canonical):
            result[key] = config[key]
        else:
            result[key] = value
    return result


def _same_entries(current, wanted, canonical):
    if not isinstance(current, list) or not all(isinstance(item, str) for item in current):
        return False
    return [canonical(item) for item in current] == [canonical(item) for item in wanted]


def managed_values(config, registry_mirrors_managed=True, insecure_registries_managed=True):
    """The registry keys of a configuration as dockerd will load them: mirrors normalised, [] when unset.

    A key that is not managed comes back as None.
    """
    mirrors = [normalize_mirror(url) for url in config.get(MIRRORS_KEY) or []] if registry_mirrors_managed else None
    insecure = list(config.get(INSECURE_KEY) or []) if insecure_registries_managed else None
    return mirrors, insecure


# ---------------------------------------------------------------------------
# Flags that would conflict with the file
# ---------------------------------------------------------------------------

def _flag_pattern(flag):
    # The flag as a word of its own: `--registry-mirror=x`, `--registry-mirror x`, `"--registry-mirror=x"`,
    # but not `--registry-mirrors` or `--no-registry-mirror`.
    return re.compile(r'(?:^|[\s"\'=])%s(?=$|[\s"\'=])' % re.escape(flag))


def flags_in_argv(argv, keys=MANAGED_KEYS):
    """Return the keys whose flag appears in a command line given as a list of arguments."""
    found = []
    for key in keys:
        flag = FLAGS[key]
        if any(argument == flag or argument.startswith(flag + '=') for argument in argv):
            found.append(key)
    return found


def flags_in_text(text, keys=MANAGED_KEYS):
    """Return the keys whose flag appears on a line of a unit file or environment file that is not a comment."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(('#', ';'))]
    return [key for key in keys if any(_flag_pattern(FLAGS[key]).search(line) for line in lines)]


def config_file_in_argv(argv):
    """Return the path given to dockerd's ``--config-file`` in a command line, or None."""
    for position, argument in enumerate(argv):
        if argument.startswith(CONFIG_FILE_FLAG + '='):
            return argument.split('=', 1)[1]
        if argument == CONFIG_FILE_FLAG and position + 1 < len(argv):
            return argv[position + 1]
    return None


def flag_conflicts(sources, keys=MANAGED_KEYS):
    """Find where dockerd gets a flag for one of ``keys``.

    ``sources`` is a list of ``(label, content)``: content is a list for a
    command line (argv) and a string for a file. Returns ``(key, flag, label)``
    tuples, in the order given.
    """
    conflicts = []
    for label, content in sources:
        found = flags_in_argv(content, keys) if isinstance(content, list) else flags_in_text(content, keys)
        conflicts.extend((key, FLAGS[key], label) for key in found)
    return conflicts


def describe_flag_conflicts(conflicts, path):
    """One message for every conflict, saying what dockerd would do and how to fix it."""
    by_flag = {}
    for key, flag, label in conflicts:
        by_flag.setdefault((key, flag), []).append(label)
    parts = ['%s is passed to dockerd by %s' % (flag, '; '.join(labels)) for (key, flag), labels in by_flag.items()]
    keys = ', '.join('"%s"' % key for key, dummy in by_flag)
    return ('%s, and %s would set %s too: dockerd refuses to start or reload when a setting comes from both a flag '
            'and the file. Remove the flag (the policy replaces it); %s was left untouched'
            % ('; '.join(parts), path, keys, path))


# ---------------------------------------------------------------------------
# What dockerd shows: docker info --format '{{json .RegistryConfig}}'
# ---------------------------------------------------------------------------

def _is_cidr(entry):
    return '/' in entry


def _normalize_cidr(entry):
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        return entry


def registry_config_problems(registry_config, registry_mirrors=None, insecure_registries=None):
    """Compare ``docker info``'s RegistryConfig with what daemon.json sets; return the differences as sentences.

    ``registry_mirrors`` and ``insecure_registries`` are the lists the file
    sets (None: not managed, not compared). An empty result means the running
    daemon uses exactly the file's registry settings.
    """
    if not isinstance(registry_config, dict):
        return ['docker info returned no registry configuration (%s)' % json.dumps(registry_config)]
    problems = []
    if registry_mirrors is not None:
        effective = list(registry_config.get('Mirrors') or [])
        wanted = [normalize_mirror(url) for url in registry_mirrors]
        if effective != wanted:
            problems.append('dockerd uses the registry mirrors %s, but the policy is %s'
                            % (json.dumps(effective), json.dumps(wanted)))
    if insecure_registries is not None:
        wanted_hosts = sorted(set(entry for entry in insecure_registries if not _is_cidr(entry)))
        wanted_cidrs = sorted(set(_normalize_cidr(entry) for entry in insecure_registries if _is_cidr(entry))
                              - set(DEFAULT_INSECURE_CIDRS))
        index_configs = registry_config.get('IndexConfigs') or {}
        effective_hosts = sorted(name for name, index in index_configs.items()
                                 if isinstance(index, dict) and index.get('Secure') is False)
        effective_cidrs = sorted(set(registry_config.get('InsecureRegistryCIDRs') or [])
                                 - set(DEFAULT_INSECURE_CIDRS))
        if (effective_hosts, effective_cidrs) != (wanted_hosts, wanted_cidrs):
            problems.append('dockerd treats %s as insecure registries, but the policy is %s'
                            % (json.dumps(effective_hosts + effective_cidrs), json.dumps(wanted_hosts + wanted_cidrs)))
    return problems


# ---------------------------------------------------------------------------
# The same mirrors for containerd (hosts.toml) and containers-registries.conf
# ---------------------------------------------------------------------------

def _listed_insecure(host, netloc, insecure_registries):
    for entry in insecure_registries or []:
        if entry == netloc:
            return True
        if _is_cidr(entry):
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:  # a host name: dockerd resolves it, we do not guess
                continue
    return False


def mirror_hosts(registry_mirrors, insecure_registries=None):
    """Describe each mirror the way containerd and containers/image need it.

    Returns one dict per mirror, in order: ``url`` (no trailing ``/``),
    ``netloc`` (host[:port]), ``path`` ('' or ``/path``), ``plain_http``
    (an http:// mirror) and ``skip_verify`` (an https:// mirror that the
    insecure registries name by host:port or by an IP range, as dockerd
    would not verify its certificate either).
    """
    hosts = []
    for url in registry_mirrors or []:
        parts = urlsplit(url)
        listed = _listed_insecure(parts.hostname, parts.netloc, insecure_registries)
        hosts.append(dict(
            url=url.rstrip('/'),
            netloc=parts.netloc,
            path=parts.path.rstrip('/'),
            plain_http=parts.scheme == 'http',
            skip_verify=parts.scheme == 'https' and listed,
        ))
    return hosts
