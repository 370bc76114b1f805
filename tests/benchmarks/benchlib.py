"""Shared pieces of the benchmarks: network namespaces, HAProxy rendered by the role's code, real sinks, CPU, tables.

Everything runs on this machine in network namespaces the benchmark creates
(names ``pacs-lb-perf-*``) and removes again; no traffic leaves them. Two
layouts (``--topology``):

veth (default)  three namespaces, like three hosts on two links (MTU 1500):
                modality ``pacs-lb-perf-cli`` 198.18.40.66 --- balancer ``pacs-lb-perf-lb``
                (198.18.40.65, VIP 198.18.40.80; 198.18.40.97) --- PACS ``pacs-lb-perf-srv``
                198.18.40.98 and .99. The direct path is routed by the balancer's
                kernel (one hop, as on a real network); the proxied path ends in HAProxy.
lo              one namespace, loopback only (what performance-baseline.md measured):
                client 127.0.0.1, VIP 127.0.0.2, servers 127.0.0.3 and .5, balancer 127.0.0.4.

HAProxy's configuration is rendered by the collection's own code
(``service_model.build_model`` + ``render_haproxy`` + the role's template
``roles/haproxy/templates/haproxy.cfg.j2`` with the role's defaults); only the
lines a foreground benchmark process cannot use are changed (see BENCH_EDITS).
"""
import contextlib
import ctypes
import csv
import fcntl
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# The lab's load tool (modality_sim) lives with the lab; the benchmarks drive it too.
if os.path.join(ROOT, "tests", "lab") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
RESULTS_DIR = os.path.join(ROOT, ".build", "benchmarks")
IMAGE = os.environ.get("LAB_IMAGE", "localhost/pacs-lb-lab:bookworm")
PREFIX = "pacs-lb-perf"
LOCK_PATH = "/run/%s.lock" % PREFIX
DCMTK = {"storescp": "/usr/bin/storescp", "storescu": "/usr/bin/storescu", "echoscu": "/usr/bin/echoscu"}
ROUTE_QUICKACK = os.path.join(ROOT, "roles", "haproxy", "files", "route-quickack")
ECHOSCU_CHECK = os.path.join(HERE, "files", "check-dicom-echoscu.sh")

# Lines of the rendered configuration a foreground benchmark HAProxy cannot keep.
# (pattern, replacement or None to drop, why)
BENCH_EDITS = (
    (r"^\s*chroot ", None, "the external check script must be reachable; no chroot"),
    (r"^\s*(user|group) haproxy$", None, "stays root (the benchmark reads /proc of its children)"),
    (r"^\s*daemon$", None, "runs in the foreground (-db) so the benchmark owns the PID"),
    (r"^\s*log /dev/log", None, "no syslog here"),
)

_LIBC = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


# ---------------------------------------------------------------- small helpers

