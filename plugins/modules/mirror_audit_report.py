#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The documentation of the action plugin plugins/action/mirror_audit_report.py, which runs on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_audit_report
short_description: Write the fleet audit report (JSON, JUnit XML, HTML) on the controller and judge it by fail_on
version_added: 0.3.0
description:
  - Takes the host records of M(buildfleet.mirrors.mirror_audit), one per host, and writes three files into O(dest)
    on the controller; C(report.json), C(report.xml) and C(index.html).
  - C(report.json) is the whole report in a stable, documented schema; see the notes.
  - C(report.xml) is JUnit XML, which GitLab, Jenkins and AWX show natively; one C(testsuite) per host, one
    C(testcase) per host and check id (the checks the audit ran on that host), with a C(failure) whose C(type) is
    the worst severity when the check found something (every finding of the check, with its consumer and evidence,
    in the failure's text). A host without a record (unreachable, or its audit failed) gets one C(testcase) named
    C(mirror_audit) with an C(error).
  - C(index.html) is one self-contained page (inline CSS, JavaScript and SVG, no external asset, a
    Content-Security-Policy that loads nothing from anywhere); it works from a C(file://) URL and as a CI artefact.
    It shows one line per host, a hosts x checks matrix coloured by the worst severity, a filter by check id and
    by minimum severity (also from the URL, C(index.html#check=go.missing_value&severity=high)), each host's
    findings with their evidence, consumers and probes, and the latency of each mirror from each host as a bar
    chart.
  - Runs on the controller only; it makes no connection to the host the task runs for. Use it once, with
    C(run_once) and C(delegate_to) V(localhost).
  - The records come redacted from the hosts; every string of them (keys too) goes through the collection's URL
    redaction again before any file is written, so a credential in a URL never reaches a report.
  - Every text is escaped in the HTML page and the XML; a character XML cannot carry is written as C(\uXXXX).
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  hosts:
    description:
      - The fleet, as a mapping of host name to what M(buildfleet.mirrors.mirror_audit) found there.
      - 'Each value is one of: the module''s C(audit) record (schema 1); the registered result of the module (its
        C(audit) key is taken); or, for a host that was not audited, C({"error": "<why>"}) or a failed or
        unreachable registered result (its C(msg) is the reason); V(null) counts as not audited.'
      - A record of another schema, a finding without a check id or with a severity other than V(info), V(low),
        V(medium) or V(high) is refused, naming the host and the item.
    type: dict
    required: true
  dest:
    description:
      - The directory to write the report into, made when missing. A relative path is relative to the directory
        C(ansible-playbook) runs in (not to the playbook's directory).
      - A directory inside the installed collection is refused.
      - The files are replaced atomically, mode C(0644); other files in the directory are left alone.
    type: path
    default: mirror-audit
  fail_on:
    description:
      - The task fails when a host has a finding at or above this severity, or was not audited at all.
      - V(never) only reports.
    type: str
    choices: [info, low, medium, high, never]
    default: high
attributes:
  action:
    support: full
    description: Runs on the controller; the documentation lives here, the code in the action plugin.
  check_mode:
    support: full
    description: In check mode nothing is written; C(changed) says whether a file would change. Set
      C(check_mode=false) on the task to write the report in a C(--check) run.
  diff_mode:
    support: none
    description: No diff; the report files are the output.
  idempotent:
    support: none
    description: C(generated_at) changes at every run, so the files do, and C(changed) is V(true).
notes:
  - 'Schema 1 of C(report.json): C({"schema": 1, "generated_at": "<UTC, YYYY-MM-DDTHH:MM:SSZ>", "fail_on":
    "<fail_on>", "hosts": {"<host>": <record> | {"error": "<why>"}}, "summary": {"<host>": {"compliant": <bool>,
    "counts": {"info": n, "low": n, "medium": n, "high": n}, "error": "<why>" | null}}}). Hosts are sorted by name.'
  - 'A record is what M(buildfleet.mirrors.mirror_audit) returns as C(audit): C({"schema": 1, "consumers": [{"id",
    "kind", "source", "values"}], "probes": [{"url", "kind", "registry", "reachable", "status", "latency_ms",
    "reason"}], "checks": ["<check id>"], "findings": [{"check", "severity", "consumer", "summary", "evidence"}]}).
    The report keeps every key of it and adds to C(checks) the id of any finding whose check was not listed.'
  - A host is compliant when it was audited and has no finding of any severity (V(info) included); C(fail_on)
    decides only whether the run fails.
  - 'The check ids the matrix shows first, in this order: C(go.missing_value), C(go.override_weakens),
    C(go.upstream_fallback), C(docker.missing_mirror), C(docker.not_applied), C(docker.unproven),
    C(docker.upstream_fallback), C(containerd.missing_mirror), C(containers.missing_mirror), C(python.missing_index),
    C(python.extra_index), C(uv.missing_index), C(npm.missing_registry), C(npm.missing_scope), C(mirror.down),
    C(mirror.slow); any other id follows, sorted.'
seealso:
  - module: buildfleet.mirrors.mirror_audit
"""

EXAMPLES = r"""
- name: Audit each host in one task
  become: true
  buildfleet.mirrors.mirror_audit:
    go:
      environment: "{{ {'go_proxy_urls': ['https://goproxy.corp.example.com'], 'go_proxy_fallback': 'off'}
                       | buildfleet.mirrors.go_environment }}"
  register: buildfleet_audit_host

# An unreachable host's registered result says why; a host without one counts as not audited.
- name: Write the report and fail on any high finding
  buildfleet.mirrors.mirror_audit_report:
    hosts: >-
      {{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
         | map(attribute='buildfleet_audit_host', default=None))) }}
    dest: "{{ buildfleet_audit_report_dir | default('mirror-audit') }}"
    fail_on: "{{ buildfleet_audit_fail_on | default('high') }}"
  run_once: true
  delegate_to: localhost
  check_mode: false

- name: Report only, never fail
  buildfleet.mirrors.mirror_audit_report:
    hosts:
      build01: "{{ hostvars.build01.buildfleet_audit_host.audit }}"
      build02: {error: unreachable}
    dest: /srv/reports/mirror-audit
    fail_on: never
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
dest:
  description: The absolute path of the report directory.
  returned: when the report was written (also when the task fails by fail_on)
  type: str
  sample: /home/ops/inventory/mirror-audit
files:
  description: The absolute path of each report file.
  returned: when the report was written (also when the task fails by fail_on)
  type: dict
  sample: {json: /home/ops/inventory/mirror-audit/report.json, junit: /home/ops/inventory/mirror-audit/report.xml,
           html: /home/ops/inventory/mirror-audit/index.html}
summary:
  description: The C(summary) of C(report.json); per host, C(compliant), C(counts) by severity and C(error).
  returned: when the report was written (also when the task fails by fail_on)
  type: dict
  sample: {build01: {compliant: true, counts: {info: 0, low: 0, medium: 0, high: 0}, error: null}}
summary_lines:
  description: 'One line per host, in host name order; C(<host>: compliant), C(<host>: 2 high, 1 low) (most severe
    first, only the severities found) or C(<host>: not audited: <why>).'
  returned: when the report was written (also when the task fails by fail_on)
  type: list
  elements: str
  sample: ["build01: compliant", "build02: 2 high, 1 low", "build03: not audited: unreachable"]
failing_hosts:
  description: The hosts that make the task fail under O(fail_on); empty with V(never).
  returned: when the report was written (also when the task fails by fail_on)
  type: list
  elements: str
  sample: [build02, build03]
msg:
  description: What was written where, and which hosts fail the audit with their line.
  returned: always
  type: str
"""
