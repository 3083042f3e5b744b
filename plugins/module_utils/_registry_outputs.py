# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Docker Hub mirrors for the other engines of a host: containerd's hosts.toml and a containers drop-in.

Pure Python on purpose (no Ansible import): docker_daemon_config renders them
on the managed host inside its transaction, and the unit tests call it
directly. Both files are TOML, so both carry the managed-by header; a file is
removed only when it carries it.
"""

from __future__ import annotations

import json
import os

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import mirror_hosts

MANAGED_BY = 'Managed by Ansible: buildfleet.mirrors.docker_mirrors. Local changes are overwritten.'
# What marks a file as written by this collection (the header's first sentence).
MARKER = 'Managed by Ansible: buildfleet.mirrors.docker_mirrors.'
DOCKER_HUB = 'docker.io'
CONTAINERS_DROPIN = '/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf'


def is_ours(text):
    """Whether a file's text carries the collection's managed-by header."""
    return text is not None and MARKER in text


def hosts_toml_path(certs_dir):
    """containerd's hosts file for Docker Hub under a hosts directory."""
    return os.path.join(certs_dir, DOCKER_HUB, 'hosts.toml')


def _toml_string(value):
    # The URLs are validated (no quotes, backslashes or control characters); JSON's escaping is TOML's for the rest.
    return json.dumps(value, ensure_ascii=False)


def render_hosts_toml(registry_mirrors, insecure_registries=None):
    """containerd's ``certs.d/docker.io/hosts.toml``: the mirrors in order, pull and resolve only."""
    lines = [
        '# ' + MANAGED_BY,
        "# Docker Hub mirrors for containerd (ctr --hosts-dir, nerdctl, the CRI plugin's",
        '# registry config_path), in priority order, for pulls only.',
        'server = "https://registry-1.docker.io"',
    ]
    for host in mirror_hosts(registry_mirrors, insecure_registries):
        lines += ['', '[host.%s]' % _toml_string(host['url']), '  capabilities = ["pull", "resolve"]']
        if host['skip_verify']:
            lines += ["  # Listed in dockerd's insecure-registries: its certificate is not verified.",
                      '  skip_verify = true']
    return '\n'.join(lines) + '\n'


def containers_mirrors(registry_mirrors, insecure_registries=None):
    """(mirrors the containers drop-in can express, mirror URLs it cannot: those with a path)."""
    hosts = mirror_hosts(registry_mirrors, insecure_registries)
    return [host for host in hosts if not host['path']], [host['url'] for host in hosts if host['path']]


def render_containers_dropin(registry_mirrors, insecure_registries=None):
    """A ``registries.conf.d`` drop-in (version 2) giving docker.io the mirrors; None when no mirror fits.

    containers-registries.conf reads a path in a mirror location as a repository namespace, not as the place of the
    registry API as dockerd does, so mirrors with a path are left out (see :func:`containers_mirrors`).
    """
    usable, dummy = containers_mirrors(registry_mirrors, insecure_registries)
    if not usable:
        return None
    lines = [
        '# ' + MANAGED_BY,
        '# Docker Hub mirrors for podman, buildah, skopeo and CRI-O, in priority order',
        '# (containers-registries.conf(5), version 2; drop-ins read after it override',
        '# the same prefix).',
        '[[registry]]',
        'prefix = "%s"' % DOCKER_HUB,
        'location = "%s"' % DOCKER_HUB,
    ]
    for host in usable:
        lines += ['', '[[registry.mirror]]', 'location = %s' % _toml_string(host['netloc'])]
        if host['plain_http'] or host['skip_verify']:
            why = 'Plain HTTP' if host['plain_http'] else 'Listed in dockerd insecure-registries'
            lines += ['# %s: no TLS verification.' % why, 'insecure = true']
    return '\n'.join(lines) + '\n'


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
