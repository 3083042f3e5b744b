# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark (not a test): buildfleet.mirrors.mirror_check against a serial ansible.builtin.uri loop.

In one run: start 16 local registry mirrors on 127.0.0.1 (12 answer, 4 accept
connections and never answer), then one ansible-playbook run with two tasks
over the same list and the same timeout T:

1. buildfleet.mirrors.mirror_check with registry_mirrors (parallel probes);
2. ansible.builtin.uri in a loop, GET <mirror>/v2/ (one after the other).

Prints each task's wall time (from the json callback), their ratio, and the
module's time as a multiple of T. Goal: module <= 1.3 T, and >= 3x faster.
A ping task measures what any module task costs on this machine (AnsiballZ,
a fresh Python), which is also printed, and subtracted for the net figure.

    .venv/bin/python benchmarks/mirror_check_bench.py [--timeout 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'tests' / 'unit'))

from local_mirrors import API_VERSION, Answer, BlackHole, MirrorServer  # noqa: E402

PLAYBOOK = """
- name: Probe {count} registry mirrors
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    mirrors: {mirrors}
    probe_timeout: {timeout}
  tasks:
    - name: Warm up (the first task of a run pays one-time costs)
      ansible.builtin.ping:

    - name: Baseline, the cost of any module task on this machine
      ansible.builtin.ping:

    - name: Module, parallel probes
      buildfleet.mirrors.mirror_check:
        registry_mirrors: "{{{{ mirrors }}}}"
        timeout: "{{{{ probe_timeout }}}}"
        require: none
      register: gate

    - name: Serial ansible.builtin.uri loop
      ansible.builtin.uri:
        url: "{{{{ item }}}}/v2/"
        timeout: "{{{{ probe_timeout }}}}"
        status_code: [200, 401]
      loop: "{{{{ mirrors }}}}"
      failed_when: false
      register: loop
"""


def collections_root():
    root = REPO / '.build' / 'collections'
    link = root / 'ansible_collections' / 'buildfleet' / 'mirrors'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    return root


def seconds(duration):
    start, end = (datetime.datetime.fromisoformat(duration[key].replace('Z', '+00:00')) for key in ('start', 'end'))
    return (end - start).total_seconds()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--timeout', type=float, default=2.0, help='probe timeout T in seconds (default 2)')
    parser.add_argument('--answering', type=int, default=12)
    parser.add_argument('--black-holes', type=int, default=4)
    options = parser.parse_args()

    servers = [MirrorServer({'/v2/': Answer(200, API_VERSION)}) for dummy in range(options.answering)]
    holes = [BlackHole() for dummy in range(options.black_holes)]
    # Interleave, so neither approach gets the black holes all first or all last.
    mirrors = [server.url for server in servers]
    for position, hole in enumerate(holes):
        mirrors.insert(position * (len(mirrors) // len(holes) + 1) + 1, hole.url)

    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
                       ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                       ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
                       ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    for name in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        environment.pop(name, None)

    try:
        with tempfile.TemporaryDirectory() as workdir:
            playbook = Path(workdir) / 'bench.yml'
            playbook.write_text(PLAYBOOK.format(count=len(mirrors), mirrors=json.dumps(mirrors), timeout=options.timeout))
            started = time.monotonic()
            completed = subprocess.run([str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,',
                                        str(playbook)], capture_output=True, text=True, env=environment, check=False)
            playbook_wall = time.monotonic() - started
    finally:
        for server in servers:
            server.close()
        for hole in holes:
            hole.close()

    if completed.returncode != 0:
        sys.exit('ansible-playbook failed (rc %d):\n%s\n%s' % (completed.returncode, completed.stdout, completed.stderr))
    tasks = json.loads(completed.stdout)['plays'][0]['tasks']
    dummy, ping_task, module_task, loop_task = tasks
    gate = module_task['hosts']['localhost']
    loop_results = loop_task['hosts']['localhost']['results']
    module_seconds = seconds(module_task['task']['duration'])
    loop_seconds = seconds(loop_task['task']['duration'])
    task_overhead = seconds(ping_task['task']['duration'])
    net_module_seconds = module_seconds - task_overhead

    timeout = options.timeout
    print('mirrors: %d (%d answer, %d black holes), timeout T = %gs'
          % (len(mirrors), options.answering, options.black_holes, timeout))
    print('module  mirror_check : %6.2fs  = %.2f T   (%s)' % (module_seconds, module_seconds / timeout, gate['msg']))
    print('serial  uri loop     : %6.2fs  = %.2f T   (%d of %d answered)'
          % (loop_seconds, loop_seconds / timeout, sum(1 for result in loop_results if result.get('status') == 200),
             len(loop_results)))
    print('ratio loop / module  : %6.1fx' % (loop_seconds / module_seconds))
    print('one ping task        : %6.2fs  (what any module task costs here)' % task_overhead)
    print('module minus ping    : %6.2fs  = %.2f T' % (net_module_seconds, net_module_seconds / timeout))
    print('whole playbook wall  : %6.2fs' % playbook_wall)
    print('goal module <= 1.3 T : %s (net of the ping: %s)'
          % ('met' if module_seconds <= 1.3 * timeout else 'MISSED',
             'met' if net_module_seconds <= 1.3 * timeout else 'MISSED'))
    print('goal >= 3x faster    : %s' % ('met' if loop_seconds >= 3 * module_seconds else 'MISSED'))


if __name__ == '__main__':
    main()
