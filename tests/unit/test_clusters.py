"""Several clusters in one inventory: each cluster's model, and the rules across clusters (no hosts, no Ansible)."""
import copy
import os

import pytest
import yaml

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import clusters as cl
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import realserver as rs
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import verify_report as vr

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GROUPS = {"balancers": ["pacs-lb1", "pacs-lb2", "vna-lb1", "vna-lb2"], "pacs": ["pacs1", "pacs2"],
          "vna": ["vna1", "pacs2"]}
HOSTVARS = {
    "pacs-lb1": {"pacs_lb_address": "198.18.10.11"}, "pacs-lb2": {"pacs_lb_address": "198.18.10.12"},
    "vna-lb1": {"pacs_lb_address": "198.18.10.13"}, "vna-lb2": {"pacs_lb_address": "198.18.10.14"},
    "pacs1": {"pacs_lb_address": "198.18.10.21"}, "pacs2": {"pacs_lb_address": "198.18.10.22"},
    "vna1": {"pacs_lb_address": "198.18.10.31"},
}
PACS = {
    "pacs_lb_cluster": "pacs",
    "pacs_lb_vrrp_instances": [{"name": "VI_1", "virtual_router_id": 51, "network": "198.18.10.0/24"}],
    "pacs_lb_pools": {"pacs": "pacs"},
    "pacs_lb_services": [
        {"name": "DICOM", "vip": "198.18.10.100", "ports": 104, "mode": "l7", "protocol": "dicom", "pool": "pacs"},
        {"name": "DR", "vip": "198.18.10.101", "ports": 104, "mode": "l4_dr", "pool": "pacs"},
    ],
}
VNA = {
    "pacs_lb_cluster": "vna",
    "pacs_lb_vendor": "generic",
    "pacs_lb_vrrp_instances": [{"name": "VI_1", "virtual_router_id": 52, "network": "198.18.10.0/24"}],
    "pacs_lb_pools": {"pacs": "vna", "hl7": "vna", "xds": "vna"},
    "pacs_lb_services": [
        {"name": "DICOM_104", "vip": "198.18.10.110"},
        {"name": "DICOM_11112", "vip": "198.18.10.110"},
        {"name": "HTTPS_443", "vip": "198.18.10.110"},
        {"name": "HL7_2575", "vip": "198.18.10.110"},
        {"name": "XDS_17035", "enabled": False},
        # Same name as a PACS service: allowed, each cluster renders its own.
        {"name": "DICOM", "vip": "198.18.10.110", "ports": 4242, "mode": "l7", "protocol": "dicom", "pool": "vna"},
    ],
}


def profiles():
    out = {}
    for name in os.listdir(os.path.join(ROOT, "roles", "preflight", "vars", "vendors")):
        with open(os.path.join(ROOT, "roles", "preflight", "vars", "vendors", name)) as handle:
            out[name[:-4]] = yaml.safe_load(handle)["preflight_vendor_services"]
    return out


def build(pacs=None, vna=None, per_host=None):
    pacs = PACS if pacs is None else pacs
    vna = VNA if vna is None else vna
    balancer_vars = [("pacs-lb1", pacs), ("pacs-lb2", pacs), ("vna-lb1", vna), ("vna-lb2", vna)]
    if per_host:
        balancer_vars = [(h, per_host.get(h, v)) for h, v in balancer_vars]
    return cl.build_clusters(copy.deepcopy(balancer_vars), GROUPS, HOSTVARS, profiles())


def problems(**kwargs):
    with pytest.raises(sm.ModelError) as err:
        build(**kwargs)
    return err.value.problems


def changed(base, **fields):
    out = copy.deepcopy(base)
    out.update(fields)
    return out


