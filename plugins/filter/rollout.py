# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind site.yml's balancer order (plugins/plugin_utils/rollout.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import rollout


def _pair(hostvars):
    """The pair of a balancer: the balancers of its model (one pair per model)."""
    model = hostvars.get("pacs_lb_model") or {}
    return ",".join(sorted(b.get("name", "") for b in model.get("balancers") or []))


def rollout_plan(hosts, hostvars):
    """{host: {wave, state, vips_held, changes, pair}} from each host's __pacs_lb_rollout_vrrp / _changes."""
    hosts = list(hosts)
    facts = dict((host, hostvars[host]) for host in hosts)
    plan = rollout.rollout_plan(
        hosts,
        dict((host, facts[host].get("__pacs_lb_rollout_vrrp")) for host in hosts),
        dict((host, _pair(facts[host])) for host in hosts),
        dict((host, facts[host].get("__pacs_lb_rollout_changes")) for host in hosts))
    problems = rollout.plan_problems(plan)
    if problems:
        raise AnsibleFilterError("; ".join(problems))
    return plan


class FilterModule(object):
    def filters(self):
        return {
            "rollout_plan": rollout_plan,
            "rollout_summary": rollout.plan_summary,
        }
