# -*- coding: utf-8 -*-
"""Vendor profiles, example inventories and the preflight, without containers.

- Every VIP of each vendor guide's table is in its profile with the guide's
  mode, ports, persistence and check (the tables are written out below from
  the guides in shared/seeds, so a profile edit that drops or changes a VIP
  fails here).
- The example inventories and the lab inventory are rendered through
  ansible-playbook with the roles' real templates (tests/render/render.yml)
  and the results pass `haproxy -c` and `keepalived --config-test`.
- The preflight rejects each kind of bad input naming the service and field,
  both in build_model directly and end to end through site.yml, before any
  host is contacted.
"""

import copy
import os

import pytest
import yaml

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROFILES = os.path.join(ROOT, "roles", "preflight", "vars", "vendors")
EXAMPLES = os.path.join(ROOT, "inventories", "examples")
VENDORS = ("generic", "philips_vue", "infinitt", "insignia", "ge_centricity")

# The guides' tables: name -> (mode, persistence, {port group: (ports, check type)}).
# Port group None is a service without port_groups. Ports are in the model's
# normalized form (sorted, merged ranges).
GUIDE_VIPS = {
    # No VIP names in this guide: one service per row of its port table.
    "generic": {
        "DICOM_104": ("l4_dr", "source_ip", {None: ("104", "connect")}),
        "DICOM_11112": ("l4_dr", "source_ip", {None: ("11112", "connect")}),
        "HL7_2575": ("l7", "source_ip", {None: ("2575", "connect")}),
        "HTTPS_443": ("l4_dr", "source_ip", {None: ("443", "connect")}),
        "XDS_17035": ("l7", "source_ip", {None: ("17035", "connect")}),
    },
    "philips_vue": {
        "DICOM_VIP": ("l7", "source_ip", {None: ("2104", "connect")}),
        "DMWL_VIP": ("l7", "source_ip", {None: ("3320", "connect")}),
        "PORTAL_VIP": ("l7", "source_ip", {None: ("80", "external")}),
        "PORTAL_VIP_STANDBY": ("l7", "source_ip", {None: ("80", "external")}),
        "CLIENT_VIP": ("l7", "source_ip", {None: ("80,443,514,2104,22104,32338", "connect")}),
        "CLIENT_DB_VIP": ("l7", "source_ip", {None: ("1521", "connect")}),
        "HL7_VIP": ("l7", "source_ip", {None: ("4001,4003,4005,10010", "connect")}),
    },
    "infinitt": {
        "INFINITT_Web": ("l7", "cookie_source_ip", {None: ("80", "http_head")}),
        "DICOM": ("l7", "source_ip", {None: ("104", "connect")}),
        "QUERY": ("l7", "source_ip", {None: ("105", "connect")}),
        "MWL": ("l7", "source_ip", {None: ("204", "connect")}),
    },
    # The load-balanced variants; the failover ones are disabled by default.
    "insignia": {
        "DICOM_VIP": ("l4_dr", "source_ip", {None: ("104", "connect")}),
        "HL7_VIP": ("l7", "source_ip", {None: ("2575", "connect")}),
    },
    "ge_centricity": {
        "EA_XDS_Service": ("l4_dr", "none", {None: ("80", "http")}),
        "EA_Dicom_Service": ("l4_dr", "none", {None: ("104", "http")}),
        "EA_Secure_Dicom_Service": ("l4_dr", "none", {None: ("2762", "http")}),
        "EA_HL7_Service": ("l4_dr", "none", {None: ("2575", "http")}),
        "EA_Secure_HL7_Service": ("l4_dr", "none", {None: ("2576", "http")}),
        "EA_Study_Management_Service": ("l4_dr", "source_ip", {None: ("443", "http")}),
        "DB_MT": ("l4_snat", "source_ip", {None: ("1-19999,20001-65535", "connect")}),
        "DB_DBVIP": ("l4_snat", "none", {None: ("20000", "icmp")}),
        "DAS_Pool": ("l4_dr", "source_ip", {None: ("104,4100,8080", "http")}),
        "ZFP": ("l7", "source_ip", {None: ("443", "https")}),
        "UV": ("l7", "source_ip", {None: ("443", "https")}),
        "Dakota": ("l7", "source_ip", {"SP1": ("8080", "connect"), "SP2": ("8443", "https")}),
        "WFM_Play_Group": ("l7", "source_ip", {"SP1": ("8080", "https"), "SP2": ("9443", "https")}),
        "WFM_tomcat_Group": ("l7", "source_ip", {"SP1": ("9096", "https"), "SP2": ("3443", "https")}),
        "XE_Standalone": ("l7", "source_ip", {None: ("8443,9449", "https")}),
        "CCG_IB_2101": ("l7", "last_successful", {None: ("2101", "connect")}),
        "CCG_IB_2102": ("l7", "last_successful", {None: ("2102", "connect")}),
        "PORT_CCG_IB_2103": ("l7", "last_successful", {None: ("2103", "connect")}),
        "PORT_CCG_IB_2104": ("l7", "last_successful", {None: ("2104", "connect")}),
    },
}

