# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every validation, parsing and redaction rule of module_utils/_policy.py."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    build_goproxy,
    escape_module_path,
    GoProxyEntry,
    matches_every_module,
    module_pattern_matches,
    note_key_hash,
    parse_goproxy,
    parse_gosumdb,
    SumDB,
    validate_goflags,
    validate_goproxy_url,
    validate_gotoolchain,
    validate_module_patterns,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    has_credentials,
    redact_url,
    show,
    url_secrets,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    validate_insecure_registries,
    validate_registry_mirror,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
    refuse_unsafe_characters,
)
from ansible_collections.buildfleet.mirrors.plugins.filter.policy import (
    go_environment,
    validate_go_policy,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_outputs import service_names

# A real Ed25519 verifier key (note.GenerateKey's format) and the key of sum.golang.org as the go command has it.
GO_KEY = 'sum.corp.example.com+d67b3b17+AZKHxjQHbRA8/wKDHoEKai2Chpql/U41cPPBXJNlsiyu'
SUM_GOLANG_ORG_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8'


def verifier_key(name, key=b'\x01' + bytes(range(32))):
    """A verifier key as note.GenerateKey writes it: name+<first 4 bytes of SHA-256(name, newline, key)>+base64."""
    key_hash = hashlib.sha256(name.encode() + b'\n' + key).digest()[:4].hex()
    return '%s+%s+%s' % (name, key_hash, base64.b64encode(key).decode())


def refused(function, *args, **kwargs):
    """Call a validator that must refuse its input; return the message."""
    with pytest.raises(PolicyError) as caught:
        function(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


# ---------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('url, expected', [
    ('https://user:s3cret@proxy.example.com/', 'https://***@proxy.example.com/'),
    ('https://ghp_T0KEN@proxy.example.com/x', 'https://***@proxy.example.com/x'),
    ('https://u:p%40ss@proxy.example.com', 'https://***@proxy.example.com'),
    ('https://proxy.example.com/?token=abc123', 'https://proxy.example.com/?token=***'),
    ('https://proxy.example.com/?a=1&password=pw&b=2', 'https://proxy.example.com/?a=1&password=***&b=2'),
    ('https://s3.example.com/x?X-Amz-Signature=f00&X-Amz-Credential=AKIA', 'https://s3.example.com/x?X-Amz-Signature=***&X-Amz-Credential=***'),
    ('https://proxy.example.com/?api_key=k&Access_Token=t', 'https://proxy.example.com/?api_key=***&Access_Token=***'),
    ('https://proxy.example.com/#access_token=t', 'https://proxy.example.com/#access_token=***'),
    ('https://proxy.example.com/?page=2&sort=name', 'https://proxy.example.com/?page=2&sort=name'),
    ('https://u:p@[::1', 'https://***@[::1'),                  # malformed, still redacted
    ('https://u:p?q#f@host/', 'https://***@host/'),            # a password holding ? and #
    ('user:pw@host.example.com', '***@host.example.com'),      # no scheme
    ('https://proxy.example.com/', 'https://proxy.example.com/'),
    ('direct', 'direct'),
])
def test_redact_url_hides_credentials(url, expected):
    assert redact_url(url) == expected


def test_redact_url_leaves_non_strings_alone():
    assert redact_url(None) is None
    assert redact_url(5) == 5


# Whole userinfo only: older ansible-core masks no_log values in no set order, so a password registered apart could be
# masked first and leave 'user:' in front of the mask (ansible-core 2.19 masks the longest first).
@pytest.mark.parametrize('url, secrets', [
    ('https://user:s3cret@h/', ['user:s3cret']),
    ('https://T0KEN@h/', ['T0KEN']),
    ('https://u:p%40ss@h/', ['u:p%40ss', 'u:p@ss']),
    ('https://h/?token=abc&page=2', ['abc']),
    ('https://h/?page=2', []),
])
def test_url_secrets_lists_raw_and_decoded_credentials(url, secrets):
    assert url_secrets(url) == sorted(secrets)
    assert has_credentials(url) is bool(secrets)


def test_show_quotes_redacts_and_escapes():
    assert show('https://u:p@h/\n') == "'https://***@h/\\n'"
    assert show('a\tb\x00') == "'a\\tb\\u0000'"
    assert show(['x']) == "['x'] (a list)"


# Every URL inside a value counts, not only one at its start.
@pytest.mark.parametrize('text, expected', [
    # a joined GOPROXY: credentials in the second and third entries
    ('https://a.example,https://u:Pw2nd@b.example|https://T0k3rd@c.example/?token=Q1',
     'https://a.example,https://***@b.example|https://***@c.example/?token=***'),
    # GOSUMDB's 'name+hash+key url' form
    (SUM_GOLANG_ORG_KEY + ' https://user:SumPw@sum.corp.example.com/sumdb',
     SUM_GOLANG_ORG_KEY + ' https://***@sum.corp.example.com/sumdb'),
    # a message naming several mirrors
    ('goproxy https://a:Pw1@a.example/: connection refused; gosumdb https://b:Pw2@b.example/latest: timed out',
     'goproxy https://***@a.example/: connection refused; gosumdb https://***@b.example/latest: timed out'),
    ("entries 'https://x.example' and 'http://ci:Pw3@y.example:8080/go'",
     "entries 'https://x.example' and 'http://***@y.example:8080/go'"),
    # a scheme-less entry after a URL, and one before it
    ('https://a.example,ci:Pw4@b.example', 'https://***@b.example'),
    ('ci:Pw5@b.example,https://a.example', '***@b.example,https://a.example'),
])
def test_redact_url_hides_the_credentials_of_every_url_in_a_value(text, expected):
    assert redact_url(text) == expected
    assert has_credentials(text)


