# -*- coding: utf-8 -*-
"""Stand-ins and client probes for a vendor lab, derived from the service model.

Test fixture, not part of the collection. `make lab VENDOR=<v>` deploys an
example inventory as it is; what each real server must listen on, and what a
client must ask each VIP port, follows from the model the preflight builds
(`pacs_lb_model`), so that a profile edit changes the lab with it.

Pure Python (no Ansible import): tests/unit/test_lab_vendor.py runs it on the
real example models.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_facts import server_port

# A port group wider than this (GE's DB_MT, 65534 ports) is sampled: the
# checked port and the ends of each range. Listening on all of them would prove
# nothing more than the ends do about the balancer's redirect.
WIDE_GROUP = 16

# What a port must speak for a check to pass: checks that send a protocol
# constrain the server's port; connect, ICMP and none do not. The lab's
# external check script (tests/lab/files/lab_external_check) sends an HTTP GET.
CHECK_KIND = {"http": "http", "http_head": "http", "https": "https", "dicom": "dicom", "hl7": "hl7",
              "external": "http"}
TLS_KIND = {"dicom": "dicom_tls", "hl7": "hl7_tls"}
KINDS = ("dicom", "dicom_tls", "hl7", "hl7_tls", "http", "https", "tcp")

# Internal ports of the local Orthanc (DICOM, REST) and MLLP peer: the first
# one that no VIP or check port of the host uses.
ORTHANC_DICOM_PORTS = (4242, 14242, 24242)
ORTHANC_HTTP_PORTS = (8042, 18042, 28042)
MLLP_PORTS = (12575, 22575, 32575)


class StandInError(ValueError):
    """Two clients of one server port need different protocols."""


def _ports(group):
    """The VIP ports a lab serves and probes for one port group."""
    count = sum(last - first + 1 for first, last in group["ports"])
    if count <= WIDE_GROUP:
        return [p for first, last in group["ports"] for p in range(first, last + 1)]
    sample = set()
    for first, last in group["ports"]:
        sample.update((first, last))
    check_port = (group["check"] or {}).get("port")
    if check_port and any(first <= check_port <= last for first, last in group["ports"]):
        sample.add(check_port)
    return sorted(sample)


def _check_kind(check):
    if not check:
        return None
    kind = CHECK_KIND.get(check.get("type"))
    if kind and check.get("tls") and kind in TLS_KIND:
        kind = TLS_KIND[kind]
    return kind


def _demands(model):
    """(server name, port) -> {kind: [why, ...]}: every protocol a client or check speaks to that port."""
    demands = {}

    def want(host, port, kind, why):
        demands.setdefault((host, port), {}).setdefault(kind, []).append(why)

    for svc in model["services"]:
        for group in svc["port_groups"]:
            where = svc["name"] if group["name"] is None else "%s/%s" % (svc["name"], group["name"])
            ports = _ports(group)
            backends = [(None, svc["servers"], group["check"], svc["protocol"])]
            for route in svc["routes"]:
                proto = svc["protocol"]
                if route["server_tls"]:
                    proto = {"http": "https", "dicom": "dicom_tls", "hl7": "hl7_tls"}.get(proto, proto)
                backends.append((route, route["servers"], route["check"] or group["check"], proto))
            for route, servers, check, proto in backends:
                label = where if route is None else "%s route %s" % (where, route["name"])
                for srv in servers:
                    for port in ports:
                        want(srv["name"], server_port(srv, group, route, port), proto, label)
                    kind = _check_kind(check)
                    if check and check.get("type") not in (None, "none", "icmp"):
                        port = check.get("port") or server_port(srv, group, route, ports[0])
                        want(srv["name"], port, kind or "tcp", "%s check" % label)
    return demands


def _resolve(host, port, kinds):
    specific = sorted(k for k in kinds if k != "tcp")
    if len(specific) > 1:
        raise StandInError("server %s port %d: %s" % (host, port, "; ".join(
            "%s for %s" % (k, ", ".join(sorted(set(kinds[k])))) for k in specific)))
    return specific[0] if specific else "tcp"


def _free(candidates, used, what, host):
    for port in candidates:
        if port not in used:
            return port
    raise StandInError("server %s: no free internal port for %s among %s" % (host, what, candidates))


def port_kinds(model):
    """{server name: {port: kind}}: what each real server's port must speak."""
    out = {}
    for (host, port), kinds in sorted(_demands(model).items()):
        out.setdefault(host, {})[port] = _resolve(host, port, kinds)
    return out


