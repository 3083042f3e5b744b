# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every filter plugin of the collection shares (controller side only)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError


def policy_errors_as_filter_errors(function):
    """Re-raise PolicyError as AnsibleFilterError, with the same message (it already names the variable)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PolicyError as error:
            raise AnsibleFilterError(str(error)) from None
    return wrapper
