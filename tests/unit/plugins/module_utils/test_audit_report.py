# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit report's judgement and its three renderers (JSON, JUnit XML, HTML), on a fleet of records."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

from html.parser import HTMLParser

import pytest

from audit_records import HOSTILE, HOSTILE_SUMMARY, SECRET, SECRET_URL, TOKEN, fleet

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _audit_report as report_utils
from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit_report import (
    ReportError,
    build_report,
    failing_hosts,
    matrix,
    render_all,
    render_html,
    render_json,
    render_junit,
    render_latency_svg,
    resolve_dest,
    summary_line,
    write_report,
)

GENERATED_AT = '2026-12-03T14:00:00Z'


@pytest.fixture
def report():
    return build_report(fleet(), 'high', GENERATED_AT)


# ---------------------------------------------------------------------------
# Judgement
# ---------------------------------------------------------------------------

def test_summary_counts_each_severity_and_only_an_audited_host_without_findings_is_compliant(report):
    summary = report['summary']
    assert summary['mirror'] == {'compliant': True, 'counts': {'info': 0, 'low': 0, 'medium': 0, 'high': 0},
                                 'error': None}
    assert summary['bookworm']['counts'] == {'info': 0, 'low': 1, 'medium': 0, 'high': 2}
    assert summary['trixie'] == {'compliant': False, 'counts': {'info': 1, 'low': 0, 'medium': 1, 'high': 0},
                                 'error': None}
    assert summary['forky']['compliant'] is False and summary['forky']['error'].startswith('unreachable: ssh')


def test_summary_lines_name_the_counts_most_severe_first(report):
    lines = [summary_line(host, entry) for host, entry in report['summary'].items()]
    assert 'bookworm: 2 high, 1 low' in lines
    assert 'trixie: 1 medium, 1 info' in lines
    assert 'mirror: compliant' in lines
    assert 'forky: not audited: unreachable: ssh: connect to host forky port 22: Connection refused' in lines


@pytest.mark.parametrize('fail_on, expected', [
    ('high', ['bookworm', 'forky', HOSTILE]),
    ('medium', ['bookworm', 'forky', 'trixie', HOSTILE]),
    ('low', ['bookworm', 'forky', 'trixie', HOSTILE]),
    ('info', ['bookworm', 'forky', 'trixie', HOSTILE]),
    ('never', []),
])
def test_failing_hosts_follow_fail_on_and_a_host_not_audited_fails_unless_never(report, fail_on, expected):
    assert sorted(failing_hosts(report['summary'], fail_on)) == sorted(expected)


def test_a_finding_below_fail_on_does_not_fail():
    hosts = fleet()
    only_low = {'trixie': hosts['trixie'], 'mirror': hosts['mirror']}
    assert failing_hosts(build_report(only_low, 'high', GENERATED_AT)['summary'], 'high') == []
    assert failing_hosts(build_report(only_low, 'medium', GENERATED_AT)['summary'], 'medium') == ['trixie']


def test_registered_results_and_missing_ones_are_read_as_records_or_errors():
    record = fleet()['bookworm']
    report = build_report({
        'registered': {'changed': False, 'audit': record, 'msg': 'audited'},
        'unreachable': {'unreachable': True, 'msg': 'Failed to connect to the host via ssh', 'changed': False},
        'failed': {'failed': True, 'msg': 'mirror_audit: go not found'},
        'missing': None,
    }, 'high', GENERATED_AT)
    assert report['hosts']['registered']['findings'] == record['findings']
    assert report['hosts']['unreachable'] == {'error': 'Failed to connect to the host via ssh'}
    assert report['hosts']['failed'] == {'error': 'mirror_audit: go not found'}
    assert report['hosts']['missing'] == {'error': 'no audit result for this host'}


def test_a_finding_of_a_check_not_listed_adds_the_check():
    record = fleet()['trixie']
    record['checks'] = ['docker.not_applied']
    entry = build_report({'h': record}, 'high', GENERATED_AT)['hosts']['h']
    assert entry['checks'] == ['docker.not_applied', 'docker.unproven']


