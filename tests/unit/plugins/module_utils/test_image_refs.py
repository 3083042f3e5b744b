# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_image_refs.py: registry names and image references, every accepted and refused form."""

from __future__ import annotations

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._image_refs import (
    DOCKER_HUB_ALIASES,
    parse_image,
    validate_registry,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)

SHA256 = 'sha256:' + 'a3' * 32
SHA512 = 'sha512:' + '0f' * 64


def refused(function, *args):
    with pytest.raises(PolicyError) as caught:
        function(*args)
    return str(caught.value)


# ---------------------------------------------------------------------------
# validate_registry
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('host', [
    'ghcr.io', 'quay.io', 'registry.k8s.io', 'gcr.io', 'registry.corp.example:5000', 'localhost',
    'localhost:5000', 'my-registry', 'a.b-c.d1', '127.0.0.1:5000', '10.1.2.3', '[::1]', '[fd00::1]:5000',
    'Registry.Corp.Example', '123.example', 'x' * 63 + '.io', 'registry.corp.example:65535',
])
def test_registry_names_that_image_references_accept(host):
    assert validate_registry(host, 'registries key') == host


@pytest.mark.parametrize('host, reason', [
    ('https://ghcr.io', 'is a URL; give the registry name without a scheme'),
    ('http://registry.corp.example:5000', 'is a URL'),
    ('ghcr.io/acme', "has a path ('/acme')"),
    ('ghcr.io/', "has a path ('/')"),
    ('ghcr.io?x=1', 'has a query or fragment'),
    ('ghcr.io#top', 'has a query or fragment'),
    ('ghcr.io ', 'contains whitespace'),
    (' ghcr.io', 'contains whitespace'),
    ('ghcr.io\n', 'contains whitespace U+000A'),
    ('gh\u200bcr.io', 'contains the control character U+200B'),
    ('ghcr.io:', 'has a port that is not a number from 1 to 65535'),
    ('ghcr.io:0', 'has a port that is not a number from 1 to 65535'),
    ('ghcr.io:65536', 'has a port that is not a number from 1 to 65535'),
    ('ghcr.io:http', 'has a port that is not a number from 1 to 65535'),
    ('ghcr.io:5000:1', 'has a port that is not a number'),
    ('ghcr.io:\u0665', 'has a port that is not a number'),   # an Arabic-Indic digit: isdigit, not ASCII
    ('-ghcr.io', 'is not a valid registry name'),
    ('ghcr-.io', 'is not a valid registry name'),
    ('ghcr..io', 'is not a valid registry name'),
    ('ghcr.io.', 'is not a valid registry name'),
    ('.ghcr.io', 'is not a valid registry name'),
    ('gh_cr.io', 'is not a valid registry name'),
    ('ghcr.iö', 'is not a valid registry name'),
    ('x' * 64 + '.io', 'is not a valid registry name'),
    ('.'.join(['a' * 60] * 5), 'is not a valid registry name'),   # longer than 253
    ('999.1.1.1', 'is not a valid registry name'),
    (':5000', 'is not a valid registry name'),
    ('::1', 'an IPv6 address goes in brackets'),
    ('[::1', 'is not a valid registry name'),
    ('[::1]5000', 'is not a valid registry name'),
    ('[fe80::1%eth0]', 'is not a valid registry name'),
    ('[registry]', 'is not a valid registry name'),
])
def test_registry_names_refused_say_what_form_is_expected(host, reason):
    message = refused(validate_registry, host, 'docker_mirrors_registries key')
    assert message.startswith('docker_mirrors_registries key ')
    assert reason in message
    assert 'ghcr.io or registry.corp.example:5000' in message


def test_registry_name_shows_the_value():
    message = refused(validate_registry, 'https://ghcr.io', 'registries key')
    assert message.startswith("registries key 'https://ghcr.io' is a URL")


@pytest.mark.parametrize('host', ['ci:Pw4Registry@ghcr.io', 'Pw4Registry@ghcr.io', 'https://ci:Pw4Registry@ghcr.io',
                                  'ghcr.io/x?token=Pw4Registry'])
