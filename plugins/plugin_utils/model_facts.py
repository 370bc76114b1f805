# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts the model derives once from a validated service, for every consumer.

The renderers (render_haproxy, render_keepalived, the templates) and verify
(verify_report) read these from the model; none of them derives a name, an
address form, the HTTP rule or a probe again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Protocols that are TLS end to end (the VIP speaks TLS unless the balancer terminates it).
TLS_PROTOCOLS = ("dicom_tls", "hl7_tls", "https")

# Probe kind per check type: the protocol's own check where it has one.
PROBE_BY_CHECK = {"dicom": "dicom", "hl7": "hl7", "http": "http", "http_head": "http", "https": "https"}
PROBE_BY_PROTOCOL = {"dicom": "dicom", "hl7": "hl7", "http": "http", "https": "https", "dicom_tls": "dicom",
                     "hl7_tls": "hl7"}

# Where the roles install the collection's own programs on a balancer and
# where haproxy.cfg and keepalived.conf name them: the model carries these,
# so a role's copy and a renderer's reference cannot drift apart. The check
# script finds its protocol code at ../../lib/pacs_lb from its own directory.
TOOLS_DIR = "/usr/local/libexec/pacs_lb"
PATHS = {
    "tools_dir": TOOLS_DIR,
    "lib_dir": "/usr/local/lib/pacs_lb",
    "tls_dir": "/etc/haproxy/pacs_lb_tls",
    "check_script": TOOLS_DIR + "/pacs_lb_check.py",
    "check_icmp": TOOLS_DIR + "/check_icmp",
    "check_pem": TOOLS_DIR + "/check-pem",
    "route_quickack": TOOLS_DIR + "/route-quickack",
}


def url_host(address):
    """An address as the host part of host:port or a URL (IPv6 in brackets)."""
    return "[%s]" % address if ":" in address else address


def speaks_http(protocol, tls_certificate):
    """HAProxy sees HTTP: plain HTTP, or HTTPS it terminates."""
    return protocol == "http" or (protocol == "https" and bool(tls_certificate))


def server_port(srv, group, route=None, vip_port=None):
    """The port a server receives a port group's connections on: the route's
    server_port, the group's, the server's own (pacs_lb_server_port), else
    the VIP port the client used (vip_port, or None where HAProxy keeps the
    destination port)."""
    return (route and route["server_port"]) or group["server_port"] or srv["port"] or vip_port


def _in_group(port, group):
    return any(first <= port <= last for first, last in group["ports"])


def _probe(svc, group):
    """What verify sends to one port group's VIP from the client side."""
    check = group["check"] or {}
    kind = PROBE_BY_CHECK.get(check.get("type")) or PROBE_BY_PROTOCOL.get(svc["protocol"], "tcp")
    # A health URL on another port (GE's DR services) says nothing about the
    # VIP port a client uses: probe the VIP port itself (in TLS too when the
    # service speaks it: the handshake probe).
    if check.get("port") and kind in ("http", "https") and (
            svc["protocol"] not in ("http", "https") or not _in_group(check["port"], group)):
        kind = "tcp"
    tls = svc.get("tls") or {}
    port = group["ports"][0][0]
    # Of several VIP ports, the checked one is known to be served (GE's
    # DB_MT: 1521 rather than port 1).
    if check.get("port") and _in_group(check["port"], group):
        port = check["port"]
    scheme = "https" if kind == "https" or (svc["protocol"] == "https" and svc["tls_certificate"]) else "http"
    tls_vip = bool(tls.get("terminated")) or svc["protocol"] in TLS_PROTOCOLS
    return {
        "service": svc["name"] if group["name"] is None else "%s/%s" % (svc["name"], group["name"]),
        "frontend": group["frontend"],
        "vip": group["vip"],
        "port": port,
        "mode": svc["mode"],
        "persistence": svc["persistence"],
        "kind": kind,
        "called_ae": check.get("called_ae", "ANY-SCP"),
        "calling_ae": check.get("calling_ae", "LBCHECK"),
        "url": "%s://%s:%d%s" % (scheme, group["address"], port,
                                 check.get("path", "/") if kind in ("http", "https") else "/"),
        "status": str(check.get("status", "200-399")),
        # The VIP speaks TLS: checked from the client's side by tls_probe
        # against this CA (an entry of pacs_lb_tls_certificates), and the
        # DICOM/HL7 probe speaks TLS.
        "tls": {"ca": tls.get("probe_ca"), "client_certificate": bool(tls.get("client_ca"))} if tls_vip else None,
    }


def name_sections(svc):
    """HAProxy section names of every port group (and its routes) of a proxied service."""
    for group in svc["port_groups"]:
        proxied = svc["renderer"] == "haproxy"
        base = svc["name"] if group["name"] is None else "%s_%s" % (svc["name"], group["name"])
        group["frontend"] = "fe_" + base if proxied else None
        group["backend"] = "be_" + base if proxied else None
        group["route_backends"] = ["be_%s_%s" % (base, route["name"]) for route in svc["routes"]] if proxied else []


def derive_service_facts(svc):
    """Add the derived facts to a normalized service (in place) and return it."""
    name_sections(svc)
    for srv in svc["servers"] + [s for route in svc["routes"] for s in route["servers"]]:
        srv["host"] = url_host(srv["address"])
    for group in svc["port_groups"]:
        group["address"] = url_host(group["vip"]) if group["vip"] is not None else None
        group["probe"] = _probe(svc, group)
    return svc