def run(argv, check=True, timeout=60, **kwargs):
    """subprocess.run with text output and a bound on time."""
    return subprocess.run(argv, check=check, timeout=timeout, capture_output=True, text=True, **kwargs)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, pct):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    k = (len(values) - 1) * pct / 100.0
    low, high = int(k), min(int(k) + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (k - low)


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return ("%%.%df" % digits) % value
    return str(value)


def table(headers, rows):
    """A Markdown table (the format docs/performance.md uses)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _header in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


def save_results(name, data):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, "%s-%s.json" % (name, time.strftime("%Y%m%d-%H%M%S")))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
    return path


def finish(name, out, started):
    """Stamp the run's duration and the load at its end, save the results, say where they are; the exit status."""
    out["duration_s"] = round(time.monotonic() - started, 1)
    out["machine"]["loadavg_end"] = open("/proc/loadavg", encoding="utf-8").read().split()[:3]
    path = save_results(name, out)
    load = " ".join(out["machine"]["loadavg"]), " ".join(out["machine"]["loadavg_end"])
    print("\nresults: %s (%.0f s, load %s -> %s)" % ((path, out["duration_s"]) + load))
    return 0


def netns_call(namespace, func, *args, **kwargs):
    """Run func in a thread that has joined the network namespace; sockets it (and its threads) open live there."""
    box = {}

    def body():
        fd = os.open("/run/netns/" + namespace, os.O_RDONLY)
        try:
            if _LIBC.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, "setns(%s): %s" % (namespace, os.strerror(err)))
        finally:
            os.close(fd)
        try:
            box["result"] = func(*args, **kwargs)
        except BaseException as exc:  # pylint: disable=broad-except
            box["error"] = exc

    thread = threading.Thread(target=body, name="netns-" + namespace, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


def http_json(namespace, method, url, body=None, timeout=30):
    def call():
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec - URLs built by the benchmark
            text = response.read().decode()
        return json.loads(text) if text.strip() else None
    return netns_call(namespace, call)


def machine_info():
    def first_line(argv):
        try:
            out = run(argv, check=False, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"
    import pydicom
    import pynetdicom
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "debian": open("/etc/debian_version", encoding="utf-8").read().strip() if os.path.exists("/etc/debian_version") else "?",
        "haproxy": first_line(["haproxy", "-v"]),
        "keepalived": first_line(["keepalived", "-v"]),
        "dcmtk": first_line([DCMTK["storescu"], "--version"]),
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
        "pynetdicom": pynetdicom.__version__,
        "loadavg": open("/proc/loadavg", encoding="utf-8").read().split()[:3],
    }
    return info


# ---------------------------------------------------------------- CPU of a process tree

def clock_ticks():
    return os.sysconf("SC_CLK_TCK")


def process_cpu(pid):
    """CPU used so far by a process: its threads (ns, from schedstat) and its reaped children (ms, from stat)."""
    threads_ns = 0
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "schedstat"), encoding="ascii") as handle:
                threads_ns += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17 (1-based, proc(5))
    utime, stime, cutime, cstime = (int(fields[i - 3]) for i in (14, 15, 16, 17))
    tick_ms = 1000.0 / clock_ticks()
    return {"self_ms": threads_ns / 1e6, "self_ticks_ms": (utime + stime) * tick_ms,
            "children_ms": (cutime + cstime) * tick_ms}


def cpu_delta(before, after):
    return {k: after[k] - before[k] for k in before}


# ---------------------------------------------------------------- topology