@pytest.mark.parametrize('mutate, expected', [
    (lambda record: record['findings'][0].update(severity='urgent'),
     "hosts['bookworm'].findings[0].severity is 'urgent'; expected one of info, low, medium, high"),
    (lambda record: record['findings'][1].pop('check'), "hosts['bookworm'].findings[1].check is None"),
    (lambda record: record.update(schema=2), "hosts['bookworm'].schema is 2 (a int)"),
    (lambda record: record.update(findings='none'), "hosts['bookworm'].findings is 'none'; expected a list"),
    (lambda record: record['checks'].__setitem__(0, ''), "hosts['bookworm'].checks[0] is ''"),
])
def test_bad_records_are_refused_naming_the_host_the_item_and_the_value(mutate, expected):
    hosts = fleet()
    mutate(hosts['bookworm'])
    with pytest.raises(ReportError) as caught:
        build_report(hosts, 'high', GENERATED_AT)
    assert expected in str(caught.value)


def test_a_value_that_is_no_record_is_refused_with_its_credentials_masked():
    with pytest.raises(ReportError) as caught:
        build_report({'h': SECRET_URL}, 'high', GENERATED_AT)
    assert "hosts['h']" in str(caught.value) and SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    with pytest.raises(ReportError, match="hosts\\['h'\\] has none of the keys schema, audit or error"):
        build_report({'h': {'changed': False}}, 'high', GENERATED_AT)


def test_two_host_names_that_differ_only_in_a_credential_are_refused_rather_than_merged():
    hosts = {'https://u:%s@h' % SECRET: {'error': 'x'}, 'https://u:other@h': {'error': 'y'}}
    with pytest.raises(ReportError) as caught:
        build_report(hosts, 'high', GENERATED_AT)
    assert "hosts has two host names that read 'https://***@h'" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_bad_fail_on_is_refused():
    with pytest.raises(ReportError, match="fail_on is 'critical'; expected one of info, low, medium, high, never"):
        build_report(fleet(), 'critical', GENERATED_AT)


def test_matrix_cells_hold_the_worst_severity_pass_not_run_or_error(report):
    grid = matrix(report)
    rows = dict((row['host'], dict(zip(grid['checks'], row['cells']))) for row in grid['rows'])
    assert grid['checks'][:3] == ['go.missing_value', 'go.override_weakens', 'go.upstream_fallback']
    assert rows['bookworm']['go.override_weakens'] == {'state': 'high', 'count': 1}
    assert rows['bookworm']['mirror.slow'] == {'state': 'low', 'count': 1}
    assert rows['bookworm']['docker.not_applied'] == {'state': 'pass', 'count': 0}
    assert rows['forky']['mirror.down'] == {'state': 'error', 'count': 0}
    two = fleet()['bookworm']
    two['findings'][1]['check'] = 'go.override_weakens'
    two['findings'][1]['severity'] = 'medium'
    two['checks'] = ['go.override_weakens']
    grid = matrix(build_report({'b': two, 'm': fleet()['mirror']}, 'high', GENERATED_AT))
    cells = dict(zip(grid['checks'], grid['rows'][0]['cells']))
    assert cells['go.override_weakens'] == {'state': 'high', 'count': 2}
    # a check that the other host ran and this one did not
    assert cells['docker.not_applied'] == {'state': 'none', 'count': 0}


# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

def test_no_renderer_shows_a_credential_wherever_it_sits_in_a_record(report):
    for name, text in render_all(report).items():
        assert SECRET not in text and TOKEN not in text, name
        assert 'https://***@goproxy.corp.example/mod?token=***' in text or \
            'https://***@goproxy.corp.example/mod?token=***'.replace('&', '&amp;') in text, name


def test_credentials_in_host_names_and_error_messages_are_masked():
    report = build_report({'https://u:%s@h' % SECRET: {'error': 'could not reach %s' % SECRET_URL}}, 'high',
                          GENERATED_AT)
    for text in render_all(report).values():
        assert SECRET not in text and TOKEN not in text


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def test_json_round_trips_to_the_report_in_schema_1(report):
    text = render_json(report)
    loaded = json.loads(text)
    assert loaded == report
    assert list(loaded) == ['schema', 'generated_at', 'fail_on', 'hosts', 'summary']
    assert loaded['schema'] == 1 and loaded['generated_at'] == GENERATED_AT and loaded['fail_on'] == 'high'
    assert list(loaded['hosts']) == sorted(loaded['hosts']) == sorted(loaded['summary'])
    assert loaded['hosts'][HOSTILE]['findings'][0]['summary'] == HOSTILE_SUMMARY


