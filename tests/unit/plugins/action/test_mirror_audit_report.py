# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_audit_report as ansible-playbook runs it: where it writes, its exit code by fail_on, check mode, secrets."""

from __future__ import annotations

import json

import pytest

from audit_records import SECRET, TOKEN, fleet


def _play(tmp_path, hosts, check_mode=None, **options):
    """A play on localhost whose one task is the report, with the records in a vars file."""
    (tmp_path / 'records.json').write_text(json.dumps({'records': hosts}))
    task = {'buildfleet.mirrors.mirror_audit_report': dict({'hosts': '{{ records }}'}, **options),
            'register': 'report'}
    if check_mode is not None:
        task['check_mode'] = check_mode
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars_files': ['records.json'], 'tasks': [task]}]
    (tmp_path / 'play.yml').write_text(json.dumps(play))


def _task_result(stdout):
    return json.loads(stdout)['plays'][0]['tasks'][0]['hosts']['localhost']


@pytest.mark.parametrize('fail_on, rc, failing', [
    ('high', 2, ['bookworm', 'forky']),
    ('medium', 2, ['bookworm', 'forky', 'trixie']),
    ('never', 0, []),
])
def test_the_exit_code_follows_fail_on_and_the_report_lands_under_the_cwd(ansible_cli, tmp_path, fail_on, rc, failing):
    hosts = fleet()
    hosts = dict((name, hosts[name]) for name in ('mirror', 'bookworm', 'trixie', 'forky'))
    _play(tmp_path, hosts, fail_on=fail_on)
    code, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert code == rc, stdout + stderr
    result = _task_result(stdout)
    assert result['failing_hosts'] == failing
    assert result['summary_lines'] == ['bookworm: 2 high, 1 low', 'forky: not audited: unreachable: ssh: connect to '
                                       'host forky port 22: Connection refused', 'mirror: compliant',
                                       'trixie: 1 medium, 1 info']
    assert result['dest'] == str(tmp_path / 'mirror-audit')
    assert result['changed'] is True
    report = json.loads((tmp_path / 'mirror-audit' / 'report.json').read_text())
    assert report['fail_on'] == fail_on and sorted(report['hosts']) == sorted(hosts)
    assert (tmp_path / 'mirror-audit' / 'report.xml').is_file() and (tmp_path / 'mirror-audit' / 'index.html').is_file()
    if failing:
        assert result['failed'] is True
        assert 'bookworm: 2 high, 1 low' in result['msg'] and 'mirror: compliant' not in result['msg']
    else:
        assert not result.get('failed')


def test_check_mode_writes_nothing_unless_the_task_says_check_mode_false(ansible_cli, tmp_path):
    _play(tmp_path, {'mirror': fleet()['mirror']}, dest='out')
    code, stdout, stderr = ansible_cli('ansible-playbook', '--check', 'play.yml')
    assert code == 0, stdout + stderr
    assert _task_result(stdout)['changed'] is True and 'check mode' in _task_result(stdout)['msg']
    assert not (tmp_path / 'out').exists()
    _play(tmp_path, {'mirror': fleet()['mirror']}, check_mode=False, dest='out')
    code, stdout, stderr = ansible_cli('ansible-playbook', '--check', 'play.yml')
    assert code == 0, stdout + stderr
    assert (tmp_path / 'out' / 'report.json').is_file()


def test_no_credential_reaches_the_output_or_a_file_at_any_verbosity(ansible_cli, tmp_path):
    _play(tmp_path, fleet(), fail_on='never')
    code, stdout, stderr = ansible_cli('ansible-playbook', '-vvv', 'play.yml')
    assert code == 0, stdout + stderr
    for text in [stdout, stderr] + [path.read_text() for path in (tmp_path / 'mirror-audit').iterdir()]:
        assert SECRET not in text and TOKEN not in text


@pytest.mark.parametrize('options, message', [
    ({'fail_on': 'critical'}, 'fail_on'),
    ({'dest': 'file.txt'}, "dest 'file.txt' exists and is not a directory"),
    ({'records': {'h': {'schema': 1, 'findings': [{'check': 'x', 'severity': 'urgent'}]}}},
     "hosts['h'].findings[0].severity is 'urgent'"),
])
def test_bad_options_fail_the_task_naming_the_option_and_writing_nothing(ansible_cli, tmp_path, options, message):
    (tmp_path / 'file.txt').write_text('x')
    options = dict(options)
    _play(tmp_path, options.pop('records', {'mirror': fleet()['mirror']}), **options)
    code, stdout, stderr = ansible_cli('ansible-playbook', 'play.yml')
    assert code == 2
    assert message in _task_result(stdout)['msg']
    assert not (tmp_path / 'mirror-audit').exists()


def test_the_documentation_parses_and_states_the_argument_spec_of_the_action(ansible_cli):
    from ansible_collections.buildfleet.mirrors.plugins.action.mirror_audit_report import ARGUMENT_SPEC

    code, stdout, stderr = ansible_cli('ansible-doc', '--json', 'buildfleet.mirrors.mirror_audit_report')
    assert code == 0, stderr
    doc = json.loads(stdout)['buildfleet.mirrors.mirror_audit_report']['doc']
    assert sorted(doc['options']) == sorted(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        for key in ('type', 'default', 'choices', 'required'):
            assert doc['options'][name].get(key) == spec.get(key), (name, key)
