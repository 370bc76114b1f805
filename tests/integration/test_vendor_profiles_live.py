# -*- coding: utf-8 -*-
"""Vendor profiles and example inventories through ansible-playbook: rendered and judged by
yamllint, haproxy -c and keepalived --config-test, and bad inventories stopped in the preflight."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROFILES = os.path.join(ROOT, "roles", "preflight", "vars", "vendors")
EXAMPLES = os.path.join(ROOT, "inventories", "examples")
HAPROXY = "/usr/sbin/haproxy"
KEEPALIVED = "/usr/sbin/keepalived"
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
VENDORS = ("generic", "philips_vue", "infinitt", "insignia", "ge_centricity")


# What each rendered configuration must contain: HAProxy frontends and
# backends, IPVS virtual servers, VRRP addresses.
RENDER_COUNTS = {
    "generic": {"frontend": 2, "backend": 2, "virtual_server": 3, "vips": 3},
    "philips_vue": {"frontend": 7, "backend": 9, "virtual_server": 0, "vips": 7},
    "infinitt": {"frontend": 4, "backend": 4, "virtual_server": 0, "vips": 4},
    "insignia": {"frontend": 1, "backend": 1, "virtual_server": 1, "vips": 2},
    "ge_centricity": {"frontend": 15, "backend": 15, "virtual_server": 9, "vips": 10, "port_redirects": 1},
    "lab": {"frontend": 11, "backend": 13, "virtual_server": 0, "vips": 2, "port_redirects": 1},
}


# ---------------------------------------------------------------- helpers

def read_yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_HOME": os.path.join(ROOT, ".build", "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PWD": ROOT,  # the lab inventory finds its test certificates under $PWD/.build
    })
    return env


class Run(object):
    """An ansible-playbook started in the background; result() waits for it."""

    def __init__(self, args, **extra):
        self.extra = extra
        self.proc = subprocess.Popen([ANSIBLE_PLAYBOOK] + args, cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        self._out = None

    def result(self):
        if self._out is None:
            self._out = self.proc.communicate(timeout=300)[0]
        return self.proc.returncode, self._out


def make_bad_inventory(dest, vendor, change):
    """A copy of an example inventory whose hosts point at unused 198.19.254.0/24
    addresses over SSH, so that any connection attempt would show as UNREACHABLE."""
    shutil.copytree(os.path.join(EXAMPLES, vendor), str(dest))
    hosts = read_yaml(str(dest), "hosts.yml")
    hosts["all"]["vars"] = {"ansible_connection": "ssh", "ansible_user": "pacs-lb-test", "ansible_timeout": 3}
    number = 0
    for group in hosts["all"]["children"].values():
        for hvars in group["hosts"].values():
            number += 1
            hvars["ansible_host"] = "198.19.254.%d" % number
    with open(os.path.join(str(dest), "hosts.yml"), "w") as handle:
        yaml.safe_dump(hosts, handle, sort_keys=False)
    gv_path = os.path.join(str(dest), "group_vars", "all", "pacs_lb.yml")
    gv = read_yaml(gv_path)
    change(gv)
    with open(gv_path, "w") as handle:
        yaml.safe_dump(gv, handle, sort_keys=False)
    return str(dest)


def _bad_vip(gv):
    next(s for s in gv["pacs_lb_services"] if s["name"] == "DICOM")["vip"] = "198.18.103.300"


def _bad_vendor(gv):
    gv["pacs_lb_vendor"] = "siemens_syngo"


def _bad_role_option(gv):
    gv["haproxy_route_quickack"] = "fast"


def _unsafe_role_options(gv):
    gv["keepalived_priority"] = 300
    gv["haproxy_stats_socket"] = "ipv4@0.0.0.0:9999"
    gv["keepalived_notify_script"] = "/etc/x.sh\nreboot"


def _busy_polling_on_every_cpu(gv):
    gv["haproxy_busy_polling"] = True


def _nothing(gv):
    pass


@pytest.fixture(scope="session")
def ansible_runs(tmp_path_factory):
    """Every ansible-playbook run of this module, started together (they take
    seconds each, mostly waiting on Python start-up, so in parallel the whole
    module stays well under a minute)."""
    base = tmp_path_factory.mktemp("ansible")
    # The lab inventory's certificates, as tests/lab/create.yml makes them.
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "lab", "files", "lab_tls.py"),
                    os.path.join(ROOT, ".build", "lab-tls", "pacs-lb-lab"), "--vip", "198.18.10.100",
                    "--server", "198.18.10.21", "--server", "198.18.10.22"], check=True, capture_output=True)
    runs = {}
    for name in VENDORS + ("lab",):
        inventory = os.path.join(ROOT, "inventories", "lab") if name == "lab" else os.path.join(EXAMPLES, name)
        out = str(base / ("render-" + name))
        runs["render:" + name] = Run(["-i", inventory, "tests/render/render.yml", "-e", "render_dir=" + out],
                                     render_dir=out, inventory=inventory)
    out = str(base / "render-lab-busy-polling")
    runs["render:lab-busy-polling"] = Run(["-i", os.path.join(ROOT, "inventories", "lab"), "tests/render/render.yml",
                                           "-e", "render_dir=" + out, "-e", "haproxy_busy_polling=true",
                                           "-e", "haproxy_nbthread=1"], render_dir=out)
    for name, change in (("bad_vip", _bad_vip), ("bad_vendor", _bad_vendor), ("bad_role_option", _bad_role_option),
                         ("unsafe_role_options", _unsafe_role_options),
                         ("busy_polling_on_every_cpu", _busy_polling_on_every_cpu), ("control", _nothing)):
        inventory = make_bad_inventory(base / ("inventory-" + name), "infinitt", change)
        runs["site:" + name] = Run(["-i", inventory, "site.yml"], inventory=inventory)
    yield runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


# ------------------------------------------------------- profile contents


def test_profiles_pass_yamllint():
    yamllint = os.path.join(os.path.dirname(sys.executable), "yamllint")
    paths = [os.path.join(PROFILES, v + ".yml") for v in VENDORS] + [EXAMPLES, os.path.join(ROOT, "tests", "render")]
    proc = subprocess.run([yamllint, "-s", "-c", os.path.join(ROOT, ".yamllint")] + paths,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------- rendered configurations

LAB_TLS = os.path.join(ROOT, ".build", "lab-tls", "pacs-lb-lab", "tls_vars.yml")
TLS_DIR = "/etc/haproxy/pacs_lb_tls"


def _with_tls_files(path):
    """The configuration with its certificate files, as the haproxy role deploys
    them (from the lab's own certificates), in a directory beside it."""
    with open(path) as handle:
        text = handle.read()
    if TLS_DIR + "/" not in text:
        return path
    with open(LAB_TLS) as handle:
        entries = json.load(handle)["pacs_lb_tls_certificates"]
    tls_dir = path + ".tls"
    os.makedirs(tls_dir, exist_ok=True)
    for entry in entries:
        ca = "key" not in entry
        content = "".join(entry[k].strip() + "\n" for k in ("certificate", "chain", "key") if entry.get(k))
        with open(os.path.join(tls_dir, entry["name"] + (".ca.pem" if ca else ".pem")), "w") as out:
            out.write(content)
    with open(path + ".with-tls", "w") as out:
        out.write(text.replace(TLS_DIR, tls_dir))
    return path + ".with-tls"


def assert_haproxy_accepts(path):
    path = _with_tls_files(path)
    checked = subprocess.run([HAPROXY, "-c", "-f", path], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "[WARNING]" not in checked.stdout + checked.stderr


def _balancers(inventory):
    with open(os.path.join(inventory, "hosts.yml")) as handle:
        return list(yaml.safe_load(handle)["all"]["children"]["balancers"]["hosts"])


@pytest.mark.parametrize("name", VENDORS + ("lab",))
def test_rendered_configs_pass_haproxy_and_keepalived_checks(ansible_runs, name):
    run = ansible_runs["render:" + name]
    rc, out = run.result()
    assert rc == 0, out
    balancers = _balancers(run.extra["inventory"])
    assert len(balancers) == 2
    with open(os.path.join(run.extra["render_dir"], "model.json")) as handle:
        model = json.load(handle)
    addresses = dict((b["name"], b["address"]) for b in model["balancers"])
    counts = RENDER_COUNTS[name]
    priorities = []
    for host in balancers:
        haproxy_cfg = os.path.join(run.extra["render_dir"], host + ".haproxy.cfg")
        keepalived_conf = os.path.join(run.extra["render_dir"], host + ".keepalived.conf")
        assert_haproxy_accepts(haproxy_cfg)
        checked = subprocess.run([KEEPALIVED, "-l", "--config-test", "--use-file=" + keepalived_conf],
                                 capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        nft_file = os.path.join(run.extra["render_dir"], host + ".port_redirect.nft")
        assert os.path.exists(nft_file) == bool(counts.get("port_redirects")), nft_file
        if os.path.exists(nft_file):
            checked = subprocess.run(["nft", "-c", "-f", nft_file], capture_output=True, text=True, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            with open(nft_file) as handle:
                assert handle.read().count(" dnat ") == 2 * counts["port_redirects"]  # prerouting and output
        with open(haproxy_cfg) as handle:
            haproxy_text = handle.read()
        with open(keepalived_conf) as handle:
            keepalived_text = handle.read()
        assert len(re.findall(r"^frontend ", haproxy_text, re.M)) == counts["frontend"]
        assert len(re.findall(r"^backend ", haproxy_text, re.M)) == counts["backend"]
        assert len(re.findall(r"^virtual_server ", keepalived_text, re.M)) == counts["virtual_server"]
        assert len(re.findall(r"^        \S+/\d+ dev ", keepalived_text, re.M)) == counts["vips"]
        # Each balancer's own identity, not its peer's.
        assert "localpeer %s\n" % host in haproxy_text
        assert "unicast_src_ip %s\n" % addresses[host] in keepalived_text
        priorities.append(int(re.search(r"^    priority (\d+)$", keepalived_text, re.M).group(1)))
    assert priorities[0] > priorities[1]


def test_rendered_lab_keeps_inventory_over_role_defaults(ansible_runs):
    """The lab's group_vars choose VRRPv3 (the role default is 2); role defaults must not win."""
    run = ansible_runs["render:lab"]
    assert run.result()[0] == 0
    with open(os.path.join(run.extra["render_dir"], "lb1.keepalived.conf")) as handle:
        text = handle.read()
    assert "vrrp_version 3\n" in text
    assert "advert_int 1\n" in text


def test_rendered_busy_polling(ansible_runs):
    """The opt-in for balancer VMs: one spinning thread, accepted by haproxy -c; off by default."""
    run = ansible_runs["render:lab-busy-polling"]
    rc, out = run.result()
    assert rc == 0, out
    haproxy_cfg = os.path.join(run.extra["render_dir"], "lb1.haproxy.cfg")
    with open(haproxy_cfg) as handle:
        text = handle.read()
    assert "\n    nbthread 1\n" in text and "\n    busy-polling\n" in text
    assert_haproxy_accepts(haproxy_cfg)
    assert ansible_runs["render:lab"].result()[0] == 0
    with open(os.path.join(ansible_runs["render:lab"].extra["render_dir"], "lb1.haproxy.cfg")) as handle:
        default_text = handle.read()
    assert "busy-polling" not in default_text and "nbthread" not in default_text


def test_rendered_ge_specifics(ansible_runs):
    run = ansible_runs["render:ge_centricity"]
    assert run.result()[0] == 0
    with open(os.path.join(run.extra["render_dir"], "cpacs-lb1.haproxy.cfg")) as handle:
        haproxy_text = handle.read()
    with open(os.path.join(run.extra["render_dir"], "cpacs-lb1.keepalived.conf")) as handle:
        keepalived_text = handle.read()
    assert haproxy_text.count("stick on int(1)") == 4  # the four CCG_IB "last successful" VIPs
    # DB_MT, "all ports except 20000": one bound port, the rest redirected to it by nftables.
    assert "bind 198.18.105.102:1\n" in haproxy_text
    with open(os.path.join(run.extra["render_dir"], "cpacs-lb1.port_redirect.nft")) as handle:
        nft_text = handle.read()
    assert ('ip daddr 198.18.105.102 tcp dport { 2-19999,20001-65535 } dnat ip to 198.18.105.102:1 comment "fe_DB_MT"'
            in nft_text)
    assert "bind 198.18.105.102:20000\n" in haproxy_text
    assert "external-check command /usr/local/libexec/pacs_lb/check_icmp" in haproxy_text
    assert len(re.findall(r"^    lb_kind DR$", keepalived_text, re.M)) == 9
    # Every EA virtual server is probed by HTTP on port 80, whatever port it serves.
    ea_checks = re.findall(r"^virtual_server 198\.18\.105\.101 (\d+) \{(.*?)^\}", keepalived_text, re.M | re.S)
    assert sorted(int(port) for port, body in ea_checks) == [80, 104, 443, 2575, 2576, 2762]
    for port, body in ea_checks:
        assert body.count("HTTP_GET {") == 2 and body.count("connect_port 80\n") == 2, port


# ------------------------------------------------------------- preflight


def _assert_stopped_before_any_host(out):
    assert "TASK [medimaging.pacs_lb.preflight" in out
    assert "Read the VRRP state of every balancer" not in out
    assert "Install HAProxy" not in out
    assert "UNREACHABLE" not in out
    assert "PLAY [Read which balancer holds the VIPs]" not in out
    recap = out[out.index("PLAY RECAP"):]
    assert re.findall(r"unreachable=(\d+)", recap) == ["0"] * 4
    assert re.findall(r"changed=(\d+)", recap) == ["0"] * 4


def test_site_stops_in_preflight_on_a_bad_field(ansible_runs):
    rc, out = ansible_runs["site:bad_vip"].result()
    assert rc != 0, out
    assert "The PACS load balancer model is invalid (1 problem); no host was changed" in out
    assert "- service 'DICOM': vip: '198.18.103.300' is not an IP address" in out
    _assert_stopped_before_any_host(out)


def test_site_rejects_an_unknown_vendor(ansible_runs):
    rc, out = ansible_runs["site:bad_vendor"].result()
    assert rc != 0, out
    assert "value of pacs_lb_vendor must be one of: none, generic, philips_vue, infinitt, insignia, ge_centricity, " \
           "got: siemens_syngo" in out
    _assert_stopped_before_any_host(out)


def test_site_checks_the_balancer_roles_options_in_preflight(ansible_runs):
    rc, out = ansible_runs["site:bad_role_option"].result()
    assert rc != 0, out
    assert "value of haproxy_route_quickack must be one of: all, servers, none, got: fast" in out
    _assert_stopped_before_any_host(out)


def test_site_refuses_unsafe_role_options_in_preflight(ansible_runs):
    rc, out = ansible_runs["site:unsafe_role_options"].result()
    assert rc != 0, out
    # every host's problems in one message: the same three on each host of the example inventory
    hosts = len(set(re.findall(r"- host '([^']+)': keepalived_priority: '300' must be 1-254", out)))
    assert hosts >= 2 and "The roles' options are invalid (%d problems); no host was changed" % (3 * hosts) in out
    assert "- host 'infinitt-lb1': haproxy_stats_socket: 'ipv4@0.0.0.0:9999' is not an absolute path" in out
    assert "- host 'infinitt-lb1': keepalived_priority: '300' must be 1-254" in out
    assert "- host 'infinitt-lb1': keepalived_notify_script: must not contain control characters" in out
    _assert_stopped_before_any_host(out)


def test_site_refuses_busy_polling_on_every_cpu(ansible_runs):
    rc, out = ansible_runs["site:busy_polling_on_every_cpu"].result()
    assert rc != 0, out
    assert "haproxy_busy_polling: true needs haproxy_nbthread of at least 1 and fewer than the balancer's CPUs, got 0" \
        in out
    _assert_stopped_before_any_host(out)


def test_site_control_run_does_reach_for_hosts(ansible_runs):
    """The same inventory without the bad field goes past the preflight and
    tries to connect: proof that the two tests above would see host contact."""
    rc, out = ansible_runs["site:control"].result()
    assert rc != 0, out
    assert "TASK [Read the VRRP state of every balancer]" in out
    assert "UNREACHABLE" in out