def test_json_of_templated_values_is_plain_and_nan_becomes_null():
    class TaggedStr(str):
        pass

    record = fleet()['mirror']
    record['probes'][0]['latency_ms'] = float('nan')
    record['probes'][0]['url'] = TaggedStr('http://127.0.0.1:3000')
    loaded = json.loads(render_json(build_report({TaggedStr('m'): record}, 'high', GENERATED_AT)))
    assert loaded['hosts']['m']['probes'][0]['latency_ms'] is None
    url = build_report({'m': record}, 'high', GENERATED_AT)['hosts']['m']['probes'][0]['url']
    assert url.__class__ is str  # the subclass is gone


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------

def test_junit_has_a_suite_per_host_and_a_case_per_host_and_check(report):
    root = ET.fromstring(render_junit(report).encode('utf-8'))
    assert root.tag == 'testsuites'
    suites = dict((suite.get('name'), suite) for suite in root.findall('testsuite'))
    assert sorted(suites) == sorted(report['hosts'])
    for host, suite in suites.items():
        cases = suite.findall('testcase')
        assert int(suite.get('tests')) == len(cases)
        assert all(case.get('classname') == host for case in cases)
        if report['hosts'][host].get('error') is None:
            assert [case.get('name') for case in cases] == report['hosts'][host]['checks']
    assert int(root.get('tests')) == sum(int(suite.get('tests')) for suite in suites.values())
    assert int(root.get('failures')) == 6 and int(root.get('errors')) == 1


def test_junit_fails_each_check_with_findings_with_its_worst_severity_and_the_evidence(report):
    root = ET.fromstring(render_junit(report).encode('utf-8'))
    bookworm = root.find("testsuite[@name='bookworm']")
    failed = dict((case.get('name'), case.find('failure')) for case in bookworm.findall('testcase')
                  if case.find('failure') is not None)
    assert sorted(failed) == ['go.missing_value', 'go.override_weakens', 'mirror.slow']
    assert failed['go.override_weakens'].get('type') == 'high'
    assert failed['go.override_weakens'].get('message') == '[high] alice sets GOSUMDB=off in her go env file'
    assert '/home/alice/.config/go/env' in failed['go.override_weakens'].text
    assert 'consumer go:user:alice' in failed['go.override_weakens'].text
    assert failed['mirror.slow'].get('type') == 'low'
    passed = [case for case in bookworm.findall('testcase') if len(case) == 0]
    assert len(passed) == len(report['hosts']['bookworm']['checks']) - 3
    assert bookworm.get('failures') == '3'


def test_junit_gives_a_host_that_was_not_audited_one_error_case(report):
    forky = ET.fromstring(render_junit(report).encode('utf-8')).find("testsuite[@name='forky']")
    cases = forky.findall('testcase')
    assert [case.get('name') for case in cases] == ['mirror_audit']
    assert cases[0].find('error').get('message').startswith('unreachable: ssh')
    assert forky.get('errors') == '1' and forky.get('failures') == '0'


def test_junit_stays_well_formed_with_markup_and_control_characters(report):
    root = ET.fromstring(render_junit(report).encode('utf-8'))
    hostile = [suite for suite in root.findall('testsuite') if suite.get('name') == HOSTILE][0]
    failure = hostile.find('testcase/failure')
    assert failure.get('message') == '[high] ' + HOSTILE_SUMMARY
    assert '\\u0001control\\u001f<&>' in failure.text


def test_several_findings_of_one_check_make_one_failure_listing_all():
    record = fleet()['bookworm']
    record['findings'][1]['check'] = 'go.override_weakens'
    record['findings'][1]['severity'] = 'medium'
    root = ET.fromstring(render_junit(build_report({'b': record}, 'high', GENERATED_AT)).encode('utf-8'))
    failures = root.findall(".//testcase[@name='go.override_weakens']/failure")
    assert len(failures) == 1
    assert failures[0].get('type') == 'high' and failures[0].get('message').endswith('(and 1 more)')
    assert 'ci-agent.service' in failures[0].text and 'GOSUMDB=off' in failures[0].text


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