def test_each_cluster_gets_its_own_model_from_its_own_variables():
    fleet = build()
    assert list(fleet["clusters"]) == ["pacs", "vna"]
    pacs, vna = fleet["clusters"]["pacs"], fleet["clusters"]["vna"]
    assert pacs["cluster"] == "pacs" and vna["cluster"] == "vna"
    assert [b["name"] for b in pacs["balancers"]] == ["pacs-lb1", "pacs-lb2"]
    assert [b["name"] for b in vna["balancers"]] == ["vna-lb1", "vna-lb2"]
    assert [s["name"] for s in pacs["services"]] == ["DICOM", "DR"]
    # The generic profile's services, XDS disabled, plus the added one.
    assert [s["name"] for s in vna["services"]] == ["DICOM_104", "DICOM_11112", "HL7_2575", "HTTPS_443", "DICOM"]
    assert vna["vrrp_instances"][0]["virtual_router_id"] == 52
    assert fleet["member_of"] == {"pacs-lb1": "pacs", "pacs-lb2": "pacs", "vna-lb1": "vna", "vna-lb2": "vna"}
    # Each balancer's configuration holds its own cluster only.
    backends = sm.render_haproxy(vna)["backends"]
    assert "be_DICOM" in [b["name"] for b in backends]
    assert all(srv["address"] in ("198.18.10.31", "198.18.10.22") for svc in vna["services"] for srv in svc["servers"])


def test_a_single_pair_inventory_is_one_implicit_cluster_without_prefixes():
    plain = dict((k, v) for k, v in PACS.items() if k != "pacs_lb_cluster")
    fleet = cl.build_clusters([("pacs-lb1", plain), ("pacs-lb2", plain)], GROUPS, HOSTVARS, {})
    assert list(fleet["clusters"]) == ["default"]
    model = fleet["clusters"]["default"]
    assert fleet["union"] is model
    expected = sm.build_model([], PACS["pacs_lb_services"], PACS["pacs_lb_vrrp_instances"], PACS["pacs_lb_pools"],
                              GROUPS, HOSTVARS, balancer_hosts=["pacs-lb1", "pacs-lb2"])
    assert dict(model, cluster=None) == dict(expected, cluster=None)
    bad = changed(plain, pacs_lb_services=[dict(PACS["pacs_lb_services"][0], vip="nope")])
    with pytest.raises(sm.ModelError) as err:
        cl.build_clusters([("pacs-lb1", bad), ("pacs-lb2", bad)], GROUPS, HOSTVARS, {})
    assert err.value.problems == ["service 'DICOM': vip: 'nope' is not an IP address (set it in pacs_lb_services)"]


def test_problems_of_one_cluster_name_the_cluster_service_and_field():
    bad = changed(VNA, pacs_lb_services=VNA["pacs_lb_services"] + [
        {"name": "WEB", "vip": "198.18.10.110", "ports": 80, "mode": "l7", "protocol": "http", "pool": "vna",
         "persistence": "sticky"}])
    found = problems(vna=bad)
    assert len(found) == 1
    assert found[0].startswith("cluster 'vna': service 'WEB': persistence: ")


def test_a_vrid_reused_on_an_overlapping_network_is_refused():
    vna = changed(VNA, pacs_lb_vrrp_instances=[{"name": "VI_VNA", "virtual_router_id": 51,
                                                "network": "198.18.10.0/24"}])
    assert problems(vna=vna) == [
        "cluster 'vna': vrrp instance 'VI_VNA': virtual_router_id: 51 is also used by VRRP instance 'VI_1' of cluster "
        "'pacs' on 198.18.10.0/24, which overlaps 198.18.10.0/24 (one layer-2 network); it must be unique there: "
        "pick a VRID 1-255 that no other cluster uses on this network"]


