# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_daemon_config's transaction on a temporary tree, with a stand-in dockerd that reloads as dockerd does.

The stand-in keeps a key's old value when a reload finds the key missing (as
dockerd's reload does), refuses a reload when told to (logging an error line
in its journal, as dockerd logs one), or goes down on a reload. Files are
real; only the engine is simulated, so the host's own dockerd is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._docker_writer import (
    DOCKERD_CONSUMER,
    DockerWriter,
    Failure,
    Host,
    Refusal,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import (
    MANAGED_BY,
    containers_mirrors,
    is_ours,
    render_containers_dropin,
    render_hosts_toml,
)

MIRROR = 'https://mirror.corp.example.com'
OLD = 'http://127.0.0.1:15002/'
LAB_TEXT = '{\n    "bridge": "none",\n    "registry-mirrors": ["%s"]\n}\n' % OLD


class FakeDockerd:
    """dockerd, docker, systemctl and journalctl as the writer calls them, on a daemon.json in a temporary tree."""

    def __init__(self, daemon_json, version='26.1.5', running=True, unit_text='', containerd_store=False):
        self.daemon_json = daemon_json
        self.containerd_store = containerd_store
        self.images = set()        # what `docker image inspect` finds
        self.pullable = set()      # what `docker pull` gets (through the mirrors, in this stand-in)
        self.pulled = []
        self.version = version
        self.running = running
        self.unit_text = unit_text
        self.mirrors, self.insecure = [], []
        self.refuse_reload = False
        self.die_on_reload = False
        self.journal = []
        self.calls = []
        if running and os.path.exists(daemon_json):
            self._load(start=True)

    def _load(self, start=False):
        config = json.loads(open(self.daemon_json).read() or '{}') if os.path.exists(self.daemon_json) else {}
        if 'registry-mirrors' in config or start:
            self.mirrors = [url.rstrip('/') + '/' for url in config.get('registry-mirrors') or []]
        if 'insecure-registries' in config or start:
            self.insecure = list(config.get('insecure-registries') or [])

    def info(self):
        return {'Mirrors': self.mirrors,
                'InsecureRegistryCIDRs': ['127.0.0.0/8'] + [entry for entry in self.insecure if '/' in entry],
                'IndexConfigs': dict((name, {'Secure': False}) for name in self.insecure if '/' not in name)}

    def which(self, name):
        return {'dockerd': '/fake/dockerd', 'docker': '/fake/docker', 'systemctl': '/fake/systemctl',
                'journalctl': '/fake/journalctl'}.get(name)

    def run(self, argv):
        self.calls.append(argv[1:])
        tool, arguments = os.path.basename(argv[0]), argv[1:]
        if tool == 'dockerd':
            if arguments == ['--version']:
                return 0, 'Docker version %s, build 0000000\n' % self.version, ''
            if arguments[:1] == ['--validate']:
                return 0, 'configuration OK\n', ''
        if tool == 'docker' and arguments[0] == 'info':
            if not self.running:
                return 0, '{"registry": null, "driver": null}\n', ''
            driver = [['driver-type', 'io.containerd.snapshotter.v1']] if self.containerd_store else \
                [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']]
            return 0, json.dumps({'registry': self.info(), 'driver': driver}) + '\n', ''
        if tool == 'docker' and arguments[:2] == ['image', 'inspect']:
            ref = arguments[-1]
            if ref not in self.images:
                return 1, '[]\n', 'Error: No such image: %s' % ref
            return 0, ('["%s@sha256:%s"]\n' % (ref.rpartition(':')[0], 'a' * 64)
                       if '{{json .RepoDigests}}' in arguments else 'sha256:%s\n' % ('b' * 64)), ''
        if tool == 'docker' and arguments[0] == 'pull':
            ref = arguments[-1]
            self.pulled.append(ref)
            if ref not in self.pullable:
                return 1, '', 'Error response from daemon: manifest for %s not found: manifest unknown' % ref
            self.images.add(ref)
            return 0, 'docker.io/%s\n' % ref, ''
        if tool == 'docker' and arguments[:2] == ['image', 'rm']:
            self.images.discard(arguments[-1])
            return 0, 'Untagged: %s\n' % arguments[-1], ''
        if tool == 'journalctl':
            if '--show-cursor' in arguments:
                return 0, '-- cursor: s=%d\n' % len(self.journal), ''
            after = int(arguments[arguments.index('--after-cursor') + 1].split('=')[1]) \
                if '--after-cursor' in arguments else 0
            return 0, ''.join(line + '\n' for line in self.journal[after:]), ''
        if tool == 'systemctl':
            if arguments[0] == 'show':
                return 0, 'MainPID=0\nFragmentPath=\nDropInPaths=\nEnvironmentFiles=\n', ''
            if arguments[0] == 'reload' and arguments[1] == 'docker.service':
                if not self.running:
                    return 1, '', 'docker.service is not active, cannot reload.'
                if self.die_on_reload:
                    self.running = False
                    return 0, '', ''
                if self.refuse_reload:
                    self.journal.append('time="x" level=error msg="unable to configure the Docker daemon with file '
                                        '%s: the following directives are specified both as a flag and in the '
                                        'configuration file: log-level"' % self.daemon_json)
                    return 0, '', ''
                self._load()
                return 0, '', ''
            if arguments[0] == 'start':
                self.running = True
                self._load(start=True)
                return 0, '', ''
            if arguments[0] == 'is-active':
                return 3, '', ''
            return 0, '', ''
        raise AssertionError('unexpected command %r' % argv)

    def reloads(self):
        return [call for call in self.calls if call[:1] == ['reload']]


@pytest.fixture
def tree(tmp_path):
    (tmp_path / 'etc' / 'docker').mkdir(parents=True)
    (tmp_path / 'systemd').mkdir()
    return tmp_path


def atomic_move(source, destination):
    shutil.move(source, destination)


def writer_for(tree, fake, check_mode=False, diff=False, **params):
    path = str(tree / 'etc' / 'docker' / 'daemon.json')
    defaults = dict(path=path, state='present', registry_mirrors=None, insecure_registries=None,
                    allow_insecure_all=False, strategy='replace', allow_path=None, validate=None,
                    dockerd_validate=True, backup=True, check_flags=True, unit='docker.service', containerd=False,
                    containerd_certs_dir=str(tree / 'etc' / 'containerd' / 'certs.d'),
                    containers_registries_conf=False,
                    containers_dropin=str(tree / 'etc' / 'containers' / 'registries.conf.d' / '50-bf.conf'),
                    pruned=[], lock_timeout=5, registries={}, probe_images={}, fallback=True,
                    docker_certs_dir=str(tree / 'etc' / 'docker' / 'certs.d'), buildkitd=False,
                    buildkitd_toml=str(tree / 'etc' / 'buildkit' / 'buildkitd.toml'))
    defaults.update(params)
    warnings = []

    def backup_local(file_path):
        backup = file_path + '.backup~'
        shutil.copy2(file_path, backup)
        return backup

    host = Host(run=fake.run, which=fake.which, atomic_move=atomic_move, backup_local=backup_local,
                warn=warnings.append, tmpdir=str(tree), systemd_dir=str(tree / 'systemd'),
                pidfile=str(tree / 'no.pid'), proc=str(tree / 'proc'), sleep=lambda seconds: None, settle_tries=3,
                default_daemon_json=path)
    writer = DockerWriter(host, defaults, check_mode, diff)
    writer.warnings = warnings
    return writer


@pytest.fixture
def daemon_json(tree):
    path = tree / 'etc' / 'docker' / 'daemon.json'
    path.write_text(LAB_TEXT)
    return path


def test_writes_reloads_once_and_verifies_with_docker_info(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[MIRROR]).run()
    assert result['changed'] is True
    assert result['written'] == [str(daemon_json)]
    assert result['reloaded'] is True
    assert result['verified'] == [DOCKERD_CONSUMER]
    assert fake.mirrors == [MIRROR + '/']
    assert len(fake.reloads()) == 1
    assert json.loads(daemon_json.read_text()) == {'bridge': 'none', 'registry-mirrors': [MIRROR + '/']}
    assert open(result['backup_files'][str(daemon_json)]).read() == LAB_TEXT


def test_a_compliant_host_is_verified_and_left_alone(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[OLD]).run()
    assert (result['changed'], result['written'], result['reloaded']) == (False, [], False)
    assert result['verified'] == [DOCKERD_CONSUMER]
    assert daemon_json.read_text() == LAB_TEXT
    assert fake.reloads() == []


def test_dockerd_running_with_other_settings_than_the_file_is_reloaded(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    fake.mirrors = ['https://hand-applied.example/']
    result = writer_for(tree, fake, registry_mirrors=[OLD]).run()
    assert (result['changed'], result['written'], result['reloaded']) == (True, [], True)
    assert fake.mirrors == [OLD]
    assert daemon_json.read_text() == LAB_TEXT


def test_a_refused_reload_puts_every_file_back_and_reloads_dockerd_onto_it(tree, daemon_json):
    os.chmod(daemon_json, 0o640)
    fake = FakeDockerd(str(daemon_json))
    fake.refuse_reload = True
    writer = writer_for(tree, fake, registry_mirrors=[MIRROR], containerd=True, containers_registries_conf=True)
    with pytest.raises(Failure) as failure:
        writer.run()
    message = str(failure.value)
    assert message.startswith('dockerd did not take the new %s: dockerd uses the registry mirrors' % daemon_json)
    assert 'dockerd said: unable to configure the Docker daemon' in message
    assert 'restored byte for byte (%s' % daemon_json in message
    assert message.endswith('and dockerd runs with it again.')
    assert daemon_json.read_text() == LAB_TEXT
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o640
    # The outputs of the same transaction went too, with the directories the run made, and the backup.
    assert sorted(os.listdir(tree / 'etc')) == ['docker']
    assert os.listdir(tree / 'etc' / 'docker') == ['daemon.json']
    assert len(fake.reloads()) == 2
    assert (writer.result['written'], writer.result['verified'], writer.result['backup_files']) == ([], [], {})


def test_dockerd_that_goes_down_on_the_reload_is_started_again_on_the_old_file(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    fake.die_on_reload = True
    with pytest.raises(Failure) as failure:
        writer_for(tree, fake, registry_mirrors=[MIRROR]).run()
    assert 'dockerd does not answer docker info after the reload' in str(failure.value)
    assert str(failure.value).endswith('and dockerd runs with it again.')
    assert ['start', 'docker.service'] in fake.calls
    assert fake.running and fake.mirrors == [OLD]
    assert daemon_json.read_text() == LAB_TEXT


def test_removal_reloads_with_empty_keys_then_removes_them(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, state='absent', registry_mirrors=[], insecure_registries=[]).run()
    # dockerd keeps a missing key's value on reload: only the empty list made it forget the mirror.
    assert fake.mirrors == []
    assert json.loads(daemon_json.read_text()) == {'bridge': 'none'}
    assert result['written'] == [str(daemon_json)]
    assert result['verified'] == [DOCKERD_CONSUMER]
    assert len(fake.reloads()) == 1
    again = writer_for(tree, fake, state='absent', registry_mirrors=[], insecure_registries=[]).run()
    assert (again['changed'], again['written'], again['reloaded']) == (False, [], False)


def test_check_mode_tells_what_would_change_with_one_diff_per_file(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, check_mode=True, diff=True, registry_mirrors=[MIRROR], containerd=True).run()
    hosts_toml = str(tree / 'etc' / 'containerd' / 'certs.d' / 'docker.io' / 'hosts.toml')
    assert result['changed'] is True
    assert result['written'] == [str(daemon_json), hosts_toml]
    assert [diff['after_header'] for diff in result['diff']] == [str(daemon_json), hosts_toml]
    assert result['diff'][1]['before_header'] == hosts_toml + ' (absent)'
    assert 'dockerd would be reloaded' in result['msg']
    assert daemon_json.read_text() == LAB_TEXT
    assert not os.path.exists(hosts_toml)
    assert fake.reloads() == []


def test_a_stopped_dockerd_gets_the_file_and_no_reload(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), running=False)
    result = writer_for(tree, fake, registry_mirrors=[MIRROR]).run()
    assert (result['written'], result['reloaded'], result['verified']) == ([str(daemon_json)], False, [])
    assert 'Docker 26.1.5 does not run: the policy takes effect when dockerd starts' in result['msg']
    assert fake.reloads() == []


def test_a_path_on_docker_before_24_names_the_role_variable(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='20.10.24')
    with pytest.raises(Refusal) as refusal:
        writer_for(tree, fake, registry_mirrors=[MIRROR + '/hub']).run()
    assert str(refusal.value).startswith(
        "registry_mirrors (docker_mirrors_registry_mirrors) entry '%s/hub' has a path" % MIRROR)
    assert daemon_json.read_text() == LAB_TEXT


def test_a_conflicting_flag_names_the_role_variable_and_writes_nothing(tree, daemon_json, monkeypatch):
    unit = tree / 'docker.service'
    unit.write_text('[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --registry-mirror=%s\n' % MIRROR)
    fake = FakeDockerd(str(daemon_json))
    real_run = fake.run

    def run(argv):
        if argv[1:2] == ['show']:
            return 0, 'MainPID=0\nFragmentPath=%s\n' % unit, ''
        return real_run(argv)
    fake.run = run
    with pytest.raises(Refusal) as refusal:
        writer_for(tree, fake, registry_mirrors=[MIRROR]).run()
    assert '--registry-mirror is passed to dockerd by the unit file %s' % unit in str(refusal.value)
    assert 'docker_mirrors_registry_mirrors' in str(refusal.value)
    assert daemon_json.read_text() == LAB_TEXT


@pytest.mark.parametrize('entry', ['0.0.0.0/0', '::/0'])
def test_insecure_registries_for_every_address_need_the_opt_in(tree, daemon_json, entry):
    fake = FakeDockerd(str(daemon_json))
    with pytest.raises(Refusal) as refusal:
        writer_for(tree, fake, registry_mirrors=[MIRROR], insecure_registries=[entry]).run()
    assert "insecure_registries (docker_mirrors_insecure_registries) entry '%s' covers every address" % entry \
        in str(refusal.value)
    assert 'allow_insecure_all (docker_mirrors_allow_insecure_all): true' in str(refusal.value)
    assert daemon_json.read_text() == LAB_TEXT
    result = writer_for(tree, fake, registry_mirrors=[MIRROR], insecure_registries=[entry],
                        allow_insecure_all=True).run()
    assert json.loads(daemon_json.read_text())['insecure-registries'] == [entry]
    assert result['changed'] is True


def test_outputs_are_removed_only_when_this_collection_wrote_them(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    writer_for(tree, fake, registry_mirrors=[MIRROR], containerd=True, containers_registries_conf=True).run()
    hosts_toml = tree / 'etc' / 'containerd' / 'certs.d' / 'docker.io' / 'hosts.toml'
    dropin = tree / 'etc' / 'containers' / 'registries.conf.d' / '50-bf.conf'
    assert is_ours(hosts_toml.read_text()) and is_ours(dropin.read_text())
    assert stat.S_IMODE(hosts_toml.stat().st_mode) == 0o644
    hosts_toml.write_text('# written by hand\nserver = "https://registry-1.docker.io"\n')
    result = writer_for(tree, fake, registry_mirrors=[MIRROR], containerd=False,
                        containers_registries_conf=False).run()
    assert result['written'] == [str(dropin)]
    assert hosts_toml.read_text().startswith('# written by hand')
    assert not dropin.exists()


def test_pruned_mirrors_are_echoed_redacted(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[OLD], pruned=['https://u:Sekret@dead.example']).run()
    assert result['pruned'] == ['https://***@dead.example']


def test_a_mirror_with_a_path_is_left_out_of_the_containers_dropin_with_a_warning(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    writer = writer_for(tree, fake, registry_mirrors=[MIRROR + '/hub', OLD], containers_registries_conf=True)
    writer.run()
    dropin = (tree / 'etc' / 'containers' / 'registries.conf.d' / '50-bf.conf').read_text()
    assert 'location = "127.0.0.1:15002"' in dropin and 'hub' not in dropin
    assert writer.warnings and 'has a path' in writer.warnings[0]


# ---------------------------------------------------------------------------
# Registries other than Docker Hub, and the proof by a pull
# ---------------------------------------------------------------------------

GHCR = {'ghcr.io': ['http://127.0.0.1:15000/']}


def certs(tree, consumer, registry):
    base = 'containerd' if consumer == 'containerd' else 'docker'
    return tree / 'etc' / base / 'certs.d' / registry / 'hosts.toml'


def test_every_registry_gets_a_hosts_toml_and_dockerd_28_gets_its_own(tree, daemon_json):
    tomllib = pytest.importorskip('tomllib')
    fake = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    result = writer_for(tree, fake, registry_mirrors=[OLD], containerd=True,
                        registries=dict(GHCR, **{'quay.io': ['https://quay-mirror.example/']})).run()
    assert result['changed'] is True and result['reloaded'] is False  # daemon.json already has the Docker Hub mirror
    for registry in ('docker.io', 'ghcr.io', 'quay.io'):
        assert is_ours(certs(tree, 'containerd', registry).read_text())
    assert tomllib.loads(certs(tree, 'containerd', 'ghcr.io').read_text())['server'] == 'https://ghcr.io'
    # Docker Hub gets dockerd's hosts.toml too: on the containerd image store it replaces registry-mirrors.
    assert tomllib.loads(certs(tree, 'docker', 'docker.io').read_text())['host'] == {
        OLD.rstrip('/'): {'capabilities': ['pull', 'resolve']}}
    assert tomllib.loads(certs(tree, 'docker', 'quay.io').read_text())['host'] == {
        'https://quay-mirror.example': {'capabilities': ['pull', 'resolve']}}
    assert result['limits'] == []
    assert result['unproven'] == [
        'dockerd (containerd image store): pulls of %s are not proven to take the mirrors; docker info shows the '
        'settings, not the path a pull takes. Give probe_images (docker_mirrors_probe_images) an image for it to '
        'prove it with a pull' % registry for registry in ('docker.io', 'ghcr.io', 'quay.io')]


def test_a_registry_left_out_loses_only_the_files_this_collection_wrote(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2')
    writer_for(tree, fake, registry_mirrors=[OLD], containerd=True,
               registries=dict(GHCR, **{'quay.io': ['https://q.example/']})).run()
    theirs = certs(tree, 'containerd', 'registry.k8s.io')
    theirs.parent.mkdir()
    theirs.write_text('server = "https://registry.k8s.io"\n')
    ca = certs(tree, 'docker', 'quay.io').parent / 'ca.crt'
    ca.write_text('a CA of the host\n')
    result = writer_for(tree, fake, registry_mirrors=[OLD], containerd=True, registries=GHCR).run()
    assert sorted(result['written']) == sorted([str(certs(tree, 'containerd', 'quay.io')),
                                                str(certs(tree, 'docker', 'quay.io'))])
    assert certs(tree, 'docker', 'docker.io').exists()
    assert not certs(tree, 'containerd', 'quay.io').parent.exists()  # its directory held nothing else
    assert ca.read_text() == 'a CA of the host\n' and not certs(tree, 'docker', 'quay.io').exists()
    assert theirs.read_text() == 'server = "https://registry.k8s.io"\n'
    assert certs(tree, 'containerd', 'ghcr.io').exists() and certs(tree, 'docker', 'ghcr.io').exists()
    again = writer_for(tree, fake, registry_mirrors=[OLD], containerd=True, registries=GHCR).run()
    assert (again['changed'], again['written']) == (False, [])


def test_state_absent_removes_every_registrys_files_and_only_the_collections(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    writer_for(tree, fake, registry_mirrors=[OLD], containerd=True, containers_registries_conf=True,
               registries=GHCR).run()
    theirs = certs(tree, 'containerd', 'quay.io')
    theirs.parent.mkdir()
    theirs.write_text('server = "https://quay.io"\n')
    check = writer_for(tree, fake, check_mode=True, diff=True, state='absent', registry_mirrors=[OLD],
                       containerd=True, containers_registries_conf=True).run()
    ours = sorted(str(certs(tree, consumer, registry)) for consumer in ('containerd', 'docker')
                  for registry in ('docker.io', 'ghcr.io'))
    assert sorted(path for path in check['written'] if path.endswith('hosts.toml')) == ours
    assert all(item['after'] == '' for item in check['diff'] if item['before_header'].endswith('hosts.toml'))
    assert certs(tree, 'docker', 'ghcr.io').exists()  # check mode wrote nothing
    gone = writer_for(tree, fake, state='absent', registry_mirrors=[OLD], containerd=True,
                      containers_registries_conf=True).run()
    assert sorted(path for path in gone['written'] if path.endswith('hosts.toml')) == ours
    assert not any(os.path.exists(path) for path in ours)
    assert theirs.read_text() == 'server = "https://quay.io"\n'
    assert gone['unproven'] == [] and gone['limits'] == []


def test_the_graphdriver_and_docker_26_say_which_registries_dockerd_does_not_mirror(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2')
    result = writer_for(tree, fake, registry_mirrors=[OLD], registries=GHCR).run()
    assert result['limits'] == ['dockerd: pulls of ghcr.io go to the registry itself: Docker 28.5.2 uses the '
                                'graphdriver image store, which ignores /etc/docker/certs.d/<registry>/hosts.toml '
                                '(the containerd image store reads it) (docker build with BuildKit reads those files '
                                'on any store)']
    assert certs(tree, 'docker', 'ghcr.io').exists()  # ready for a switch of the store
    old = FakeDockerd(str(daemon_json), version='26.1.5')
    result = writer_for(tree, old, registry_mirrors=[OLD], registries=GHCR).run()
    assert 'Docker 26.1.5 reads no hosts.toml' in result['limits'][0]
    assert not certs(tree, 'docker', 'ghcr.io').exists()  # removed: this engine never reads it
    assert result['unproven'] == []  # the graphdriver's docker info is the proof for Docker Hub


def test_only_registries_and_no_docker_hub_mirror(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[], containerd=True, registries=GHCR).run()
    assert json.loads(daemon_json.read_text()) == {'bridge': 'none', 'registry-mirrors': []}
    assert certs(tree, 'containerd', 'ghcr.io').exists() and not certs(tree, 'containerd', 'docker.io').exists()
    assert result['verified'] == [DOCKERD_CONSUMER]


def test_a_probe_image_is_pulled_through_dockerd_after_a_change_and_removed_again(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    fake.pullable = {'ghcr.io/acme/hello:latest', 'docker.io/library/hello:latest'}
    result = writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR,
                        probe_images={'ghcr.io': 'acme/hello', 'docker.io': 'hello'}).run()
    assert fake.pulled == ['docker.io/library/hello:latest', 'ghcr.io/acme/hello:latest']
    assert fake.images == set()
    assert result['verified'] == [
        DOCKERD_CONSUMER,
        'dockerd pulled docker.io/library/hello:latest through the mirrors of docker.io (sha256:%s)' % ('a' * 64),
        'dockerd pulled ghcr.io/acme/hello:latest through the mirrors of ghcr.io (sha256:%s)' % ('a' * 64)]
    assert result['unproven'] == []
    # Nothing changed: nothing is pulled.
    again = writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR,
                       probe_images={'ghcr.io': 'acme/hello', 'docker.io': 'hello'}).run()
    assert again['changed'] is False and len(fake.pulled) == 2


def test_a_probe_image_the_host_has_is_not_pulled(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    fake.images = {'ghcr.io/acme/hello:latest'}
    result = writer_for(tree, fake, registry_mirrors=[OLD], registries=GHCR,
                        probe_images={'ghcr.io': 'acme/hello:latest'}).run()
    assert fake.pulled == [] and fake.images == {'ghcr.io/acme/hello:latest'}
    assert any('ghcr.io/acme/hello:latest is already on this host' in line for line in result['unproven'])


def test_a_hosts_toml_someone_else_wrote_is_backed_up_before_it_is_replaced(tree, daemon_json):
    theirs = certs(tree, 'containerd', 'ghcr.io')
    theirs.parent.mkdir(parents=True)
    theirs.write_text('server = "https://ghcr.io"\n')
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[OLD], containerd=True, registries=GHCR).run()
    assert is_ours(theirs.read_text())
    assert open(result['backup_files'][str(theirs)]).read() == 'server = "https://ghcr.io"\n'


def test_without_fallback_only_the_containerd_store_enforces_it_for_docker_hub(tree, daemon_json):
    tomllib = pytest.importorskip('tomllib')
    store = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    result = writer_for(tree, store, registry_mirrors=[OLD], fallback=False).run()
    assert result['limits'] == []
    assert tomllib.loads(certs(tree, 'docker', 'docker.io').read_text())['server'] == OLD.rstrip('/')
    graphdriver = FakeDockerd(str(daemon_json), version='28.5.2')
    result = writer_for(tree, graphdriver, registry_mirrors=[OLD], fallback=False).run()
    assert result['limits'][0].startswith('dockerd: registry-mirrors always falls back to Docker Hub')


def test_a_failed_proof_pull_puts_every_file_back(tree, daemon_json):
    fake = FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)
    with pytest.raises(Failure) as failure:
        writer_for(tree, fake, registry_mirrors=[MIRROR], containerd=True, registries=GHCR,
                   probe_images={'ghcr.io': 'acme/missing:1.0'}).run()
    assert 'could not pull the probe image ghcr.io/acme/missing:1.0 through the mirrors of ghcr.io' \
        in str(failure.value)
    assert 'manifest unknown' in str(failure.value) and 'restored byte for byte' in str(failure.value)
    assert daemon_json.read_text() == LAB_TEXT
    assert not (tree / 'etc' / 'containerd').exists() or not any((tree / 'etc' / 'containerd').rglob('hosts.toml'))
    assert not certs(tree, 'docker', 'ghcr.io').exists()
    assert fake.mirrors == [OLD]  # dockerd reloaded onto the old file


@pytest.mark.parametrize('params, message', [
    (dict(registries={'docker.io': [MIRROR]}), "names docker.io: Docker Hub's mirrors go in registry_mirrors"),
    (dict(registries={'https://ghcr.io': [MIRROR]}), 'registries (docker_mirrors_registries)'),
    (dict(registries={'ghcr.io': ['ftp://m.example/']}), "registries (docker_mirrors_registries)['ghcr.io']"),
    (dict(registries=GHCR, probe_images={'quay.io': 'a/b'}), 'names quay.io, which is neither docker.io nor'),
    (dict(registries=GHCR, probe_images={'ghcr.io': 'ghcr.io/acme/hello'}), "probe_images (docker_mirrors_probe_"),
])
def test_bad_registries_and_probe_images_are_refused_before_any_write(tree, daemon_json, params, message):
    fake = FakeDockerd(str(daemon_json), version='28.5.2')
    with pytest.raises(Refusal) as refusal:
        writer_for(tree, fake, registry_mirrors=[MIRROR], containerd=True, **params).run()
    assert message in str(refusal.value)
    assert daemon_json.read_text() == LAB_TEXT and not (tree / 'etc' / 'containerd').exists()
    assert fake.reloads() == []


BUILDKITD_OWN = '# the host\'s own\ndebug = true\n\n[registry."docker.io"]\n  ca = ["/etc/ssl/corp.pem"]\n'


def test_buildkitd_toml_gets_every_registry_keeps_the_rest_and_goes_back_on_false(tree, daemon_json):
    tomllib = pytest.importorskip('tomllib')
    path = tree / 'etc' / 'buildkit' / 'buildkitd.toml'
    path.parent.mkdir(parents=True)
    path.write_text(BUILDKITD_OWN)
    path.chmod(0o600)
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR, buildkitd=True).run()
    assert str(path) in result['written'] and str(path) in result['backup_files']
    parsed = tomllib.loads(path.read_text())
    assert parsed['debug'] is True
    assert parsed['registry']['docker.io'] == {'ca': ['/etc/ssl/corp.pem'], 'mirrors': ['mirror.corp.example.com']}
    assert parsed['registry']['ghcr.io'] == {'mirrors': ['127.0.0.1:15000']}
    assert parsed['registry']['127.0.0.1:15000'] == {'http': True}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().startswith("# the host's own\n")
    assert any(line.startswith('buildkitd: running buildkitd daemons read') for line in result['limits'])
    again = writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR, buildkitd=True).run()
    assert (again['changed'], again['written']) == (False, [])
    back = writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR, buildkitd=False).run()
    assert back['written'] == [str(path)] and path.read_text() == BUILDKITD_OWN


def test_a_buildkitd_toml_the_writer_cannot_edit_safely_is_refused_with_the_host_untouched(tree, daemon_json):
    path = tree / 'etc' / 'buildkit' / 'buildkitd.toml'
    path.parent.mkdir(parents=True)
    theirs = '[registry."ghcr.io"]\n  mirrors = ["their-mirror.example"]\n'
    path.write_text(theirs)
    fake = FakeDockerd(str(daemon_json))
    with pytest.raises(Refusal) as refusal:
        writer_for(tree, fake, registry_mirrors=[MIRROR], registries=GHCR, containerd=True, buildkitd=True).run()
    assert str(path) in str(refusal.value) and 'Nothing was written' in str(refusal.value)
    assert path.read_text() == theirs and daemon_json.read_text() == LAB_TEXT
    assert not (tree / 'etc' / 'containerd').exists() and fake.reloads() == []


def test_a_new_buildkitd_toml_is_the_collections_and_goes_with_state_absent(tree, daemon_json):
    path = tree / 'etc' / 'buildkit' / 'buildkitd.toml'
    fake = FakeDockerd(str(daemon_json))
    result = writer_for(tree, fake, registry_mirrors=[MIRROR], buildkitd=True).run()
    assert is_ours(path.read_text()) and str(path.parent) in result['created_directories']
    gone = writer_for(tree, fake, state='absent', registry_mirrors=[MIRROR], buildkitd=True).run()
    assert str(path) in gone['written'] and not path.exists()


# ---------------------------------------------------------------------------
# The renderers
# ---------------------------------------------------------------------------

def test_hosts_toml_lists_the_mirrors_in_order_pull_and_resolve_only():
    text = render_hosts_toml('docker.io', ['http://127.0.0.1:15000/', 'https://10.1.2.3:8443/'], ['10.0.0.0/8'])
    assert text.startswith('# ' + MANAGED_BY + '\n')
    tomllib = pytest.importorskip('tomllib')
    assert tomllib.loads(text) == {'server': 'https://registry-1.docker.io', 'host': {
        'http://127.0.0.1:15000': {'capabilities': ['pull', 'resolve']},
        'https://10.1.2.3:8443': {'capabilities': ['pull', 'resolve'], 'skip_verify': True}}}
    assert list(tomllib.loads(text)['host']) == ['http://127.0.0.1:15000', 'https://10.1.2.3:8443']


def test_hosts_toml_of_another_registry_falls_back_to_that_registry():
    tomllib = pytest.importorskip('tomllib')
    text = render_hosts_toml('registry.corp.example:5000', ['https://mirror.example/'])
    assert tomllib.loads(text) == {'server': 'https://registry.corp.example:5000', 'host': {
        'https://mirror.example': {'capabilities': ['pull', 'resolve']}}}


def test_hosts_toml_without_fallback_makes_the_last_mirror_the_server():
    """containerd appends the server (or, without one, the registry) after the hosts: the last mirror is the server."""
    tomllib = pytest.importorskip('tomllib')
    text = render_hosts_toml('ghcr.io', ['https://a.example/', 'https://10.1.2.3:8443/'], ['10.0.0.0/8'],
                             fallback=False)
    assert tomllib.loads(text) == {
        'server': 'https://10.1.2.3:8443', 'capabilities': ['pull', 'resolve'], 'skip_verify': True,
        'host': {'https://a.example': {'capabilities': ['pull', 'resolve']}}}
    assert 'ghcr.io' not in tomllib.loads(text)['server']
    # containerd 1.6 refuses a file without a [host] table, and then goes to the registry itself.
    one = tomllib.loads(render_hosts_toml('ghcr.io', ['http://127.0.0.1:15000/'], fallback=False))
    assert one == {'server': 'http://127.0.0.1:15000', 'capabilities': ['pull', 'resolve'],
                   'host': {'http://127.0.0.1:15000': {'capabilities': ['pull', 'resolve']}}}


def test_containers_dropin_marks_plain_http_mirrors_insecure():
    text = render_containers_dropin({'docker.io': ['http://127.0.0.1:15000/', 'https://mirror.example/']})
    tomllib = pytest.importorskip('tomllib')
    assert tomllib.loads(text) == {'registry': [{'prefix': 'docker.io', 'location': 'docker.io', 'mirror': [
        {'location': '127.0.0.1:15000', 'insecure': True}, {'location': 'mirror.example'}]}]}


def test_containers_dropin_has_one_registry_table_per_registry_and_no_fallback_on_request():
    tomllib = pytest.importorskip('tomllib')
    registries = {'docker.io': ['https://hub.example/'], 'ghcr.io': ['https://a.example/', 'http://127.0.0.1:15000/']}
    assert tomllib.loads(render_containers_dropin(registries)) == {'registry': [
        {'prefix': 'docker.io', 'location': 'docker.io', 'mirror': [{'location': 'hub.example'}]},
        {'prefix': 'ghcr.io', 'location': 'ghcr.io', 'mirror': [
            {'location': 'a.example'}, {'location': '127.0.0.1:15000', 'insecure': True}]}]}
    # Without the fallback the registry is blocked: podman still tries its mirrors, never the registry itself.
    assert tomllib.loads(render_containers_dropin(registries, fallback=False)) == {'registry': [
        {'prefix': 'docker.io', 'location': 'docker.io', 'blocked': True, 'mirror': [{'location': 'hub.example'}]},
        {'prefix': 'ghcr.io', 'location': 'ghcr.io', 'blocked': True, 'mirror': [
            {'location': 'a.example'}, {'location': '127.0.0.1:15000', 'insecure': True}]}]}


def test_containers_dropin_is_none_when_every_mirror_has_a_path():
    assert render_containers_dropin({'docker.io': ['https://mirror.example/hub/']}) is None
    assert containers_mirrors(['https://mirror.example/hub/'])[1] == ['https://mirror.example/hub']
