"""Rollout time and changed count per run (issue #16), as a new user would measure it.

    .venv/bin/python tests/benchmarks/rollout.py single [--trials 2] [--noops 2] [--anchors] [--base REF]
    .venv/bin/python tests/benchmarks/rollout.py lab [--runs 3]
    .venv/bin/python tests/benchmarks/rollout.py scale [--clusters 20] [--services 20]

single: the job the public roles are judged by: one HTTP VIP, one backend
(python3 -m http.server), two balancers, on podman containers of the lab
image (network pacs-lb-bench, 198.18.44.0/24). Each trial creates fresh
containers, times site.yml's first converge and --noops no-op re-runs, and
removes them. With --anchors, the same job with geerlingguy.haproxy and
evrardjp.keepalived (checked out from ANCHOR_DIR, default .build/anchors/roles,
never committed) on containers of their own (pacs-lb-anchor, 198.18.45.0/24),
interleaved with ours in each trial. With --base REF, the collection as it
was at git REF too (exported to .build/bench-rollout/base, its own
ansible.cfg and collection link): the before/after comparison.

lab: site.yml no-op runs (verify included) on a running lab (`make lab`, or a
Molecule lab with PACS_LB_LAB_NAME / PACS_LB_LAB_NET set), inventories/lab.

scale: preflight + render on the controller for N clusters of M services
(each cluster its own model of two balancers; the Python path, see
model_scale.py).

Every run prints one line: job, run, seconds, changed (sum over the recap),
tasks (TASK and RUNNING HANDLER headers in the output).
Run heavy jobs under `flock /work/heavy-lab.lock` on shared machines.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
WORK = os.path.join(ROOT, ".build", "bench-rollout")
ANCHOR_DIR = os.environ.get("ANCHOR_DIR", os.path.join(ROOT, ".build", "anchors", "roles"))

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def env(**extra):
    base = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                ANSIBLE_HOME=os.path.join(ROOT, ".build", "ansible-home"),
                CONTAINERS_CONF=os.path.join(ROOT, "tests", "lab", "containers.conf"),
                ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default",
                # the time of every task in the log (WORK/*.log)
                ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    base.update(extra)
    return base


def playbook(args, extra_env=None, log=None):
    """(seconds, changed, tasks, rc) of one ansible-playbook run."""
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook")] + args, cwd=ROOT, env=env(**(extra_env or {})),
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if log:
        with open(log, "a") as handle:
            handle.write(proc.stdout + proc.stderr)
    recap = RECAP.findall(proc.stdout)
    changed = sum(int(row[2]) for row in recap)
    failed = sum(int(row[3]) + int(row[4]) for row in recap)
    tasks = len(re.findall(r"^(?:TASK|RUNNING HANDLER) \[", proc.stdout, re.M))
    rc = proc.returncode or (1 if failed else 0)
    if rc:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
    return elapsed, changed, tasks, rc


def report(job, run, result):
    elapsed, changed, tasks, rc = result
    print("| %s | %s | %.1f | %d | %d |%s" % (job, run, elapsed, changed, tasks, "" if rc == 0 else " FAILED rc=%d" % rc),
          flush=True)


# --- the single-VIP job --------------------------------------------------------

def single_inventory(name, net):
    """Inventory of the single-VIP job: lb1, lb2, web1 on net.0/24, VIP net.100:80."""
    inv_dir = os.path.join(WORK, name)
    shutil.rmtree(inv_dir, ignore_errors=True)
    os.makedirs(os.path.join(inv_dir, "group_vars", "all"))
    hosts = {"all": {
        "vars": {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3",
                 "lab_name": name, "lab_net": net},
        "children": {
            "balancers": {"hosts": {
                "lb1": {"ansible_host": name + "-lb1", "pacs_lb_address": net + ".11"},
                "lb2": {"ansible_host": name + "-lb2", "pacs_lb_address": net + ".12"}}},
            "web_servers": {"hosts": {"web1": {"ansible_host": name + "-web1", "pacs_lb_address": net + ".21"}}},
        }}}
    with open(os.path.join(inv_dir, "hosts.yml"), "w") as handle:
        yaml.safe_dump(hosts, handle)
    model = {
        "pacs_lb_vendor": "none",
        "pacs_lb_pools": {"web": "web_servers"},
        "pacs_lb_vrrp_instances": [{"name": "VI_WEB", "virtual_router_id": 61, "interface": "eth0",
                                    "network": net + ".0/24"}],
        "pacs_lb_services": [{"name": "WEB", "vip": net + ".100", "ports": 80, "mode": "l7", "protocol": "http",
                              "pool": "web", "server_port": 8080,
                              "check": {"type": "http", "path": "/", "status": "200"}}],
    }
    with open(os.path.join(inv_dir, "group_vars", "all", "pacs_lb.yml"), "w") as handle:
        yaml.safe_dump(model, handle)
    return inv_dir


def anchor_playbook(net):
    """The same job with geerlingguy.haproxy + evrardjp.keepalived (their documented variables)."""
    path = os.path.join(WORK, "anchor-site.yml")
    play = [{
        "name": "The single-VIP job with the public roles",
        "hosts": "balancers",
        "gather_facts": True,   # evrardjp.keepalived reads ansible_facts
        "vars": {
            "haproxy_frontend_port": 80,
            "haproxy_frontend_bind_address": "*",
            "haproxy_backend_httpchk": "GET /",
            "haproxy_backend_servers": [{"name": "web1", "address": net + ".21:8080"}],
            # the sysctls are set when the containers are created (podman refuses
            # writes of tcp_retries2, which this option also sets)
            "keepalived_bind_on_non_local": False,
            "keepalived_systemd_overrides": False,
            "keepalived_use_latest_stable": False,
            "keepalived_selinux_compile_rules": [],
            "keepalived_instances": {"VI_WEB": {
                "interface": "eth0", "state": "BACKUP", "virtual_router_id": 62,
                "priority": "{{ 150 if inventory_hostname == 'lb1' else 140 }}",
                "nopreempt": True,
                "unicast_src_ip": "{{ pacs_lb_address }}",
                "unicast_peers": "{{ groups['balancers'] | difference([inventory_hostname]) "
                                 "| map('extract', hostvars, 'pacs_lb_address') | list }}",
                "vips": [net + ".100 dev eth0"]}},
        },
        "roles": ["geerlingguy.haproxy", "evrardjp.keepalived"],
    }]
    with open(path, "w") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


def lab_up(inv_dir, log):
    result = playbook(["-i", inv_dir, "tests/lab/create.yml"], log=log)
    if result[3]:
        raise RuntimeError("lab create failed, see %s" % log)
    name = os.path.basename(inv_dir)
    subprocess.run(["podman", "exec", "-d", name + "-web1", "python3", "-m", "http.server", "8080"],
                   env=env(), check=True)


def lab_down(inv_dir, log):
    playbook(["-i", inv_dir, "tests/lab/destroy.yml"], log=log)


def single(args):
    os.makedirs(WORK, exist_ok=True)
    log = os.path.join(WORK, "single.log")
    jobs = [("pacs_lb", single_inventory("pacs-lb-bench", "198.18.44"), ["site.yml"], {})]
    if args.anchors:
        anchor_inv = single_inventory("pacs-lb-anchor", "198.18.45")
        jobs.append(("anchors", anchor_inv, [anchor_playbook("198.18.45")], {"ANSIBLE_ROLES_PATH": ANCHOR_DIR}))
    if args.base:
        base = os.path.join(WORK, "base")
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        jobs.insert(1, ("pacs_lb %s" % args.base, jobs[0][1], [os.path.join(base, "site.yml")],
                        {"ANSIBLE_CONFIG": os.path.join(base, "ansible.cfg")}))
    rows = {}
    print("| job | run | s | changed | tasks |\n|---|---|---|---|---|")
    for trial in range(1, args.trials + 1):
        for job, inv_dir, play, extra in jobs:
            lab_down(inv_dir, log)
            lab_up(inv_dir, log)
            try:
                result = playbook(["-i", inv_dir] + play, extra, log)
                report(job, "trial %d converge" % trial, result)
                rows.setdefault((job, "converge"), []).append(result)
                for noop in range(1, args.noops + 1):
                    result = playbook(["-i", inv_dir] + play, extra, log)
                    report(job, "trial %d no-op %d" % (trial, noop), result)
                    rows.setdefault((job, "no-op"), []).append(result)
            finally:
                lab_down(inv_dir, log)
    summary(rows)


def summary(rows):
    print("\n| job | kind | runs | median s | min-max s | changed |\n|---|---|---|---|---|---|")
    for (job, kind), results in sorted(rows.items()):
        times = [r[0] for r in results]
        changed = "/".join(str(r[1]) for r in results)
        print("| %s | %s | %d | %.1f | %.1f-%.1f | %s |"
              % (job, kind, len(results), statistics.median(times), min(times), max(times), changed))
    medians = {}
    for (job, kind), results in rows.items():
        medians.setdefault(job, {})[kind] = statistics.median([r[0] for r in results])
    for other in sorted(set(medians) - {"pacs_lb"}):
        for kind in sorted(set(medians.get("pacs_lb", {})) & set(medians[other])):
            print("ratio pacs_lb / %s, %s: %.2f" % (other, kind, medians["pacs_lb"][kind] / medians[other][kind]))


# --- the full lab ------------------------------------------------------------------

def lab(args):
    os.makedirs(WORK, exist_ok=True)
    log = os.path.join(WORK, "lab.log")
    rows = {}
    print("| job | run | s | changed | tasks |\n|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        result = playbook(["-i", "inventories/lab", "site.yml"], log=log)
        report("full lab site.yml", "no-op %d" % run, result)
        rows.setdefault(("full lab", "no-op"), []).append(result)
    summary(rows)


# --- the controller path at scale -------------------------------------------------

def scale(args):
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import model_scale  # pylint: disable=import-outside-toplevel
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm  # pylint: disable=import-outside-toplevel

    clusters = []
    for _cluster in range(args.clusters):
        clusters.append(model_scale.inventory(args.services, args.servers))
    times = []
    for _round in range(args.rounds):
        start = time.perf_counter()
        for groups, hostvars, svcs, instances in clusters:
            model = sm.build_model([], svcs, instances, {}, groups, hostvars)
            sm.render_haproxy(model)
            sm.render_keepalived_virtual_servers(model)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print("%d clusters x %d services x %d servers: preflight + render (Python) median %.2f s, min %.2f s, "
          "per cluster %.3f s" % (args.clusters, args.services, args.servers, median, min(times), median / args.clusters))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="job", required=True)
    one = sub.add_parser("single")
    one.add_argument("--trials", type=int, default=2)
    one.add_argument("--noops", type=int, default=2)
    one.add_argument("--anchors", action="store_true")
    one.add_argument("--base", metavar="REF", help="also the collection as it was at this git ref")
    full = sub.add_parser("lab")
    full.add_argument("--runs", type=int, default=3)
    big = sub.add_parser("scale")
    big.add_argument("--clusters", type=int, default=20)
    big.add_argument("--services", type=int, default=20)
    big.add_argument("--servers", type=int, default=4)
    big.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    {"single": single, "lab": lab, "scale": scale}[args.job](args)


if __name__ == "__main__":
    main()
