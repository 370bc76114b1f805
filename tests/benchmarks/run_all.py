"""Run every benchmark, one after another, each in its own process and namespaces (full run < 18 min).

  python tests/benchmarks/run_all.py            # the figures of docs/performance.md
  python tests/benchmarks/run_all.py --quick    # smoke run of every benchmark (~6 min)
  python tests/benchmarks/run_all.py --only throughput,echo_rtt

Needs root (network namespaces), haproxy, keepalived, DCMTK (/usr/bin/storescu,
storescp, echoscu), nftables, podman with the lab image (Orthanc; make image)
and the venv (pydicom, pynetdicom). Every benchmark removes what it started,
also when interrupted; results land in .build/benchmarks/*.json and the
tables are collected into .build/benchmarks/summary-<date>.md.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# The balancer as deployed: a CPU of its own (--pin) and 1 Gbit/s links; TCP_NODELAY endpoints
NODELAY_1GBIT = ["--pin", "--link-rate", "1gbit", "--profiles", "nodelay", "--clients", "storescu",
                 "--candidates", "", "--nodelay-candidates", "", "--tunings", "quickack,quickack+busy-polling"]

# name -> (script, arguments of every run, arguments of the full run (--quick otherwise), limit in seconds)
BENCHMARKS = (
    ("throughput", "throughput.py", [], ["--images", "50", "--pairs", "3", "--candidate-pairs", "2", "--nodelay-mb", "100",
                                         "--tunings", "default,qa-server,quickack",
                                         "--nodelay-candidates", "default,bufsize64k,splice-forced,qa-server,quickack"],
     540),
    ("throughput_nodelay_1gbit", "throughput.py", NODELAY_1GBIT, ["--pairs", "6", "--nodelay-mb", "100"], 420),
    ("image_timeline", "image_timeline.py", ["--pin", "--link-rate", "1gbit"], [], 240),
    ("echo_rtt", "echo_rtt.py", [], ["--count", "50", "--sinks", "storescp-stock,orthanc-stock,orthanc-nodelay"], 300),
    ("check_cpu", "check_cpu.py", [], ["--seconds", "60", "--intervals", "100"], 300),
    ("failover", "failover.py", [], ["--trials", "3", "--failures", "kill,blackhole", "--checks", "lab",
                                     "--variants", "role,shutdown-sessions"], 300),
    ("reload", "reload.py", [], ["--reloads", "20"], 300),
    ("vrrp_takeover", "vrrp_takeover.py", [], ["--trials", "10"], 240),
)


def run_streaming(argv, limit):
    """Run a benchmark, echo its output as it comes, stop it (SIGINT, then SIGKILL) at its time limit."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # pylint: disable=consider-using-with
    lines = []
    timer = threading.Timer(limit, lambda: proc.poll() is None and proc.send_signal(signal.SIGINT))
    killer = threading.Timer(limit + 60, lambda: proc.poll() is None and proc.kill())
    timer.start()
    killer.start()
    try:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = proc.wait()
    finally:
        expired = not timer.is_alive()  # the timer has fired
        timer.cancel()
        killer.cancel()
    if expired and code != 0:
        code = 124
    return "".join(lines), code


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names")
    parser.add_argument("--topology", choices=("veth", "lo"), default="veth")
    args = parser.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    if os.geteuid() != 0:
        print("run_all: needs root (network namespaces, nftables, podman)", file=sys.stderr)
        return 2
    started = time.monotonic()
    summary = ["# Benchmark run %s (%s)" % (time.strftime("%Y-%m-%d %H:%M %Z"), "quick" if args.quick else "full"), ""]
    failed = []
    for name, script, fixed_args, full_args, limit in BENCHMARKS:
        if (only and name not in only) or name in skip or (args.topology == "lo" and "--link-rate" in fixed_args):
            continue  # shaped links need the veth topology
        argv_run = [sys.executable, os.path.join(HERE, script)] + fixed_args
        argv_run += ["--quick"] if args.quick else full_args
        if name != "vrrp_takeover":
            argv_run += ["--topology", args.topology]
        print("== %s: %s" % (name, " ".join(argv_run[1:])), flush=True)
        t0 = time.monotonic()
        output, code = run_streaming(argv_run, limit)
        if code == 124:
            output += "\n%s: stopped after its %d s limit\n" % (name, limit)
        summary += ["## %s" % name, "", "`python tests/benchmarks/%s`  (%.0f s, exit %d)" % (
            " ".join([script] + argv_run[2:]), time.monotonic() - t0, code), ""]
        summary += [line for line in output.splitlines() if line.startswith("|") or line.startswith("results:")
                    or "CPU-ms" in line or line.startswith("inter ")] + [""]
        if code != 0:
            failed.append(name)
    total = time.monotonic() - started
    summary.append("total %.0f s%s" % (total, "; failed: " + ", ".join(failed) if failed else ""))
    os.makedirs(os.path.join(ROOT, ".build", "benchmarks"), exist_ok=True)
    path = os.path.join(ROOT, ".build", "benchmarks", "summary-%s.md" % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(summary) + "\n")
    print("summary: %s (total %.0f s)%s" % (path, total, "; FAILED: " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