# Back ends without ports of their own (Philips VIP 3-B1 / 4-B1): routes of
# their portal VIP -> (route name, check type, server port, TLS to the server).
GUIDE_BACKENDS = {
    "philips_vue": {
        "PORTAL_VIP": ("CHAT", "https", 443, True),
        "PORTAL_VIP_STANDBY": ("CHAT_STANDBY", "https", 443, True),
    },
}


# ---------------------------------------------------------------- helpers

def read_yaml(*parts):
    with open(os.path.join(*parts)) as handle:
        return yaml.safe_load(handle)


def load_profile(vendor):
    return read_yaml(PROFILES, vendor + ".yml")


def load_inventory(path):
    """(groups, hostvars, all-group vars) of a YAML inventory with group_vars/all/*.yml."""
    groups, hostvars = {"all": []}, {}

    def walk(name, node, inherited):
        node = node or {}
        gvars = dict(inherited, **(node.get("vars") or {}))
        members = groups.setdefault(name, [])
        for host, hvars in (node.get("hosts") or {}).items():
            merged = dict(gvars)
            merged.update(hostvars.get(host, {}))
            merged.update(hvars or {})
            hostvars[host] = merged
            members.append(host)
        for child, child_node in (node.get("children") or {}).items():
            for host in walk(child, child_node, gvars):
                if host not in members:
                    members.append(host)
        return members

    walk("all", read_yaml(path, "hosts.yml")["all"], {})
    all_vars = {}
    gv_dir = os.path.join(path, "group_vars", "all")
    for name in sorted(os.listdir(gv_dir)):
        all_vars.update(read_yaml(gv_dir, name) or {})
    return groups, hostvars, all_vars


def build_example(vendor, user_services=None, host_overrides=None):
    """The model of a vendor profile with its example inventory (user_services replaces the example's)."""
    groups, hostvars, gv = load_inventory(os.path.join(EXAMPLES, vendor))
    for host, extra in (host_overrides or {}).items():
        hostvars[host].update(extra)
    assert gv["pacs_lb_vendor"] == vendor
    services = gv["pacs_lb_services"] if user_services is None else user_services
    return sm.build_model(load_profile(vendor)["preflight_vendor_services"], services, gv["pacs_lb_vrrp_instances"],
                          gv["pacs_lb_pools"], groups, hostvars, tls_certificates=gv.get("pacs_lb_tls_certificates"),
                          tls_server_ca=gv.get("pacs_lb_tls_server_ca"))


# ------------------------------------------------------- profile contents

@pytest.mark.parametrize("vendor", VENDORS)
def test_profile_has_every_vip_of_the_guide(vendor):
    model = build_example(vendor)
    services = {svc["name"]: svc for svc in model["services"]}
    assert sorted(services) == sorted(GUIDE_VIPS[vendor])
    assert len(model["services"]) == len(GUIDE_VIPS[vendor])
    for name, (mode, persistence, groups) in GUIDE_VIPS[vendor].items():
        svc = services[name]
        assert (name, svc["mode"], svc["persistence"]) == (name, mode, persistence)
        got = {group["name"]: (group["port_spec"], group["check"]["type"]) for group in svc["port_groups"]}
        assert got == groups, name


@pytest.mark.parametrize("vendor", VENDORS)
def test_profile_back_ends_are_routes(vendor):
    services = {svc["name"]: svc for svc in build_example(vendor)["services"]}
    expected = GUIDE_BACKENDS.get(vendor, {})
    with_routes = dict((name, svc["routes"]) for name, svc in services.items() if svc["routes"])
    assert sorted(with_routes) == sorted(expected)
    for name, (route, check, port, tls) in expected.items():
        (got,) = with_routes[name]
        assert (got["name"], got["check"]["type"], got["server_port"], got["server_tls"]) == (route, check, port, tls)
        assert got["servers"], "route %s of %s has no servers" % (route, name)


@pytest.mark.parametrize("vendor", VENDORS)
def test_profile_is_address_free_and_well_formed(vendor):
    """Profiles leave addresses to the user, use logical pools, and describe every VIP."""
    services = load_profile(vendor)["preflight_vendor_services"]
    pools = read_yaml(EXAMPLES, vendor, "group_vars", "all", "pacs_lb.yml")["pacs_lb_pools"]
    for svc in services:
        assert sm.NAME_RE.match(svc["name"]), svc["name"]
        assert "vip" not in svc and "servers" not in svc, svc["name"]
        assert svc.get("description"), svc["name"]
        assert svc["pool"] in pools, svc["name"]
        for route in svc.get("routes", []):
            assert route["pool"] in pools, route["name"]
        if svc["mode"] == "l4_dr":
            assert "server_port" not in svc, svc["name"]
    with open(os.path.join(PROFILES, vendor + ".yml")) as handle:
        header = handle.read().split("\npreflight_vendor_services:")[0]
    assert "Interpretation" in header