def test_a_vrid_may_repeat_on_another_network():
    groups = dict(GROUPS, vna=["vna1"])
    hostvars = dict(HOSTVARS, vna1={"pacs_lb_address": "198.18.11.31"},
                    **{"vna-lb1": {"pacs_lb_address": "198.18.11.13"}, "vna-lb2": {"pacs_lb_address": "198.18.11.14"}})
    vna = changed(VNA, pacs_lb_vrrp_instances=[{"name": "VI_1", "virtual_router_id": 51,
                                                "network": "198.18.11.0/24"}],
                  pacs_lb_services=[dict(s, vip="198.18.11.110") if "vip" in s else s for s in VNA["pacs_lb_services"]])
    balancer_vars = [("pacs-lb1", PACS), ("pacs-lb2", PACS), ("vna-lb1", vna), ("vna-lb2", vna)]
    fleet = cl.build_clusters(balancer_vars, groups, hostvars, profiles())
    assert [i["virtual_router_id"] for m in fleet["clusters"].values() for i in m["vrrp_instances"]] == [51, 51]


def test_a_vip_of_another_cluster_is_refused_whatever_the_port():
    vna = changed(VNA, pacs_lb_services=VNA["pacs_lb_services"] + [
        {"name": "OTHER", "vip": "198.18.10.100", "ports": 8080, "mode": "l7", "protocol": "tcp", "pool": "vna"}])
    assert problems(vna=vna) == [
        "cluster 'vna': service 'OTHER': vip: 198.18.10.100 is also the vip of service 'DICOM' of cluster 'pacs'; "
        "an address floats in one balancer pair: give each cluster addresses of its own"]


def test_a_vip_that_is_another_clusters_balancer_or_server_is_refused():
    vna = changed(VNA, pacs_lb_services=VNA["pacs_lb_services"] + [
        {"name": "ON_LB", "vip": "198.18.10.11", "ports": 81, "mode": "l7", "protocol": "tcp", "pool": "vna"},
        {"name": "ON_SRV", "vip": "198.18.10.21", "ports": 81, "mode": "l7", "protocol": "tcp", "pool": "vna"}])
    found = problems(vna=vna)
    assert ("cluster 'pacs': service 'DICOM': server 'pacs1': address 198.18.10.21 is the vip of service 'ON_SRV' of "
            "cluster 'vna'") in found
    assert ("cluster 'pacs': balancer 'pacs-lb1': pacs_lb_address: 198.18.10.11 is the vip of service 'ON_LB' of "
            "cluster 'vna'") in found


def test_balancers_of_one_cluster_must_share_its_variables():
    other = changed(VNA, pacs_lb_services=VNA["pacs_lb_services"][:-1])
    found = problems(per_host={"vna-lb2": other})
    assert found == ["cluster 'vna': balancer 'vna-lb2': pacs_lb_services: differs from balancer 'vna-lb1' of the same "
                     "cluster; the balancers of a cluster share one model: set it in the cluster group's group_vars, "
                     "not per host"]


def test_unknown_vendor_and_bad_cluster_name():
    found = problems(vna=changed(VNA, pacs_lb_vendor="acme"))
    assert found == ["cluster 'vna': inventory: pacs_lb_vendor: 'acme' is not a vendor profile; use one of none, "
                     "ge_centricity, generic, infinitt, insignia, philips_vue"]
    found = problems(vna=changed(VNA, pacs_lb_cluster="v n a"))
    assert found[0] == ("balancer 'vna-lb1': pacs_lb_cluster: 'v n a' is not a cluster name: letters, digits, _ . -, "
                        "starting with a letter")


def test_a_real_server_behind_two_nat_gateways_is_refused():
    def nat(base, vip, gateway, vrid):
        return changed(base, pacs_lb_vrrp_instances=[{"name": "VI_1", "virtual_router_id": vrid,
                                                      "network": "198.18.10.0/24", "nat_gateway": gateway}],
                       pacs_lb_vendor="none", pacs_lb_services=[
                           {"name": "NAT", "vip": vip, "ports": 104, "mode": "l4_nat", "pool": "shared"}])
    groups = dict(GROUPS, shared=["pacs2"])
    balancer_vars = [("pacs-lb1", nat(PACS, "198.18.10.100", "198.18.10.1", 51)),
                     ("pacs-lb2", nat(PACS, "198.18.10.100", "198.18.10.1", 51)),
                     ("vna-lb1", nat(VNA, "198.18.10.110", "198.18.10.2", 52)),
                     ("vna-lb2", nat(VNA, "198.18.10.110", "198.18.10.2", 52))]
    with pytest.raises(sm.ModelError) as err:
        cl.build_clusters(balancer_vars, groups, HOSTVARS, {})
    assert err.value.problems == [
        "real server 198.18.10.22: nat_gateway: serves Layer 4 NAT services behind different gateways "
        "(198.18.10.1 for cluster 'pacs' service 'NAT'; 198.18.10.2 for cluster 'vna' service 'NAT'); its replies can "
        "take one route per client network: use one gateway address for it"]


