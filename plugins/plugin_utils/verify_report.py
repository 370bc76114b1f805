# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the verify role probes, and the report it writes from the results.

Pure functions: the role runs the modules (dicom_echo, hl7_mllp_probe, uri,
wait_for, haproxy_info, vrrp_info) and hands their results here, so the
judgement "is this rollout healthy, and if not exactly what is wrong" is
unit tested without any host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medimaging.pacs_lb.plugins.module_utils.keepalived_state import normalise_ip
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import clusters as cl
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_facts import server_port


def verify_probes(model, hosts=None):
    """One probe per service port group: the one the model carries (model_facts).

    model: one cluster's model, or {cluster: model} (pacs_lb_clusters), of
    which the clusters with a balancer among hosts (the play's, --limit
    applied) are probed; each probe names its cluster."""
    clusters = cl.as_clusters(model)
    probes = []
    for name in cl.clusters_in_scope(clusters, hosts):
        probes.extend(dict(group["probe"], cluster=name)
                      for svc in clusters[name]["services"] for group in svc["port_groups"])
    return probes


def _status_ok(code, spec):
    low, high = (spec.split("-", 1) + [spec])[:2]
    return int(low) <= int(code or 0) <= int(high)


def probe_outcome(probe, result):
    """(ok, latency_ms, detail) for one registered module result."""
    if result.get("skipped"):
        return False, None, "probe not run"
    kind = probe["kind"]
    if kind == "dicom":
        timings = result.get("timings_ms") or {}
        detail = "C-ECHO status %s" % result.get("status_text", result.get("status")) if result.get("ok") else (
            result.get("error") or result.get("msg") or "association failed at %s" % result.get("stage"))
        return bool(result.get("ok")), timings.get("total"), detail
    if kind == "hl7":
        detail = "ACK %s" % result.get("code") if result.get("ok") else (
            result.get("error") or result.get("msg") or "ACK %s" % result.get("code"))
        return bool(result.get("ok")), result.get("latency_ms"), detail
    if kind in ("http", "https"):
        status = result.get("status", -1)
        ok = status is not None and status > 0 and _status_ok(status, probe["status"])
        detail = "HTTP %s" % status if status and status > 0 else (result.get("msg") or "no HTTP answer")
        # uri reports whole seconds only: no latency rather than a false 0 ms.
        return ok, result["elapsed"] * 1000.0 if result.get("elapsed") else None, detail
    # wait_for: the role registers with failed_when false, so a timeout shows
    # only as a missing state (and a msg), never as failed.
    ok = not result.get("failed") and result.get("state") == "started"
    return (ok, result["elapsed"] * 1000.0 if ok and result.get("elapsed") else None,
            "TCP connect" if ok else (result.get("msg") or "connect failed"))


def _backend_frontends(model):
    """HAProxy backend name -> (frontend, VIP address:first port) from the model."""
    out = {}
    for svc in model["services"]:
        for group in svc["port_groups"]:
            where = "%s:%d" % (group["address"], group["ports"][0][0])
            for name in [group["backend"]] + group["route_backends"]:
                if name:
                    out[name] = (group["frontend"], where)
    return out


def probe_batches(model, probes):
    """The vip_probes runs of the verify role: one per cluster, with its probes and its CAs (name -> PEM)."""
    clusters = cl.as_clusters(model)
    batches = []
    for probe in probes:
        if not batches or batches[-1]["cluster"] != probe["cluster"]:
            certificates = clusters[probe["cluster"]].get("tls_certificates") or {}
            batches.append({"cluster": probe["cluster"], "probes": [], "ca_data": dict(
                (name, entry["pem"]) for name, entry in certificates.items() if entry.get("pem"))})
        batches[-1]["probes"].append(probe)
    return batches


def batch_results(probes, probed):
    """(results, tls_results) from the registered loop of vip_probes over probe_batches.

    results: one per probe, the result of its kind (a skipped placeholder,
    "probe not run", where a batch failed or is missing); tls_results:
    probe index -> handshake result, for the probes with TLS."""
    runs = [run for run in (probed or {}).get("results") or [] if isinstance(run, dict)]
    by_cluster = dict(((run.get("item") or {}).get("cluster"), run.get("results")) for run in runs)
    results, tls_results, seen = [], {}, {}
    for index, probe in enumerate(probes):
        pos = seen[probe["cluster"]] = seen.get(probe["cluster"], -1) + 1
        batch = by_cluster.get(probe["cluster"])
        entry = batch[pos] if isinstance(batch, list) and pos < len(batch) else {}
        results.append(entry.get("result") or {"skipped": True})
        if probe.get("tls") and entry:
            tls_results[index] = entry.get("tls") or {}
    return results, tls_results


