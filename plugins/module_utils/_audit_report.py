# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet audit report: the host records of mirror_audit, judged and rendered as JSON, JUnit XML and one HTML page.

Used by the mirror_audit_report action on the controller. Pure Python, no Ansible import: the records are plain
JSON-able data (the ``audit`` result key of mirror_audit, or ``{"error": msg}`` for a host that was not audited).
Every string of a record goes through the redaction helper again before any renderer sees it.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET

from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url, show


SCHEMA = 1
SEVERITIES = ('info', 'low', 'medium', 'high')
FAIL_ON_CHOICES = SEVERITIES + ('never',)
REPORT_FILES = (('json', 'report.json'), ('junit', 'report.xml'), ('html', 'index.html'))

# The stable check ids of mirror_audit, in the order the matrix shows them; an id the report does not know yet
# (a newer module) comes after them, sorted.
KNOWN_CHECKS = (
    'go.missing_value', 'go.override_weakens', 'go.upstream_fallback',
    'docker.missing_mirror', 'docker.not_applied', 'docker.unproven', 'docker.upstream_fallback',
    'containerd.missing_mirror', 'containers.missing_mirror',
    'python.missing_index', 'python.extra_index', 'uv.missing_index',
    'npm.missing_registry', 'npm.missing_scope',
    'mirror.down', 'mirror.slow',
)

# The JUnit test case of a host that has no record (unreachable, or its audit task failed).
AUDIT_RUN_CASE = 'mirror_audit'


class ReportError(ValueError):
    """Input the report cannot use; the message names the option, the host and the value (redacted)."""


# ---------------------------------------------------------------------------
# Input: redaction and shape
# ---------------------------------------------------------------------------

def _redacted(text):
    """redact_url, skipped for the many strings that hold neither an '@' nor an '=' (no credential can hide there)."""
    text = str(text)
    return redact_url(text) if '@' in text or '=' in text else text


