# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""keepalived IPVS virtual servers of the validated service model."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_facts import server_port
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_validation import IPVS_MAX_PORTS, SCHEDULERS


def misc_word(text):
    """One argument of a MISC_CHECK misc_path. keepalived splits misc_path on
    spaces and ends it at a quote, and a legal AE title or URL path may hold
    both, so any word beyond plain characters travels hex-encoded
    (pacs_lb_check.py decodes the hex: prefix; ':' is not plain, so no plain
    word reads as hex)."""
    if re.fullmatch(r"[A-Za-z0-9_./-]+", text):
        return text
    return "hex:" + text.encode("utf-8").hex()


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
                    rport = server_port(srv, group, vip_port=port)
                    # Failover in IPVS is the "fo" scheduler: the available
                    # server with the highest weight takes everything, so the
                    # inventory order becomes a strictly falling weight.
                    weight = max(1, 256 - pos) if svc["failover"] else srv["weight"]
                    reals.append({"address": srv["address"], "port": rport, "weight": weight,
                                  "check": _keepalived_check(check, srv["address"], rport, svc["tls"], group["address"],
                                                             model["paths"]["check_script"])})
                blocks.append({
                    "service": svc["name"], "vip": group["vip"], "port": port,
                    "lb_algo": "fo" if svc["failover"] else SCHEDULERS[svc["scheduler"]][1],
                    "lb_kind": LVS_METHOD[svc["mode"]],
                    "persistence_timeout": svc["persistence_timeout"] if svc["persistence"] == "source_ip" else None,
                    "delay_loop": _seconds(check["interval"]) if check else 5,
                    "real_servers": reals,
                })
    return blocks


def _retry_lines(check):
    """fall as HAProxy counts it: a server leaves after fall failed checks,
    one interval apart. keepalived's own default retries one second after a
    failure, so a balancer busy for a few seconds (every check times out at
    once) would empty a virtual server; a script check without retry even
    leaves at its first timeout ("retry disabled")."""
    return ["retry %d" % max(1, check["fall"] - 1), "delay_before_retry %d" % _seconds(check["interval"])]


def _seconds(milliseconds):
    return max(1, milliseconds // 1000)


def _misc_check(path, check, timeout):
    return {"kind": "MISC_CHECK", "lines": ['misc_path "%s"' % path, "misc_timeout %d" % timeout] + _retry_lines(check)}


def _script_check(script, words, check, timeout):
    # -I -S: keepalived starts it for every server at every interval, and
    # it needs nothing but the standard library and its own protocol code.
    return _misc_check("/usr/bin/python3 -I -S %s %s" % (script, " ".join(words)), check, timeout)


def _tls_words(tls):
    """The check script's TLS options: verified against the servers' CA (and
    their name, when the service gives one), or the explicit opt-out."""
    if not tls["server_verify"]:
        return ["--no-verify"]
    return ["--ca", misc_word(tls["server_ca"])] + (["--name", tls["server_name"]] if tls["server_name"] else [])


def _keepalived_check(check, address, port, tls, vip_host, script):
    """A keepalived checker block as (keyword, [lines]); None for no check."""
    if not check or check["type"] == "none":
        return None
    timeout = _seconds(check["timeout"])
    cport = check.get("port") or port
    common = ["connect_port %d" % cport, "connect_timeout %d" % timeout] + _retry_lines(check)
    if check["type"] == "connect":
        return {"kind": "TCP_CHECK", "lines": common}
    if check["type"] == "http" or (check["type"] == "https" and not tls["server_verify"]):
        # keepalived 2.2 takes a code or a range (checked with --config-test).
        # SSL_GET never verifies the server's certificate: only the opt-out uses it.
        return {"kind": "SSL_GET" if check["type"] == "https" else "HTTP_GET",
                "url": {"path": check["path"], "status_code": check["status"]},
                "lines": common}
    if check["type"] == "https":
        # Host as HAProxy's https check sends it: the check's, or the VIP.
        host = check.get("host") or vip_host
        words = _tls_words(tls) + ["https", address, "%d" % cport, misc_word(check["path"]), check["status"],
                                   misc_word(host)]
        return _script_check(script, words, check, timeout)
    if check["type"] == "icmp":
        return {"kind": "PING_CHECK", "lines": _retry_lines(check)}
    if check["type"] == "external":
        return _misc_check("%s %s %d" % (check["script"], address, cport), check, timeout)
    tls_words = _tls_words(tls) if check.get("tls") else []
    if check["type"] == "dicom":
        words = tls_words + ["dicom", address, "%d" % cport, misc_word(check["called_ae"]),
                             misc_word(check["calling_ae"])]
        return _script_check(script, words, check, timeout)
    if check["type"] == "hl7":
        return _script_check(script, tls_words + ["hl7", address, "%d" % cport], check, timeout)
    raise ValueError(check["type"])
