# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux real server's plan for Layer 4 DR and NAT: what to change, given
what the host has now and what the model wants (the realserver_linux module).

Standard library only (it runs on the real server). Pure functions over
what the module reads; the module only runs what these decide. The VIPs and
NAT routes a host needs come from the controller (plugin_utils/realserver.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress

# Marks every nftables rule the Linux role inserts; rules without it are never touched.
NFT_COMMENT_PREFIX = "pacs_lb_dr:"
# nftables rejects comments longer than this (NFT_USERDATA_MAXLEN).
NFT_COMMENT_MAX = 128
# Linux address labels are at most 15 characters and must start with the device name.
LABEL_PREFIX = "lo:pacslb"
STATE_VERSION = 1


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


# ----------------------------------------------------------------- the files that keep the state across reboots

HEADER = "# Ansible managed (medimaging.pacs_lb.realserver_linux): edits are overwritten.\n"


def sysctl_conf(sysctls):
    """sysctl.d file: the ARP settings a DR real server needs, applied at boot by systemd-sysctl."""
    return HEADER + (
        "# Layer 4 DR real server. The VIPs sit on lo: answer ARP only for addresses\n"
        "# of the interface asked (arp_ignore=1) and never use a VIP as ARP source\n"
        "# (arp_announce=2), so that only the balancer holding a VIP answers for it.\n"
    ) + "".join("%s = %s\n" % (item["name"], item["value"]) for item in sysctls)


def ifupdown_conf(vips):
    """interfaces.d file: each VIP as a /32 alias of lo (the host accepts it without owning its network)."""
    text = HEADER + "# Layer 4 DR VIPs on lo.\n"
    for pos, vip in enumerate(vips):
        text += "\nauto %s%d\niface %s%d inet static\n    address %s/32\n" % (
            LABEL_PREFIX, pos, LABEL_PREFIX, pos, vip["vip"])
    return text


def networkd_conf(vips):
    """systemd-networkd file for lo. Matching lo makes networkd manage it, so the
    loopback addresses are listed too, and addresses added by others are kept."""
    text = HEADER + ("# Layer 4 DR VIPs on lo.\n[Match]\nName=lo\n\n[Network]\nKeepConfiguration=yes\n\n"
                     "[Address]\nAddress=127.0.0.1/8\n\n[Address]\nAddress=::1/128\n")
    for pos, vip in enumerate(vips):
        text += "\n[Address]\nAddress=%s/32\nLabel=%s%d\n" % (vip["vip"], LABEL_PREFIX, pos)
    return text


def networkmanager_conf(vips):
    """NetworkManager loopback profile (NetworkManager 1.42 or later)."""
    addresses = "".join("address%d=%s/32\n" % (pos + 2, vip["vip"]) for pos, vip in enumerate(vips))
    return HEADER + ("# Layer 4 DR VIPs on lo.\n[connection]\nid=pacs-lb-dr\ntype=loopback\ninterface-name=lo\n"
                     "autoconnect=true\n\n[ipv4]\nmethod=manual\naddress1=127.0.0.1/8\n%s\n"
                     "[ipv6]\nmethod=manual\naddress1=::1/128\n" % addresses)


def nft_include(rules):
    """The include file for the nftables boot configuration: the accept rules
    in the host's own input chains. "add" leaves a table or chain that exists
    alone and keeps the ruleset loadable if one was renamed; inserting in
    reverse leaves the chain in the order of rules."""
    text = HEADER + "# Layer 4 DR: accept the DR ports for the VIPs.\n"
    chains = []
    for rule in rules:
        if rule["chain"] not in chains:
            chains.append(rule["chain"])
    for chain in chains:
        family, table = chain.split(" ")[:2]
        text += "add table %s %s\nadd chain %s\n" % (family, table, chain)
    for rule in reversed(rules):
        text += "insert rule %s %s\n" % (rule["chain"], rule["rule"])
    return text


def nat_routes_unit(routes):
    """systemd unit that puts the NAT routes back at boot (they are set live with ip(8))."""
    return HEADER + (
        "# Layer 4 NAT replies go back through the balancer holding the VIPs.\n"
        "[Unit]\nDescription=Routes through the PACS balancers' NAT gateway\nAfter=network-online.target\n"
        "Wants=network-online.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
    ) + "".join("ExecStart=/sbin/ip -4 route replace %s via %s\n" % (r["dst"], r["gateway"]) for r in routes) + (
        "\n[Install]\nWantedBy=multi-user.target\n")


def choose_network_config(wanted, found, nm_link, networkd_link):
    """How the VIPs survive a reboot: the one asked for, or the first one that runs here."""
    if wanted != "auto":
        return wanted
    if "/usr/sbin/NetworkManager" in found and ("/run/NetworkManager" in found or nm_link in found):
        return "networkmanager"
    if "/run/systemd/netif/links" in found or networkd_link in found:
        return "networkd"
    if "/sbin/ifup" in found and "/etc/network/interfaces" in found:
        return "ifupdown"
    return "none"


def choose_firewall(wanted, firewalld_state, found):
    """The host firewall to open: the one asked for, firewalld when it runs, nftables when nft is there."""
    if wanted != "auto":
        return wanted
    if firewalld_state == "running":
        return "firewalld"
    return "nftables" if "/usr/sbin/nft" in found else "none"


def loose_rp_filter(mode, interface, default_dev):
    """rp_filter loosened on the service interface: asked for, or (auto) when replies leave by another one."""
    return mode == "loose" or (mode == "auto" and bool(default_dev) and default_dev != interface)
