# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_daemon_config as Ansible runs it: arguments file in, JSON out, on files in a temporary directory.

The flag checks read the host's own dockerd and systemd, so most runs turn
them off; the checks themselves are tested with a stand-in host. The module
never reloads this machine's dockerd: it reads /etc/docker/daemon.json, not
the temporary file (the transaction with a reloading dockerd is tested in
module_utils/test_docker_writer.py with a stand-in engine).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import run_collection_module

from ansible_collections.buildfleet.mirrors.plugins.module_utils._daemon_json import flag_conflicts
from ansible_collections.buildfleet.mirrors.plugins.module_utils._docker_writer import DaemonStart
from ansible_collections.buildfleet.mirrors.plugins.module_utils._transaction import HostLock

LAB_TEXT = '{\n    "bridge": "none",\n    "iptables": false,\n    "ip6tables": false,\n    "log-opts": {"max-size": "10m"}\n}\n'
MIRROR = 'https://mirror.corp.example.com'
MIRROR2 = 'http://127.0.0.1:15000'


@pytest.fixture
def daemon_json(tmp_path):
    path = tmp_path / 'etc' / 'daemon.json'
    path.parent.mkdir()
    return path


@pytest.fixture
def run(tmp_path):
    def run_module(check_mode=False, diff=False, **module_args):
        module_args.setdefault('check_flags', False)
        module_args.setdefault('allow_path', False)
        return run_collection_module('docker_daemon_config', tmp_path, module_args, check_mode, diff)
    return run_module


def backups(path):
    return sorted(entry for entry in os.listdir(path.parent) if entry.startswith(path.name + '.'))


def test_merges_into_an_existing_file_keeping_keys_order_and_indentation(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR, MIRROR2], backup=True, diff=True)
    assert done.rc == 0, done.result
    assert done.result['changed'] is True
    assert done.result['created'] is False
    assert done.result['registry_mirrors'] == [MIRROR + '/', MIRROR2 + '/']
    assert done.result['insecure_registries'] is None
    assert daemon_json.read_text() == (
        '{\n    "bridge": "none",\n    "iptables": false,\n    "ip6tables": false,\n'
        '    "log-opts": {\n        "max-size": "10m"\n    },\n'
        '    "registry-mirrors": [\n        "%s/",\n        "%s/"\n    ]\n}\n' % (MIRROR, MIRROR2))
    assert len(done.result['diff']) == 1
    assert done.result['diff'][0]['before'] == LAB_TEXT
    assert done.result['diff'][0]['after'] == daemon_json.read_text()
    assert done.result['written'] == [str(daemon_json)]
    backup = done.result['backup_files'][str(daemon_json)]
    assert open(backup).read() == LAB_TEXT
    assert backups(daemon_json) == [os.path.basename(backup)]


def test_second_run_changes_nothing_and_makes_no_backup(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    assert run(path=str(daemon_json), registry_mirrors=[MIRROR], backup=True).result['changed'] is True
    written = daemon_json.read_bytes()
    again = run(path=str(daemon_json), registry_mirrors=[MIRROR], backup=True)
    assert again.result['changed'] is False
    assert '%s already sets the policy' % daemon_json in again.result['msg']
    assert again.result['written'] == []
    assert daemon_json.read_bytes() == written
    assert len(backups(daemon_json)) == 1


def test_a_compliant_file_is_not_reformatted(run, daemon_json):
    daemon_json.write_text('{"registry-mirrors":["%s"],"bridge":"none"}' % MIRROR)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR + '/'])
    assert done.result['changed'] is False
    assert daemon_json.read_text() == '{"registry-mirrors":["%s"],"bridge":"none"}' % MIRROR


def test_check_mode_predicts_and_shows_the_diff_without_writing(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    done = run(check_mode=True, diff=True, path=str(daemon_json), registry_mirrors=[MIRROR], backup=True)
    assert done.result['changed'] is True
    assert '"registry-mirrors": [' in done.result['diff'][0]['after']
    assert done.result['msg'].startswith('%s would be updated' % daemon_json)
    assert daemon_json.read_text() == LAB_TEXT
    assert backups(daemon_json) == []


def test_creates_a_missing_file_with_mode_0644(run, daemon_json):
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], insecure_registries=['reg.example:5000'])
    assert done.result['changed'] is True
    assert done.result['created'] is True
    assert json.loads(daemon_json.read_text()) == {'registry-mirrors': [MIRROR + '/'],
                                                   'insecure-registries': ['reg.example:5000']}
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644


