# -*- coding: utf-8 -*-
"""The balancer order of site.yml (plugins/plugin_utils/rollout.py, filter rollout_plan), and the
rule that lets site.yml compare the balancers in check mode: every task of the haproxy and keepalived
roles that may change a balancer notifies the role's change marker."""

import glob
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.medimaging.pacs_lb.plugins.filter import rollout as rollout_filter
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import rollout

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def held(*vips):
    return {"changed": False, "masters": ["VI_1"] if vips else [],
            "instances": [{"name": "VI_1", "state": "MASTER" if vips else "BACKUP", "vips": ["198.18.0.10", "198.18.0.11"],
                           "vips_held": list(vips)}]}


NOT_RUNNING = {"failed": False, "msg": "no running keepalived found in this network namespace (pid file /run/keepalived.pid)"}
UNREADABLE = {"failed": False, "msg": "keepalived (pid 7) did not rewrite /tmp/keepalived.json within 5.0s"}


def plan(vrrp, changes=None, pairs=None, hosts=None):
    hosts = hosts or sorted(vrrp)
    return rollout.rollout_plan(hosts, vrrp, pairs or {}, changes or dict((h, True) for h in hosts))


def waves(result):
    return dict((host, entry["wave"]) for host, entry in result.items())


def test_holder_last_whatever_the_inventory_order():
    # the case: the second balancer came up first and kept the VIPs (nopreempt)
    assert waves(plan({"lb1": held(), "lb2": held("198.18.0.10", "198.18.0.11")})) == {"lb1": 0, "lb2": 1}
    assert waves(plan({"lb1": held("198.18.0.10", "198.18.0.11"), "lb2": held()})) == {"lb1": 1, "lb2": 0}


def test_fresh_pair_side_by_side():
    # no keepalived anywhere: no VIP is carried, both are updated at once
    assert waves(plan({"lb1": NOT_RUNNING, "lb2": NOT_RUNNING})) == {"lb1": 0, "lb2": 0}
    assert waves(plan({"lb1": NOT_RUNNING, "lb2": held("198.18.0.10")})) == {"lb1": 0, "lb2": 1}


def test_unreadable_counts_as_holder_and_goes_last():
    result = plan({"lb1": UNREADABLE, "lb2": held("198.18.0.10")})
    assert waves(result) == {"lb1": 2, "lb2": 1}
    assert result["lb1"]["state"] == "unknown"
    # both unreadable: one after the other, the later in the inventory first (the usual BACKUP)
    assert waves(plan({"lb1": UNREADABLE, "lb2": UNREADABLE}, hosts=["lb1", "lb2"])) == {"lb1": 2, "lb2": 1}


def test_split_instances_fewest_vips_first():
    assert waves(plan({"lb1": held("198.18.0.10", "198.18.0.11"), "lb2": held("198.18.0.12")})) == {"lb1": 2, "lb2": 1}


def test_pairs_side_by_side():
    vrrp = {"a1": held(), "a2": held("198.18.0.10"), "b1": held("198.18.1.10"), "b2": held()}
    pairs = {"a1": "a", "a2": "a", "b1": "b", "b2": "b"}
    assert waves(plan(vrrp, pairs=pairs, hosts=["a1", "a2", "b1", "b2"])) == {"a1": 0, "a2": 1, "b1": 1, "b2": 0}


def test_summary_lists_only_balancers_with_changes_by_step():
    result = plan({"lb1": held(), "lb2": held("198.18.0.10", "198.18.0.11"), "lb3": NOT_RUNNING},
                  changes={"lb1": True, "lb2": True, "lb3": False})
    assert rollout.plan_summary(result) == [
        "step 1: lb1 (holds 0 VIPs)",
        "step 2: lb2 (holds 2 VIPs)",
        "no change: lb3 (no keepalived running)",
    ]
    assert rollout.plan_summary(plan({"lb1": held()}, changes={"lb1": False})) == ["no change: lb1 (holds 0 VIPs)"]


def test_filter_reads_hostvars_and_pairs_by_model():
    model_a = {"balancers": [{"name": "a1"}, {"name": "a2"}]}
    hostvars = {
        "a1": {"pacs_lb_model": model_a, "__pacs_lb_rollout_vrrp": held("198.18.0.10"), "__pacs_lb_rollout_changes": True},
        "a2": {"pacs_lb_model": model_a, "__pacs_lb_rollout_vrrp": held(), "__pacs_lb_rollout_changes": False},
    }
    result = rollout_filter.rollout_plan(["a1", "a2"], hostvars)
    assert result["a1"] == {"state": "read", "vips_held": 1, "changes": True, "pair": "a1,a2", "wave": 1}
    assert result["a2"]["wave"] == 0 and not result["a2"]["changes"]


def test_filter_refuses_more_holders_than_waves():
    hosts = ["lb%d" % num for num in range(1, 6)]
    hostvars = dict((h, {"__pacs_lb_rollout_vrrp": held("198.18.0.%d" % num), "__pacs_lb_rollout_changes": True})
                    for num, h in enumerate(hosts))
    with pytest.raises(AnsibleFilterError, match="hold VIPs"):
        rollout_filter.rollout_plan(hosts, hostvars)


# --- the change marker ------------------------------------------------------

READ_ONLY = {"ansible.builtin.set_fact", "ansible.builtin.import_tasks", "ansible.builtin.include_tasks",
             "ansible.builtin.slurp", "ansible.builtin.stat", "medimaging.pacs_lb.host_state"}
MARKERS = {"haproxy": "Note a HAProxy change", "keepalived": "Note a keepalived change"}


def role_tasks(role):
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml"))):
        with open(path) as handle:
            for task in yaml.safe_load(handle) or []:
                yield os.path.basename(path), task


def module_of(task):
    return next(key for key in task if key.startswith("ansible.") or key.startswith("medimaging."))


@pytest.mark.parametrize("role", sorted(MARKERS))
def test_every_changing_task_notifies_the_marker(role):
    missing = []
    for path, task in role_tasks(role):
        if module_of(task) in READ_ONLY or task.get("changed_when") is False:
            continue
        notify = task.get("notify") or []
        notify = [notify] if isinstance(notify, str) else notify
        if MARKERS[role] not in notify:
            missing.append("%s: %s" % (path, task["name"]))
    assert not missing, "tasks that may change a balancer without notifying %r: %s" % (MARKERS[role], missing)


@pytest.mark.parametrize("role", sorted(MARKERS))
def test_marker_handler_exists(role):
    with open(os.path.join(ROOT, "roles", role, "handlers", "main.yml")) as handle:
        names = [h["name"] for h in yaml.safe_load(handle)]
    assert MARKERS[role] in names
