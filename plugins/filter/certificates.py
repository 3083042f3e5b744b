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


@policy_errors_as_filter_errors
def validate_ca_certificates_filter(value, name=None, now=None):
    return validate_ca_certificates(value, name, now)


class FilterModule:
    """CA certificate filters."""

    def filters(self):
        return {
            'validate_ca_certificates': validate_ca_certificates_filter,
        }
