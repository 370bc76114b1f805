# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy sections of the validated service model (the template lays them out).

Every value reaching haproxy.cfg here was either checked against a safe set
by model_schema / model_validation or is quoted for HAProxy by haproxy_quote.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu, mllp
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_facts import server_port
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_validation import SCHEDULERS, format_ports


def haproxy_check_lines(check, paths, host_header=None):
    """Backend lines that implement a check in HAProxy (the template lays them out)."""
    ctype = check["type"]
    if ctype in ("connect", "none"):
        return []
    if ctype in ("http", "http_head", "https"):
        method = "HEAD" if ctype == "http_head" else "GET"
        send = "http-check send meth %s uri %s ver HTTP/1.1" % (method, check["path"])
        # HTTP/1.1 requires a Host header; IIS and Tomcat answer 400 without one.
        if check.get("host") or host_header:
            send += " hdr Host %s" % (check.get("host") or host_header)
        return ["option httpchk", send, "http-check expect status %s" % check["status"]]
    if ctype in ("external", "icmp"):
        return ["option external-check", "external-check command %s" % (
            check["script"] if ctype == "external" else paths["check_icmp"])]
    connect = "tcp-check connect" + (" ssl" if check.get("tls") else "")
    if check.get("port"):
        connect += " port %d" % check["port"]
    if ctype == "dicom":
        return ["option tcp-check", connect] + list(dicom_pdu.haproxy_tcp_check(check["called_ae"], check["calling_ae"]))
    if ctype == "hl7":
        return ["option tcp-check", connect] + list(mllp.haproxy_tcp_check(check.get("message")))
    raise ValueError(ctype)


def _haproxy_quote(text):
    """One HAProxy argument that reads back as text: single quotes (no escapes,
    no environment expansion inside), a quote itself written as '\''."""
    return "'%s'" % text.replace("'", "'\\''")


def _tls_bind_options(tls):
    """The bind options of a terminated VIP: certificate, lowest version,
    ALPN on HTTP portals, client certificates required against a CA (mutual
    TLS). Ciphers, no TLS tickets and the rest of the policy are global
    (ssl-default-bind-* in the template)."""
    opts = " ssl crt %s ssl-min-ver %s" % (tls["certificate"], tls["min_version"])
    if tls["alpn"]:
        opts += " alpn h2,http/1.1"
    if tls["client_ca"]:
        opts += " ca-file %s verify required" % tls["client_ca"]
    return opts


def _bind_address(group, port_spec):
    return ",".join("%s:%s" % (group["address"], part) for part in port_spec.split(","))


# HAProxy opens one listening socket per bound port. Beyond this many ports
# (GE's DB_MT: "all ports except 20000" = 65,534 sockets, ~73k file
# descriptors, and no start at all while anything listens on a wildcard
# address) the frontend binds one port and nftables redirects the others to
# it; servers without a port then get the port the client dialled, which
# HAProxy reads back from conntrack (SO_ORIGINAL_DST).
HAPROXY_MAX_BIND_PORTS = 256


def _without_port(ranges, port):
    out = []
    for first, last in ranges:
        if first <= port <= last:
            out += [r for r in ((first, port - 1), (port + 1, last)) if r[0] <= r[1]]
        else:
            out.append((first, last))
    return out


def _port_redirect(group):
    """Bind port and nftables redirect for a port group too wide to bind port by port, else None."""
    if sum(last - first + 1 for first, last in group["ports"]) <= HAPROXY_MAX_BIND_PORTS:
        return None
    listen = group["ports"][0][0]
    return {"frontend": group["frontend"], "vip": group["vip"], "family": "ip6" if ":" in group["vip"] else "ip",
            "to": _bind_address(group, str(listen)),
            "listen_port": listen, "ports": format_ports(_without_port(group["ports"], listen))}