@pytest.mark.parametrize('url, expected', [
    # a password with a raw '/': urllib reads host 'u', path '/en@host'; the whole password is hidden all the same
    ('https://u:S3cr/Et9@proxy.example.com/go', 'https://***@proxy.example.com/go'),
    ('https://u:S3cr/Et9/x@proxy.example.com', 'https://***@proxy.example.com'),
    ('https://u:S3cr/@proxy.example.com', 'https://***@proxy.example.com'),
    # a raw '@' in the password: everything before the last '@' of the authority
    ('https://u:Zq7x@Wv4k@proxy.example.com', 'https://***@proxy.example.com'),
    # a password that looks like a scheme
    ('https://u:a://Bq9@proxy.example.com', 'https://***@proxy.example.com'),
    ('https://a.example,https://u:S3cr/Et9@b.example', 'https://a.example,https://***@b.example'),
])
def test_redact_url_hides_a_malformed_password_whole(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize('url', [
    'https://proxy.example.com/corp.example.com/lib/@v/list',   # the GOPROXY protocol's '/@v/'
    'https://proxy.example.com:8443/corp.example.com/lib/@latest',
    'http://[::1]:8080/x/@v/list',
    'https://a.example,https://b.example|direct',
])
def test_redact_url_leaves_urls_without_credentials_alone(url):
    assert redact_url(url) == url
    assert not has_credentials(url)
    assert url_secrets(url) == []


def test_url_secrets_covers_every_url_of_a_joined_value():
    secrets = url_secrets('https://a.example,https://u:Pw2nd@b.example|https://T0k3rd@c.example')
    assert {'u:Pw2nd', 'T0k3rd'} <= set(secrets)
    assert 'user:SumPw' in url_secrets(SUM_GOLANG_ORG_KEY + ' https://user:SumPw@sum.corp.example.com')
    assert 'u:S3cr/Et9' in url_secrets('https://u:S3cr/Et9@proxy.example.com')


@pytest.mark.parametrize('url', ['https://***@a.example', 'https://a.example/?token=***', 'https://u:***@a.example'])
def test_a_redacted_url_has_no_secret_to_mask(url):
    """A module hands url_secrets() to no_log_values: '***' there turned every redacted URL into '********'."""
    assert '***' not in url_secrets(url)
    assert redact_url(url).count('***') == 1


def test_show_redacts_every_url_of_a_value():
    assert show('https://a.example|https://u:Pw2nd@b.example') == "'https://a.example|https://***@b.example'"


def test_show_redacts_a_value_that_is_no_string_and_names_its_plain_type():
    """A list given where a string belongs was shown with repr(), credentials included."""
    assert show(['https://u:Pw3rd@b.example']) == "['https://***@b.example'] (a list)"

    class TaggedList(list):
        pass
    assert show(TaggedList(['x'])) == "['x'] (a list)"


# ---------------------------------------------------------------------------
# Unsafe characters
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, described', [
    ('corp.example.com/a b', 'a space'),
    ('corp.example.com/a\tb', 'a tab'),
    ('corp.example.com/a\nb', 'a newline'),
    ('corp.example.com/a\rb', 'a carriage return'),
    ("corp.example.com/a'b", 'a single quote'),
    ('corp.example.com/a"b', 'a double quote'),
    ('corp.example.com/$(touch /tmp/pwned)', "a '$'"),
    ('corp.example.com/`id`', 'a backtick'),
    ('corp.example.com/a;b', "a ';'"),
    ('corp.example.com/a\\b', 'a backslash'),
    ('corp.example.com/a\x00b', 'the control character U+0000'),
    ('corp.example.com/a\x7fb', 'the control character U+007F'),
    ('corp.example.com/a\u202eb', 'the control character U+202E'),  # right-to-left override
    ('corp.example.com/a\u00a0b', 'whitespace U+00A0'),
])
def test_unsafe_characters_are_refused_with_the_variable_name(value, described):
    message = refused(refuse_unsafe_characters, value, 'go_proxy_private', entry=True)
    assert message.startswith('go_proxy_private entry ')
    assert described in message


@pytest.mark.parametrize('value', ['https://proxy.example.com/a?b=1&c=2', 'corp.example.com/*', '-mod=mod', 'ü.example'])
def test_safe_values_pass(value):
    assert refuse_unsafe_characters(value, 'v') == value


@pytest.mark.parametrize('value, message', [(None, 'v must be a string'), ('', 'v is empty'), (3, 'v must be a string')])
def test_values_must_be_non_empty_strings(value, message):
    assert message in refused(refuse_unsafe_characters, value, 'v')


