# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service model: vendor profile + user services -> one validated model.

Each field is first checked against its declaration in model_schema.py
(type, choices, safe set, range, unknown keys); this module adds the rules
that span fields, services and hosts (addresses, modes, names after
derivation) and normalizes the result. Everything a renderer needs is
decided here, once, on the controller. Every problem found is collected (not
just the first) so that one run shows the user all of them, each naming the
service, instance or host and the field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

try:
    import netaddr
except ImportError:  # pragma: no cover - reported as a clear error at use time
    netaddr = None

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu, mllp
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_schema as schema
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import tls_check
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_facts import (
    PATHS, TLS_PROTOCOLS, TOOLS_DIR, derive_service_facts, speaks_http)
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_schema import Problems, show

MODES = schema.MODES
PROXIED_MODES = schema.PROXIED_MODES
IPVS_MODES = schema.IPVS_MODES
IPVS_MAX_PORTS = 64

# scheduler name -> (HAProxy balance, IPVS lb_algo). HAProxy's roundrobin and
# leastconn already honour weights, so the weighted variants map onto them.
SCHEDULERS = {
    "roundrobin": ("roundrobin", "rr"),
    "weighted_roundrobin": ("roundrobin", "wrr"),
    "leastconn": ("leastconn", "lc"),
    "weighted_leastconn": ("leastconn", "wlc"),
    "source_hash": ("source", "sh"),
    "first": ("first", "fo"),
}
# Which check types each renderer can perform. ICMP in HAProxy is an external
# check script shipped by the haproxy role; HEAD is not offered by keepalived.
CHECKS_BY_RENDERER = {
    "haproxy": ("connect", "http", "http_head", "https", "external", "icmp", "dicom", "hl7", "none"),
    "keepalived": ("connect", "http", "https", "external", "icmp", "dicom", "hl7", "none"),
}
# Check fields only HAProxy uses: keepalived's checkers would silently drop them.
HAPROXY_ONLY_CHECK_FIELDS = ("host", "message")
NAME_RE = re.compile(r"\A%s\Z" % schema.NAME)
ROUTE_MATCHES = ("called_ae", "calling_ae", "path_prefix", "host")
CHECK_DEFAULTS = dict((k, v["default"]) for k, v in schema.CHECK.items() if k in ("interval", "fall", "rise", "timeout"))
# Where external check scripts may live unless the user allows another
# directory (pacs_lb_check_script_dirs): keepalived runs them as root.
DEFAULT_SCRIPT_DIRS = (TOOLS_DIR,)
# VRRP networks narrower than this hold no VIP beside the balancers; wider
# ones (down to /0) are a typo that would put every address "inside".
MIN_PREFIX = {4: 8, 6: 16}
# Where the haproxy role deploys the entries of pacs_lb_tls_certificates.
TLS_DIR = PATHS["tls_dir"]
MAX_PREFIX = {4: 30, 6: 126}