def test_insignia_failover_variants():
    """Switching both Insignia VIPs to failover mode: the first server is the active one."""
    gv = read_yaml(EXAMPLES, "insignia", "group_vars", "all", "pacs_lb.yml")
    # One entry per name (a repeated name is refused): the switch goes into the example's entries.
    switch = {"DICOM_VIP": False, "HL7_VIP": False, "DICOM_VIP_Failover": True, "HL7_VIP_Failover": True}
    services = [dict(svc, enabled=switch.pop(svc["name"])) if svc["name"] in switch else svc
                for svc in copy.deepcopy(gv["pacs_lb_services"])]
    services += [{"name": name, "enabled": enabled} for name, enabled in switch.items()]
    model = build_example("insignia", services)
    by_name = {svc["name"]: svc for svc in model["services"]}
    assert sorted(by_name) == ["DICOM_VIP_Failover", "HL7_VIP_Failover"]
    for svc in by_name.values():
        assert [srv["backup"] for srv in svc["servers"]] == [False, True]
    (vs,) = sm.render_keepalived_virtual_servers(model)
    # IPVS weighted failover: strictly falling weights make the inventory order the failover order.
    assert vs["lb_algo"] == "fo"
    assert [rs["weight"] for rs in vs["real_servers"]] == [256, 255]
    (backend,) = sm.render_haproxy(model)["backends"]
    assert [line.endswith(" backup") for line in backend["servers"]] == [False, True]
    # The inventory order is the failover order, whatever pacs_lb_weight says.
    model = build_example("insignia", services, host_overrides={"insight2": {"pacs_lb_weight": 200}})
    (vs,) = sm.render_keepalived_virtual_servers(model)
    assert [(rs["address"], rs["weight"]) for rs in vs["real_servers"]] == [("198.18.104.21", 256),
                                                                            ("198.18.104.22", 255)]


# ----------------------------------------------------- rendered configurations


# ------------------------------------------------------------- preflight

NET = "198.18.120"


def base_input():
    """A small valid site: two balancers, two PACS nodes, L7 and DR services."""
    hostvars = {"lb1": {"pacs_lb_address": NET + ".11"}, "lb2": {"pacs_lb_address": NET + ".12"},
                "pacs1": {"pacs_lb_address": NET + ".21"}, "pacs2": {"pacs_lb_address": NET + ".22"}}
    return {
        "profile_services": [],
        "user_services": [
            {"name": "PACS_DICOM", "vip": NET + ".100", "ports": 104, "mode": "l7", "protocol": "dicom",
             "pool": "pacs"},
            {"name": "PACS_WEB", "vip": NET + ".100", "ports": 80, "mode": "l7", "protocol": "http",
             "persistence": "cookie_source_ip", "pool": "pacs"},
            {"name": "PACS_DR", "vip": NET + ".101", "ports": 104, "mode": "l4_dr", "pool": "pacs"},
        ],
        "vrrp_instances": [{"name": "VI_A", "virtual_router_id": 51, "interface": "eth0", "network": NET + ".0/24"}],
        "pools": {"pacs": "pacs_servers", "ris": "ris_servers"},
        "groups": {"all": list(hostvars), "balancers": ["lb1", "lb2"], "pacs_servers": ["pacs1", "pacs2"],
                   "ris_servers": []},
        "hostvars": hostvars,
    }


def build(inputs):
    return sm.build_model(**inputs)


def rejected(change):
    """The problems of the base input after change(inputs); exactly one is expected."""
    inputs = base_input()
    change(inputs)
    with pytest.raises(sm.ModelError) as info:
        build(inputs)
    return info.value.problems


def service(inputs, name):
    return next(s for s in inputs["user_services"] if s["name"] == name)


def set_field(service_name, **fields):
    return lambda inputs: service(inputs, service_name).update(fields)


def test_base_input_is_valid():
    model = build(base_input())
    assert [s["name"] for s in model["services"]] == ["PACS_DICOM", "PACS_WEB", "PACS_DR"]


