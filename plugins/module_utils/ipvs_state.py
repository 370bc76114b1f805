# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's IPVS table as keepalived left it: ``/proc/net/ip_vs``.

Standard library only: this file is shipped to the balancers with the modules.

The format (net/netfilter/ipvs/ip_vs_ctl.c, ip_vs_info_seq_show), checked on
Debian 12's kernel:

    IP Virtual Server version 1.2.1 (size=4096)
    Prot LocalAddress:Port Scheduler Flags
      -> RemoteAddress:Port Forward Weight ActiveConn InActConn
    TCP  C612641E:0068 wlc
      -> C6126415:0068      Route   100    0          0
    TCP  [2001:0db8:0000:0000:0000:0000:0000:0100]:0050 rr persistent 300 FFFFFFFF
      -> [2001:0db8:0000:0000:0000:0000:0000:0021]:0050      Masq    1      0          0
    FWM  00000001 wlc

IPv4 addresses and every port are hexadecimal; a real server that
keepalived's check removed is no longer listed (with inhibit_on_failure it
stays with weight 0). No file means the ip_vs module is not loaded: nothing
configured a virtual server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

PROC_IP_VS = "/proc/net/ip_vs"


def _endpoint(text):
    """(address, port) from "C612641E:0068" or "[2001:0db8:...]:0050"."""
    address, _sep, port = text.rpartition(":")
    if address.startswith("["):
        host = str(ipaddress.ip_address(address[1:-1]))
    else:
        host = str(ipaddress.ip_address(int(address, 16)))
    return host, int(port, 16)


def parse_ip_vs(text):
    """The virtual servers of /proc/net/ip_vs, each with its real servers.

    [{"protocol": "TCP", "vip": "198.18.30.100", "port": 104, "scheduler": "wlc",
      "persistent": None or seconds, "servers": [{"address", "port", "forward",
      "weight", "active", "inactive"}]}]; fwmark services carry "fwmark" and
    no vip or port. Raises ValueError on a line it cannot read."""
    services = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ("IP", "Prot") or words[:2] == ["->", "RemoteAddress:Port"]:
            continue
        if words[0] == "->":
            if not services:
                raise ValueError("a real server before any virtual server: %r" % line)
            address, port = _endpoint(words[1])
            services[-1]["servers"].append({"address": address, "port": port, "forward": words[2],
                                            "weight": int(words[3]), "active": int(words[4]),
                                            "inactive": int(words[5])})
            continue
        service = {"protocol": words[0], "scheduler": words[2], "persistent": None, "servers": []}
        if words[0] == "FWM":
            service.update(fwmark=int(words[1], 16), vip=None, port=None)
        else:
            service["vip"], service["port"] = _endpoint(words[1])
        if "persistent" in words:
            service["persistent"] = int(words[words.index("persistent") + 1])
        services.append(service)
    return services


def read_ipvs(path=PROC_IP_VS):
    """{"loaded": bool, "virtual_servers": [...]} of this host's network namespace."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError):
        return {"loaded": False, "virtual_servers": []}
    return {"loaded": True, "virtual_servers": parse_ip_vs(text)}
