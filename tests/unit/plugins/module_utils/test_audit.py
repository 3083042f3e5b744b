# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit of one host (_audit), on temporary trees: a real sh sources the tree's profile.d, real files, real
mirrors on 127.0.0.1; only systemctl, go and docker are stand-ins (the runner below answers for them)."""

from __future__ import annotations

import hashlib
import json
import os
import ssl

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _audit
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import (
    parse_env_output,
    render_etc_environment,
    render_profile,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import HttpFetcher
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import (
    render_containers_dropin,
    render_hosts_toml,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

from local_mirrors import Answer, MirrorServer, closed_port_url

GOPROXY = 'https://goproxy.corp.example.com'
POLICY = {'GOPROXY': GOPROXY + ',off', 'GOPRIVATE': 'corp.example.com', 'GONOPROXY': 'none',
          'GOFLAGS': '-modcacherw'}
MIRROR = 'https://mirror.corp.example.com/'


class Tree:
    """A host's files under a temporary root, and stand-ins for systemctl, go and docker."""

    def __init__(self, root):
        self.root = root
        self.manager = dict(POLICY)
        self.units = {}
        self.engine_mirrors = [MIRROR]
        self.store = False
        self.go_json = None
        self.calls = []
        os.makedirs(os.path.join(root, 'run/systemd/system'))

    def write(self, path, text):
        full = os.path.join(self.root, path.lstrip('/'))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w', encoding='utf-8') as stream:
            stream.write(text)

    def comply(self):
        self.write('/etc/profile.d/go-proxy.sh', render_profile(POLICY))
        self.write('/etc/environment', render_etc_environment('LANG=C.UTF-8\n', POLICY))
        self.write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nbuilder:x:1000:1000::/home/builder:/bin/bash\n'
                                  'sync:x:4:65534:sync:/bin:/bin/sync\nsvc:x:999:999::/nonexistent:/usr/sbin/nologin\n')
        self.write('/etc/shells', '/bin/sh\n/bin/bash\n')
        os.makedirs(os.path.join(self.root, 'root'))
        os.makedirs(os.path.join(self.root, 'home/builder'))
        self.write('/etc/docker/daemon.json', json.dumps({'bridge': 'none', 'registry-mirrors': [MIRROR]}))

    def run(self, argv):
        self.calls.append(argv)
        if argv[0] == '/usr/bin/env':  # the login shell: a real sh, with the tree's profile.d
            if argv[-3:] == ['/usr/bin/go', 'env', '-json']:  # go's answer: the GO* variables of that environment
                if self.go_json is not None:
                    return 0, json.dumps(self.go_json), ''
                rc, out, err = _audit._run(argv[:-3] + ['/usr/bin/env'])
                return rc, json.dumps(_audit.go_values(parse_env_output(out))), err
            return _audit._run(argv)
        if argv[:2] == ['/bin/systemctl', 'show-environment']:
            return 0, ''.join('%s=%s\n' % item for item in self.manager.items()), ''
        if argv[:2] == ['/bin/systemctl', 'show']:
            return 0, self.units.get(argv[-1], '') + '\n', ''
        if argv[0] == '/usr/bin/docker':
            return 0, json.dumps({'registry': {'Mirrors': self.engine_mirrors, 'IndexConfigs': {},
                                               'InsecureRegistryCIDRs': ['127.0.0.0/8']},
                                  'driver': [['driver-type', 'io.containerd.snapshotter.v1']] if self.store else []}), ''
        raise AssertionError('unexpected command %r' % argv)

    def which(self, name):
        return {'systemctl': '/bin/systemctl', 'go': '/usr/bin/go', 'docker': '/usr/bin/docker'}.get(name)

    def view(self):
        return _audit.HostView(self.root, self.run, self.which)

    def fingerprint(self):
        digest = []
        for directory, dummy, files in sorted(os.walk(self.root)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                with open(path, 'rb') as stream:
                    digest.append((path, hashlib.sha256(stream.read()).hexdigest(), os.stat(path).st_mtime_ns))
        return digest


@pytest.fixture
def tree(tmp_path):
    made = Tree(str(tmp_path))
    made.comply()
    return made


def go(**extra):
    return dict(dict(environment=dict(POLICY), profile_d=True, etc_environment=True, systemd_default_environment=True,
                     systemd_units=['ci-agent.service'], goroot_env=False, goroot_parents=['/usr/lib']), **extra)


def findings(record):
    return sorted((finding['check'], finding['consumer']) for finding in record['findings'])


def test_a_compliant_host_has_no_finding_and_every_consumer_listed(tree):
    record = _audit.audit(tree.view(), go=go(), docker=dict(registry_mirrors=[MIRROR]))
    assert findings(record) == []
    assert [consumer['id'] for consumer in record['consumers']] == [
        'go:login-shell', 'go:pam', 'go:systemd-manager', 'go:unit:ci-agent.service', 'go:root', 'docker:daemon']
    login = record['consumers'][0]
    assert login['values'] == POLICY  # what a real sh got from the tree's profile.d
    assert record['checks'] == ['go.missing_value', 'go.override_weakens', 'go.upstream_fallback',
                                'docker.missing_mirror', 'docker.not_applied', 'docker.unproven']
    assert record['schema'] == 1
    json.dumps(record)


def test_a_later_profile_script_that_overrides_goproxy_is_found_on_the_login_shell(tree):
    tree.write('/etc/profile.d/zz-local.sh', 'export GOPROXY=https://proxy.golang.org,direct\n')
    record = _audit.audit(tree.view(), go=go())
    assert ('go.upstream_fallback', 'go:login-shell') in findings(record)
    assert ('go.upstream_fallback', 'go:root') in findings(record)  # root's go runs in that environment
    finding = [item for item in record['findings'] if item['consumer'] == 'go:login-shell'][0]
    assert finding['severity'] == 'high'
    assert finding['evidence']['seen'] == 'https://proxy.golang.org,direct'


def test_a_users_go_env_file_with_gosumdb_off_is_an_override_that_weakens(tree):
    tree.write('/home/builder/.config/go/env', 'GOSUMDB=off\nGOFLAGS=-mod=mod\n')
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.override_weakens', 'go:user:builder')]
    finding = record['findings'][0]
    assert set(finding['evidence']['variables']) == {'GOSUMDB', 'GOFLAGS'}
    assert finding['evidence']['source'] == '/home/builder/.config/go/env'


@pytest.mark.parametrize('line, variable', [
    ('GOPRIVATE=*', 'GOPRIVATE'),
    ('GONOSUMDB=github.com', 'GONOSUMDB'),
    ('GOINSECURE=corp.example.com', 'GOINSECURE'),
    ('GOFLAGS=-insecure', 'GOFLAGS'),
])
def test_wider_patterns_and_flags_weaken(tree, line, variable):
    tree.write('/home/builder/.config/go/env', line + '\n')
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.override_weakens', 'go:user:builder')]
    assert list(record['findings'][0]['evidence']['variables']) == [variable]


def test_narrower_patterns_are_no_finding(tree):
    tree.write('/home/builder/.config/go/env', 'GONOSUMDB=corp.example.com/team\n')
    assert findings(_audit.audit(tree.view(), go=go())) == []


def test_a_user_goproxy_ending_in_direct_reaches_the_upstream(tree):
    tree.write('/home/builder/.config/go/env', 'GOPROXY=%s,direct\n' % GOPROXY)
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.upstream_fallback', 'go:user:builder')]


def test_direct_is_allowed_when_the_policy_has_it(tree):
    policy = dict(POLICY, GOPROXY=GOPROXY + ',direct')
    tree.write('/home/builder/.config/go/env', 'GOPROXY=%s,direct\n' % GOPROXY)
    tree.manager = dict(policy)
    tree.write('/etc/profile.d/go-proxy.sh', render_profile(policy))
    tree.write('/etc/environment', render_etc_environment('', policy))
    assert findings(_audit.audit(tree.view(), go=go(environment=policy))) == []


def test_a_unit_drop_in_that_overrides_goproxy_and_an_unreloaded_manager(tree):
    tree.units['ci-agent.service'] = 'GOPROXY=https://other.corp.example.com "GOFLAGS=-modcacherw -trimpath"'
    tree.manager.pop('GOFLAGS')
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.missing_value', 'go:systemd-manager'),
                                ('go.missing_value', 'go:unit:ci-agent.service')]
    unit = [item for item in record['findings'] if item['consumer'] == 'go:unit:ci-agent.service'][0]
    assert unit['evidence']['variables']['GOPROXY']['seen'] == 'https://other.corp.example.com'
    assert unit['evidence']['variables']['GOFLAGS']['seen'] == '-modcacherw -trimpath'