class _Page(HTMLParser):
    """Every start tag with its attributes, the text outside script and style, and the scripts' bodies."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.scripts, self._in = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ('script', 'style'):
            self._in.append(tag)
            self.scripts.append('') if tag == 'script' else None

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if self._in and self._in[-1] == 'script':
            self.scripts[-1] += data
        elif not self._in:
            self.text.append(data)


def _parse(text):
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_escapes_a_hostile_host_name_and_finding(report):
    text = render_html(report)
    page = _parse(text)
    names = [tag for tag, dummy in page.tags]
    assert 'img' not in names and 'b' not in names
    assert names.count('script') == 2  # the embedded data and the page's own script, nothing injected
    assert HOSTILE in ''.join(page.text) and HOSTILE_SUMMARY in ''.join(page.text)
    # The host's attribute carries the name whole, as text.
    assert any(attributes.get('data-host') == HOSTILE for dummy, attributes in page.tags)


def test_html_embeds_the_matrix_as_json_that_cannot_close_its_script(report):
    page = _parse(render_html(report))
    data_script = page.scripts[0]
    assert '<' not in data_script and '>' not in data_script and '&' not in data_script
    data = json.loads(data_script)
    assert data == matrix(report)
    assert HOSTILE in [row['host'] for row in data['rows']]


def test_html_is_self_contained(report):
    text = render_html(report)
    page = _parse(text)
    for tag, attributes in page.tags:
        for name in ('src', 'href', 'action', 'srcset', 'poster', 'data'):
            value = attributes.get(name)
            assert value is None or value.startswith('#'), (tag, name, value)
        assert tag not in ('link', 'iframe', 'object', 'embed', 'img', 'base')
    assert 'url(' not in text.split('<style>')[1].split('</style>')[0]
    assert "default-src 'none'" in text


def test_html_shows_every_finding_with_its_evidence_and_each_host(report):
    text = ''.join(_parse(render_html(report)).text)
    for host, entry in report['hosts'].items():
        assert host in text
        for finding in entry.get('findings', []):
            assert finding['summary'] in text and finding['check'] in text
    assert '/home/alice/.config/go/env' in text
    assert 'Not audited: unreachable: ssh' in text


def test_latency_chart_draws_a_bar_per_reachable_probe_scaled_to_the_slowest_and_marks_down_ones(report):
    svg = render_latency_svg(report)
    root = ET.fromstring(svg.encode('utf-8'))
    namespace = '{http://www.w3.org/2000/svg}'
    bars = root.findall('%srect' % namespace)
    ok = [rect for rect in bars if rect.get('class') in ('bar-ok', 'bar-slow')]
    assert len(ok) == 6  # mirror 2, bookworm 2, trixie 1, hostile 1
    widths = sorted(float(rect.get('width')) for rect in ok)
    assert widths[-1] == 420.0  # the slowest mirror (812 ms) spans the scale
    assert [rect.get('class') for rect in bars].count('bar-slow') == 1  # the one mirror.slow names
    assert [rect.get('class') for rect in bars].count('bar-down') == 1
    texts = ''.join(root.itertext())
    assert 'down: connection refused' in texts and 'not audited' in texts and '812.0 ms (slow)' in texts


# ---------------------------------------------------------------------------
# Where and how the files are written
# ---------------------------------------------------------------------------

def test_dest_is_relative_to_the_cwd_and_refused_inside_an_installed_collection(tmp_path):
    installed = tmp_path / 'site' / 'ansible_collections' / 'buildfleet' / 'mirrors'
    installed.mkdir(parents=True)
    assert resolve_dest('mirror-audit', str(tmp_path), str(installed)) == str(tmp_path / 'mirror-audit')
    with pytest.raises(ReportError, match="dest 'playbooks/report' is inside the installed collection"):
        resolve_dest('playbooks/report', str(installed), str(installed))
    # through a link as well
    (tmp_path / 'link').symlink_to(installed)
    with pytest.raises(ReportError, match='inside the installed collection'):
        resolve_dest(str(tmp_path / 'link' / 'r'), '/', str(installed))
    # a checkout that a collections tree only links to is no installed collection
    checkout = tmp_path / 'checkout'
    checkout.mkdir()
    assert resolve_dest('mirror-audit', str(checkout), str(checkout)) == str(checkout / 'mirror-audit')


def test_dest_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'report').write_text('x')
    with pytest.raises(ReportError, match="dest 'report' exists and is not a directory"):
        resolve_dest('report', str(tmp_path), str(tmp_path / 'nowhere'))


def test_write_report_makes_dest_replaces_only_its_files_and_says_what_changed(tmp_path, report):
    dest = tmp_path / 'a' / 'b'
    files = render_all(report)
    assert write_report(str(dest), files, check_mode=True) == ['report.json', 'report.xml', 'index.html']
    assert not dest.exists()
    assert write_report(str(dest), files) == ['report.json', 'report.xml', 'index.html']
    (dest / 'keep.txt').write_text('mine')
    assert sorted(os.listdir(dest)) == ['index.html', 'keep.txt', 'report.json', 'report.xml']
    assert oct(os.stat(dest / 'report.json').st_mode & 0o777) == '0o644'
    assert write_report(str(dest), files) == []
    again = render_all(build_report(fleet(), 'high', '2026-12-03T15:00:00Z'))
    assert write_report(str(dest), again) == ['report.json', 'report.xml', 'index.html']
    assert json.loads((dest / 'report.json').read_text())['generated_at'] == '2026-12-03T15:00:00Z'
    assert (dest / 'keep.txt').read_text() == 'mine'
    assert not [name for name in os.listdir(dest) if name.startswith('.')]


def test_the_known_check_ids_are_those_of_the_contract():
    assert report_utils.KNOWN_CHECKS == (
        'go.missing_value', 'go.override_weakens', 'go.upstream_fallback', 'docker.missing_mirror',
        'docker.not_applied', 'docker.unproven', 'docker.upstream_fallback', 'containerd.missing_mirror',
        'containers.missing_mirror', 'python.missing_index', 'python.extra_index', 'uv.missing_index',
        'npm.missing_registry', 'npm.missing_scope', 'mirror.down', 'mirror.slow')
    assert re.search(r'C\(go.missing_value\), C\(go.override_weakens\)',
                     open(os.path.join(os.path.dirname(report_utils.__file__), '..', 'modules',
                                       'mirror_audit_report.py')).read())


def test_every_check_of_the_audit_module_is_known_to_the_report_in_the_same_order():
    from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit import CHECKS

    assert report_utils.KNOWN_CHECKS == tuple(CHECKS)
    doc = open(os.path.join(os.path.dirname(report_utils.__file__), '..', 'modules', 'mirror_audit_report.py')).read()
    listed = re.search(r'The check ids the matrix shows first, in this order: (.*?); any other id', doc, re.S).group(1)
    assert re.findall(r'C\(([a-z.]+_?[a-z_]*)\)', listed) == list(CHECKS)


def test_the_fast_path_of_redaction_skips_only_strings_redact_url_leaves_alone():
    import random

    from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url

    generator = random.Random(15)
    pieces = ['a', 'b', ':', '/', '?', '#', '&', ';', '%', '%40', '@', '=', '.', ' ', '\u00e9', 'token', 'key',
              'pass', 'u', 'https://', 'file://', 'host:5000']
    changed = 0
    for dummy in range(20000):
        text = ''.join(generator.choice(pieces) for dummy in range(generator.randint(0, 12)))
        assert report_utils._redacted(text) == redact_url(text), text
        changed += redact_url(text) != text
    assert changed > 1000  # the corpus does hold credentials


def test_package_probes_show_their_package_in_the_table_and_the_chart():
    hosts = fleet()
    hosts['mirror']['probes'] += [
        {'url': 'http://127.0.0.1:15448/', 'kind': 'npm', 'registry': None, 'reachable': True, 'status': 200,
         'latency_ms': 4.0, 'reason': '', 'package': '@corp/hello'},
        {'url': 'http://127.0.0.1:15448/', 'kind': 'npm', 'registry': None, 'reachable': True, 'status': 200,
         'latency_ms': 3.0, 'reason': '', 'package': 'npm'}]
    report = build_report(hosts, 'high', '2026-12-03T15:00:00Z')
    svg = render_latency_svg(report)
    assert 'npm http://127.0.0.1:15448/ (@corp/hello)' in svg and 'npm http://127.0.0.1:15448/ (npm)' in svg
    assert '<td>@corp/hello</td>' in render_html(report)
    # A record without package probes renders as before: no package in any label.
    plain = render_latency_svg(build_report(fleet(), 'high', '2026-12-03T15:00:00Z'))
    assert 'goproxy http://127.0.0.1:3000<' in plain.replace('</title>', '<')
