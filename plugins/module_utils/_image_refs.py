# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Upstream registry names and image references on them, as the distribution reference grammar reads them.

A registry name is what an image reference starts with and what names a
``certs.d/<registry>/hosts.toml`` directory: ``host[:port]``. An image on a
registry is given as its path there with an optional tag and digest
(``acme/hello:1.2``, ``library/hello@sha256:...``). Every check raises
:class:`PolicyError` naming the variable or option the caller passes in
(``name``) and showing the value (credentials redacted). Pure Python, no
Ansible import.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    redact_url,
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    require_string,
)

DOCKER_HUB = 'docker.io'
# Names that the Docker tools read as Docker Hub itself.
DOCKER_HUB_ALIASES = ('docker.io', 'index.docker.io', 'registry-1.docker.io')
DEFAULT_TAG = 'latest'

REGISTRY_FORM = 'host[:port] such as ghcr.io or registry.corp.example:5000'

# The distribution reference grammar (github.com/distribution/reference, regexp.go).
_DOMAIN_COMPONENT = r'(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])'
_DOMAIN_NAME = re.compile(r'%s(?:\.%s)*\Z' % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT), re.ASCII)
_PATH_COMPONENT = re.compile(r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z', re.ASCII)
_TAG = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z', re.ASCII)
_DIGEST = re.compile(r'[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}\Z', re.ASCII)
# What registries accept (github.com/opencontainers/go-digest): the algorithm and the length of its lowercase hex.
_DIGEST_HEX_LENGTHS = {'sha256': 64, 'sha384': 96, 'sha512': 128}
# The reference grammar's limit on a whole name, registry included.
NAME_TOTAL_LENGTH_MAX = 255

PATH_COMPONENT_HELP = ('lowercase letters and digits, separated by one . or _, two _, or hyphens, such as '
                       'acme/hello-world')
TAG_HELP = 'a tag is 1 to 128 letters, digits, _, . and -, not starting with . or -'
DIGEST_HELP = 'a digest is sha256: followed by 64 lowercase hex digits (or sha384:/sha512: with 96/128)'


def _odd_character(value):
    """Describe the first whitespace or control character of ``value``, or None."""
    for char in value:
        if char.isspace():
            return 'whitespace' if char == ' ' else 'whitespace U+%04X' % ord(char)
        if unicodedata.category(char) in ('Cc', 'Cf'):
            return 'the control character U+%04X' % ord(char)
    return None


_ESCAPES = {'\n': '\\n', '\t': '\\t', '\r': '\\r'}
_DIGEST_SHAPED = re.compile(r'[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*(?::[0-9A-Fa-f]*)\Z', re.ASCII)


def _show_reference(ref):
    """Quote an image reference for a message as show() does, but keep a digest: its '@' is no userinfo.

    A URL, or an '@' followed by anything but a digest's shape ('user:pw@host:5000/x'), is redacted by show().
    """
    if '://' in ref or ('@' in ref and not _DIGEST_SHAPED.match(ref.rpartition('@')[2])):
        return show(ref)
    escaped = []
    for char in ref:
        if char in _ESCAPES:
            escaped.append(_ESCAPES[char])
        elif unicodedata.category(char) in ('Cc', 'Cf'):
            escaped.append('\\u%04x' % ord(char))
        else:
            escaped.append(char)
    return "'%s'" % ''.join(escaped)


def _valid_port(port):
    return port.isdigit() and port.isascii() and 1 <= int(port) <= 65535


def _valid_host(host):
    """A domain name of the reference grammar (DNS lengths kept), an IPv4 address or a bracketed IPv6 address."""
    if host.startswith('['):
        if not host.endswith(']') or '%' in host:
            return False
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if not _DOMAIN_NAME.match(host) or len(host) > 253 or any(len(label) > 63 for label in host.split('.')):
        return False
    labels = host.split('.')
    if all(label.isdigit() for label in labels):
        # All digits reads as an IPv4 address: it must be one (999.1.1.1 is neither an address nor a name).
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


def validate_registry(host, name):
    """Check an upstream registry name, ``host[:port]``, as image references and hosts.toml directories use it.

    The host is a domain name (labels of letters, digits and inner hyphens,
    joined by dots), an IPv4 address or an IPv6 address in brackets; the port
    a number from 1 to 65535. A scheme, a path, credentials, a query or
    whitespace are refused with what form is expected. Returns ``host``.
    """
    require_string(host, name)
    subject = '%s %s' % (name, show(host))
    odd = _odd_character(host)
    if odd:
        raise PolicyError('%s contains %s; give the registry as %s' % (subject, odd, REGISTRY_FORM))
    if '://' in host:
        raise PolicyError('%s is a URL; give the registry name without a scheme, as %s' % (subject, REGISTRY_FORM))
    if '@' in host:
        raise PolicyError('%s carries credentials (user@); a registry name has none, give %s'
                          % (subject, REGISTRY_FORM))
    if '/' in host:
        raise PolicyError("%s has a path ('/%s'); give the registry name alone, as %s"
                          % (subject, redact_url(host.partition('/')[2]), REGISTRY_FORM))
    if '?' in host or '#' in host:
        raise PolicyError('%s has a query or fragment; give the registry name alone, as %s' % (subject, REGISTRY_FORM))
    if host.startswith('['):
        address, bracket, port = host.partition(']')
        address += bracket
        if port and not port.startswith(':'):
            address, port = host, None
        else:
            port = port[1:] if port else None
    elif host.count(':') > 1 and '.' not in host:
        raise PolicyError('%s is not a valid registry name: an IPv6 address goes in brackets, such as '
                          '[fd00::1]:5000; give %s' % (subject, REGISTRY_FORM))
    else:
        address, colon, port = host.partition(':')
        port = port if colon else None
    if port is not None and not _valid_port(port):
        raise PolicyError('%s has a port that is not a number from 1 to 65535; give %s' % (subject, REGISTRY_FORM))
    if not _valid_host(address):
        raise PolicyError('%s is not a valid registry name: give %s (domain labels of letters, digits and inner '
                          'hyphens, an IPv4 address, or an IPv6 address in brackets)' % (subject, REGISTRY_FORM))
    return host


def _looks_like_registry(component):
    """Docker's rule (splitDockerDomain): a first path component with '.' or ':', or 'localhost', is a registry."""
    return '.' in component or ':' in component or component == 'localhost'


def _split_reference(ref):
    """Split ``path[:tag][@digest]`` into (path, tag or None, digest or None) without judging the parts."""
    path, at_sign, digest = ref.partition('@')
    tag = None
    last_slash = path.rfind('/')
    colon = path.rfind(':')
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1:]
    return path, tag, digest if at_sign else None