def test_pam_lacking_a_value(tree):
    tree.write('/etc/environment', 'LANG=C.UTF-8\nGOPROXY="%s,off"\n' % GOPROXY)
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.missing_value', 'go:pam')]
    assert set(record['findings'][0]['evidence']['variables']) == {'GOPRIVATE', 'GONOPROXY', 'GOFLAGS'}


def test_outputs_the_policy_does_not_write_are_not_required(tree):
    tree.write('/etc/environment', 'LANG=C.UTF-8\n')
    tree.manager = {}
    policy = go(etc_environment=False, systemd_default_environment=False, systemd_units=[])
    assert findings(_audit.audit(tree.view(), go=policy)) == []


def test_goroot_go_env_is_judged_only_when_the_policy_writes_it(tree):
    tree.write('/usr/lib/go-1.24/VERSION', 'go1.24.4\ntime 2025\n')
    tree.write('/usr/lib/go-1.24/go.env', 'GOPROXY=https://proxy.golang.org,direct\nGOSUMDB=sum.golang.org\n')
    assert findings(_audit.audit(tree.view(), go=go())) == []
    record = _audit.audit(tree.view(), go=go(goroot_env=True))
    assert ('go.upstream_fallback', 'go:goroot-env') in findings(record)
    assert any(item['id'] == 'go:goroot-env' and item['source'] == '/usr/lib/go-1.24/go.env'
               for item in record['consumers'])


