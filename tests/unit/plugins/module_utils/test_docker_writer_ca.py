# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_daemon_config's CA certificates for the https:// mirrors (docker_mirrors_ca_certificates).

Files on a temporary tree with the stand-in dockerd of test_docker_writer; the
proof that the files do what they are for comes from real clients against a TLS
registry on 127.0.0.1 whose certificate a private CA signs: curl reads the
written ca.crt as is, and a private containerd 1.6 (started here, with its own
root, state and socket) fetches through the written hosts.toml only once the
CA is there. containerd verifies certificates on the loopback; dockerd does not
(it treats 127.0.0.0/8 as insecure), so no dockerd is asked.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
import tomllib

import pytest

from conftest import clean_environment
from registry_server import RegistryServer
import test_docker_writer

from ansible_collections.buildfleet.mirrors.plugins.module_utils._docker_writer import Failure, Refusal
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import (
    HOSTS_CA_FILE,
    MANAGED_BY,
    is_ours,
    render_ca_file,
    render_hosts_toml,
)

HTTPS_MIRROR = 'https://mirror.corp.example.com:8443'
PLAIN_MIRROR = 'http://127.0.0.1:15000'
GHCR_MIRROR = 'https://ghcr-mirror.corp.example.com'
REGISTRIES = {'ghcr.io': [GHCR_MIRROR, PLAIN_MIRROR]}
LABEL = 'ca_certificates (docker_mirrors_ca_certificates)'
FakeDockerd, writer_for = test_docker_writer.FakeDockerd, test_docker_writer.writer_for
# The temporary tree and its daemon.json, as test_docker_writer makes them.
tree, daemon_json = test_docker_writer.tree, test_docker_writer.daemon_json


def etc(tree, *parts):
    return tree.joinpath('etc', *parts)


def ca_writer(tree, fake, **params):
    params.setdefault('containers_certs_dir', str(etc(tree, 'containers', 'certs.d')))
    return writer_for(tree, fake, **params)


def files_under(directory):
    """{path: bytes} of every file, the stand-in backups (one name per file here, so reused) left out."""
    return {path: open(path, 'rb').read() for path in
            (os.path.join(root, name) for root, dummy, names in os.walk(directory) for name in names)
            if not path.endswith('~')}


def base64_lines(pem):
    return [line for line in pem.splitlines() if line and not line.startswith('-----')]


@pytest.fixture
def corp_ca(pki):
    return pki.text('root')


@pytest.fixture
def docker28(tree, daemon_json):
    return FakeDockerd(str(daemon_json), version='28.5.2', containerd_store=True)


# ---------------------------------------------------------------------------
# The renderers
# ---------------------------------------------------------------------------

def test_hosts_toml_gives_the_ca_to_https_hosts_only():
    text = render_hosts_toml('ghcr.io', [GHCR_MIRROR, PLAIN_MIRROR], ca='/etc/containerd/certs.d/ghcr.io/x.pem')
    hosts = tomllib.loads(text)['host']
    assert hosts['https://ghcr-mirror.corp.example.com']['ca'] == '/etc/containerd/certs.d/ghcr.io/x.pem'
    assert 'ca' not in hosts['http://127.0.0.1:15000']
    assert 'ca' not in tomllib.loads(text)  # the server is ghcr.io itself: the system's trust is its trust


def test_without_fallback_the_https_mirror_that_is_the_server_gets_the_ca_too():
    parsed = tomllib.loads(render_hosts_toml('docker.io', [HTTPS_MIRROR], fallback=False, ca='/c/ca.pem'))
    assert parsed['server'] == HTTPS_MIRROR and parsed['ca'] == '/c/ca.pem'
    assert parsed['host'][HTTPS_MIRROR]['ca'] == '/c/ca.pem'


def test_without_a_ca_hosts_toml_is_as_before():
    assert render_hosts_toml('docker.io', [HTTPS_MIRROR]) == render_hosts_toml('docker.io', [HTTPS_MIRROR], ca=None)
    assert 'ca =' not in render_hosts_toml('docker.io', [HTTPS_MIRROR])