def parse_image(ref, registry, name):
    """Read an image reference given as its path on ``registry``; return dict(repository, reference, shown).

    ``ref`` is ``path[:tag][@digest]``, the path without the registry
    (``library/hello:latest``, ``acme/tools:1.2``, ``acme/x@sha256:<64 hex>``).
    No tag and no digest means the tag ``latest``; on Docker Hub a path of one
    component gets ``library/``, as the Docker tools do. ``reference`` is what
    a registry's ``/v2/<repository>/manifests/<reference>`` takes: the digest
    when there is one, else the tag. ``shown`` is the whole name,
    ``<registry>/<repository>:<tag>`` (``@<digest>`` appended when given).
    """
    require_string(ref, name)
    subject = '%s %s' % (name, _show_reference(ref))
    odd = _odd_character(ref)
    if odd:
        raise PolicyError('%s contains %s; give the image as its path on %s, such as acme/hello:1.2'
                          % (subject, odd, registry))
    if '://' in ref:
        raise PolicyError('%s is a URL; give the path on %s without the registry, such as acme/hello:1.2'
                          % (subject, registry))
    first, slash, rest = ref.partition('/')
    if slash and _looks_like_registry(first):
        hint = ' (%s)' % _show_reference(rest) if first.lower() == registry.lower() and rest else ''
        raise PolicyError('%s starts with a registry host (%s); give the path on %s without the registry%s'
                          % (subject, redact_url(first), registry, hint))
    path, tag, digest = _split_reference(ref)
    if not path:
        raise PolicyError('%s has no repository; give the image as its path on %s, such as acme/hello:1.2'
                          % (subject, registry))
    if path != path.lower():
        raise PolicyError('%s has uppercase letters in its repository %s; repository names are lowercase'
                          % (subject, show(path)))
    for component in path.split('/'):
        if not _PATH_COMPONENT.match(component):
            shown_component = show(component) if component else 'an empty component'
            raise PolicyError('%s has %s in its repository, not a valid path component: use %s'
                              % (subject, shown_component, PATH_COMPONENT_HELP))
    if tag is not None and not _TAG.match(tag):
        raise PolicyError('%s has the tag %s, which is not valid: %s' % (subject, show(tag), TAG_HELP))
    if digest is not None:
        _check_digest(digest, subject)
    repository = path
    if registry in DOCKER_HUB_ALIASES and '/' not in repository:
        repository = 'library/' + repository
    if len('%s/%s' % (registry, repository)) > NAME_TOTAL_LENGTH_MAX:
        raise PolicyError('%s is too long: a name with its registry has at most %d characters'
                          % (subject, NAME_TOTAL_LENGTH_MAX))
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    shown = '%s/%s%s%s' % (registry, repository, ':' + tag if tag is not None else '',
                           '@' + digest if digest is not None else '')
    return {'repository': repository, 'reference': digest or tag, 'shown': shown}


def _check_digest(digest, subject):
    if not _DIGEST.match(digest):
        raise PolicyError('%s has the digest %s, which is not valid: %s' % (subject, show(digest), DIGEST_HELP))
    algorithm, dummy, hex_digits = digest.partition(':')
    length = _DIGEST_HEX_LENGTHS.get(algorithm)
    if length is None:
        raise PolicyError('%s has a digest with the algorithm %s, which registries do not support: %s'
                          % (subject, show(algorithm), DIGEST_HELP))
    if len(hex_digits) != length or hex_digits != hex_digits.lower():
        raise PolicyError('%s has the digest %s, which is not valid: %s' % (subject, show(digest), DIGEST_HELP))
