"""How a platform team bounds a rollout: --limit narrows the run and its summary to the hosts it names, and
buildfleet_site_serial with buildfleet_site_max_fail_percentage stops the run at the first failing batch, before the
rest of the fleet. Both runs are check-mode runs, after the fleet runs of conftest.py, so they change nothing.
"""
from __future__ import annotations

import json

from sitefleet import FAILING_HOST, healthy_hosts, run_converge


def test_limit_narrows_the_run_and_its_summary(fleet):
    limited = sorted([FAILING_HOST, healthy_hosts()[0]])
    run = run_converge("--check", "--limit", ",".join(limited))
    assert run.rc == 2, run.output
    assert sorted(run.recap) == limited, run.output
    outcome = dict(line.split(": ", 1) for line in run.summary_lines())
    assert sorted(outcome) == limited, run.output
    assert outcome[FAILING_HOST].startswith("FAILED, left as it was: docker_mirrors:")
    assert outcome[healthy_hosts()[0]] == "policy would be applied (check mode)"


# Batches of two in this order: the failing host and a healthy one, then the other healthy ones. (A batch where every
# host fails ends the play by itself, in Ansible, so a batch of one would prove nothing.)
def _batches_of_two(**extra):
    pattern = ":".join([FAILING_HOST] + healthy_hosts())  # a host pattern keeps its order
    extra = dict(extra, buildfleet_site_hosts=pattern, buildfleet_site_serial=2)
    return run_converge("--check", "--extra-vars", json.dumps(extra))


def test_a_failing_batch_stops_the_run_before_the_rest_of_the_fleet(fleet):
    run = _batches_of_two(buildfleet_site_max_fail_percentage=0)
    assert run.rc != 0, run.output
    assert sorted(run.recap) == sorted([FAILING_HOST, healthy_hosts()[0]]), run.output


def test_without_the_bound_the_same_batches_reach_every_host(fleet):
    # The control for the test above: the same batches, max_fail_percentage left at its default (100).
    run = _batches_of_two()
    assert run.rc == 2, run.output
    assert sorted(run.recap) == sorted([FAILING_HOST] + healthy_hosts()), run.output


def test_a_host_whose_probe_task_fails_is_summarised_as_failed_with_the_cause(fleet):
    # The validations run on the controller; the probe is the first task that runs on the host. With no Python
    # there, it fails: the summary must say so, never "policy would be applied". (A second host keeps the play
    # going to its summary: a play whose every host failed ends the run.)
    broken, healthy = healthy_hosts()[:2]
    interpreter = "{{ '/nonexistent/python3' if inventory_hostname == '%s' else '/usr/bin/python3' }}" % broken
    run = run_converge("--check", "--limit", "%s,%s" % (broken, healthy), "--extra-vars",
                       json.dumps({"ansible_python_interpreter": interpreter}))
    assert run.rc == 2, run.output
    outcome = dict(line.split(": ", 1) for line in run.summary_lines())
    assert outcome[broken].startswith("FAILED, left as it was: mirror_check: "), run.output
    assert "/nonexistent/python3" in outcome[broken], run.output
    assert outcome[healthy] == "policy would be applied (check mode)", run.output