def test_a_real_server_of_several_clusters_gets_the_union_of_their_dr_vips():
    fleet = build()
    union = fleet["union"]
    assert union["clusters"] == ["pacs", "vna"]
    assert set(s["cluster"] for s in union["services"]) == {"pacs", "vna"}
    # pacs2 serves PACS's DR (198.18.10.101) and the generic profile's DR services of the VNA (198.18.10.110).
    vips = rs.dr_vips_for_host(union, "pacs2", ["198.18.10.22"])
    assert [(v["vip"], v["port_spec"]) for v in vips] == [("198.18.10.101", "104"), ("198.18.10.110", "104,443,11112")]
    assert [v["vip"] for v in rs.dr_vips_for_host(union, "vna1")] == ["198.18.10.110"]
    assert sorted(rs.dr_pool_members(union)) == ["pacs1", "pacs2", "vna1"]


def test_verify_probes_and_report_group_by_cluster_and_follow_the_limit():
    clusters = build()["clusters"]
    probes = vr.verify_probes(clusters)
    assert sorted(set(p["cluster"] for p in probes)) == ["pacs", "vna"]
    assert vr.verify_probes(clusters, ["vna-lb1", "other"]) == [p for p in probes if p["cluster"] == "vna"]
    # (TLS VIPs aside: their handshake result is tested in test_verify_report.)
    limited = [p for p in probes if p["cluster"] == "vna" and not p["tls"]]
    results = [{"elapsed": 0, "state": "started"} if p["kind"] == "tcp" else {"ok": True, "code": "AA"}
               if p["kind"] == "hl7" else {"ok": True, "status_text": "Success"} if p["kind"] == "dicom"
               else {"status": 200} for p in limited]
    vrrp = {"vna-lb1": {"instances": [{"name": "VI_1", "state": "MASTER", "holds_all_vips": True,
                                       "vips_held": ["198.18.10.110"]}]},
            "vna-lb2": {"instances": [{"name": "VI_1", "state": "BACKUP"}]}}
    haproxy = {"vna-lb1": {"servers": []}, "vna-lb2": {"servers": []}}
    report = vr.build_report(clusters, limited, results, haproxy, vrrp)
    assert report["clusters"] == [{"name": "vna", "ok": True, "problems": 0, "services": len(limited),
                                   "balancers": ["vna-lb1", "vna-lb2"]}]
    assert report["ok"] and report["balancers"]["vna-lb1"]["cluster"] == "vna"
    # The same instance name in the other cluster: judged per cluster, so no split brain is seen.
    vrrp["pacs-lb1"] = {"instances": [{"name": "VI_1", "state": "MASTER", "holds_all_vips": True}]}
    vrrp["pacs-lb2"] = {"instances": [{"name": "VI_1", "state": "BACKUP"}]}
    pacs = [p for p in probes if p["cluster"] == "pacs"]
    report = vr.build_report(clusters, pacs + limited, [{"skipped": True}] * len(pacs) + results,
                             dict(haproxy, **{"pacs-lb1": {"servers": []}, "pacs-lb2": {"servers": []}}), vrrp)
    assert [c["name"] for c in report["clusters"]] == ["pacs", "vna"]
    assert [c["ok"] for c in report["clusters"]] == [False, True]
    assert report["problems"] and all(p.startswith("cluster 'pacs': ") for p in report["problems"])
