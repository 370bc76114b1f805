"""Where the time of one C-STORE goes, direct vs through HAProxy: a per-image packet timeline.

Sends the same CT images with storescu over one association, direct and via the
role's HAProxy (alternating), while tcpdump records the modality's and the
PACS's link (in their namespaces). Every image is cut out of both captures (the
data between two C-STORE-RSPs) and split into phases:

  send          first to last data segment leaving the modality
  receive       first to last data segment reaching the PACS
  end lag       last segment at the PACS minus last segment at the modality (what the path holds back)
  largest hold  longest pause in the data reaching the PACS within one image (with --link-rate, the
                shaper's pauses are in it too)
  PACS          last data segment to the first byte of its C-STORE-RSP (the PACS stores the image)
  RSP transit   RSP leaving the PACS to reaching the modality
  modality      RSP to the next image's first segment (storescu reads the next file)
  period        first segment to the next image's first segment

tcpdump costs CPU, so the periods here are longer than in throughput.py; compare the phases.

  python tests/benchmarks/image_timeline.py --link-rate 1gbit              # Orthanc, TCP_NODELAY (~1 min)
  python tests/benchmarks/image_timeline.py --link-rate 1gbit --pin --sink storescp-nodelay
"""
import argparse
import os
import re
import signal
import statistics
import sys
import time

import benchlib as bl
import modality_sim as ms
import throughput as tp

TCPDUMP_LINE = re.compile(r"^(\d+\.\d+) IP \S+\.(\d+) > \S+\.(\d+): .*length (\d+)")
PHASES = ("send", "receive", "end_lag", "largest_hold", "pacs", "rsp_transit", "modality", "period")


def capture(bench, role, device, path):
    """tcpdump owned by the bench, so an interrupted run does not leave it behind."""
    argv = ["tcpdump", "-i", device, "-B", "32768", "-s", "96", "-n", "-w", path, "tcp"]
    return bench.own(bl.Proc("tcpdump-" + role, bench.topology.exec_argv(role, argv, pin=False)))


def segments(pcap, dicom_ports):
    """(time, client_to_server, payload bytes) of the DICOM flow that moved the most bytes."""
    text = bl.run(["tcpdump", "-r", pcap, "-tt", "-n"], timeout=120).stdout
    rows, volume = [], {}
    for line in text.splitlines():
        match = TCPDUMP_LINE.match(line)
        if not match:
            continue
        stamp, sport, dport, length = float(match.group(1)), int(match.group(2)), int(match.group(3)), int(match.group(4))
        if dport in dicom_ports:
            rows.append((stamp, sport, True, length))
        elif sport in dicom_ports:
            rows.append((stamp, dport, False, length))
        else:
            continue
        volume[rows[-1][1]] = volume.get(rows[-1][1], 0) + length
    if not volume:
        return []
    flow = max(volume, key=volume.get)
    return [(stamp, up, length) for stamp, port, up, length in rows if port == flow and length]


def images(pcap, dicom_ports, image_bytes):
    """Per image: first/last data segment and the first RSP segment, with the longest pause in the data."""
    found, current = [], None
    for stamp, up, length in segments(pcap, dicom_ports):
        if up:
            if current is None:
                current = {"first": stamp, "last": stamp, "bytes": 0, "hold": 0.0}
            current["hold"] = max(current["hold"], stamp - current["last"])
            current["last"], current["bytes"] = stamp, current["bytes"] + length
        elif current is not None:
            if current["bytes"] >= image_bytes:  # a whole C-STORE-RQ, not the association's opening PDUs
                current["rsp"] = stamp
                found.append(current)
            current = None
    return found


