#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: realserver_linux
short_description: Prepare a Linux real server for Layer 4 Direct Routing and NAT
description:
  - Solves the "ARP problem" of Layer 4 DR on a Linux real server - each DR VIP on C(lo) as a /32, ARP answered
    only for the interface's own addresses (C(arp_ignore=1), C(arp_announce=2)), C(rp_filter) loosened on the
    service interface when replies leave by another one - opens the DR ports in the host's nftables input chains,
    and routes the client networks of Layer 4 NAT services through the balancers' NAT gateway.
  - Reads the host in one go (addresses, routes, kernel settings, firewall, network configuration, its own record),
    plans every change, then applies it in an order that never lets the host answer ARP for a VIP (the kernel
    settings before a VIP is added, the VIP removed before they are restored), live and in the boot-time
    configuration (sysctl.d, ifupdown, systemd-networkd or NetworkManager, the nftables include, a systemd unit
    for the routes).
  - Records what it added in O(state_file), so that O(state=absent) takes back exactly that and restores every
    kernel setting to its value before the first run; what was there before is used, never removed.
  - The VIPs and routes come from the service model on the controller (filters
    C(medimaging.pacs_lb.dr_vips_for_host) and C(medimaging.pacs_lb.realserver_nat_routes)); the role
    M(medimaging.pacs_lb.realserver_linux) passes them. firewalld rich rules are planned here (C(firewalld_add) and
    C(firewalld_remove) of RV(plan)) and applied by the role with C(ansible.posix.firewalld).
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  state:
    description: V(present) accepts the O(vips); V(absent) takes back what earlier runs added.
    type: str
    choices: [present, absent]
    default: present
  vips:
    description: The DR VIPs of this host (C(dr_vips_for_host)), each with C(vip), C(version), C(ports), C(port_spec)
      and C(server_address). An empty list behaves as O(state=absent) for the DR part.
    type: list
    elements: dict
    default: []
  nat_routes:
    description: The NAT routes of this host (C(realserver_nat_routes)), each with C(dst) and C(gateway).
    type: list
    elements: dict
    default: []
  interface:
    description: Interface DR traffic arrives on; empty, the one holding the VIPs' C(server_address).
    type: str
    default: ""
  rp_filter:
    description: V(auto) loosens C(rp_filter) on the service interface when it is not the default route's,
      V(loose) always, V(keep) never.
    type: str
    choices: [auto, loose, keep]
    default: auto
  network_config:
    description: How the VIPs survive a reboot; V(auto) takes NetworkManager, then systemd-networkd, then ifupdown,
      whichever runs here; V(none) applies them live only.
    type: str
    choices: [auto, ifupdown, networkd, networkmanager, none]
    default: auto
  firewall:
    description: Host firewall to open the DR ports in; V(auto) takes firewalld when it runs, else nftables when
      C(nft) is installed.
    type: str
    choices: [auto, nftables, firewalld, none]
    default: auto
  nftables_chains:
    description: nftables input chains (C(family table chain)) for the accept rules; empty, every inet input filter
      chain with policy drop.
    type: list
    elements: str
    default: []
  nftables_conf:
    description: The nftables boot configuration that includes O(nftables_file).
    type: path
    default: /etc/nftables.conf
  nftables_file:
    description: The include file with the accept rules.
    type: path
    default: /etc/nftables-pacs-lb-dr.nft
  sysctl_file:
    description: The sysctl.d file with the ARP settings.
    type: path
    default: /etc/sysctl.d/90-pacs-lb-dr.conf
  ifupdown_file:
    description: The ifupdown file with the VIPs.
    type: path
    default: /etc/network/interfaces.d/pacs-lb-dr
  networkd_file:
    description: The systemd-networkd file with the VIPs.
    type: path
    default: /etc/systemd/network/10-pacs-lb-dr.network
  networkmanager_file:
    description: The NetworkManager loopback profile with the VIPs.
    type: path
    default: /etc/NetworkManager/system-connections/pacs-lb-dr.nmconnection
  state_file:
    description: The record of what this module added.
    type: path
    default: /var/lib/pacs-lb-realserver.json
  nat_routes_unit:
    description: The systemd unit that puts the NAT routes back at boot.
    type: path
    default: /etc/systemd/system/pacs-lb-nat-routes.service
