# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalived IPVS virtual servers of the validated service model."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_validation import IPVS_MAX_PORTS, SCHEDULERS


def misc_word(text):
    """One argument of a MISC_CHECK misc_path. keepalived splits misc_path on
    spaces and ends it at a quote, and a legal AE title may hold both, so any
    title beyond plain characters travels hex-encoded (pacs_lb_check.py
    decodes the hex: prefix; ':' is not plain, so no title reads as hex)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        return text
    return "hex:" + text.encode("ascii").hex()


# IPVS forwarding method per mode.
LVS_METHOD = {"l4_dr": "DR", "l4_nat": "NAT"}


def render_keepalived_virtual_servers(model):
    """IPVS virtual_server blocks (one per VIP port) for Layer 4 DR/NAT services."""
    blocks = []
    for svc in model["services"]:
        if svc["renderer"] != "keepalived":
            continue
        for group in svc["port_groups"]:
            check = group["check"]
            ports = [p for first, last in group["ports"] for p in range(first, last + 1)[:IPVS_MAX_PORTS + 1]]
            for port in ports[:IPVS_MAX_PORTS]:
                reals = []
                for pos, srv in enumerate(svc["servers"]):
                    rport = group["server_port"] or srv["port"] or port
                    # Failover in IPVS is the "fo" scheduler: the available
                    # server with the highest weight takes everything, so the
                    # inventory order becomes a strictly falling weight.
                    weight = max(1, 256 - pos) if svc["failover"] else srv["weight"]
                    reals.append({"address": srv["address"], "port": rport, "weight": weight,
                                  "check": _keepalived_check(check, srv["address"], rport)})
                blocks.append({
                    "service": svc["name"], "vip": group["vip"], "port": port,
                    "lb_algo": "fo" if svc["failover"] else SCHEDULERS[svc["scheduler"]][1],
                    "lb_kind": LVS_METHOD[svc["mode"]],
                    "persistence_timeout": svc["persistence_timeout"] if svc["persistence"] == "source_ip" else None,
                    "delay_loop": max(1, check["interval"] // 1000) if check else 5,
                    "real_servers": reals,
                })
    return blocks


def _keepalived_check(check, address, port):
    """A keepalived checker block as (keyword, [lines]); None for no check."""
    if not check or check["type"] == "none":
        return None
    timeout = max(1, check["timeout"] // 1000)
    cport = check.get("port") or port
    common = ["connect_port %d" % cport, "connect_timeout %d" % timeout, "retry %d" % max(1, check["fall"] - 1)]
    if check["type"] == "connect":
        return {"kind": "TCP_CHECK", "lines": common}
    if check["type"] in ("http", "https"):
        # keepalived 2.2 takes a code or a range (checked with --config-test).
        return {"kind": "SSL_GET" if check["type"] == "https" else "HTTP_GET",
                "url": {"path": check["path"], "status_code": check["status"]},
                "lines": common}
    if check["type"] == "icmp":
        return {"kind": "PING_CHECK", "lines": ["retry %d" % max(1, check["fall"] - 1)]}
    if check["type"] == "external":
        return {"kind": "MISC_CHECK", "lines": ['misc_path "%s %s %d"' % (check["script"], address, cport),
                                                "misc_timeout %d" % timeout]}
    if check["type"] == "dicom":
        return {"kind": "MISC_CHECK", "lines": [
            'misc_path "/usr/bin/python3 /usr/local/libexec/pacs_lb/pacs_lb_check.py dicom %s %d %s %s"' % (
                address, cport, misc_word(check["called_ae"]), misc_word(check["calling_ae"])),
            "misc_timeout %d" % timeout]}
    if check["type"] == "hl7":
        return {"kind": "MISC_CHECK", "lines": ['misc_path "/usr/bin/python3 /usr/local/libexec/pacs_lb/pacs_lb_check.py hl7 %s %d"' % (address, cport),
                                                "misc_timeout %d" % timeout]}
    raise ValueError(check["type"])