# ---------------------------------------------------------------------------
# GOPROXY
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, entries', [
    ('https://a.example', [GoProxyEntry('https://a.example')]),
    ('https://a.example,https://b.example|direct',
     [GoProxyEntry('https://a.example', ','), GoProxyEntry('https://b.example', '|'), GoProxyEntry('direct')]),
    ('off', [GoProxyEntry('off')]),
    ('file:///srv/goproxy,http://127.0.0.1:3000/go', [GoProxyEntry('file:///srv/goproxy', ','),
                                                      GoProxyEntry('http://127.0.0.1:3000/go')]),
    (['https://a.example', 'direct'], [GoProxyEntry('https://a.example', ','), GoProxyEntry('direct')]),
    (['https://u:p@a.example/?token=t'], [GoProxyEntry('https://u:p@a.example/?token=t')]),
])
def test_parse_goproxy(value, entries):
    assert parse_goproxy(value) == entries
    assert [entry.is_keyword for entry in entries] == [entry.value in ('direct', 'off') for entry in entries]


@pytest.mark.parametrize('value, message', [
    ('direct,https://x.example', "goproxy entry 'https://x.example' comes after 'direct'"),
    ('off|https://x.example', "goproxy entry 'https://x.example' comes after 'off'"),
    (['https://a.example', 'off', 'https://x.example'], "goproxy entry 'https://x.example' comes after 'off'"),
    ('direct,off', "goproxy entry 'off' comes after 'direct'"),
    ('htp://x', "goproxy entry 'htp://x' has scheme 'htp'; use https, http or file"),
    ('ftp://x.example', "has scheme 'ftp'"),
    ('proxy.example.com', "goproxy entry 'proxy.example.com' has no scheme"),
    ('DIRECT', "goproxy entry 'DIRECT' has no scheme"),
    ('https://', "goproxy entry 'https://' has no host"),
    ('https://:8080/', 'has no host'),
    ('https://a.example:99999', 'is not a valid URL'),
    ('https://a.example:0', 'is not a valid URL'),
    ('http://[::1', 'is not a valid URL'),
    ('https://a.example/#frag', 'has a fragment'),
    ('file://host/srv/goproxy', 'must be file:// followed by an absolute path'),
    ('file:relative/path', "goproxy entry 'file:relative/path' has no scheme"),
    ('https://a.example,,https://b.example', 'has an empty entry'),
    ('https://a.example,', 'has an empty entry'),
    ('', 'goproxy is empty'),
    ([], 'goproxy is an empty list'),
    (['https://a.example,https://b.example'], "contains ','; give one proxy per list item"),
    (['https://a.example|direct'], "contains '|'"),
    ([''], 'goproxy entry is empty'),
    ([3], 'goproxy entry must be a string'),
    ({'url': 'https://a.example'}, 'goproxy must be a list or a GOPROXY string'),
    ('https://a.example/$HOME', "contains a '$'"),
    ('https://a.example/ https://b.example', 'contains a space'),
])
def test_parse_goproxy_refuses(value, message):
    assert message in refused(parse_goproxy, value, 'goproxy')


def test_goproxy_errors_never_show_credentials():
    message = refused(parse_goproxy, 'direct,https://ci:Pa55word@a.example/?token=T0k', 'go_proxy_urls')
    assert 'Pa55word' not in message and 'T0k' not in message and 'ci:' not in message
    assert "'https://***@a.example/?token=***'" in message


