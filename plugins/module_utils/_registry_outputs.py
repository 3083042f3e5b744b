# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Registry mirrors for the other consumers of a host: containerd-style hosts.toml files and a containers drop-in.

Pure Python on purpose (no Ansible import): docker_daemon_config renders them
on the managed host inside its transaction, and the unit tests call it
directly. Every file is TOML and carries the managed-by header; a file is
removed only when it carries it.

``registries`` below is always a mapping of an upstream registry (``docker.io``,
``ghcr.io``, ``registry.corp.example:5000``) to its mirror URLs in priority
order, as validated by the role (each ends with one ``/``).
"""

from __future__ import annotations

import json
import os

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import mirror_hosts
from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import DOCKER_HUB

MANAGED_BY = 'Managed by Ansible: buildfleet.mirrors.docker_mirrors. Local changes are overwritten.'
# What marks a file as written by this collection (the header's first sentence).
MARKER = 'Managed by Ansible: buildfleet.mirrors.docker_mirrors.'
# Where a client goes for Docker Hub when no mirror answers (containerd's and dockerd's default host).
DOCKER_HUB_SERVER = 'https://registry-1.docker.io'
CONTAINERS_DROPIN = '/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf'
HOSTS_TOML = 'hosts.toml'
# The CA of one mirror host where dockerd and the containers tools look for it: <certs dir>/<host:port>/ca.crt.
MIRROR_CA_FILE = 'ca.crt'
# The CA file a hosts.toml names (`ca`), next to it in <certs dir>/<registry>/. Not *.crt on purpose: dockerd's own
# certs.d reader would take a .crt there as a CA of the registry itself, not only of its mirrors.
HOSTS_CA_FILE = 'buildfleet-mirrors-ca.pem'
# Every file name this module writes in a certs.d/<name>/ directory (the directory goes with the last of them).
CERTS_DIR_FILES = (HOSTS_TOML, MIRROR_CA_FILE, HOSTS_CA_FILE)


def is_ours(text):
    """Whether a file's text carries the collection's managed-by header."""
    return text is not None and MARKER in text


def hosts_toml_path(certs_dir, registry=DOCKER_HUB):
    """The hosts file of one registry under a containerd-style hosts directory."""
    return os.path.join(certs_dir, registry, HOSTS_TOML)


def hosts_toml_files(certs_dir, file_name=HOSTS_TOML):
    """{registry: path} of every ``<certs_dir>/<registry>/hosts.toml`` that is a regular file (links not followed).

    With ``file_name``, the files of that name instead (``ca.crt``, the CA file of a hosts.toml).
    """
    found = {}
    try:
        names = sorted(os.listdir(certs_dir))
    except OSError:
        return found
    for name in names:
        path = os.path.join(certs_dir, name, file_name)
        directory = os.path.join(certs_dir, name)
        if os.path.isdir(directory) and not os.path.islink(directory) and os.path.isfile(path) \
                and not os.path.islink(path):
            found[name] = path
    return found


def upstream_server(registry):
    """The registry's own host, where a client goes when it does not use (or runs out of) mirrors."""
    return DOCKER_HUB_SERVER if registry == DOCKER_HUB else 'https://%s' % registry


def _toml_string(value):
    # The URLs are validated (no quotes, backslashes or control characters); JSON's escaping is TOML's for the rest.
    return json.dumps(value, ensure_ascii=False)


def https_mirror_hosts(registry_mirrors):
    """The ``host[:port]`` of each ``https://`` mirror, in order, once each: the names of their certs.d directories."""
    found = []
    for host in mirror_hosts(registry_mirrors):
        if not host['plain_http'] and host['netloc'] not in found:
            found.append(host['netloc'])
    return found


def render_ca_file(pem, what):
    """A CA file of this collection: the managed-by header, a line on what it is for, then the PEM blocks.

    Go's PEM reader (dockerd, containerd, the containers tools) and OpenSSL's skip the lines before a BEGIN marker,
    and the header is how a later run tells this file from one the host's own people put there.
    """
    return '# %s\n# CA certificates trusted for %s.\n%s' % (MANAGED_BY, what, pem)


