"""A real PACS server dies: time until HAProxy marks it DOWN, and what new associations see meanwhile.

Two DCMTK storescp servers behind the role's HAProxy (DICOM tcp-check as the
role renders it). Clients keep opening new associations through the VIP
(the collection's dicom_pdu.echo, 4 threads, one association after another);
a modality simulator stores CT studies at the same time (2 associations, send
queue with retries). Then one server dies:

  kill       SIGKILL of the storescp process group (the port answers RST)
  blackhole  the server's address stops answering (power loss, cable, hung host)

Reported per trial: detection time (failure -> HAProxy shows DOWN), new
associations that failed between the failure and the DOWN mark (+0.5 s), their
worst latency, and after each trial a reconciliation of everything the
modality simulator had acknowledged against both servers' directories
(missing_on_server must be 0).

Check settings: ``lab`` (inventories/lab: inter 1000 ms, fall 2, rise 2) and
``role-default`` (service_model CHECK_DEFAULTS: inter 2000 ms, fall 3).
HAProxy variants: ``role`` (as rendered: retries 3, option redispatch 1,
timeout connect 1s, sessions kept when a server goes DOWN, the role's
haproxy_on_server_down: keep_sessions) and ``shutdown-sessions`` (the same
with haproxy_on_server_down: shutdown_sessions). The rest are the variants
measured before the role's defaults were chosen; on today's role they
add or remove lines that may already be there.

The failure window starts when the failure is in effect (the process is
killed; the blackhole rule is in place), so an association whose TCP
connection completed while the rule was being added counts as before it.

  python tests/benchmarks/failover.py            # 5 trials per row (~4 min)
  python tests/benchmarks/failover.py --quick    # 2 trials per row, kill only
"""
import argparse
import random
import re
import sys
import threading
import time

import benchlib as bl
import modality_sim as ms

bl._collection_path()  # pylint: disable=protected-access
from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu  # noqa: E402  pylint: disable=import-error,wrong-import-position

CHECKS = {
    "lab": {"type": "dicom", "called_ae": "ORTHANC", "interval": 1000, "fall": 2, "rise": 2},
    "role-default": {"type": "dicom", "called_ae": "ORTHANC"},  # interval 2000, fall 3, rise 2, timeout 5000
}
VARIANTS = {
    "role": {},
    "shutdown-sessions": {"role_vars": {"haproxy_on_server_down": "shutdown_sessions"}},
    "redispatch-1": {"defaults": ["option redispatch 1"]},
    "redispatch-1+connect-1s": {"defaults": ["option redispatch 1", "timeout connect 1s"]},
    # without shutdown-sessions (shows that it kills sessions still connecting when the server goes DOWN)
    "redispatch-1+connect-1s-no-shutdown": {"defaults": ["option redispatch 1", "timeout connect 1s"],
                                            "sub": [(r" on-marked-down shutdown-sessions", "")]},
    # ... and TCP_USER_TIMEOUT on the server side: data a dead host does not acknowledge cuts the session after
    # 10 s. On the server lines: HAProxy 2.6.12 accepts "tcp-ut" on default-server but does not apply it (strace).
    "redispatch-1+connect-1s+tcp-ut": {"defaults": ["option redispatch 1", "timeout connect 1s"],
                                       "sub": [(r" on-marked-down shutdown-sessions", ""),
                                               (r"^(    server .*)$", r"\1 tcp-ut 10s")]},
    # ... and TCP keepalive towards the servers: an association waiting for a response from a dead host
    # (nothing unacknowledged, so tcp-ut cannot fire) is cut ~4 s after the host stops answering
    "redispatch-1+connect-1s+tcp-ut+srvtcpka": {
        "defaults": ["option redispatch 1", "timeout connect 1s", "option srvtcpka", "srvtcpka-idle 2s",
                     "srvtcpka-intvl 1s", "srvtcpka-cnt 2"],
        "sub": [(r" on-marked-down shutdown-sessions", ""), (r"^(    server .*)$", r"\1 tcp-ut 10s")]},
}
NFT_TABLE = "pacs_lb_perf_fo"
# The role's frontends log with "option tcplog"; the benchmark only adds a log target.
LOG_LINE = "log stdout format raw local0 info"
# tcplog: ... frontend backend/server Tw/Tc/Tt bytes_read termination_state(2) actconn/feconn/beconn/srv_conn/retries ...
TCPLOG_RE = re.compile(r" (\S+)/(\S+) (-?\d+)/(-?\d+)/(\+?\d+) (\d+) ([-a-zA-Z]{2}) \d+/\d+/\d+/\d+/(\+?\d+) ")