def test_makes_the_directory_of_a_file_whose_engine_is_not_installed_yet(run, tmp_path):
    daemon_json = tmp_path / 'etc' / 'docker' / 'daemon.json'
    checked = run(check_mode=True, path=str(daemon_json), registry_mirrors=[MIRROR])
    assert checked.result['changed'] is True and not daemon_json.parent.exists()
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR])
    assert done.result['changed'] is True
    assert done.result['created_directories'][-1] == str(daemon_json.parent)
    assert stat.S_IMODE(daemon_json.parent.stat().st_mode) == 0o755
    assert json.loads(daemon_json.read_text()) == {'registry-mirrors': [MIRROR + '/']}


def test_check_mode_on_a_missing_file_creates_nothing(run, daemon_json):
    done = run(check_mode=True, path=str(daemon_json), registry_mirrors=[MIRROR])
    assert done.result['changed'] is True
    assert done.result['created'] is True
    assert not daemon_json.exists()


def test_an_existing_file_keeps_its_mode(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    daemon_json.chmod(0o600)
    run(path=str(daemon_json), registry_mirrors=[MIRROR])
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o600


@pytest.mark.parametrize('text, fragment', [
    ('{"bridge": "none",\n}', 'is not valid JSON'),
    ('[]', 'holds a JSON list, not an object'),
    ('{"registry-mirrors": "https://old.example"}', 'sets "registry-mirrors" to "https://old.example"'),
])
def test_refuses_a_file_dockerd_cannot_read_and_leaves_it_untouched(run, daemon_json, text, fragment):
    daemon_json.write_text(text)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], strategy='merge', backup=True)
    assert done.rc != 0
    assert done.result['failed'] is True
    assert fragment in done.result['msg']
    assert daemon_json.read_text() == text
    assert backups(daemon_json) == []


def test_refuses_bytes_that_are_not_utf8(run, daemon_json):
    daemon_json.write_bytes(b'{"labels": ["\xff"]}')
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR])
    assert done.result['failed'] is True
    assert 'is not UTF-8 text' in done.result['msg']
    assert daemon_json.read_bytes() == b'{"labels": ["\xff"]}'


def test_validate_refusal_leaves_the_file_untouched(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], backup=True,
               validate="/bin/sh -c 'echo unknown directive in $0 >&2; exit 3' %s")
    assert done.result['failed'] is True
    assert done.result['msg'].startswith('the new %s was refused by `/bin/sh -c ' % daemon_json)
    assert '(rc 3): unknown directive in ' in done.result['msg']
    assert done.result['msg'].endswith('The file was left untouched')
    assert daemon_json.read_text() == LAB_TEXT
    assert backups(daemon_json) == []


def test_validate_runs_on_the_new_content(run, daemon_json, tmp_path):
    daemon_json.write_text(LAB_TEXT)
    seen = tmp_path / 'seen.json'
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], validate='cp %%s %s' % seen)
    assert done.result['changed'] is True
    assert json.loads(seen.read_text())['registry-mirrors'] == [MIRROR + '/']


def test_validate_needs_the_placeholder(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], validate='dockerd --validate')
    assert 'validate must contain %s' in done.result['msg']


@pytest.mark.parametrize('mirrors, fragment', [
    (['https://builder:Hunter2@mirror.example'], 'carries credentials'),
    (['ftp://mirror.example'], "has scheme 'ftp'"),
    (['https://mirror.example/hub'], 'has a path'),
    ([], 'is an empty list'),
])
def test_refuses_mirrors_dockerd_refuses(run, daemon_json, mirrors, fragment):
    daemon_json.write_text(LAB_TEXT)
    done = run(path=str(daemon_json), registry_mirrors=mirrors)
    assert done.result['failed'] is True
    assert done.result['msg'].startswith('registry_mirrors (docker_mirrors_registry_mirrors) ')
    assert fragment in done.result['msg']
    assert 'Hunter2' not in json.dumps(done.result)
    assert daemon_json.read_text() == LAB_TEXT


def test_a_path_is_accepted_when_allowed(run, daemon_json):
    done = run(path=str(daemon_json), registry_mirrors=['https://mirror.example/hub'], allow_path=True)
    assert done.result['registry_mirrors'] == ['https://mirror.example/hub/']


def engine_of_this_machine():
    """This machine's own Docker Engine, asked directly: (dockerd path, version, RegistryConfig or None)."""
    dockerd = shutil.which('dockerd', path=os.environ.get('PATH', '') + ':/usr/local/sbin:/usr/sbin:/sbin')
    version = ''
    if dockerd:
        version = re.search(r'[0-9]+\.[0-9]+(\.[0-9]+)?', subprocess.check_output([dockerd, '--version'], text=True)).group(0)
    docker = shutil.which('docker')
    info = subprocess.run([docker, 'info', '--format', '{{json .RegistryConfig}}'], capture_output=True, text=True,
                          check=False) if docker else None
    config = json.loads(info.stdout or 'null') if info is not None and info.returncode == 0 else None
    return dockerd or '', version, config if isinstance(config, dict) else None


