# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-server side of Layer 4 DR: which VIPs a host must accept, and the plan
that puts them on (or takes them off) a Linux or Windows server.

Pure functions over the normalized service model and over what the roles read
from the host; the realserver roles only run the commands these decide.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

# Marks every nftables rule the Linux role inserts; rules without it are never touched.
NFT_COMMENT_PREFIX = "pacs_lb_dr:"
# nftables rejects comments longer than this (NFT_USERDATA_MAXLEN).
NFT_COMMENT_MAX = 128
# Linux address labels are at most 15 characters and must start with the device name.
LABEL_PREFIX = "lo:pacslb"
STATE_VERSION = 1


def _ip(text):
    return ipaddress.ip_address(str(text))


def _merge(ranges):
    return sm.parse_ports(["%d-%d" % (first, last) for first, last in ranges])


def _serves(server, host, addresses):
    return server.get("name") == host or (server.get("address") is not None and server["address"] in addresses)


def dr_vips_for_host(model, host, addresses=None):
    """The Layer 4 DR VIPs whose pool includes host, one entry per VIP.

    A server matches by name (the inventory hostname when the pool is an
    inventory group) or, for explicit ``servers`` lists, by one of addresses.
    Ports of every service and port group on the same VIP are merged, since
    the real server accepts the VIP once, on all of them.
    """
    addresses = set(str(a) for a in (addresses or []) if a)
    by_vip = {}
    for svc in (model or {}).get("services", []):
        if svc.get("mode") != "l4_dr":
            continue
        mine = [s for s in svc.get("servers", []) if _serves(s, host, addresses)]
        if not mine:
            continue
        for group in svc["port_groups"]:
            entry = by_vip.setdefault(group["vip"], {
                "vip": group["vip"],
                "version": _ip(group["vip"]).version,
                "ranges": [],
                "services": [],
                "server_address": mine[0]["address"],
            })
            entry["ranges"].extend(tuple(r) for r in group["ports"])
            if svc["name"] not in entry["services"]:
                entry["services"].append(svc["name"])
    out = []
    for vip in sorted(by_vip, key=lambda v: (_ip(v).version, int(_ip(v)))):
        entry = by_vip.pop(vip)
        ranges = _merge(entry.pop("ranges"))
        entry["prefixlen"] = 32 if entry["version"] == 4 else 128
        entry["ports"] = [list(r) for r in ranges]
        entry["port_spec"] = sm.format_ports(ranges)
        out.append(entry)
    return out


def nat_routes_for_host(model, host, addresses=None, networks=("default",)):
    """The routes a real server of Layer 4 NAT services needs: each of networks via the NAT gateway.

    IPVS NAT rewrites the reply's source back to the VIP only if the reply
    passes the balancer that holds the VIP; the gateway address floats with
    the VIPs (the VRRP instance's nat_gateway). networks are the client
    networks to route that way: 'default' for every client, as the guides
    set the real servers' default gateway. A host serving NAT services of
    instances with different gateways cannot route one network through both.
    """
    addresses = set(str(a) for a in (addresses or []) if a)
    gateways = {}
    for svc in (model or {}).get("services", []):
        if svc.get("mode") != "l4_nat" or not svc.get("nat_gateway"):
            continue
        if any(_serves(s, host, addresses) for s in svc.get("servers", [])):
            gateways.setdefault(svc["nat_gateway"], []).append(svc["name"])
    if not gateways:
        return []
    if len(gateways) > 1:
        raise ValueError("%s is a real server of Layer 4 NAT services behind different gateways (%s); one route per "
                         "client network cannot reach both" % (host, "; ".join(
                             "%s: %s" % (gw, ", ".join(names)) for gw, names in sorted(gateways.items()))))
    gateway, services = next(iter(gateways.items()))
    if _ip(gateway).version != 4:
        raise ValueError("%s: IPv6 NAT gateways (%s) are not supported by this role yet" % (host, gateway))
    out = []
    for net in networks or []:
        dst = "default" if net in ("default", "0.0.0.0/0") else str(ipaddress.ip_network(str(net)))
        if dst != "default" and ipaddress.ip_network(dst).version != 4:
            raise ValueError("%s is not an IPv4 network" % net)
        if all(r["dst"] != dst for r in out):
            out.append({"dst": dst, "gateway": gateway, "services": sorted(services)})
    return out


