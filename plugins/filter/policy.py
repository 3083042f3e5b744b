# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters that turn a mirror policy into validated values, for the go_proxy and docker_mirrors roles.

Each filter is documented in its own sidecar file (plugins/filter/<name>.yml).
The rules live in module_utils/_policy.py, shared with the mirror_check module;
here they are only wrapped so that a refused value raises AnsibleFilterError.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._policy import (
    PolicyError,
    build_goproxy,
    go_environment,
    redact_url,
    validate_go_policy,
    validate_insecure_registries,
    validate_registry_mirrors,
)


def _policy_errors_as_filter_errors(function):
    """Re-raise PolicyError as AnsibleFilterError, with the same message (it already names the variable)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PolicyError as error:
            raise AnsibleFilterError(str(error)) from None
    return wrapper


@_policy_errors_as_filter_errors
def goproxy_string(urls, fallback='direct', fallthrough='not_found', name='go_proxy_urls'):
    return build_goproxy(urls, fallback, fallthrough, name)


@_policy_errors_as_filter_errors
def validate_go_policy_filter(policy):
    return validate_go_policy(policy)


@_policy_errors_as_filter_errors
def go_environment_filter(policy):
    return go_environment(policy)


@_policy_errors_as_filter_errors
def validate_registry_mirrors_filter(urls, allow_path=False, name='docker_mirrors_registry_mirrors'):
    return validate_registry_mirrors(urls, name, allow_path)


@_policy_errors_as_filter_errors
def validate_insecure_registries_filter(entries, name='docker_mirrors_insecure_registries'):
    return validate_insecure_registries(entries, name)


def redact_url_filter(url):
    return redact_url(url)


class FilterModule:
    """Mirror-policy filters of buildfleet.mirrors."""

    def filters(self):
        return {
            'goproxy_string': goproxy_string,
            'validate_go_policy': validate_go_policy_filter,
            'go_environment': go_environment_filter,
            'validate_registry_mirrors': validate_registry_mirrors_filter,
            'validate_insecure_registries': validate_insecure_registries_filter,
            'redact_url': redact_url_filter,
        }