def test_reports_the_engine_as_dockerd_and_docker_info_report_it(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    engine = run(path=str(daemon_json), registry_mirrors=[MIRROR]).result['engine']
    dockerd, version, config = engine_of_this_machine()
    assert (engine['installed'], engine['dockerd'], engine['version']) == (bool(dockerd), dockerd, version)
    assert (engine['running'], engine['registry_config']) == (config is not None, config)
    assert engine['systemd'] is os.path.isdir('/run/systemd/system')


def test_without_allow_path_the_engine_decides_whether_a_path_is_accepted(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    done = run(path=str(daemon_json), registry_mirrors=['https://mirror.example/hub'], allow_path=None)
    dummy, version, dummy2 = engine_of_this_machine()
    if version and int(version.split('.')[0]) >= 24:
        assert done.result['registry_mirrors'] == ['https://mirror.example/hub/']
    else:
        assert done.result['failed'] is True
        assert done.result['msg'].startswith(
            "registry_mirrors (docker_mirrors_registry_mirrors) entry 'https://mirror.example/hub' has a path")
        assert 'Docker Engine before 24 refuses a path' in done.result['msg']
        assert daemon_json.read_text() == LAB_TEXT


def test_dockerd_validate_and_validate_exclude_each_other(run, daemon_json):
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], validate='true %s', dockerd_validate=True)
    assert done.result['failed'] is True
    assert 'mutually exclusive' in done.result['msg']


def test_absent_removes_the_keys_and_keeps_the_rest(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    run(path=str(daemon_json), registry_mirrors=[MIRROR], insecure_registries=['reg.example:5000'])
    done = run(path=str(daemon_json), state='absent', registry_mirrors=[], insecure_registries=[], backup=True)
    assert done.result['changed'] is True
    assert done.result['registry_mirrors'] == []
    assert json.loads(daemon_json.read_text()) == json.loads(LAB_TEXT)
    assert run(path=str(daemon_json), state='absent', registry_mirrors=[]).result['changed'] is False


def test_absent_does_not_create_a_missing_file(run, daemon_json):
    done = run(path=str(daemon_json), state='absent', registry_mirrors=[])
    assert done.result['changed'] is False
    assert not daemon_json.exists()


def test_a_symlink_is_followed_not_replaced(run, daemon_json, tmp_path):
    target = tmp_path / 'real.json'
    target.write_text(LAB_TEXT)
    daemon_json.symlink_to(target)
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR])
    assert done.result['path'] == str(target)
    assert daemon_json.is_symlink()
    assert 'registry-mirrors' in json.loads(target.read_text())


def test_url_credentials_elsewhere_in_the_file_are_masked(run, daemon_json):
    daemon_json.write_text('{"proxies": {"http-proxy": "http://builder:Sup3rSecret@proxy.example:3128"}}\n')
    done = run(diff=True, path=str(daemon_json), registry_mirrors=[MIRROR])
    assert done.result['changed'] is True
    assert 'Sup3rSecret' not in json.dumps(done.result)
    assert 'Sup3rSecret' in daemon_json.read_text()


def test_waits_for_the_host_lock_and_fails_unchanged_when_it_stays_held(run, daemon_json):
    daemon_json.write_text(LAB_TEXT)
    with HostLock(timeout=5, holder='a test holding the lock'):
        done = run(path=str(daemon_json), registry_mirrors=[MIRROR], lock_timeout=1)
    assert done.result['failed'] is True
    assert 'a test holding the lock' in done.result['msg']
    assert 'waited 1 s (lock_timeout)' in done.result['msg']
    assert daemon_json.read_text() == LAB_TEXT


def test_the_removed_options_are_refused(run, daemon_json):
    for option in ({'names': {'registry_mirrors': 'x'}}, {'keep_empty': True}):
        done = run(path=str(daemon_json), state='absent', registry_mirrors=[], **option)
        assert done.result['failed'] is True
        assert 'Unsupported parameters' in done.result['msg']


# ---------------------------------------------------------------------------
# How dockerd is started (a stand-in host: systemctl output and files)
# ---------------------------------------------------------------------------

class FakeHost:
    def __init__(self, systemctl_output, rc=0, pidfile='/nonexistent/docker.pid', proc='/proc'):
        self.systemctl_output = systemctl_output
        self.rc = rc
        self.pidfile = pidfile
        self.proc = proc
        self.default_daemon_json = '/etc/docker/daemon.json'

    def which(self, name):
        return '/bin/systemctl' if name == 'systemctl' else None

    def run(self, args):
        return self.rc, self.systemctl_output, ''


