"""The realserver_linux module on a real kernel: a network namespace of its own
(its lo, addresses, sysctls, routes and nftables ruleset), files in a
temporary directory. Apply, run again, check mode, remove, remove again."""
import json
import os
import subprocess
import sys
import uuid

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import realserver as rs

import realserver_site

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE = os.path.join(ROOT, "plugins", "modules", "realserver_linux.py")
FIREWALL = """table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
    }
}
"""


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def netns(tmp_path):
    """A network namespace with eth0 (198.18.30.21/24, default route via .1) and the host's firewall loaded."""
    name = "pacs-lb-rs-%s" % uuid.uuid4().hex[:8]
    sh("ip", "netns", "add", name)
    try:
        run = ["ip", "netns", "exec", name]
        for cmd in (["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"],
                    ["ip", "addr", "add", "198.18.30.21/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "peer0", "up"], ["ip", "link", "set", "lo", "up"],
                    ["ip", "route", "add", "default", "via", "198.18.30.1", "dev", "eth0"]):
            sh(*(run + cmd))
        (tmp_path / "nftables.conf").write_text(FIREWALL)
        sh(*(run + ["nft", "-f", str(tmp_path / "nftables.conf")]))
        yield run
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def module(netns, tmp_path, check=False, **args):
    params = dict(
        network_config="networkd", firewall="nftables",
        nftables_conf=str(tmp_path / "nftables.conf"), nftables_file=str(tmp_path / "pacs-lb-dr.nft"),
        sysctl_file=str(tmp_path / "sysctl.d" / "90-pacs-lb-dr.conf"), networkd_file=str(tmp_path / "10-dr.network"),
        ifupdown_file=str(tmp_path / "ifupdown"), networkmanager_file=str(tmp_path / "dr.nmconnection"),
        state_file=str(tmp_path / "state.json"), nat_routes_unit=str(tmp_path / "nat.service"))
    params.update(args)
    params.update(_ansible_check_mode=check, _ansible_diff=True)
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".build", "collections"))
    out = subprocess.run(netns + [sys.executable, MODULE, str(argfile)], capture_output=True, text=True, env=env,
                         check=False)
    return json.loads(out.stdout)


def lo_addresses(netns):
    return [a["local"] for a in json.loads(sh(*(netns + ["ip", "-j", "-4", "addr", "show", "dev", "lo"])))[0]["addr_info"]]


def sysctl(netns, path):
    return sh(*(netns + ["cat", "/proc/sys/" + path])).strip()


def snapshot(netns, tmp_path):
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.name != "args.json")
    return (lo_addresses(netns), [sysctl(netns, "net/ipv4/conf/%s/%s" % (dev, key)) for dev in ("all", "eth0")
                                  for key in ("arp_ignore", "arp_announce")],
            sh(*(netns + ["nft", "list", "ruleset"])), files, (tmp_path / "nftables.conf").read_text())


def test_apply_again_check_remove_on_a_real_kernel(netns, tmp_path):
    model = realserver_site.model()
    vips = rs.dr_vips_for_host(model, "rs1")
    before = snapshot(netns, tmp_path)

    # check mode on an unprepared host: the work reported, none of it done
    checked = module(netns, tmp_path, check=True, vips=vips)
    assert checked["changed"] and not checked.get("failed"), checked
    assert any(d["before"] == "" and "\nnet.ipv4.conf.all.arp_ignore = 1\n" in d["after"] for d in checked["diff"])
    assert snapshot(netns, tmp_path) == before

    first = module(netns, tmp_path, vips=vips)
    assert first["changed"] and not first.get("failed"), first
    assert (first["interface"], first["firewall"], first["network_config"]) == ("eth0", "nftables", "networkd")
    assert lo_addresses(netns) == ["127.0.0.1", "198.18.30.100", "198.18.30.101"]
    assert [sysctl(netns, "net/ipv4/conf/%s/%s" % (dev, key)) for dev in ("all", "eth0")
            for key in ("arp_ignore", "arp_announce")] == ["1", "2", "1", "2"]
    ruleset = sh(*(netns + ["nft", "list", "chain", "inet", "filter", "input"]))
    assert ruleset.count('comment "pacs_lb_dr:') == 2 and "ip daddr 198.18.30.100 tcp dport { 104, 2762, 4000-4010 }" \
        in ruleset, ruleset
    assert 'include "%s"' % (tmp_path / "pacs-lb-dr.nft") in (tmp_path / "nftables.conf").read_text()
    assert "Address=198.18.30.101/32\nLabel=lo:pacslb1" in (tmp_path / "10-dr.network").read_text()
    assert json.loads((tmp_path / "state.json").read_text())["vips"] == ["198.18.30.100", "198.18.30.101"]
    # the boot-time ruleset with the include loads (nft -c: checked, not applied)
    sh(*(netns + ["nft", "-c", "-f", str(tmp_path / "nftables.conf")]))

    again = module(netns, tmp_path, vips=vips)
    assert not again["changed"] and again["diff"] == [], again

    removed = module(netns, tmp_path, state="absent", vips=vips)
    assert removed["changed"], removed
    assert snapshot(netns, tmp_path) == before
    assert not module(netns, tmp_path, state="absent", vips=vips)["changed"]


def test_a_vip_already_on_lo_is_used_not_owned(netns, tmp_path):
    model = realserver_site.model()
    vips = rs.dr_vips_for_host(model, "rs1")
    sh(*(netns + ["ip", "addr", "add", "198.18.30.100/32", "dev", "lo"]))
    assert module(netns, tmp_path, vips=vips)["changed"]
    assert module(netns, tmp_path, state="absent", vips=vips)["changed"]
    assert lo_addresses(netns) == ["127.0.0.1", "198.18.30.100"]


def test_clear_errors_change_nothing(netns, tmp_path):
    model = realserver_site.model()
    vips = rs.dr_vips_for_host(model, "rs1")
    before = snapshot(netns, tmp_path)
    wrong = module(netns, tmp_path, vips=vips, interface="eth9")
    assert wrong["failed"] and "eth9 does not exist" in wrong["msg"] and "realserver_linux_interface" in wrong["msg"]
    elsewhere = [dict(v, server_address="198.18.31.21") for v in vips]
    lost = module(netns, tmp_path, vips=elsewhere)
    assert lost["failed"] and "no interface holds 198.18.31.21" in lost["msg"]
    ipv6 = module(netns, tmp_path, vips=[dict(vips[0], vip="2001:db8::100", version=6)])
    assert ipv6["failed"] and "IPv6 DR VIPs (2001:db8::100)" in ipv6["msg"]
    assert snapshot(netns, tmp_path) == before