def test_registry_name_with_credentials_is_refused_without_showing_them(host):
    message = refused(validate_registry, host, 'registries key')
    assert 'Pw4Registry' not in message
    assert '***' in message


@pytest.mark.parametrize('value, reason', [
    ('', 'registries key is empty'),
    (None, 'registries key must be a string'),
    (5000, 'registries key must be a string'),
    (['ghcr.io'], 'registries key must be a string'),
])
def test_registry_name_must_be_a_string(value, reason):
    assert reason in refused(validate_registry, value, 'registries key')


def test_docker_hub_aliases():
    assert DOCKER_HUB_ALIASES == ('docker.io', 'index.docker.io', 'registry-1.docker.io')
    for alias in DOCKER_HUB_ALIASES:
        assert validate_registry(alias, 'x') == alias   # a valid name: refusing it is the caller's policy


# ---------------------------------------------------------------------------
# parse_image
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('ref, registry, expected', [
    ('library/hello:latest', 'docker.io', ('library/hello', 'latest', 'docker.io/library/hello:latest')),
    ('hello', 'docker.io', ('library/hello', 'latest', 'docker.io/library/hello:latest')),
    ('hello:1.2', 'docker.io', ('library/hello', '1.2', 'docker.io/library/hello:1.2')),
    ('hello', 'index.docker.io', ('library/hello', 'latest', 'index.docker.io/library/hello:latest')),
    ('hello', 'ghcr.io', ('hello', 'latest', 'ghcr.io/hello:latest')),
    ('acme/hello', 'ghcr.io', ('acme/hello', 'latest', 'ghcr.io/acme/hello:latest')),
    ('acme/tools:1.2', 'quay.io', ('acme/tools', '1.2', 'quay.io/acme/tools:1.2')),
    ('acme/x@' + SHA256, 'ghcr.io', ('acme/x', SHA256, 'ghcr.io/acme/x@' + SHA256)),
    ('acme/x:v1@' + SHA256, 'ghcr.io', ('acme/x', SHA256, 'ghcr.io/acme/x:v1@' + SHA256)),
    ('acme/x@' + SHA512, 'ghcr.io', ('acme/x', SHA512, 'ghcr.io/acme/x@' + SHA512)),
    ('a/b/c/d:T_1.x-y', 'registry.corp.example:5000',
     ('a/b/c/d', 'T_1.x-y', 'registry.corp.example:5000/a/b/c/d:T_1.x-y')),
    ('my_org/my__app.v2/x--y', 'gcr.io', ('my_org/my__app.v2/x--y', 'latest', 'gcr.io/my_org/my__app.v2/x--y:latest')),
    ('localhost', 'docker.io', ('library/localhost', 'latest', 'docker.io/library/localhost:latest')),
    ('pause:3.10', 'registry.k8s.io', ('pause', '3.10', 'registry.k8s.io/pause:3.10')),
    ('acme/hello:' + 'x' * 128, 'ghcr.io', ('acme/hello', 'x' * 128, 'ghcr.io/acme/hello:' + 'x' * 128)),
])
def test_image_references_accepted(ref, registry, expected):
    repository, reference, shown = expected
    assert parse_image(ref, registry, 'probe_images') == {
        'repository': repository, 'reference': reference, 'shown': shown}


