"""VRRP takeover after a hard failure of the MASTER: default profile (VRRPv2, advert 1 s) vs fast (VRRPv3, 0.2 s).

Two network namespaces (pacs-lb-perf-k1/-k2) joined by one link play the two
balancers; each runs keepalived with a keepalived.conf rendered by the role's
template (roles/keepalived/templates/keepalived.conf.j2 with the role's
defaults and the collection's service model). Per trial the MASTER's
keepalived processes are SIGKILLed (no priority-0 advert: a crash or power
loss), and the time until the VIP is on the other balancer's interface is
measured by polling its addresses every 10 ms. The dead side's stale VIP is
removed, its keepalived restarted (nopreempt: it stays BACKUP), and the next
trial kills the new MASTER.

Benchmark edits to the rendered file: notify /bin/true (the role's notify
script writes under /run, shared by both namespaces here) and no HAProxy
track script (every HAProxy of the host is visible to pgrep here).

  python tests/benchmarks/vrrp_takeover.py            # 10 trials per profile (~2 min)
  python tests/benchmarks/vrrp_takeover.py --quick    # 4 trials per profile
"""
import argparse
import json
import os
import random
import signal
import sys
import time

import benchlib as bl

PROFILES = {
    "default (VRRPv2, advert 1 s)": {"keepalived_vrrp_version": 2, "keepalived_advert_int": 1},
    "fast (VRRPv3, advert 0.2 s)": {"keepalived_vrrp_version": 3, "keepalived_advert_int": 0.2},
}
ADDRS = {"lb1": "198.18.40.131", "lb2": "198.18.40.132"}
VIP = "198.18.40.140"
NETWORK = "198.18.40.128/27"


