# -*- coding: utf-8 -*-
"""The vendor lab's plan (tests/lab/filter_plugins/lab_vendor.py) on the real example models.

`make lab VENDOR=<v>` starts what lab_standins plans and asks what
lab_client_probes lists; a wrong plan would either fail the lab for the
lab's own reasons or, worse, leave a VIP port unasked. These tests hold the
plan to the model: every VIP port asked once, every asked port served in the
protocol the client speaks, checks satisfied, clashes refused by name.
"""

import copy
import os
import sys

import pytest
import yaml

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "filter_plugins"))

import lab_vendor as lv  # noqa: E402  (after the sys.path line above)

VENDORS = ("generic", "philips_vue", "infinitt", "insignia", "ge_centricity")
# VIP ports a client asks per example, routes aside (GE's DB_MT sampled: 1, 1521, 19999, 20001, 65535).
PROBES = {"generic": 5, "philips_vue": 15, "infinitt": 4, "insignia": 2, "ge_centricity": 29}
# The listener that serves each client protocol on a server port.
SERVED_BY = {"dicom": "relay", "dicom_tls": "tls_relay", "hl7_tls": "tls_relay", "http": "http",
             "https": "https", "tcp": "tcp"}


def _yaml(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def example_model(vendor, services=None):
    """The model the preflight builds of inventories/examples/<vendor> (services replaces the example's)."""
    groups, hostvars = {}, {}

    def walk(name, node):
        members = []
        for host, hvars in ((node or {}).get("hosts") or {}).items():
            hostvars.setdefault(host, {}).update(hvars or {})
            members.append(host)
        for child, child_node in ((node or {}).get("children") or {}).items():
            members += [h for h in walk(child, child_node) if h not in members]
        groups[name] = members
        return members

    walk("all", _yaml("inventories", "examples", vendor, "hosts.yml")["all"])
    gv = _yaml("inventories", "examples", vendor, "group_vars", "all", "pacs_lb.yml")
    profile = _yaml("roles", "preflight", "vars", "vendors", vendor + ".yml")["preflight_vendor_services"]
    return sm.build_model(profile, gv["pacs_lb_services"] if services is None else services,
                          gv["pacs_lb_vrrp_instances"], gv["pacs_lb_pools"], groups, hostvars,
                          tls_certificates=gv.get("pacs_lb_tls_certificates"),
                          tls_server_ca=gv.get("pacs_lb_tls_server_ca"))


def failover_model():
    extra = _yaml("tests", "lab", "vendors", "insignia-failover.yml")
    return example_model("insignia", extra["pacs_lb_services"])


def _served(plan, host, port):
    """What a server's port speaks in the plan: hl7 (MLLP peer), a listener kind, or None."""
    if port in plan[host]["mllp_ports"]:
        return "hl7"
    kinds = [item["kind"] for item in plan[host]["listeners"] if item["port"] == port]
    return kinds[0] if kinds else None


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vip_port_is_asked_once(vendor):
    model = example_model(vendor)
    probes = lv.lab_client_probes(model)
    plain = [(p["vip"], p["port"]) for p in probes if " route " not in p["service"]]
    assert len(plain) == len(set(plain)) == PROBES[vendor]
    for svc in model["services"]:
        for group in svc["port_groups"]:
            for first, last in group["ports"]:
                assert (group["vip"], first) in plain and (group["vip"], last) in plain, svc["name"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_asked_port_is_served_in_the_clients_protocol(vendor):
    model = example_model(vendor)
    plan = lv.lab_standins(model)
    by_name = dict((s["name"], s) for s in model["services"])
    for probe in lv.lab_client_probes(model):
        svc = by_name[probe["service"].split("/")[0].split(" ")[0]]
        servers = svc["servers"]
        if " route " in probe["service"]:
            route = [r for r in svc["routes"] if probe["service"].endswith(" " + r["name"])][0]
            servers, port = route["servers"], route["server_port"]
            assert all(_served(plan, s["name"], port) == "https" for s in servers), probe
            continue
        for srv in servers:
            served = _served(plan, srv["name"], probe["port"])
            assert served == (probe["kind"] if probe["kind"] == "hl7" else SERVED_BY[probe["kind"]]), (probe, srv)
        assert probe["expect"] == [s["name"] for s in servers]


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_protocol_check_finds_its_protocol(vendor):
    model = example_model(vendor)
    plan = lv.lab_standins(model)
    want = {"http": "http", "http_head": "http", "https": "https", "external": "http"}
    for svc in model["services"]:
        for group in svc["port_groups"]:
            check = group["check"]
            if check["type"] not in want:
                continue
            for srv in svc["servers"]:
                port = check.get("port") or group["server_port"] or srv["port"] or group["ports"][0][0]
                assert _served(plan, srv["name"], port) == want[check["type"]], (svc["name"], srv["name"], port)


def test_ge_plan():
    model = example_model("ge_centricity")
    plan = lv.lab_standins(model)
    ea = dict((item["port"], item) for item in plan["ea1"]["listeners"])
    # The EA node: HTTP check port, DICOM to Orthanc, TLS fronts to Orthanc and the MLLP peer.
    assert ea[80]["kind"] == "http" and ea[443]["kind"] == "https"
    assert ea[104] == {"port": 104, "kind": "relay", "target": 4242}
    assert ea[2762] == {"port": 2762, "kind": "tls_relay", "target": 4242}
    assert ea[2576] == {"port": 2576, "kind": "tls_relay", "target": 2575}
    assert plan["ea1"]["mllp_ports"] == [2575] and plan["ea1"]["orthanc"] == {"dicom_port": 4242, "http_port": 8042}
    # 8080 on the workflow nodes: Dakota SP1 only connects, WFM_Play_Group SP1 checks HTTPS.
    assert _served(plan, "wfm1", 8080) == "https"
    # DB_MT's 65534 ports: the checked port and the ends of its ranges; DB_DBVIP's 20000.
    assert plan["db1"]["ports"] == [1, 1521, 19999, 20000, 20001, 65535]
    # The TCP services whose servers speak HTTPS are asked in HTTPS.
    kinds = dict(((p["service"], p["port"]), p["kind"]) for p in lv.lab_client_probes(model))
    assert kinds[("Dakota/SP2", 8443)] == "https" and kinds[("DB_MT", 1521)] == "tcp"
    assert kinds[("EA_Secure_HL7_Service", 2576)] == "hl7_tls"


def test_philips_routes_and_external_script():
    model = example_model("philips_vue")
    probes = dict((p["service"], p) for p in lv.lab_client_probes(model))
    chat = probes["PORTAL_VIP route CHAT"]
    assert (chat["path"], chat["kind"], chat["expect"]) == ("/chat/", "http", ["vue-chat1", "vue-chat2"])
    assert probes["PORTAL_VIP"]["expect"] == ["vue-portal1", "vue-portal2"]
    assert lv.lab_external_scripts(model) == ["/usr/local/libexec/pacs_lb/check_vue_portal"]
    assert lv.lab_external_scripts(example_model("ge_centricity")) == []


def test_insignia_failover_expects_the_first_server():
    probes = dict((p["service"], p) for p in lv.lab_client_probes(failover_model()))
    assert set(probes) == {"DICOM_VIP_Failover", "HL7_VIP_Failover"}
    assert probes["HL7_VIP_Failover"]["expect"] == ["insight-hl7a"]


def test_a_port_asked_in_two_protocols_is_refused_by_name():
    model = copy.deepcopy(example_model("infinitt"))
    web = [s for s in model["services"] if s["name"] == "INFINITT_Web"][0]
    web["port_groups"][0]["ports"] = [[104, 104]]
    with pytest.raises(lv.StandInError, match=r"server infinitt1 port 104: dicom for DICOM; http for INFINITT_Web"):
        lv.lab_standins(model)


def test_internal_ports_avoid_the_servers_own():
    model = copy.deepcopy(example_model("infinitt"))
    web = [s for s in model["services"] if s["name"] == "INFINITT_Web"][0]
    web["port_groups"][0]["ports"] = [[4242, 4242]]
    web["port_groups"][0]["check"]["port"] = 8042
    plan = lv.lab_standins(model)
    assert plan["infinitt1"]["orthanc"] == {"dicom_port": 14242, "http_port": 18042}


def test_tls_names_cover_vips_and_servers():
    names = lv.lab_tls_names(example_model("ge_centricity"))
    assert "198.18.105.101" in names and "198.18.105.21" in names and "198.18.105.11" not in names


def test_no_copy_content_uses_ansible_managed():
    """ansible_managed is defined for templates only: in a copy task's content it fails the task."""
    offenders = []
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "roles")):
        for name in files:
            if dirpath.endswith("tasks") and name.endswith(".yml"):
                for task in _yaml(dirpath, name) or []:
                    copy_args = task.get("ansible.builtin.copy") or {}
                    if "ansible_managed" in str(copy_args.get("content", "")):
                        offenders.append("%s: %s" % (os.path.join(dirpath, name), task.get("name")))
    assert not offenders