def unreadable(info, key):
    """Why a haproxy_info / vrrp_info result cannot be used, or None.

    The role registers them with failed_when false, which clears "failed":
    a result without its data (key) is as unreadable as a failed one, and a
    balancer with no result at all (unreachable, or failed before verify)
    is too. None of these may look healthy.
    """
    if not info:
        return "no result (balancer unreachable or failed earlier in the run)"
    if info.get("failed") or key not in info:
        return info.get("msg") or "no %s in the module's result" % key
    return None


def tls_outcome(probe, result, warn_days, fail_days):
    """(problem or None, warning or None, the row's tls facts) of one tls_probe result."""
    keys = ("protocol", "cipher", "alpn", "chain_valid", "verify_error", "subject", "not_after", "days_left",
            "handshake_ms")
    facts = dict((k, result.get(k)) for k in keys)
    facts["ca"] = probe["tls"]["ca"]
    where = "service %s VIP %s:%d (TLS from the client side)" % (probe["service"], probe["vip"], probe["port"])
    if result.get("skipped") or not result:
        return "%s: probe not run" % where, None, facts
    if not result.get("handshake"):
        return "%s: handshake failed: %s" % (where, result.get("error") or result.get("msg")), None, facts
    if probe["tls"]["ca"] and not result.get("chain_valid"):
        return "%s: the served certificate %s does not verify against CA '%s': %s" % (
            where, result.get("subject"), probe["tls"]["ca"], result.get("verify_error")), None, facts
    days = result.get("days_left")
    warning = None
    if not probe["tls"]["ca"]:
        warning = "%s: chain not checked (no CA known: set ca on the certificate's entry, or server_ca)" % where
    if days is not None and days < fail_days:
        return "%s: the served certificate %s expires in %d day(s) (%s), below %d" % (
            where, result.get("subject"), days, result.get("not_after"), fail_days), warning, facts
    if days is not None and days < warn_days:
        warning = "%s: the served certificate %s expires in %d day(s) (%s)" % (
            where, result.get("subject"), days, result.get("not_after"))
    return None, warning, facts


def _judge_ipvs(model, ipvs, rows, balancers, problems, warnings):
    """The real servers of Layer 4 DR / NAT services as each balancer's IPVS table holds them.

    keepalived runs the checks on every balancer and removes a failed server
    from the table: a virtual server missing, or left with no server of
    weight above 0, is a problem (the VIP cannot answer there); a server
    missing beside live ones is a warning (the VIP answers, with less)."""
    services = [svc for svc in model["services"] if svc["renderer"] == "keepalived"]
    if not services:
        return
    row_of = dict(((row["service"], row["vip"]), row) for row in rows)
    for balancer in sorted(ipvs):
        info = ipvs[balancer] or {}
        state = balancers.setdefault(balancer, {"haproxy": "read", "vrrp": "read", "vrrp_instances": []})
        why = unreadable(info, "virtual_servers") or (None if info.get("loaded") else "the ip_vs module is not loaded")
        state["ipvs"] = "not readable: %s" % why if why else "read"
        if why:
            problems.append("balancer %s: IPVS table not readable: %s" % (balancer, why))
            continue
        table = dict(((normalise_ip(vs["vip"]), vs["port"]), vs) for vs in info["virtual_servers"] if vs.get("vip"))
        for svc in services:
            for group in svc["port_groups"]:
                row = row_of.get((group["probe"]["service"], group["vip"]))
                for port in (p for first, last in group["ports"] for p in range(first, last + 1)):
                    where = "service %s VIP %s:%d" % (svc["name"], group["address"], port)
                    held = table.get((normalise_ip(group["vip"]), port))
                    if held is None:
                        problems.append("%s: no IPVS virtual server on balancer %s" % (where, balancer))
                        continue
                    live = set((normalise_ip(s["address"]), s["port"]) for s in held["servers"] if s["weight"] > 0)
                    if not live:
                        problems.append("%s: the IPVS virtual server on balancer %s has no real server" % (
                            where, balancer))
                    up = dict((srv["name"], (normalise_ip(srv["address"]), server_port(srv, group, vip_port=port)) in live)
                              for srv in svc["servers"])
                    warnings.extend("%s server %s on balancer %s: not in the IPVS table (its check fails)" % (
                        where, name, balancer) for name, ok in up.items() if live and not ok)
                    if row is None:
                        continue
                    row["servers"].extend({"balancer": balancer, "backend": "IPVS %s:%d" % (group["address"], port),
                                           "name": name, "state": "UP" if ok else "DOWN",
                                           "check": "in the IPVS table" if ok else "not in the IPVS table",
                                           "check_desc": ""} for name, ok in up.items())
                    good = sum(1 for ok in up.values() if ok)
                    row["servers_total"] = min(row["servers_total"] or len(up), len(up))
                    row["servers_up"] = good if row["servers_up"] is None else min(row["servers_up"], good)