def render_keepalived(host, profile_vars, workdir):
    bl._collection_path()  # pylint: disable=protected-access
    import jinja2
    import yaml
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model  # pylint: disable=import-error
    svc = bl.dicom_service("PERF_VRRP", VIP, 104, ["198.18.40.150"], 4242)
    model = service_model.build_model(
        [], [svc], [{"name": "VI_PACS", "virtual_router_id": 51, "interface": "eth0", "network": NETWORK}],
        groups={"balancers": ["lb1", "lb2"]},
        hostvars={name: {"pacs_lb_address": addr} for name, addr in ADDRS.items()})
    with open(os.path.join(bl.ROOT, "roles", "keepalived", "defaults", "main.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update(profile_vars)
    variables.update({"keepalived_track_haproxy": False, "keepalived_notify_script": "/bin/true",
                      "inventory_hostname": host, "pacs_lb_model": model, "__keepalived_virtual_servers": [],
                      "ansible_managed": "Ansible managed (rendered by tests/benchmarks/vrrp_takeover.py)"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(bl.ROOT, "roles", "keepalived", "templates")),
                             trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    text = env.get_template("keepalived.conf.j2").render(**variables)
    path = os.path.join(workdir, "keepalived-%s.conf" % host)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    check = bl.run(["keepalived", "--config-test", "--use-file", path], check=False)
    if check.returncode != 0:
        raise RuntimeError("keepalived --config-test failed for %s:\n%s%s" % (path, check.stdout, check.stderr))
    return path, text


class Pair(object):
    def __init__(self, bench):
        self.bench = bench
        self.ns = {"lb1": bl.PREFIX + "-k1", "lb2": bl.PREFIX + "-k2"}
        for name in self.ns.values():
            if os.path.exists("/run/netns/" + name):
                bl.run(["ip", "netns", "del", name], check=False)
            bl.run(["ip", "netns", "add", name])
            bench.topology.created.append(name)  # removed with the bench's namespaces
            bl.run(["ip", "-n", name, "link", "set", "lo", "up"])
        bl.run(["ip", "link", "add", "eth0", "netns", self.ns["lb1"], "type", "veth", "peer", "name", "eth0",
                "netns", self.ns["lb2"]])
        for host, addr in ADDRS.items():
            bl.run(["ip", "-n", self.ns[host], "addr", "add", addr + "/27", "dev", "eth0"])
            bl.run(["ip", "-n", self.ns[host], "link", "set", "eth0", "up"])
        self.procs = {}

    def start(self, host, cfg):
        wd = self.bench.workdir
        for suffix in ("", "-vrrp", "-check"):  # a SIGKILLed keepalived leaves its pid files behind
            path = os.path.join(wd, "%s%s.pid" % (host, suffix))
            if os.path.exists(path):
                os.unlink(path)
        argv = ["ip", "netns", "exec", self.ns[host], "keepalived", "--dont-fork", "--log-console", "--log-detail",
                "--no-syslog", "--vrrp", "--use-file", cfg,
                "--pid", os.path.join(wd, "%s.pid" % host), "--vrrp_pid", os.path.join(wd, "%s-vrrp.pid" % host),
                "--checkers_pid", os.path.join(wd, "%s-check.pid" % host)]
        self.procs[host] = self.bench.own(bl.Proc("keepalived-" + host, argv,
                                                  log_path=os.path.join(wd, "keepalived-%s.log" % host)))

    def kill(self, host):
        self.bench.stop(self.procs.pop(host), sig=signal.SIGKILL)  # the whole process group: parent and VRRP child

    def has_vip(self, host):
        out = bl.run(["ip", "-n", self.ns[host], "-j", "addr", "show", "dev", "eth0"]).stdout
        return any(a.get("local") == VIP for link in json.loads(out) for a in link.get("addr_info", []))

    def drop_vip(self, host):
        bl.run(["ip", "-n", self.ns[host], "addr", "del", VIP + "/27", "dev", "eth0"], check=False)

    def wait_master(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            holders = [h for h in self.ns if self.has_vip(h)]
            if len(holders) == 1:
                return holders[0]
            time.sleep(0.05)
        raise RuntimeError("no single VIP holder after %d s" % timeout)

    def stop_all(self):
        for host in list(self.procs):
            self.bench.stop(self.procs.pop(host), sig=signal.SIGTERM)
        for host in self.ns:
            self.drop_vip(host)


def run_profile(bench, pair, profile_vars, trials, limit_s, rng):
    cfgs = {host: render_keepalived(host, profile_vars, bench.workdir) for host in ("lb1", "lb2")}
    for host in ("lb1", "lb2"):
        pair.start(host, cfgs[host][0])
    results = []
    try:
        for _trial in range(trials):
            master = pair.wait_master()
            # steady state, then a failure at a random moment between two adverts (as a crash would be)
            time.sleep(1.5 + rng.uniform(0, float(profile_vars["keepalived_advert_int"])))
            backup = "lb2" if master == "lb1" else "lb1"
            t_kill = time.monotonic()
            pair.kill(master)
            took = None
            while time.monotonic() - t_kill < limit_s:
                if pair.has_vip(backup):
                    took = time.monotonic() - t_kill
                    break
                time.sleep(0.01)
            results.append({"killed": master, "takeover_s": took})
            print("    killed %s: VIP on %s after %s s" % (master, backup, bl.fmt(took)), flush=True)
            pair.drop_vip(master)  # the stale VIP a killed keepalived leaves behind
            pair.start(master, cfgs[master][0])
            time.sleep(1.0)
    finally:
        pair.stop_all()
    return results, {h: c[1] for h, c in cfgs.items()}


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--trials", type=int, help="per profile (default 10, quick 4)")
    args = parser.parse_args(argv)
    trials = args.trials or (4 if args.quick else 10)
    rng = random.Random(11)
    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "trials": trials, "rows": []}
    with bl.Bench("lo", keep=args.keep) as bench:
        pair = Pair(bench)
        for name, profile in PROFILES.items():
            print("  %s" % name, flush=True)
            results, configs = run_profile(bench, pair, profile, trials, limit_s=15, rng=rng)
            times = [r["takeover_s"] for r in results]
            out["rows"].append({"profile": name, "vars": profile, "results": results, "configs": configs,
                                "median_s": bl.median(times), "min_s": min([t for t in times if t], default=None),
                                "max_s": max([t for t in times if t], default=None),
                                "missed": sum(1 for t in times if t is None)})
    print()
    print(bl.table(["profile", "trials", "VIP up on the backup after SIGKILL of the MASTER: median s", "range s", "no takeover"],
                   [[r["profile"], len(r["results"]), bl.fmt(r["median_s"]),
                     "%s-%s" % (bl.fmt(r["min_s"]), bl.fmt(r["max_s"])), r["missed"]] for r in out["rows"]]))
    return bl.finish("vrrp_takeover", out, started)


if __name__ == "__main__":
    sys.exit(main())