def session_outcomes(log_path):
    """Termination states and retries of the proxied sessions, from HAProxy's tcplog lines."""
    states, retried, redispatched = {}, 0, 0
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = TCPLOG_RE.search(line)
            if not match:
                continue
            state, retries = match.group(7), match.group(8)
            states[state] = states.get(state, 0) + 1
            if retries.startswith("+"):
                redispatched += 1
            if int(retries.lstrip("+")) > 0:
                retried += 1
    return {"termination_states": states, "sessions_retried": retried, "sessions_redispatched": redispatched}


class EchoLoad(object):
    """Threads opening one association after another through the VIP; every attempt recorded."""

    def __init__(self, namespace, host, port, threads=4, pause=0.05, timeout=30.0, limit_s=120.0):
        self.namespace, self.host, self.port = namespace, host, port
        self.threads, self.pause, self.timeout, self.limit_s = threads, pause, timeout, limit_s
        self.attempts = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = []

    def _run(self):
        deadline = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            start = time.monotonic()
            result = dicom_pdu.echo(self.host, self.port, "ORTHANC", "FAILOVER", timeout=self.timeout)
            end = time.monotonic()
            with self._lock:
                self.attempts.append({"start": start, "end": end, "ok": result["ok"], "stage": result["stage"],
                                      "error": result["error"]})
            self._stop.wait(self.pause)

    def start(self):
        def spawn():
            for n in range(self.threads):
                thread = threading.Thread(target=self._run, name="echo-%d" % n, daemon=True)
                thread.start()
                self._workers.append(thread)
        bl.netns_call(self.namespace, spawn)  # threads started from there inherit the namespace
        return self

    def stop(self):
        self._stop.set()
        for thread in self._workers:
            thread.join(self.timeout + 5)


def nft_srv(bench, *args, check=True):
    return bl.run(bench.topology.exec_argv("srv", ["nft"] + list(args)), check=check)


