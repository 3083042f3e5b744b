# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What dockerd (and containerd and the containers tools) accept as registry mirrors and insecure registries.

Each check names the variable or option the caller passes in (``name``). Pure Python, no Ansible import.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    parse_image,
    validate_registry,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    refuse_unsafe_characters,
    _split_url,
    _subject,
)


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


def validate_registries(value, name, allow_path=False, docker_hub_option='registry_mirrors', check_urls=True):
    """Check a mapping of upstream registry (not Docker Hub) to its mirror URLs; return a new dict, URLs as given.

    ``name`` is the variable or option (``registries``, ``docker_mirrors_registries``); ``docker_hub_option`` the one
    that holds Docker Hub's mirrors instead. Without ``check_urls`` (a policy being removed) only the shape is checked.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError('%s must be a mapping of registry (ghcr.io, registry.corp.example:5000) to a list of '
                          'mirror URLs, got %s' % (name, show(value)))
    registries = {}
    for registry, urls in value.items():
        validate_registry(registry, '%s key' % name)
        if registry.lower() in DOCKER_HUB_ALIASES:
            raise PolicyError('%s key %s is Docker Hub; use %s for Docker Hub'
                              % (name, show(registry), docker_hub_option))
        entry = '%s[%s]' % (name, show(registry))
        if check_urls:
            validate_registry_mirrors(urls, entry, allow_path)
        elif not isinstance(urls, (list, tuple)):
            raise PolicyError('%s must be a list of URLs, got %s' % (entry, show(urls)))
        registries[registry] = list(urls)
    return registries


def validate_probe_images(value, name, registries, has_docker_hub_mirrors, docker_hub_option='registry_mirrors',
                          registries_option='registries'):
    """Check a mapping of registry to an image reference on it; return registry -> ``parse_image``'s dict.

    A key is ``docker.io`` (the registry of ``docker_hub_option``, which must then have mirrors) or a key of
    ``registries`` (the checked value of ``registries_option``).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError('%s must be a mapping of registry to an image on it (docker.io: library/hello:latest), '
                          'got %s' % (name, show(value)))
    images = {}
    for registry, ref in value.items():
        if not isinstance(registry, str) or not registry:
            raise PolicyError('%s key %s is not a registry name' % (name, show(registry)))
        subject = '%s key %s' % (name, show(registry))
        if registry.lower() in DOCKER_HUB_ALIASES and registry != DOCKER_HUB:
            raise PolicyError('%s is Docker Hub; write it docker.io' % subject)
        if registry == DOCKER_HUB and not has_docker_hub_mirrors:
            raise PolicyError('%s applies to %s, which names no mirror' % (subject, docker_hub_option))
        if registry != DOCKER_HUB and registry not in registries:
            known = ', '.join(([DOCKER_HUB] if has_docker_hub_mirrors else []) + sorted(registries))
            raise PolicyError('%s is neither docker.io (for %s) nor a key of %s%s'
                              % (subject, docker_hub_option, registries_option, ' (%s)' % known if known else ''))
        images[registry] = parse_image(ref, registry, '%s[%s]' % (name, show(registry)))
    return images


_DOMAIN_LABEL = r'(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])'
_INSECURE_HOST_PORT = re.compile(r'^%s(?:\.%s)*(?::[0-9]+)?$' % (_DOMAIN_LABEL, _DOMAIN_LABEL))


def _is_ip_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
