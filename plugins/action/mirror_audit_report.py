# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mirror_audit_report: writes the fleet audit report on the controller (the documentation is in plugins/modules)."""

from __future__ import annotations

import datetime
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.buildfleet.mirrors.plugins.module_utils._audit_report import (
    FAIL_ON_CHOICES,
    REPORT_FILES,
    ReportError,
    build_report,
    failing_hosts,
    render_all,
    resolve_dest,
    summary_line,
    write_report,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import redact_url

ARGUMENT_SPEC = dict(
    hosts=dict(type='dict', required=True),
    dest=dict(type='path', default='mirror-audit'),
    fail_on=dict(type='str', default='high', choices=list(FAIL_ON_CHOICES)),
)

# plugins/action/<this file> -> the collection's root directory
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    # Everything happens on the controller: no connection to the host the task runs for.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, arguments = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest = arguments['dest']
        try:
            path = resolve_dest(dest, os.getcwd(), COLLECTION_ROOT)
            generated_at = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
            report = build_report(arguments['hosts'], arguments['fail_on'], generated_at)
            changed_files = write_report(path, render_all(report), check_mode=self._task.check_mode)
        except ReportError as error:
            raise AnsibleActionFail(redact_url(str(error)))
        except OSError as error:
            raise AnsibleActionFail('cannot write the audit report into %s: %s'
                                    % (redact_url(str(dest)), redact_url(str(error))))
        summary = report['summary']
        lines = [summary_line(host, entry) for host, entry in summary.items()]
        failing = failing_hosts(summary, arguments['fail_on'])
        result.update(
            changed=bool(changed_files),
            dest=path,
            files=dict((kind, os.path.join(path, name)) for kind, name in REPORT_FILES),
            summary=summary,
            summary_lines=lines,
            failing_hosts=failing,
        )
        where = 'would write the audit report to %s (check mode)' % path if self._task.check_mode and changed_files \
            else 'audit report in %s' % path
        if failing:
            result['failed'] = True
            result['msg'] = '%d of %d hosts fail the audit (fail_on %s): %s; %s' % (
                len(failing), len(summary), arguments['fail_on'], '; '.join(
                    line for host, line in zip(summary, lines) if host in failing), where)
        else:
            result['msg'] = '%d hosts audited, none at or above fail_on %s; %s' % (
                len(summary), arguments['fail_on'], where) if arguments['fail_on'] != 'never' else \
                '%d hosts audited (fail_on never); %s' % (len(summary), where)
        return result
