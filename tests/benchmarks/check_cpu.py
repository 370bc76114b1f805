"""CPU per health check: the role's native DICOM tcp-check vs an external echoscu check, same server, same interval.

HAProxy is started three times against the same real server (stock Orthanc,
as in performance-baseline.md; ``--server storescp`` for DCMTK storescp):
without a check (idle cost), with the role's ``check: {type: dicom}``
rendering, and with the role's ``check: {type: external}`` rendering pointing
at tests/benchmarks/files/check-dicom-echoscu.sh. Each runs --seconds with no
traffic. CPU comes from /proc of the HAProxy process: its threads (schedstat)
and its reaped children (the external checks; stat cutime+cstime). Checks are
counted by an nftables SYN counter in the server's namespace; durations are
sampled from ``show stat`` (check_duration of the last check) every 100 ms.

  python tests/benchmarks/check_cpu.py            # 60 s per method
  python tests/benchmarks/check_cpu.py --quick    # 15 s per method
"""
import argparse
import json
import os
import sys
import time

import benchlib as bl

NFT_TABLE = "pacs_lb_perf"
EXEC_COUNT_FILE = "/run/pacs-lb-perf-external-checks"  # the wrapper appends one byte per execution


def exec_count():
    try:
        return os.path.getsize(EXEC_COUNT_FILE)
    except OSError:
        return 0


def nft(bench, *args):
    return bl.run(bench.topology.exec_argv("srv", ["nft"] + list(args)))


def setup_counter(bench, port):
    nft(bench, "add", "table", "inet", NFT_TABLE)
    nft(bench, "add", "chain", "inet", NFT_TABLE, "input", "{ type filter hook input priority 0; policy accept; }")
    nft(bench, "add", "rule", "inet", NFT_TABLE, "input", "tcp", "dport", str(port), "tcp", "flags", "syn", "counter")


def read_counter(bench):
    data = json.loads(nft(bench, "-j", "list", "table", "inet", NFT_TABLE).stdout)
    for item in data.get("nftables", []):
        rule = item.get("rule")
        if rule:
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    return expr["counter"]["packets"]
    return 0