class ModelError(Exception):
    """All validation problems of one model, one line each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(ModelError, self).__init__("\n".join(self.problems))


def _check_port(value):
    port = schema.to_int(value)
    if not 1 <= port <= 65535:
        raise ValueError(value)
    return port


def parse_ports(spec):
    """Port spec -> sorted list of (first, last) ranges, merged.

    Accepts 104, "104", "80,443,4000-4010", [80, "443", "2000-2010"] and
    {"all_except": [20000]} (GE's DB_MT).
    """
    if isinstance(spec, dict):
        if set(spec) != {"all_except"}:
            raise ValueError("a mapping must be {all_except: [ports]}")
        excluded = sorted(set(_check_port(p) for p in _flatten_ports(spec["all_except"])))
        ranges, start = [], 1
        for port in excluded:
            if port > start:
                ranges.append((start, port - 1))
            start = port + 1
        if start <= 65535:
            ranges.append((start, 65535))
        return ranges
    ranges = []
    for item in _flatten_ports(spec):
        text = str(item).strip()
        if "-" in text:
            first, last = (_check_port(p) for p in text.split("-", 1))
            if first > last:
                raise ValueError(text)
        else:
            first = last = _check_port(text)
        ranges.append((first, last))
    if not ranges:
        raise ValueError("no port given")
    ranges.sort()
    merged = [ranges[0]]
    for first, last in ranges[1:]:
        if first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _flatten_ports(spec):
    if isinstance(spec, (list, tuple)):
        items = []
        for part in spec:
            items.extend(_flatten_ports(part))
        return items
    if isinstance(spec, str):
        return [p for p in (s.strip() for s in spec.split(",")) if p]
    if schema.is_int(spec):
        return [spec]
    raise ValueError(spec)


def format_ports(ranges):
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in ranges)


def _address(value):
    """An IP address (not a network, not a hostname) or ValueError."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f.:]{2,45}", value):
        raise ValueError(value)
    try:
        return netaddr.IPAddress(value, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(value)


def merge_services(profile_services, user_services, problems=None):
    """User entries whose name is in the profile update that entry; others are added.

    Two user entries of one name would silently make one of them vanish, so
    that is a problem (when problems is given) instead of an update."""
    merged, index = [], {}
    for svc in profile_services or []:
        index[svc.get("name")] = len(merged)
        merged.append(copy.deepcopy(svc))
    seen = set()
    for svc in user_services or []:
        name = svc.get("name") if isinstance(svc, dict) else None
        name = name if isinstance(name, str) else None  # anything else is reported by the schema
        if problems is not None and name is not None and name in seen:
            problems.add("service %s" % show(name), "name", "defined twice in pacs_lb_services; names must be unique")
            continue
        seen.add(name)
        if name is not None and name in index:
            merged[index[name]].update(copy.deepcopy(svc))
        else:
            index[name] = len(merged)
            merged.append(copy.deepcopy(svc))
    return merged


def _normalize_check(check, where, problems, renderer, protocol, ctx):
    """A schema-checked check mapping -> the full check, or None."""
    ctype = check.get("type", "connect")
    if ctype not in CHECKS_BY_RENDERER[renderer]:
        problems.add(where, "check.type", "'%s' cannot be done by %s (this service's mode); use one of %s" % (
            ctype, renderer, ", ".join(CHECKS_BY_RENDERER[renderer])))
        return None
    if renderer != "haproxy":
        for key in HAPROXY_ONLY_CHECK_FIELDS:
            if key in check:
                problems.add(where, "check.%s" % key, "is used only by HAProxy (mode l7 or l4_snat); keepalived's "
                             "check would ignore it")
    out = dict(CHECK_DEFAULTS)
    out.update(check)
    out["type"] = ctype
    if ctype in ("http", "http_head", "https"):
        out.setdefault("path", schema.CHECK["path"]["default"])
        out.setdefault("status", schema.CHECK["status"]["default"])
        codes = out["status"].split("-")
        if codes[0] > codes[-1]:
            problems.add(where, "check.status", "range %s runs backwards; write it low-high" % out["status"])
    if ctype == "external":
        script = out.get("script")
        if script is None:
            problems.add(where, "check.script", "an external check needs script: an absolute path")
        elif not any(script.startswith(d.rstrip("/") + "/") for d in ctx["script_dirs"]) or "/../" in script:
            problems.add(where, "check.script", "%s is outside the allowed check script directories (%s); keepalived "
                         "and HAProxy run it, so allow its directory in pacs_lb_check_script_dirs" % (
                             show(script), ", ".join(ctx["script_dirs"])))
    if ctype == "dicom":
        for key in ("called_ae", "calling_ae"):
            try:
                out[key] = dicom_pdu.validate_ae_title(out.get(key, schema.CHECK[key]["default"]))
            except ValueError as exc:
                problems.add(where, "check.%s" % key, str(exc))
        out["tls"] = protocol == "dicom_tls"
    if ctype == "hl7":
        message = out.get("message")
        if message is not None:
            try:
                if not message.startswith("MSH|"):
                    raise ValueError("must start with MSH|")
                mllp.frame(message)
            except (ValueError, UnicodeError) as exc:
                problems.add(where, "check.message", "an HL7 v2 message of printable text, segments separated by CR "
                             "(%s)" % exc)
        out["tls"] = protocol == "hl7_tls"
    return out


def _host_vars(host, ctx, problems):
    """The model's variables of one inventory host, checked once per run."""
    if host not in ctx["host_checked"]:
        hv = ctx["hostvars"].get(host, {})
        given = dict((k, hv[k]) for k in schema.HOST if k in hv)
        checked = schema.check_mapping(schema.HOST, given, "host '%s'" % host, "", problems)
        if checked is not None and "pacs_lb_address" not in checked:
            checked["pacs_lb_address"] = hv.get("ansible_host", host)
        ctx["host_checked"][host] = checked
    return ctx["host_checked"][host]


def _pool_servers(svc, where, problems, ctx):
    """Real servers from an inventory group (pool) or an explicit list."""
    servers = []
    if svc.get("servers") is not None:
        for pos, item in enumerate(svc["servers"]):
            servers.append(dict(item, name=item.get("name") or "srv%d" % (pos + 1)))
    else:
        pool = svc.get("pool")
        if not pool:
            problems.add(where, "pool", "set 'pool' (a pool name or inventory group) or 'servers'")
            return []
        group = ctx["pools"].get(pool, pool)
        hosts = ctx["groups"].get(group) or []
        if not hosts:
            problems.add(where, "pool", "pool '%s' maps to inventory group '%s', which has no hosts" % (pool, group))
            return []
        for host in hosts:
            hv = _host_vars(host, ctx, problems)
            if hv is None:
                continue
            servers.append({
                "name": host,
                "address": hv["pacs_lb_address"],
                "port": hv.get("pacs_lb_server_port"),
                "weight": hv.get("pacs_lb_weight", schema.HOST["pacs_lb_weight"]["default"]),
                "backup": hv.get("pacs_lb_backup", False),
            })
    out, names, endpoints = [], set(), set()
    for srv in servers:
        label = "server %s" % show(srv["name"])
        if not NAME_RE.match(str(srv["name"])):
            problems.add(where, label, "name must match %s (rename the inventory host or list servers)" % schema.NAME)
            continue
        if srv["name"] in names:
            problems.add(where, label, "name used twice in one backend; names must be unique")
        names.add(srv["name"])
        try:
            srv["address"] = str(_address(srv["address"]))
        except ValueError:
            problems.add(where, label, "address %s is not an IP address (set pacs_lb_address for the host)" % show(
                srv["address"]))
            continue
        endpoint = (srv["address"], srv.get("port"))
        if endpoint in endpoints:
            # IPVS drops the second one; in HAProxy it would double the weight silently.
            problems.add(where, label, "address %s%s is listed twice" % (
                srv["address"], ":%s" % srv["port"] if srv.get("port") else ""))
        endpoints.add(endpoint)
        for bal in ctx["balancers"]:
            if srv["address"] == bal["address"]:
                problems.add(where, label, "address %s is balancer '%s': a balancer cannot be its own real server" % (
                    srv["address"], bal["name"]))
        out.append({"name": srv["name"], "address": srv["address"], "port": srv.get("port"),
                    "weight": srv.get("weight", 100), "backup": bool(srv.get("backup", False))})
    return out


def _check_vip(vip, instance, where, problems):
    if instance is None or vip is None:
        return
    net = instance["network_obj"]
    if vip not in net:
        problems.add(where, "vip", "%s is outside the network %s of VRRP instance '%s'" % (
            vip, instance["network"], instance["name"]))
    elif vip.version == 4 and vip in (net.network, net.broadcast):
        problems.add(where, "vip", "%s is the %s address of %s" % (
            vip, "network" if vip == net.network else "broadcast", instance["network"]))


def _normalize_service(svc, ctx, problems):
    """A schema-checked service (profile and user entry merged) -> the model's service."""
    name = svc["name"]
    where = "service '%s'" % name
    for key, spec in schema.SERVICE.items():
        # Fields of other modes stay unset, so that "set but unused" is seen.
        if spec["default"] is not schema.NOTSET and spec["used_by"] is None and key not in svc:
            svc[key] = copy.deepcopy(spec["default"])
    renderer = "haproxy" if svc["mode"] in PROXIED_MODES else "keepalived"
    if isinstance(svc["check"], str):
        svc["check"] = {"type": svc["check"]}

    try:
        vip = _address(svc["vip"])
    except ValueError:
        problems.add(where, "vip", "%s is not an IP address (set it in pacs_lb_services)" % show(svc["vip"]))
        vip = None
    wanted = svc.get("vrrp_instance") or ctx["default_instance"]
    instance = ctx["instances"].get(wanted)
    # An instance that is itself invalid was reported once already.
    if instance is None and wanted not in ctx["declared_instances"]:
        problems.add(where, "vrrp_instance", "'%s' is not one of the VRRP instances %s" % (
            svc.get("vrrp_instance"), ", ".join(ctx["instances"]) or "(none defined)"))
    _check_vip(vip, instance, where, problems)

    port_groups = svc.get("port_groups")
    if port_groups is None:
        port_groups = [{"name": None, "ports": svc.get("ports"), "check": svc["check"],
                        "server_port": svc.get("server_port")}]
    elif svc.get("ports") is not None:
        problems.add(where, "ports", "set either ports or port_groups, not both (ports would be ignored)")

    servers = _pool_servers(svc, where, problems, ctx)
    if svc.get("servers") is not None and svc.get("pool") is not None:
        problems.add(where, "pool", "set either pool or servers, not both (pool would be ignored)")
    if svc["failover"]:
        # Failover: the first server takes all traffic, the others only when it fails.
        for pos, srv in enumerate(servers):
            srv["backup"] = pos > 0
    if svc["mode"] == "l4_dr" and instance is not None:
        for srv in servers:
            if netaddr.IPAddress(srv["address"]) not in instance["network_obj"]:
                problems.add(where, "server '%s'" % srv["name"],
                             "Layer 4 DR needs real servers on the balancer's layer 2 network %s" % instance["network"])
    # keepalived refuses a virtual server whose real servers weigh nothing
    # together (its quorum of 1 cannot be met); failover sets its own weights.
    if renderer == "keepalived" and servers and not svc["failover"] and not any(s["weight"] for s in servers):
        problems.add(where, "servers", "every real server has weight 0, so IPVS could send nothing and keepalived "
                     "refuses the virtual server; give at least one a weight (pacs_lb_weight 1-256)")
    # NAT: the replies must come back through the balancer that rewrote the
    # request, so the real servers route them to a gateway address that
    # floats with the VIPs, on their own link.
    if svc["mode"] == "l4_nat" and instance is not None:
        if instance["nat_gateway"] is None:
            problems.add(where, "vrrp_instance", "Layer 4 NAT needs nat_gateway on VRRP instance '%s': a free address "
                         "of %s that floats with the VIPs and that the real servers route replies through" % (
                             instance["name"], instance["network"]))
        for srv in servers:
            if netaddr.IPAddress(srv["address"]) not in instance["network_obj"]:
                problems.add(where, "server '%s'" % srv["name"], "Layer 4 NAT needs real servers on the balancer's "
                             "network %s (they reach nat_gateway on their own link)" % instance["network"])

    groups_out = []
    for group in port_groups:
        gwhere = where if group.get("name") is None else "%s port group '%s'" % (where, group["name"])
        gvip = vip
        if group.get("vip") is not None:
            try:
                gvip = _address(group["vip"])
            except ValueError:
                problems.add(gwhere, "vip", "%s is not an IP address" % show(group["vip"]))
            else:
                _check_vip(gvip, instance, gwhere, problems)
        try:
            ranges = parse_ports(group.get("ports"))
        except (ValueError, TypeError) as exc:
            problems.add(gwhere, "ports", "%s is not a port list: use 104, '80,443', '4000-4010' or {all_except: [N]} "
                         "with ports 1-65535 (%s)" % (show(group.get("ports")), exc))
            continue
        server_port = group.get("server_port", svc.get("server_port"))
        translated = server_port is not None or any(s["port"] is not None for s in servers)
        if svc["mode"] == "l4_dr" and translated:
            problems.add(gwhere, "server_port", "Layer 4 DR cannot translate ports (the real server answers on the "
                         "VIP's own port); remove server_port")
        if server_port is not None and ranges != [(ranges[0][0], ranges[0][0])]:
            problems.add(gwhere, "server_port", "port translation needs exactly one VIP port")
        check = _normalize_check(group.get("check") or svc["check"], gwhere, problems, renderer, svc["protocol"], ctx)
        if (isinstance(group.get("ports"), dict) and check and check["type"] not in ("none", "icmp", "external")
                and not check.get("port") and server_port is None):
            problems.add(gwhere, "check.port", "a service on 'all ports except' needs check.port: which port proves "
                         "the server is up?")
        if svc["mode"] in IPVS_MODES and sum(last - first + 1 for first, last in ranges) > IPVS_MAX_PORTS:
            problems.add(gwhere, "ports", "Layer 4 DR/NAT renders one IPVS virtual server per port; at most %d ports "
                         "(firewall-mark services are not supported yet)" % IPVS_MAX_PORTS)
        groups_out.append({"name": group.get("name"), "vip": str(gvip) if gvip is not None else None,
                           "ports": ranges, "port_spec": format_ports(ranges),
                           "server_port": server_port, "check": check})
    group_names = [g["name"] for g in groups_out]
    for gname in set(n for n in group_names if group_names.count(n) > 1):
        problems.add(where, "port_groups", "group name '%s' used twice" % gname)

    if svc["persistence"] == "cookie_source_ip" and not (svc["mode"] == "l7" and svc["protocol"] == "http"):
        problems.add(where, "persistence", "cookie_source_ip needs mode l7 and protocol http (HAProxy must see HTTP)")
    if svc["persistence"] == "last_successful" and renderer != "haproxy":
        problems.add(where, "persistence", "last_successful is a stick table and needs mode l7 or l4_snat")
    http = speaks_http(svc["protocol"], svc.get("tls_certificate"))
    if svc.get("forwardfor") and not http:
        problems.add(where, "forwardfor", "X-Forwarded-For needs mode l7 with HTTP (or HTTPS terminated with "
                     "tls_certificate)")
    if svc.get("cookie_name") is not None and svc["persistence"] != "cookie_source_ip":
        problems.add(where, "cookie_name", "is used only with persistence cookie_source_ip")

    routes = _normalize_routes(svc, where, renderer, http, problems, ctx)
    tls, server_tls = _service_tls(svc, where, renderer, groups_out, routes, problems, ctx)
    return derive_service_facts({
        "name": name,
        "description": svc.get("description") or "",
        "vip": str(vip) if vip is not None else None,
        "vip_version": vip.version if vip is not None else None,
        "vrrp_instance": instance["name"] if instance else None,
        "mode": svc["mode"],
        "renderer": renderer,
        "protocol": svc["protocol"],
        "scheduler": svc["scheduler"],
        "persistence": svc["persistence"],
        "persistence_timeout": svc["persistence_timeout"],
        "cookie_name": svc.get("cookie_name") or schema.SERVICE["cookie_name"]["default"],
        "forwardfor": svc.get("forwardfor", False),
        "tls_certificate": tls["certificate"],
        "tls": tls,
        "failover": svc["failover"],
        "maxconn": svc.get("maxconn"),
        "servers": servers,
        "port_groups": groups_out,
        "routes": routes,
        "server_tls": server_tls,
        "nat_gateway": instance["nat_gateway"] if instance and svc["mode"] == "l4_nat" else None,
        "http": http,
    })


def _normalize_routes(svc, where, renderer, http, problems, ctx):
    routes = []
    for pos, route in enumerate(svc.get("routes") or []):
        rwhere = "%s route #%d" % (where, pos + 1)
        matches = [m for m in ROUTE_MATCHES if m in route]
        if len(matches) != 1:
            problems.add(rwhere, "routes", "each route needs exactly one of %s" % ", ".join(ROUTE_MATCHES))
            continue
        match = matches[0]
        rname = route.get("name") or "route%d" % (pos + 1)
        value = route[match]
        if match in ("called_ae", "calling_ae"):
            dicom_seen = svc["protocol"] == "dicom" or (svc["protocol"] == "dicom_tls" and svc.get("tls_certificate"))
            if not dicom_seen or renderer != "haproxy":
                problems.add(rwhere, match, "routing by AE title needs protocol dicom in mode l7 or l4_snat, or "
                             "dicom_tls terminated on the balancer (tls_certificate)")
                continue
            try:
                value = dicom_pdu.validate_ae_title(value)
            except ValueError as exc:
                problems.add(rwhere, match, str(exc))
                continue
        elif not http or svc["mode"] != "l7":
            problems.add(rwhere, match, "routing by %s needs mode l7 with HTTP (or HTTPS terminated with "
                         "tls_certificate)" % match)
            continue
        if route.get("servers") is not None and route.get("pool") is not None:
            problems.add(rwhere, "pool", "set either pool or servers, not both (pool would be ignored)")
        rservers = _pool_servers(route, rwhere, problems, ctx)
        rcheck = None
        if route.get("check") is not None:
            rcheck = _normalize_check(route["check"], rwhere, problems, renderer, svc["protocol"], ctx)
        if rname in [r["name"] for r in routes]:
            problems.add(rwhere, "name", "route name '%s' used twice in this service" % rname)
        routes.append({"name": rname, "match": match, "value": value,
                       "scheduler": route.get("scheduler", svc["scheduler"]), "servers": rservers,
                       "check": rcheck, "server_port": route.get("server_port"),
                       "server_tls": route.get("server_tls", svc.get("server_tls", False))})
    return routes


def _tls_ref(value, field, kind, where, problems, ctx):
    """A certificate or CA reference -> {name, path}, or None (unset, or a problem added)."""
    if value is None:
        return None
    if value.startswith("/"):
        return {"name": None, "path": value}
    entry = ctx["tls"].get(value)
    if entry is None:
        if value not in ctx["tls_declared"]:
            problems.add(where, field, "'%s' is not an entry of pacs_lb_tls_certificates (%s)" % (
                value, ", ".join(sorted(ctx["tls_declared"])) or "none defined"))
        return None
    if kind == "certificate" and entry["kind"] == "ca":
        problems.add(where, field, "'%s' is a CA (an entry without key); a terminated VIP needs an entry with "
                     "certificate and key" % value)
        return None
    if kind == "ca" and entry["kind"] == "certificate":
        problems.add(where, field, "'%s' is a server certificate with its key; name a CA entry (certificate without "
                     "key)" % value)
        return None
    return {"name": value, "path": entry["path"]}


def _service_tls(svc, where, renderer, groups, routes, problems, ctx):
    """TLS of one service, decided once: the frontend (termination, policy,
    client certificates) and the way to the servers (verified by default).
    Sets check["tls"] on the HAProxy checks that must speak TLS."""
    protocol = svc["protocol"]
    cert = _tls_ref(svc.get("tls_certificate"), "tls_certificate", "certificate", where, problems, ctx)
    terminated = svc.get("tls_certificate") is not None
    http = protocol == "http" or (protocol == "https" and terminated)
    if terminated and protocol in ("dicom", "hl7", "http"):
        problems.add(where, "tls_certificate", "a VIP that terminates TLS speaks %s_tls to its clients: set protocol "
                     "%s" % (protocol, {"dicom": "dicom_tls", "hl7": "hl7_tls", "http": "https"}[protocol]))
    for field in ("tls_min_version", "tls_client_ca"):
        if svc.get(field) is not None and not terminated:
            problems.add(where, field, "is used only when the balancer terminates TLS (set tls_certificate)")
    for field in ("hsts_max_age", "http_redirect_port"):
        if svc.get(field) is not None and not (terminated and http):
            problems.add(where, field, "is used only by a terminated HTTPS portal (protocol https with tls_certificate)")
    passthrough = renderer == "haproxy" and protocol in TLS_PROTOCOLS and not terminated
    server_tls = bool(svc.get("server_tls", False))
    if passthrough and (server_tls or any(r["server_tls"] for r in routes)):
        problems.add(where, "server_tls", "the clients' TLS passes through to the servers (no tls_certificate); "
                     "server_tls would encrypt it twice: terminate it with tls_certificate, or drop server_tls")
    redirect = svc.get("http_redirect_port")
    if redirect is not None and any(first <= redirect <= last for g in groups for first, last in g["ports"]):
        problems.add(where, "http_redirect_port", "%d is one of the service's own ports" % redirect)
    # Which HAProxy connections to the servers speak TLS: the traffic
    # (server_tls), and the checks (https, or the DICOM/HL7 check of a
    # passthrough TLS service or of re-encrypted traffic).
    uses_tls = False
    if renderer == "haproxy":
        for group in groups:
            check = group["check"]
            if check and check["type"] in ("dicom", "hl7"):
                check["tls"] = passthrough or server_tls
            uses_tls = uses_tls or server_tls or bool(check and (check["type"] == "https" or check.get("tls")))
        for route in routes:
            check = route["check"]
            if check and check["type"] in ("dicom", "hl7"):
                check["tls"] = passthrough or route["server_tls"]
            inherited = groups[0]["check"] if groups and check is None else check
            uses_tls = uses_tls or route["server_tls"] or bool(
                inherited and (inherited["type"] == "https" or inherited.get("tls")))
            if check is None and inherited and inherited["type"] in ("dicom", "hl7") and inherited.get(
                    "tls") != (passthrough or route["server_tls"]):
                route["check"] = dict(inherited, tls=passthrough or route["server_tls"])
    else:
        # IPVS forwards the clients' TLS untouched: keepalived's DICOM/HL7
        # checks of a TLS service speak TLS, and an https check is verified
        # like HAProxy's (the collection's check script, not SSL_GET, which
        # never verifies).
        for group in groups:
            check = group["check"]
            if check and check["type"] in ("dicom", "hl7"):
                check["tls"] = protocol in TLS_PROTOCOLS
            uses_tls = uses_tls or bool(check and (check["type"] == "https" or check.get("tls")))
    verify = svc.get("server_verify")
    verify = True if verify is None else verify
    server_ca = None
    ca_value = svc.get("server_ca") or ctx["tls_server_ca"]
    if uses_tls and verify:
        if ca_value is None:
            problems.add(where, "server_ca", "the balancer speaks TLS to the servers (server_tls, an https check or a "
                         "DICOM/HL7 TLS check) and verifies their certificates: name the CA (server_ca, or "
                         "pacs_lb_tls_server_ca for every service), or opt out with server_verify: false (reported "
                         "by verify)")
        else:
            server_ca = _tls_ref(ca_value, "server_ca" if svc.get("server_ca") else "pacs_lb_tls_server_ca", "ca",
                                 where, problems, ctx)
    elif not uses_tls:
        for field in ("server_ca", "server_name", "server_verify"):
            if svc.get(field) is not None:
                problems.add(where, field, "is used only when the balancer speaks TLS to the servers (server_tls, an https "
                             "check, or a DICOM/HL7 TLS check)")
    client_ca = _tls_ref(svc.get("tls_client_ca"), "tls_client_ca", "ca", where, problems, ctx)
    entry = ctx["tls"].get(cert["name"]) if cert and cert["name"] else None
    tls = {
        "certificate": cert["path"] if cert else None,
        "certificate_name": cert["name"] if cert else None,
        # The CA that verify checks the served certificate against: the
        # certificate's own CA when the balancer terminates, the servers' CA
        # when TLS passes through.
        "probe_ca": (entry or {}).get("ca") if terminated else (server_ca or {}).get("name") or (
            ctx["tls_server_ca"] if protocol in TLS_PROTOCOLS and ctx["tls_server_ca"] in ctx["tls"] else None),
        "terminated": terminated,
        "passthrough": passthrough,
        "min_version": svc.get("tls_min_version") or "TLSv1.2",
        "alpn": terminated and http,
        "client_ca": client_ca["path"] if client_ca else None,
        "client_ca_name": client_ca["name"] if client_ca else None,
        "hsts_max_age": svc.get("hsts_max_age") or 0,
        "redirect_port": redirect,
        "to_servers": uses_tls,
        "server_verify": bool(verify),
        "server_ca": server_ca["path"] if server_ca else None,
        "server_name": svc.get("server_name"),
    }
    return tls, server_tls


def _tls_entries(raw, problems, now=None):
    """pacs_lb_tls_certificates -> {name: public facts}, every entry checked
    (PEM content with the cryptography library; paths are HAProxy's to check)."""
    out, declared, checked = {}, [], []
    if raw is None:
        return out, declared
    if not isinstance(raw, list):
        problems.add("inventory", "pacs_lb_tls_certificates", "must be a list of {name, certificate, chain, key, ca, "
                     "names} or {name, path}, got %s" % type(raw).__name__)
        return out, declared
    for pos, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        where = "tls certificate %s" % show(name) if isinstance(name, str) else "tls certificate #%d" % (pos + 1)
        if isinstance(name, str):
            if name in declared:
                problems.add(where, "name", "defined twice in pacs_lb_tls_certificates")
                continue
            declared.append(name)
        entry = schema.check_mapping(schema.TLS_CERTIFICATE, item, where, "", problems)
        if entry is None:
            continue
        if ("certificate" in entry) == ("path" in entry):
            problems.add(where, "certificate", "give either certificate (PEM content) or path (a file already on "
                         "the balancers)")
            continue
        for key in ("chain", "key", "ca", "names"):
            if key in entry and "path" in entry:
                problems.add(where, key, "needs PEM content in certificate (a path is checked by HAProxy only)")
            elif key in ("chain", "ca", "names") and key in entry and "key" not in entry:
                problems.add(where, key, "is used only by a server certificate (an entry with key)")
        checked.append((where, entry))
    if any("certificate" in pair[1] for pair in checked) and not tls_check.HAS_CRYPTOGRAPHY:
        problems.add("controller", "cryptography", "the Python package cryptography is required on the controller "
                     "to check pacs_lb_tls_certificates")
        return out, declared
    cas = {}
    for where, entry in checked:
        if "certificate" in entry and "key" not in entry:
            try:
                cas[entry["name"]] = tls_check.load_certificates(entry["certificate"])
            except ValueError:
                pass  # reported by check_entry below
    for where, entry in checked:
        name = entry["name"]
        if "path" in entry:
            out[name] = {"name": name, "kind": "file", "path": entry["path"], "managed": False}
            continue
        if entry.get("ca") and entry["ca"] not in cas:
            problems.add(where, "ca", "'%s' is not a CA entry of pacs_lb_tls_certificates (certificate, no key)" % (
                entry["ca"]))
        facts = tls_check.check_entry(entry, cas, lambda f, t, w=where: problems.add(w, f, t), now)
        if facts is None:
            continue
        ca = facts["kind"] == "ca"
        out[name] = dict(facts, name=name, managed=True, ca=entry.get("ca"),
                         path="%s/%s%s" % (TLS_DIR, name, ".ca.pem" if ca else ".pem"),
                         pem=entry["certificate"] if ca else None)
    return out, declared


def _normalize_instances(raw_instances, problems):
    instances = {}
    seen_ids = {}
    if not isinstance(raw_instances, list) or not raw_instances:
        problems.add("vrrp", "pacs_lb_vrrp_instances", "define at least one VRRP instance {name, virtual_router_id, "
                     "interface, network}")
        return instances
    for pos, raw in enumerate(raw_instances):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = "vrrp instance %s" % show(name) if isinstance(name, str) else "vrrp instance #%d" % (pos + 1)
        inst = schema.check_mapping(schema.VRRP_INSTANCE, raw, where, "", problems)
        if inst is None:
            continue
        if name in instances:
            problems.add(where, "name", "defined twice")
            continue
        vrid = inst["virtual_router_id"]
        if vrid in seen_ids:
            problems.add(where, "virtual_router_id", "%d is already used by instance '%s'; it must be unique on the "
                         "network" % (vrid, seen_ids[vrid]))
        seen_ids[vrid] = name
        text = inst["network"]
        try:
            if not re.fullmatch(r"[0-9A-Fa-f.:]{2,45}/[0-9]{1,3}", text):
                raise ValueError
            network = netaddr.IPNetwork(text)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            problems.add(where, "network", "%s must be a network in CIDR form such as 198.18.10.0/24" % show(text))
            continue
        if not MIN_PREFIX[network.version] <= network.prefixlen <= MAX_PREFIX[network.version]:
            problems.add(where, "network", "prefix /%d is not a VRRP network: IPv%d allows /%d to /%d" % (
                network.prefixlen, network.version, MIN_PREFIX[network.version], MAX_PREFIX[network.version]))
            continue
        instances[name] = {
            "name": name,
            "virtual_router_id": vrid,
            "interface": inst.get("interface", schema.VRRP_INSTANCE["interface"]["default"]),
            "network": str(network.cidr),
            "prefixlen": network.prefixlen,
            "family": network.version,
            "network_obj": network,
            "nat_gateway": _nat_gateway(inst.get("nat_gateway"), network, where, problems),
        }
    return instances


def _nat_gateway(text, network, where, problems):
    """The instance's NAT gateway address, checked to be a usable host address of its network."""
    if text is None:
        return None
    try:
        gateway = _address(text)
    except ValueError:
        problems.add(where, "nat_gateway", "%s is not an IP address" % show(text))
        return None
    if gateway not in network:
        problems.add(where, "nat_gateway", "%s is outside the instance's network %s: the real servers must reach "
                     "their gateway on their own link" % (gateway, network.cidr))
    elif network.size > 2 and gateway in (network.network, network.broadcast):
        problems.add(where, "nat_gateway", "%s is the %s address of %s" % (
            gateway, "network" if gateway == network.network else "broadcast", network.cidr))
    return str(gateway)


def _balancers(groups, balancer_group, ctx, problems, hosts=None):
    balancers = []
    for host in (groups.get(balancer_group) or []) if hosts is None else hosts:
        hv = _host_vars(host, ctx, problems)
        if hv is None:
            continue
        try:
            balancers.append({"name": host, "address": str(_address(hv["pacs_lb_address"]))})
        except ValueError:
            problems.add("balancer '%s'" % host, "pacs_lb_address", "%s is not an IP address" % show(
                hv["pacs_lb_address"]))
    if not balancers:
        problems.add("inventory", "balancers", "group '%s' has no hosts" % balancer_group)
    families = set(netaddr.IPAddress(b["address"]).version for b in balancers)
    if len(families) > 1:
        problems.add("inventory", "pacs_lb_address", "the balancers mix IPv4 and IPv6 addresses (%s); VRRP unicast "
                     "peers must be of one family" % ", ".join("%s=%s" % (b["name"], b["address"]) for b in balancers))
    for index, bal in enumerate(balancers):
        # The first balancer of the group is the preferred VRRP master; each
        # advertises to the others only (unicast, check_unicast_src).
        bal["priority"] = max(1, 150 - 10 * index)
        bal["peers"] = [other["address"] for other in balancers if other is not bal]
    for inst in ctx["instances"].values():
        # keepalived drops every VIP of another family than the instance's
        # unicast peers (and then has none): IPv6 VIPs need IPv6 balancers.
        if len(families) == 1 and families != {inst["family"]}:
            problems.add("vrrp instance '%s'" % inst["name"], "network", "%s is IPv%d but the balancers' addresses "
                         "(pacs_lb_address) are IPv%d; VRRP peers speak the family of their VIPs" % (
                             inst["network"], inst["family"], list(families)[0]))
    return balancers


def build_model(profile_services, user_services, vrrp_instances, pools=None, groups=None, hostvars=None,
                balancer_group="balancers", check_script_dirs=DEFAULT_SCRIPT_DIRS, tls_certificates=None,
                tls_server_ca=None, now=None, balancer_hosts=None):
    """Merge, validate and normalize. Returns the model or raises ModelError.

    balancer_hosts: the balancers of this model (one cluster of the
    inventory, see clusters.py); default: every host of balancer_group."""
    if netaddr is None:
        raise ModelError(["controller: netaddr: the Python package netaddr is required on the controller"])
    problems = Problems()
    groups = groups or {}
    if not isinstance(pools, (dict, type(None))) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in (pools or {}).items()):
        problems.add("inventory", "pacs_lb_pools", "must map pool names to inventory group names")
        pools = {}
    dirs = check_script_dirs if isinstance(check_script_dirs, (list, tuple)) else [check_script_dirs]
    for pos, item in enumerate(dirs):
        schema.check_field(schema.field("str", "", pattern=schema.SAFE_PATH, hint="an absolute path"), item,
                           "inventory", "pacs_lb_check_script_dirs[%d]" % pos, problems)
    ctx = {"pools": pools or {}, "groups": groups, "hostvars": hostvars or {}, "host_checked": {},
           "script_dirs": tuple(d for d in dirs if isinstance(d, str))}
    if not isinstance(user_services, (list, type(None))):
        problems.add("inventory", "pacs_lb_services", "must be a list of services, got %s" % type(
            user_services).__name__)
        user_services = []
    ctx["instances"] = _normalize_instances(vrrp_instances, problems)
    if not isinstance(vrrp_instances, list):
        vrrp_instances = []
    ctx["declared_instances"] = [i.get("name") for i in vrrp_instances or []
                                 if isinstance(i, dict) and isinstance(i.get("name"), str)]
    ctx["default_instance"] = next(iter(ctx["declared_instances"]), None)
    ctx["balancers"] = balancers = _balancers(groups, balancer_group, ctx, problems, balancer_hosts)
    ctx["tls"], ctx["tls_declared"] = _tls_entries(tls_certificates, problems, now)
    ctx["tls_server_ca"] = None
    if tls_server_ca is not None:
        ctx["tls_server_ca"] = schema.check_field(schema.field("str", "", pattern=schema.TLS_REF,
                                                               hint=schema.TLS_REF_HINT), tls_server_ca,
                                                  "inventory", "pacs_lb_tls_server_ca", problems)

    services = []
    for raw in merge_services(profile_services, user_services, problems):
        if not isinstance(raw, dict):
            problems.add("service %s" % show(raw), "entry", "must be a mapping")
            continue
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.add("service %r" % (name,), "name", "must match %s (letters, digits, _ . -; no spaces, quotes "
                         "or newlines)" % schema.NAME)
            continue
        where = "service '%s'" % name
        enabled = schema.check_field(schema.SERVICE["enabled"], raw.get("enabled", True), where, "enabled", problems)
        if enabled is False:
            continue
        fields = dict((k, v) for k, v in raw.items() if k != "enabled")
        svc = schema.check_mapping(schema.SERVICE, fields, where, "", problems, selector="mode")
        if svc is None or enabled is None:
            continue
        svc = _normalize_service(svc, ctx, problems)
        if svc is not None:
            services.append(svc)

    _check_collisions(services, balancers, ctx, problems)
    if problems.items:
        raise ModelError(problems.items)

    instances = []
    for inst in ctx["instances"].values():
        vips = []
        for svc in services:
            for group in svc["port_groups"]:
                if svc["vrrp_instance"] == inst["name"] and group["vip"] not in vips:
                    vips.append(group["vip"])
        out = dict((k, v) for k, v in inst.items() if k != "network_obj")
        # The NAT gateway floats like a VIP: whichever balancer holds the VIPs
        # also receives the real servers' replies.
        if inst["nat_gateway"] is not None:
            vips.append(inst["nat_gateway"])
        out["vips"] = vips
        instances.append(out)
    # keepalived's IPVS connection sync follows one VRRP instance: the first
    # that carries IPVS services. A single balancer has nobody to sync with.
    ipvs_instances = set(svc["vrrp_instance"] for svc in services if svc["renderer"] == "keepalived")
    sync = next((inst for inst in instances if inst["name"] in ipvs_instances), None) if len(balancers) > 1 else None
    # The files the haproxy role deploys (content comes from the inventory,
    # never from the model: keys stay out of facts), and the public facts
    # verify uses (CA certificates, expiry dates).
    tls_files = [{"name": e["name"], "path": e["path"], "kind": e["kind"]}
                 for e in ctx["tls"].values() if e["managed"]]
    tls_public = dict((name, dict((k, v) for k, v in e.items() if k != "managed")) for name, e in ctx["tls"].items())
    return {"services": services, "vrrp_instances": instances, "balancers": balancers,
            "ipvs_sync_instance": sync and {k: sync[k] for k in ("name", "interface", "virtual_router_id")},
            "ipvs_nat_interfaces": sorted(set(inst["interface"] for inst in instances if any(
                svc["mode"] == "l4_nat" and svc["vrrp_instance"] == inst["name"] for svc in services))),
            "paths": dict(PATHS), "tls_files": tls_files, "tls_certificates": tls_public}