def phases(client, server):
    pairs = list(zip(client, server))
    follow = list(zip(client, client[1:]))
    values = {
        "send": [c["last"] - c["first"] for c in client],
        "receive": [s["last"] - s["first"] for s in server],
        "end_lag": [s["last"] - c["last"] for c, s in pairs],
        "largest_hold": [s["hold"] for s in server],
        "pacs": [s["rsp"] - s["last"] for s in server],
        "rsp_transit": [c["rsp"] - s["rsp"] for c, s in pairs],
        "modality": [b["first"] - a["rsp"] for a, b in follow],
        "period": [b["first"] - a["first"] for a, b in follow],
    }
    # the mean, not the median: MB/s follow the mean period, and the proxy's cost is in the tail
    return {name: {"mean_ms": statistics.mean(v) * 1e3 if v else None, "median_ms": bl.median(v) * 1e3 if v else None,
                   "p90_ms": bl.percentile(v, 90) * 1e3 if v else None} for name, v in values.items()}


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--sink", default="orthanc-nodelay", choices=sorted(tp.SINK_LAYOUT))
    parser.add_argument("--images", type=int, help="CT images per run (default 60, quick 30)")
    parser.add_argument("--rounds", type=int, help="direct/proxied pairs (default 3, quick 1)")
    parser.add_argument("--tuning", default="quickack", choices=sorted(tp.CANDIDATES))
    args = parser.parse_args(argv)
    if args.topology != "veth":
        parser.error("the timeline needs the veth topology (one capture per link)")
    n_images = args.images or (30 if args.quick else 60)
    rounds = args.rounds or (1 if args.quick else 3)
    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "sink": args.sink, "tuning": args.tuning, "link_rate": args.link_rate, "pin": args.pin,
           "images": n_images, "runs": []}
    with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
        data_dir = os.path.join(bench.workdir, "data")
        os.makedirs(data_dir)
        files = ms.write_study_files(ms.plan_studies(1, [("ct", n_images)], seed=1)[0], data_dir)
        image_bytes = os.path.getsize(files[0])
        sinks = tp.start_sinks(bench, [args.sink])
        runner = tp.Runner(bench, sinks, files, image_bytes)
        tp.TuningSwitcher(bench, tp.services_for(bench, sinks), runner).use(args.tuning)
        nodelay = args.sink.endswith("-nodelay")
        ports = {sinks[args.sink].port, tp.SINK_LAYOUT[args.sink][2]}
        for number in range(rounds):
            for path in (("direct", "proxy") if number % 2 == 0 else ("proxy", "direct")):
                pcaps = {side: os.path.join(bench.workdir, "%s-%d-%s.pcap" % (path, number, side)) for side in ("cli", "srv")}
                dumps = [capture(bench, "cli", "pplf-c0", pcaps["cli"]), capture(bench, "srv", "pplf-s0", pcaps["srv"])]
                time.sleep(1.0)  # tcpdump listening
                result = runner.once(args.sink, path, nodelay, "storescu", 1)
                time.sleep(3.0)  # let tcpdump write out what it has received before it is stopped
                for dump in dumps:
                    bench.stop(dump, signal.SIGINT)
                client, server = images(pcaps["cli"], ports, image_bytes), images(pcaps["srv"], ports, image_bytes)
                if len(client) != len(files) or len(server) != len(files):
                    raise RuntimeError("%s round %d: %d / %d of %d images found in the captures (tcpdump lost packets?)"
                                       % (path, number, len(client), len(server), len(files)))
                run = {"path": path, "round": number, "mb_s": result["mb_s"], "phases": phases(client, server)}
                out["runs"].append(run)
                print("%-6s round %d  %6s MB/s  %s" % (path, number, bl.fmt(result["mb_s"], 1), "  ".join(
                    "%s %s" % (name, bl.fmt(run["phases"][name]["mean_ms"])) for name in PHASES)), flush=True)
    rows = []
    for path in ("direct", "proxy"):
        runs = [r for r in out["runs"] if r["path"] == path]
        out[path] = {name: statistics.mean([r["phases"][name]["mean_ms"] for r in runs]) for name in PHASES}
        rows.append([path, bl.fmt(statistics.mean([r["mb_s"] for r in runs]), 1)] + [bl.fmt(out[path][n]) for n in PHASES])
    rows.append(["proxy - direct", ""] + [bl.fmt(out["proxy"][n] - out["direct"][n]) for n in PHASES])
    print()
    print("%s, %d images of %d bytes, tuning %s, links %s%s; ms, mean over images and rounds" % (
        args.sink, n_images, image_bytes, args.tuning, args.link_rate or "unshaped", ", pinned" if args.pin else ""))
    print(bl.table(["path", "MB/s"] + [p.replace("_", " ") for p in PHASES], rows))
    return bl.finish("image_timeline", out, started)


if __name__ == "__main__":
    sys.exit(main())
