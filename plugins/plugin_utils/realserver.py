# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-server side of Layer 4 DR and NAT on the controller: which VIPs a
host must accept and which routes it needs, from the normalized service model.

The plan that puts them on a Linux host runs there (module_utils/
realserver_plan.py, module realserver_linux); the Windows role reads these
directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm


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


def dr_pool_members(model):
    """Names of every real server of a Layer 4 DR service (inventory hostnames for pools)."""
    names = set()
    for svc in (model or {}).get("services", []):
        if svc.get("mode") == "l4_dr":
            names.update(s["name"] for s in svc.get("servers", []))
    return sorted(names)


def windows_firewall_rules(vips, prefix="PACS LB DR"):
    """Inbound Windows firewall rules, one per VIP: name, localip, localport."""
    return [{"name": "%s %s" % (prefix, vip["vip"]), "localip": vip["vip"], "localport": vip["port_spec"]}
            for vip in vips]
