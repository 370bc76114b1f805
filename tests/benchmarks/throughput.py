"""C-STORE throughput through the role's HAProxy vs direct, interleaved, and the balancer-side tunings compared.

For every sink (DCMTK storescp, Orthanc), endpoint profile (stock = Nagle on,
as Debian ships them and as many modalities behave; TCP_NODELAY=1 on client
and server) and number of associations, the same images are sent alternately
direct (routed through the balancer's kernel) and through HAProxy's VIP, the
order flipping every pair. A ratio is proxied MB/s / direct MB/s of one pair;
the table reports the median ratio (and the lowest) of a run.

Tunings (--tunings / --candidates) are applied to the balancer only:
HAProxy lines added to the rendered configuration, or "quickack 1" on the
balancer namespace's routes (roles/haproxy/files/route-quickack, installed by the haproxy role).

  python tests/benchmarks/throughput.py            # main table + candidate table (~4-6 min)
  python tests/benchmarks/throughput.py --quick    # fewer images and pairs (~2 min)
"""
import argparse
import collections
import os
import subprocess
import sys
import time

import benchlib as bl
import modality_sim as ms

QA = ("client", "server")


class Candidate(collections.namedtuple("Candidate", "description lines legs role_vars")):
    """A balancer-side tuning: HAProxy lines appended to the rendered sections, the balancer's routes that get
    quickack 1, and haproxy role variables the configuration is rendered with."""

    def __new__(cls, description, lines=None, legs=(), role_vars=None):
        return super().__new__(cls, description, lines or {}, legs, role_vars or {})


CANDIDATES = {
    "default": Candidate("role with haproxy_route_quickack: none (HAProxy sets TCP_NODELAY on both sides)"),
    "smart": Candidate("option tcp-smart-accept + tcp-smart-connect",
                       {"defaults": ["option tcp-smart-accept", "option tcp-smart-connect"]}),
    "splice": Candidate("option splice-auto", {"defaults": ["option splice-auto"]}),
    "bufsize64k": Candidate("tune.bufsize 65536 (4x fewer, larger forwards)", {"global": ["tune.bufsize 65536"]}),
    "sockbuf": Candidate("tune.rcvbuf/sndbuf client+server 1 MiB", {"global": [
        "tune.rcvbuf.client 1048576", "tune.rcvbuf.server 1048576",
        "tune.sndbuf.client 1048576", "tune.sndbuf.server 1048576"]}),
    "qa-server": Candidate("quickack 1 on the balancer's server-side routes only", legs=("server",)),
    "qa-hosts": Candidate("quickack 1 on host routes to the real servers only (route-quickack hosts-on)",
                          legs=("hosts",)),
    "qa-client": Candidate("quickack 1 on the balancer's client-side routes only", legs=("client",)),
    "quickack": Candidate("role as rendered: quickack 1 on all the balancer's routes (haproxy_route_quickack: all)",
                          legs=QA),
    "splice-forced": Candidate("option splice-request + splice-response",
                               {"defaults": ["option splice-request", "option splice-response"]}),
    "quickack+bufsize64k": Candidate("quickack 1 on all routes + tune.bufsize 65536",
                                     {"global": ["tune.bufsize 65536"]}, QA),
    "quickack+splice-forced": Candidate("quickack 1 on all routes + option splice-request + splice-response",
                                        {"defaults": ["option splice-request", "option splice-response"]}, QA),
    "quickack+busy-polling": Candidate("quickack 1 on all routes + haproxy_busy_polling: true, haproxy_nbthread: 1",
                                       legs=QA, role_vars={"haproxy_busy_polling": True, "haproxy_nbthread": 1}),
    "quickack+busy-polling-2t": Candidate("quickack 1 on all routes + haproxy_busy_polling: true, haproxy_nbthread: 2 "
                                          "(a thread on every CPU of this machine)",
                                          legs=QA, role_vars={"haproxy_busy_polling": True, "haproxy_nbthread": 2}),
}

