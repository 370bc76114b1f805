"""Idle soak of a VRRP profile: does the pair ever change state when nothing fails?

The same two network namespaces and role-rendered keepalived.conf as
vrrp_takeover.py (fast profile by default: VRRPv3, 0.2 s adverts, the role's
keepalived_vrrp_nice). After the pair has settled, for --minutes nothing is
done to it; every second the VIP holders are sampled (exactly one expected),
and at the end every state transition keepalived logged after the settle
point is counted. A flap is any transition, or any sample with zero or two
holders.

  python tests/benchmarks/vrrp_soak.py                  # 30 minutes, fast profile
  python tests/benchmarks/vrrp_soak.py --minutes 2      # a short look
  python tests/benchmarks/vrrp_soak.py --profile default
  python tests/benchmarks/vrrp_soak.py --minutes 10 --busy-haproxy   # beside a spinning HAProxy

--busy-haproxy runs, for the whole soak, a HAProxy rendered by the role with
haproxy_busy_polling: true and haproxy_nbthread: 1 (one thread spinning on a CPU
at all times): what the opt-in costs keepalived on a balancer.
"""
import argparse
import os
import re
import sys
import time

import benchlib as bl
import vrrp_takeover as vt

PROFILE_NAMES = {"fast": "fast (VRRPv3, advert 0.2 s)", "default": "default (VRRPv2, advert 1 s)"}
TRANSITION = re.compile(r"Entering (MASTER|BACKUP|FAULT) STATE")


def transitions(log_path, offset):
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        return [line.strip() for line in handle if TRANSITION.search(line)]


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--profile", choices=sorted(PROFILE_NAMES), default="fast")
    parser.add_argument("--busy-haproxy", action="store_true",
                        help="a role-rendered HAProxy with haproxy_busy_polling (one thread) runs beside the pair")
    args = parser.parse_args(argv)
    minutes = 1.0 if args.quick else args.minutes
    name = PROFILE_NAMES[args.profile]
    profile = vt.PROFILES[name]
    out = {"machine": bl.machine_info(), "profile": name, "vars": profile, "minutes": minutes,
           "busy_haproxy": args.busy_haproxy}
    started_all = time.monotonic()
    with bl.Bench("lo", keep=args.keep) as bench:
        pair = vt.Pair(bench)
        cfgs = {host: vt.render_keepalived(host, profile, bench.workdir) for host in ("lb1", "lb2")}
        out["configs"] = {h: c[1] for h, c in cfgs.items()}
        logs = {host: os.path.join(bench.workdir, "keepalived-%s.log" % host) for host in cfgs}
        haproxy = cpu_before = None
        if args.busy_haproxy:
            topo = bench.topology
            haproxy = bench.start_haproxy([bl.dicom_service("SOAK_DICOM", topo.vip, 104, [topo.server_ips[0]], 11112)],
                                          role_vars={"haproxy_busy_polling": True, "haproxy_nbthread": 1})
        try:
            for host in ("lb1", "lb2"):
                pair.start(host, cfgs[host][0])
            master = pair.wait_master()
            time.sleep(5)  # past the initial election
            offsets = {host: os.path.getsize(path) for host, path in logs.items()}
            print("  %s: %s is MASTER; soaking %.1f min" % (name, master, minutes), flush=True)
            samples, bad, started = 0, [], time.monotonic()
            cpu_before = haproxy.cpu() if haproxy else None
            while time.monotonic() - started < minutes * 60:
                holders = [h for h in ("lb1", "lb2") if pair.has_vip(h)]
                samples += 1
                if holders != [master]:
                    bad.append({"t_s": round(time.monotonic() - started, 1), "holders": holders})
                time.sleep(1.0)
            if haproxy:
                delta = bl.cpu_delta(cpu_before, haproxy.cpu())
                # busy polling shows as one CPU's worth of HAProxy time per second of soak
                out["haproxy_cpu_per_s"] = (delta["self_ms"] + delta["children_ms"]) / 1e3 / (time.monotonic() - started)
                out["haproxy_alive"] = haproxy.proc.alive()
            out["transitions"] = {host: transitions(path, offsets[host]) for host, path in logs.items()}
            out["alive"] = {host: proc.alive() for host, proc in pair.procs.items()}
        finally:
            pair.stop_all()
    out.update({"samples": samples, "bad_samples": bad, "initial_master": master,
                "flaps": len(bad) + sum(len(t) for t in out["transitions"].values())})
    print()
    print(bl.table(["profile", "minutes", "VIP samples (1/s)", "samples without exactly the MASTER",
                    "state transitions logged", "keepalived still running", "busy-polling HAProxy beside (CPUs)"],
                   [[name, bl.fmt(minutes, 1), samples, len(bad), sum(len(t) for t in out["transitions"].values()),
                     "yes" if all(out["alive"].values()) else "NO",
                     bl.fmt(out.get("haproxy_cpu_per_s")) if args.busy_haproxy else "no"]]))
    for host, lines in out["transitions"].items():
        for line in lines:
            print("    %s: %s" % (host, line))
    return bl.finish("vrrp_soak", out, started_all)


if __name__ == "__main__":
    sys.exit(main())