def test_roots_go_env_json_is_read(tree):
    tree.go_json = dict(POLICY, GOSUMDB='off', GOROOT='/usr/lib/go')
    record = _audit.audit(tree.view(), go=go())
    assert findings(record) == [('go.override_weakens', 'go:root')]


def test_roots_go_runs_where_it_can_write_no_telemetry_and_reads_roots_go_env_file(tree):
    _audit.audit(tree.view(), go=go())
    argv = [argv for argv in tree.calls if argv[-3:] == ['/usr/bin/go', 'env', '-json']][0]
    assert 'GOENV=/root/.config/go/env' in argv
    assert 'HOME=%s' % _audit.NO_HOME in argv and 'XDG_CONFIG_HOME=%s' % _audit.NO_HOME in argv
    assert not os.path.exists(_audit.NO_HOME)


def test_unit_names_are_read_as_the_writer_reads_them(tree):
    record = _audit.audit(tree.view(), go=go(systemd_units=['ci-agent', 'ci-agent.service']))
    assert [item['id'] for item in record['consumers'] if item['id'].startswith('go:unit:')] == [
        'go:unit:ci-agent.service']
    with pytest.raises(PolicyError, match='go.systemd_units'):
        _audit.audit(tree.view(), go=go(systemd_units=['../etc']))


def test_secrets_never_reach_the_record(tree):
    secret = 'https://ci:s3cr3t-token@goproxy.corp.example.com'
    policy = dict(POLICY, GOPROXY=secret + ',off')
    tree.write('/home/builder/.config/go/env', 'GOPROXY=%s,direct\n' % secret)
    record = _audit.audit(tree.view(), go=go(environment=policy), docker=dict(
        registry_mirrors=['https://u:hunter2@mirror.corp.example.com/']))
    text = json.dumps(record)
    assert 's3cr3t-token' not in text and 'hunter2' not in text
    assert '***@goproxy.corp.example.com' in text


def test_a_policy_without_goproxy_is_refused(tree):
    with pytest.raises(PolicyError, match='GOPROXY'):
        _audit.audit(tree.view(), go=go(environment={'GOSUMDB': 'off'}))


def test_daemon_json_not_applied_and_an_engine_without_the_policy(tree):
    tree.write('/etc/docker/daemon.json', json.dumps({'registry-mirrors': ['https://other.corp.example.com']}))
    record = _audit.audit(tree.view(), docker=dict(registry_mirrors=[MIRROR]))
    assert findings(record) == [('docker.not_applied', 'docker:daemon')]
    assert record['findings'][0]['severity'] == 'medium'
    tree.engine_mirrors = ['https://other.corp.example.com/']
    record = _audit.audit(tree.view(), docker=dict(registry_mirrors=[MIRROR]))
    assert findings(record) == [('docker.missing_mirror', 'docker:daemon')]


def test_the_containerd_image_store_is_unproven_for_other_registries(tree):
    tree.store = True
    record = _audit.audit(tree.view(), docker=dict(registry_mirrors=[MIRROR], registries={'ghcr.io': [MIRROR]}))
    assert findings(record) == [('docker.unproven', 'docker:daemon')]
    assert record['findings'][0]['severity'] == 'info'


