# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Registry mirrors merged into buildkitd.toml: other keys and comments kept, only our lines taken out again."""

from __future__ import annotations

import copy
import sys

import pytest

from ansible_collections.buildfleet.mirrors.plugins.module_utils import _buildkitd_toml
from ansible_collections.buildfleet.mirrors.plugins.module_utils._buildkitd_toml import (
    HEADER,
    MARK,
    merge_buildkitd,
    plan_buildkitd,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_outputs import MANAGED_BY

tomllib = pytest.importorskip('tomllib')

# A buildkitd.toml as a build team writes it (docs/buildkitd.toml.md of moby/buildkit), with their own CA for Docker Hub.
USER = '''\
# buildkitd for the build farm (owned by the build team)
debug = true
root = "/var/lib/buildkit"

[log]
  format = "json"

[worker.oci]
  enabled = true
  gc = true  # keep the cache small
  platforms = [ "linux/amd64" ]

  [[worker.oci.gcpolicy]]
    keepBytes = 10240000000
    keepDuration = "48h"
    filters = [
      "type==source.local",  # build contexts
      "type==exec.cachemount",
    ]

  [[worker.oci.gcpolicy]]
    all = true
    keepBytes = 1024000000

[worker.containerd]
  enabled = false

[registry."docker.io"]
  # the corporate proxy re-signs TLS
  ca = ["/etc/buildkit/corp-ca.pem"]

  [[registry."docker.io".keypair]]
    key = "/etc/buildkit/key.pem"
    cert = "/etc/buildkit/cert.pem"

[registry."registry.corp.example:5000"]
  mirrors = ["cache.corp.example:5000"]
  http = true

[frontend."dockerfile.v0"]
  enabled = true
'''

HUB = 'https://mirror.corp.example/'
HUB_LAB = 'http://127.0.0.1:15000/'
GHCR = 'https://127.0.0.1:15443/'
GHCR2 = 'https://ghcr-mirror.corp.example:8443/'
POLICY = {'docker.io': [HUB, HUB_LAB], 'ghcr.io': [GHCR, GHCR2]}


def parsed(text):
    assert text is not None
    return tomllib.loads(text)


def registry_tables(text):
    return parsed(text).get('registry', {})


def marked(text):
    return [line for line in text.splitlines() if line.endswith('# ' + MARK)]


def without_marked(text):
    return [line for line in text.splitlines() if not line.endswith('# ' + MARK)]


# ---------------------------------------------------------------------------
# What buildkitd gets
# ---------------------------------------------------------------------------

def test_plan_writes_hosts_without_scheme_and_the_scheme_per_mirror_host():
    tables, left_out = plan_buildkitd(POLICY)
    assert tables == {
        'docker.io': {'mirrors': ['mirror.corp.example', '127.0.0.1:15000']},
        'ghcr.io': {'mirrors': ['127.0.0.1:15443', 'ghcr-mirror.corp.example:8443']},
        # buildkitd reads an entry's scheme nowhere: http:// needs http = true on the mirror's own table ...
        '127.0.0.1:15000': {'http': True},
        # ... and an https:// mirror on loopback http = false, or buildkitd speaks plain HTTP to it.
        '127.0.0.1:15443': {'http': False},
    }
    assert list(tables) == ['docker.io', 'ghcr.io', '127.0.0.1:15000', '127.0.0.1:15443']
    assert left_out == []


@pytest.mark.parametrize('insecure, expected', [
    (['ghcr-mirror.corp.example:8443'], {'insecure': True}),
    (['ghcr-mirror.corp.example'], None),  # dockerd matches host:port, so does this
    (['10.0.0.0/8'], None),  # a CIDR range never matches a host name
])
def test_plan_insecure_by_host_and_port(insecure, expected):
    tables, dummy = plan_buildkitd({'ghcr.io': [GHCR2]}, insecure)
    assert tables.get('ghcr-mirror.corp.example:8443') == expected


def test_plan_insecure_by_ip_range_and_loopback_https():
    tables, dummy = plan_buildkitd({'quay.io': ['https://10.1.2.3:8443/', GHCR]}, ['10.0.0.0/8', '127.0.0.0/8'])
    assert tables == {
        'quay.io': {'mirrors': ['10.1.2.3:8443', '127.0.0.1:15443']},
        '10.1.2.3:8443': {'insecure': True},
        '127.0.0.1:15443': {'http': False, 'insecure': True},
    }


@pytest.mark.parametrize('url, table, expected', [
    ('https://localhost:5000/', 'localhost:5000', {'http': False}),
    ('https://127.8.9.10/', '127.8.9.10', {'http': False}),
    ('https://[::1]:5000/', '[::1]:5000', {'http': False}),
    ('http://[::1]:5000/', '[::1]:5000', {'http': True}),
    ('https://localhost.corp.example/', 'localhost.corp.example', None),
    ('https://10.1.2.3/', '10.1.2.3', None),
])
def test_plan_https_on_loopback_says_so(url, table, expected):
    # containerd's MatchLocalhost, which buildkitd applies when a mirror host's table has no http key.
    tables, dummy = plan_buildkitd({'docker.io': [url]})
    assert tables['docker.io'] == {'mirrors': [table]}
    assert tables.get(table) == expected


def test_plan_http_mirror_listed_insecure_gets_http_only():
    tables, dummy = plan_buildkitd({'docker.io': [HUB_LAB]}, ['127.0.0.1:15000'])
    assert tables['127.0.0.1:15000'] == {'http': True}


def test_plan_leaves_out_mirrors_with_a_path():
    # buildkitd puts an entry's path after /v2 (a namespace); dockerd reads it as the API's place.
    tables, left_out = plan_buildkitd({'docker.io': ['https://harbor.corp.example/proxy/', HUB],
                                       'quay.io': ['https://harbor.corp.example/quay/']})
    assert tables == {'docker.io': {'mirrors': ['mirror.corp.example']}}
    assert left_out == [('docker.io', 'https://harbor.corp.example/proxy/'),
                        ('quay.io', 'https://harbor.corp.example/quay/')]


def test_plan_registry_that_is_also_a_mirror_host_gets_one_table():
    tables, dummy = plan_buildkitd({'docker.io': ['http://registry.corp.example:5000/'],
                                    'registry.corp.example:5000': [HUB]})
    assert tables == {
        'docker.io': {'mirrors': ['registry.corp.example:5000']},
        'registry.corp.example:5000': {'mirrors': ['mirror.corp.example'], 'http': True},
    }


def test_plan_refuses_one_host_with_two_schemes():
    with pytest.raises(ValueError, match=r'127\.0\.0\.1:15000 is given both as http:// and as https://'):
        plan_buildkitd({'docker.io': [HUB_LAB], 'ghcr.io': ['https://127.0.0.1:15000/']})


@pytest.mark.parametrize('registries, message', [
    ({'ghcr.io/acme': [HUB]}, 'registry name "ghcr.io/acme" cannot be a buildkitd.toml table'),
    ({'ghcr"io': [HUB]}, 'cannot be a buildkitd.toml table'),
    ({'ghcr.io': HUB}, 'the mirrors of registry ghcr.io must be a list'),
    ({'ghcr.io': ['ftp://mirror/']}, 'not an http:// or https:// URL'),
    ({'ghcr.io': ['https://robot:s3cret@mirror.corp.example/']}, 'credentials, a query or a fragment'),
    ({'ghcr.io': ['https://mirror.corp.example/?token=s3cret']}, 'credentials, a query or a fragment'),
    (['docker.io'], 'registries must be a mapping'),
])
def test_plan_refuses_what_the_file_cannot_carry(registries, message):
    with pytest.raises(ValueError, match=message) as error:
        plan_buildkitd(registries)
    assert 's3cret' not in str(error.value)


# ---------------------------------------------------------------------------
# Merging into a file the collection did not create
# ---------------------------------------------------------------------------

def test_merge_keeps_every_other_key_and_comment():
    result = merge_buildkitd(USER, POLICY)
    # Every line of the user's file is still there, in its order; ours all carry the mark
    # (plus the blank line before each table this collection added).
    assert without_marked(result) == USER.splitlines() + ['', '', '']
    expected = parsed(USER)
    expected['registry']['docker.io']['mirrors'] = ['mirror.corp.example', '127.0.0.1:15000']
    expected['registry']['ghcr.io'] = {'mirrors': ['127.0.0.1:15443', 'ghcr-mirror.corp.example:8443']}
    expected['registry']['127.0.0.1:15000'] = {'http': True}
    expected['registry']['127.0.0.1:15443'] = {'http': False}
    assert parsed(result) == expected
    # The user's Docker Hub table gets the key right below its header, in its indentation.
    assert '[registry."docker.io"]\n  mirrors = ["mirror.corp.example", "127.0.0.1:15000"]  # buildfleet.mirrors\n' \
        '  # the corporate proxy re-signs TLS\n' in result
    assert result.endswith('\n[registry."ghcr.io"]  # buildfleet.mirrors\n'
                           '  mirrors = ["127.0.0.1:15443", "ghcr-mirror.corp.example:8443"]  # buildfleet.mirrors\n'
                           '\n[registry."127.0.0.1:15000"]  # buildfleet.mirrors\n'
                           '  http = true  # buildfleet.mirrors\n'
                           '\n[registry."127.0.0.1:15443"]  # buildfleet.mirrors\n'
                           '  http = false  # buildfleet.mirrors\n')
    assert MANAGED_BY not in result  # the user's file is not ours to announce


def test_merge_again_is_idempotent():
    result = merge_buildkitd(USER, POLICY)
    assert merge_buildkitd(result, POLICY) == result
    assert merge_buildkitd(result, POLICY, ['ghcr-mirror.corp.example:8443']) != result


def test_empty_policy_gives_back_the_original_bytes():
    result = merge_buildkitd(USER, POLICY, ['ghcr-mirror.corp.example:8443'])
    assert 'insecure = true  # buildfleet.mirrors' in result
    assert merge_buildkitd(result, {}) == USER
    assert merge_buildkitd(USER, {}) is USER  # nothing of ours: the very same text


@pytest.mark.parametrize('second', [
    {'docker.io': [HUB]},
    {'ghcr.io': [GHCR2]},
    {'ghcr.io': [GHCR2, GHCR], 'quay.io': ['http://127.0.0.1:15000/']},
    {'docker.io': [HUB_LAB, HUB]},
])
def test_a_later_policy_replaces_exactly_our_lines(second):
    # Whatever came before, the result says what a first run with the second policy writes: the same user
    # lines, the same lines of ours (tables kept where they stand, so maybe in another order), the same TOML.
    again, first = merge_buildkitd(merge_buildkitd(USER, POLICY), second), merge_buildkitd(USER, second)
    assert without_marked(again) == without_marked(first)
    assert sorted(marked(again)) == sorted(marked(first))
    assert parsed(again) == parsed(first)
    assert merge_buildkitd(again, {}) == USER


def test_registry_removed_takes_out_its_tables_and_its_mirror_hosts():
    result = merge_buildkitd(merge_buildkitd(USER, POLICY), {'docker.io': [HUB]})
    assert set(registry_tables(result)) == {'docker.io', 'registry.corp.example:5000'}
    assert registry_tables(result)['docker.io']['mirrors'] == ['mirror.corp.example']
    assert marked(result) == ['  mirrors = ["mirror.corp.example"]  # buildfleet.mirrors']


def test_changed_mirrors_replace_our_line_in_place():
    first = merge_buildkitd(USER, {'docker.io': [HUB]})
    second = merge_buildkitd(first, {'docker.io': [GHCR2, HUB]})
    assert second == first.replace('["mirror.corp.example"]', '["ghcr-mirror.corp.example:8443", "mirror.corp.example"]')


def test_user_mirrors_of_a_managed_registry_are_a_conflict():
    with pytest.raises(ValueError) as error:
        merge_buildkitd(USER, {'registry.corp.example:5000': [HUB]}, path='/etc/buildkit/buildkitd.toml')
    message = str(error.value)
    assert '/etc/buildkit/buildkitd.toml line 37' in message
    assert '[registry."registry.corp.example:5000"] already has a mirrors key' in message
    assert 'left untouched' in message


def test_user_mirrors_of_a_registry_we_do_not_manage_are_kept():
    result = merge_buildkitd(USER, {'docker.io': ['http://cache.corp.example:5000/']})
    # Its own table is now also a mirror host's table: the user's http = true already says what we need.
    assert registry_tables(result)['registry.corp.example:5000'] == {'mirrors': ['cache.corp.example:5000'],
                                                                     'http': True}
    assert registry_tables(result)['cache.corp.example:5000'] == {'http': True}


def test_user_key_with_our_value_is_left_as_the_users():
    text = USER + '\n[registry."127.0.0.1:15000"]\n  http = true\n'
    result = merge_buildkitd(text, {'docker.io': [HUB_LAB]})
    assert marked(result) == ['  mirrors = ["127.0.0.1:15000"]  # buildfleet.mirrors']
    assert merge_buildkitd(result, {}) == text


def test_user_key_with_another_value_is_a_conflict():
    text = USER + '\n[registry."127.0.0.1:15443"]\n  http = true\n'
    with pytest.raises(ValueError, match=r'line 44: \[registry."127.0.0.1:15443"\] sets http = true, '
                                         r'the mirrors need http = false'):
        merge_buildkitd(text, {'ghcr.io': [GHCR]})


def test_user_keys_in_a_table_we_created_are_kept_with_its_header():
    result = merge_buildkitd(USER, {'ghcr.io': [GHCR2]})
    result = result.replace('8443"]  # buildfleet.mirrors\n', '8443"]  # buildfleet.mirrors\n  ca = ["/etc/ca.pem"]\n')
    emptied = merge_buildkitd(result, {})
    assert registry_tables(emptied)['ghcr.io'] == {'ca': ['/etc/ca.pem']}
    assert marked(emptied) == ['[registry."ghcr.io"]  # buildfleet.mirrors']
    assert merge_buildkitd(emptied, {'ghcr.io': [GHCR2]}) == result


def test_table_header_spelled_another_way_is_the_same_table():
    text = "[ registry . 'docker.io' ]  # Hub\n  ca = ['/etc/ca.pem']\n"
    result = merge_buildkitd(text, {'docker.io': [HUB]})
    assert result == "[ registry . 'docker.io' ]  # Hub\n  mirrors = [\"mirror.corp.example\"]  # buildfleet.mirrors\n" \
                     "  ca = ['/etc/ca.pem']\n"


def test_subtable_before_its_table_gets_the_table_appended():
    text = '[[registry."docker.io".keypair]]\n  key = "/k.pem"\n  cert = "/c.pem"\n'
    result = merge_buildkitd(text, {'docker.io': [HUB]})
    assert registry_tables(result)['docker.io'] == {'mirrors': ['mirror.corp.example'],
                                                    'keypair': [{'key': '/k.pem', 'cert': '/c.pem'}]}
    assert merge_buildkitd(result, {}) == text


def test_multiline_strings_and_arrays_are_not_read_as_tables():
    text = ('note = """\n[registry."docker.io"]\nmirrors = ["x"]\n"""\n'
            "other = '''\n[registry.\"ghcr.io\"]  # buildfleet.mirrors\n'''\n"
            'list = [\n  "[registry.\\"docker.io\\"]",  # [registry."docker.io"]\n]\n'
            'escaped = "a \\" [registry.\\"docker.io\\"]"\n')
    result = merge_buildkitd(text, {'docker.io': [HUB]})
    assert result == text + '\n[registry."docker.io"]  # buildfleet.mirrors\n' \
                            '  mirrors = ["mirror.corp.example"]  # buildfleet.mirrors\n'
    assert merge_buildkitd(result, {}) == text


def test_crlf_file_keeps_its_line_ends():
    text = USER.replace('\n', '\r\n')
    result = merge_buildkitd(text, POLICY)
    assert '\n' not in result.replace('\r\n', '')
    assert parsed(result)['registry']['docker.io']['mirrors'] == ['mirror.corp.example', '127.0.0.1:15000']
    assert merge_buildkitd(result, {}) == text


def test_file_without_a_final_newline_gets_one():
    text = 'debug = true'
    result = merge_buildkitd(text, {'docker.io': [HUB]})
    assert result.startswith('debug = true\n\n[registry."docker.io"]')
    # The only byte not given back: a file cannot say it had no final newline.
    assert merge_buildkitd(result, {}) == 'debug = true\n'


def test_empty_existing_file():
    result = merge_buildkitd('', {'docker.io': [HUB]})
    assert result == '[registry."docker.io"]  # buildfleet.mirrors\n  mirrors = ["mirror.corp.example"]  # buildfleet.mirrors\n'
    assert merge_buildkitd(result, {}) == ''  # the user's empty file stays, it is not removed


# ---------------------------------------------------------------------------
# A file the collection creates
# ---------------------------------------------------------------------------

def test_absent_file_is_created_with_the_header():
    result = merge_buildkitd(None, POLICY)
    assert result.splitlines()[:len(HEADER)] == list(HEADER)
    assert result.splitlines()[0] == '# ' + MANAGED_BY
    assert parsed(result) == {'registry': dict(plan_buildkitd(POLICY)[0])}
    assert merge_buildkitd(result, POLICY) == result


def test_absent_file_and_nothing_to_write():
    assert merge_buildkitd(None, {}) is None
    assert merge_buildkitd(None, {'docker.io': ['https://harbor.corp.example/proxy/']}) is None


def test_our_file_with_nothing_left_is_removed():
    result = merge_buildkitd(None, POLICY)
    assert merge_buildkitd(result, {}) is None
    assert merge_buildkitd(merge_buildkitd(result, {'quay.io': [HUB]}), {}) is None


def test_our_file_with_user_keys_is_kept():
    result = merge_buildkitd(None, {'docker.io': [HUB]}) + '\n[worker.oci]\n  gc = true\n'
    emptied = merge_buildkitd(result, {})
    assert parsed(emptied) == {'worker': {'oci': {'gc': True}}}


# ---------------------------------------------------------------------------
# Forms the line editor refuses
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('text, message', [
    ('registry = { "docker.io" = { ca = ["/ca.pem"] } }\n', r'line 1: the registry table is an inline table'),
    ('debug = true\nregistry."docker.io".mirrors = ["m"]\n',
     r'line 2: \[registry."docker.io"\] is set with a dotted key or an inline table \(registry.docker.io.mirrors\)'),
    ('[registry]\n"docker.io" = { ca = ["/ca.pem"] }\n',
     r'line 2: \[registry."docker.io"\] is set with a dotted key or an inline table'),
    ('[registry]\n"docker.io".ca = ["/ca.pem"]\n', r'line 2: \[registry."docker.io"\] is set with a dotted key'),
    ('[registry."docker.io"]\nmirrors.x = 1\n', r'line 2: \[registry."docker.io"\] sets mirrors.x with a dotted key'),
    ('[[registry."docker.io"]]\nca = ["/ca.pem"]\n', r'line 1: \[registry."docker.io"\] is an array of tables'),
    ('[registry."docker.io"]\nmirrors = [\n  "m",\n]  # buildfleet.mirrors\n', r'line 2: .* spans several lines'),
    ('[worker.oci]  # buildfleet.mirrors\n', r'line 1 ends with "# buildfleet.mirrors" but is not a line'),
    ('[registry."docker.io"]\nca = ["/ca.pem"]  # buildfleet.mirrors\n', r'line 2 ends with "# buildfleet.mirrors"'),
    ('[registry."docker.io"]\nmirrors = [\n  "m",\n]\n', r'line 2: \[registry."docker.io"\] already has a mirrors key'),
])
def test_forms_it_cannot_edit_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        merge_buildkitd(text, {'docker.io': [HUB]})


def test_forms_on_tables_it_does_not_touch_are_fine():
    text = '[registry]\n"quay.io".ca = ["/ca.pem"]\n"gcr.io" = { insecure = true }\n'
    result = merge_buildkitd(text, {'docker.io': [HUB]})
    assert parsed(result)['registry'] == {'quay.io': {'ca': ['/ca.pem']}, 'gcr.io': {'insecure': True},
                                          'docker.io': {'mirrors': ['mirror.corp.example']}}
    assert merge_buildkitd(result, {}) == text


def test_inline_registry_table_is_fine_when_nothing_is_ours():
    text = 'registry = { "docker.io" = { ca = ["/ca.pem"] } }\n'
    assert merge_buildkitd(text, {}) is text


def test_invalid_toml_is_refused_naming_the_file():
    with pytest.raises(ValueError, match=r'^/etc/buildkit/buildkitd.toml is not valid TOML .*left untouched'):
        merge_buildkitd('[registry."docker.io"\n', {'docker.io': [HUB]})


def test_table_defined_twice_is_refused_without_tomllib(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tomllib', None)
    text = merge_buildkitd(None, {'docker.io': [HUB]})
    doubled = text + '\n[registry."docker.io"]  # buildfleet.mirrors\n'
    with pytest.raises(ValueError, match=r'line 9: \[registry."docker.io"\] is defined twice'):
        merge_buildkitd(doubled, {'docker.io': [HUB]})


# ---------------------------------------------------------------------------
# The safety net
# ---------------------------------------------------------------------------

def test_safety_net_catches_an_edit_that_changes_other_keys(monkeypatch):
    # An editor bug, simulated: the line written for mirrors carries another value than the policy's.
    real = _buildkitd_toml._render_key
    monkeypatch.setattr(_buildkitd_toml, '_render_key',
                        lambda key, value, indent: real(key, list(reversed(value)) if key == 'mirrors' else value, indent))
    with pytest.raises(ValueError, match=r'internal error: .* would change \[registry."docker.io"\]'):
        merge_buildkitd(USER, POLICY)


def test_safety_net_catches_a_lost_user_key(monkeypatch):
    real = _buildkitd_toml._Scanner.statements

    def statements(self):
        found = real(self)
        for statement in found:  # the scanner misreads the user's ca line as one of ours
            if statement.kind == 'key' and statement.path == ('ca',):
                statement.comment = ' ' + MARK
                statement.path = ('insecure',)
        return found
    monkeypatch.setattr(_buildkitd_toml._Scanner, 'statements', statements)
    with pytest.raises(ValueError, match=r'internal error: .* would change \[registry."docker.io"\]'):
        merge_buildkitd(USER, {'docker.io': [HUB]})


def test_without_tomllib_only_files_of_our_own_are_edited(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tomllib', None)
    created = merge_buildkitd(None, POLICY)
    assert created == _expected_new_file()
    assert merge_buildkitd(created, {'docker.io': [HUB]}) == merge_buildkitd(None, {'docker.io': [HUB]})
    assert merge_buildkitd(created, {}) is None
    assert merge_buildkitd(USER, {}) is USER  # nothing of ours in it: nothing to do
    with pytest.raises(ValueError, match=r'^/etc/buildkit/buildkitd.toml was not written by this collection alone, '
                                         r'and this Python \(before 3.11\) has no tomllib'):
        merge_buildkitd(USER, POLICY)
    with pytest.raises(ValueError, match='has no tomllib'):
        merge_buildkitd(created + '\n[worker.oci]\n  gc = true\n', POLICY)
    with pytest.raises(ValueError, match='has no tomllib'):
        merge_buildkitd(created.replace('[registry."ghcr.io"]', '# a note\n[registry."ghcr.io"]'), POLICY)


def _expected_new_file():
    monkeypatched = sys.modules.get('tomllib')
    assert monkeypatched is None
    return '\n'.join(list(HEADER) + [
        '',
        '[registry."docker.io"]  # buildfleet.mirrors',
        '  mirrors = ["mirror.corp.example", "127.0.0.1:15000"]  # buildfleet.mirrors',
        '',
        '[registry."ghcr.io"]  # buildfleet.mirrors',
        '  mirrors = ["127.0.0.1:15443", "ghcr-mirror.corp.example:8443"]  # buildfleet.mirrors',
        '',
        '[registry."127.0.0.1:15000"]  # buildfleet.mirrors',
        '  http = true  # buildfleet.mirrors',
        '',
        '[registry."127.0.0.1:15443"]  # buildfleet.mirrors',
        '  http = false  # buildfleet.mirrors',
    ]) + '\n'


def test_every_output_is_toml_buildkitd_can_read():
    # The keys buildkitd's RegistryConfig reads, with their TOML types (util/resolver/config).
    types = {'mirrors': list, 'http': bool, 'insecure': bool, 'ca': list, 'keypair': list}
    for text in (merge_buildkitd(None, POLICY), merge_buildkitd(USER, POLICY, ['10.0.0.0/8', 'ghcr-mirror.corp.example:8443'])):
        for name, table in registry_tables(text).items():
            assert all(isinstance(value, types[key]) for key, value in table.items()), (name, table)
            assert all('://' not in mirror for mirror in table.get('mirrors', []))


def test_input_is_not_modified():
    policy = copy.deepcopy(POLICY)
    merge_buildkitd(USER, policy, ['127.0.0.1:15443'])
    assert policy == POLICY