@pytest.fixture
def unit_files(tmp_path):
    fragment = tmp_path / 'docker.service'
    fragment.write_text('[Service]\nEnvironmentFile=-/etc/default/docker\n'
                        'ExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n')
    dropin = tmp_path / 'mirror.conf'
    dropin.write_text('[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// --registry-mirror=%s\n' % MIRROR)
    environment = tmp_path / 'default-docker'
    environment.write_text('# DOCKER_OPTS="--registry-mirror=x"\nDOCKER_OPTS="--insecure-registry=reg:5000"\n')
    output = ('MainPID=0\nFragmentPath=%s\nDropInPaths=%s\nEnvironmentFiles=%s (ignore_errors=yes)\n'
              % (fragment, dropin, environment))
    return output, fragment, dropin, environment


def test_daemon_start_reads_the_unit_its_drop_ins_and_environment_files(unit_files):
    output, fragment, dropin, environment = unit_files
    start = DaemonStart(FakeHost(output), 'docker.service')
    labels = [label for label, content in start.sources()]
    assert labels == ['the unit file %s' % fragment, 'the drop-in %s' % dropin,
                      'the environment file %s of docker.service' % environment]
    assert [(key, label) for key, flag, label in flag_conflicts(start.sources())] == [
        ('registry-mirrors', 'the drop-in %s' % dropin),
        ('insecure-registries', 'the environment file %s of docker.service' % environment)]


def test_daemon_start_reads_the_running_dockerd(tmp_path):
    proc = tmp_path / 'proc' / '4242'
    proc.mkdir(parents=True)
    (proc / 'comm').write_text('dockerd\n')
    (proc / 'cmdline').write_bytes(b'/usr/sbin/dockerd\0--config-file\0/srv/docker.json\0--registry-mirror=x\0')
    start = DaemonStart(FakeHost('MainPID=4242\n', proc=str(tmp_path / 'proc')), 'docker.service')
    assert start.running == {'4242': ['/usr/sbin/dockerd', '--config-file', '/srv/docker.json',
                                      '--registry-mirror=x']}
    assert start.config_files() == [('4242', '/srv/docker.json')]


def test_daemon_start_ignores_a_pid_that_is_not_dockerd(tmp_path):
    proc = tmp_path / 'proc' / '7'
    proc.mkdir(parents=True)
    (proc / 'comm').write_text('containerd\n')
    (proc / 'cmdline').write_bytes(b'containerd\0--registry-mirror=x\0')
    assert DaemonStart(FakeHost('MainPID=7\n', proc=str(tmp_path / 'proc')), 'docker.service').running == {}


def test_without_systemd_only_the_running_daemon_is_read():
    start = DaemonStart(FakeHost('', rc=1), 'docker.service')
    assert start.sources() == []


def certs_dirs(tmp_path):
    return dict(docker_certs_dir=str(tmp_path / 'docker-certs.d'), containerd_certs_dir=str(tmp_path / 'containerd'),
                containers_certs_dir=str(tmp_path / 'containers-certs.d'),
                containers_dropin=str(tmp_path / 'registries.conf.d' / '50-bf.conf'))


def test_ca_certificates_are_written_and_never_echoed(run, daemon_json, tmp_path, pki):
    ca = pki.text('root')
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], ca_certificates=ca, containerd=True,
               containers_registries_conf=True, diff=True, **certs_dirs(tmp_path))
    assert done.rc == 0, done.result
    for directory in ('docker-certs.d', 'containers-certs.d'):
        assert (tmp_path / directory / 'mirror.corp.example.com' / 'ca.crt').read_text().endswith(ca)
    assert (tmp_path / 'containerd' / 'docker.io' / 'buildfleet-mirrors-ca.pem').read_text().endswith(ca)
    assert done.result['invocation']['module_args']['ca_certificates'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert not any(line in done.stdout for line in ca.splitlines()[1:-1])
    assert any('CN=Corp Root CA' in item['after'] for item in done.result['diff'])


def test_a_private_key_in_ca_certificates_fails_naming_option_and_variable_and_writes_nothing(
        run, daemon_json, tmp_path, pki):
    daemon_json.write_text(LAB_TEXT)
    text = pki.text('root') + pki.text('rsa-traditional.key')
    done = run(path=str(daemon_json), registry_mirrors=[MIRROR], ca_certificates=text, containerd=True,
               **certs_dirs(tmp_path))
    assert done.rc != 0 and done.result['failed'] is True
    assert done.result['msg'].startswith('ca_certificates (docker_mirrors_ca_certificates) holds a private key '
                                         '(a RSA PRIVATE KEY block at line 23)')
    assert not any(line in done.stdout + done.stderr for line in text.splitlines()[1:-1])
    assert daemon_json.read_text() == LAB_TEXT
    assert not (tmp_path / 'docker-certs.d').exists() and not (tmp_path / 'containerd').exists()