def _route_dst(route):
    dst = route.get("dst", "")
    if dst == "default":
        return dst
    try:
        return str(ipaddress.ip_network(dst, strict=False))
    except ValueError:
        return dst


def nat_route_plan(wanted, routes_now, owned):
    """Routes to replace, restore and delete so that exactly the wanted NAT routes are in place.

    wanted      nat_routes_for_host() (empty when the host no longer serves NAT)
    routes_now  'ip -j -4 route show' (main table)
    owned       the routes an earlier run set: {dst, gateway, before}, before
                being the route it replaced ({gateway, dev}) or None

    A route this role replaced (a default route, say) is put back as it was
    when the role no longer wants it; one it added is deleted. A route someone
    changed since is left alone.
    """
    wanted = wanted or []
    now = dict((_route_dst(r), r) for r in routes_now or [])
    old = dict((o["dst"], o) for o in owned or [])
    replace, new_owned = [], []
    for route in wanted:
        current = now.get(route["dst"])
        if current is None or current.get("gateway") != route["gateway"]:
            replace.append({"dst": route["dst"], "gateway": route["gateway"]})
        if route["dst"] in old:
            before = old[route["dst"]].get("before")
        elif current is not None and current.get("gateway") != route["gateway"]:
            before = {"gateway": current.get("gateway"), "dev": current.get("dev")}
        else:
            before = None
        new_owned.append({"dst": route["dst"], "gateway": route["gateway"], "before": before})
    wanted_dsts = set(r["dst"] for r in wanted)
    restore, delete = [], []
    for route in owned or []:
        current = now.get(route["dst"])
        if route["dst"] in wanted_dsts or current is None or current.get("gateway") != route["gateway"]:
            continue
        if route.get("before"):
            restore.append(dict(route["before"], dst=route["dst"]))
        else:
            delete.append({"dst": route["dst"], "gateway": route["gateway"]})
    return {"replace": replace, "restore": restore, "delete": delete, "owned": new_owned}


def dr_pool_members(model):
    """Names of every real server of a Layer 4 DR service (inventory hostnames for pools)."""
    names = set()
    for svc in (model or {}).get("services", []):
        if svc.get("mode") == "l4_dr":
            names.update(s["name"] for s in svc.get("servers", []))
    return sorted(names)


def dr_sysctls(interface, loose_rp_filter=False):
    """The kernel settings a Linux DR real server needs, on 'all' and on its service interface.

    The kernel uses the larger of the 'all' and the per-interface value for
    arp_ignore, arp_announce and rp_filter, so 'all' alone would do; the
    interface entries keep the intent visible. rp_filter is loosened (2) on
    the service interface only when asked: with the VIP on lo and symmetric
    routing strict mode passes DR traffic.

    Each item: name (for sysctl.d; '/'-separated when the interface name has
    a dot, as a VLAN does), path (under /proc/sys) and value.
    """
    if not interface or "/" in interface or interface in (".", ".."):
        raise ValueError("'%s' is not an interface name" % interface)
    wanted = [("all", "arp_ignore", "1"), ("all", "arp_announce", "2"),
              (interface, "arp_ignore", "1"), (interface, "arp_announce", "2")]
    if loose_rp_filter:
        wanted.append((interface, "rp_filter", "2"))
    out = []
    for dev, key, value in wanted:
        path = "net/ipv4/conf/%s/%s" % (dev, key)
        name = path if "." in dev else path.replace("/", ".")
        if not any(item["path"] == path for item in out):
            out.append({"name": name, "path": path, "value": value})
    return out


def parse_proc_values(text):
    """'grep -sH "" /proc/sys/a /proc/sys/b' output -> {'a': value, 'b': value}."""
    values = {}
    for line in (text or "").splitlines():
        path, sep, value = line.partition(":")
        if sep and path.startswith("/proc/sys/"):
            values[path[len("/proc/sys/"):]] = value.strip()
    return values


def lo_ipv4_addresses(ip_json):
    """IPv4 addresses on lo from 'ip -j addr show' (parsed JSON)."""
    out = []
    for link in ip_json or []:
        if link.get("ifname") != "lo":
            continue
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                out.append(info["local"])
    return out


