"""C-ECHO round trip (associate + C-ECHO + release) added by the role's HAProxy, interleaved direct/proxy.

Clients: ``pdu`` (the collection's own probe, plugins/module_utils/dicom_pdu.echo:
plain blocking sockets, so it shows the network's cost without client polling),
``pynetdicom`` (polls its sockets, so results are coarse) and DCMTK ``echoscu``
(a new process per echo, timed from outside). Each iteration runs one echo
direct and one through the VIP, the order flipping every iteration.

  python tests/benchmarks/echo_rtt.py            # 60 echoes per path and row (~2-3 min)
  python tests/benchmarks/echo_rtt.py --quick    # 20 echoes per path and row
"""
import argparse
import subprocess
import sys
import time

import benchlib as bl
from throughput import SINK_LAYOUT, TuningSwitcher, services_for, start_sinks

bl._collection_path()  # pylint: disable=protected-access
from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu  # noqa: E402  pylint: disable=import-error,wrong-import-position


def echo_pdu(host, port):
    result = dicom_pdu.echo(host, port, "ORTHANC", "RTTPROBE", timeout=10)
    return result["timings_ms"]["total"] if result["ok"] else None


class PynetdicomEcho(object):
    def __init__(self):
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module
        self.ae = AE(ae_title="RTTPROBE")
        self.ae.add_requested_context(Verification)
        self.ae.acse_timeout = self.ae.dimse_timeout = 10

    def __call__(self, host, port):
        start = time.monotonic()
        assoc = self.ae.associate(host, port, ae_title="ORTHANC")
        if not assoc.is_established:
            return None
        status = assoc.send_c_echo()
        assoc.release()
        elapsed = (time.monotonic() - start) * 1000
        return elapsed if status and status.Status == 0 else None


def echo_echoscu(topology, host, port):
    start = time.monotonic()
    proc = subprocess.run(topology.exec_argv("cli", [bl.DCMTK["echoscu"], "-to", "10", "-aet", "RTTPROBE",
                                                     "-aec", "ORTHANC", host, str(port)]),
                          capture_output=True, timeout=30, check=False)
    elapsed = (time.monotonic() - start) * 1000
    return elapsed if proc.returncode == 0 else None


def measure(bench, sink_name, sink, client, count):
    topo = bench.topology
    direct = (sink.ip, sink.port)
    proxy = (topo.vip, SINK_LAYOUT[sink_name][2])
    samples = {"direct": [], "proxy": []}
    if client == "echoscu":
        def one(target):
            return echo_echoscu(topo, *target)
        for i in range(count):
            for path in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
                samples[path].append(one(direct if path == "direct" else proxy))
        return samples

    def loop():
        func = echo_pdu if client == "pdu" else PynetdicomEcho()
        for i in range(count):
            for path in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
                samples[path].append(func(*(direct if path == "direct" else proxy)))
        return samples
    return bl.netns_call(topo.ns["cli"], loop)


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--count", type=int, help="echoes per path and row (default 60, quick 20)")
    parser.add_argument("--sinks", default="storescp-stock,orthanc-stock,storescp-nodelay,orthanc-nodelay")
    parser.add_argument("--clients", default="pdu,pynetdicom,echoscu")
    parser.add_argument("--tunings", default="default,quickack")
    args = parser.parse_args(argv)
    count = args.count or (20 if args.quick else 60)
    sink_names = [s for s in args.sinks.split(",") if s]
    clients = [c for c in args.clients.split(",") if c]
    tunings = [t for t in args.tunings.split(",") if t and (args.topology == "veth" or t == "default")]
    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "topology": args.topology, "count": count, "rows": []}
    with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
        sinks = start_sinks(bench, sink_names)
        switcher = TuningSwitcher(bench, services_for(bench, sinks))
        for tuning in tunings:
            switcher.use(tuning)
            for name in sink_names:
                for client in clients:
                    samples = measure(bench, name, sinks[name], client, count)
                    d, p = samples["direct"], samples["proxy"]
                    pairs = [b - a for a, b in zip(d, p) if a is not None and b is not None]
                    row = {"sink": name, "client": client, "tuning": tuning,
                           "direct_median": bl.median(d), "proxy_median": bl.median(p),
                           "direct_min": min([x for x in d if x is not None], default=None),
                           "proxy_min": min([x for x in p if x is not None], default=None),
                           "added_median": (bl.median(p) - bl.median(d)) if bl.median(p) is not None and bl.median(d) is not None else None,
                           "added_paired_median": bl.median(pairs),
                           "failures": sum(1 for x in d + p if x is None), "count": count, "samples": samples}
                    out["rows"].append(row)
                    print("  %-9s %-17s %-10s direct %7s ms  proxy %7s ms  added %6s ms (paired %6s, min %s -> %s)" % (
                        tuning, name, client, bl.fmt(row["direct_median"]), bl.fmt(row["proxy_median"]),
                        bl.fmt(row["added_median"]), bl.fmt(row["added_paired_median"]),
                        bl.fmt(row["direct_min"]), bl.fmt(row["proxy_min"])), flush=True)
    print()
    print(bl.table(["client -> sink", "balancer", "direct median ms", "via HAProxy median ms", "added (median of pairs)",
                    "min direct / proxy ms", "failed"],
                   [["%s -> %s" % (r["client"], r["sink"].replace("-nodelay", " TCP_NODELAY").replace("-stock", " stock")),
                     r["tuning"], bl.fmt(r["direct_median"]), bl.fmt(r["proxy_median"]),
                     "%s (%s)" % (bl.fmt(r["added_median"]), bl.fmt(r["added_paired_median"])),
                     "%s / %s" % (bl.fmt(r["direct_min"]), bl.fmt(r["proxy_min"])), r["failures"]]
                    for r in out["rows"]]))
    return bl.finish("echo_rtt", out, started)


if __name__ == "__main__":
    sys.exit(main())