notes:
  - Supports check mode and diff mode. Needs root (C(become)); Python's standard library, C(ip), and C(nft) where
    nftables is the firewall.
  - IPv6 DR VIPs are refused.
"""

EXAMPLES = r"""
- name: Accept the DR VIPs of this host's pools
  medimaging.pacs_lb.realserver_linux:
    vips: "{{ pacs_lb_model | medimaging.pacs_lb.dr_vips_for_host(inventory_hostname, [pacs_lb_address]) }}"
    nat_routes: "{{ pacs_lb_model | medimaging.pacs_lb.realserver_nat_routes(inventory_hostname, [pacs_lb_address]) }}"
  become: true

- name: Take back everything an earlier run added
  medimaging.pacs_lb.realserver_linux:
    state: absent
  become: true
"""

RETURN = r"""
interface:
  description: The service interface (empty when no DR VIP is wanted).
  returned: always
  type: str
  sample: eth0
firewall:
  description: The host firewall opened (V(nftables), V(firewalld) or V(none)).
  returned: always
  type: str
firewalld_running:
  description: firewalld runs (its rules are then applied at once as well as permanently).
  returned: always
  type: bool
network_config:
  description: Where the VIPs are kept for the next boot (V(ifupdown), V(networkd), V(networkmanager) or V(none)).
  returned: always
  type: str
plan:
  description: What was (or, in check mode, would be) changed - C(add) and C(remove) (VIPs on lo), C(sysctl_set) and
    C(sysctl_restore), C(route_replace), C(route_restore) and C(route_delete), C(nft_insert) and C(nft_delete),
    C(firewalld_add) and C(firewalld_remove), C(files) (path to V(written) or V(removed)), and C(state) (the new
    record, or null once nothing is left to undo).
  returned: always
  type: dict