def build_report(model, probes, probe_results, haproxy, vrrp, check_mode=False, tls_results=None, warn_days=30,
                 fail_days=7, ipvs=None):
    """Judge the rollout. Returns {ok, check_mode, problems, unconfirmed, warnings, services, balancers, clusters}.

    model: one cluster's model or {cluster: model}; each cluster that has
    probes or a balancer in haproxy / vrrp is judged on its own (its
    services, its balancers' states, its VRRP instances), and the report
    holds them all: every row and balancer names its cluster, clusters
    lists each one's verdict, and with several clusters in the inventory
    every problem starts with "cluster '<name>': ".
    """
    clusters = cl.as_clusters(model)
    tls_results = tls_results or {}
    ipvs = ipvs or {}
    if len(clusters) == 1:
        name, only = next(iter(clusters.items()))
        scope = [(name, only, list(range(len(probes))), sorted(set(haproxy) | set(vrrp) | set(ipvs)))]
    else:
        seen = set(p.get("cluster") for p in probes) | set(
            c for c, m in clusters.items() for b in m["balancers"] if b["name"] in haproxy or b["name"] in vrrp)
        scope = []
        for name, one in clusters.items():
            if name in seen:
                mine = set(b["name"] for b in one["balancers"])
                scope.append((name, one, [i for i, p in enumerate(probes) if p.get("cluster") == name],
                              sorted(h for h in set(haproxy) | set(vrrp) | set(ipvs) if h in mine)))
    out = {"ok": True, "check_mode": bool(check_mode), "problems": [], "unconfirmed": [], "warnings": [],
           "services": [], "balancers": {}, "clusters": []}
    for name, one, indexes, hosts in scope:
        part = _build_one(one, [probes[i] for i in indexes], [probe_results[i] for i in indexes],
                          dict((h, haproxy[h]) for h in hosts if h in haproxy),
                          dict((h, vrrp[h]) for h in hosts if h in vrrp), check_mode,
                          dict((new, tls_results[old]) for new, old in enumerate(indexes) if old in tls_results),
                          warn_days, fail_days, dict((h, ipvs[h]) for h in hosts if h in ipvs))
        prefix = "cluster '%s': " % name if len(clusters) > 1 else ""
        for key in ("problems", "unconfirmed", "warnings"):
            out[key].extend(prefix + line for line in part[key])
        out["services"].extend(dict(row, cluster=name) for row in part["services"])
        for balancer, state in part["balancers"].items():
            out["balancers"][balancer] = dict(state, cluster=name)
        out["ok"] = out["ok"] and part["ok"]
        out["clusters"].append({"name": name, "ok": part["ok"], "problems": len(part["problems"] + part["unconfirmed"]),
                                "services": len(part["services"]), "balancers": sorted(part["balancers"])})
    return out


