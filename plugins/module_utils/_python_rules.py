# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What pip and uv accept: simple-index URLs (PEP 503/691) and project names (PEP 508, normalised as PEP 503 says).

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

# PEP 508: letters, digits, '.', '_' and '-', starting and ending with a letter or a digit.
_PROJECT_NAME = re.compile(r'^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z', re.IGNORECASE)


def canonical_project_name(project):
    """PEP 503 normalisation: runs of '-', '_' and '.' become one '-', in lower case (``Foo.Bar_baz``: ``foo-bar-baz``)."""
    return re.sub(r'[-_.]+', '-', project).lower()


def validate_project_name(project, name):
    """Check a project name as PEP 508 spells it; return its PEP 503 normalised form (what a simple index lists)."""
    require_string(project, name)
    if not _PROJECT_NAME.match(project):
        raise PolicyError('%s is not a Python project name (letters, digits, ".", "_" and "-", starting and ending '
                          'with a letter or a digit, such as pip or typing_extensions)'
                          % _subject(name, project, False))
    return canonical_project_name(project)


def validate_index_url(url, name, allow_http=False, opt_in=None, entry=False):
    """Check a PEP 503/691 simple index URL (``https://pypi.corp.example/simple/``); return it ending with one ``/``.

    pip asks ``<index>/<normalised project>/`` (it joins with a ``/`` and adds a trailing one), uv the same; see
    :func:`_values.validate_config_file_url` for what is refused.
    """
    return validate_config_file_url(url, name, allow_http, opt_in, entry)


def validate_extra_index_urls(urls, name, index_url=None, allow_http=False, opt_in=None):
    """Check further index URLs (a list; None is none); return them normalised, in order.

    The same index twice, or the main index again, is refused: pip would ask it twice for every project.
    """
    if urls is None:
        return []
    if not isinstance(urls, (list, tuple)):
        raise PolicyError('%s must be a list of index URLs, got %s' % (name, show(urls)))
    normalised = []
    for url in urls:
        require_string(url, name, entry=True)
        checked = validate_index_url(url, name, allow_http, opt_in, entry=True)
        if checked in normalised or (index_url is not None and checked == index_url):
            raise PolicyError('%s is given twice (counting the main index); name each index once'
                              % _subject(name, url, True))
        normalised.append(checked)
    return normalised