def interface_with_address(ip_json, address):
    """Name of the interface holding address in 'ip -j addr show' output, or None."""
    for link in ip_json or []:
        for info in link.get("addr_info", []):
            if info.get("local") == address and link.get("ifname") != "lo":
                return link["ifname"]
    return None


def linux_plan(state, vips, lo_addresses, old_state, sysctls, current_values, firewalld_rules=None,
               nat_routes=None, routes_now=None):
    """What the Linux role must change, and the state file that records it.

    state           present or absent; present with no VIP behaves as absent.
    vips            dr_vips_for_host() of this host
    lo_addresses    IPv4 addresses on lo now
    old_state       the state file written by an earlier run, or {}
    sysctls         dr_sysctls() for the service interface
    current_values  /proc/sys values now, for every path of sysctls and of old_state
    firewalld_rules firewalld_rich_rules() wanted now (empty when firewalld is not used)
    nat_routes      nat_routes_for_host() of this host
    routes_now      'ip -j -4 route show' now

    Only what this role added is ever removed: VIPs already on lo before the
    first run are used but not owned, and every sysctl is restored to the
    value it had before the first run.
    """
    old_state = old_state or {}
    owned = list(old_state.get("vips", []))
    before = dict(old_state.get("sysctl_before", {}))
    lo = set(lo_addresses or [])
    present = state == "present" and bool(vips)
    desired = [v["vip"] for v in vips] if present else []
    wanted = sysctls if present else []

    add = []
    for pos, vip in enumerate(desired):
        if vip not in lo:
            add.append({"address": vip, "prefixlen": 32, "label": "%s%d" % (LABEL_PREFIX, pos)})
    remove = [vip for vip in owned if vip not in desired and vip in lo]
    new_owned = [vip for vip in desired if vip in owned or vip not in lo]

    missing = [item["path"] for item in wanted if item["path"] not in current_values]
    if missing:
        raise ValueError("cannot read /proc/sys/%s: is the service interface right?" % ", /proc/sys/".join(missing))
    sysctl_set = [dict(item) for item in wanted if current_values[item["path"]] != item["value"]]
    new_before = {}
    for item in wanted:
        new_before[item["path"]] = before.get(item["path"], current_values[item["path"]])
    wanted_paths = set(item["path"] for item in wanted)
    sysctl_restore = []
    for path in sorted(before):
        if path in wanted_paths or path not in current_values:
            continue
        if current_values[path] != before[path]:
            sysctl_restore.append({"path": path, "value": before[path]})

    fw_wanted = list(firewalld_rules or []) if present else []
    fw_remove = [rule for rule in old_state.get("firewalld_rules", []) if rule not in fw_wanted]

    routes = nat_route_plan(nat_routes if state == "present" else [], routes_now, old_state.get("nat_routes"))

    new_state = None
    if new_owned or new_before or fw_wanted or routes["owned"]:
        new_state = {"version": STATE_VERSION, "vips": new_owned, "sysctl_before": new_before,
                     "firewalld_rules": fw_wanted, "nat_routes": routes["owned"]}
    return {
        "present": present,
        "nat_routes": routes["owned"],
        "route_replace": routes["replace"],
        "route_restore": routes["restore"],
        "route_delete": routes["delete"],
        "firewalld_add": fw_wanted,
        "firewalld_remove": fw_remove,
        "add": add,
        "remove": remove,
        "sysctl_set": sysctl_set,
        "sysctl_restore": sysctl_restore,
        "state": new_state,
    }


def _nft_ports(ranges):
    parts = [str(a) if a == b else "%d-%d" % (a, b) for a, b in ranges]
    return parts[0] if len(parts) == 1 else "{ %s }" % ", ".join(parts)


def nft_comment(vip):
    """The comment that identifies the rule for one VIP (and its exact ports)."""
    comment = "%s%s:%s" % (NFT_COMMENT_PREFIX, vip["vip"], vip["port_spec"])
    if len(comment) > NFT_COMMENT_MAX:
        digest = hashlib.sha256(vip["port_spec"].encode("ascii")).hexdigest()[:16]
        comment = "%s%s:sha256-%s" % (NFT_COMMENT_PREFIX, vip["vip"], digest)
    return comment