def test_a_ca_file_is_the_header_then_the_pem(corp_ca):
    text = render_ca_file(corp_ca, 'the registry mirror x')
    assert text.startswith('# %s\n# CA certificates trusted for the registry mirror x.\n-----BEGIN' % MANAGED_BY)
    assert is_ours(text) and text.endswith(corp_ca)


# ---------------------------------------------------------------------------
# The transaction
# ---------------------------------------------------------------------------

def test_every_consumer_of_each_https_mirror_gets_the_ca_and_nothing_is_reloaded_for_it(tree, docker28, corp_ca):
    common = dict(registry_mirrors=[HTTPS_MIRROR, PLAIN_MIRROR], registries=REGISTRIES, containerd=True,
                  containers_registries_conf=True)
    first = ca_writer(tree, docker28, **common).run()
    reloads = len(docker28.reloads())
    result = ca_writer(tree, docker28, ca_certificates=corp_ca, **common).run()
    expected = [etc(tree, 'docker', 'certs.d', host, 'ca.crt') for host in ('mirror.corp.example.com:8443',
                                                                            'ghcr-mirror.corp.example.com')]
    mirror_hosts = ('mirror.corp.example.com:8443', 'ghcr-mirror.corp.example.com')
    expected += [etc(tree, 'containers', 'certs.d', host, 'ca.crt') for host in mirror_hosts]
    for base in (etc(tree, 'containerd', 'certs.d'), etc(tree, 'docker', 'certs.d')):
        for registry in ('docker.io', 'ghcr.io'):
            expected.append(base / registry / HOSTS_CA_FILE)
            hosts = tomllib.loads((base / registry / 'hosts.toml').read_text())['host']
            https = HTTPS_MIRROR if registry == 'docker.io' else GHCR_MIRROR
            assert hosts[https]['ca'] == str(base / registry / HOSTS_CA_FILE)
            assert 'ca' not in hosts[PLAIN_MIRROR]
    for path in expected:
        text = path.read_text()
        assert text.startswith('# ' + MANAGED_BY + '\n') and text.endswith(corp_ca), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # Only the CA files and the hosts.toml files that name them changed; dockerd was not reloaded for a CA.
    assert first['changed'] and result['changed']
    assert sorted(result['written']) == sorted([str(path) for path in expected] + [
        str(base / registry / 'hosts.toml') for base in (etc(tree, 'containerd', 'certs.d'), etc(tree, 'docker', 'certs.d'))
        for registry in ('docker.io', 'ghcr.io')])
    assert result['reloaded'] is False and len(docker28.reloads()) == reloads
    assert not any('127.0.0.1:15000' in path for path in result['written'])  # an http:// mirror has no CA
    again = ca_writer(tree, docker28, ca_certificates=corp_ca, **common).run()
    assert (again['changed'], again['written']) == (False, [])


def test_the_containers_certs_dir_only_with_the_containers_dropin(tree, daemon_json, corp_ca):
    fake = FakeDockerd(str(daemon_json))
    ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], ca_certificates=corp_ca,
              containers_registries_conf=True).run()
    mine = etc(tree, 'containers', 'certs.d', 'mirror.corp.example.com:8443', 'ca.crt')
    assert is_ours(mine.read_text())
    result = ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], ca_certificates=corp_ca).run()
    assert str(mine) in result['written'] and not mine.parent.exists()
    assert etc(tree, 'docker', 'certs.d', 'mirror.corp.example.com:8443', 'ca.crt').exists()
    assert not etc(tree, 'containerd').exists()  # containerd is off: no hosts.toml, no CA for it