@pytest.mark.parametrize('ref, reason', [
    ('ghcr.io/acme/hello', "starts with a registry host (ghcr.io); give the path on ghcr.io without the registry "
                           "('acme/hello')"),
    ('GHCR.IO/acme/hello', 'starts with a registry host (GHCR.IO); give the path on ghcr.io without the registry'),
    ('quay.io/acme/hello:1', 'starts with a registry host (quay.io); give the path on ghcr.io without the registry'),
    ('localhost/acme', 'starts with a registry host (localhost)'),
    ('mirror:5000/acme', 'starts with a registry host (mirror:5000)'),
    ('https://ghcr.io/acme/hello', 'is a URL; give the path on ghcr.io without the registry'),
    ('Acme/hello', "has uppercase letters in its repository 'Acme/hello'; repository names are lowercase"),
    ('acme/Hello:latest', 'has uppercase letters in its repository'),
    ('acme//hello', 'has an empty component in its repository'),
    ('/acme/hello', 'has an empty component in its repository'),
    ('acme/hello/', 'has an empty component in its repository'),
    ('acme/-hello', "has '-hello' in its repository, not a valid path component"),
    ('acme/hello_', "has 'hello_' in its repository"),
    ('acme/he___llo', "has 'he___llo' in its repository"),
    ('acme/he..llo', "has 'he..llo' in its repository"),
    ('acme/hé', "has 'hé' in its repository"),
    ('acme/hello:', "has the tag '', which is not valid"),
    ('acme/hello:.hidden', "has the tag '.hidden', which is not valid"),
    ('acme/hello:-x', "has the tag '-x', which is not valid"),
    ('acme/hello:a+b', "has the tag 'a+b', which is not valid"),
    ('acme/hello:' + 'x' * 129, 'which is not valid: a tag is 1 to 128'),
    ('acme/hello@', "has the digest '', which is not valid"),
    ('acme/hello@sha256', "has the digest 'sha256', which is not valid"),
    ('acme/hello@sha256:abc', "has the digest 'sha256:abc', which is not valid"),
    ('acme/hello@sha256:' + 'a3' * 33, 'which is not valid: a digest is sha256:'),
    ('acme/hello@sha256:' + 'A3' * 32, 'which is not valid: a digest is sha256:'),
    ('acme/hello@sha256:' + 'g3' * 32, 'which is not valid'),
    ('acme/hello@md5:' + 'a3' * 16, "has a digest with the algorithm 'md5', which registries do not support"),
    ('acme/hello@' + SHA256 + '@' + SHA256, 'which is not valid: a digest'),
    (':latest', 'has no repository'),
    ('@' + SHA256, 'has no repository'),
    ('acme/hello latest', 'contains whitespace'),
    ('acme/hello\n', 'contains whitespace U+000A'),
    ('acme/\x00hello', 'contains the control character U+0000'),
    ('a/' + 'b' * 250, 'is too long: a name with its registry has at most 255 characters'),
])
def test_image_references_refused_name_the_option_and_the_value(ref, reason):
    message = refused(parse_image, ref, 'ghcr.io', "probe_images['ghcr.io']")
    assert message.startswith("probe_images['ghcr.io'] ")
    assert reason in message


def test_refused_reference_is_shown_escaped():
    message = refused(parse_image, 'acme/hello\n', 'ghcr.io', 'probe_images')
    assert message.startswith("probe_images 'acme/hello\\n' contains")


@pytest.mark.parametrize('value, reason', [
    ('', 'probe_images is empty'),
    (None, 'probe_images must be a string'),
    (['acme/hello'], 'probe_images must be a string'),
])
def test_image_reference_must_be_a_string(value, reason):
    assert reason in refused(parse_image, value, 'ghcr.io', 'probe_images')


def test_docker_hub_name_with_the_registry_gets_the_path_hint():
    message = refused(parse_image, 'docker.io/library/hello', 'docker.io', 'docker_mirrors_probe_images')
    assert "give the path on docker.io without the registry ('library/hello')" in message


def test_a_digest_is_shown_whole_in_a_message():
    message = refused(parse_image, 'acme/hello@sha256:abc', 'ghcr.io', 'probe_images')
    assert message.startswith("probe_images 'acme/hello@sha256:abc' has the digest 'sha256:abc', which is not valid")
    message = refused(parse_image, 'Hello@' + SHA256, 'docker.io', 'probe_images')
    assert message.startswith("probe_images 'Hello@%s' has uppercase letters" % SHA256)


@pytest.mark.parametrize('ref', ['ci:Pw4Image@registry.corp.example:5000/acme/x', 'ci:Pw4Image@ghcr.io/acme/x',
                                 'https://ci:Pw4Image@ghcr.io/acme/x', 'ci:Pw4Image@acme'])
def test_credentials_written_into_a_reference_are_never_shown(ref):
    message = refused(parse_image, ref, 'ghcr.io', 'probe_images')
    assert 'Pw4Image' not in message