SINK_LAYOUT = {
    # name: (kind, nodelay, frontend port, server port, http port)
    "storescp-stock": ("storescp", False, 104, 11112, None),
    "storescp-nodelay": ("storescp", True, 105, 11113, None),
    "orthanc-stock": ("orthanc", False, 106, 4242, 8042),
    "orthanc-nodelay": ("orthanc", True, 107, 4243, 8043),
}


def start_sinks(bench, wanted):
    sinks = {}
    server_ip = bench.topology.server_ips[0]
    for name in wanted:
        kind, nodelay, _unused, port, http_port = SINK_LAYOUT[name]
        if kind == "storescp":
            sinks[name] = bench.start_storescp(name, server_ip, port, nodelay=nodelay)
        else:
            sinks[name] = bench.start_orthanc(name, server_ip, port, http_port, nodelay=nodelay)
    return sinks


def services_for(bench, sinks):
    return [bl.dicom_service("PERF_%s" % name.replace("-", "_").upper(), bench.topology.vip, SINK_LAYOUT[name][2],
                             [sink.ip], sink.port) for name, sink in sinks.items()]


class Runner(object):
    def __init__(self, bench, sinks, files, file_bytes, nodelay_files=None, timeout_per_image=2.0):
        self.bench, self.sinks, self.files, self.file_bytes = bench, sinks, files, file_bytes
        self.nodelay_files = nodelay_files or files
        self.timeout_per_image = timeout_per_image
        self.timeouts = 0
        self.haproxy = None  # set by the caller: the HAProxy whose CPU is read around proxied runs

    def target(self, sink_name, path):
        sink = self.sinks[sink_name]
        if path == "direct":
            return sink.ip, sink.port
        return self.bench.topology.vip, SINK_LAYOUT[sink_name][2]

    def once(self, sink_name, path, nodelay, client, associations):
        """One timed transfer of all images; returns MB/s (None if incomplete) and details."""
        sink = self.sinks[sink_name]
        host, port = self.target(sink_name, path)
        sink.clear(self.bench.topology)
        topo = self.bench.topology
        packets_before = topo.link_packets("lb")
        cpu_before = self.haproxy.cpu() if self.haproxy and path == "proxy" else None
        start = time.monotonic()
        if client == "storescu":
            # TCP_NODELAY runs are ~15x faster: more images make them long enough to time
            files = self.nodelay_files if nodelay else self.files
            ok = self._storescu(host, port, nodelay, associations, files)
            sent = len(files)
            nbytes = sent * self.file_bytes
        else:
            summary = bl.netns_call(topo.ns["cli"], lambda: ms.simulate(
                host, port, studies=associations, mix="ct:%d" % max(1, len(self.files) // associations),
                associations=associations, nodelay=nodelay, max_retries=0, dimse_timeout=30,
                time_limit=len(self.files) * self.timeout_per_image + 30)[1])
            sent = summary["acknowledged"]
            nbytes = summary["bytes_acknowledged"]
            ok = summary["gave_up"] == 0
        elapsed = time.monotonic() - start
        cpu_after = self.haproxy.cpu() if cpu_before else None
        packets_after = topo.link_packets("lb")
        stored = sink.count(topo)
        complete = ok and stored >= sent
        if not complete:
            self.timeouts += 1
        tx = sum(packets_after[d]["tx_packets"] - packets_before[d]["tx_packets"] for d in packets_after)
        cpu_ms = None
        if cpu_before:
            delta = bl.cpu_delta(cpu_before, cpu_after)
            cpu_ms = delta["self_ms"] + delta["children_ms"]
        return {"mb_s": nbytes / 1e6 / elapsed if complete else None, "elapsed_s": elapsed, "stored": stored,
                "sent": sent, "lb_tx_packets": tx, "mb": nbytes / 1e6, "haproxy_cpu_ms": cpu_ms}

    def _storescu(self, host, port, nodelay, associations, files):
        env = dict(os.environ)
        env.pop("TCP_NODELAY", None)
        if nodelay:
            env["TCP_NODELAY"] = "1"
        groups = [files[i::associations] for i in range(associations)]
        limit = len(files) * self.timeout_per_image + 30
        procs = [subprocess.Popen(  # pylint: disable=consider-using-with
            self.bench.topology.exec_argv("cli", [bl.DCMTK["storescu"], "-to", "10", "-ta", "10", "-td", "30",
                                                  "-aet", "MODALITY1", "-aec", "ORTHANC", host, str(port)] + group),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for group in groups]
        ok = True
        for proc in procs:
            try:
                err = proc.communicate(timeout=limit)[1]
                ok = ok and proc.returncode == 0 and b"E: " not in err
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                ok = False
        return ok


def interleaved(runner, sink, profile_nodelay, client, associations, pairs, apply_tuning):
    """pairs x (direct, proxy) in alternating order; returns per-pair results."""
    results = []
    apply_tuning()
    for pair in range(pairs):
        order = ("direct", "proxy") if pair % 2 == 0 else ("proxy", "direct")
        row = {}
        for path in order:
            row[path] = runner.once(sink, path, profile_nodelay, client, associations)
        d, p = row["direct"]["mb_s"], row["proxy"]["mb_s"]
        row["ratio"] = p / d if d and p else None
        results.append(row)
    return results


def summarize(results):
    ratios = [r["ratio"] for r in results]
    proxy_mb = sum(r["proxy"]["mb"] for r in results)
    proxy_pkts = sum(r["proxy"]["lb_tx_packets"] for r in results)
    direct_mb = sum(r["direct"]["mb"] for r in results)
    direct_pkts = sum(r["direct"]["lb_tx_packets"] for r in results)
    return {
        "direct_mb_s": bl.median([r["direct"]["mb_s"] for r in results]),
        "proxy_mb_s": bl.median([r["proxy"]["mb_s"] for r in results]),
        "ratio_median": bl.median(ratios),
        "ratio_min": min([x for x in ratios if x is not None], default=None),
        "pairs": len(results),
        "incomplete_runs": sum(1 for r in results for p in ("direct", "proxy") if r[p]["mb_s"] is None),
        "lb_packets_per_mb_proxy": proxy_pkts / proxy_mb if proxy_mb else None,
        "lb_packets_per_mb_direct": direct_pkts / direct_mb if direct_mb else None,
        "haproxy_cpu_ms_per_mb": (sum(r["proxy"]["haproxy_cpu_ms"] or 0 for r in results) / proxy_mb) if proxy_mb else None,
    }


class TuningSwitcher(object):
    """Starts HAProxy with a candidate's lines and sets the candidate's routes; one HAProxy at a time."""

    def __init__(self, bench, services, runner=None):
        self.bench, self.services, self.runner = bench, services, runner
        self.current, self.haproxy = None, None

    def use(self, name):
        if name == self.current:
            return
        cand = CANDIDATES[name]
        previous = CANDIDATES[self.current] if self.current else None
        if self.haproxy is None or (cand.lines, cand.role_vars) != (previous.lines, previous.role_vars):
            if self.haproxy is not None:
                self.bench.stop(self.haproxy.proc)
            self.haproxy = self.bench.start_haproxy(self.services, tuning=cand.lines, role_vars=cand.role_vars,
                                                    name="haproxy-" + name)
            self.haproxy.wait_servers_up()
            if self.runner is not None:
                self.runner.haproxy = self.haproxy
        if self.bench.topology.kind == "veth":
            topo = self.bench.topology
            topo.set_quickack(("client", "server"), "off")
            topo.set_quickack_hosts(topo.server_ips, "off")
            if "hosts" in cand.legs:
                topo.set_quickack_hosts(topo.server_ips, "on")
            elif cand.legs:
                topo.set_quickack(cand.legs, "on")
        elif cand.legs:
            raise RuntimeError("route quickack candidates need --topology veth")
        self.current = name


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--images", type=int, help="CT images per run (default 80, quick 30)")
    parser.add_argument("--pairs", type=int, help="direct/proxy pairs per row (default 4, quick 2)")
    parser.add_argument("--sinks", default="storescp,orthanc")
    parser.add_argument("--profiles", default="stock,nodelay")
    parser.add_argument("--associations", default="1,4")
    parser.add_argument("--clients", default="storescu,pynetdicom",
                        help="storescu (DCMTK) and/or pynetdicom (modality_sim); pynetdicom runs 1 association, stock")
    parser.add_argument("--tunings", default="default,quickack", help="candidates for the main table")
    parser.add_argument("--candidates", default="default,smart,splice,bufsize64k,sockbuf,qa-server,qa-client,quickack",
                        help="candidates compared on storescp stock x1 ('' to skip)")
    parser.add_argument("--nodelay-candidates", default="default,bufsize64k,splice,splice-forced,quickack,quickack+bufsize64k",
                        help="candidates compared on storescp TCP_NODELAY x1 ('' to skip)")
    parser.add_argument("--nodelay-mb", type=float, help="MB per TCP_NODELAY run (default 150, quick 60)")
    parser.add_argument("--candidate-pairs", type=int, help="pairs per candidate row (default: --pairs)")
    args = parser.parse_args(argv)
    images = args.images or (30 if args.quick else 80)
    pairs = args.pairs or (2 if args.quick else 4)
    sink_kinds = [s for s in args.sinks.split(",") if s]
    profiles = [p for p in args.profiles.split(",") if p]
    assoc_counts = [int(a) for a in args.associations.split(",") if a]
    tunings = [t for t in args.tunings.split(",") if t]
    candidates = [c for c in args.candidates.split(",") if c]
    nd_candidates = [c for c in args.nodelay_candidates.split(",") if c]
    if args.topology == "lo":
        tunings = [t for t in tunings if not CANDIDATES[t].legs]
        candidates = [c for c in candidates if not CANDIDATES[c].legs]
        nd_candidates = [c for c in nd_candidates if not CANDIDATES[c].legs]
    wanted = ["%s-%s" % (k, p) for k in sink_kinds for p in profiles]
    if candidates and "storescp-stock" not in wanted:
        wanted.append("storescp-stock")
    if nd_candidates and "storescp-nodelay" not in wanted:
        wanted.append("storescp-nodelay")

    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "topology": args.topology, "pin": args.pin, "link_rate": args.link_rate,
           "images": images, "pairs": pairs, "rows": [], "candidates": [],
           "nodelay_candidates": []}
    with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
        data_dir = os.path.join(bench.workdir, "data")
        os.makedirs(data_dir)
        study = ms.plan_studies(1, [("ct", images)], seed=1)[0]
        files = ms.write_study_files(study, data_dir)
        file_bytes = os.path.getsize(files[0])
        sinks = start_sinks(bench, wanted)
        nodelay_images = max(images, int((args.nodelay_mb or (60 if args.quick else 150)) * 1e6 / file_bytes))
        nodelay_files = files + ms.write_study_files(ms.plan_studies(1, [("ct", nodelay_images - images)], seed=2)[0],
                                                     data_dir) if nodelay_images > images else files
        out["nodelay_images"] = len(nodelay_files)
        runner = Runner(bench, sinks, files, file_bytes, nodelay_files=nodelay_files)
        switcher = TuningSwitcher(bench, services_for(bench, sinks), runner)
        out["haproxy_config_default"] = None

        def row(sink, profile, client, assoc, tuning, n_pairs=pairs):
            res = interleaved(runner, sink, profile == "nodelay", client, assoc, n_pairs, lambda: switcher.use(tuning))
            summary = summarize(res)
            summary.update({"sink": sink, "profile": profile, "client": client, "associations": assoc,
                            "tuning": tuning, "runs": res})
            if out["haproxy_config_default"] is None and tuning == "default":
                out["haproxy_config_default"] = switcher.haproxy.text
            print("  %-17s %-8s %-10s x%d %-10s direct %6s MB/s  proxy %6s MB/s  ratio %s (min %s)  HAProxy %s CPU-ms/MB" % (
                sink, profile, client, assoc, tuning, bl.fmt(summary["direct_mb_s"], 1),
                bl.fmt(summary["proxy_mb_s"], 1), bl.fmt(summary["ratio_median"]), bl.fmt(summary["ratio_min"]),
                bl.fmt(summary["haproxy_cpu_ms_per_mb"])), flush=True)
            return summary

        print("main table (%d images of %d bytes, %d with TCP_NODELAY; %d pairs; topology %s%s%s)" % (
            images, file_bytes, len(nodelay_files), pairs, args.topology, ", pinned" if args.pin else "",
            ", links %s" % args.link_rate if args.link_rate else ""))
        for tuning in tunings:
            for kind in sink_kinds:
                for profile in profiles:
                    sink = "%s-%s" % (kind, profile)
                    for assoc in assoc_counts:
                        out["rows"].append(row(sink, profile, "storescu", assoc, tuning))
                    if "pynetdicom" in args.clients.split(",") and profile == "stock":
                        out["rows"].append(row(sink, profile, "pynetdicom", 1, tuning))
        for names, profile, label, key in ((candidates, "stock", "stock", "candidates"),
                                           (nd_candidates, "nodelay", "TCP_NODELAY", "nodelay_candidates")):
            if names:
                print("candidate tunings (storescp %s, storescu, 1 association)" % label)
            for cand in names:
                summary = row("storescp-" + profile, profile, "storescu", 1, cand, args.candidate_pairs or pairs)
                summary["description"] = CANDIDATES[cand].description
                out[key].append(summary)
        out["lb_routes_last"] = bench.topology.routes("lb") if args.topology == "veth" else None
    out["storescu_incomplete_runs"] = runner.timeouts

    headers = ["sink, profile, client, assoc", "tuning", "direct MB/s", "via HAProxy MB/s", "ratio median (min)",
               "balancer pkts/MB", "HAProxy CPU-ms/MB"]
    rows = [["%s %s, %s x%d" % (r["sink"].split("-")[0], "TCP_NODELAY" if r["profile"] == "nodelay" else "stock",
                                r["client"], r["associations"]), r["tuning"], bl.fmt(r["direct_mb_s"], 1),
             bl.fmt(r["proxy_mb_s"], 1), "%s (%s)" % (bl.fmt(r["ratio_median"]), bl.fmt(r["ratio_min"])),
             bl.fmt(r["lb_packets_per_mb_proxy"], 0), bl.fmt(r["haproxy_cpu_ms_per_mb"])] for r in out["rows"]]
    print()
    print(bl.table(headers, rows))
    for key, title in (("candidates", "storescp stock x1"), ("nodelay_candidates", "storescp TCP_NODELAY x1")):
        if out[key]:
            print()
            print(bl.table(["candidate (%s)" % title, "what", "direct MB/s", "via HAProxy MB/s", "ratio median (min)",
                            "balancer pkts/MB", "HAProxy CPU-ms/MB"],
                           [[c["tuning"], c["description"], bl.fmt(c["direct_mb_s"], 1), bl.fmt(c["proxy_mb_s"], 1),
                             "%s (%s)" % (bl.fmt(c["ratio_median"]), bl.fmt(c["ratio_min"])),
                             bl.fmt(c["lb_packets_per_mb_proxy"], 0), bl.fmt(c["haproxy_cpu_ms_per_mb"])]
                            for c in out[key]]))
    return bl.finish("throughput", out, started)


if __name__ == "__main__":
    sys.exit(main())
