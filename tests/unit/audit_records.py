# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fleet of mirror_audit records (schema 1) for the report tests: compliant, drifted, unreachable, hostile."""

from __future__ import annotations

import copy

SECRET = 's3cr3t-Pa55'
TOKEN = 'tok-9f8e7d'
SECRET_URL = 'https://bob:%s@goproxy.corp.example/mod?token=%s' % (SECRET, TOKEN)
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">&\'"evil'
HOSTILE_SUMMARY = '</script><script>document.title="pwned"</script> GOPROXY <b>bold</b>'

_GO_CHECKS = ['go.missing_value', 'go.override_weakens', 'go.upstream_fallback']
_DOCKER_CHECKS = ['docker.not_applied', 'docker.unproven', 'docker.upstream_fallback',
                  'containerd.missing_mirror', 'containers.missing_mirror']
_MIRROR_CHECKS = ['mirror.down', 'mirror.slow']


def _probe(url, kind, latency, reachable=True, registry=None, reason=''):
    return {'url': url, 'kind': kind, 'registry': registry, 'reachable': reachable,
            'status': 200 if reachable else None, 'latency_ms': latency if reachable else None, 'reason': reason}


def _record(findings=(), probes=(), consumers=None, checks=None):
    return {
        'schema': 1,
        'consumers': consumers if consumers is not None else [
            {'id': 'go:login-shell', 'kind': 'go', 'source': '/etc/profile.d/go-proxy.sh',
             'values': {'GOPROXY': 'http://127.0.0.1:3000', 'GOSUMDB': 'off'}},
            {'id': 'docker:daemon', 'kind': 'docker', 'source': 'docker info',
             'values': {'registry-mirrors': ['http://127.0.0.1:5000/']}},
        ],
        'probes': list(probes),
        'checks': list(checks if checks is not None else _GO_CHECKS + _DOCKER_CHECKS + _MIRROR_CHECKS),
        'findings': list(findings),
    }


def fleet():
    """host name -> record or error; a fresh copy each time."""
    hosts = {
        'mirror': _record(probes=[_probe('http://127.0.0.1:3000', 'goproxy', 3.2),
                                  _probe('http://127.0.0.1:5000', 'registry', 5.0, registry='docker.io')]),
        'bookworm': _record(
            findings=[
                {'check': 'go.override_weakens', 'severity': 'high', 'consumer': 'go:user:alice',
                 'summary': 'alice sets GOSUMDB=off in her go env file',
                 'evidence': {'file': '/home/alice/.config/go/env', 'GOSUMDB': 'off', 'policy': 'sum.golang.org'}},
                {'check': 'go.missing_value', 'severity': 'high', 'consumer': 'go:unit:ci-agent.service',
                 'summary': 'ci-agent.service gets GOPROXY=https://proxy.golang.org,direct instead of the policy',
                 'evidence': {'source': 'systemctl show -p Environment ci-agent.service',
                              'got': 'https://proxy.golang.org,direct', 'policy': 'http://127.0.0.1:3000'}},
                {'check': 'mirror.slow', 'severity': 'low', 'consumer': None,
                 'summary': 'http://127.0.0.1:5000 answered in 812.0 ms (over 500 ms)',
                 'evidence': {'url': 'http://127.0.0.1:5000', 'latency_ms': 812.0, 'slow_ms': 500}},
            ],
            probes=[_probe('http://127.0.0.1:3000', 'goproxy', 4.1),
                    _probe('http://127.0.0.1:5000', 'registry', 812.0, registry='docker.io')]),
        'trixie': _record(
            findings=[
                {'check': 'docker.not_applied', 'severity': 'medium', 'consumer': 'docker:daemon',
                 'summary': 'daemon.json names registry-mirrors dockerd does not run with',
                 'evidence': {'file': ['http://127.0.0.1:5001/'], 'running': ['http://127.0.0.1:5000/']}},
                {'check': 'docker.unproven', 'severity': 'info', 'consumer': 'containerd:docker.io',
                 'summary': 'the containerd image store: docker info cannot tell which mirror dockerd uses',
                 'evidence': {}},
            ],
            probes=[_probe('http://127.0.0.1:3000', 'goproxy', 2.0),
                    _probe('http://127.0.0.1:5000', 'registry', None, reachable=False, registry='docker.io',
                           reason='connection refused')]),
        'forky': {'error': 'unreachable: ssh: connect to host forky port 22: Connection refused'},
        HOSTILE: _record(
            findings=[
                {'check': 'go.upstream_fallback', 'severity': 'high', 'consumer': 'go:root',
                 'summary': HOSTILE_SUMMARY,
                 'evidence': {'GOPROXY': SECRET_URL + ',direct', 'note': '\x01control\x1f<&>'}},
            ],
            consumers=[{'id': 'go:root', 'kind': 'go', 'source': 'go env -json',
                        'values': {'GOPROXY': SECRET_URL + ',direct', SECRET_URL: 'a key that is a URL'}}],
            probes=[_probe(SECRET_URL, 'goproxy', 20.0, reason='')]),
    }
    return copy.deepcopy(hosts)


FINDING_SUMMARIES = [finding['summary'] for record in fleet().values() for finding in record.get('findings', [])]