def trial(bench, haproxy, servers, failure, rng, watch_s):
    topo = bench.topology
    victim = servers[0]
    backend = next(iter({k[0] for k in haproxy.servers()}))
    haproxy.wait_servers_up(timeout=30)
    for sink in servers:
        sink.clear(topo)
    load = EchoLoad(topo.ns["cli"], topo.vip, 104).start()
    records = {"list": []}
    sim_stop = threading.Event()

    def store():
        # Two studies at a time until told to stop; every batch runs to its end (retries included).
        deadline = time.monotonic() + watch_s + 30
        while not sim_stop.is_set() and time.monotonic() < deadline:
            records["list"] += ms.simulate(topo.vip, 104, studies=2, mix="ct:5", associations=2, max_retries=6,
                                           backoff=0.5, backoff_max=4, dimse_timeout=15, acse_timeout=15,
                                           time_limit=watch_s + 60)[0]
    sim = threading.Thread(target=lambda: bl.netns_call(topo.ns["cli"], store), daemon=True)
    sim.start()
    time.sleep(1.0 + rng.random())  # random phase against the check schedule
    if failure == "kill":
        t_fail = time.monotonic()
        bench.stop(victim.proc, sig=9)
    else:
        nft_srv(bench, "add", "rule", "inet", NFT_TABLE, "input", "ip", "daddr", victim.ip, "drop")
        t_fail = time.monotonic()
    t_down = None
    while time.monotonic() - t_fail < watch_s:
        row = haproxy.servers().get((backend, "pacs1"))
        if row and row["status"].startswith("DOWN"):
            t_down = time.monotonic()
            break
        time.sleep(0.01)
    time.sleep(1.5)
    load.stop()
    sim_stop.set()
    sim.join(watch_s + 90)
    window_end = (t_down or time.monotonic()) + 0.5
    in_window = [a for a in load.attempts if t_fail <= a["start"] <= window_end]
    before = [a for a in load.attempts if a["end"] < t_fail]
    recs = records.get("list", [])
    holdings = {s.name: ms.storescp_holdings(s.out_dir) for s in servers}
    rec = ms.reconcile(recs, holdings) if recs else {}
    # restore the victim for the next trial
    if failure == "kill":
        servers[0] = bench.start_storescp(victim.name, victim.ip, victim.port, nodelay=victim.nodelay)
    else:
        nft_srv(bench, "flush", "chain", "inet", NFT_TABLE, "input")
    return {
        "failure": failure,
        "detect_s": (t_down - t_fail) if t_down else None,
        "attempts_in_window": len(in_window),
        "failed_in_window": sum(1 for a in in_window if not a["ok"]),
        "failed_total": sum(1 for a in load.attempts if not a["ok"]),
        "errors_in_window": sorted({"%s: %s" % (a["stage"], a["error"]) for a in in_window if not a["ok"]})[:5],
        "worst_latency_in_window_s": max([a["end"] - a["start"] for a in in_window], default=None),
        "median_latency_before_ms": (bl.median([a["end"] - a["start"] for a in before]) or 0) * 1000,
        "sim": {k: rec.get(k) for k in ("sent", "acknowledged", "failed_associations", "broken_associations",
                                        "retried", "gave_up", "missing_on_server", "stored_unacknowledged",
                                        "on_several_servers")},
        # how long the modality waited on a C-STORE whose association died (its DIMSE timeout is 15 s)
        "sim_longest_lost_store_s": max([r["elapsed_ms"] / 1000 for r in recs if r.get("type") == "store"
                                         and r.get("outcome") == "no_response"], default=None),
    }


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__.split("\n", 1)[0]))
    parser.add_argument("--trials", type=int, help="per row (default 5, quick 2)")
    parser.add_argument("--failures", help="kill,blackhole (default both; quick: kill)")
    parser.add_argument("--checks", default="lab,role-default")
    parser.add_argument("--variants", default="role,redispatch-1")
    parser.add_argument("--watch", type=float, default=20.0, help="longest wait for the DOWN mark (s)")
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 5)
    failures = (args.failures or ("kill" if args.quick else "kill,blackhole")).split(",")
    rng = random.Random(7)
    info = bl.machine_info()
    started = time.monotonic()
    out = {"machine": info, "topology": args.topology, "trials": trials, "rows": []}
    with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
        topo = bench.topology
        nft_srv(bench, "add", "table", "inet", NFT_TABLE)
        nft_srv(bench, "add", "chain", "inet", NFT_TABLE, "input", "{ type filter hook input priority 0; policy accept; }")
        # storescp binds every address: the two servers differ by port as well
        servers = [bench.start_storescp("pacs%d" % (n + 1), ip, 11112 + n) for n, ip in enumerate(topo.server_ips)]
        for check_name in [c for c in args.checks.split(",") if c]:
            for variant in [v for v in args.variants.split(",") if v]:
                svc = bl.dicom_service("PERF_FAILOVER", topo.vip, 104, [(s.ip, s.port) for s in servers],
                                       check=CHECKS[check_name])
                tuning = dict(VARIANTS[variant], **{"global": [LOG_LINE]})
                role_vars = tuning.pop("role_vars", None)
                haproxy = bench.start_haproxy([svc], tuning=tuning, role_vars=role_vars,
                                              name="haproxy-fo-%s-%s" % (check_name, variant))
                for failure in failures:
                    results = []
                    for n in range(trials):
                        res = trial(bench, haproxy, servers, failure, rng, args.watch)
                        results.append(res)
                        print("  %-12s %-12s %-9s #%d  DOWN after %6s s  new assocs failed %d/%d (worst %s s)  sim: %s" % (
                            check_name, variant, failure, n + 1, bl.fmt(res["detect_s"]), res["failed_in_window"],
                            res["attempts_in_window"], bl.fmt(res["worst_latency_in_window_s"]),
                            ", ".join("%s=%s" % kv for kv in res["sim"].items())), flush=True)
                    out["rows"].append({"check": check_name, "variant": variant, "failure": failure, "trials": results,
                                        "config": haproxy.text})
                bench.stop(haproxy.proc)
                sessions = session_outcomes(haproxy.proc.log_path)
                for row in out["rows"][-len(failures):]:
                    row["haproxy_sessions"] = sessions  # whole HAProxy run (all failure kinds of this row)
                print("  HAProxy sessions: %s" % sessions, flush=True)
    rows = []
    for row in out["rows"]:
        res = row["trials"]
        detect = [r["detect_s"] for r in res]
        rows.append([
            "%s (%s)" % (row["check"], "inter 1000 fall 2" if row["check"] == "lab" else "inter 2000 fall 3"),
            row["variant"], row["failure"], len(res),
            "%s (%s-%s)" % (bl.fmt(bl.median(detect)), bl.fmt(min([d for d in detect if d is not None], default=None)),
                            bl.fmt(max([d for d in detect if d is not None], default=None))),
            "%d / %d" % (sum(r["failed_in_window"] for r in res), sum(r["attempts_in_window"] for r in res)),
            bl.fmt(max([r["worst_latency_in_window_s"] or 0 for r in res])),
            sum(r["sim"].get("missing_on_server") or 0 for r in res),
            "%d / %d / %d" % (sum(r["sim"].get("failed_associations") or 0 for r in res),
                              sum(r["sim"].get("broken_associations") or 0 for r in res),
                              sum(r["sim"].get("retried") or 0 for r in res)),
            sum(r["sim"].get("gave_up") or 0 for r in res),
            bl.fmt(max([r["sim_longest_lost_store_s"] or 0 for r in res]) or None),
        ])
    print()
    print(bl.table(["checks", "HAProxy", "failure", "trials", "DOWN after s, median (range)",
                    "new associations failed / started in window", "worst association latency s",
                    "modality sim: missing on server", "sim: failed / broken assocs / instances retried", "sim: gave up",
                    "sim: longest wait on a lost C-STORE s"],
                   rows))
    return bl.finish("failover", out, started)


if __name__ == "__main__":
    sys.exit(main())
