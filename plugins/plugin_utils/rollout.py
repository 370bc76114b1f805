# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The order in which site.yml updates the balancers, from the VRRP state read at run time.

Within a pair (the balancers of one model), the balancers that hold no VIP
go first (side by side: none of them carries traffic), then the holders one
wave each, the one holding the fewest VIPs first; a balancer whose state
could not be read counts as holding everything (last). Waves are numbered
across pairs, so the pairs run side by side: wave 0 is every pair's
non-holders, wave 1 every pair's first holder, and so on. Only balancers
with a change take part; the others are listed for the record.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# vrrp_info's message when no keepalived runs: a balancer not deployed yet (or
# stopped), which holds no VIP through keepalived.
NOT_RUNNING = "no running keepalived"
# More holders than this in one pair: site.yml has no play for them.
MAX_WAVE = 3


def holding(result):
    """(state, VIPs held) of one registered vrrp_info result (failed_when: false).

    state: 'read' (keepalived answered), 'not running' (none runs: holds
    nothing), 'unknown' (it runs but could not be read: treated as the holder).
    """
    result = result or {}
    if "instances" in result:
        held = set()
        for inst in result.get("instances") or []:
            held.update(inst.get("vips_held") or [])
        return "read", len(held)
    if NOT_RUNNING in str(result.get("msg", "")):
        return "not running", 0
    return "unknown", None


def rollout_plan(hosts, vrrp, pairs, changes):
    """The plan: {host: {wave, state, vips_held, changes, pair}} and its summary lines.

    hosts: the balancers in inventory order; vrrp: host -> registered
    vrrp_info result; pairs: host -> pair key (the balancers of its model);
    changes: host -> whether the comparison found a change.
    """
    plan = {}
    by_pair = {}
    for index, host in enumerate(hosts):
        state, held = holding(vrrp.get(host))
        plan[host] = {"state": state, "vips_held": held, "changes": bool(changes.get(host)),
                      "pair": pairs.get(host) or "", "wave": None}
        by_pair.setdefault(plan[host]["pair"], []).append((index, host))
    for members in by_pair.values():
        holders = []
        for index, host in members:
            entry = plan[host]
            if entry["state"] != "unknown" and entry["vips_held"] == 0:
                entry["wave"] = 0
            else:
                # fewest VIPs first; unreadable last; then the later in the inventory first (the
                # first balancer has the highest default priority: the usual MASTER)
                holders.append(((entry["state"] == "unknown", entry["vips_held"] or 0, -index), host))
        for rank, (_key, host) in enumerate(sorted(holders)):
            plan[host]["wave"] = rank + 1
    return plan


def plan_problems(plan):
    """Why site.yml cannot follow the plan (more holders in one pair than it has waves for)."""
    return ["%s: %d balancers of one pair hold VIPs; site.yml updates at most %d of them one after the other "
            "(run it with --limit on part of the pair)" % (host, entry["wave"], MAX_WAVE)
            for host, entry in sorted(plan.items()) if entry["changes"] and entry["wave"] > MAX_WAVE]


def describe(host, entry):
    if entry["state"] == "not running":
        return "%s (no keepalived running)" % host
    if entry["state"] == "unknown":
        return "%s (VRRP state unreadable: treated as the holder)" % host
    return "%s (holds %d VIP%s)" % (host, entry["vips_held"], "" if entry["vips_held"] == 1 else "s")


def plan_summary(plan):
    """One line per wave with the balancers it changes, and one for the balancers without change."""
    lines = []
    waves = sorted(set(e["wave"] for e in plan.values() if e["changes"]))
    for number, wave in enumerate(waves):
        lines.append("step %d: %s" % (number + 1, ", ".join(describe(h, e) for h, e in sorted(plan.items())
                                                            if e["changes"] and e["wave"] == wave)))
    unchanged = [describe(h, e) for h, e in sorted(plan.items()) if not e["changes"]]
    if unchanged:
        lines.append("no change: %s" % ", ".join(unchanged))
    return lines