def nft_input_chains(ruleset, families=("inet",)):
    """Input filter base chains with policy drop in 'nft -j list ruleset' output, as 'family table chain'.

    A packet must be accepted by every base chain on its hook: an accept in a
    table of our own cannot open a port that another table drops, so the
    opening rule goes into the host's own input chains. Only families asked
    for are considered (inet by default: iptables-nft writes ip/ip6 tables
    that should be left to iptables).
    """
    chains = []
    for item in (ruleset or {}).get("nftables", []):
        chain = item.get("chain")
        if not chain or chain.get("hook") != "input" or chain.get("type") != "filter":
            continue
        if chain.get("family") not in families or chain.get("policy") != "drop":
            continue
        chains.append("%s %s %s" % (chain["family"], chain["table"], chain["name"]))
    return chains


def nft_rules(vips, chains):
    """One nftables rule per (chain, VIP), each tagged by nft_comment()."""
    rules = []
    for chain in chains:
        for vip in vips:
            comment = nft_comment(vip)
            rules.append({
                "chain": chain,
                "comment": comment,
                "rule": 'ip daddr %s tcp dport %s accept comment "%s"' % (vip["vip"], _nft_ports(vip["ports"]), comment),
            })
    return rules


def nft_owned_rules(ruleset):
    """Rules this role inserted (by comment prefix): chain, handle, comment."""
    out = []
    for item in (ruleset or {}).get("nftables", []):
        rule = item.get("rule")
        if rule and str(rule.get("comment", "")).startswith(NFT_COMMENT_PREFIX):
            out.append({"chain": "%s %s %s" % (rule["family"], rule["table"], rule["chain"]),
                        "handle": rule["handle"], "comment": rule["comment"]})
    return out


def nft_plan(desired_rules, owned_rules):
    """Rules to insert (desired, not there) and handles to delete (ours, not desired, or duplicated)."""
    have = set()
    delete = []
    desired_keys = set((r["chain"], r["comment"]) for r in desired_rules)
    for rule in owned_rules:
        key = (rule["chain"], rule["comment"])
        if key in desired_keys and key not in have:
            have.add(key)
        else:
            delete.append(rule)
    insert = [r for r in desired_rules if (r["chain"], r["comment"]) not in have]
    return {"insert": insert, "delete": delete}


def firewalld_rich_rules(vips):
    """firewalld rich rules that accept the DR ports for each VIP only."""
    rules = []
    for vip in vips:
        family = "ipv4" if vip["version"] == 4 else "ipv6"
        for first, last in vip["ports"]:
            port = str(first) if first == last else "%d-%d" % (first, last)
            rules.append('rule family="%s" destination address="%s/%d" port port="%s" protocol="tcp" accept' % (
                family, vip["vip"], vip["prefixlen"], port))
    return rules


def windows_firewall_rules(vips, prefix="PACS LB DR"):
    """Inbound Windows firewall rules, one per VIP: name, localip, localport."""
    return [{"name": "%s %s" % (prefix, vip["vip"]), "localip": vip["vip"], "localport": vip["port_spec"]}
            for vip in vips]


HOST_STATE_SECTIONS = ("probe", "addr", "route", "sysctl", "state", "nft", "interfaces", "firewalld")


def parse_host_state(text):
    """The output of the Linux role's one-round-trip read ('### name' sections) as a dict.

    probe: paths that exist; addr, route: 'ip -j' output; sysctl: /proc/sys
    values by path; state: the role's record; nft: 'nft -j list ruleset';
    interfaces: /etc/network/interfaces; firewalld: 'firewall-cmd --state'.
    """
    raw = dict((name, []) for name in HOST_STATE_SECTIONS)
    current = None
    for line in (text or "").splitlines():
        if line.startswith("### ") and line[4:].strip() in raw:
            current = line[4:].strip()
        elif current is not None:
            raw[current].append(line)

    def _json(lines, empty):
        body = "\n".join(lines).strip()
        return json.loads(body) if body else empty

    return {
        "probe": [line for line in raw["probe"] if line.strip()],
        "addr": _json(raw["addr"], []),
        "route": _json(raw["route"], []),
        "sysctl": parse_proc_values("\n".join(raw["sysctl"])),
        "state": _json(raw["state"], {}),
        "nft": _json(raw["nft"], {}),
        "interfaces": "\n".join(raw["interfaces"]),
        "firewalld": "\n".join(raw["firewalld"]).strip(),
    }