def clean(value):
    """A plain JSON-able copy of ``value`` with every string (keys too) redacted; NaN and infinities become None.

    Plain types only: the templating engine's subclasses of dict, list and str do not reach a renderer.
    """
    if isinstance(value, dict):
        return dict((_redacted(key), clean(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return _redacted(value)


def _where(host, *path):
    text = 'hosts[%s]' % show(host)
    for step in path:
        text += '[%d]' % step if isinstance(step, int) else '.%s' % step
    return text


def _require_list(record, key, host):
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError('%s is %s; expected a list' % (_where(host, key), show(value)))
    return value


def _validate_record(host, record):
    """The record as the renderers read it: lists present, findings well formed, checks holding every finding's id."""
    if record.get('schema') != SCHEMA:
        raise ReportError('%s is %s; this report reads schema %d records of buildfleet.mirrors.mirror_audit'
                          % (_where(host, 'schema'), show(record.get('schema')), SCHEMA))
    record = dict(record)
    for key in ('consumers', 'probes', 'checks', 'findings'):
        record[key] = _require_list(record, key, host)
    for index, check in enumerate(record['checks']):
        if not isinstance(check, str) or not check:
            raise ReportError('%s is %s; expected a check id' % (_where(host, 'checks', index), show(check)))
    findings = []
    for index, finding in enumerate(record['findings']):
        if not isinstance(finding, dict):
            raise ReportError('%s is %s; expected a dict' % (_where(host, 'findings', index), show(finding)))
        check = finding.get('check')
        if not isinstance(check, str) or not check:
            raise ReportError('%s is %s; expected a check id' % (_where(host, 'findings', index, 'check'), show(check)))
        if finding.get('severity') not in SEVERITIES:
            raise ReportError('%s is %s; expected one of %s' % (
                _where(host, 'findings', index, 'severity'), show(finding.get('severity')), ', '.join(SEVERITIES)))
        finding = dict(finding)
        finding.setdefault('consumer', None)
        finding.setdefault('summary', '')
        finding.setdefault('evidence', {})
        findings.append(finding)
    record['findings'] = findings
    for index, probe in enumerate(record['probes']):
        if not isinstance(probe, dict):
            raise ReportError('%s is %s; expected a dict' % (_where(host, 'probes', index), show(probe)))
    checks = list(record['checks'])
    for finding in findings:
        if finding['check'] not in checks:
            checks.append(finding['check'])
    record['checks'] = checks
    return record


def _host_entry(host, value):
    """A record, or {'error': msg} for a host with none. Registered results of mirror_audit are accepted as well."""
    if value is None:
        return {'error': 'no audit result for this host'}
    if not isinstance(value, dict):
        raise ReportError('%s is %s; expected a mirror_audit record, a registered mirror_audit result or '
                          '{"error": message}' % (_where(host), show(value)))
    if 'schema' in value:
        return _validate_record(host, value)
    if isinstance(value.get('audit'), dict) and not value.get('failed') and not value.get('unreachable'):
        return _validate_record(host, value['audit'])
    if value.get('unreachable') or value.get('failed') or 'error' in value:
        message = value.get('error') if 'error' in value else value.get('msg')
        if not message:
            message = 'unreachable' if value.get('unreachable') else 'the audit task failed'
        return {'error': str(message)}
    if value.get('skipped'):
        return {'error': 'the audit task was skipped on this host'}
    raise ReportError('%s has none of the keys schema, audit or error (it has: %s)'
                      % (_where(host), ', '.join(sorted(str(key) for key in value)) or 'nothing'))


def normalise_hosts(hosts):
    """Every host's entry, redacted and checked, sorted by host name."""
    if not isinstance(hosts, dict):
        raise ReportError('hosts is %s; expected a dict of host name to mirror_audit record' % show(hosts))
    entries = {}
    for host in sorted(hosts, key=str):
        name = _redacted(host)
        if name in entries:
            raise ReportError('hosts has two host names that read %s once their credentials are masked; '
                              'name each host without a credential' % show(name))
        entries[name] = _host_entry(name, clean(hosts[host]))
    return entries


# ---------------------------------------------------------------------------
# Judgement: summary, lines, fail_on
# ---------------------------------------------------------------------------

def severity_rank(severity):
    return SEVERITIES.index(severity)


def worst_severity(findings):
    """The highest severity among the findings, or None."""
    ranks = [severity_rank(finding['severity']) for finding in findings]
    return SEVERITIES[max(ranks)] if ranks else None


def summarise(entries):
    """{host: {'compliant', 'counts', 'error'}}: compliant means audited and without a finding of any severity."""
    summary = {}
    for host, entry in entries.items():
        counts = dict((severity, 0) for severity in SEVERITIES)
        for finding in entry.get('findings', []):
            counts[finding['severity']] += 1
        error = entry.get('error')
        summary[host] = {'compliant': error is None and not any(counts.values()), 'counts': counts, 'error': error}
    return summary


def summary_line(host, entry):
    """'host: compliant', 'host: 2 high, 1 low' or 'host: not audited: why'."""
    if entry['error'] is not None:
        return '%s: not audited: %s' % (host, entry['error'])
    if entry['compliant']:
        return '%s: compliant' % host
    counts = ['%d %s' % (entry['counts'][severity], severity)
              for severity in reversed(SEVERITIES) if entry['counts'][severity]]
    return '%s: %s' % (host, ', '.join(counts))


def failing_hosts(summary, fail_on):
    """The hosts that fail the run: a finding at or above fail_on, or no audit at all; none with 'never'."""
    if fail_on not in FAIL_ON_CHOICES:
        raise ReportError('fail_on is %s; expected one of %s' % (show(fail_on), ', '.join(FAIL_ON_CHOICES)))
    if fail_on == 'never':
        return []
    threshold = severity_rank(fail_on)
    return [host for host, entry in summary.items()
            if entry['error'] is not None
            or any(entry['counts'][severity] for severity in SEVERITIES[threshold:])]


def build_report(hosts, fail_on, generated_at):
    """The report.json document (schema 1)."""
    entries = normalise_hosts(hosts)
    summary = summarise(entries)
    failing_hosts(summary, fail_on)  # refuses a bad fail_on before anything is rendered
    return {'schema': SCHEMA, 'generated_at': generated_at, 'fail_on': fail_on, 'hosts': entries,
            'summary': summary}


def fleet_checks(report):
    """Every check id of the fleet: the known ones first in their order, then any other, sorted."""
    seen = set()
    for entry in report['hosts'].values():
        seen.update(entry.get('checks', []))
    return [check for check in KNOWN_CHECKS if check in seen] + sorted(seen - set(KNOWN_CHECKS))


def matrix(report):
    """One row per host, one cell per fleet check: the worst severity of its findings, pass, none (not run), error."""
    checks = fleet_checks(report)
    rows = []
    for index, (host, entry) in enumerate(report['hosts'].items()):
        cells = []
        for check in checks:
            if entry.get('error') is not None:
                cells.append({'state': 'error', 'count': 0})
                continue
            findings = [finding for finding in entry['findings'] if finding['check'] == check]
            if findings:
                cells.append({'state': worst_severity(findings), 'count': len(findings)})
            else:
                cells.append({'state': 'pass' if check in entry['checks'] else 'none', 'count': 0})
        rows.append({'host': host, 'anchor': 'host-%d' % index, 'error': entry.get('error'), 'cells': cells})
    return {'checks': checks, 'rows': rows}


# ---------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------

def render_json(report):
    return json.dumps(report, indent=2, ensure_ascii=False) + '\n'


# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _xml_text(value):
    """Text safe in an XML 1.0 document; a character it cannot carry is written as \\uXXXX."""
    return _XML_INVALID.sub(lambda match: '\\u%04x' % ord(match.group()), str(value))


def _evidence_text(evidence):
    return json.dumps(evidence, indent=2, sort_keys=True, ensure_ascii=False)


def _finding_text(finding):
    lines = ['[%s] %s%s' % (finding['severity'], finding['summary'],
                            ' (consumer %s)' % finding['consumer'] if finding['consumer'] else '')]
    if finding['evidence'] not in ({}, None):
        lines.append('evidence: ' + _evidence_text(finding['evidence']))
    return '\n'.join(lines)


def render_junit(report):
    """JUnit XML: one testsuite per host, one testcase per host x check, a failure per check with findings."""
    suites = ET.Element('testsuites', name='buildfleet.mirrors audit')
    totals = {'tests': 0, 'failures': 0, 'errors': 0}
    for host, entry in report['hosts'].items():
        suite = ET.SubElement(suites, 'testsuite', name=_xml_text(host), timestamp=_xml_text(report['generated_at']),
                              skipped='0', time='0')
        properties = ET.SubElement(suite, 'properties')
        ET.SubElement(properties, 'property', name='fail_on', value=report['fail_on'])
        ET.SubElement(properties, 'property', name='compliant',
                      value=str(report['summary'][host]['compliant']).lower())
        tests = failures = errors = 0
        if entry.get('error') is not None:
            case = ET.SubElement(suite, 'testcase', name=AUDIT_RUN_CASE, classname=_xml_text(host), time='0')
            error = ET.SubElement(case, 'error', type='not_audited', message=_xml_text(entry['error']))
            error.text = _xml_text(entry['error'])
            tests, errors = 1, 1
        for check in entry.get('checks', []):
            case = ET.SubElement(suite, 'testcase', name=_xml_text(check), classname=_xml_text(host), time='0')
            tests += 1
            findings = [finding for finding in entry['findings'] if finding['check'] == check]
            if not findings:
                continue
            failures += 1
            findings.sort(key=lambda finding: -severity_rank(finding['severity']))
            message = '[%s] %s' % (findings[0]['severity'], findings[0]['summary'])
            if len(findings) > 1:
                message += ' (and %d more)' % (len(findings) - 1)
            failure = ET.SubElement(case, 'failure', type=findings[0]['severity'], message=_xml_text(message))
            failure.text = _xml_text('\n\n'.join(_finding_text(finding) for finding in findings))
        suite.set('tests', str(tests))
        suite.set('failures', str(failures))
        suite.set('errors', str(errors))
        totals['tests'] += tests
        totals['failures'] += failures
        totals['errors'] += errors
    for key, value in totals.items():
        suites.set(key, str(value))
    if hasattr(ET, 'indent'):
        ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding='unicode') + '\n'


def _count(number, noun):
    return '%d %s%s' % (number, noun, '' if number == 1 else 's')


def _e(value):
    """HTML text or attribute value: escaped, quotes included, characters HTML cannot carry made visible."""
    return html.escape(_xml_text(value), quote=True)


def _script_json(value):
    """JSON to embed in a <script> element: nothing in it can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=False)
    return text.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')


def _shorten(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def _probe_urls_of(entry, check):
    urls = set()
    for finding in entry.get('findings', []):
        if finding['check'] == check and isinstance(finding.get('evidence'), dict):
            url = finding['evidence'].get('url')
            if isinstance(url, str):
                urls.add(url)
    return urls


def render_latency_svg(report):
    """An inline SVG bar chart: for each host, one bar per probed mirror, its latency in ms; down mirrors marked."""
    rows = []
    latencies = []
    for host, entry in report['hosts'].items():
        rows.append(('host', host, entry))
        if entry.get('error') is not None or not entry.get('probes'):
            rows.append(('note', 'not audited' if entry.get('error') is not None else 'no mirror probed', None))
            continue
        slow = _probe_urls_of(entry, 'mirror.slow')
        for probe in entry['probes']:
            rows.append(('probe', probe, slow))
            latency = probe.get('latency_ms')
            if isinstance(latency, (int, float)) and not isinstance(latency, bool) and latency >= 0:
                latencies.append(latency)
    scale_max = max(latencies) if latencies else 1.0
    scale_max = scale_max if scale_max > 0 else 1.0
    label_width, bar_width, value_width, row_height = 380, 420, 200, 20
    width = label_width + bar_width + value_width
    height = row_height * len(rows) + 30
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" class="latency" role="img" width="%d" height="%d" '
             'viewBox="0 0 %d %d" aria-label="Mirror latency per host">' % (width, height, width, height),
             '<title>Mirror latency per host (ms)</title>']
    y = 4
    for kind, item, extra in rows:
        if kind == 'host':
            parts.append('<text class="chart-host" x="0" y="%d">%s</text>' % (y + 14, _e(_shorten(item, 60))))
        elif kind == 'note':
            parts.append('<text class="chart-note" x="16" y="%d">%s</text>' % (y + 14, _e(item)))
        else:
            probe = item
            url = str(probe.get('url', ''))
            label = '%s %s' % (probe.get('kind', ''), url)
            if probe.get('package'):  # an index or registry is probed once per package: tell them apart
                label += ' (%s)' % probe['package']
            parts.append('<text class="chart-label" x="16" y="%d"><title>%s</title>%s</text>'
                         % (y + 14, _e(label), _e(_shorten(label, 52))))
            latency = probe.get('latency_ms')
            if probe.get('reachable') is True and isinstance(latency, (int, float)) and not isinstance(latency, bool):
                length = max(2.0, bar_width * max(latency, 0) / scale_max)
                css = 'bar-slow' if url in extra else 'bar-ok'
                parts.append('<rect class="%s" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %s ms</title></rect>'
                             % (css, label_width, y + 3, length, row_height - 6, _e(url), _e('%.1f' % latency)))
                parts.append('<text class="chart-value" x="%.1f" y="%d">%s ms%s</text>'
                             % (label_width + length + 6, y + 14, _e('%.1f' % latency), ' (slow)' if css == 'bar-slow'
                                else ''))
            else:
                reason = probe.get('reason') or probe.get('error') or ''
                parts.append('<rect class="bar-down" x="%d" y="%d" width="6" height="%d"></rect>'
                             % (label_width, y + 3, row_height - 6))
                parts.append('<text class="chart-value down" x="%d" y="%d">down%s</text>'
                             % (label_width + 12, y + 14, _e(': ' + _shorten(str(reason), 40)) if reason else ''))
        y += row_height
    axis_y = y + 6
    parts.append('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"></line>'
                 % (label_width, axis_y, label_width + bar_width, axis_y))
    parts.append('<text class="chart-note" x="%d" y="%d">0</text>' % (label_width, axis_y + 14))
    parts.append('<text class="chart-note" x="%d" y="%d" text-anchor="end">%s ms</text>'
                 % (label_width + bar_width, axis_y + 14, _e('%.1f' % scale_max)))
    parts.append('</svg>')
    return '\n'.join(parts)


_CSS = """
:root { --high: #b71c1c; --medium: #e65100; --low: #f9a825; --info: #1565c0; --pass: #2e7d32; --error: #6a1b9a;
        --none: #eceff1; --ink: #212121; --muted: #607d8b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0;
       padding: 1.5rem 2rem; background: #fafafa; }
h1 { margin: 0 0 .25rem; font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #cfd8dc; }
.meta, .muted { color: var(--muted); }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #cfd8dc; padding: .3rem .5rem; text-align: left; vertical-align: top; }
#matrix th.check { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: 600; }
#matrix td.cell { text-align: center; min-width: 4.5rem; font-weight: 600; }
.sev-high { background: var(--high); color: #fff; } .sev-medium { background: var(--medium); color: #fff; }
.sev-low { background: var(--low); color: #000; } .sev-info { background: var(--info); color: #fff; }
.sev-pass { background: #c8e6c9; color: var(--pass); } .sev-error { background: var(--error); color: #fff; }
.sev-none { background: var(--none); color: var(--muted); }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: .8rem; font-size: .85rem; font-weight: 600; }
.filters { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin: .5rem 0; }
.legend span { margin-right: .5rem; }
article.host { background: #fff; border: 1px solid #cfd8dc; border-radius: .4rem; padding: .5rem 1rem 1rem;
               margin: 1rem 0; }
article.host h3 { margin: .4rem 0; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
code { word-break: break-all; } code.check-id { white-space: nowrap; word-break: normal; }
svg.latency text { font-size: 12px; fill: var(--ink); } svg.latency .chart-host { font-weight: 700; }
svg.latency .chart-note { fill: var(--muted); } svg.latency .down { fill: var(--high); }
svg.latency .bar-ok { fill: var(--pass); } svg.latency .bar-slow { fill: var(--low); }
svg.latency .bar-down { fill: var(--high); } svg.latency .axis { stroke: var(--muted); }
[hidden] { display: none !important; }
"""

# The page's only script: it builds the matrix and the filter from the embedded data and hides the findings that
# a filter leaves out. Every text goes in with textContent, never as markup.
_JS = r"""
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('audit-data').textContent);
  var ORDER = ['info', 'low', 'medium', 'high'];
  var checkSelect, severitySelect;

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function count(number, noun) { return number + ' ' + noun + (number === 1 ? '' : 's'); }

  function cellText(cell) {
    if (cell.state === 'none') { return '\u2014'; }
    if (cell.count > 1) { return cell.state + ' \u00d7' + cell.count; }
    return cell.state;
  }

  function buildMatrix() {
    var table = el('table', {id: 'matrix-table'});
    var head = el('tr');
    head.appendChild(el('th', {}, 'host'));
    data.checks.forEach(function (check, column) {
      head.appendChild(el('th', {'class': 'check', 'data-column': String(column), scope: 'col'}, check));
    });
    table.appendChild(el('thead')).appendChild(head);
    var body = table.appendChild(el('tbody'));
    data.rows.forEach(function (row) {
      var tr = el('tr', {'data-host': row.host});
      var th = tr.appendChild(el('th', {scope: 'row'}));
      th.appendChild(el('a', {href: '#' + row.anchor}, row.host));
      row.cells.forEach(function (cell, column) {
        var title = row.host + ' / ' + data.checks[column] + ': ' +
          (cell.state === 'none' ? 'not run on this host' : cell.state === 'error' ? 'not audited' : cell.state);
        tr.appendChild(el('td', {'class': 'cell sev-' + cell.state, 'data-column': String(column),
                                 'data-state': cell.state, title: title}, cellText(cell)));
      });
      body.appendChild(tr);
    });
    var holder = document.getElementById('matrix');
    holder.textContent = '';
    holder.appendChild(table);
  }

  function buildFilters() {
    var holder = document.getElementById('filters');
    var counts = {};
    Array.prototype.forEach.call(document.querySelectorAll('tr.finding'), function (row) {
      counts[row.getAttribute('data-check')] = (counts[row.getAttribute('data-check')] || 0) + 1;
    });
    var checkLabel = holder.appendChild(el('label', {}, 'Check '));
    checkSelect = checkLabel.appendChild(el('select', {id: 'filter-check'}));
    checkSelect.appendChild(el('option', {value: ''}, 'every check'));
    data.checks.forEach(function (check) {
      checkSelect.appendChild(el('option', {value: check}, check + ' (' + (counts[check] || 0) + ')'));
    });
    var severityLabel = holder.appendChild(el('label', {}, 'Severity '));
    severitySelect = severityLabel.appendChild(el('select', {id: 'filter-severity'}));
    severitySelect.appendChild(el('option', {value: ''}, 'any severity'));
    ORDER.slice().reverse().forEach(function (severity) {
      severitySelect.appendChild(el('option', {value: severity}, severity + (severity === 'high' ? '' : ' and above')));
    });
    checkSelect.addEventListener('change', apply);
    severitySelect.addEventListener('change', apply);
  }

  function readHash() {
    var wanted = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
      var parts = pair.split('=');
      if (parts.length === 2) { wanted[parts[0]] = decodeURIComponent(parts[1]); }
    });
    if (wanted.check && data.checks.indexOf(wanted.check) !== -1) { checkSelect.value = wanted.check; }
    if (wanted.severity && ORDER.indexOf(wanted.severity) !== -1) { severitySelect.value = wanted.severity; }
  }

  function apply() {
    var check = checkSelect.value, minimum = severitySelect.value ? ORDER.indexOf(severitySelect.value) : 0;
    var filtering = Boolean(check || severitySelect.value);
    var shown = 0, total = 0, hostsShown = 0;
    Array.prototype.forEach.call(document.querySelectorAll('article.host'), function (article) {
      var visible = 0;
      Array.prototype.forEach.call(article.querySelectorAll('tr.finding'), function (row) {
        var match = (!check || row.getAttribute('data-check') === check) &&
          ORDER.indexOf(row.getAttribute('data-severity')) >= minimum;
        row.hidden = !match;
        total += 1;
        if (match) { visible += 1; }
      });
      shown += visible;
      article.hidden = filtering && visible === 0;
      if (!article.hidden) { hostsShown += 1; }
    });
    var column = check ? String(data.checks.indexOf(check)) : null;
    Array.prototype.forEach.call(document.querySelectorAll('#matrix-table [data-column]'), function (cell) {
      cell.hidden = column !== null && cell.getAttribute('data-column') !== column;
    });
    Array.prototype.forEach.call(document.querySelectorAll('#matrix-table tbody tr'), function (row) {
      var hit = Array.prototype.some.call(row.querySelectorAll('td.cell'), function (cell) {
        var state = cell.getAttribute('data-state');
        return !cell.hidden && ORDER.indexOf(state) >= minimum;
      });
      row.hidden = filtering && !hit;
    });
    var status = document.getElementById('filter-status');
    status.textContent = filtering
      ? 'Showing ' + shown + ' of ' + count(total, 'finding') + ' on ' + hostsShown + ' of ' +
        count(data.rows.length, 'host') + ' (' +
        (check || 'every check') + ', ' + (severitySelect.value || 'any severity') +
        (severitySelect.value && severitySelect.value !== 'high' ? ' and above' : '') + ')'
      : 'Showing all ' + count(total, 'finding') + ' on ' + count(data.rows.length, 'host');
    var hash = [];
    if (check) { hash.push('check=' + encodeURIComponent(check)); }
    if (severitySelect.value) { hash.push('severity=' + severitySelect.value); }
    try {
      history.replaceState(null, '', hash.length ? '#' + hash.join('&') : location.pathname);
    } catch (e) { /* a browser that refuses it on file:// keeps the old hash */ }
  }

  buildMatrix();
  buildFilters();
  readHash();
  apply();
  document.body.setAttribute('data-ready', 'true');
}());
"""


def _values_text(values):
    if not isinstance(values, dict):
        return _e(json.dumps(values, ensure_ascii=False))
    return '<br>'.join('<code>%s=%s</code>' % (_e(key), _e(value if isinstance(value, str) else json.dumps(value)))
                       for key, value in values.items()) or '<span class="muted">nothing set</span>'


def _host_html(index, host, entry, summary_entry):
    line = summary_line(host, summary_entry)
    if summary_entry['error'] is not None:
        state = 'error'
    elif summary_entry['compliant']:
        state = 'pass'
    else:
        state = worst_severity(entry['findings'])
    parts = ['<article class="host" id="host-%d" data-host="%s">' % (index, _e(host)),
             '<h3>%s <span class="badge sev-%s">%s</span></h3>' % (_e(host), state, _e(line[len(host) + 2:]))]
    if summary_entry['error'] is not None:
        parts.append('<p class="not-audited">Not audited: %s</p>' % _e(entry['error']))
        parts.append('</article>')
        return '\n'.join(parts)
    if entry['findings']:
        parts.append('<table class="findings"><thead><tr><th>severity</th><th>check</th><th>consumer</th>'
                     '<th>finding</th><th>evidence</th></tr></thead><tbody>')
        findings = sorted(entry['findings'], key=lambda finding: -severity_rank(finding['severity']))
        for finding in findings:
            parts.append('<tr class="finding" data-check="%s" data-severity="%s"><td class="sev-%s">%s</td>'
                         '<td><code class="check-id">%s</code></td><td>%s</td><td>%s</td>'
                         '<td><pre>%s</pre></td></tr>' % (
                             _e(finding['check']), finding['severity'], finding['severity'], finding['severity'],
                             _e(finding['check']), _e(finding['consumer'] or '\u2014'), _e(finding['summary']),
                             _e(_evidence_text(finding['evidence']))))
        parts.append('</tbody></table>')
    else:
        parts.append('<p>No finding.</p>')
    passed = [check for check in entry['checks'] if not any(f['check'] == check for f in entry['findings'])]
    if passed:
        parts.append('<p class="passed">Passed: %s</p>' % ', '.join('<code>%s</code>' % _e(check) for check in passed))
    parts.append('<details><summary>%d consumers</summary>' % len(entry['consumers']))
    if entry['consumers']:
        parts.append('<table class="consumers"><thead><tr><th>consumer</th><th>kind</th><th>source</th>'
                     '<th>values</th></tr></thead><tbody>')
        for consumer in entry['consumers']:
            consumer = consumer if isinstance(consumer, dict) else {'id': consumer}
            parts.append('<tr><td><code>%s</code></td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>' % (
                _e(consumer.get('id', '')), _e(consumer.get('kind', '')), _e(consumer.get('source', '')),
                _values_text(consumer.get('values', {}))))
        parts.append('</tbody></table>')
    parts.append('</details>')
    parts.append('<details><summary>%d mirror probes</summary>' % len(entry['probes']))
    if entry['probes']:
        parts.append('<table class="probes"><thead><tr><th>url</th><th>kind</th><th>registry or package</th>'
                     '<th>reachable</th><th>status</th><th>latency (ms)</th><th>reason</th></tr></thead><tbody>')
        for probe in entry['probes']:
            latency = probe.get('latency_ms')
            parts.append('<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
                         '<td>%s</td></tr>' % tuple(_e(value) for value in (
                             probe.get('url', ''), probe.get('kind', ''),
                             probe.get('registry') or probe.get('package') or '\u2014',
                             'yes' if probe.get('reachable') else 'no',
                             probe.get('status') if probe.get('status') is not None else '\u2014',
                             '%.1f' % latency if isinstance(latency, (int, float)) and not isinstance(latency, bool)
                             else '\u2014', probe.get('reason') or '')))
        parts.append('</tbody></table>')
    parts.append('</details>')
    parts.append('</article>')
    return '\n'.join(parts)


def render_html(report):
    """One self-contained page: inline CSS, JS and SVG, no external asset, every text escaped."""
    summary = report['summary']
    hosts = report['hosts']
    audited = [host for host in hosts if summary[host]['error'] is None]
    compliant = [host for host in audited if summary[host]['compliant']]
    failing = failing_hosts(summary, report['fail_on'])
    total = sum(len(entry.get('findings', [])) for entry in hosts.values())
    headline = '%s: %d compliant, %d with findings, %d not audited; %s; %s' % (
        _count(len(hosts), 'host'), len(compliant), len(audited) - len(compliant), len(hosts) - len(audited),
        _count(total, 'finding'),
        'the run fails at %s for %s' % (report['fail_on'], _count(len(failing), 'host'))
        if report['fail_on'] != 'never' else 'report only (fail_on never)')
    lines = []
    for index, host in enumerate(hosts):
        entry = summary[host]
        state = 'error' if entry['error'] is not None else 'pass' if entry['compliant'] else \
            worst_severity(hosts[host]['findings'])
        lines.append('<li><span class="badge sev-%s">%s</span> <a href="#host-%d">%s</a></li>' % (
            state, _e(state if state != 'pass' else 'compliant'), index, _e(summary_line(host, entry))))
    legend = ' '.join('<span class="badge sev-%s">%s</span>' % (state, label) for state, label in (
        ('high', 'high'), ('medium', 'medium'), ('low', 'low'), ('info', 'info'), ('pass', 'pass'),
        ('none', '\u2014 not run'), ('error', 'not audited')))
    page = [
        '<!DOCTYPE html>',
        '<html lang="en">',
        '<head>',
        '<meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'script-src \'unsafe-inline\'; img-src data:">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<title>Mirror policy audit: %s</title>' % _e(headline),
        '<style>%s</style>' % _CSS,
        '</head>',
        '<body>',
        '<header><h1>Mirror policy audit</h1>',
        '<p class="meta">Generated %s by buildfleet.mirrors (report schema %d). %s.</p></header>' % (
            _e(report['generated_at']), report['schema'], _e(headline)),
        '<section id="hosts"><h2>Hosts</h2><ul class="summary">%s</ul></section>' % ''.join(lines),
        '<section id="matrix-section"><h2>Hosts \u00d7 checks</h2>',
        '<div id="filters" class="filters"></div>',
        '<p id="filter-status" role="status"></p>',
        '<div id="matrix"><noscript>The matrix and the filter need JavaScript; the details below list every '
        'finding.</noscript></div>',
        '<p class="legend">%s</p>' % legend,
        '</section>',
        '<section id="latency"><h2>Mirror latency per host</h2>',
        render_latency_svg(report),
        '</section>',
        '<section id="details"><h2>Details</h2>',
    ]
    for index, host in enumerate(hosts):
        page.append(_host_html(index, host, hosts[host], summary[host]))
    page += [
        '</section>',
        '<script type="application/json" id="audit-data">%s</script>' % _script_json(matrix(report)),
        '<script>%s</script>' % _JS,
        '</body>',
        '</html>',
        '',
    ]
    return '\n'.join(page)


RENDERERS = {'json': render_json, 'junit': render_junit, 'html': render_html}


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def installed_collection_root(collection_root):
    """The collection's directory when it is installed (…/ansible_collections/<namespace>/<name>), else None.

    A development checkout that a collections tree only links to is not an installed collection.
    """
    real = os.path.realpath(collection_root)
    if os.path.basename(os.path.dirname(os.path.dirname(real))) == 'ansible_collections':
        return real
    return None


def resolve_dest(dest, cwd, collection_root):
    """The absolute report directory (relative to cwd); refused inside the installed collection."""
    if not isinstance(dest, str) or not dest.strip():
        raise ReportError('dest is %s; expected a directory path' % show(dest))
    path = os.path.abspath(os.path.join(cwd, os.path.expanduser(dest)))
    installed = installed_collection_root(collection_root)
    if installed is not None:
        real = os.path.realpath(path)
        if real == installed or real.startswith(installed + os.sep):
            raise ReportError('dest %s is inside the installed collection %s; give a directory of your own, for '
                              'example mirror-audit under the directory ansible-playbook runs in'
                              % (show(dest), installed))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ReportError('dest %s exists and is not a directory' % show(dest))
    return path


def render_all(report):
    """{file name: text} of the three report files."""
    return dict((name, RENDERERS[kind](report)) for kind, name in REPORT_FILES)


def write_report(path, files, check_mode=False):
    """Write each file atomically into ``path`` (made if needed); return the names whose content changed."""
    changed = []
    for name, text in files.items():
        target = os.path.join(path, name)
        data = text.encode('utf-8')
        try:
            with open(target, 'rb') as existing:
                if existing.read() == data:
                    continue
        except (FileNotFoundError, NotADirectoryError):
            pass
        changed.append(name)
        if check_mode:
            continue
        os.makedirs(path, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, dir=path)
        try:
            with os.fdopen(handle, 'wb') as stream:
                stream.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
    return changed
