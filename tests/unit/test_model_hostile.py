"""Bad and hostile inputs: each is refused by the preflight with one line naming
where and which field, or rendered so that the daemons read exactly the value.

docs/service-model.md ("Bad input") lists these classes with the test of each.
"""
import copy

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

import render_local

from site_edits import NET, add, base, check, field, host, instance


def problems_of(change):
    inputs = base()
    change(inputs)
    with pytest.raises(sm.ModelError) as info:
        sm.build_model(**inputs)
    return info.value.problems


def test_base_is_valid():
    sm.build_model(**base())


# (id, change, where, field, text): exactly this one problem is reported.
REFUSED = [
    # strings that would carry a line, a quote or a command into a file
    ("newline_in_description", field("WEB", description="x\nlisten admin"), "service 'WEB'", "description",
     "control characters"),
    ("cr_in_description", field("WEB", description="x\rbind :9999"), "service 'WEB'", "description", "control"),
    ("nul_in_description", field("WEB", description="x\x00"), "service 'WEB'", "description", "control"),
    ("trailing_newline_in_name", field("WEB", name="WEB\n"), "service 'WEB\\n'", "name", "must match"),
    ("trailing_newline_in_cookie", field("WEB", cookie_name="SRV\n"), "service 'WEB'", "cookie_name",
     "control characters"),
    ("quote_in_check_path", check("WEB", path="/a'b"), "service 'WEB'", "check.path", "is not a URL path"),
    ("env_variable_in_check_path", check("WEB", path="/$HOME"), "service 'WEB'", "check.path", "is not a URL path"),
    ("backwards_status_range", check("WEB", status="399-200"), "service 'WEB'", "check.status", "runs backwards"),
    ("space_in_check_path", check("WEB", path="/a b"), "service 'WEB'", "check.path", "is not a URL path"),
    ("newline_in_route_name", field("WEB", routes=[{"name": "A\n", "path_prefix": "/a", "pool": "vna"}]),
     "service 'WEB'", "routes[0].name", "control characters"),
    ("newline_in_check_script", check("DR", type="external", script="/usr/local/libexec/pacs_lb/x\n"),
     "service 'DR'", "check.script", "control characters"),
    ("script_outside_allowed_dirs", check("DR", type="external", script="/tmp/x.sh"),
     "service 'DR'", "check.script", "outside the allowed check script directories"),
    ("script_escaping_allowed_dir", check("DR", type="external", script="/usr/local/libexec/pacs_lb/../../../tmp/x"),
     "service 'DR'", "check.script", "outside the allowed"),
    ("quote_in_tls_certificate", field("WEB", tls_certificate="/etc/ssl/a'.pem", protocol="https",
                                       persistence="none"), "service 'WEB'", "tls_certificate", "absolute path"),
    ("vertical_tab_in_hl7_message", add(name="HL7", vip=NET + ".100", ports=2575, protocol="hl7", pool="pacs",
                                        check={"type": "hl7", "message": "MSH|^~\\&|A\x0bB"}),
     "service 'HL7'", "check.message", "control characters"),
    ("hl7_message_not_hl7", add(name="HL7", vip=NET + ".100", ports=2575, protocol="hl7", pool="pacs",
                                check={"type": "hl7", "message": "hello"}), "service 'HL7'", "check.message", "MSH|"),
    ("interface_with_newline", instance(interface="eth0\n"), "vrrp instance 'VI_A'", "interface", "control"),
    # strict types and booleans
    ("backup_maybe", host("pacs1", pacs_lb_backup="maybe"), "host 'pacs1'", "pacs_lb_backup", "true or false"),
    ("weight_text", host("pacs1", pacs_lb_weight="heavy"), "host 'pacs1'", "pacs_lb_weight", "whole number"),
    ("failover_text", field("DICOM", failover="sometimes"), "service 'DICOM'", "failover", "true or false"),
    ("list_for_name", field("DICOM", vrrp_instance=["VI_A"]), "service 'DICOM'", "vrrp_instance", "must be text"),
    ("list_for_vip", field("DICOM", vip=[NET + ".100"]), "service 'DICOM'", "vip", "must be text"),
    ("list_for_path", check("WEB", path=["/"]), "service 'WEB'", "check.path", "must be text"),
    ("dict_for_description", field("WEB", description={"a": 1}), "service 'WEB'", "description", "must be text"),
    ("float_port", field("DICOM", server_port=4242.5), "service 'DICOM'", "server_port", "whole number"),
    ("negative_maxconn", field("DICOM", maxconn=-1), "service 'DICOM'", "maxconn", "must be 1-1000000"),
    ("timer_overflow", check("DICOM", interval=99999999999), "service 'DICOM'", "check.interval", "must be 100-"),
    ("zero_fall", check("DICOM", fall=0), "service 'DICOM'", "check.fall", "must be 1-1000"),
    ("persistence_timeout_overflow", field("DICOM", persistence_timeout=10 ** 10), "service 'DICOM'",
     "persistence_timeout", "must be 1-"),
    ("vrid_text", instance(virtual_router_id="fifty"), "vrrp instance 'VI_A'", "virtual_router_id", "whole number"),
    # typos and fields the mode or check would silently ignore
    ("unknown_service_field", field("DICOM", sheduler="leastconn"), "service 'DICOM'", "sheduler", "unknown field"),
    ("unknown_check_field", check("DICOM", intervall=100), "service 'DICOM'", "check.intervall", "unknown field"),
    ("unknown_server_field", field("DICOM", pool=None, servers=[{"address": NET + ".21", "wieght": 5}]),
     "service 'DICOM'", "servers[0].wieght", "unknown field"),
    ("unknown_port_group_field", field("DICOM", ports=None, port_groups=[{"name": "A", "ports": 104, "chek": "none"}]),
     "service 'DICOM'", "port_groups[0].chek", "unknown field"),
    ("unknown_instance_field", instance(priority=100), "vrrp instance 'VI_A'", "priority", "unknown field"),
    ("tls_certificate_on_dr", field("DR", tls_certificate="/etc/ssl/a.pem"), "service 'DR'", "tls_certificate",
     "is not used by mode l4_dr"),
    ("maxconn_on_dr", field("DR", maxconn=100), "service 'DR'", "maxconn", "is not used by mode l4_dr"),
    ("path_on_dicom_check", check("DICOM", path="/"), "service 'DICOM'", "check.path", "is not used by type dicom"),
    ("message_on_keepalived_check", add(name="HL7", vip=NET + ".101", ports=2575, protocol="hl7", mode="l4_nat",
                                        pool="pacs", check={"type": "hl7", "message": "MSH|^~\\&|A"}),
     "service 'HL7'", "check.message", "used only by HAProxy"),
    ("cookie_without_cookie_persistence", field("DICOM", cookie_name="X"), "service 'DICOM'", "cookie_name",
     "only with persistence cookie_source_ip"),
    ("ports_and_port_groups", field("DICOM", port_groups=[{"name": "A", "ports": 105}]), "service 'DICOM'", "ports",
     "either ports or port_groups"),
    # names that collide, silently or after derivation
    ("service_defined_twice", add(name="DICOM", vip=NET + ".102", ports=104, pool="pacs"), "service 'DICOM'", "name",
     "defined twice"),
    ("server_name_twice", field("DICOM", pool=None, servers=[{"name": "a", "address": NET + ".21"},
                                                             {"name": "a", "address": NET + ".22"}]),
     "service 'DICOM'", "server 'a'", "used twice"),
    ("server_address_twice", field("DR", pool=None, servers=[{"name": "a", "address": NET + ".21"},
                                                             {"name": "b", "address": NET + ".21"}]),
     "service 'DR'", "server 'b'", "listed twice"),
    ("route_name_twice", field("WEB", routes=[{"name": "R", "path_prefix": "/a", "pool": "vna"},
                                              {"name": "R", "path_prefix": "/b", "pool": "vna"}]),
     "service 'WEB' route #2", "name", "used twice"),
    ("frontend_name_shared", lambda i: (field("DICOM", ports=None, port_groups=[{"name": "X", "ports": 104}])(i),
                                        add(name="DICOM_X", vip=NET + ".102", ports=104, pool="pacs")(i)),
     "service 'DICOM_X'", "name", "HAProxy section 'fe_DICOM_X' is also made by service 'DICOM'"),
    ("instance_defined_twice", lambda i: i["vrrp_instances"].append(dict(i["vrrp_instances"][0], virtual_router_id=52)),
     "vrrp instance 'VI_A'", "name", "defined twice"),
    # addresses
    ("vrrp_network_slash_0", instance(network="0.0.0.0/0"), "vrrp instance 'VI_A'", "network", "not a VRRP network"),
    ("vrrp_network_text", instance(network="lan"), "vrrp instance 'VI_A'", "network", "CIDR form"),
    ("vip_network_address", field("DR", vip=NET + ".0"), "service 'DR'", "vip", "network address"),
    ("vip_broadcast_address", field("DR", vip=NET + ".255"), "service 'DR'", "vip", "broadcast address"),
    ("vip_is_other_services_server", add(name="OTHER", vip=NET + ".21", ports=104, pool="vna"),
     "service 'OTHER'", "vip", "is the address of server"),
    ("balancers_as_pool", field("DICOM", pool="balancers"), "service 'DICOM'", "server 'lb1'",
     "a balancer cannot be its own real server"),
    ("vip_in_two_instances", lambda i: (i["vrrp_instances"].append(
        {"name": "VI_B", "virtual_router_id": 52, "network": NET + ".0/25"}),
        add(name="B", vip=NET + ".100", ports=105, pool="pacs", vrrp_instance="VI_B")(i)),
     "service 'B'", "vrrp_instance", "already floats in VRRP instance 'VI_A'"),
    ("ipv6_instance_ipv4_balancers", lambda i: (instance(network="fd00:130::/64")(i),
                                                [s.update(vip="fd00:130::100") for s in i["user_services"]],
                                                [s.update(mode="l7") for s in i["user_services"]]),
     "vrrp instance 'VI_A'", "network", "is IPv6 but the balancers' addresses (pacs_lb_address) are IPv4"),
    ("pools_not_a_mapping", lambda i: i.update(pools=["pacs"]), "inventory", "pacs_lb_pools", "must map pool names"),
    ("user_services_not_a_list", lambda i: i.update(user_services={"name": "X"}), "inventory", "pacs_lb_services",
     "must be a list"),
    ("address_with_newline", host("pacs1", pacs_lb_address=NET + ".21\n"), "host 'pacs1'", "pacs_lb_address",
     "control characters"),
]