"""

import json
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils import realserver_plan as rp

NM_ENABLED_LINK = "/etc/systemd/system/multi-user.target.wants/NetworkManager.service"
NETWORKD_ENABLED_LINK = "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
FIXED_PATHS = ("/run/systemd/system", "/usr/sbin/NetworkManager", "/run/NetworkManager", NM_ENABLED_LINK,
               "/run/systemd/netif/links", NETWORKD_ENABLED_LINK, "/sbin/ifup", "/etc/network/interfaces",
               "/usr/bin/firewall-cmd", "/usr/sbin/nft")
SYSCTL_KEYS = ("arp_ignore", "arp_announce", "rp_filter")


class Host(object):
    """Reads and changes of one host; changes are recorded, and skipped in check mode."""

    def __init__(self, module):
        self.module = module
        self.changed = False
        self.diff = []
        self.files = {}

    def run(self, argv, check_rc=True):
        # Commands by name: found in the sbin directories too (become may keep a user's PATH).
        argv = [self.module.get_bin_path(argv[0], required=True, opt_dirs=["/usr/sbin", "/sbin"])] + list(argv[1:])
        rc, out, err = self.module.run_command(argv)
        if check_rc and rc != 0:
            self.module.fail_json(msg="%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return rc, out

    def change(self, argv):
        self.changed = True
        if not self.module.check_mode:
            self.run(argv)

    def read_text(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError):
            return None

    def ensure_file(self, path, content, mode, validate=None):
        """path holds content (root-owned, mode); validate: argv with %s, run on the new text first."""
        before = self.read_text(path)
        same_mode = before is not None and (os.stat(path).st_mode & 0o7777) == mode
        if before == content and same_mode:
            return
        self.changed = True
        self.files[path] = "written"
        self.diff.append({"before": before or "", "after": content, "before_header": path, "after_header": path})
        if self.module.check_mode:
            return
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".pacs-lb-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(content)
            os.chmod(tmp, mode)
            if validate:
                rc, out = self.run([arg.replace("%s", tmp) for arg in validate], check_rc=False)
                if rc != 0:
                    self.module.fail_json(msg="%s: the new content does not validate (%s): %s" % (
                        path, " ".join(validate), out.strip()))
            self.module.atomic_move(tmp, path)
            os.chmod(path, mode)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def ensure_absent(self, path):
        if not os.path.lexists(path):
            return
        self.changed = True
        self.files[path] = "removed"
        self.diff.append({"before": self.read_text(path) or "", "after": "", "before_header": path,
                          "after_header": "(absent)"})
        if not self.module.check_mode:
            os.unlink(path)


def read_state(host, p):
    """Everything the plan needs, read once."""
    paths = [p[k] for k in ("state_file", "nat_routes_unit", "sysctl_file", "ifupdown_file", "networkd_file",
                            "networkmanager_file", "nftables_file", "nftables_conf")] + list(FIXED_PATHS)
    found = [path for path in paths if os.path.lexists(path)]
    values = {}
    conf = "/proc/sys/net/ipv4/conf"
    for dev in sorted(os.listdir(conf)):
        for key in SYSCTL_KEYS:
            text = host.read_text(os.path.join(conf, dev, key))
            if text is not None:
                values["net/ipv4/conf/%s/%s" % (dev, key)] = text.strip()
    old = {}
    if p["state_file"] in found:
        try:
            old = json.loads(host.read_text(p["state_file"]) or "{}")
        except ValueError as exc:
            host.module.fail_json(msg="%s is not the record this module writes: %s" % (p["state_file"], exc))
    ruleset = {}
    if "/usr/sbin/nft" in found:
        rc, out = host.run(["nft", "-j", "list", "ruleset"], check_rc=False)
        ruleset = json.loads(out) if rc == 0 and out.strip() else {}
    firewalld = ""
    if "/usr/bin/firewall-cmd" in found:
        firewalld = host.run(["firewall-cmd", "--state"], check_rc=False)[1].strip()
    return {
        "found": found,
        "addr": json.loads(host.run(["ip", "-j", "addr", "show"])[1] or "[]"),
        "route": json.loads(host.run(["ip", "-j", "-4", "route", "show"])[1] or "[]"),
        "sysctl": values,
        "state": old,
        "nft": ruleset,
        "interfaces": host.read_text("/etc/network/interfaces") or "",
        "firewalld": firewalld,
    }


def network_config_files(host, p, now, netcfg, vips):
    """The chosen boot-time configuration holds the VIPs; the others are removed."""
    if netcfg == "networkmanager":
        rc, out = host.run(["NetworkManager", "--version"], check_rc=False)
        version = re.match(r"[0-9.]*", out.strip()).group(0)
        if rc != 0 or [int(x) for x in version.split(".") if x][:2] < [1, 42]:
            host.module.fail_json(msg="NetworkManager %s has no loopback profiles (1.42 or later needed). Set "
                                  "realserver_linux_network_config to ifupdown, networkd or none." % out.strip())
    if netcfg == "ifupdown" and not re.search(r"(?m)^\s*source(-directory)?\s+\S*interfaces\.d", now["interfaces"]):
        host.module.fail_json(msg="/etc/network/interfaces does not source /etc/network/interfaces.d, so %s would "
                              "not be read at boot. Add \"source /etc/network/interfaces.d/*\" or set "
                              "realserver_linux_network_config." % p["ifupdown_file"])
    if netcfg == "none" and vips:
        host.module.warn("no NetworkManager, systemd-networkd or ifupdown found; the DR VIPs are on lo until the next "
                         "reboot only. Set realserver_linux_network_config to make them persistent.")
    files = {
        "ifupdown": (p["ifupdown_file"], rp.ifupdown_conf, 0o644, ["ifquery", "--interfaces=%s", "--list"]),
        "networkd": (p["networkd_file"], rp.networkd_conf, 0o644, None),
        # NetworkManager ignores keyfiles that others can read.
        "networkmanager": (p["networkmanager_file"], rp.networkmanager_conf, 0o600, None),
    }
    for kind, (path, render, mode, validate) in files.items():
        if kind == netcfg:
            host.ensure_file(path, render(vips), mode, validate)
        elif path in now["found"]:
            host.ensure_absent(path)


def nftables(host, p, now, vips):
    """The accept rules in the host's own input chains (an accept in a table of
    our own would not help: a drop in any base chain on the hook still drops),
    tagged so that only they are ever removed, and kept for the next load."""
    chains = p["nftables_chains"] or rp.nft_input_chains(now["nft"])
    wanted = rp.nft_rules(vips, chains)
    plan = rp.nft_plan(wanted, rp.nft_owned_rules(now["nft"]))
    for rule in plan["delete"]:
        host.change(["nft", "delete rule %s handle %s" % (rule["chain"], rule["handle"])])
    for rule in plan["insert"]:
        host.change(["nft", "insert rule %s %s" % (rule["chain"], rule["rule"])])
    include = 'include "%s"' % p["nftables_file"]
    conf_exists = p["nftables_conf"] in now["found"]
    conf = host.read_text(p["nftables_conf"]) or "" if conf_exists else ""
    lines = conf.splitlines()
    if wanted and conf_exists:
        host.ensure_file(p["nftables_file"], rp.nft_include(wanted), 0o644, ["nft", "-c", "-f", "%s"])
        if include not in lines:
            mode = os.stat(p["nftables_conf"]).st_mode & 0o7777
            host.ensure_file(p["nftables_conf"], conf + ("" if not conf or conf.endswith("\n") else "\n") + include
                             + "\n", mode, ["nft", "-c", "-f", "%s"])
    else:
        if conf_exists and include in lines:
            mode = os.stat(p["nftables_conf"]).st_mode & 0o7777
            host.ensure_file(p["nftables_conf"], "".join(line + "\n" for line in lines if line != include), mode)
        if p["nftables_file"] in now["found"]:
            host.ensure_absent(p["nftables_file"])
        if wanted:
            host.module.warn("%s does not exist, so the DR accept rules were inserted into the running ruleset only. "
                             "Add them to the host's firewall configuration." % p["nftables_conf"])
    return plan


def nat_routes(host, p, now, plan):
    """Client networks routed through the NAT gateway, live and (with systemd) at boot."""
    for route in plan["route_replace"]:
        host.change(["ip", "-4", "route", "replace", route["dst"], "via", route["gateway"]])
    for route in plan["route_restore"]:
        via = ["via", route["gateway"]] if route.get("gateway") else []
        dev = ["dev", route["dev"]] if route.get("dev") else []
        host.change(["ip", "-4", "route", "replace", route["dst"]] + via + dev)
    for route in plan["route_delete"]:
        host.change(["ip", "-4", "route", "del", route["dst"], "via", route["gateway"]])
    systemd = "/run/systemd/system" in now["found"]
    if plan["nat_routes"] and systemd:
        unit = os.path.basename(p["nat_routes_unit"])
        host.ensure_file(p["nat_routes_unit"], rp.nat_routes_unit(plan["nat_routes"]), 0o644)
        if host.files.get(p["nat_routes_unit"]) == "written":
            host.change(["systemctl", "daemon-reload"])
        # The routes are already set live; enabling only puts them back at boot.
        if host.files.get(p["nat_routes_unit"]) == "written" or host.run(
                ["systemctl", "is-enabled", "--quiet", unit], check_rc=False)[0] != 0:
            host.change(["systemctl", "enable", unit])
    elif p["nat_routes_unit"] in now["found"]:
        host.ensure_absent(p["nat_routes_unit"])
    if plan["nat_routes"] and not systemd:
        host.module.warn("systemd is not running here, so the routes through the NAT gateway (%s via %s) hold until the "
                         "next reboot only." % (", ".join(r["dst"] for r in plan["nat_routes"]),
                                                plan["nat_routes"][0]["gateway"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            vips=dict(type="list", elements="dict", default=[]),
            nat_routes=dict(type="list", elements="dict", default=[]),
            interface=dict(type="str", default=""),
            rp_filter=dict(type="str", choices=["auto", "loose", "keep"], default="auto"),
            network_config=dict(type="str", choices=["auto", "ifupdown", "networkd", "networkmanager", "none"],
                                default="auto"),
            firewall=dict(type="str", choices=["auto", "nftables", "firewalld", "none"], default="auto"),
            nftables_chains=dict(type="list", elements="str", default=[]),
            nftables_conf=dict(type="path", default="/etc/nftables.conf"),
            nftables_file=dict(type="path", default="/etc/nftables-pacs-lb-dr.nft"),
            sysctl_file=dict(type="path", default="/etc/sysctl.d/90-pacs-lb-dr.conf"),
            ifupdown_file=dict(type="path", default="/etc/network/interfaces.d/pacs-lb-dr"),
            networkd_file=dict(type="path", default="/etc/systemd/network/10-pacs-lb-dr.network"),
            networkmanager_file=dict(type="path",
                                     default="/etc/NetworkManager/system-connections/pacs-lb-dr.nmconnection"),
            state_file=dict(type="path", default="/var/lib/pacs-lb-realserver.json"),
            nat_routes_unit=dict(type="path", default="/etc/systemd/system/pacs-lb-nat-routes.service"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    vips = p["vips"] if p["state"] == "present" else []
    ipv6 = [v["vip"] for v in vips if v.get("version") != 4]
    if ipv6:
        module.fail_json(msg="IPv6 DR VIPs (%s) are not supported by this role yet." % ", ".join(ipv6))
    host = Host(module)
    now = read_state(host, p)

    interface = ""
    if vips:
        names = [link.get("ifname") for link in now["addr"]]
        interface = p["interface"] or rp.interface_with_address(now["addr"], vips[0]["server_address"]) or ""
        if not interface or interface not in names:
            module.fail_json(msg="Cannot tell on which interface DR traffic for %s arrives: no interface holds %s (the "
                             "address the balancers send to)%s. Set realserver_linux_interface." % (
                                 ", ".join(v["vip"] for v in vips), vips[0]["server_address"],
                                 " and %s does not exist" % p["interface"] if p["interface"] else ""))
    default_dev = next((r.get("dev") for r in now["route"] if r.get("dst") == "default"), "") or ""
    firewall = rp.choose_firewall(p["firewall"], now["firewalld"], now["found"])
    sysctls = rp.dr_sysctls(interface, rp.loose_rp_filter(p["rp_filter"], interface, default_dev)) if vips else []
    try:
        plan = rp.linux_plan(p["state"], vips, rp.lo_ipv4_addresses(now["addr"]), now["state"], sysctls, now["sysctl"],
                             rp.firewalld_rich_rules(vips) if firewall == "firewalld" else [], p["nat_routes"],
                             now["route"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    # Order: the record first (a failure later still knows what was added),
    # ARP settings before any VIP is added, VIPs removed before the settings
    # are restored.
    if plan["state"] is not None:
        host.ensure_file(p["state_file"], json.dumps(plan["state"], indent=4, sort_keys=True) + "\n", 0o600)
    if plan["present"]:
        host.ensure_file(p["sysctl_file"], rp.sysctl_conf(sysctls), 0o644)
    elif p["sysctl_file"] in now["found"]:
        host.ensure_absent(p["sysctl_file"])
    for item in plan["sysctl_set"]:
        host.change(["sysctl", "-w", "%s=%s" % (item["path"], item["value"])])
    netcfg = rp.choose_network_config(p["network_config"], now["found"], NM_ENABLED_LINK,
                                      NETWORKD_ENABLED_LINK) if plan["present"] else "none"
    network_config_files(host, p, now, netcfg, vips if plan["present"] else [])
    for vip in plan["remove"]:
        host.change(["ip", "addr", "del", vip + "/32", "dev", "lo"])
    for item in plan["add"]:
        host.change(["ip", "addr", "add", "%s/32" % item["address"], "dev", "lo", "label", item["label"]])
    for item in plan["sysctl_restore"]:
        host.change(["sysctl", "-w", "%s=%s" % (item["path"], item["value"])])
    nft = nftables(host, p, now, vips if plan["present"] and firewall == "nftables" else [])
    nat_routes(host, p, now, plan)
    if plan["state"] is None and p["state_file"] in now["found"]:
        host.ensure_absent(p["state_file"])

    plan = dict(plan, nft_insert=nft["insert"], nft_delete=nft["delete"], files=host.files)
    module.exit_json(changed=host.changed, interface=interface, firewall=firewall,
                     firewalld_running=now["firewalld"] == "running", network_config=netcfg, plan=plan, diff=host.diff)


if __name__ == "__main__":
    main()
