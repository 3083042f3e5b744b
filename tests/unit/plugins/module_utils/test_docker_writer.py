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

    def __init__(self, daemon_json, version='26.1.5', running=True, unit_text=''):
        self.daemon_json = daemon_json
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
            return (0, json.dumps(self.info()) + '\n', '') if self.running else (0, 'null\n', '')
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
                    pruned=[], lock_timeout=5)
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
# The renderers
# ---------------------------------------------------------------------------

def test_hosts_toml_lists_the_mirrors_in_order_pull_and_resolve_only():
    text = render_hosts_toml(['http://127.0.0.1:15000/', 'https://10.1.2.3:8443/'], ['10.0.0.0/8'])
    assert text.startswith('# ' + MANAGED_BY + '\n')
    tomllib = pytest.importorskip('tomllib')
    assert tomllib.loads(text) == {'server': 'https://registry-1.docker.io', 'host': {
        'http://127.0.0.1:15000': {'capabilities': ['pull', 'resolve']},
        'https://10.1.2.3:8443': {'capabilities': ['pull', 'resolve'], 'skip_verify': True}}}
    assert list(tomllib.loads(text)['host']) == ['http://127.0.0.1:15000', 'https://10.1.2.3:8443']


def test_containers_dropin_marks_plain_http_mirrors_insecure():
    text = render_containers_dropin(['http://127.0.0.1:15000/', 'https://mirror.example/'])
    tomllib = pytest.importorskip('tomllib')
    assert tomllib.loads(text) == {'registry': [{'prefix': 'docker.io', 'location': 'docker.io', 'mirror': [
        {'location': '127.0.0.1:15000', 'insecure': True}, {'location': 'mirror.example'}]}]}


def test_containers_dropin_is_none_when_every_mirror_has_a_path():
    assert render_containers_dropin(['https://mirror.example/hub/']) is None
    assert containers_mirrors(['https://mirror.example/hub/'])[1] == ['https://mirror.example/hub']
