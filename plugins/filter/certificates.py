# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters for CA certificates in the policy: ca_trust_certificates and docker_mirrors_ca_certificates.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The rules live in module_utils/_certificates.py (pure Python, shared with the
modules); only this file knows which role variable takes which shape.
"""

from __future__ import annotations

from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import (
    validate_ca_bundle,
    validate_named_ca_certificates,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)
from ansible_collections.buildfleet.mirrors.plugins.plugin_utils._filters import policy_errors_as_filter_errors


# The variables that hold CA certificates, and their shape.
NAMED_LIST_VARIABLES = ('ca_trust_certificates',)
PEM_TEXT_VARIABLES = ('docker_mirrors_ca_certificates',)


def validate_ca_certificates(value, name=None, now=None):
    """Validate CA certificates given as a list of {name, content} or as one PEM text; see the sidecar doc.

    The shape follows the variable: ``ca_trust_certificates`` is a list,
    ``docker_mirrors_ca_certificates`` a PEM text. Without ``name`` the type of
    ``value`` decides, and the message names the variable of that shape.
    """
    if name is None:
        name = NAMED_LIST_VARIABLES[0] if isinstance(value, (list, tuple)) else PEM_TEXT_VARIABLES[0]
    if not isinstance(name, str) or not name:
        raise PolicyError('the name given to validate_ca_certificates must be the variable name, got %s'
                          % type(name).__name__)
    if name in NAMED_LIST_VARIABLES or (name not in PEM_TEXT_VARIABLES and isinstance(value, (list, tuple))):
        return validate_named_ca_certificates(value, name, now)
    if isinstance(value, (list, tuple, dict)):
        raise PolicyError('%s must be PEM text (one or more -----BEGIN CERTIFICATE----- blocks in one string), '
                          'got a %s' % (name, 'list' if isinstance(value, (list, tuple)) else 'dict'))
    return validate_ca_bundle(value, name, now)


def probe_ca_data(ca_trust_certificates, docker_mirrors_ca_certificates=None, ca_trust=True, docker=True, now=None):
    """The PEM text the probes trust in addition to the system's store: each CA about to be trusted, once.

    ``ca_trust``: whether the ca_trust role installs ``ca_trust_certificates`` on this run (on, state present);
    ``docker``: whether docker_mirrors runs, whose own CAs are ``docker_mirrors_ca_certificates`` (PEM text) or, when
    it is None (its default), ``ca_trust_certificates``. Every certificate is validated as
    :func:`validate_ca_certificates` does; the result is '' when there is none.
    """
    certificates = []
    if ca_trust and ca_trust_certificates:
        certificates += validate_ca_certificates(ca_trust_certificates, 'ca_trust_certificates', now)['certificates']
    if docker and isinstance(docker_mirrors_ca_certificates, str) and docker_mirrors_ca_certificates.strip():
        certificates += validate_ca_certificates(docker_mirrors_ca_certificates, 'docker_mirrors_ca_certificates',
                                                 now)['certificates']
    elif docker and docker_mirrors_ca_certificates is None and ca_trust_certificates:
        certificates += validate_ca_certificates(ca_trust_certificates, 'ca_trust_certificates', now)['certificates']
    seen, pem = set(), []
    for certificate in certificates:
        if certificate['sha256_fingerprint'] not in seen:
            seen.add(certificate['sha256_fingerprint'])
            pem.append(certificate['pem'])
    return ''.join(pem)


@policy_errors_as_filter_errors
def validate_ca_certificates_filter(value, name=None, now=None):
    return validate_ca_certificates(value, name, now)


@policy_errors_as_filter_errors
def probe_ca_data_filter(ca_trust_certificates, docker_mirrors_ca_certificates=None, ca_trust=True, docker=True,
                         now=None):
    return probe_ca_data(ca_trust_certificates, docker_mirrors_ca_certificates, ca_trust, docker, now)


class FilterModule:
    """CA certificate filters."""

    def filters(self):
        return {
            'probe_ca_data': probe_ca_data_filter,
            'validate_ca_certificates': validate_ca_certificates_filter,
        }
