# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several balancer pairs (clusters) in one inventory.

A balancer names its cluster with pacs_lb_cluster (set in the group_vars of
a cluster group); balancers without it form the cluster 'default', so a
single-pair inventory is one implicit cluster and reads as before. Each
cluster's model is built by build_model() from the variables of its
balancers (which must agree: they come from the cluster group's
group_vars), then the rules that span clusters are checked:

- a VIP or NAT gateway address floats in one pair only (two pairs holding
  one address would both answer ARP for it), so it is never also a VIP,
  gateway, balancer or real server address of another cluster;
- virtual_router_id is unique per layer-2 network: VRRP instances of
  different clusters whose networks overlap are taken to share the segment
  (their adverts, and keepalived's IPVS sync, which uses the VRID as sync
  id, would mix);
- a balancer address belongs to one balancer;
- a real server of Layer 4 NAT services of several clusters must route
  replies through one gateway.

Names may repeat across clusters: service names become HAProxy sections and
VRRP instance names keepalived blocks only in the configuration of their own
cluster's balancers, and the verify report groups by cluster. Real servers
may serve several clusters; hosts that are no balancer get the union of
every cluster's services (union_model), so the realserver roles put every
DR VIP of every cluster on their loopback with one set of ARP settings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import netaddr
except ImportError:  # pragma: no cover - build_model reports it
    netaddr = None

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_validation as mv
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_schema import show

CLUSTER_VAR = "pacs_lb_cluster"
DEFAULT_CLUSTER = "default"
# The variables one cluster's model is built from, read from its balancers.
INPUT_VARS = ("pacs_lb_vendor", "pacs_lb_services", "pacs_lb_vrrp_instances", "pacs_lb_pools",
              "pacs_lb_check_script_dirs", "pacs_lb_tls_certificates", "pacs_lb_tls_server_ca")
_MISSING = object()


def cluster_members(balancer_vars):
    """[(host, vars)] in inventory order -> ({cluster: [hosts]}, [problems]), clusters in order of first member."""
    members, problems = {}, []
    for host, hvars in balancer_vars:
        name = hvars.get(CLUSTER_VAR, DEFAULT_CLUSTER)
        if not isinstance(name, str) or not mv.NAME_RE.match(name):
            problems.append("balancer '%s': %s: %s is not a cluster name: letters, digits, _ . -, starting with a "
                            "letter" % (host, CLUSTER_VAR, show(name)))
            continue
        members.setdefault(name, []).append(host)
    return members, problems


def _cluster_inputs(name, hosts, by_host, prefix, problems):
    """The inputs of one cluster: its first balancer's, which every other member must share."""
    first = by_host[hosts[0]]
    for host in hosts[1:]:
        for var in INPUT_VARS:
            if by_host[host].get(var, _MISSING) != first.get(var, _MISSING):
                problems.append("%sbalancer '%s': %s: differs from balancer '%s' of the same cluster; the balancers "
                                "of a cluster share one model: set it in the cluster group's group_vars, not per "
                                "host" % (prefix, host, var, hosts[0]))
    return first


def build_clusters(balancer_vars, groups, hostvars, profiles, balancer_group="balancers", now=None):
    """Every cluster's model, checked alone and across clusters.

    balancer_vars  [(host, {pacs_lb_cluster and INPUT_VARS it has})] for the
                   balancer group, in inventory order
    groups         the inventory's groups; hostvars the model's host variables
    profiles       {vendor: profile services} for the vendors in use (a
                   vendor missing here is unknown)

    Returns {"clusters": {name: model}, "member_of": {balancer: name},
    "union": the model of a host that is no balancer} or raises
    ModelError naming cluster, service and field in every line.
    """
    members, problems = cluster_members(balancer_vars)
    if not balancer_vars:
        problems.append("inventory: balancers: group '%s' has no hosts" % balancer_group)
    by_host = dict(balancer_vars)
    multi = len(members) > 1
    models = {}
    for name, hosts in members.items():
        prefix = "cluster '%s': " % name if multi else ""
        inputs = _cluster_inputs(name, hosts, by_host, prefix, problems)
        vendor = inputs.get("pacs_lb_vendor", "none")
        if vendor != "none" and vendor not in profiles:
            problems.append("%sinventory: pacs_lb_vendor: %s is not a vendor profile; use one of none, %s" % (
                prefix, show(vendor), ", ".join(sorted(profiles))))
            continue
        try:
            model = mv.build_model(
                profiles.get(vendor) or [], inputs.get("pacs_lb_services"), inputs.get("pacs_lb_vrrp_instances"),
                inputs.get("pacs_lb_pools"), groups, hostvars, balancer_group,
                inputs.get("pacs_lb_check_script_dirs", list(mv.DEFAULT_SCRIPT_DIRS)),
                tls_certificates=inputs.get("pacs_lb_tls_certificates"),
                tls_server_ca=inputs.get("pacs_lb_tls_server_ca"), now=now, balancer_hosts=hosts)
        except mv.ModelError as exc:
            problems.extend(prefix + line for line in exc.problems)
            continue
        model["cluster"] = name
        models[name] = model
    if multi:
        problems.extend(cross_cluster_problems(models))
    if problems:
        raise mv.ModelError(problems)
    member_of = dict((host, name) for name, hosts in members.items() for host in hosts)
    return {"clusters": models, "member_of": member_of, "union": union_model(models)}