def test_check_mode_diff_shows_subjects_and_fingerprints_never_base64(tree, daemon_json, corp_ca, pki):
    fake = FakeDockerd(str(daemon_json))
    ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], containerd=True).run()
    bundle = corp_ca + pki.text('ec-root')
    result = ca_writer(tree, fake, check_mode=True, diff=True, registry_mirrors=[HTTPS_MIRROR], containerd=True,
                       ca_certificates=bundle).run()
    ca_crt = str(etc(tree, 'docker', 'certs.d', 'mirror.corp.example.com:8443', 'ca.crt'))
    pem = str(etc(tree, 'containerd', 'certs.d', 'docker.io', HOSTS_CA_FILE))
    assert result['changed'] and {ca_crt, pem} <= set(result['written'])
    diffs = {item['after_header']: item for item in result['diff']}
    for path in (ca_crt, pem):
        assert diffs[path]['before_header'] == path + ' (absent)' and diffs[path]['before'] == ''
        after = diffs[path]['after']
        assert 'subject: CN=Corp Root CA,OU=Platform\\+Tools,O=Corp\\, Inc.,DC=corp,DC=example' in after
        assert after.count('sha256: ') == 2 and 'not_after: ' in after
    everything = repr(result)
    assert not any(line in everything for line in base64_lines(bundle))
    assert not os.path.exists(ca_crt) and not os.path.exists(pem)
    # The hosts.toml diff is text: it names the CA file.
    assert 'ca = "%s"' % pem in diffs[str(etc(tree, 'containerd', 'certs.d', 'docker.io', 'hosts.toml'))]['after']


def test_a_new_ca_replaces_the_old_one_and_the_diff_shows_both(tree, daemon_json, corp_ca, pki):
    fake = FakeDockerd(str(daemon_json))
    ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], ca_certificates=corp_ca).run()
    result = ca_writer(tree, fake, diff=True, registry_mirrors=[HTTPS_MIRROR],
                       ca_certificates=pki.text('unicode-root')).run()
    ca_crt = etc(tree, 'docker', 'certs.d', 'mirror.corp.example.com:8443', 'ca.crt')
    assert result['written'] == [str(ca_crt)] and result['reloaded'] is False
    assert 'CN=Corp Root CA' in result['diff'][0]['before'] and 'CN=Ünïcode Root' in result['diff'][0]['after']
    assert ca_crt.read_text().endswith(pki.text('unicode-root'))


def test_only_the_collections_ca_files_are_removed_with_their_empty_directories(tree, docker28, corp_ca):
    common = dict(registry_mirrors=[HTTPS_MIRROR], registries={'ghcr.io': [GHCR_MIRROR]}, containerd=True,
                  containers_registries_conf=True)
    ca_writer(tree, docker28, ca_certificates=corp_ca, **common).run()
    theirs = etc(tree, 'docker', 'certs.d', 'registry.other.example:5000', 'ca.crt')
    theirs.parent.mkdir()
    theirs.write_text(corp_ca)  # the same certificate, but not written by the collection
    key = etc(tree, 'docker', 'certs.d', 'ghcr-mirror.corp.example.com', 'client.key')
    key.write_text('a client key of the host\n')
    # The ghcr.io mirror leaves the policy: its CA files go, the directory that holds a key of the host stays.
    result = ca_writer(tree, docker28, ca_certificates=corp_ca, registry_mirrors=[HTTPS_MIRROR], containerd=True,
                       containers_registries_conf=True).run()
    assert not etc(tree, 'docker', 'certs.d', 'ghcr-mirror.corp.example.com', 'ca.crt').exists()
    assert key.read_text() == 'a client key of the host\n'
    assert not etc(tree, 'containers', 'certs.d', 'ghcr-mirror.corp.example.com').exists()
    assert not etc(tree, 'containerd', 'certs.d', 'ghcr.io').exists()
    assert theirs.read_text() == corp_ca
    assert str(theirs) not in result['written']
    # '' trusts nothing more: every CA file of the collection goes, the hosts.toml files lose their ca line.
    result = ca_writer(tree, docker28, ca_certificates='', **common).run()
    assert [path for path in result['written'] if path.endswith(('ca.crt', HOSTS_CA_FILE))]
    left = [os.path.join(root, name) for root, dummy, names in os.walk(tree / 'etc') for name in names
            if name in ('ca.crt', HOSTS_CA_FILE)]
    assert left == [str(theirs)]
    assert 'ca =' not in etc(tree, 'containerd', 'certs.d', 'docker.io', 'hosts.toml').read_text()
    assert not etc(tree, 'containers', 'certs.d').exists() or not os.listdir(etc(tree, 'containers', 'certs.d'))