def test_containerd_and_containers_files_against_the_renderers(tree):
    registries = {'docker.io': [MIRROR], 'ghcr.io': [MIRROR]}
    for registry, urls in registries.items():
        tree.write('/etc/containerd/certs.d/%s/hosts.toml' % registry, render_hosts_toml(registry, urls, None, False))
    tree.write('/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf',
               render_containers_dropin(registries, None, False))
    policy = dict(registry_mirrors=[MIRROR], registries={'ghcr.io': [MIRROR]}, fallback=False, containerd=True,
                  containers_registries_conf=True)
    assert findings(_audit.audit(tree.view(), docker=policy)) == []
    # A hand-made hosts.toml that falls back to the registry, a missing one, and a drop-in that is not blocked.
    tree.write('/etc/containerd/certs.d/docker.io/hosts.toml', render_hosts_toml('docker.io', [MIRROR], None, True))
    os.unlink(os.path.join(tree.root, 'etc/containerd/certs.d/ghcr.io/hosts.toml'))
    tree.write('/etc/containers/registries.conf.d/50-buildfleet-docker-mirrors.conf',
               render_containers_dropin({'docker.io': [MIRROR]}, None, True))
    record = _audit.audit(tree.view(), docker=policy)
    assert findings(record) == [('containerd.missing_mirror', 'containerd:ghcr.io'),
                                ('containers.missing_mirror', 'containers:ghcr.io'),
                                ('docker.upstream_fallback', 'containerd:docker.io'),
                                ('docker.upstream_fallback', 'containers:docker.io')]


def test_the_audit_changes_nothing(tree):
    tree.write('/home/builder/.config/go/env', 'GOSUMDB=off\n')
    before = tree.fingerprint()
    _audit.audit(tree.view(), go=go(), docker=dict(registry_mirrors=[MIRROR], containerd=True))
    assert tree.fingerprint() == before
    assert all(argv[0] in ('/usr/bin/env', '/usr/bin/docker') or argv[1] in ('show', 'show-environment')
               for argv in tree.calls)
    assert not any('su' in os.path.basename(argv[0]) for argv in tree.calls)


def _fetch():
    return HttpFetcher(ssl.create_default_context(), use_proxy=False)


def test_probes_mirror_down_and_slow_with_real_servers(tree):
    registry = MirrorServer({'/v2/': Answer(200, {'Docker-Distribution-API-Version': 'registry/2.0'}, b'{}')})
    slow = MirrorServer(default=Answer(404), delay=0.3)
    try:
        dead = closed_port_url()
        policy = dict(POLICY, GOPROXY='%s,%s,off' % (slow.url, dead))
        tree.write('/etc/profile.d/go-proxy.sh', render_profile(policy))
        tree.write('/etc/environment', render_etc_environment('', policy))
        tree.manager = dict(policy)
        tree.engine_mirrors = [registry.url + '/']
        tree.write('/etc/docker/daemon.json', json.dumps({'registry-mirrors': tree.engine_mirrors}))
        record = _audit.audit(tree.view(), go=go(environment=policy, systemd_units=[]),
                              docker=dict(registry_mirrors=[registry.url + '/']), fetch=_fetch(), timeout=3,
                              slow_ms=200)
    finally:
        registry.close()
        slow.close()
    assert findings(record) == [('mirror.down', None), ('mirror.slow', None)]
    by_check = dict((item['check'], item) for item in record['findings'])
    assert by_check['mirror.down']['evidence']['url'] == dead
    assert by_check['mirror.slow']['evidence']['latency_ms'] > 200
    registry_probe = [probe for probe in record['probes'] if probe['kind'] == 'registry'][0]
    assert registry_probe['reachable'] and registry_probe['registry'] == 'docker.io'
    assert registry_probe['status'] == 200 and registry_probe['reason'] == ''
    assert 'mirror.down' in record['checks'] and 'mirror.slow' in record['checks']


def test_public_upstreams_are_never_probed(tree):
    seen = []

    def fetch(url, *args, **kwargs):
        seen.append(url)
        raise OSError('offline')

    policy = dict(POLICY, GOPROXY='https://proxy.golang.org,direct', GOSUMDB='sum.golang.org')
    probes, dummy = _audit.probe_mirrors(fetch, dict(environment=policy), None)
    assert probes == [] and seen == []


def test_the_probes_run_while_the_host_is_read(tree):
    import threading
    probing = threading.Event()
    seen_during_read = []
    real_run = tree.run

    def fetch(*args, **kwargs):
        probing.set()
        raise OSError('connection refused')

    def run(argv):
        if argv[0] == '/usr/bin/docker':  # the last command the audit runs: the probes must have started by then
            seen_during_read.append(probing.wait(10))
        return real_run(argv)

    view = _audit.HostView(tree.root, run, tree.which)
    record = _audit.audit(view, go=go(), docker=dict(registry_mirrors=[MIRROR]), fetch=fetch, timeout=2)
    assert seen_during_read == [True]
    assert ('mirror.down', None) in findings(record)