def _floating(model):
    """(address, what) of every address that floats with the cluster's VRRP instances."""
    out = []
    for svc in model["services"]:
        for group in svc["port_groups"]:
            if group["vip"] is not None:
                out.append((group["vip"], "service '%s'" % svc["name"], "vip"))
    for inst in model["vrrp_instances"]:
        if inst.get("nat_gateway"):
            out.append((inst["nat_gateway"], "vrrp instance '%s'" % inst["name"], "nat_gateway"))
    return out


def _servers(model):
    for svc in model["services"]:
        for srv in svc["servers"] + [s for r in svc["routes"] for s in r["servers"]]:
            yield svc, srv


def cross_cluster_problems(models):
    """The rules across clusters, one line each, naming both clusters."""
    problems = []
    owner = {}
    for name, model in models.items():
        for address, where, field in _floating(model):
            first = owner.get(address)
            if first is not None and first[0] != name:
                problems.append("cluster '%s': %s: %s: %s is also %s of cluster '%s'; an address floats in one "
                                "balancer pair: give each cluster addresses of its own" % (
                                    name, where, field, address, first[1], first[0]))
            owner.setdefault(address, (name, "the %s of %s" % (field, where)))
    balancer_of = {}
    for name, model in models.items():
        for bal in model["balancers"]:
            first = balancer_of.setdefault(bal["address"], (name, bal["name"]))
            if first[1] != bal["name"]:
                problems.append("cluster '%s': balancer '%s': pacs_lb_address: %s is also the address of balancer "
                                "'%s' of cluster '%s'" % (name, bal["name"], bal["address"], first[1], first[0]))
            if bal["address"] in owner and owner[bal["address"]][0] != name:
                problems.append("cluster '%s': balancer '%s': pacs_lb_address: %s is %s of cluster '%s'" % (
                    name, bal["name"], bal["address"], owner[bal["address"]][1], owner[bal["address"]][0]))
    nat_gateways = {}
    for name, model in models.items():
        for svc, srv in _servers(model):
            other = owner.get(srv["address"])
            if other is not None and other[0] != name:
                problems.append("cluster '%s': service '%s': server '%s': address %s is %s of cluster '%s'" % (
                    name, svc["name"], srv["name"], srv["address"], other[1], other[0]))
            if svc["mode"] == "l4_nat" and svc.get("nat_gateway"):
                nat_gateways.setdefault(srv["address"], {}).setdefault(svc["nat_gateway"], (name, svc["name"]))
    for address, gateways in sorted(nat_gateways.items()):
        clusters = set(pair[0] for pair in gateways.values())
        if len(gateways) > 1 and len(clusters) > 1:
            problems.append("real server %s: nat_gateway: serves Layer 4 NAT services behind different gateways (%s); "
                            "its replies can take one route per client network: use one gateway address for it" % (
                                address, "; ".join("%s for cluster '%s' service '%s'" % (gw, c, s) for gw, (c, s) in
                                                   sorted(gateways.items()))))
    problems.extend(_vrid_problems(models))
    return problems


def _vrid_problems(models):
    """virtual_router_id unique per layer-2 network: instances of other clusters on overlapping networks."""
    problems, seen = [], []
    for name, model in models.items():
        for inst in model["vrrp_instances"]:
            net = netaddr.IPNetwork(inst["network"])
            for other_name, other, other_net in seen:
                if other_name == name or other["virtual_router_id"] != inst["virtual_router_id"]:
                    continue
                if net.version == other_net.version and net.first <= other_net.last and other_net.first <= net.last:
                    problems.append("cluster '%s': vrrp instance '%s': virtual_router_id: %d is also used by VRRP "
                                    "instance '%s' of cluster '%s' on %s, which overlaps %s (one layer-2 network); "
                                    "it must be unique there: pick a VRID 1-255 that no other cluster uses on this "
                                    "network" % (name, inst["name"], inst["virtual_router_id"], other["name"],
                                                 other_name, other["network"], inst["network"]))
            seen.append((name, inst, net))
    return problems


def union_model(models):
    """The model of a host that is no balancer: every cluster's services, each naming its cluster.

    Read by the realserver roles (the DR VIPs and NAT routes of a real
    server that serves several clusters); nothing renders a balancer's
    configuration from it. With one cluster it is that cluster's model.
    """
    if len(models) == 1:
        return next(iter(models.values()))
    out = {"cluster": None, "clusters": list(models), "services": [], "vrrp_instances": [], "balancers": [],
           "ipvs_sync_instance": None, "ipvs_nat_interfaces": [], "paths": dict(mv.PATHS), "tls_files": [],
           "tls_certificates": {}}
    for name, model in models.items():
        for key in ("services", "vrrp_instances", "balancers"):
            out[key].extend(dict(item, cluster=name) for item in model[key])
    return out


def as_clusters(value):
    """A model (one cluster) or {cluster: model} -> {cluster: model}."""
    if isinstance(value, dict) and isinstance(value.get("services"), list):
        return {value.get("cluster") or DEFAULT_CLUSTER: value}
    return dict(value or {})


def clusters_in_scope(clusters, hosts=None):
    """The clusters with a balancer among hosts (a play's hosts, --limit applied); all of them without hosts.

    A single cluster is always in scope (its verify runs on the balancers it has)."""
    if hosts is None or len(clusters) == 1:
        return list(clusters)
    hosts = set(hosts)
    return [name for name, model in clusters.items() if any(b["name"] in hosts for b in model["balancers"])]
