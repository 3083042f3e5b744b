# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit report benchmark (not a test): what writing the report costs the controller as the fleet grows.

Builds synthetic mirror_audit records (12 consumers, 4 probes, the 10 checks, a finding on every third host), then
times the report as mirror_audit_report makes it (check and redact the records, render report.json, report.xml and
index.html, write them) for fleets of 10, 100, 1000 and 5000 hosts, and prints the time and the size of each file.

    .venv/bin/python benchmarks/audit_report_bench.py [SIZES...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / '.build' / 'collections'))

from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit_report import (  # noqa: E402
    KNOWN_CHECKS,
    build_report,
    render_all,
    write_report,
)


def record(number):
    consumers = [{'id': 'go:user:user%d' % user, 'kind': 'go', 'source': '/home/user%d/.config/go/env' % user,
                  'values': {'GOPROXY': 'https://goproxy.corp.example', 'GOSUMDB': 'sum.golang.org'}}
                 for user in range(10)]
    consumers += [{'id': 'docker:daemon', 'kind': 'docker', 'source': 'docker info',
                   'values': {'registry-mirrors': ['https://mirror.corp.example/']}},
                  {'id': 'containerd:docker.io', 'kind': 'containerd',
                   'source': '/etc/containerd/certs.d/docker.io/hosts.toml', 'values': {}}]
    probes = [{'url': 'https://mirror%d.corp.example' % index, 'kind': 'registry' if index % 2 else 'goproxy',
               'registry': 'docker.io' if index % 2 else None, 'reachable': True, 'status': 200,
               'latency_ms': 5.0 + (number * 7 + index * 13) % 90, 'reason': ''} for index in range(4)]
    findings = []
    if number % 3 == 0:
        findings.append({'check': 'go.override_weakens', 'severity': 'high', 'consumer': 'go:user:user1',
                         'summary': 'GOSUMDB=off', 'evidence': {'source': '/home/user1/.config/go/env'}})
    return {'schema': 1, 'consumers': consumers, 'probes': probes, 'checks': list(KNOWN_CHECKS), 'findings': findings}


def main(sizes):
    print('%6s %9s %12s %12s %12s' % ('hosts', 'seconds', 'report.json', 'report.xml', 'index.html'))
    for size in sizes:
        hosts = dict(('build%04d.corp.example' % number, record(number)) for number in range(size))
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            report = build_report(hosts, 'high', '2026-01-01T00:00:00Z')
            write_report(directory, render_all(report))
            elapsed = time.perf_counter() - started
            sizes_kib = ['%9.0f KiB' % (os.path.getsize(os.path.join(directory, name)) / 1024)
                         for name in ('report.json', 'report.xml', 'index.html')]
        print('%6d %9.2f %s' % (size, elapsed, ' '.join(sizes_kib)))


if __name__ == '__main__':
    main([int(size) for size in sys.argv[1:]] or [10, 100, 1000, 5000])