@pytest.mark.parametrize("change,where,name,text", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_one_line_naming_where_and_field(change, where, name, text):
    problems = problems_of(change)
    assert any(p.startswith("%s: %s: " % (where, name)) and text in p for p in problems), problems
    assert all("\n" not in p for p in problems)
    assert len(problems) <= 4, problems  # the problem and a few of its consequences


def test_all_problems_in_one_run():
    def many(i):
        field("DICOM", maxconn=-1)(i)
        field("WEB", description="a\nb")(i)
        host("pacs2", pacs_lb_backup="perhaps")(i)
        instance(interface="x y")(i)
    problems = problems_of(many)
    assert len(problems) == 4, problems


@pytest.mark.parametrize("word,expected", [("false", False), ("no", False), ("off", False), ("0", False),
                                           ("true", True), ("yes", True), (False, False), (True, True)])
def test_inventory_booleans_are_read_strictly(word, expected):
    inputs = base()
    inputs["hostvars"]["pacs2"]["pacs_lb_backup"] = word
    model = sm.build_model(**inputs)
    assert [s["backup"] for s in model["services"][0]["servers"]] == [False, expected]


@pytest.mark.parametrize("name,value,text", [
    ("haproxy_stats_socket", "ipv4@0.0.0.0:9999", "is not an absolute path"),
    ("haproxy_stats_socket", "/run/haproxy/admin.sock\n", "control characters"),
    ("keepalived_priority", 300, "must be 1-254"),
    ("keepalived_notify_script", "/etc/x.sh; reboot", "is not an absolute path"),
    ("keepalived_notify_script", "/etc/$(reboot)", "is not an absolute path"),
    ("haproxy_port_redirect_table", "t; flush ruleset", "is not an nftables name"),
    ("realserver_linux_nftables_chains", ["inet filter input; flush ruleset"], "'family table chain'"),
    ("realserver_linux_interface", "eth0 up", "is not an interface name"),
    ("haproxy_timeout_client", "1h\n    stats enable", "control characters"),
    ("haproxy_maxcon", 10, "unknown option; did you mean haproxy_maxconn?"),
    ("keepalived_nopreempt", "false-ish", "true or false"),
    ("verify_probe_timeout", -1, "must be 1-3600"),
])
def test_role_option_refused(name, value, text):
    problems = sm.Problems()
    sm.check_role_options({name: value}, "host 'lb1'", problems)
    assert len(problems.items) == 1 and problems.items[0].startswith("host 'lb1': %s" % name), problems.items
    assert text in problems.items[0]


@pytest.mark.parametrize("options,text", [
    ({"keepalived_advert_int": 0.2}, "VRRP version 2 counts whole seconds"),
    ({"keepalived_advert_int": 50, "keepalived_vrrp_version": 3}, "at most 40.95"),
])
def test_advert_interval_fits_the_vrrp_version(options, text):
    problems = sm.Problems()
    sm.check_role_options(options, "host 'lb1'", problems)
    assert len(problems.items) == 1 and text in problems.items[0], problems.items


def test_role_defaults_pass():
    import yaml
    problems = sm.Problems()
    for role in ("haproxy", "keepalived", "realserver_linux", "realserver_windows", "verify"):
        with open(render_local.ROOT + "/roles/%s/defaults/main.yml" % role) as handle:
            sm.check_role_options(yaml.safe_load(handle), "role '%s'" % role, problems)
    assert problems.items == []


# ------------------------------------------------------------- rendered safely


def test_ipv6_vips_get_the_ipv6_nonlocal_bind():
    """The BACKUP balancer binds VIPs it does not hold: HAProxy needs net.ipv6.ip_nonlocal_bind for IPv6 ones."""
    inputs = base()
    assert sm.render_haproxy(sm.build_model(**inputs))["ip_families"] == ["ipv4"]
    inputs["vrrp_instances"][0]["network"] = "fd00:130::/64"
    for name, address in (("lb1", "fd00:130::11"), ("lb2", "fd00:130::12"), ("pacs1", "fd00:130::21"),
                          ("pacs2", "fd00:130::22")):
        inputs["hostvars"][name]["pacs_lb_address"] = address
    for svc in inputs["user_services"]:
        svc["vip"] = "fd00:130::100" if svc["name"] != "DR" else "fd00:130::101"
    assert sm.render_haproxy(sm.build_model(**inputs))["ip_families"] == ["ipv4", "ipv6"]


def test_inputs_are_not_modified():
    inputs = base()
    before = copy.deepcopy(inputs)
    sm.build_model(**inputs)
    assert inputs == before


def test_every_role_option_is_declared_in_the_schema():
    """A new option in a role's argument specs needs its safe set or range in model_schema.ROLE_OPTIONS
    (and the preflight refuses an option name that is in neither)."""
    import yaml
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_schema as schema
    declared = {}
    for role in ("haproxy", "keepalived", "realserver_linux", "realserver_windows", "verify"):
        with open(render_local.ROOT + "/roles/%s/meta/argument_specs.yml" % role) as handle:
            declared.update(yaml.safe_load(handle)["argument_specs"]["main"]["options"])
    for name, spec in declared.items():
        assert name in schema.ROLE_OPTIONS, name
        if spec.get("choices") and spec.get("type") != "list":
            assert list(schema.ROLE_OPTIONS[name]["choices"]) == spec["choices"], name
    playbook_options = {"maintenance_server", "maintenance_phase", "maintenance_drain_timeout", "maintenance_tasks_file"}
    assert set(schema.ROLE_OPTIONS) == set(declared) | playbook_options