class Topology(object):
    """Network namespaces for one benchmark run (see the module docstring)."""

    def __init__(self, kind="veth", link_rate=None):
        if kind not in ("veth", "lo"):
            raise ValueError(kind)
        if link_rate and kind != "veth":
            raise ValueError("--link-rate needs the veth topology")
        self.kind = kind
        self.link_rate = link_rate
        if kind == "veth":
            self.ns = {"cli": PREFIX + "-cli", "lb": PREFIX + "-lb", "srv": PREFIX + "-srv"}
            self.client_ip, self.vip, self.lb_ip = "198.18.40.66", "198.18.40.80", "198.18.40.65"
            self.lb_server_side_ip, self.server_ips = "198.18.40.97", ["198.18.40.98", "198.18.40.99"]
            self.vrrp_network = "198.18.40.64/27"
        else:
            name = PREFIX + "-lo"
            self.ns = {"cli": name, "lb": name, "srv": name}
            self.client_ip, self.vip, self.lb_ip = "127.0.0.1", "127.0.0.2", "127.0.0.4"
            self.lb_server_side_ip, self.server_ips = "127.0.0.1", ["127.0.0.3", "127.0.0.5"]
            self.vrrp_network = "127.0.0.0/8"
        self.created = []
        self.pin = {}  # role -> CPU list for taskset (see --pin)

    def namespaces(self):
        return sorted(set(self.ns.values()))

    def exec_argv(self, role, argv, pin=True):
        prefix = ["taskset", "-c", self.pin[role]] if pin and self.pin.get(role) else []
        return ["ip", "netns", "exec", self.ns[role]] + prefix + list(argv)

    def ip(self, role, *args):
        return run(["ip", "-n", self.ns[role]] + list(args))

    def setup(self):
        for name in self.namespaces():
            if os.path.exists("/run/netns/" + name):
                run(["ip", "netns", "del", name], check=False)  # a leftover of an interrupted run of ours
            run(["ip", "netns", "add", name])
            self.created.append(name)
            run(["ip", "-n", name, "link", "set", "lo", "up"])
        if self.kind == "lo":
            return self
        cli, lb, srv = self.ns["cli"], self.ns["lb"], self.ns["srv"]
        run(["ip", "link", "add", "pplf-c0", "netns", cli, "type", "veth", "peer", "name", "pplf-l0", "netns", lb])
        run(["ip", "link", "add", "pplf-l1", "netns", lb, "type", "veth", "peer", "name", "pplf-s0", "netns", srv])
        for ns, dev, addrs in ((cli, "pplf-c0", ["198.18.40.66/27"]),
                               (lb, "pplf-l0", ["198.18.40.65/27", "198.18.40.80/27"]),
                               (lb, "pplf-l1", ["198.18.40.97/27"]),
                               (srv, "pplf-s0", ["198.18.40.98/27", "198.18.40.99/27"])):
            for addr in addrs:
                run(["ip", "-n", ns, "addr", "add", addr, "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        if self.link_rate:
            # every link direction shaped like an Ethernet port of that rate (tbf; netem is not in this kernel)
            for ns, dev in ((cli, "pplf-c0"), (lb, "pplf-l0"), (lb, "pplf-l1"), (srv, "pplf-s0")):
                run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                     self.link_rate, "burst", "256k", "latency", "5ms"])
        run(["ip", "-n", cli, "route", "add", "default", "via", "198.18.40.65"])
        run(["ip", "-n", srv, "route", "add", "default", "via", "198.18.40.97"])
        run(["ip", "netns", "exec", lb, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        return self

    def teardown(self):
        for name in reversed(self.created):
            run(["ip", "netns", "del", name], check=False)
        self.created = []

    # --- the balancer-side tuning under test: per-route delayed-ACK off
    def lb_devices(self, legs):
        if self.kind != "veth":
            raise RuntimeError("per-route quickack needs the veth topology (loopback routes are shared by all roles)")
        return [{"client": "pplf-l0", "server": "pplf-l1"}[leg] for leg in legs]

    def set_quickack(self, legs=("client", "server"), value="on"):
        """Run the proposed route-quickack script in the balancer namespace for the given legs."""
        devs = self.lb_devices(legs) if legs else self.lb_devices(("client", "server"))
        out = run(self.exec_argv("lb", ["sh", ROUTE_QUICKACK, value] + devs))
        return out.stdout

    def set_quickack_hosts(self, addresses, value="on"):
        """Host routes with quickack 1 to the real servers (route-quickack hosts-on / hosts-off)."""
        out = run(self.exec_argv("lb", ["sh", ROUTE_QUICKACK, "hosts-" + value] + list(addresses)))
        return out.stdout

    def routes(self, role="lb"):
        return self.ip(role, "route", "show").stdout

    def link_packets(self, role="lb"):
        """TX/RX packet counters of the namespace's interfaces (to count the ACKs the balancer sends)."""
        stats = {}
        out = self.ip(role, "-s", "-j", "link", "show").stdout
        for link in json.loads(out):
            s64 = link.get("stats64", {})
            stats[link["ifname"]] = {"tx_packets": s64.get("tx", {}).get("packets", 0),
                                     "rx_packets": s64.get("rx", {}).get("packets", 0)}
        return stats


# ---------------------------------------------------------------- processes we own

class Proc(object):
    def __init__(self, name, argv, env=None, log_path=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # pylint: disable=consider-using-with
        self.popen = subprocess.Popen(argv, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                      cwd=cwd, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def kill(self, sig=signal.SIGTERM, group=True, wait=5.0):
        """Signal our process (and its process group: storescp --fork children)."""
        if self.popen.poll() is None:
            try:
                if group:
                    os.killpg(self.pid, sig)
                else:
                    os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(5)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None


def wait_tcp(topology, role, ip, port, timeout=20.0):
    """Wait until ip:port accepts a TCP connection from the given namespace."""
    def probe():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with socket.create_connection((ip, port), timeout=1):
                    return True
            time.sleep(0.1)
        return False
    if not netns_call(topology.ns[role], probe):
        raise RuntimeError("%s:%s did not start listening within %.0f s" % (ip, port, timeout))


class Sink(object):
    """A real DICOM receiver: DCMTK storescp (a directory) or Orthanc (REST)."""

    def __init__(self, kind, name, ip, port, nodelay, out_dir=None, http_port=None, proc=None, container=None):
        self.kind, self.name, self.ip, self.port, self.nodelay = kind, name, ip, port, nodelay
        self.out_dir, self.http_port, self.proc, self.container = out_dir, http_port, proc, container

    @property
    def label(self):
        return "%s %s" % (self.kind, "TCP_NODELAY" if self.nodelay else "stock")

    @property
    def called_ae(self):
        return "ORTHANC"

    def url(self):
        return "http://%s:%d" % (self.ip, self.http_port)

    def count(self, topology):
        if self.kind == "storescp":
            return len(os.listdir(self.out_dir))
        return http_json(topology.ns["cli"], "GET", self.url() + "/statistics")["CountInstances"]

    def clear(self, topology):
        if self.kind == "storescp":
            for name in os.listdir(self.out_dir):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.out_dir, name))
            return
        for study in http_json(topology.ns["cli"], "GET", self.url() + "/studies") or []:
            http_json(topology.ns["cli"], "DELETE", self.url() + "/studies/" + study)


# ---------------------------------------------------------------- HAProxy rendered by the role's code

def _collection_path():
    link_dir = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(link_dir, "ansible_collections", "medimaging", "pacs_lb")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(ROOT, os.path.dirname(link)), link)
    if link_dir not in sys.path:
        sys.path.insert(0, link_dir)


LAB_CHECK = {"type": "dicom", "called_ae": "ORTHANC", "interval": 1000, "fall": 2, "rise": 2}


def dicom_service(name, vip, port, servers, server_port=None, check=None):
    """A user service the way the lab inventory writes one (inventories/lab/group_vars/all/pacs_lb.yml).

    servers: addresses (all on server_port) or (address, port) pairs.
    """
    listed = [{"name": "pacs%d" % (n + 1), "address": s} if isinstance(s, str) else
              {"name": "pacs%d" % (n + 1), "address": s[0], "port": s[1]} for n, s in enumerate(servers)]
    svc = {"name": name, "description": "benchmark " + name, "vip": vip, "ports": port,
           "server_port": server_port, "mode": "l7", "protocol": "dicom", "scheduler": "leastconn",
           "servers": listed,
           "check": check if check is not None else LAB_CHECK}
    return svc


def render_haproxy_config(topology, services, stats_socket, tuning=None, role_vars=None):
    """haproxy.cfg as the haproxy role renders it for these services, plus the benchmark edits and a tuning.

    tuning: {"global"|"defaults"|"frontend"|"backend": [lines]} appended to those sections.
    Returns (text, model).
    """
    _collection_path()
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model  # pylint: disable=import-error
    # The tests' render path: the roles' templates and defaults, laid out in process.
    sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
    import render_local  # pylint: disable=import-error
    model = service_model.build_model(
        [], services, [{"name": "VI_PERF", "virtual_router_id": 240, "interface": "eth0",
                        "network": topology.vrrp_network}],
        groups={"balancers": ["lb1"]}, hostvars={"lb1": {"pacs_lb_address": topology.lb_ip}},
        # The external check compared in check_cpu.py is the benchmark's own script.
        check_script_dirs=service_model.DEFAULT_SCRIPT_DIRS + (os.path.dirname(ECHOSCU_CHECK),))
    text = render_local.render(model, "lb1", haproxy_stats_socket=stats_socket, **(role_vars or {}))["haproxy.cfg"]
    lines = []
    for line in text.splitlines():
        for pattern, replacement, _why in BENCH_EDITS:
            if re.search(pattern, line):
                line = replacement
                break
        if line is not None:
            lines.append(line)
    return add_tuning("\n".join(lines) + "\n", tuning or {}), model


def add_tuning(text, tuning):
    """Append lines at the end of every section of a kind (global, defaults, frontend, backend).

    tuning["sub"]: (regex, replacement) pairs applied to the rendered text first.
    """
    for pattern, replacement in tuning.get("sub", ()):
        text = re.sub(pattern, replacement, text, flags=re.M)
    out, section = [], None

    def flush():
        if section in tuning:
            while out and not out[-1].strip():
                out.pop()
            out.extend("    " + line for line in tuning[section])
            out.append("")
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            flush()
            section = line.split()[0]
        out.append(line)
    flush()
    return "\n".join(out) + "\n"


def write_checked_config(topology, services, stats_socket, cfg_path, tuning=None, role_vars=None):
    """render_haproxy_config() written to cfg_path and checked with haproxy -c (as the role's validate does)."""
    text, model = render_haproxy_config(topology, services, stats_socket, tuning, role_vars)
    with open(cfg_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    check = run(topology.exec_argv("lb", ["haproxy", "-c", "-f", cfg_path]), check=False)
    if check.returncode != 0:
        raise RuntimeError("haproxy -c failed for %s:\n%s\n%s" % (cfg_path, check.stdout, check.stderr))
    return text, model


def stats_command(path, cmd, timeout=5):
    """One command on an HAProxy stats socket; the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall((cmd + "\n").encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode()


class Haproxy(object):
    def __init__(self, bench, services, tuning=None, role_vars=None, name="haproxy"):
        self.bench = bench
        self.stats_socket = os.path.join(bench.workdir, "%s.sock" % name)
        self.cfg_path = os.path.join(bench.workdir, "%s.cfg" % name)
        self.text, self.model = write_checked_config(bench.topology, services, self.stats_socket, self.cfg_path,
                                                     tuning, role_vars)
        if os.path.exists(self.stats_socket):
            os.unlink(self.stats_socket)  # left by an earlier HAProxy of the same name
        self.proc = bench.own(Proc(name, bench.topology.exec_argv("lb", ["haproxy", "-f", self.cfg_path, "-db"]),
                                   log_path=os.path.join(bench.workdir, "%s.log" % name)))
        deadline = time.monotonic() + 15
        while True:
            try:
                self.command("show info")
                break
            except OSError:
                if time.monotonic() > deadline or not self.proc.alive():
                    raise RuntimeError("haproxy did not start; see %s" % self.proc.log_path) from None
                time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def command(self, cmd, timeout=5):
        return stats_command(self.stats_socket, cmd, timeout)

    def servers(self):
        """{(backend, server): row of 'show stat'}."""
        text = self.command("show stat").lstrip("# ")
        rows = {}
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("svname") not in ("FRONTEND", "BACKEND"):
                rows[(row["pxname"], row["svname"])] = row
        return rows

    def wait_servers_up(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.servers()
            if rows and all(r["status"].startswith("UP") or r["status"] == "no check" for r in rows.values()):
                return rows
            time.sleep(0.1)
        raise RuntimeError("servers not UP after %d s: %s" % (timeout, {k: v["status"] for k, v in self.servers().items()}))

    def cpu(self):
        return process_cpu(self.pid)


class Bench(object):
    """Owns a topology, the processes and containers it starts, and a work directory; cleans all up."""

    def __init__(self, topology="veth", keep=False, pin=False, link_rate=None):
        self._lock = open(LOCK_PATH, "w", encoding="ascii")  # pylint: disable=consider-using-with
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError("another pacs-lb-perf benchmark is running (%s is locked)" % LOCK_PATH) from None
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.workdir = tempfile.mkdtemp(prefix=PREFIX + "-", dir=base)
        self.keep = keep
        self.procs, self.containers = [], []
        self.topology = Topology(topology, link_rate)
        if pin:
            # the balancer gets a CPU of its own, as on a separate host: modality and PACS on CPU 0, HAProxy on
            # CPU 1; this process (in-process pynetdicom clients) on CPU 0 as well
            self.topology.pin = {"cli": "0", "srv": "0", "lb": "1"}
            os.sched_setaffinity(0, {0})
        self._closed = False
        self._old_handlers = {}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self.topology.setup()
        except Exception:
            self.close()
            raise

    def _on_signal(self, signum, _frame):
        self.close()
        raise SystemExit(128 + signum)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def own(self, proc):
        self.procs.append(proc)
        return proc

    def start_storescp(self, name, ip, port, nodelay=False, fork=True):
        out_dir = os.path.join(self.workdir, name)
        os.makedirs(out_dir, exist_ok=True)
        argv = [DCMTK["storescp"], "--disable-host-lookup", "--output-directory", out_dir]
        if fork:
            argv.append("--fork")  # one process per association: a health check is served during a transfer
        argv.append(str(port))
        env = {"TCP_NODELAY": "1"} if nodelay else {}
        proc = self.own(Proc(name, self.topology.exec_argv("srv", argv), env=env,
                             log_path=os.path.join(self.workdir, name + ".log")))
        wait_tcp(self.topology, "cli", ip, port)
        return Sink("storescp", name, ip, port, nodelay, out_dir=out_dir, proc=proc)

    def start_orthanc(self, name, ip, dicom_port, http_port, nodelay=False, tls_dir=None):
        """Orthanc in a container of the lab image; tls_dir: a directory with cert.pem, key.pem and ca.pem, which
        makes its DICOM port DICOM TLS only (client certificates not required)."""
        conf_dir = os.path.join(self.workdir, name)
        os.makedirs(conf_dir, exist_ok=True)
        config = {
            "Name": name, "StorageDirectory": "/var/lib/orthanc-perf/db", "IndexDirectory": "/var/lib/orthanc-perf/db",
            "StorageCompression": False, "HttpServerEnabled": True, "HttpPort": http_port,
            "DicomServerEnabled": True, "DicomAet": "ORTHANC", "DicomCheckCalledAet": True, "DicomPort": dicom_port,
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "UnknownSopClassAccepted": False,
            "DicomScpTimeout": 30, "RemoteAccessAllowed": True, "AuthenticationEnabled": False,
            "ConcurrentJobs": 2, "LuaScripts": [], "Plugins": [],
        }
        if tls_dir:
            config.update({"DicomTlsEnabled": True, "DicomTlsCertificate": "/etc/pacs-lb-perf-tls/cert.pem",
                           "DicomTlsPrivateKey": "/etc/pacs-lb-perf-tls/key.pem",
                           "DicomTlsTrustedCertificates": "/etc/pacs-lb-perf-tls/ca.pem",
                           "DicomTlsRemoteCertificateRequired": False})
        with open(os.path.join(conf_dir, "orthanc.json"), "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=1)
        cname = "%s-%s" % (PREFIX, name)
        podman = ["podman", "--runtime", "runc"]
        run(podman + ["rm", "-f", cname], check=False)
        argv = podman + ["run", "-d", "--name", cname, "--network", "ns:/run/netns/" + self.topology.ns["srv"],
                         "-v", "%s:/etc/pacs-lb-perf:ro" % conf_dir, "--tmpfs", "/var/lib/orthanc-perf"]
        if tls_dir:
            argv += ["-v", "%s:/etc/pacs-lb-perf-tls:ro" % tls_dir]
        if nodelay:
            argv += ["--env", "TCP_NODELAY=1"]
        if self.topology.pin.get("srv"):
            argv += ["--cpuset-cpus", self.topology.pin["srv"]]
        argv += [IMAGE, "/usr/sbin/Orthanc", "/etc/pacs-lb-perf/orthanc.json"]
        run(argv, timeout=120, env=dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "tests", "lab", "containers.conf")))
        self.containers.append(cname)
        wait_tcp(self.topology, "cli", ip, http_port, timeout=60)
        wait_tcp(self.topology, "cli", ip, dicom_port, timeout=30)
        return Sink("orthanc", name, ip, dicom_port, nodelay, http_port=http_port, container=cname)

    def start_haproxy(self, services, tuning=None, role_vars=None, name="haproxy"):
        return Haproxy(self, services, tuning, role_vars, name)

    def stop(self, proc, sig=signal.SIGTERM):
        proc.kill(sig)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.kill()
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "tests", "lab", "containers.conf"))
        for cname in self.containers:
            # a removal right after the stop has been seen to leave the exited container behind: check, and retry
            for _attempt in range(3):
                removed = run(["podman", "--runtime", "runc", "rm", "-f", "-t", "2", cname], check=False, timeout=120,
                              env=env)
                if run(["podman", "container", "exists", cname], check=False, env=env).returncode == 1:
                    break
                time.sleep(1)
            else:
                print("benchlib: could not remove container %s: %s" % (cname, removed.stderr.strip()), file=sys.stderr)
        self.topology.teardown()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._lock.close()


def common_args(parser):
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a minute or two)")
    parser.add_argument("--topology", choices=("veth", "lo"), default="veth")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--link-rate", help="shape every veth link direction to this rate (tc tbf), e.g. 1gbit")
    parser.add_argument("--pin", action="store_true",
                        help="pin modality and PACS to CPU 0 and HAProxy to CPU 1 (a balancer with a CPU of its own)")
    return parser