def test_state_absent_removes_the_ca_files_too(tree, docker28, corp_ca):
    common = dict(registry_mirrors=[HTTPS_MIRROR], registries={'ghcr.io': [GHCR_MIRROR]}, containerd=True,
                  containers_registries_conf=True)
    ca_writer(tree, docker28, ca_certificates=corp_ca, **common).run()
    result = ca_writer(tree, docker28, state='absent', ca_certificates=corp_ca, **common).run()
    assert [path for path in result['written'] if path.endswith(('ca.crt', HOSTS_CA_FILE))]
    left = [name for root, dummy, names in os.walk(tree / 'etc') for name in names if name != 'daemon.json'
            and not name.endswith('~')]
    assert left == []


def test_a_ca_file_of_the_hosts_own_is_backed_up_then_replaced(tree, daemon_json, corp_ca, pki):
    fake = FakeDockerd(str(daemon_json))
    theirs = etc(tree, 'docker', 'certs.d', 'mirror.corp.example.com:8443', 'ca.crt')
    theirs.parent.mkdir(parents=True)
    theirs.write_text(pki.text('ec-root'))
    result = ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], ca_certificates=corp_ca).run()
    backup = result['backup_files'][str(theirs)]
    assert open(backup).read() == pki.text('ec-root') and not backup.endswith('.crt')
    assert is_ours(theirs.read_text())


@pytest.mark.parametrize('stem, expected', [
    ('root+pkcs8.key', 'holds a private key (a PRIVATE KEY block at line 23)'),
    ('expired', 'expired'),
    ('leaf', 'is not a CA'),
])
def test_a_bad_ca_is_refused_naming_the_option_and_the_variable_with_nothing_written(
        tree, daemon_json, pki, stem, expected):
    fake = FakeDockerd(str(daemon_json))
    before = daemon_json.read_text()
    text = ''.join(pki.text(part) for part in stem.split('+'))
    writer = ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], containerd=True, ca_certificates=text)
    with pytest.raises(Refusal) as refusal:
        writer.run()
    message = str(refusal.value)
    assert message.startswith(LABEL) and expected in message and message.endswith('Nothing was written')
    assert not any(line in message for line in base64_lines(text))
    assert daemon_json.read_text() == before and not etc(tree, 'containerd').exists()
    assert not etc(tree, 'docker', 'certs.d').exists() and fake.reloads() == []


def test_a_failed_run_puts_the_ca_files_back_with_everything_else(tree, daemon_json, corp_ca, pki):
    fake = FakeDockerd(str(daemon_json))
    ca_writer(tree, fake, registry_mirrors=[HTTPS_MIRROR], containerd=True, ca_certificates=corp_ca).run()
    snapshot = files_under(tree / 'etc')
    fake.refuse_reload = True
    writer = ca_writer(tree, fake, registry_mirrors=['https://other.corp.example.com'], containerd=True,
                       ca_certificates=pki.text('ec-root'))
    with pytest.raises(Failure) as failure:
        writer.run()
    assert 'restored byte for byte' in str(failure.value)
    assert files_under(tree / 'etc') == snapshot
    assert not etc(tree, 'docker', 'certs.d', 'other.corp.example.com').exists()


# ---------------------------------------------------------------------------
# Real clients against a TLS mirror on 127.0.0.1 that a private CA signs
# ---------------------------------------------------------------------------

@pytest.fixture
def tls_mirror(tls_files):
    server = RegistryServer(images={'library/hello': ['latest']}, tls_context=tls_files.server_context())
    yield server
    server.close()


