# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CA certificates, leaves and private keys made by the openssl CLI, for the tests of CA certificate handling.

tests/unit/conftest.py offers the session-scoped ``pki`` fixture to every test.
"""

from __future__ import annotations

import base64
import random
import subprocess

from types import SimpleNamespace

import pytest

REQ_CONFIG = """
[req]
distinguished_name = dn
[dn]
"""
CA_CONFIG = """
[ca]
default_ca = lab
[lab]
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
commonName = supplied
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
CA_EXTENSIONS = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']


def openssl(*arguments, cwd):
    completed = subprocess.run(['openssl'] + list(arguments), cwd=str(cwd), capture_output=True, text=True,
                               check=False, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    """Certificates and keys from the openssl CLI: read them as text (``pki.text('root')``)."""
    work = tmp_path_factory.mktemp('pki')
    (work / 'req.cnf').write_text(REQ_CONFIG)

    def run(*arguments):
        return openssl(*arguments, cwd=work)

    def self_signed(stem, key_type, subject, *extra):
        run('req', '-x509', '-config', 'req.cnf', '-newkey', key_type, '-nodes', '-keyout', stem + '.key',
            '-out', stem + '.pem', '-subj', subject, '-days', '30', *extra)

    def signed(stem, key_type, subject, issuer, extensions, *extra):
        run('req', '-new', '-config', 'req.cnf', '-newkey', key_type, '-nodes', '-keyout', stem + '.key',
            '-out', stem + '.csr', '-subj', subject, *extra)
        arguments = ['x509', '-req', '-in', stem + '.csr', '-CA', issuer + '.pem', '-CAkey', issuer + '.key',
                     '-set_serial', '0x%X' % random.Random(stem).getrandbits(64), '-days', '30', '-out', stem + '.pem']
        if extensions:
            (work / (stem + '.ext')).write_text('[v3]\n' + extensions)
            arguments += ['-extfile', stem + '.ext', '-extensions', 'v3']
        run(*arguments)

    # An RSA root, an EC (P-256) intermediate under it, and leaves.
    self_signed('root', 'rsa:2048', '/DC=example/DC=corp/O=Corp, Inc./OU=Platform\\+Tools/CN=Corp Root CA', *CA_EXTENSIONS)
    signed('intermediate', 'ec', '/O=Corp/CN=Corp Mirrors CA', 'root',
           'basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign\n'
           'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n', '-pkeyopt', 'ec_paramgen_curve:P-256')
    signed('leaf', 'ec', '/CN=mirror.corp.example.com', 'intermediate',
           'basicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:mirror.corp.example.com\n',
           '-pkeyopt', 'ec_paramgen_curve:P-256')
    signed('no-constraints', 'ec', '/CN=plain.corp.example.com', 'intermediate',
           'subjectAltName = DNS:plain.corp.example.com\n', '-pkeyopt', 'ec_paramgen_curve:P-256')
    signed('no-cert-sign', 'ec', '/CN=Signing Only CA', 'root',
           'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature\n',
           '-pkeyopt', 'ec_paramgen_curve:P-256')
    signed('v1', 'ec', '/CN=Version One', 'root', None, '-pkeyopt', 'ec_paramgen_curve:P-256')
    self_signed('ec-root', 'ec', '/C=DE/ST=Berlin/L=Berlin/O=Ex\\"ample #1/CN=  spaced  ', '-utf8', *CA_EXTENSIONS,
                '-pkeyopt', 'ec_paramgen_curve:P-384')
    self_signed('unicode-root', 'ec', '/O=Zürich Größe/CN=Ünïcode Root', '-utf8', *CA_EXTENSIONS,
                '-pkeyopt', 'ec_paramgen_curve:P-256')
    # CAs that OpenSSL's strict verification (Python 3.13's default) refuses, and a leaf under each.
    self_signed('loose-constraints', 'ec', '/CN=Loose Constraints CA', '-addext', 'basicConstraints=CA:TRUE',
                '-addext', 'keyUsage=critical,keyCertSign', '-pkeyopt', 'ec_paramgen_curve:P-256')
    self_signed('no-key-usage', 'ec', '/CN=No Key Usage CA', '-addext', 'basicConstraints=critical,CA:TRUE',
                '-pkeyopt', 'ec_paramgen_curve:P-256')
    for issuer in ('root', 'loose-constraints', 'no-key-usage'):
        signed(issuer + '-server', 'ec', '/CN=mirror.corp.example.com', issuer,
               'basicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:mirror.corp.example.com\n'
               'authorityKeyIdentifier = keyid\n', '-pkeyopt', 'ec_paramgen_curve:P-256')
    self_signed('multi-rdn', 'ec', '/O=Corp/CN=Multi+OU=Valued', '-multivalue-rdn', *CA_EXTENSIONS,
                '-pkeyopt', 'ec_paramgen_curve:P-256')

    # Expired and not-yet-valid CAs: `openssl ca` takes explicit dates (OpenSSL 3.0 has no x509 -not_after).
    (work / 'issued').mkdir()
    (work / 'index.txt').write_text('')
    (work / 'serial').write_text('1000\n')
    (work / 'ca.cnf').write_text(CA_CONFIG.format(dir=work))
    for stem, start, end in (('expired', '19990101000000Z', '20010101000000Z'),
                             ('future', '20900101000000Z', '20910101000000Z')):
        run('req', '-new', '-config', 'req.cnf', '-newkey', 'rsa:2048', '-nodes', '-keyout', stem + '.key',
            '-out', stem + '.csr', '-subj', '/CN=%s CA' % stem.capitalize())
        run('ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', stem + '.key', '-in', stem + '.csr',
            '-startdate', start, '-enddate', end, '-extensions', 'ca_ext', '-notext', '-out', stem + '.pem')

    # Keys in every PEM form a user might paste.
    run('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', 'pkcs8.key')
    run('rsa', '-in', 'pkcs8.key', '-traditional', '-out', 'rsa-traditional.key')
    run('ecparam', '-name', 'prime256v1', '-genkey', '-out', 'ec.key')
    run('pkcs8', '-topk8', '-in', 'pkcs8.key', '-v2', 'aes-256-cbc', '-passout', 'pass:secret', '-out', 'encrypted.key')
    run('rsa', '-in', 'pkcs8.key', '-traditional', '-aes256', '-passout', 'pass:secret', '-out', 'legacy-encrypted.key')

    # Other PEM forms.
    run('x509', '-in', 'root.pem', '-trustout', '-addtrust', 'serverAuth', '-out', 'trusted.pem')
    run('x509', '-in', 'root.pem', '-text', '-out', 'root-with-text.pem')

    def text(stem):
        return (work / (stem if '.' in stem else stem + '.pem')).read_text()

    def der(stem):
        return base64.b64decode(''.join(line for line in text(stem).splitlines() if not line.startswith('-----')))

    return SimpleNamespace(dir=work, text=text, der=der, run=run)