# (id, change, service or instance named, field named, further text)
REJECTED = [
    ("malformed_address", set_field("PACS_DICOM", vip=NET + ".300"),
     "service 'PACS_DICOM'", "vip", "is not an IP address"),
    ("vip_outside_vrrp_network", set_field("PACS_DICOM", vip="198.18.121.100"),
     "service 'PACS_DICOM'", "vip", "outside the network %s.0/24" % NET),
    ("vip_is_a_real_server", set_field("PACS_DICOM", vip=NET + ".21"),
     "service 'PACS_DICOM'", "server 'pacs1'", "is the VIP itself"),
    ("vip_is_a_balancer", set_field("PACS_DICOM", vip=NET + ".11"),
     "service 'PACS_DICOM'", "vip", "is the address of balancer 'lb1'"),
    ("duplicate_vip_port", lambda i: i["user_services"].append(
        {"name": "PACS_DICOM_2", "vip": NET + ".100", "ports": "104", "pool": "pacs"}),
     "service 'PACS_DICOM_2'", "ports", "%s.100:104 overlaps service 'PACS_DICOM'" % NET),
    ("port_0", set_field("PACS_DICOM", ports=0), "service 'PACS_DICOM'", "ports", "is not a port list"),
    ("port_65536", set_field("PACS_DICOM", ports="65536"), "service 'PACS_DICOM'", "ports", "is not a port list"),
    ("dr_with_server_port", set_field("PACS_DR", server_port=4242),
     "service 'PACS_DR'", "server_port", "Layer 4 DR cannot translate ports"),
    ("unknown_mode", set_field("PACS_DICOM", mode="l3_magic"), "service 'PACS_DICOM'", "mode", "'l3_magic' is not one of"),
    ("unknown_persistence", set_field("PACS_DICOM", persistence="sticky"),
     "service 'PACS_DICOM'", "persistence", "'sticky' is not one of"),
    ("unknown_check", set_field("PACS_DICOM", check="ping"), "service 'PACS_DICOM'", "check.type", "'ping' is not one of"),
    ("unknown_scheduler", set_field("PACS_DICOM", scheduler="random"),
     "service 'PACS_DICOM'", "scheduler", "'random' is not one of"),
    ("pool_without_hosts", set_field("PACS_DICOM", pool="ris"),
     "service 'PACS_DICOM'", "pool", "pool 'ris' maps to inventory group 'ris_servers', which has no hosts"),
    ("long_ae_title_in_check", set_field("PACS_DICOM", check={"type": "dicom", "called_ae": "PACS_ARCHIVE_MAIN"}),
     "service 'PACS_DICOM'", "check.called_ae", "is 17 characters long, the maximum is 16"),
    ("long_ae_title_in_route", set_field("PACS_DICOM", routes=[
        {"name": "VNA", "calling_ae": "MODALITY_CT_ROOM_3", "pool": "pacs"}]),
     "service 'PACS_DICOM' route #1", "calling_ae", "is 18 characters long, the maximum is 16"),
    ("check_the_renderer_cannot_do", set_field("PACS_DR", check="http_head"),
     "service 'PACS_DR'", "check.type", "'http_head' cannot be done by keepalived"),
    ("duplicate_virtual_router_id", lambda i: i["vrrp_instances"].append(
        {"name": "VI_B", "virtual_router_id": 51, "interface": "eth0", "network": "198.18.121.0/24"}),
     "vrrp instance 'VI_B'", "virtual_router_id", "51 is already used by instance 'VI_A'"),
    ("virtual_router_id_0", lambda i: i["vrrp_instances"][0].update(virtual_router_id=0),
     "vrrp instance 'VI_A'", "virtual_router_id", "'0' must be 1-255"),
    ("virtual_router_id_256", lambda i: i["vrrp_instances"][0].update(virtual_router_id=256),
     "vrrp instance 'VI_A'", "virtual_router_id", "'256' must be 1-255"),
    ("last_successful_on_dr", set_field("PACS_DR", persistence="last_successful"),
     "service 'PACS_DR'", "persistence", "last_successful is a stick table"),
    ("cookie_on_tcp_service", set_field("PACS_DICOM", protocol="tcp", persistence="cookie_source_ip"),
     "service 'PACS_DICOM'", "persistence", "cookie_source_ip needs mode l7 and protocol http"),
]


@pytest.mark.parametrize("change,where,field,text", [case[1:] for case in REJECTED], ids=[case[0] for case in REJECTED])
def test_preflight_rejects(change, where, field, text):
    problems = rejected(change)
    assert len(problems) == 1, problems
    assert problems[0].startswith("%s: %s: " % (where, field)), problems[0]
    assert text in problems[0]


@pytest.mark.parametrize("name", ["PACS\nDICOM", 'PACS"DICOM', "PACS'DICOM", "PACS DICOM"],
                         ids=["newline", "double_quote", "single_quote", "space"])
def test_preflight_rejects_unsafe_names(name):
    problems = rejected(set_field("PACS_DICOM", name=name))
    assert len(problems) == 1, problems
    # repr() keeps the newline visible as \n in the one-line message.
    assert problems[0].startswith("service %r: name: must match" % name), problems[0]
    assert "\n" not in problems[0]