def test_curl_trusts_the_mirror_with_the_written_ca_crt_as_it_is(
        tree, daemon_json, tls_files, tls_mirror):
    if not shutil.which('curl'):
        pytest.skip('curl is not installed')
    fake = FakeDockerd(str(daemon_json))
    ca_writer(tree, fake, registry_mirrors=[tls_mirror.url], ca_certificates=open(tls_files.ca_cert).read()).run()
    ca_crt = etc(tree, 'docker', 'certs.d', tls_mirror.url.split('//')[1], 'ca.crt')
    assert ca_crt.read_text().startswith('# ')  # the header line comes first, and curl reads past it

    def curl(*arguments):
        return subprocess.run(['curl', '--silent', '--show-error', '--max-time', '60', '--output', os.devnull,
                               '--write-out', '%{http_code}'] + list(arguments) + [tls_mirror.url + '/v2/'],
                              capture_output=True, text=True, env=clean_environment(), check=False, timeout=120)

    without = curl()
    assert without.returncode == 60, without.stderr  # the system's trust does not know the private CA
    trusted = curl('--cacert', str(ca_crt))
    assert (trusted.returncode, trusted.stdout) == (0, '200'), trusted.stderr


@pytest.fixture(scope='module')
def private_containerd(tmp_path_factory):
    """A containerd of the test's own (root, state and socket in a temporary directory, no CRI), stopped after."""
    if os.geteuid() != 0 or not shutil.which('containerd') or not shutil.which('ctr'):
        pytest.skip('needs root and containerd with ctr')
    work = tmp_path_factory.mktemp('ctd')
    socket = work / 'containerd.sock'
    (work / 'config.toml').write_text(
        'version = 2\nroot = "%s"\nstate = "%s"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n[debug]\n  address = ""\n'
        '[metrics]\n  address = ""\n' % (work / 'root', work / 'state', socket, socket))
    log = open(work / 'containerd.log', 'wb')
    process = subprocess.Popen(['containerd', '--config', str(work / 'config.toml')], stdout=log,
                               stderr=subprocess.STDOUT, env=clean_environment())
    try:
        for attempt in range(120):
            if socket.exists() and subprocess.run(['ctr', '--address', str(socket), 'version'], capture_output=True,
                                                  check=False, timeout=30).returncode == 0:
                break
            if process.poll() is not None:
                pytest.skip('containerd did not start: %s' % (work / 'containerd.log').read_text()[-500:])
            time.sleep(0.5)
        else:
            pytest.skip('containerd did not answer')
        yield socket
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_containerd_fetches_through_the_written_hosts_toml_only_with_the_ca(
        tree, daemon_json, tls_files, tls_mirror, private_containerd):
    fake = FakeDockerd(str(daemon_json))
    hosts_dir = etc(tree, 'containerd', 'certs.d')
    # No fallback: the mirror is the server too, so containerd never leaves the loopback for registry-1.docker.io.
    common = dict(registry_mirrors=[tls_mirror.url], containerd=True, fallback=False)

    def fetch():
        return subprocess.run(['ctr', '--address', str(private_containerd), 'content', 'fetch', '--hosts-dir',
                               str(hosts_dir), 'docker.io/library/hello:latest'], capture_output=True, text=True,
                              env=clean_environment(), check=False, timeout=240)

    ca_writer(tree, fake, **common).run()
    refused = fetch()
    assert refused.returncode != 0 and 'x509: certificate signed by unknown authority' in refused.stderr, \
        refused.stderr
    served_before = len(tls_mirror.manifest_requests())
    result = ca_writer(tree, fake, ca_certificates=open(tls_files.ca_cert).read(), **common).run()
    assert str(hosts_dir / 'docker.io' / HOSTS_CA_FILE) in result['written'] and result['reloaded'] is False
    served = fetch()
    assert served.returncode == 0, served.stderr
    # The mirror served it, as containerd asks a mirror: with ?ns=docker.io.
    requests = tls_mirror.manifest_requests()[served_before:]
    assert requests and requests[0].path == '/v2/library/hello/manifests/latest'
    assert requests[0].query.get('ns') == ['docker.io']
