# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service model: vendor profile + user services -> one validated model.

Everything a renderer needs is decided here, once, on the controller. The
roles' templates only lay the result out as text. Every problem found is
collected (not just the first) so that one run shows the user all of them,
each naming the service and the field.
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

MODES = ("l7", "l4_snat", "l4_dr", "l4_nat")
PROXIED_MODES = ("l7", "l4_snat")
IPVS_MAX_PORTS = 64
IPVS_MODES = ("l4_dr", "l4_nat")
PROTOCOLS = ("tcp", "dicom", "dicom_tls", "hl7", "hl7_tls", "http", "https")

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
PERSISTENCE = ("none", "source_ip", "cookie_source_ip", "last_successful")
CHECKS = ("connect", "http", "http_head", "https", "external", "icmp", "dicom", "hl7", "none")
# Which check types each renderer can perform. ICMP in HAProxy is an external
# check script shipped by the haproxy role; HEAD is not offered by keepalived.
CHECKS_BY_RENDERER = {
    "haproxy": ("connect", "http", "http_head", "https", "external", "icmp", "dicom", "hl7", "none"),
    "keepalived": ("connect", "http", "https", "external", "icmp", "dicom", "hl7", "none"),
}
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
HOST_HEADER_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
SCRIPT_RE = re.compile(r"^/[A-Za-z0-9._/-]+$")
STATUS_RE = re.compile(r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?$")
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

SERVICE_DEFAULTS = {
    "enabled": True,
    "mode": "l7",
    "protocol": "tcp",
    "scheduler": "roundrobin",
    "persistence": "none",
    "persistence_timeout": 1800,
    "check": "connect",
    "failover": False,
    "forwardfor": False,
    "vrrp_instance": None,
}
SERVICE_FIELDS = set(SERVICE_DEFAULTS) | {
    "name", "description", "vip", "ports", "server_port", "pool", "servers",
    "port_groups", "routes", "tls_certificate", "server_tls", "cookie_name", "maxconn",
}
ROUTE_MATCHES = ("called_ae", "calling_ae", "path_prefix", "host")
ROUTE_FIELDS = set(ROUTE_MATCHES) | {"name", "pool", "servers", "scheduler", "check", "server_port", "server_tls"}
HOST_RE = re.compile(r"^[A-Za-z0-9*.-]{1,253}$")
CHECK_FIELDS = {"type", "port", "path", "host", "status", "script", "called_ae", "calling_ae",
                "message", "interval", "fall", "rise", "timeout"}
CHECK_DEFAULTS = {"interval": 2000, "fall": 3, "rise": 2, "timeout": 5000}


class ModelError(Exception):
    """All validation problems of one model, one line each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(ModelError, self).__init__("\n".join(self.problems))


class _Problems(object):
    def __init__(self):
        self.items = []

    def add(self, where, field, text):
        self.items.append("%s: %s: %s" % (where, field, text))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value):
    if _is_int(value):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(value)


def _check_port(value):
    port = _as_int(value)
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
    if _is_int(spec):
        return [spec]
    raise ValueError(spec)


def format_ports(ranges):
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in ranges)


def _address(value):
    """An IP address (not a network, not a hostname) or ValueError."""
    if not isinstance(value, str) or "/" in value:
        raise ValueError(value)
    try:
        return netaddr.IPAddress(value.strip(), flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(value)


def merge_services(profile_services, user_services):
    """User entries whose name is in the profile update that entry; others are added."""
    merged, index = [], {}
    for svc in profile_services or []:
        index[svc.get("name")] = len(merged)
        merged.append(copy.deepcopy(svc))
    for svc in user_services or []:
        name = svc.get("name") if isinstance(svc, dict) else None
        if name in index:
            merged[index[name]].update(copy.deepcopy(svc))
        else:
            index[name] = len(merged)
            merged.append(copy.deepcopy(svc))
    return merged


def _normalize_check(raw, where, problems, renderer, protocol):
    check = {"type": raw} if isinstance(raw, str) else dict(raw or {})
    if not isinstance(raw, (str, dict)):
        problems.add(where, "check", "must be a check type or a mapping with 'type'")
        return None
    unknown = set(check) - CHECK_FIELDS
    if unknown:
        problems.add(where, "check", "unknown key(s) %s; allowed: %s" % (
            ", ".join(sorted(unknown)), ", ".join(sorted(CHECK_FIELDS))))
    ctype = check.get("type", "connect")
    if ctype not in CHECKS:
        problems.add(where, "check.type", "'%s' is not one of %s" % (ctype, ", ".join(CHECKS)))
        return None
    if ctype not in CHECKS_BY_RENDERER[renderer]:
        problems.add(where, "check.type", "'%s' cannot be done by %s (this service's mode); use one of %s" % (
            ctype, renderer, ", ".join(CHECKS_BY_RENDERER[renderer])))
        return None
    out = dict(CHECK_DEFAULTS)
    out.update(check)
    out["type"] = ctype
    for key in ("interval", "fall", "rise", "timeout"):
        try:
            out[key] = _as_int(out[key])
            if out[key] < 1:
                raise ValueError
        except ValueError:
            problems.add(where, "check.%s" % key, "must be a positive whole number (milliseconds for interval/timeout)")
    if out.get("port") is not None:
        try:
            out["port"] = _check_port(out["port"])
        except ValueError:
            problems.add(where, "check.port", "'%s' is not a port 1-65535" % out["port"])
    if ctype in ("http", "http_head", "https"):
        out.setdefault("path", "/")
        out.setdefault("status", "200-399")
        if not isinstance(out["path"], str) or not PATH_RE.match(out["path"]):
            problems.add(where, "check.path", "must be a URL path starting with / without spaces or quotes")
        if not STATUS_RE.match(str(out["status"])):
            problems.add(where, "check.status", "must be a status code or range such as 200-399")
        if out.get("host") is not None and not HOST_HEADER_RE.match(str(out["host"])):
            problems.add(where, "check.host", "must be a host name, optionally with :port")
    if ctype == "external":
        if not isinstance(out.get("script"), str) or not SCRIPT_RE.match(out["script"]):
            problems.add(where, "check.script", "an external check needs an absolute script path of [A-Za-z0-9._/-]")
    if ctype == "dicom":
        out.setdefault("called_ae", "ANY-SCP")
        out.setdefault("calling_ae", "LBCHECK")
        for key in ("called_ae", "calling_ae"):
            try:
                out[key] = dicom_pdu.validate_ae_title(out[key])
            except ValueError as exc:
                problems.add(where, "check.%s" % key, str(exc))
        out["tls"] = protocol == "dicom_tls"
    if ctype == "hl7":
        if out.get("message") is not None and not isinstance(out["message"], str):
            problems.add(where, "check.message", "must be an HL7 v2 message as text")
        out["tls"] = protocol == "hl7_tls"
    return out


def _pool_servers(svc, where, problems, ctx):
    """Real servers from an inventory group (pool) or an explicit list."""
    servers = []
    if svc.get("servers") is not None:
        raw = svc["servers"]
        if not isinstance(raw, list) or not raw:
            problems.add(where, "servers", "must be a non-empty list of {address, ...}")
            return []
        for pos, item in enumerate(raw):
            if not isinstance(item, dict) or "address" not in item:
                problems.add(where, "servers[%d]" % pos, "must be a mapping with 'address'")
                continue
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
            hv = ctx["hostvars"].get(host, {})
            address = hv.get("pacs_lb_address", hv.get("ansible_host", host))
            servers.append({
                "name": host,
                "address": address,
                "port": hv.get("pacs_lb_server_port"),
                "weight": hv.get("pacs_lb_weight", 100),
                "backup": hv.get("pacs_lb_backup", False),
            })
    out = []
    for srv in servers:
        label = "server '%s'" % srv["name"]
        if not NAME_RE.match(str(srv["name"])):
            problems.add(where, label, "name must match %s" % NAME_RE.pattern)
        try:
            srv["address"] = str(_address(srv["address"]))
        except ValueError:
            problems.add(where, label, "address '%s' is not an IP address (set pacs_lb_address for the host)" % srv["address"])
            continue
        try:
            srv["weight"] = _as_int(srv.get("weight", 100))
            if not 0 <= srv["weight"] <= 256:
                raise ValueError
        except ValueError:
            problems.add(where, label, "weight must be 0-256")
        if srv.get("port") is not None:
            try:
                srv["port"] = _check_port(srv["port"])
            except ValueError:
                problems.add(where, label, "port '%s' is not 1-65535" % srv["port"])
        srv["backup"] = bool(srv.get("backup", False))
        out.append({k: srv.get(k) for k in ("name", "address", "port", "weight", "backup")})
    return out


def _normalize_service(raw, ctx, problems):
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add("service %r" % (name,), "name", "must match %s (letters, digits, _ . -; no spaces, quotes or newlines)" % NAME_RE.pattern)
        return None
    where = "service '%s'" % name
    unknown = set(raw) - SERVICE_FIELDS
    if unknown:
        problems.add(where, ", ".join(sorted(unknown)), "unknown field; allowed: %s" % ", ".join(sorted(SERVICE_FIELDS)))
    svc = dict(SERVICE_DEFAULTS)
    svc.update(raw)

    for field, allowed in (("mode", MODES), ("protocol", PROTOCOLS), ("scheduler", tuple(SCHEDULERS)),
                           ("persistence", PERSISTENCE)):
        if svc[field] not in allowed:
            problems.add(where, field, "'%s' is not one of %s" % (svc[field], ", ".join(allowed)))
            return None
    renderer = "haproxy" if svc["mode"] in PROXIED_MODES else "keepalived"

    try:
        vip = _address(svc.get("vip"))
    except ValueError:
        problems.add(where, "vip", "'%s' is not an IP address (set it in pacs_lb_services)" % (svc.get("vip"),))
        vip = None
    instance = ctx["instances"].get(svc["vrrp_instance"] or ctx["default_instance"])
    if instance is None:
        problems.add(where, "vrrp_instance", "'%s' is not one of the VRRP instances %s" % (
            svc["vrrp_instance"], ", ".join(ctx["instances"]) or "(none defined)"))
    elif vip is not None and vip not in instance["network_obj"]:
        problems.add(where, "vip", "%s is outside the network %s of VRRP instance '%s'" % (vip, instance["network"], instance["name"]))

    port_groups = svc.get("port_groups")
    if port_groups is None:
        port_groups = [{"name": None, "ports": svc.get("ports"), "check": svc["check"], "server_port": svc.get("server_port")}]
    elif not isinstance(port_groups, list) or not port_groups:
        problems.add(where, "port_groups", "must be a non-empty list of {name, ports, check}")
        return None

    servers = _pool_servers(svc, where, problems, ctx)
    for srv in servers:
        if vip is not None and srv["address"] == str(vip):
            problems.add(where, "server '%s'" % srv["name"], "address %s is the VIP itself" % srv["address"])
    if svc["failover"]:
        # Failover: the first server takes all traffic, the others only when it fails.
        for pos, srv in enumerate(servers):
            srv["backup"] = pos > 0
    if svc["mode"] == "l4_dr" and instance is not None:
        for srv in servers:
            if netaddr.IPAddress(srv["address"]) not in instance["network_obj"]:
                problems.add(where, "server '%s'" % srv["name"],
                             "Layer 4 DR needs real servers on the balancer's layer 2 network %s" % instance["network"])

    groups_out = []
    for pos, group in enumerate(port_groups):
        gwhere = where if group.get("name") is None else "%s port group '%s'" % (where, group.get("name"))
        if group.get("name") is not None and not NAME_RE.match(str(group["name"])):
            problems.add(where, "port_groups[%d].name" % pos, "must match %s" % NAME_RE.pattern)
            continue
        gvip = vip
        if group.get("vip") is not None:
            try:
                gvip = _address(group["vip"])
            except ValueError:
                problems.add(gwhere, "vip", "'%s' is not an IP address" % (group["vip"],))
            else:
                if instance is not None and gvip not in instance["network_obj"]:
                    problems.add(gwhere, "vip", "%s is outside the network %s of VRRP instance '%s'" % (gvip, instance["network"], instance["name"]))
        try:
            ranges = parse_ports(group.get("ports"))
        except (ValueError, TypeError) as exc:
            problems.add(gwhere, "ports", "'%s' is not a port list: use 104, '80,443', '4000-4010' or {all_except: [N]} "
                         "with ports 1-65535 (%s)" % (group.get("ports"), exc))
            continue
        server_port = group.get("server_port", svc.get("server_port"))
        if server_port is not None:
            try:
                server_port = _check_port(server_port)
            except ValueError:
                problems.add(gwhere, "server_port", "'%s' is not a port 1-65535" % server_port)
                server_port = None
        translated = server_port is not None or any(s["port"] is not None for s in servers)
        if svc["mode"] == "l4_dr" and translated:
            problems.add(gwhere, "server_port", "Layer 4 DR cannot translate ports (the real server answers on the VIP's own port); remove server_port")
        if server_port is not None and ranges != [(ranges[0][0], ranges[0][0])]:
            problems.add(gwhere, "server_port", "port translation needs exactly one VIP port")
        check = _normalize_check(group.get("check", svc["check"]), gwhere, problems, renderer, svc["protocol"])
        if (isinstance(group.get("ports"), dict) and check and check["type"] not in ("none", "icmp", "external")
                and not check.get("port") and server_port is None):
            problems.add(gwhere, "check.port", "a service on 'all ports except' needs check.port: which port proves the server is up?")
        if svc["mode"] in IPVS_MODES and sum(last - first + 1 for first, last in ranges) > IPVS_MAX_PORTS:
            problems.add(gwhere, "ports", "Layer 4 DR/NAT renders one IPVS virtual server per port; at most %d ports "
                         "(firewall-mark services are not supported yet)" % IPVS_MAX_PORTS)
        groups_out.append({"name": group.get("name"), "vip": str(gvip) if gvip is not None else None,
                           "ports": ranges, "port_spec": format_ports(ranges),
                           "server_port": server_port, "check": check})

    if svc["persistence"] == "cookie_source_ip" and not (svc["mode"] == "l7" and svc["protocol"] == "http"):
        problems.add(where, "persistence", "cookie_source_ip needs mode l7 and protocol http (HAProxy must see HTTP)")
    if svc["persistence"] == "last_successful" and renderer != "haproxy":
        problems.add(where, "persistence", "last_successful is a stick table and needs mode l7 or l4_snat")
    if svc["forwardfor"] and not (svc["mode"] == "l7" and svc["protocol"] in ("http", "https") and
                                  (svc["protocol"] == "http" or svc.get("tls_certificate"))):
        problems.add(where, "forwardfor", "X-Forwarded-For needs mode l7 with HTTP (or HTTPS terminated with tls_certificate)")
    if svc.get("tls_certificate") is not None:
        if svc["mode"] != "l7" or not SCRIPT_RE.match(str(svc["tls_certificate"])):
            problems.add(where, "tls_certificate", "TLS termination needs mode l7 and an absolute PEM path")
    try:
        svc["persistence_timeout"] = _as_int(svc["persistence_timeout"])
    except ValueError:
        problems.add(where, "persistence_timeout", "must be seconds as a whole number")
    cookie_name = svc.get("cookie_name") or "PACSLB"
    if not COOKIE_RE.match(str(cookie_name)):
        problems.add(where, "cookie_name", "must match %s" % COOKIE_RE.pattern)

    routes = []
    http = svc["protocol"] == "http" or (svc["protocol"] == "https" and bool(svc.get("tls_certificate")))
    for pos, route in enumerate(svc.get("routes") or []):
        rwhere = "%s route #%d" % (where, pos + 1)
        if not isinstance(route, dict):
            problems.add(rwhere, "routes", "each route must be a mapping")
            continue
        matches = [m for m in ROUTE_MATCHES if m in route]
        if len(matches) != 1:
            problems.add(rwhere, "routes", "each route needs exactly one of %s" % ", ".join(ROUTE_MATCHES))
            continue
        match = matches[0]
        unknown = set(route) - ROUTE_FIELDS
        if unknown:
            problems.add(rwhere, ", ".join(sorted(unknown)), "unknown field; allowed: %s" % ", ".join(sorted(ROUTE_FIELDS)))
        rname = route.get("name") or "route%d" % (pos + 1)
        if not NAME_RE.match(str(rname)):
            problems.add(rwhere, "name", "must match %s" % NAME_RE.pattern)
            continue
        value = route[match]
        if match in ("called_ae", "calling_ae"):
            if svc["protocol"] != "dicom" or renderer != "haproxy":
                problems.add(rwhere, match, "routing by AE title needs protocol dicom in mode l7 or l4_snat")
                continue
            try:
                value = dicom_pdu.validate_ae_title(value)
            except ValueError as exc:
                problems.add(rwhere, match, str(exc))
                continue
        elif not http or svc["mode"] != "l7":
            problems.add(rwhere, match, "routing by %s needs mode l7 with HTTP (or HTTPS terminated with tls_certificate)" % match)
            continue
        elif match == "path_prefix" and not (isinstance(value, str) and PATH_RE.match(value)):
            problems.add(rwhere, match, "must be a URL path starting with /")
            continue
        elif match == "host" and not (isinstance(value, str) and HOST_RE.match(value)):
            problems.add(rwhere, match, "must be a host name")
            continue
        scheduler = route.get("scheduler", svc["scheduler"])
        if scheduler not in SCHEDULERS:
            problems.add(rwhere, "scheduler", "'%s' is not one of %s" % (scheduler, ", ".join(SCHEDULERS)))
            continue
        rservers = _pool_servers(route, rwhere, problems, ctx)
        rcheck = None
        if route.get("check") is not None:
            rcheck = _normalize_check(route["check"], rwhere, problems, renderer, svc["protocol"])
        rport = route.get("server_port")
        if rport is not None:
            try:
                rport = _check_port(rport)
            except ValueError:
                problems.add(rwhere, "server_port", "'%s' is not a port 1-65535" % rport)
        routes.append({"name": rname, "match": match, "value": value, "scheduler": scheduler, "servers": rservers,
                       "check": rcheck, "server_port": rport,
                       "server_tls": bool(route.get("server_tls", svc.get("server_tls", False)))})

    maxconn = svc.get("maxconn")
    if maxconn is not None:
        try:
            maxconn = _as_int(maxconn)
        except ValueError:
            problems.add(where, "maxconn", "must be a whole number")

    return {
        "name": name,
        "description": str(svc.get("description") or "").replace("\n", " "),
        "vip": str(vip) if vip is not None else None,
        "vip_version": vip.version if vip is not None else None,
        "vrrp_instance": instance["name"] if instance else None,
        "mode": svc["mode"],
        "renderer": renderer,
        "protocol": svc["protocol"],
        "scheduler": svc["scheduler"],
        "persistence": svc["persistence"],
        "persistence_timeout": svc["persistence_timeout"],
        "cookie_name": cookie_name,
        "forwardfor": bool(svc["forwardfor"]),
        "tls_certificate": svc.get("tls_certificate"),
        "failover": bool(svc["failover"]),
        "maxconn": maxconn,
        "servers": servers,
        "port_groups": groups_out,
        "routes": routes,
        "server_tls": bool(svc.get("server_tls", False)),
    }


def _normalize_instances(raw_instances, ctx, problems):
    instances = {}
    seen_ids = {}
    if not isinstance(raw_instances, list) or not raw_instances:
        problems.add("vrrp", "pacs_lb_vrrp_instances", "define at least one VRRP instance {name, virtual_router_id, interface, network}")
        return instances
    for pos, raw in enumerate(raw_instances):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = "vrrp instance '%s'" % (name,)
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.add("vrrp instance #%d" % (pos + 1), "name", "must match %s" % NAME_RE.pattern)
            continue
        if name in instances:
            problems.add(where, "name", "defined twice")
            continue
        try:
            vrid = _as_int(raw.get("virtual_router_id"))
            if not 1 <= vrid <= 255:
                raise ValueError
        except (ValueError, TypeError):
            problems.add(where, "virtual_router_id", "'%s' must be 1-255" % (raw.get("virtual_router_id"),))
            vrid = None
        if vrid is not None:
            if vrid in seen_ids:
                problems.add(where, "virtual_router_id", "%d is already used by instance '%s'; it must be unique on the network" % (vrid, seen_ids[vrid]))
            seen_ids[vrid] = name
        try:
            network = netaddr.IPNetwork(str(raw.get("network")))
            if "/" not in str(raw.get("network")):
                raise ValueError
        except (netaddr.AddrFormatError, ValueError, TypeError):
            problems.add(where, "network", "'%s' must be a network in CIDR form such as 198.18.10.0/24" % (raw.get("network"),))
            continue
        interface = raw.get("interface", "eth0")
        if not re.match(r"^[A-Za-z0-9_.-]{1,15}$", str(interface)):
            problems.add(where, "interface", "'%s' is not an interface name" % interface)
        instances[name] = {
            "name": name,
            "virtual_router_id": vrid,
            "interface": interface,
            "network": str(network.cidr),
            "prefixlen": network.prefixlen,
            "network_obj": network,
        }
    return instances


def build_model(profile_services, user_services, vrrp_instances, pools=None, groups=None, hostvars=None,
                balancer_group="balancers"):
    """Merge, validate and normalize. Returns the model or raises ModelError."""
    if netaddr is None:
        raise ModelError(["controller: netaddr: the Python package netaddr is required on the controller"])
    problems = _Problems()
    groups = groups or {}
    hostvars = hostvars or {}
    ctx = {"pools": pools or {}, "groups": groups, "hostvars": hostvars}
    ctx["instances"] = _normalize_instances(vrrp_instances, ctx, problems)
    ctx["default_instance"] = next(iter(ctx["instances"]), None)

    balancers = []
    for host in groups.get(balancer_group) or []:
        hv = hostvars.get(host, {})
        address = hv.get("pacs_lb_address", hv.get("ansible_host", host))
        try:
            balancers.append({"name": host, "address": str(_address(address))})
        except ValueError:
            problems.add("balancer '%s'" % host, "pacs_lb_address", "'%s' is not an IP address" % address)
    if not balancers:
        problems.add("inventory", "balancers", "group '%s' has no hosts" % balancer_group)

    services = []
    for raw in merge_services(profile_services, user_services):
        if not isinstance(raw, dict):
            problems.add("service %r" % (raw,), "entry", "must be a mapping")
            continue
        if not raw.get("enabled", True):
            continue
        svc = _normalize_service(raw, ctx, problems)
        if svc is not None:
            services.append(svc)

    _check_collisions(services, balancers, problems)
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
        out["vips"] = vips
        instances.append(out)
    return {"services": services, "vrrp_instances": instances, "balancers": balancers}


def _check_collisions(services, balancers, problems):
    names, bound = {}, []
    for svc in services:
        where = "service '%s'" % svc["name"]
        if svc["name"] in names:
            problems.add(where, "name", "defined twice")
        names[svc["name"]] = True
        for group in svc["port_groups"]:
            for bal in balancers:
                if group["vip"] == bal["address"]:
                    problems.add(where, "vip", "%s is the address of balancer '%s'" % (group["vip"], bal["name"]))
            for first, last in group["ports"]:
                for other_vip, other_name, ofirst, olast in bound:
                    if other_vip == group["vip"] and first <= olast and ofirst <= last:
                        problems.add(where, "ports", "%s:%s overlaps service '%s' on the same VIP" % (
                            group["vip"], format_ports([(max(first, ofirst), min(last, olast))]), other_name))
                bound.append((group["vip"], svc["name"], first, last))