def _server_line(srv, svc, group, with_cookie, route):
    port = server_port(srv, group, route)
    check = group["check"]
    # HAProxy hands an external check script the server line's port
    # (<proxy addr> <proxy port> <server addr> <server port>, the first two
    # NOT_USED in a backend) and never the check port: without a port here
    # the script gets 0 and cannot tell what to probe. A one-port group
    # forwards to that port anyway, so naming it changes no traffic.
    one_port = len(group["ports"]) == 1 and group["ports"][0][0] == group["ports"][0][1]
    if not port and check and check["type"] == "external" and one_port:
        port = group["ports"][0][0]
    addr = srv["host"]
    # No port means "the port the client used" (HAProxy keeps the destination
    # port), which is how one multi-port VIP maps onto same-port servers.
    line = "server %s %s%s" % (srv["name"], addr, ":%d" % port if port else "")
    tls = svc["tls"]
    verify = " verify none"
    if tls["server_verify"]:
        verify = " verify required ca-file %s" % tls["server_ca"]
        if tls["server_name"]:
            verify += " verifyhost %s" % tls["server_name"]
    if check and check["type"] != "none":
        line += " check"
        if check["type"] == "https" and not svc.get("server_tls"):
            line += " check-ssl" + verify
        elif check.get("tls") and not svc.get("server_tls"):
            # "tcp-check connect ssl" (DICOM/HL7 over TLS) takes the
            # server's verify and ca-file settings.
            line += verify
        if tls["server_name"] and (check["type"] == "https" or check.get("tls")):
            line += " check-sni %s" % tls["server_name"]
        if check.get("port"):
            line += " port %d" % check["port"]
        elif not port:
            # Without a fixed server port HAProxy needs a port to check.
            line += " port %d" % group["ports"][0][0]
    if svc.get("server_tls"):
        line += " ssl" + verify + (" sni str(%s)" % tls["server_name"] if tls["server_name"] else "")
    line += " weight %d" % srv["weight"]
    if srv["backup"]:
        line += " backup"
    if with_cookie:
        line += " cookie %s" % srv["name"]
    return line


def _backend(name, svc, group, route, http, on_server_down, paths):
    servers, scheduler = (route or svc)["servers"], (route or svc)["scheduler"]
    check = group["check"]
    lines = ["balance %s" % SCHEDULERS[scheduler][0]]
    table_type = "ipv6" if svc["vip_version"] == 6 else "ip"
    if svc["persistence"] in ("source_ip", "cookie_source_ip"):
        lines += ["stick-table type %s size 200k expire %ds peers pacs_lb" % (table_type, svc["persistence_timeout"]),
                  "stick on src"]
    elif svc["persistence"] == "last_successful":
        # One shared entry: every client goes to the server that last worked,
        # with no failback, and the entry is replicated to the peer balancer.
        lines += ["stick-table type integer size 1 expire 7d peers pacs_lb", "stick on int(1)"]
    if svc["persistence"] == "cookie_source_ip":
        lines.append("cookie %s insert indirect nocache" % svc["cookie_name"])
    if http and svc["forwardfor"]:
        lines.append("option forwardfor")
    if check:
        lines += haproxy_check_lines(check, paths, group["address"])
        lines.append("default-server inter %dms fall %d rise %d%s" % (
            check["interval"], check["fall"], check["rise"],
            " on-marked-down shutdown-sessions" if on_server_down == "shutdown_sessions" else ""))
        if check["type"] not in ("external", "icmp"):
            # With "timeout check" set, HAProxy kills an external check's
            # program after min(inter, timeout connect): 1 s by default, no
            # more than ping's own wait. Without it the program has the interval.
            lines.append("timeout check %dms" % check["timeout"])
    return {
        "name": name,
        "mode": "http" if http else "tcp",
        "check_type": check["type"] if check else "none",
        "lines": lines,
        "servers": [_server_line(s, svc, group, svc["persistence"] == "cookie_source_ip", route) for s in servers],
    }


def _route_acl(route):
    if route["match"] in ("called_ae", "calling_ae"):
        offset = 10 if route["match"] == "called_ae" else 26
        return "req.payload(%d,16) -m bin %s" % (offset, route["value"].ljust(16).encode("ascii").hex().upper())
    if route["match"] == "path_prefix":
        return "path_beg %s" % route["value"]
    return "hdr(host) -i %s" % route["value"]