def _build_one(model, probes, probe_results, haproxy, vrrp, check_mode=False, tls_results=None, warn_days=30,
               fail_days=7, ipvs=None):
    """The report of one cluster (build_report without the cluster grouping).

    haproxy: {balancer: haproxy_info result}; vrrp: {balancer: vrrp_info result};
    ipvs: {balancer: balancer_state's ipvs result} (Layer 4 DR / NAT services).
    Each service row carries its servers as every balancer sees them, and
    balancers carries each balancer's VRRP states, so the report (verify.json,
    set_stats) holds everything verify.md shows.

    check_mode: the run did not apply its changes, so what differs from the
    model (a new service not listening yet, a VIP not added yet) cannot be
    told from a real problem: every finding goes to "unconfirmed" instead of
    "problems", and ok means that nothing was found.
    """
    problems, warnings = [], []
    rows = []
    backends = _backend_frontends(model)
    for svc in model["services"]:
        tls = svc.get("tls") or {}
        if tls.get("to_servers") and not tls.get("server_verify"):
            warnings.append("service %s: the real servers' certificates are not verified (server_verify: false)" % (
                svc["name"]))
    service_of = dict((p["frontend"], p["service"]) for p in probes if p["frontend"])
    for index, (probe, result) in enumerate(zip(probes, probe_results)):
        ok, latency, detail = probe_outcome(probe, result or {})
        rows.append(dict(probe, ok=ok, latency_ms=round(latency, 1) if latency is not None else None,
                         detail=detail, servers_up=None, servers_total=None, servers=[]))
        if not ok:
            problems.append("service %s VIP %s:%d (%s probe from the client side): %s" % (
                probe["service"], probe["vip"], probe["port"], probe["kind"], detail))
        if probe.get("tls"):
            problem, warning, rows[-1]["tls"] = tls_outcome(probe, (tls_results or {}).get(index) or {},
                                                            warn_days, fail_days)
            problems += [problem] if problem else []
            warnings += [warning] if warning else []
    row_of = dict((row["frontend"], row) for row in rows if row["frontend"])
    balancers = dict((name, {"haproxy": "read", "vrrp": "read", "vrrp_instances": []})
                     for name in sorted(set(haproxy) | set(vrrp)))
    _judge_ipvs(model, ipvs or {}, rows, balancers, problems, warnings)

    # Real servers, as every balancer sees them.
    counts = {}
    for balancer in sorted(haproxy):
        info = haproxy[balancer] or {}
        why = unreadable(info, "servers")
        if why:
            balancers[balancer]["haproxy"] = "not readable: %s" % why
            problems.append("balancer %s: HAProxy runtime API not readable: %s" % (balancer, why))
            continue
        for srv in info.get("servers", []):
            frontend, bind = backends.get(srv.get("backend"), (None, None))
            if frontend is None:
                continue
            svc = service_of.get(frontend, frontend)
            up = srv.get("operational_state") == "UP"
            total, good = counts.get((balancer, frontend), (0, 0))
            counts[(balancer, frontend)] = (total + 1, good + (1 if up else 0))
            if frontend in row_of:
                row_of[frontend]["servers"].append({
                    "balancer": balancer, "backend": srv.get("backend"), "name": srv.get("name"),
                    "state": srv.get("operational_state"), "check": srv.get("check_status"),
                    "check_desc": srv.get("check_desc") or ""})
            if not up and srv.get("operational_state") not in ("DRAIN", "MAINT"):
                problems.append("service %s VIP %s server %s on balancer %s: %s (%s%s)" % (
                    svc, bind, srv.get("name"), balancer, srv.get("status"), srv.get("check_status") or "no check",
                    ": " + srv["check_desc"] if srv.get("check_desc") else ""))
    for row in rows:
        seen = [counts[k] for k in counts if k[1] == row["frontend"]]
        if seen:
            row["servers_total"] = min(pair[0] for pair in seen)
            row["servers_up"] = min(pair[1] for pair in seen)

    # VRRP: exactly one MASTER per instance, and it holds every VIP.
    readable = []
    for balancer in sorted(vrrp):
        why = unreadable(vrrp[balancer], "instances")
        if why:
            balancers[balancer]["vrrp"] = "not readable: %s" % why
            problems.append("balancer %s: keepalived state not readable: %s" % (balancer, why))
        else:
            readable.append(balancer)
            balancers[balancer]["vrrp_instances"] = [
                {"name": e.get("name"), "state": e.get("state"), "vips_held": e.get("vips_held") or [],
                 "vips_missing": e.get("vips_missing") or []} for e in vrrp[balancer]["instances"]]
    for inst in model["vrrp_instances"]:
        masters, holders = [], []
        for balancer in readable:
            for entry in vrrp[balancer].get("instances", []):
                if entry.get("name") != inst["name"]:
                    continue
                if entry.get("state") == "MASTER":
                    masters.append(balancer)
                    if not entry.get("holds_all_vips"):
                        problems.append("VRRP instance %s: MASTER %s does not hold VIP(s) %s" % (
                            inst["name"], balancer, ", ".join(entry.get("vips_missing") or [])))
                if entry.get("vips_held"):
                    holders.append(balancer)
        if len(masters) != 1:
            problems.append("VRRP instance %s (VIPs %s): %s" % (
                inst["name"], ", ".join(inst["vips"]),
                "no balancer is MASTER" if not masters else "several MASTERs: %s (split brain)" % ", ".join(masters)))
        extra = [b for b in holders if b not in masters]
        if extra:
            problems.append("VRRP instance %s: VIP(s) also held by non-MASTER %s" % (inst["name"], ", ".join(extra)))
    return {"ok": not problems, "check_mode": bool(check_mode),
            "problems": [] if check_mode else problems, "unconfirmed": problems if check_mode else [],
            "warnings": warnings,
            "services": rows, "balancers": balancers}
