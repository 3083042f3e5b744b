# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What npm (and pnpm, yarn) accept: registry URLs, scope names and package names, and how a package is asked for.

Each check names the variable or option the caller passes in (``name``), never a role of its own: only the
filter plugins know role variable names. Pure Python, no Ansible import.
"""

from __future__ import annotations

import re

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    show,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    require_string,
    _subject,
    validate_config_file_url,
)

SCOPE_PATTERN = r'@[a-z0-9\-._~]+'
_SCOPE = re.compile(r'^%s\Z' % SCOPE_PATTERN)
# validate-npm-package-name for new packages: lower case, URL-safe, not starting with '.' or '_', at most 214
# characters, an optional scope in front.
_PACKAGE = re.compile(r'^(?:%s/)?[a-z0-9\-~][a-z0-9\-._~]*\Z' % SCOPE_PATTERN)
PACKAGE_NAME_MAX = 214


def validate_registry_url(url, name, allow_http=False, opt_in=None, entry=False):
    """Check an npm registry URL (``https://npm.corp.example/``); return it ending with one ``/``.

    npm asks ``<registry without trailing slashes>/<escaped package>`` (pacote's packumentUrl); see
    :func:`_values.validate_config_file_url` for what is refused.
    """
    return validate_config_file_url(url, name, allow_http, opt_in, entry)


def validate_scope(scope, name):
    """Check an npm scope as an npmrc key takes it (``@corp``, lower case); return it."""
    require_string(scope, name)
    if not _SCOPE.match(scope):
        hint = ' (it needs the @ in front: @%s)' % scope if re.match(r'^[a-z0-9\-._~]+$', scope) else ''
        raise PolicyError('%s is not an npm scope: @ and then lower-case letters, digits, "-", ".", "_" or "~"%s'
                          % (_subject(name, scope, False), hint))
    return scope


def validate_scopes(scopes, name, allow_http=False, opt_in=None):
    """Check a mapping ``@scope`` -> registry URL (None is none); return a new dict, URLs ending with one ``/``."""
    if scopes is None:
        return {}
    if not isinstance(scopes, dict):
        raise PolicyError('%s must be a mapping of @scope to a registry URL (@corp: https://npm.corp.example/), '
                          'got %s' % (name, show(scopes)))
    checked = {}
    for scope, url in scopes.items():
        validate_scope(scope, '%s key' % name)
        checked[scope] = validate_registry_url(url, '%s[%s]' % (name, show(scope)), allow_http, opt_in)
    return checked


def validate_package_name(package, name):
    """Check an npm package name (``npm``, ``@corp/tool``) as validate-npm-package-name does for new ones."""
    require_string(package, name)
    if len(package) > PACKAGE_NAME_MAX or not _PACKAGE.match(package):
        raise PolicyError('%s is not an npm package name (lower case, letters, digits, "-", ".", "_" and "~", not '
                          'starting with "." or "_", at most %d characters, optionally @scope/ in front)'
                          % (_subject(name, package, False), PACKAGE_NAME_MAX))
    return package


def escaped_package_name(package):
    """The name as npm puts it in a packument URL: ``@scope/name`` -> ``@scope%2fname`` (npm-package-arg)."""
    return package.replace('/', '%2f', 1)