def render_hosts_toml(registry, registry_mirrors, insecure_registries=None, fallback=True, consumer='containerd',
                      ca=None):
    """A containerd-style ``hosts.toml`` of one registry: the mirrors in order, pull and resolve only.

    With ``ca`` (the path of a CA file), every ``https://`` mirror gets ``ca = "<path>"``: containerd trusts those
    certificates for that host in addition to the system's, read on every pull (no restart).

    containerd tries the ``[host]`` entries in order and then the ``server``; it appends the registry's own host
    when ``server`` is absent. With ``fallback`` the server is the registry itself; without it, the server is the
    last mirror, so no pull of this registry ever goes past its mirrors (a push then goes to that mirror too). A
    single mirror is then both the one ``[host]`` and the server: containerd 1.6 refuses a file without a host.
    """
    hosts = mirror_hosts(registry_mirrors, insecure_registries)
    lines = ['# ' + MANAGED_BY,
             '# Mirrors of %s for %s, in priority order, for pulls only.' % (registry, consumer)]
    if fallback or not hosts:
        lines.append('# When every mirror fails, pulls go to %s itself.' % registry)
        lines.append('server = %s' % _toml_string(upstream_server(registry)))
        entries = hosts
    else:
        last = hosts[-1]
        lines += ['# No fallback: the last mirror is the server, so pulls never go to %s itself.' % registry,
                  'server = %s' % _toml_string(last['url']),
                  'capabilities = ["pull", "resolve"]']
        lines += _verify_lines(last, indent='')
        lines += _ca_lines(last, ca, indent='')
        # containerd 1.6 refuses a hosts.toml without a [host] table ("invalid `host` tree") and then falls back to
        # the registry itself: a single mirror is also its one host.
        entries = hosts[:-1] or hosts
    for host in entries:
        lines += ['', '[host.%s]' % _toml_string(host['url']), '  capabilities = ["pull", "resolve"]']
        lines += _verify_lines(host, indent='  ')
        lines += _ca_lines(host, ca, indent='  ')
    return '\n'.join(lines) + '\n'


def _ca_lines(host, ca, indent):
    if not ca or host['plain_http']:
        return []
    return [indent + 'ca = %s' % _toml_string(ca)]


def _verify_lines(host, indent):
    if not host['skip_verify']:
        return []
    return [indent + "# Listed in dockerd's insecure-registries: its certificate is not verified.",
            indent + 'skip_verify = true']


def containers_mirrors(registry_mirrors, insecure_registries=None):
    """(mirrors the containers drop-in can express, mirror URLs it cannot: those with a path)."""
    hosts = mirror_hosts(registry_mirrors, insecure_registries)
    return [host for host in hosts if not host['path']], [host['url'] for host in hosts if host['path']]


def render_containers_dropin(registries, insecure_registries=None, fallback=True):
    """A ``registries.conf.d`` drop-in (version 2) with one ``[[registry]]`` per mirrored registry; None when empty.

    containers-registries.conf reads a path in a mirror location as a repository namespace, not as the place of the
    registry API as dockerd does, so mirrors with a path are left out (see :func:`containers_mirrors`). A registry
    whose mirrors all have a path is left out. Without ``fallback``, the registry is ``blocked``: the tools still
    try its mirrors in order, and never the registry itself (a pull fails with "registry ... is blocked" when no
    mirror serves it).
    """
    lines = [
        '# ' + MANAGED_BY,
        '# Registry mirrors for podman, buildah, skopeo and CRI-O, in priority order',
        '# (containers-registries.conf(5), version 2; drop-ins read after it override',
        '# the same prefix).',
    ]
    written = False
    for registry, urls in registries.items():
        usable, dummy = containers_mirrors(urls, insecure_registries)
        if not usable:
            continue
        written = True
        lines += ['', '[[registry]]', 'prefix = %s' % _toml_string(registry),
                  'location = %s' % _toml_string(registry)]
        if not fallback:
            lines += ['# No fallback: the mirrors below are tried in order, %s itself never.' % registry,
                      'blocked = true']
        for host in usable:
            lines += ['', '[[registry.mirror]]', 'location = %s' % _toml_string(host['netloc'])]
            lines += _insecure_lines(host)
    return '\n'.join(lines) + '\n' if written else None


def _insecure_lines(host):
    if not (host['plain_http'] or host['skip_verify']):
        return []
    why = 'Plain HTTP' if host['plain_http'] else 'Listed in dockerd insecure-registries'
    return ['# %s: no TLS verification.' % why, 'insecure = true']


def check_toml(text, path):
    """Parse rendered TOML where the host's Python has tomllib (3.11 and newer); raise ValueError naming the file."""
    try:
        import tomllib
    except ImportError:  # Python before 3.11 (Debian bullseye): the renderer's unit tests cover it
        return
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError('internal error: the rendered %s is not TOML (%s)' % (path, error)) from None
