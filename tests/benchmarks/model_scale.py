"""Preflight + render time for a large model: 200 services x 20 real servers,
or many clusters (balancer pairs) in one inventory: --clusters 20 --services 20.

    .venv/bin/python tests/benchmarks/model_scale.py [--services 200] [--servers 20] [--ansible]
    .venv/bin/python tests/benchmarks/model_scale.py --clusters 20 --services 20 [--servers 20] [--ansible]
    .venv/bin/python tests/benchmarks/model_scale.py --clusters 20 --services 20 --servers 5 --preflight-only \
        --rounds 3 --base REF

With --base REF, the preflight play of the collection as it was at git REF
(exported to .build/model-scale-base) runs on the same inventory,
interleaved round by round with this tree's: the before/after comparison.

Times the pure-Python path (build_model, render_haproxy,
render_keepalived_virtual_servers) and, with --ansible, the whole controller
path a user runs: the preflight role and both role templates through
ansible-playbook (tests/render/render.yml) on a generated inventory, then
`haproxy -c` of the result.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import clusters as cl  # noqa: E402
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm  # noqa: E402

MODES = ("l7", "l7", "l7", "l4_snat", "l4_dr")
CHECKS = ({"type": "dicom", "called_ae": "PACS"}, {"type": "http", "path": "/health"}, "connect",
          {"type": "hl7"}, "connect")


def inventory(services, servers):
    """(groups, hostvars, services, vrrp_instances) on 198.18.0.0/16."""
    hostvars = {"lb1": {"pacs_lb_address": "198.18.0.11"}, "lb2": {"pacs_lb_address": "198.18.0.12"}}
    groups = {"balancers": ["lb1", "lb2"], "pacs": []}
    for num in range(servers):
        name = "pacs%d" % (num + 1)
        groups["pacs"].append(name)
        hostvars[name] = {"pacs_lb_address": "198.18.1.%d" % (num + 1)}
    svcs = []
    for num in range(services):
        mode = MODES[num % len(MODES)]
        svcs.append({
            "name": "SVC_%03d" % num, "vip": "198.18.%d.%d" % (2 + num // 200, 1 + num % 200),
            "ports": 104 if mode != "l7" or num % 3 else "80,443,2104", "mode": mode,
            "protocol": "dicom" if num % 5 == 0 else "tcp",
            "persistence": "source_ip" if num % 2 else "none", "pool": "pacs",
            "check": CHECKS[num % len(CHECKS)] if mode != "l4_dr" else "connect",
        })
    instances = [{"name": "VI_PACS", "virtual_router_id": 51, "interface": "eth0", "network": "198.18.0.0/16"}]
    return groups, hostvars, svcs, instances


def cluster_inventory(clusters, services, servers):
    """(groups, hostvars, {cluster group: its group_vars}): each cluster a pair on a /24 of its own
    (198.18.<n>.0/24), its own real servers, the same VRID on every network."""
    groups, hostvars, cluster_vars = {"balancers": []}, {}, {}
    for num in range(clusters):
        net = "198.18.%d" % (num + 1)
        name = "site%02d" % num
        pair = ["%s-lb1" % name, "%s-lb2" % name]
        groups["balancers"] += pair
        groups[name] = pair
        groups[name + "_pacs"] = ["%s-pacs%d" % (name, i + 1) for i in range(servers)]
        hostvars.update({pair[0]: {"pacs_lb_address": net + ".11"}, pair[1]: {"pacs_lb_address": net + ".12"}})
        for pos, host in enumerate(groups[name + "_pacs"]):
            hostvars[host] = {"pacs_lb_address": "%s.%d" % (net, 21 + pos)}
        svcs = []
        for snum in range(services):
            mode = MODES[snum % len(MODES)]
            svcs.append({
                "name": "SVC_%03d" % snum, "vip": "%s.%d" % (net, 100 + snum),
                "ports": 104 if mode != "l7" or snum % 3 else "80,443,2104", "mode": mode,
                "protocol": "dicom" if snum % 5 == 0 else "tcp",
                "persistence": "source_ip" if snum % 2 else "none", "pool": "pacs",
                "check": CHECKS[snum % len(CHECKS)] if mode != "l4_dr" else "connect",
            })
        cluster_vars[name] = {"pacs_lb_cluster": name, "pacs_lb_pools": {"pacs": name + "_pacs"},
                              "pacs_lb_services": svcs, "pacs_lb_vrrp_instances": [
                                  {"name": "VI_PACS", "virtual_router_id": 51, "interface": "eth0",
                                   "network": net + ".0/24"}]}
    return groups, hostvars, cluster_vars


def python_clusters(clusters, services, servers, rounds):
    groups, hostvars, cluster_vars = cluster_inventory(clusters, services, servers)
    balancer_vars = [(host, dict(cluster_vars[host.split("-")[0]])) for host in groups["balancers"]]
    times = []
    for _round in range(rounds):
        start = time.perf_counter()
        fleet = cl.build_clusters(balancer_vars, groups, hostvars, {})
        blocks = 0
        for model in fleet["clusters"].values():
            sm.render_haproxy(model)
            blocks += len(sm.render_keepalived_virtual_servers(model))
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), len(fleet["clusters"]), blocks


def ansible_clusters(clusters, services, servers, rounds=1, base=None, preflight_only=False):
    groups, hostvars, cluster_vars = cluster_inventory(clusters, services, servers)
    trees = [("", ROOT)]
    if base:
        tree = os.path.join(ROOT, ".build", "model-scale-base")
        subprocess.run(["rm", "-rf", tree], check=True)
        os.makedirs(tree)
        archive = subprocess.run(["git", "archive", base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        trees.append((" at " + base, tree))
    with tempfile.TemporaryDirectory() as tmp:
        inv = {"all": {"children": {}}}
        for group, hosts in groups.items():
            inv["all"]["children"][group] = {"hosts": {h: hostvars[h] for h in hosts}}
        for name, values in cluster_vars.items():
            os.makedirs(os.path.join(tmp, "inv", "group_vars", name))
            with open(os.path.join(tmp, "inv", "group_vars", name, "pacs_lb.yml"), "w") as handle:
                yaml.safe_dump(values, handle)
        with open(os.path.join(tmp, "inv", "hosts.yml"), "w") as handle:
            yaml.safe_dump(inv, handle)
        playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        timings = {}
        # render.yml: the preflight role and both templates on the balancers
        # (as the single-model --ansible run); preflight.yml: the preflight
        # play of site.yml, over every host of the inventory (real servers too).
        plays = [("preflight.yml (every one of %d hosts)" % len(hostvars), os.path.join("playbooks", "preflight.yml"))]
        if not preflight_only:
            plays.insert(0, ("render.yml (preflight + both templates, %d balancers)" % len(groups["balancers"]),
                             os.path.join("tests", "render", "render.yml")))
        for _round in range(rounds):
            for label, tree in trees:
                env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(tree, "ansible.cfg"),
                           ANSIBLE_HOME=os.path.join(ROOT, ".build", "ansible-home"))
                for what, path in plays:
                    start = time.perf_counter()
                    subprocess.run([playbook, "-i", os.path.join(tmp, "inv"), os.path.join(tree, path), "-e",
                                    "render_dir=" + os.path.join(tmp, "out")], check=True, cwd=tree, env=env,
                                   stdout=subprocess.DEVNULL)
                    timings.setdefault(what + label, []).append(time.perf_counter() - start)
        timings = dict((what, statistics.median(times)) for what, times in timings.items())
        if preflight_only:
            return timings, 0, 0
        checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", os.path.join(tmp, "out", "site00-lb1.haproxy.cfg")],
                                 capture_output=True, text=True, check=False)
        return timings, checked.returncode, len(os.listdir(os.path.join(tmp, "out")))


def python_path(services, servers, rounds):
    groups, hostvars, svcs, instances = inventory(services, servers)
    times = []
    for _round in range(rounds):
        start = time.perf_counter()
        model = sm.build_model([], svcs, instances, {}, groups, hostvars)
        sections = sm.render_haproxy(model)
        blocks = sm.render_keepalived_virtual_servers(model)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), len(sections["backends"]), len(blocks)


def ansible_path(services, servers):
    groups, hostvars, svcs, instances = inventory(services, servers)
    with tempfile.TemporaryDirectory() as tmp:
        inv = {"all": {"children": {}}}
        for group, hosts in groups.items():
            inv["all"]["children"][group] = {"hosts": {h: hostvars[h] for h in hosts}}
        os.makedirs(os.path.join(tmp, "inv", "group_vars", "all"))
        with open(os.path.join(tmp, "inv", "hosts.yml"), "w") as handle:
            yaml.safe_dump(inv, handle)
        with open(os.path.join(tmp, "inv", "group_vars", "all", "pacs_lb.yml"), "w") as handle:
            yaml.safe_dump({"pacs_lb_services": svcs, "pacs_lb_vrrp_instances": instances}, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_HOME=os.path.join(ROOT, ".build", "ansible-home"))
        start = time.perf_counter()
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                        os.path.join(tmp, "inv"), os.path.join(ROOT, "tests", "render", "render.yml"),
                        "-e", "render_dir=" + os.path.join(tmp, "out")], check=True, cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        cfg = os.path.join(tmp, "out", "lb1.haproxy.cfg")
        checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", cfg], capture_output=True, text=True, check=False)
        size = os.path.getsize(cfg)
        return elapsed, checked.returncode, size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ansible", action="store_true")
    parser.add_argument("--clusters", type=int, default=0, help="that many balancer pairs of --services each")
    parser.add_argument("--preflight-only", action="store_true", help="with --clusters: only preflight.yml, via Ansible")
    parser.add_argument("--base", help="with --clusters --preflight-only: also the collection at this git ref")
    args = parser.parse_args()
    if args.clusters:
        median, best, count, blocks = python_clusters(args.clusters, args.services, args.servers, args.rounds)
        print("%d clusters x %d services x %d servers: build every cluster + cross-cluster checks + render "
              "(Python) median %.3f s, best %.3f s; %d models, %d IPVS virtual servers" % (
                  args.clusters, args.services, args.servers, median, best, count, blocks))
        if args.preflight_only:
            timings = ansible_clusters(args.clusters, args.services, args.servers, args.rounds, args.base, True)[0]
            print("via ansible-playbook, median of %d rounds: %s" % (
                args.rounds, ", ".join("%s %.1f s" % pair for pair in timings.items())))
        elif args.ansible:
            timings, rc, files = ansible_clusters(args.clusters, args.services, args.servers)
            print("via ansible-playbook on %d balancers: %s; %d files rendered, haproxy -c exit %d" % (
                2 * args.clusters, ", ".join("%s %.1f s" % pair for pair in timings.items()), files, rc))
        return
    median, best, backends, blocks = python_path(args.services, args.servers, args.rounds)
    print("model %d services x %d servers: build+render (Python) median %.3f s, best %.3f s; "
          "%d HAProxy backends, %d IPVS virtual servers" % (args.services, args.servers, median, best, backends, blocks))
    if args.ansible:
        elapsed, rc, size = ansible_path(args.services, args.servers)
        print("preflight role + both templates for 2 balancers via ansible-playbook: %.1f s; "
              "haproxy -c exit %d on a %d kB haproxy.cfg" % (elapsed, rc, size // 1024))


if __name__ == "__main__":
    main()
