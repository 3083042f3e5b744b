# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit report's HTML page in a real browser (Debian's chromium, headless): the DOM after its script ran.

Skipped when chromium is not installed (`apt-get install chromium`). The screenshot of the page is kept as
.build/audit-report.png.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

from html.parser import HTMLParser
from pathlib import Path

import pytest

from audit_records import HOSTILE, SECRET, TOKEN, fleet
from conftest import REPO

from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit_report import (
    build_report,
    render_all,
    write_report,
)

CHROMIUM = next((shutil.which(name) for name in ('chromium', 'chromium-browser', 'google-chrome')
                 if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (apt-get install chromium)')

SCREENSHOT = REPO / '.build' / 'audit-report.png'


def _chromium(profile, *arguments):
    completed = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars',
         '--user-data-dir=%s' % profile] + list(arguments),
        capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


class _Dom(HTMLParser):
    """The rendered DOM: each element with its attributes and own text, and the text of the visible elements."""

    VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'col', 'source', 'wbr', 'area', 'base', 'embed', 'track'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self._open = [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        hidden = 'hidden' in attributes or any(element['hidden'] for element in self._open)
        element = {'tag': tag, 'attrs': attributes, 'text': '', 'hidden': hidden, 'parents': list(self._open)}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()['tag'] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element['text'] += data

    def by_id(self, identifier):
        return [element for element in self.elements if element['attrs'].get('id') == identifier][0]

    def select(self, tag, **attributes):
        return [element for element in self.elements if element['tag'] == tag
                and all(element['attrs'].get(name.replace('_', '-')) == value for name, value in attributes.items())]

    def visible_text(self, tag):
        return ' '.join(element['text'] for element in self.elements if element['tag'] == tag and not element['hidden'])


@pytest.fixture(scope='module')
def page(tmp_path_factory):
    directory = tmp_path_factory.mktemp('report')
    report = build_report(fleet(), 'high', '2026-12-03T14:00:00Z')
    write_report(str(directory), render_all(report))
    return directory / 'index.html', report


def _dom(page, profile, fragment=''):
    dom = _Dom()
    dom.feed(_chromium(profile, '--dump-dom', page.as_uri() + fragment))
    dom.close()
    return dom


def test_the_script_builds_the_matrix_and_the_filter_and_every_finding_is_on_the_page(page, tmp_path):
    path, report = page
    dom = _dom(path, tmp_path / 'profile')
    assert dom.select('body', data_ready='true'), 'the page script did not run to its end'
    # Text only the script writes: the status line, the filter's options, the matrix.
    assert dom.by_id('filter-status')['text'] == 'Showing all 6 findings on 5 hosts'
    options = [element['text'] for element in dom.select('option')]
    assert 'go.override_weakens (1)' in options and 'docker.not_applied (1)' in options and 'every check' in options
    table = dom.by_id('matrix-table')
    headers = [element['text'] for element in dom.elements if element['tag'] == 'th' and table in element['parents']
               and element['attrs'].get('class') == 'check']
    assert headers == ['go.missing_value', 'go.override_weakens', 'go.upstream_fallback', 'docker.not_applied',
                       'docker.unproven', 'docker.upstream_fallback', 'containerd.missing_mirror',
                       'containers.missing_mirror', 'mirror.down', 'mirror.slow']
    rows = [element for element in dom.select('tr') if table in element['parents'] and 'data-host' in element['attrs']]
    assert sorted(row['attrs']['data-host'] for row in rows) == sorted(report['hosts'])
    cells = dict((row['attrs']['data-host'], [cell['text'] for cell in dom.select('td') if row in cell['parents']])
                 for row in rows)
    assert cells['bookworm'] == ['high', 'high', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'low']
    assert cells['trixie'][3:5] == ['medium', 'info'] and set(cells['forky']) == {'error'}
    assert set(cells['mirror']) == {'pass'}
    # Every finding, visible, with its check and severity.
    findings = dom.select('tr', **{'class': 'finding'})
    assert len(findings) == 6 and not any(row['hidden'] for row in findings)
    shown = ' '.join(row['text'] for row in findings)
    for entry in report['hosts'].values():
        for finding in entry.get('findings', []):
            assert finding['summary'] in shown and finding['check'] in shown
    # The hostile name is text everywhere, in the matrix the script built too; nothing it carries ran.
    assert HOSTILE in [row['attrs']['data-host'] for row in rows]
    assert HOSTILE in ' '.join(element['text'] for element in dom.select('a'))
    assert not dom.select('img') and 'pwned' not in dom.by_id('matrix')['text'].replace(HOSTILE, '')
    title = [element['text'] for element in dom.select('title') if not element['parents']
             or element['parents'][-1]['tag'] == 'head'][0]
    assert title.startswith('Mirror policy audit') and 'pwned' not in title
    whole = ' '.join(element['text'] for element in dom.select('html'))
    assert SECRET not in whole and TOKEN not in whole


def test_a_filter_in_the_url_hides_the_other_findings_hosts_and_matrix_columns(page, tmp_path):
    path, dummy = page
    dom = _dom(path, tmp_path / 'profile', '#check=go.override_weakens')
    assert dom.by_id('filter-status')['text'] == ('Showing 1 of 6 findings on 1 of 5 hosts '
                                                  '(go.override_weakens, any severity)')
    visible = [row for row in dom.select('tr', **{'class': 'finding'}) if not row['hidden']]
    assert [row['attrs']['data-check'] for row in visible] == ['go.override_weakens']
    assert [article['attrs']['data-host'] for article in dom.select('article') if not article['hidden']] == ['bookworm']
    assert dom.visible_text('th').split().count('go.override_weakens') == 1
    assert 'mirror.slow' not in dom.visible_text('th')

    dom = _dom(path, tmp_path / 'profile', '#severity=medium')
    assert dom.by_id('filter-status')['text'].startswith('Showing 4 of 6 findings on 3 of 5 hosts')
    rows = dom.select('tr', **{'class': 'finding'})
    severities = [row['attrs']['data-severity'] for row in rows if not row['hidden']]
    assert sorted(severities) == ['high', 'high', 'high', 'medium']


def test_a_screenshot_of_the_page_is_kept_under_build(page, tmp_path):
    path, dummy = page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    _chromium(tmp_path / 'profile', '--window-size=1280,1800', '--screenshot=%s' % SCREENSHOT, path.as_uri())
    data = Path(SCREENSHOT).read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', data[16:24])
    assert (width, height) == (1280, 1800)
    assert len(data) > 20000  # a rendered page, not a blank one