# Reserved characters in credentials must be percent-encoded; the refusal never shows any part of them.
RAW_USERINFO_URLS = [
    ('https://ci:S3cr/Et9@proxy.example.com', ['S3cr', 'Et9']),
    ('https://ci:S3cr/@proxy.example.com', ['S3cr']),
    ('https://ci:Zq7x@Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
    ('https://ci:Zq7x?Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
    ('https://ci:Zq7x[Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
    ('https://ci:Zq7x]Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
    ('https://ci:Zq7x%Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
    ('https://ci:Zq7x|Wv4k@proxy.example.com', ['Zq7x', 'Wv4k']),
]


@pytest.mark.parametrize('url, secret_parts', RAW_USERINFO_URLS)
@pytest.mark.parametrize('check', [
    lambda url: validate_goproxy_url(url, 'go_proxy_urls'),
    lambda url: parse_gosumdb(GO_KEY + ' ' + url, 'go_proxy_sumdb'),
    lambda url: validate_registry_mirror(url, 'docker_mirrors_registry_mirrors'),
], ids=['goproxy', 'gosumdb', 'registry'])
def test_unencoded_reserved_characters_in_credentials_are_refused_without_showing_them(check, url, secret_parts):
    message = refused(check, url)
    assert 'must be percent-encoded' in message or "contains '|'" in message, message
    if 'percent' in message:
        assert '/ as %2F, @ as %40' in message
    for part in secret_parts:
        assert part not in message, message
    assert 'https://***@proxy.example.com' in message


def test_an_at_sign_in_the_path_must_be_encoded_too():
    """'https://proxy/x@y' could be a password cut by a raw '/'; an '@' that belongs to the path is written %40."""
    assert "'@' that belongs in the path is written %40" in refused(
        validate_goproxy_url, 'https://proxy.example.com/team@corp', 'go_proxy_urls')


@pytest.mark.parametrize('url', ['https://ci:S3cr%2FEt9@proxy.example.com', 'https://ci:Zq7x%40Wv4k@proxy.example.com',
                                 "https://c.i-x_y~z:a!b*c(d)e+f=g,h:i@proxy.example.com",
                                 'https://proxy.example.com/corp/@v/list'])
def test_percent_encoded_credentials_pass(url):
    assert validate_goproxy_url(url.replace(',', '%2C'), 'go_proxy_urls')


def test_a_port_that_is_no_number_is_refused_without_quoting_it():
    message = refused(validate_goproxy_url, 'https://proxy.example.com:8o80/', 'go_proxy_urls')
    assert message.endswith('is not a valid URL: its port is not a number from 1 to 65535')


@pytest.mark.parametrize('urls, separator', [
    (['https://a.example,https://b.example'], ','),
    (['https://a.example|https://b.example'], '|'),
    (['https://a.example', 'https://b.example/?x=1,2'], ','),
])
def test_goproxy_separators_inside_a_proxy_url_are_refused(urls, separator):
    """build_goproxy (and so the role's filters) joined them as they were, with the gate off nothing else caught it."""
    message = refused(build_goproxy, urls, 'direct', 'not_found')
    assert message.startswith('go_proxy_urls entry ')
    assert "contains '%s', which separates GOPROXY entries; give one proxy per list item" % separator in message
    assert "contains '%s'" % separator in refused(validate_go_policy, {'go_proxy_urls': urls})


def test_a_separator_refusal_hides_credentials():
    message = refused(validate_go_policy, {'go_proxy_urls': ['https://a.example,https://ci:Sekr1tX@b.example']})
    assert 'Sekr1tX' not in message
    assert "'https://a.example,https://***@b.example'" in message


@pytest.mark.parametrize('url', ['https://a.example/go?token=t', 'HTTPS://A.example', 'http://[::1]:8080/', 'file:///srv/goproxy',
                                 'file:/srv/goproxy'])
def test_validate_goproxy_url_accepts(url):
    assert validate_goproxy_url(url, 'go_proxy_urls') == url


@pytest.mark.parametrize('urls, fallback, fallthrough, expected', [
    (['https://a.example', 'https://b.example'], 'direct', 'not_found', 'https://a.example,https://b.example,direct'),
    (['https://a.example', 'https://b.example'], 'off', 'any_error', 'https://a.example|https://b.example|off'),
    (['https://a.example'], 'none', 'not_found', 'https://a.example'),
    ([], 'direct', 'not_found', 'direct'),
    (None, 'off', 'not_found', 'off'),
])
def test_build_goproxy(urls, fallback, fallthrough, expected):
    assert build_goproxy(urls, fallback, fallthrough) == expected


@pytest.mark.parametrize('urls, fallback, fallthrough, message', [
    (['https://a.example'], 'proxy', 'not_found', "go_proxy_urls fallback 'proxy' is not one of direct, off, none"),
    (['https://a.example'], 'direct', 'always', "go_proxy_urls fallthrough 'always' is not one of not_found, any_error"),
    (['https://a.example', 'direct'], 'direct', 'not_found', "go_proxy_urls entry 'direct' is a keyword, not a URL"),
    ([], 'none', 'not_found', "go_proxy_urls is empty and the fallback is 'none'"),
    ('https://a.example', 'direct', 'not_found', 'go_proxy_urls must be a list of proxy URLs'),
    (['htp://a.example'], 'direct', 'not_found', "go_proxy_urls entry 'htp://a.example' has scheme 'htp'"),
])
def test_build_goproxy_refuses(urls, fallback, fallthrough, message):
    assert message in refused(build_goproxy, urls, fallback, fallthrough)


# ---------------------------------------------------------------------------
# GOSUMDB
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('sum.golang.org', SumDB('sum.golang.org', 'sum.golang.org', None, 'https://sum.golang.org', False)),
    ('sum.golang.google.cn', SumDB('sum.golang.google.cn', 'sum.golang.org', None, 'https://sum.golang.google.cn', True)),
    (GO_KEY, SumDB(GO_KEY, 'sum.corp.example.com', GO_KEY, 'https://sum.corp.example.com', False)),
    (GO_KEY + ' http://127.0.0.1:8443/sumdb',
     SumDB(GO_KEY + ' http://127.0.0.1:8443/sumdb', 'sum.corp.example.com', GO_KEY, 'http://127.0.0.1:8443/sumdb', True)),
])
def test_parse_gosumdb(value, expected):
    assert parse_gosumdb(value) == expected


def test_note_key_hash_is_that_of_the_go_command():
    name, key_hash, key = SUM_GOLANG_ORG_KEY.split('+', 2)
    assert note_key_hash(name, base64.b64decode(key)) == int(key_hash, 16) == 0x033de0ae


@pytest.mark.parametrize('value', [SUM_GOLANG_ORG_KEY, SUM_GOLANG_ORG_KEY + ' https://sum.corp.example.com',
                                   GO_KEY, verifier_key('sum.corp.example.com:8443/db')])
def test_real_verifier_keys_pass(value):
    assert parse_gosumdb(value, 'go_proxy_sumdb').key == value.split(' ')[0]


def _tampered(key, position):
    """The key with one base64 character of its public key changed."""
    name, key_hash, encoded = key.split('+', 2)
    encoded = encoded[:position] + ('B' if encoded[position] != 'B' else 'C') + encoded[position + 1:]
    return '+'.join((name, key_hash, encoded))


@pytest.mark.parametrize('value, problem', [
    (_tampered(SUM_GOLANG_ORG_KEY, 10), "has hash '033de0ae', which does not match its name and public key"),
    (_tampered(SUM_GOLANG_ORG_KEY, 43), 'which does not match'),
    ('sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8', "has hash '033de0af', which does not"),
    ('sum.golang.com+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8', 'which does not match'),
    (verifier_key('sum.corp.example.com', b'\x01' + bytes(31)), 'has a public key of 32 bytes; an Ed25519 key is 33'),
    (verifier_key('sum.corp.example.com', b'\x01' + bytes(33)), 'has a public key of 34 bytes'),
    (verifier_key('sum.corp.example.com', b'\x02' + bytes(32)), 'has a public key of algorithm 2; Go knows only 1'),
    (verifier_key('sum.corp.example.com', bytes(range(32))), 'has a public key of algorithm 0'),
])
def test_verifier_keys_go_would_refuse_are_refused(value, problem):
    """Go's note.NewVerifier refuses these keys, and with them every module download: so does the policy."""
    message = refused(parse_gosumdb, value + ' https://sum.corp.example.com', 'go_proxy_sumdb')
    assert message.startswith("go_proxy_sumdb '%s" % value.split('+')[0])
    assert problem in message


def test_the_hash_that_would_fit_an_altered_key_is_never_offered():
    """Fitted to a damaged or altered key, it would make Go trust that key."""
    altered = _tampered(GO_KEY, 20)
    name, dummy, key = altered.split('+', 2)
    message = refused(parse_gosumdb, altered, 'go_proxy_sumdb')
    assert 'which does not match its name and public key' in message
    assert '%08x' % note_key_hash(name, base64.b64decode(key)) not in message


def test_gosumdb_off_means_no_database():
    assert parse_gosumdb('off') is None


@pytest.mark.parametrize('value, message', [
    (GO_KEY + ' https://a.example extra', "has 3 fields; GOSUMDB takes 'name', 'name+hash+key', 'name+hash+key url' or 'off'"),
    (GO_KEY + '  https://a.example', 'has a leading, trailing or double space'),
    (' sum.golang.org', 'has a leading, trailing or double space'),
    ('sum.golang.org\thttps://a.example', 'contains a tab'),
    ('sum.golang.org;id', "contains a ';'"),
    ('sum.corp.example.com', "names the database 'sum.corp.example.com' without its public key"),
    ('sum.corp.example.com+zz+AajX', "the key has hash 'zz', not 8 hexadecimal digits"),
    ('sum.corp.example.com+1a2b3c4d', 'the key has 2 part(s) separated by +, not 3'),
    ('sum.corp.example.com+1a2b3c4d+not*base64', 'the key ends with a public key that is not base64'),
    ('https://sum.corp.example.com', 'starts with a URL'),
    (GO_KEY + ' sum.corp.example.com', "gosumdb URL 'sum.corp.example.com' has no scheme"),
    (GO_KEY + ' ftp://sum.corp.example.com', "has scheme 'ftp'; use https or http"),
    (GO_KEY + ' https://', 'has no host'),
    (GO_KEY + ' https://a.example/#x', 'has a fragment'),
    (GO_KEY + ' https://a.example/#', 'has a fragment'),
    (verifier_key('bad_name'), "has database name 'bad_name'"),
    ('', 'gosumdb is empty'),
    (None, 'gosumdb must be a string'),
])
def test_parse_gosumdb_refuses(value, message):
    assert message in refused(parse_gosumdb, value, 'gosumdb')


# ---------------------------------------------------------------------------
# Registry mirrors and insecure registries
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('url, allow_path, expected', [
    ('https://mirror.example.com', False, 'https://mirror.example.com/'),
    ('https://mirror.example.com/', False, 'https://mirror.example.com/'),
    ('http://127.0.0.1:5000', False, 'http://127.0.0.1:5000/'),
    ('http://[::1]:5000/', False, 'http://[::1]:5000/'),
    ('https://mirror.example.com/dockerhub', True, 'https://mirror.example.com/dockerhub/'),
])
def test_validate_registry_mirror_normalises_like_dockerd(url, allow_path, expected):
    assert validate_registry_mirror(url, 'docker_mirrors_registry_mirrors', allow_path) == expected


@pytest.mark.parametrize('url, message', [
    ('mirror.example.com:5000', 'has no scheme; dockerd needs https:// or http://'),
    ('ftp://mirror.example.com', "has scheme 'ftp'; dockerd accepts only https and http"),
    ('https://mirror.example.com/?x=1', 'has a query'),
    ('https://mirror.example.com/?', 'has a query'),
    ('https://mirror.example.com/#x', 'has a fragment'),
    ('https://user:pass@mirror.example.com', 'carries credentials (user:password@)'),
    ('https://', 'has no host'),
    ('https://mirror.example.com:70000', 'is not a valid URL'),
    ('https://mirror.example.com/dockerhub', "has a path ('/dockerhub'); Docker Engine before 24 refuses"),
    ('https://mirror.example.com/a b', 'contains a space'),
])
def test_validate_registry_mirror_refuses_what_dockerd_refuses(url, message):
    full = refused(validate_registry_mirror, url, 'docker_mirrors_registry_mirrors')
    assert full.startswith('docker_mirrors_registry_mirrors entry ')
    assert message in full


def test_registry_credentials_are_redacted_in_the_refusal():
    message = refused(validate_registry_mirror, 'https://robot:Zx9SecretQ@mirror.example.com', 'm')
    assert 'Zx9SecretQ' not in message and 'robot' not in message


@pytest.mark.parametrize('urls, message', [([], 'm is an empty list'), ('https://a.example', 'm must be a list of URLs')])
def test_validate_registry_mirrors_wants_a_non_empty_list(urls, message):
    assert message in refused(validate_registry_mirrors, urls, 'm')


def test_validate_registry_mirrors_checks_every_entry():
    assert validate_registry_mirrors(['https://a.example', 'http://b.example/'], 'm') == ['https://a.example/', 'http://b.example/']
    assert "'ftp://b.example'" in refused(validate_registry_mirrors, ['https://a.example', 'ftp://b.example'], 'm')


@pytest.mark.parametrize('entries', [
    [], ['mirror.example.com:5000', '10.0.0.0/8', 'fd00::/8', '127.0.0.1', '[::1]:5000', 'localhost', 'a-b.example:443']])
def test_validate_insecure_registries_accepts(entries):
    assert validate_insecure_registries(entries, 'i') == entries


@pytest.mark.parametrize('entries, message', [
    (['http://mirror.example.com:5000'], 'is a URL; dockerd wants host[:port] or a CIDR'),
    (['10.0.0.0/33'], 'is neither host[:port] nor a CIDR'),
    (['mirror.example.com/path'], 'is neither host[:port] nor a CIDR'),
    (['u@mirror.example.com'], 'is neither host[:port] nor a CIDR'),
    (['mirror.example.com:port'], 'is not a valid URL'),
    ('mirror.example.com', 'i must be a list'),
    (['a b'], 'contains a space'),
    (['my_registry:5000'], "'my_registry:5000' is not a valid host name"),
    (['-corp'], "'-corp' is not a valid host name"),
    (['corp-.example.com'], "'corp-.example.com' is not a valid host name"),
])
def test_validate_insecure_registries_refuses(entries, message):
    assert message in refused(validate_insecure_registries, entries, 'i')


# ---------------------------------------------------------------------------
# Module path patterns, GOFLAGS, GOTOOLCHAIN, module path escaping
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (['corp.example.com/*', '*.internal.example.com'], ['corp.example.com/*', '*.internal.example.com']),
    ('corp.example.com,git.example.com/team', ['corp.example.com', 'git.example.com/team']),
    (['none'], ['none']),
    (['corp.example.com/[ab]*'], ['corp.example.com/[ab]*']),
    (None, []),
    ('', []),
])
def test_validate_module_patterns(value, expected):
    assert validate_module_patterns(value, 'go_proxy_private') == expected


@pytest.mark.parametrize('value, message', [
    (['https://corp.example.com'], 'is a URL; a module path pattern has no scheme'),
    (['corp.example.com/[ab'], "has an unclosed '['"),
    (['corp.example.com/[[a]'], "has an unclosed '['"),
    (['a.example,b.example'], "contains ','; give one pattern per list item"),
    (['corp.example.com/$(touch /tmp/pwned)'], "contains a '$'"),
    (['corp.example.com/#x'], "contains '#', where /etc/environment (pam_env) would cut the value"),
    ('a.example,,b.example', 'go_proxy_private entry is empty'),
    (5, 'go_proxy_private must be a list or a string'),
])
def test_validate_module_patterns_refuses(value, message):
    assert message in refused(validate_module_patterns, value, 'go_proxy_private')


@pytest.mark.parametrize('value, expected', [
    (['-mod=mod', '-modcacherw', '--tags=netgo,osusergo'], ['-mod=mod', '-modcacherw', '--tags=netgo,osusergo']),
    ('-mod=mod -trimpath', ['-mod=mod', '-trimpath']),
    (None, []),
])
def test_validate_goflags(value, expected):
    assert validate_goflags(value, 'go_proxy_flags') == expected


@pytest.mark.parametrize('value, message', [
    (['-insecure'], "go_proxy_flags entry '-insecure' is refused: Go 1.17 and newer fail every command"),
    (['--insecure'], 'is refused'),
    (['-insecure=false'], 'is refused'),
    (['mod=mod'], 'is not shaped -flag or -flag=value'),
    (['-'], 'is not shaped -flag or -flag=value'),
    (['-mod=mod -x'], 'contains a space'),
    ('-mod=mod  -x', 'go_proxy_flags entry is empty'),
    (['-ldflags=$X'], "contains a '$'"),
    (['-tags=a#b'], "contains '#', where /etc/environment (pam_env) would cut the value"),
])
def test_validate_goflags_refuses(value, message):
    assert message in refused(validate_goflags, value, 'go_proxy_flags')


@pytest.mark.parametrize('value', ['local', 'auto', 'path', 'go1.22.4', 'go1.21rc1', 'go1.21', 'go1.22.4+auto',
                                   'local+path', 'go1.21.0-bigcorp', 'go1.23.0-bigcorp+path'])
def test_validate_gotoolchain_accepts(value):
    assert validate_gotoolchain(value, 'go_proxy_toolchain') == value


@pytest.mark.parametrize('value', ['go1', '1.22.4', 'latest', 'go1.22.4+never', 'auto+path', 'go1.022', 'local '])
def test_validate_gotoolchain_refuses(value):
    assert refused(validate_gotoolchain, value, 'go_proxy_toolchain').startswith('go_proxy_toolchain ')


@pytest.mark.parametrize('path, escaped', [
    ('corp.example.com/platform/lib', 'corp.example.com/platform/lib'),
    ('github.com/Azure/go-autorest', 'github.com/!azure/go-autorest'),
    ('github.com/BurntSushi/TOML', 'github.com/!burnt!sushi/!t!o!m!l'),
    ('gopkg.in/yaml.v3', 'gopkg.in/yaml.v3'),
])
def test_escape_module_path(path, escaped):
    assert escape_module_path(path) == escaped


@pytest.mark.parametrize('path, message', [
    ('https://corp.example.com/lib', 'is not a module path'),
    ('/corp.example.com/lib', 'is not a module path'),
    ('corp.example.com//lib', 'is not a module path'),
    ('corp.example.com/!lib', 'is not a module path'),
    ('corp.example.com/l ib', 'contains a space'),
    ('', 'probe_module is empty'),
])
def test_escape_module_path_refuses(path, message):
    assert message in refused(escape_module_path, path, 'probe_module')


# ---------------------------------------------------------------------------
# The go_proxy role's whole policy
# ---------------------------------------------------------------------------

def test_validate_go_policy_fills_defaults_and_normalises():
    assert validate_go_policy({'go_proxy_urls': ['https://a.example'], 'go_proxy_private': 'corp.example.com/*,x.example',
                               'go_proxy_state': 'present'}) == {
        'go_proxy_urls': ['https://a.example'],
        'go_proxy_fallback': 'direct',
        'go_proxy_fallthrough': 'not_found',
        'go_proxy_allow_sumdb_off': False,
        'go_proxy_allow_insecure_all': False,
        'go_proxy_sumdb': None,
        'go_proxy_private': ['corp.example.com/*', 'x.example'],
        'go_proxy_noproxy': [],
        'go_proxy_nosumdb': [],
        'go_proxy_insecure': [],
        'go_proxy_flags': [],
        'go_proxy_toolchain': None,
    }


@pytest.mark.parametrize('variable, bad_value, message', [
    ('go_proxy_urls', ['direct'], "go_proxy_urls entry 'direct' is a keyword"),
    ('go_proxy_urls', 'https://a.example', 'go_proxy_urls must be a list'),
    ('go_proxy_fallback', 'sometimes', "fallback 'sometimes' is not one of"),
    ('go_proxy_fallthrough', ',', "fallthrough ',' is not one of"),
    ('go_proxy_sumdb', 'a b c', "go_proxy_sumdb 'a b c' has 3 fields"),
    ('go_proxy_sumdb', 'off', "go_proxy_sumdb is 'off', which turns off checksum verification"),
    ('go_proxy_allow_sumdb_off', 'yes', 'go_proxy_allow_sumdb_off must be true or false'),
    ('go_proxy_private', ['corp.example.com/$(touch /tmp/pwned)'], "go_proxy_private entry 'corp.example.com/$(touch /tmp/pwned)' contains a '$'"),
    ('go_proxy_noproxy', ['https://corp.example.com'], 'go_proxy_noproxy entry'),
    ('go_proxy_nosumdb', ['a;b'], "go_proxy_nosumdb entry 'a;b' contains a ';'"),
    ('go_proxy_insecure', ['a`b`'], 'go_proxy_insecure entry'),
    ('go_proxy_flags', ['-insecure'], "go_proxy_flags entry '-insecure' is refused"),
    ('go_proxy_toolchain', 'newest', "go_proxy_toolchain 'newest' is not a GOTOOLCHAIN value"),
    ('go_proxy_sumdb', False, "go_proxy_sumdb is False (a bool): YAML reads a bare off as false"),
])
def test_validate_go_policy_names_the_variable(variable, bad_value, message):
    policy = {'go_proxy_urls': ['https://a.example'], variable: bad_value}
    assert message in refused(validate_go_policy, policy)


def test_gosumdb_off_needs_the_allow_flag():
    policy = {'go_proxy_urls': ['https://a.example'], 'go_proxy_sumdb': 'off', 'go_proxy_allow_sumdb_off': True}
    assert validate_go_policy(policy)['go_proxy_sumdb'] == 'off'


def test_validate_go_policy_wants_a_dict():
    assert 'must be a dict' in refused(validate_go_policy, ['https://a.example'])


def test_go_environment_sets_only_what_the_policy_sets():
    assert go_environment({'go_proxy_urls': ['https://a.example']}) == {'GOPROXY': 'https://a.example,direct'}


def test_go_environment_of_a_full_policy():
    environment = go_environment({
        'go_proxy_urls': ['https://a.example', 'https://b.example'],
        'go_proxy_fallback': 'off',
        'go_proxy_fallthrough': 'any_error',
        'go_proxy_sumdb': GO_KEY + ' https://sum.corp.example.com',
        'go_proxy_private': ['corp.example.com/*'],
        'go_proxy_noproxy': ['none'],
        'go_proxy_nosumdb': ['corp.example.com/*', 'x.example'],
        'go_proxy_insecure': ['lab.example.com'],
        'go_proxy_flags': ['-mod=mod', '-modcacherw'],
        'go_proxy_toolchain': 'local',
    })
    assert list(environment.items()) == [
        ('GOPROXY', 'https://a.example|https://b.example|off'),
        ('GOSUMDB', GO_KEY + ' https://sum.corp.example.com'),
        ('GOPRIVATE', 'corp.example.com/*'),
        ('GONOPROXY', 'none'),
        ('GONOSUMDB', 'corp.example.com/*,x.example'),
        ('GOINSECURE', 'lab.example.com'),
        ('GOFLAGS', '-mod=mod -modcacherw'),
        ('GOTOOLCHAIN', 'local'),
    ]


# ---------------------------------------------------------------------------
# Patterns that match every module need an opt-in
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('pattern, path, matches', [
    ('corp.example.com', 'corp.example.com/team/lib', True),     # a prefix of whole elements
    ('corp.example.com', 'corp.example.com.evil.org/x', False),
    ('*.corp.example.com', 'git.corp.example.com/x', True),
    ('*.corp.example.com', 'corp.example.com/x', False),
    ('corp.example.com/*', 'corp.example.com/team/lib', True),
    ('corp.example.com/*', 'corp.example.com', False),             # fewer elements than the pattern
    ('corp.example.com/', 'corp.example.com/x', True),             # one trailing '/' trimmed
    ('*', 'anything.example/x/y', True),
    ('[a-c]*.example', 'b.example/x', True),
    ('[^a-c]*.example', 'b.example/x', False),
    ('?.example', 'ab.example/x', False),
])
def test_module_pattern_matches_as_go_does(pattern, path, matches):
    assert module_pattern_matches(pattern, path) is matches


@pytest.mark.parametrize('pattern', ['*', '*/*', '*.*', '*.*/*', '?*', '[a-z0-9]*', '*/'])
def test_patterns_of_every_module(pattern):
    assert matches_every_module(pattern)


@pytest.mark.parametrize('pattern', ['corp.example.com', '*.corp.example.com', '*.com', 'github.com/*', 'none',
                                     '*/*/*', '[a-z]*'])
def test_patterns_of_some_modules(pattern):
    assert not matches_every_module(pattern)


@pytest.mark.parametrize('policy, variable, opt_in', [
    ({'go_proxy_nosumdb': ['corp.example.com', '*']}, 'go_proxy_nosumdb', 'go_proxy_allow_sumdb_off'),
    ({'go_proxy_private': ['*']}, 'go_proxy_private', 'go_proxy_allow_sumdb_off'),
    ({'go_proxy_private': '*.*'}, 'go_proxy_private', 'go_proxy_allow_sumdb_off'),
    ({'go_proxy_private': ['corp.example.com'], 'go_proxy_nosumdb': ['*/*']}, 'go_proxy_nosumdb',
     'go_proxy_allow_sumdb_off'),
    ({'go_proxy_insecure': ['*']}, 'go_proxy_insecure', 'go_proxy_allow_insecure_all'),
    ({'go_proxy_insecure': ['*'], 'go_proxy_allow_sumdb_off': True}, 'go_proxy_insecure', 'go_proxy_allow_insecure_all'),
    ({'go_proxy_nosumdb': ['*'], 'go_proxy_allow_insecure_all': True}, 'go_proxy_nosumdb', 'go_proxy_allow_sumdb_off'),
])
def test_a_pattern_of_every_module_needs_its_opt_in(policy, variable, opt_in):
    message = refused(validate_go_policy, dict(policy, go_proxy_urls=['https://a.example']))
    assert message.startswith('%s entry ' % variable)
    assert 'matches every module' in message
    assert 'set %s: true if that is really the policy' % opt_in in message


@pytest.mark.parametrize('policy', [
    {'go_proxy_nosumdb': ['*'], 'go_proxy_allow_sumdb_off': True},
    {'go_proxy_private': ['*'], 'go_proxy_allow_sumdb_off': True},
    {'go_proxy_insecure': ['*'], 'go_proxy_allow_insecure_all': True},
    # GONOSUMDB set: Go ignores GOPRIVATE for the checksum database, so checksums are still verified
    {'go_proxy_private': ['*'], 'go_proxy_nosumdb': ['none']},
    {'go_proxy_private': ['corp.example.com/*'], 'go_proxy_nosumdb': ['*.corp.example.com'],
     'go_proxy_insecure': ['lab.example.com']},
])
def test_patterns_of_every_module_pass_with_their_opt_in(policy):
    assert validate_go_policy(dict(policy, go_proxy_urls=['https://a.example']))


def test_go_proxy_allow_insecure_all_must_be_a_bool():
    assert 'go_proxy_allow_insecure_all must be true or false' in refused(
        validate_go_policy, {'go_proxy_urls': ['https://a.example'], 'go_proxy_allow_insecure_all': 'yes'})


# ---------------------------------------------------------------------------
# go_proxy_systemd_units
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('units, message', [
    ('jenkins', "go_proxy_systemd_units must be a list of service names, such as [gitlab-runner], got 'jenkins' "
                '(a string)'),
    (['jenkins\n'], "go_proxy_systemd_units entry 'jenkins\\n' is not a service name"),
    (['gitlab-runner', 'jenkins.service\n'], "entry 'jenkins.service\\n' is not a service name"),
    ({'jenkins': True}, 'go_proxy_systemd_units must be a list of service names'),
])
def test_systemd_units_are_a_list_of_whole_names(units, message):
    """A string was read letter by letter (j.service, e.service, ...); '$' let a trailing newline through."""
    assert message in refused(validate_go_policy, {'go_proxy_urls': ['https://a.example'],
                                                   'go_proxy_systemd_units': units})


def test_service_names_never_splits_a_string():
    with pytest.raises(ValueError, match='must be a list'):
        service_names('jenkins')
    assert service_names(['jenkins']) == ['jenkins.service']