def run_method(bench, server, method, seconds, interval):
    topo = bench.topology
    check = {"none": {"type": "none"},
             "native": {"type": "dicom", "called_ae": "ORTHANC", "interval": interval, "fall": 2, "rise": 2},
             "external": {"type": "external", "script": bl.ECHOSCU_CHECK, "interval": interval, "fall": 2, "rise": 2},
             }[method]
    svc = bl.dicom_service("PERF_CHECK", topo.vip, 104, [server.ip], server.port, check=check)
    haproxy = bench.start_haproxy([svc], name="haproxy-check-" + method)
    try:
        time.sleep(1.0)  # let the first checks settle
        syn0, exec0, cpu0, t0 = read_counter(bench), exec_count(), haproxy.cpu(), time.monotonic()
        durations, statuses, results = [], {}, {}
        while time.monotonic() - t0 < seconds:
            row = list(haproxy.servers().values())[0]
            if row.get("check_duration"):
                durations.append(int(row["check_duration"]))
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
            result = (row.get("check_status") or "-").lstrip("* ")  # "* " marks a check in progress
            results[result] = results.get(result, 0) + 1
            time.sleep(0.1)
        syn1, exec1, cpu1, t1 = read_counter(bench), exec_count(), haproxy.cpu(), time.monotonic()
    finally:
        bench.stop(haproxy.proc)
    delta = bl.cpu_delta(cpu0, cpu1)
    elapsed = t1 - t0
    connects = syn1 - syn0
    # a native check always connects; an external one may be killed before echoscu connects
    checks = exec1 - exec0 if method == "external" else connects
    total_ms = delta["self_ms"] + delta["children_ms"]
    return {"method": method, "interval_ms": interval, "seconds": elapsed, "checks": checks, "connects": connects,
            "checks_per_s": checks / elapsed,
            "cpu_self_ms": delta["self_ms"], "cpu_children_ms": delta["children_ms"], "cpu_total_ms": total_ms,
            "cpu_ms_per_s": total_ms / elapsed, "check_status_samples": results,
            "duration_median_ms": bl.median(durations), "duration_p95_ms": bl.percentile(durations, 95),
            "status_samples": statuses, "config": haproxy.text}


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--seconds", type=float, help="per method and interval (default 60, quick 15)")
    parser.add_argument("--intervals", default="100", help="check intervals in ms, comma-separated (default 100)")
    parser.add_argument("--server", choices=("orthanc", "storescp"), default="orthanc")
    parser.add_argument("--nodelay", action="store_true", help="server with TCP_NODELAY=1 (default: stock)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (15 if args.quick else 60)
    intervals = [int(i) for i in args.intervals.split(",") if i]
    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "topology": args.topology, "server": args.server, "server_nodelay": args.nodelay,
           "rows": []}
    with open(EXEC_COUNT_FILE, "w", encoding="ascii"):
        pass
    try:
        with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
            ip = bench.topology.server_ips[0]
            if args.server == "orthanc":
                server = bench.start_orthanc("check-orthanc", ip, 4242, 8042, nodelay=args.nodelay)
            else:
                server = bench.start_storescp("check-storescp", ip, 11112, nodelay=args.nodelay)
            setup_counter(bench, server.port)
            idle = run_method(bench, server, "none", min(seconds, 20), intervals[0])
            out["idle_cpu_ms_per_s"] = idle["cpu_ms_per_s"]
            for interval in intervals:
                for method in ("native", "external"):
                    row = run_method(bench, server, method, seconds, interval)
                    checks = row["checks"] or None
                    row["cpu_ms_per_check"] = row["cpu_total_ms"] / checks if checks else None
                    net = row["cpu_total_ms"] - idle["cpu_ms_per_s"] * row["seconds"]
                    row["cpu_ms_per_check_net_of_idle"] = net / checks if checks else None
                    out["rows"].append(row)
                    print("  inter %4d ms %-8s %5.2f checks/s  %7s CPU-ms/check (%s net of idle)  duration median/p95 %s/%s ms"
                          "  %s %s" % (interval, method, row["checks_per_s"], bl.fmt(row["cpu_ms_per_check"], 3),
                                       bl.fmt(row["cpu_ms_per_check_net_of_idle"], 3), bl.fmt(row["duration_median_ms"], 0),
                                       bl.fmt(row["duration_p95_ms"], 0), row["status_samples"],
                                       row["check_status_samples"]), flush=True)
    finally:
        os.unlink(EXEC_COUNT_FILE)
    for interval in intervals:
        native, external = [next(r for r in out["rows"] if r["interval_ms"] == interval and r["method"] == m)
                            for m in ("native", "external")]
        if native.get("cpu_ms_per_check") and external.get("cpu_ms_per_check"):
            out["external_over_native_%d" % interval] = external["cpu_ms_per_check"] / native["cpu_ms_per_check"]
    print()
    print("idle HAProxy (no check): %.3f CPU-ms/s" % out["idle_cpu_ms_per_s"])
    print(bl.table(["check (%s %s)" % (args.server, "TCP_NODELAY" if args.nodelay else "stock"), "inter",
                    "checks/s", "CPU-ms per check", "net of idle", "duration median / p95 ms",
                    "server state (sampled)", "last check result (sampled)"],
                   [[r["method"], "%d ms" % r["interval_ms"], bl.fmt(r["checks_per_s"]), bl.fmt(r["cpu_ms_per_check"], 3),
                     bl.fmt(r["cpu_ms_per_check_net_of_idle"], 3),
                     "%s / %s" % (bl.fmt(r["duration_median_ms"], 0), bl.fmt(r["duration_p95_ms"], 0)),
                     ", ".join("%s %d" % kv for kv in sorted(r["status_samples"].items())),
                     ", ".join("%s %d" % kv for kv in sorted(r["check_status_samples"].items()))] for r in out["rows"]]))
    for interval in intervals:
        if out.get("external_over_native_%d" % interval):
            print("inter %d ms: external / native CPU per check = %.0fx" % (interval, out["external_over_native_%d" % interval]))
    return bl.finish("check_cpu", out, started)


if __name__ == "__main__":
    sys.exit(main())