# What happens to the sessions of a server that is marked DOWN
# (docs/performance.md section 5): "keep_sessions" lets connections that are
# still connecting be retried and redispatched (no failed new association), a
# transfer stuck on a vanished host then ends at the modality's DIMSE timeout;
# "shutdown_sessions" cuts everything at the DOWN mark, and 1-3 % of the new
# associations of the last second fail and are resent.
ON_SERVER_DOWN = ("keep_sessions", "shutdown_sessions")


def render_haproxy(model, on_server_down="keep_sessions"):
    """Frontends and backends for every proxied service, ready to lay out."""
    if on_server_down not in ON_SERVER_DOWN:
        raise ValueError("haproxy_on_server_down: '%s' is not one of %s" % (on_server_down, ", ".join(ON_SERVER_DOWN)))
    frontends, backends, redirects, addresses = [], [], [], []
    for svc in model["services"]:
        if svc["renderer"] != "haproxy":
            continue
        http = svc["http"]
        for group in svc["port_groups"]:
            redirect = _port_redirect(group)
            if redirect:
                redirects.append(redirect)
            bind = redirect["to"] if redirect else _bind_address(group, group["port_spec"])
            tls = svc["tls"]
            binds = [bind]
            if tls["certificate"]:
                binds[0] += _tls_bind_options(tls)
            fe = {"name": group["frontend"], "mode": "http" if http else "tcp", "binds": binds,
                  "lines": [], "use_backends": [], "default_backend": group["backend"],
                  "description": _haproxy_quote(svc["description"]) if svc["description"] else ""}
            if tls["redirect_port"]:
                binds.append(_bind_address(group, str(tls["redirect_port"])))
                fe["lines"].append("http-request redirect scheme https code 301 unless { ssl_fc }")
            if tls["hsts_max_age"]:
                fe["lines"].append("http-response set-header Strict-Transport-Security %s if { ssl_fc }" % (
                    _haproxy_quote("max-age=%d" % tls["hsts_max_age"])))
            if svc["maxconn"]:
                fe["lines"].append("maxconn %d" % svc["maxconn"])
            backends.append(_backend(group["backend"], svc, group, None, http, on_server_down, model["paths"]))
            addresses += [s["address"] for s in svc["servers"] + [s for r in svc["routes"] for s in r["servers"]]
                          if s["address"] not in addresses]
            ae_routes = [r for r in svc["routes"] if r["match"] in ("called_ae", "calling_ae")]
            if ae_routes:
                # Wait for the A-ASSOCIATE-RQ up to the end of the AE title the
                # routes test (called AE ends at byte 26, calling AE at 42).
                need = 42 if any(r["match"] == "calling_ae" for r in ae_routes) else 26
                fe["lines"] += [
                    "tcp-request inspect-delay 5s",
                    "acl pdu_assoc_rq req.payload(0,1) -m bin 01",
                    "tcp-request content reject if { req.len ge 1 } !pdu_assoc_rq",
                    "tcp-request content accept if { req.len ge %d }" % need,
                    "tcp-request content reject",
                ]
            for route, be_name in zip(svc["routes"], group["route_backends"]):
                acl = "route_%s" % route["name"]
                fe["lines"].append("acl %s %s" % (acl, _route_acl(route)))
                fe["use_backends"].append({"backend": be_name, "acl": acl})
                rgroup = dict(group, check=route["check"] or group["check"])
                backends.append(_backend(be_name, dict(svc, server_tls=route["server_tls"]), rgroup, route, http,
                                         on_server_down, model["paths"]))
            frontends.append(fe)
    # ipv4 always (the role's sysctl file has always held it), ipv6 when a frontend binds an IPv6 VIP.
    ipv6 = any(":" in g["vip"] for svc in model["services"] if svc["renderer"] == "haproxy" for g in svc["port_groups"])
    families = ["ipv4"] + (["ipv6"] if ipv6 else [])
    return {"frontends": frontends, "backends": backends, "port_redirects": redirects, "server_addresses": addresses,
            "ip_families": families, "tls_files": model.get("tls_files", []),
            "needs_external_check": any(b["check_type"] in ("external", "icmp") for b in backends),
            "needs_icmp_check": any(b["check_type"] == "icmp" for b in backends)}


# IPVS forwarding method per mode.