def lab_standins(model):
    """Per real server, what to start on it.

    {server: {"orthanc": {"dicom_port", "http_port"} or None, "mllp_ports": [...],
              "listeners": [{"port", "kind", "target"}], "ports": [every port to wait for]}}

    Listener kinds, served by tests/lab/files/standin.py: http, https, tcp
    (a banner naming the server), relay (to the local Orthanc: DICOM ports),
    tls_relay (TLS terminated, then to the local Orthanc or MLLP peer).
    HL7 ports are the MLLP peer's own (tests/lab/files/mllp_peer.py).
    """
    plans = {}
    for host, ports in port_kinds(model).items():
        used = set(ports)
        kinds = set(ports.values())
        orthanc = mllp_internal = None
        if kinds & {"dicom", "dicom_tls"}:
            orthanc = {"dicom_port": _free(ORTHANC_DICOM_PORTS, used, "Orthanc's DICOM port", host)}
            used.add(orthanc["dicom_port"])
            orthanc["http_port"] = _free(ORTHANC_HTTP_PORTS, used, "Orthanc's REST port", host)
            used.add(orthanc["http_port"])
        mllp_ports = sorted(p for p, k in ports.items() if k == "hl7")
        if "hl7_tls" in kinds:
            mllp_internal = mllp_ports[0] if mllp_ports else _free(MLLP_PORTS, used, "the MLLP peer", host)
            if mllp_internal not in mllp_ports:
                mllp_ports.append(mllp_internal)
        listeners = []
        for port, kind in sorted(ports.items()):
            if kind in ("http", "https", "tcp"):
                listeners.append({"port": port, "kind": kind, "target": None})
            elif kind == "dicom":
                listeners.append({"port": port, "kind": "relay", "target": orthanc["dicom_port"]})
            elif kind == "dicom_tls":
                listeners.append({"port": port, "kind": "tls_relay", "target": orthanc["dicom_port"]})
            elif kind == "hl7_tls":
                listeners.append({"port": port, "kind": "tls_relay", "target": mllp_internal})
        plans[host] = {"orthanc": orthanc, "mllp_ports": mllp_ports, "listeners": listeners,
                       "ports": sorted(set(ports) | set(mllp_ports))}
    return plans


def lab_client_probes(model):
    """One probe per VIP port (wide groups sampled), each with the client that speaks its protocol.

    kind: dicom, dicom_tls, hl7, hl7_tls, http, https, tcp. A `tcp` service
    whose servers all serve something more specific on that port (GE's
    Dakota SP2 is HTTPS) is asked in that protocol. `expect` lists the servers
    allowed to answer (HTTP bodies, HL7 ACKs and TCP banners name them); a
    failover service expects its first server only.
    """
    kinds = port_kinds(model)
    probes = []
    for svc in model["services"]:
        for group in svc["port_groups"]:
            where = svc["name"] if group["name"] is None else "%s/%s" % (svc["name"], group["name"])
            for port in _ports(group):
                kind = svc["protocol"]
                served = set(kinds[s["name"]][server_port(s, group, vip_port=port)] for s in svc["servers"])
                if kind == "tcp" and len(served) == 1:
                    kind = served.pop()
                servers = [s for s in svc["servers"] if not s["backup"]] or svc["servers"]
                if svc["failover"]:
                    servers = servers[:1]
                probes.append({"service": where, "vip": group["vip"], "port": port, "kind": kind, "path": "/",
                               "host_header": None, "expect": [s["name"] for s in servers]})
                for route in svc["routes"]:
                    probe = dict(probes[-1], service="%s route %s" % (where, route["name"]),
                                 expect=[s["name"] for s in route["servers"]])
                    if route["match"] == "path_prefix":
                        probe["path"] = route["value"].rstrip("/") + "/"
                    elif route["match"] == "host":
                        probe["host_header"] = route["value"]
                    else:
                        # AE routes: the client sets the AE title the route matches.
                        probe["calling_ae" if route["match"] == "calling_ae" else "called_ae"] = route["value"]
                    probes.append(probe)
    return probes


def lab_external_scripts(model):
    """The external check scripts the model's checks run (the lab installs its HTTP check at each path)."""
    scripts = set()
    for svc in model["services"]:
        for group in svc["port_groups"]:
            checks = [group["check"]] + [r["check"] for r in svc["routes"]]
            scripts.update(c["script"] for c in checks if c and c.get("type") == "external")
    return sorted(scripts)


def lab_tls_names(model):
    """Every address a TLS client may dial (VIPs) or a check may reach (servers): the lab certificate's SANs."""
    names = set()
    for svc in model["services"]:
        for group in svc["port_groups"]:
            names.add(group["vip"])
        for srv in svc["servers"] + [s for r in svc["routes"] for s in r["servers"]]:
            names.add(srv["address"])
    return sorted(names)


class FilterModule(object):
    def filters(self):
        return {
            "lab_standins": lab_standins,
            "lab_client_probes": lab_client_probes,
            "lab_external_scripts": lab_external_scripts,
            "lab_tls_names": lab_tls_names,
        }