def haproxy_section_names(svc):
    """(frontend, backend) names of every proxy section of a service (model_facts names them)."""
    names = []
    for group in svc["port_groups"]:
        names.append((group["frontend"], group["backend"]))
        names += [(None, backend) for backend in group["route_backends"]]
    return names


def _check_collisions(services, balancers, ctx, problems):
    """Rules across services: names after derivation, VIPs, ports, addresses."""
    bound, sections, vip_instance = [], {}, {}
    server_addresses = {}
    for svc in services:
        for srv in svc["servers"] + [s for r in svc["routes"] for s in r["servers"]]:
            server_addresses.setdefault(srv["address"], (svc["name"], srv["name"]))
    for svc in services:
        where = "service '%s'" % svc["name"]
        if svc["renderer"] == "haproxy":
            for pair in haproxy_section_names(svc):
                for section in pair:
                    if section is None:
                        continue
                    if section in sections and sections[section] != svc["name"]:
                        problems.add(where, "name", "HAProxy section '%s' is also made by service '%s'; rename one" % (
                            section, sections[section]))
                    elif section in sections:
                        problems.add(where, "routes", "HAProxy section '%s' is made twice; rename a route or port "
                                     "group" % section)
                    sections[section] = svc["name"]
        for group in svc["port_groups"]:
            if group["vip"] is None:
                continue
            for bal in balancers:
                if group["vip"] == bal["address"]:
                    problems.add(where, "vip", "%s is the address of balancer '%s'" % (group["vip"], bal["name"]))
            owner = server_addresses.get(group["vip"])
            if owner is not None and owner[0] != svc["name"]:
                problems.add(where, "vip", "%s is the address of server '%s' of service '%s'" % (
                    group["vip"], owner[1], owner[0]))
            elif owner is not None:
                problems.add(where, "server '%s'" % owner[1], "address %s is the VIP itself" % group["vip"])
            other = vip_instance.setdefault(group["vip"], svc["vrrp_instance"])
            if other != svc["vrrp_instance"]:
                problems.add(where, "vrrp_instance", "VIP %s already floats in VRRP instance '%s'; one VIP, one "
                             "instance" % (group["vip"], other))
            for first, last in group["ports"]:
                for other_vip, other_name, ofirst, olast in bound:
                    if other_vip == group["vip"] and first <= olast and ofirst <= last:
                        problems.add(where, "ports", "%s:%s overlaps service '%s' on the same VIP" % (
                            group["vip"], format_ports([(max(first, ofirst), min(last, olast))]), other_name))
                bound.append((group["vip"], svc["name"], first, last))
        redirect = (svc.get("tls") or {}).get("redirect_port")
        if redirect is not None and svc["port_groups"] and svc["port_groups"][0]["vip"] is not None:
            vip = svc["port_groups"][0]["vip"]
            for other_vip, other_name, ofirst, olast in bound:
                if other_vip == vip and ofirst <= redirect <= olast and other_name != svc["name"]:
                    problems.add(where, "http_redirect_port", "%s:%d is a port of service '%s'" % (
                        vip, redirect, other_name))
            bound.append((vip, svc["name"], redirect, redirect))
    # A NAT gateway is an address of its own: were it a VIP, a balancer or a
    # server, replies and requests would be mixed up on one address.
    for inst in ctx["instances"].values():
        gateway = inst["nat_gateway"]
        if gateway is None:
            continue
        where = "vrrp instance '%s'" % inst["name"]
        for bal in balancers:
            if gateway == bal["address"]:
                problems.add(where, "nat_gateway", "%s is the address of balancer '%s'" % (gateway, bal["name"]))
        if gateway in server_addresses:
            problems.add(where, "nat_gateway", "%s is the address of server '%s' of service '%s'" % (
                gateway, server_addresses[gateway][1], server_addresses[gateway][0]))
        if gateway in vip_instance:
            problems.add(where, "nat_gateway", "%s is also a VIP; the gateway needs an address of its own" % gateway)
        for other in ctx["instances"].values():
            if other["name"] < inst["name"] and other["nat_gateway"] == gateway:
                problems.add(where, "nat_gateway", "%s is also the gateway of instance '%s'" % (gateway, other["name"]))
