"""Normalization and rendering of the service model (no hosts, no Ansible)."""
import os

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_facts, verify_report

import render_local

from site_model import GROUPS, HOSTVARS, INSTANCES, build, dicom

ROOT = render_local.ROOT


@pytest.mark.parametrize("spec,expected", [
    (104, [(104, 104)]),
    ("80,443,514,2104,22104,32338", [(80, 80), (443, 443), (514, 514), (2104, 2104), (22104, 22104), (32338, 32338)]),
    (["4000-4010", 4005, "4011"], [(4000, 4011)]),
    ({"all_except": [20000]}, [(1, 19999), (20001, 65535)]),
    ("9096, 3443", [(3443, 3443), (9096, 9096)]),
])
def test_parse_ports(spec, expected):
    assert sm.parse_ports(spec) == expected


@pytest.mark.parametrize("spec", [0, 65536, "80-79", "abc", "", [], {"only": [1]}, True])
def test_parse_ports_rejects(spec):
    with pytest.raises((ValueError, TypeError)):
        sm.parse_ports(spec)


def test_profile_entry_is_updated_by_user_entry():
    profile = [dict(dicom(), vip=None)]
    model = build([{"name": "DICOM", "vip": "198.18.10.101"}], profile=profile)
    assert [s["vip"] for s in model["services"]] == ["198.18.10.101"]
    assert model["vrrp_instances"][0]["vips"] == ["198.18.10.101"]


def test_disabled_profile_service_is_dropped():
    model = build([dicom(), dicom(name="OTHER", ports=105, enabled=False)])
    assert [s["name"] for s in model["services"]] == ["DICOM"]


def test_servers_from_inventory_group_with_weights():
    servers = build([dicom()])["services"][0]["servers"]
    assert [(s["name"], s["address"], s["weight"], s["backup"]) for s in servers] == [
        ("pacs1", "198.18.10.21", 100, False), ("pacs2", "198.18.10.22", 100, False)]


def test_failover_makes_all_but_first_server_backup():
    servers = build([dicom(failover=True)])["services"][0]["servers"]
    assert [s["backup"] for s in servers] == [False, True]
    lines = sm.render_haproxy(build([dicom(failover=True)]))["backends"][0]["servers"]
    assert lines[0].endswith("weight 100") and lines[1].endswith("weight 100 backup")


def test_dicom_check_lines_use_the_shared_association_bytes():
    from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu
    backend = sm.render_haproxy(build([dicom()]))["backends"][0]
    hex_rq = dicom_pdu.check_rq("ORTHANC", "LBCHECK").hex()
    assert backend["lines"][1:3] == ["option tcp-check", "tcp-check connect"]
    assert any(hex_rq in line for line in backend["lines"])
    assert backend["servers"] == ["server pacs1 198.18.10.21:4242 check weight 100",
                                  "server pacs2 198.18.10.22:4242 check weight 100"]


def test_multi_port_same_port_servers_check_first_port():
    model = build([{"name": "CLIENT_VIP", "vip": "198.18.10.100", "ports": "80,443,514", "mode": "l7",
                    "persistence": "source_ip", "pool": "pacs"}])
    sections = sm.render_haproxy(model)
    assert sections["frontends"][0]["binds"] == ["198.18.10.100:80,198.18.10.100:443,198.18.10.100:514"]
    assert sections["backends"][0]["servers"][0] == "server pacs1 198.18.10.21 check port 80 weight 100"
    assert "stick on src" in sections["backends"][0]["lines"]


def test_last_successful_is_one_shared_replicated_entry():
    model = build([dicom(persistence="last_successful")])
    lines = sm.render_haproxy(model)["backends"][0]["lines"]
    assert "stick-table type integer size 1 expire 7d peers pacs_lb" in lines
    assert "stick on int(1)" in lines


def test_cookie_with_source_ip_fallback():
    model = build([{"name": "WEB", "vip": "198.18.10.100", "ports": 80, "mode": "l7", "protocol": "http",
                    "persistence": "cookie_source_ip", "pool": "pacs", "check": {"type": "http_head"}}])
    backend = sm.render_haproxy(model)["backends"][0]
    assert backend["mode"] == "http"
    assert "cookie PACSLB insert indirect nocache" in backend["lines"]
    assert "stick on src" in backend["lines"]
    assert "http-check send meth HEAD uri / ver HTTP/1.1 hdr Host 198.18.10.100" in backend["lines"]
    assert backend["servers"][0].endswith("cookie pacs1")


def test_ae_title_routes_inspect_the_association_request():
    model = build([dicom(routes=[{"name": "EMERGENCY", "calling_ae": "CT_EMERG", "pool": "emergency",
                                  "scheduler": "leastconn"}])])
    sections = sm.render_haproxy(model)
    fe = sections["frontends"][0]
    assert "tcp-request content accept if { req.len ge 42 }" in fe["lines"]
    assert "acl route_EMERGENCY req.payload(26,16) -m bin " + b"CT_EMERG".ljust(16).hex().upper() in fe["lines"]
    assert fe["use_backends"] == [{"backend": "be_DICOM_EMERGENCY", "acl": "route_EMERGENCY"}]
    emergency = [b for b in sections["backends"] if b["name"] == "be_DICOM_EMERGENCY"][0]
    assert emergency["lines"][0] == "balance leastconn"
    assert emergency["servers"] == ["server pacs3 198.18.10.23:4242 check weight 50"]


def test_http_path_route_with_server_tls():
    model = build([{"name": "PORTAL", "vip": "198.18.10.100", "ports": 80, "mode": "l7", "protocol": "http",
                    "pool": "pacs", "routes": [{"name": "CHAT", "path_prefix": "/chat", "pool": "emergency",
                                                "server_port": 443, "server_tls": True,
                                                "check": {"type": "https", "path": "/health"}}],
                    "server_ca": "/etc/ssl/certs/site-ca.pem", "server_name": "chat.example.org"}])
    sections = sm.render_haproxy(model)
    assert "acl route_CHAT path_beg /chat" in sections["frontends"][0]["lines"]
    chat = [b for b in sections["backends"] if b["name"] == "be_PORTAL_CHAT"][0]
    assert chat["servers"] == ["server pacs3 198.18.10.23:443 check check-sni chat.example.org ssl verify required "
                               "ca-file /etc/ssl/certs/site-ca.pem verifyhost chat.example.org "
                               "sni str(chat.example.org) weight 50"]


def test_port_groups_each_get_their_own_check():
    model = build([{"name": "Dakota", "vip": "198.18.10.100", "mode": "l7", "protocol": "tcp", "pool": "pacs",
                    "port_groups": [{"name": "SP1", "ports": 8080, "check": "connect"},
                                    {"name": "SP2", "ports": 8443, "check": "https"}], "server_verify": False}])
    sections = sm.render_haproxy(model)
    assert [f["name"] for f in sections["frontends"]] == ["fe_Dakota_SP1", "fe_Dakota_SP2"]
    sp2 = sections["backends"][1]
    assert "option httpchk" in sp2["lines"] and "check-ssl verify none" in sp2["servers"][0]


def test_icmp_check_uses_the_external_script():
    model = build([{"name": "DB_DBVIP", "vip": "198.18.10.100", "ports": 20000, "mode": "l4_snat",
                    "pool": "pacs", "check": "icmp"}])
    sections = sm.render_haproxy(model)
    assert sections["needs_external_check"] and sections["needs_icmp_check"]
    assert "external-check command /usr/local/libexec/pacs_lb/check_icmp" in sections["backends"][0]["lines"]


def test_external_check_script_is_given_the_server_port():
    # HAProxy passes an external check the server line's port, never the check
    # port: a one-port service names its port there, or the script gets 0.
    check = {"type": "external", "script": "/usr/local/libexec/pacs_lb/check_portal"}
    model = build([{"name": "PORTAL", "vip": "198.18.10.100", "ports": 80, "mode": "l7", "protocol": "http",
                    "pool": "pacs", "check": check},
                   {"name": "CLIENT", "vip": "198.18.10.101", "ports": "80,443", "mode": "l7", "pool": "pacs",
                    "check": check}])
    sections = sm.render_haproxy(model)
    # a user's script, not ping: no ICMP echo sockets for HAProxy's group
    assert sections["needs_external_check"] and not sections["needs_icmp_check"]
    portal, client = sections["backends"]
    assert all(" %s:80 check" % srv.split()[2].split(":")[0] in srv for srv in portal["servers"]), portal["servers"]
    # Several ports keep "the port the client dialled": no port on the server line.
    assert all(srv.split()[2].count(":") == 0 for srv in client["servers"]), client["servers"]


def test_ipvs_virtual_servers_for_dr():
    model = build([{"name": "EA_Dicom_Service", "vip": "198.18.10.100", "ports": "104,2762", "mode": "l4_dr",
                    "scheduler": "weighted_leastconn", "persistence": "source_ip", "persistence_timeout": 3600,
                    "pool": "pacs", "check": {"type": "http", "port": 80, "path": "/health"}}])
    blocks = sm.render_keepalived_virtual_servers(model)
    assert [(b["vip"], b["port"], b["lb_kind"], b["lb_algo"], b["persistence_timeout"]) for b in blocks] == [
        ("198.18.10.100", 104, "DR", "wlc", 3600), ("198.18.10.100", 2762, "DR", "wlc", 3600)]
    real = blocks[0]["real_servers"][0]
    assert (real["address"], real["port"], real["check"]["kind"]) == ("198.18.10.21", 104, "HTTP_GET")
    assert "connect_port 80" in real["check"]["lines"]
    assert sm.render_haproxy(model)["frontends"] == []


def test_every_problem_is_reported_at_once():
    with pytest.raises(sm.ModelError) as err:
        build([dicom(mode="l4_dr"), {"name": "BAD", "vip": "198.18.99.1", "ports": 0, "pool": "nothing"}])
    problems = err.value.problems
    assert any(p.startswith("service 'DICOM': server_port:") for p in problems)
    assert any(p.startswith("service 'BAD': vip:") for p in problems)
    assert any(p.startswith("service 'BAD': ports:") for p in problems)
    assert any(p.startswith("service 'BAD': pool:") for p in problems)


def test_failover_in_ipvs_uses_fo_with_falling_weights():
    model = build([{"name": "DR_FAILOVER", "vip": "198.18.10.100", "ports": 104, "mode": "l4_dr",
                    "failover": True, "pool": "pacs", "check": "connect"}])
    block = sm.render_keepalived_virtual_servers(model)[0]
    assert block["lb_algo"] == "fo"
    assert [r["weight"] for r in block["real_servers"]] == [256, 255]


def test_all_except_needs_an_explicit_check_port():
    svc = {"name": "DB_MT", "vip": "198.18.10.100", "ports": {"all_except": [20000]}, "mode": "l4_snat",
           "pool": "pacs", "check": "connect"}
    with pytest.raises(sm.ModelError) as err:
        build([svc])
    assert err.value.problems == ["service 'DB_MT': check.port: a service on 'all ports except' needs check.port: "
                                  "which port proves the server is up?"]
    build([dict(svc, check={"type": "connect", "port": 1521})])


# ------------------------------------------------------- server failure, quoting, wide port groups

def test_sessions_kept_on_down_by_default_and_cut_on_request():
    model = build([dicom()])
    (default_server,) = [l for l in sm.render_haproxy(model)["backends"][0]["lines"] if l.startswith("default-server")]
    assert default_server == "default-server inter 2000ms fall 3 rise 2"
    lines = sm.render_haproxy(model, "shutdown_sessions")["backends"][0]["lines"]
    assert "default-server inter 2000ms fall 3 rise 2 on-marked-down shutdown-sessions" in lines
    with pytest.raises(ValueError, match="haproxy_on_server_down: 'cut' is not one of keep_sessions, shutdown_sessions"):
        sm.render_haproxy(model, "cut")


def all_but_22(**extra):
    svc = {"name": "ALL_PORTS", "vip": "198.18.10.101", "ports": {"all_except": [22]}, "mode": "l4_snat",
           "protocol": "tcp", "pool": "pacs", "check": {"type": "connect", "port": 4242}}
    svc.update(extra)
    return svc


def test_wide_port_group_binds_one_port_and_redirects_the_rest():
    sections = sm.render_haproxy(build([all_but_22(), dicom()]))
    assert sections["frontends"][0]["binds"] == ["198.18.10.101:1"]
    assert sections["port_redirects"] == [{
        "frontend": "fe_ALL_PORTS", "vip": "198.18.10.101", "family": "ip", "to": "198.18.10.101:1",
        "listen_port": 1, "ports": "2-21,23-65535"}]
    # same-port servers: HAProxy connects to the port the client dialled
    assert sections["backends"][0]["servers"][0] == "server pacs1 198.18.10.21 check port 4242 weight 100"
    assert sections["server_addresses"] == ["198.18.10.21", "198.18.10.22"]


def test_port_groups_up_to_the_bind_limit_are_bound_port_by_port():
    limit = sm.HAPROXY_MAX_BIND_PORTS
    sections = sm.render_haproxy(build([all_but_22(ports="1000-%d" % (999 + limit))]))
    assert sections["frontends"][0]["binds"] == ["198.18.10.101:1000-%d" % (999 + limit)]
    assert sections["port_redirects"] == []
    sections = sm.render_haproxy(build([all_but_22(ports="1000-%d" % (1000 + limit))]))
    assert sections["frontends"][0]["binds"] == ["198.18.10.101:1000"]
    assert sections["port_redirects"][0]["ports"] == "1001-%d" % (1000 + limit)


def test_wide_port_group_on_ipv6_redirects_with_brackets():
    hostvars = dict(HOSTVARS, pacs1={"pacs_lb_address": "2001:db8::21"}, pacs2={"pacs_lb_address": "2001:db8::22"})
    instances = [dict(INSTANCES[0], network="2001:db8::/64")]
    model = sm.build_model([], [all_but_22(vip="2001:db8::101")], instances, {}, GROUPS,
                           dict(hostvars, lb1={"pacs_lb_address": "2001:db8::11"}, lb2={"pacs_lb_address": "2001:db8::12"}))
    (redirect,) = sm.render_haproxy(model)["port_redirects"]
    assert (redirect["family"], redirect["to"]) == ("ip6", "[2001:db8::101]:1")


def test_ipvs_connection_sync_follows_the_instance_of_the_ipvs_services():
    dr = dicom(name="DR", mode="l4_dr", vip="198.18.10.101", server_port=None, check="connect")
    assert build([dicom()])["ipvs_sync_instance"] is None
    assert build([dicom(), dr])["ipvs_sync_instance"] == {"name": "VI_PACS", "interface": "eth0", "virtual_router_id": 51}
    single = sm.build_model([], [dr], INSTANCES, {}, dict(GROUPS, balancers=["lb1"]), HOSTVARS)
    assert single["ipvs_sync_instance"] is None


# ------------------------------------------------------- Layer 4 NAT: the floating gateway

def nat(**extra):
    svc = {"name": "NAT_DICOM", "vip": "198.18.10.104", "ports": 11112, "server_port": 104, "mode": "l4_nat",
           "protocol": "dicom", "pool": "pacs", "check": "connect"}
    svc.update(extra)
    return svc


def with_gateway(gateway, **extra):
    return [dict(INSTANCES[0], nat_gateway=gateway, **extra)]


def test_nat_gateway_floats_with_the_vips_and_forwarding_is_asked_for():
    model = sm.build_model([], [nat(), dicom()], with_gateway("198.18.10.99"), {}, GROUPS, HOSTVARS)
    (instance,) = model["vrrp_instances"]
    assert instance["nat_gateway"] == "198.18.10.99"
    assert instance["vips"] == ["198.18.10.104", "198.18.10.100", "198.18.10.99"]
    services = {s["name"]: s for s in model["services"]}
    assert services["NAT_DICOM"]["nat_gateway"] == "198.18.10.99"
    assert services["DICOM"]["nat_gateway"] is None
    assert model["ipvs_nat_interfaces"] == ["eth0"]
    (block,) = sm.render_keepalived_virtual_servers(model)
    assert (block["lb_kind"], block["port"], [r["port"] for r in block["real_servers"]]) == ("NAT", 11112, [104, 104])


def test_without_nat_no_forwarding_is_asked_for():
    model = build([dicom()])
    assert model["ipvs_nat_interfaces"] == []
    assert model["vrrp_instances"][0]["nat_gateway"] is None


def test_nat_without_a_gateway_is_refused_with_what_to_set():
    with pytest.raises(sm.ModelError) as err:
        build([nat()])
    assert err.value.problems == [
        "service 'NAT_DICOM': vrrp_instance: Layer 4 NAT needs nat_gateway on VRRP instance 'VI_PACS': a free address "
        "of 198.18.10.0/24 that floats with the VIPs and that the real servers route replies through"]


OUTSIDE = ("vrrp instance 'VI_PACS': nat_gateway: 198.18.11.1 is outside the instance's network 198.18.10.0/24: the "
           "real servers must reach their gateway on their own link")


@pytest.mark.parametrize("gateway,services,problem", [
    ("198.18.11.1", [nat()], OUTSIDE),
    ("198.18.10.255", [nat()], "vrrp instance 'VI_PACS': nat_gateway: 198.18.10.255 is the broadcast address of "
     "198.18.10.0/24"),
    ("gateway", [nat()], "vrrp instance 'VI_PACS': nat_gateway: 'gateway' is not an IP address"),
    ("198.18.10.11", [nat()], "vrrp instance 'VI_PACS': nat_gateway: 198.18.10.11 is the address of balancer 'lb1'"),
    ("198.18.10.21", [nat()], "vrrp instance 'VI_PACS': nat_gateway: 198.18.10.21 is the address of server 'pacs1' "
     "of service 'NAT_DICOM'"),
    ("198.18.10.104", [nat()], "vrrp instance 'VI_PACS': nat_gateway: 198.18.10.104 is also a VIP; the gateway "
     "needs an address of its own"),
])
def test_bad_nat_gateways(gateway, services, problem):
    with pytest.raises(sm.ModelError) as err:
        sm.build_model([], services, with_gateway(gateway), {}, GROUPS, HOSTVARS)
    assert problem in err.value.problems


def test_nat_real_servers_must_be_on_the_gateways_network():
    far = dict(HOSTVARS, pacs2={"pacs_lb_address": "198.18.12.22"})
    with pytest.raises(sm.ModelError) as err:
        sm.build_model([], [nat()], with_gateway("198.18.10.99"), {}, GROUPS, far)
    assert err.value.problems == [
        "service 'NAT_DICOM': server 'pacs2': Layer 4 NAT needs real servers on the balancer's network "
        "198.18.10.0/24 (they reach nat_gateway on their own link)"]


def test_ipvs_service_with_every_server_at_weight_0_is_refused():
    drained = dict(HOSTVARS, pacs1={"pacs_lb_address": "198.18.10.21", "pacs_lb_weight": 0},
                   pacs2={"pacs_lb_address": "198.18.10.22", "pacs_lb_weight": 0})
    svc = {"name": "DR", "vip": "198.18.10.100", "ports": 104, "mode": "l4_dr", "pool": "pacs", "check": "connect"}
    with pytest.raises(sm.ModelError) as err:
        sm.build_model([], [svc], INSTANCES, {}, GROUPS, drained)
    assert err.value.problems == ["service 'DR': servers: every real server has weight 0, so IPVS could send nothing "
                                  "and keepalived refuses the virtual server; give at least one a weight "
                                  "(pacs_lb_weight 1-256)"]
    # Failover sets falling weights of its own; HAProxy takes weight 0 servers as drained.
    sm.build_model([], [dict(svc, failover=True)], INSTANCES, {}, GROUPS, drained)
    sm.build_model([], [dict(svc, mode="l7")], INSTANCES, {}, GROUPS, drained)


def test_the_model_carries_every_derived_fact_once():
    """Names, address forms, the HTTP rule, probes, VRRP priority and peers are
    the model's; the renderers and verify read them (a changed fact shows
    through, nothing derives it again)."""
    model = build([dicom(routes=[{"name": "EMERGENCY", "calling_ae": "CT_EMERG", "pool": "emergency"}]),
                   {"name": "WEB", "vip": "198.18.10.101", "ports": 443, "mode": "l7", "protocol": "https",
                    "pool": "pacs", "tls_certificate": "/etc/haproxy/site.pem"},
                   dicom(name="DR", mode="l4_dr", vip="198.18.10.102", server_port=None, check="connect")])
    dicom_svc, web, dr = model["services"]
    (group,) = dicom_svc["port_groups"]
    assert (group["frontend"], group["backend"], group["route_backends"], group["address"]) == (
        "fe_DICOM", "be_DICOM", ["be_DICOM_EMERGENCY"], "198.18.10.100")
    assert (dicom_svc["http"], web["http"], dr["http"]) == (False, True, False)
    assert dr["port_groups"][0]["frontend"] is None and dr["port_groups"][0]["backend"] is None
    assert [s["host"] for s in dicom_svc["servers"]] == ["198.18.10.21", "198.18.10.22"]
    assert group["probe"]["kind"] == "dicom" and group["probe"]["called_ae"] == "ORTHANC"
    assert web["port_groups"][0]["probe"]["url"] == "https://198.18.10.101:443/"
    assert [(b["name"], b["priority"], b["peers"]) for b in model["balancers"]] == [
        ("lb1", 150, ["198.18.10.12"]), ("lb2", 140, ["198.18.10.11"])]

    group["frontend"], group["backend"] = "fe_X", "be_X"
    dicom_svc["servers"][0]["host"] = "198.18.10.99"
    model["balancers"][0].update(priority=77, peers=["198.18.10.98"])
    sections = sm.render_haproxy(model)
    assert sections["frontends"][0]["name"] == "fe_X" and sections["frontends"][0]["default_backend"] == "be_X"
    assert sections["backends"][0]["servers"][0].startswith("server pacs1 198.18.10.99:4242 ")
    group["probe"]["url"] = "http://probe.example/"
    assert [p["url"] for p in verify_report.verify_probes(model)][0] == "http://probe.example/"
    keepalived = render_local.render(model, "lb1")["keepalived.conf"]
    assert "    priority 77\n" in keepalived and "        198.18.10.98\n" in keepalived


def test_the_model_carries_where_the_roles_install_the_tools():
    """haproxy.cfg and keepalived.conf name the collection's programs where the
    model says the roles install them, and each is a file a role ships."""
    model = build([dicom(name="DR", mode="l4_dr", vip="198.18.10.102", server_port=None),
                   dicom(name="PING", vip="198.18.10.103", check="icmp")])
    shipped = set(os.listdir(os.path.join(ROOT, "roles", "haproxy", "files"))
                  + os.listdir(os.path.join(ROOT, "roles", "keepalived", "files")))
    for key in ("check_script", "check_icmp", "check_pem", "route_quickack"):
        assert os.path.dirname(model["paths"][key]) == model["paths"]["tools_dir"]
        assert os.path.basename(model["paths"][key]) in shipped, key
    model["paths"].update(check_script="/opt/x/check.py", check_icmp="/opt/x/icmp")
    (dr,) = sm.render_keepalived_virtual_servers(model)
    assert dr["real_servers"][0]["check"]["lines"][0].startswith('misc_path "/usr/bin/python3 -I -S /opt/x/check.py dicom ')
    assert "external-check command /opt/x/icmp" in sm.render_haproxy(model)["backends"][0]["lines"]


def test_one_rule_gives_the_port_a_server_is_reached_on():
    """route, then port group, then the server's own port, then the VIP port
    (None in HAProxy: it keeps the destination port)."""
    group, srv = {"server_port": None}, {"port": None}
    assert model_facts.server_port(srv, group) is None
    assert model_facts.server_port(srv, group, vip_port=104) == 104
    assert model_facts.server_port({"port": 4242}, group, vip_port=104) == 4242
    assert model_facts.server_port({"port": 4242}, {"server_port": 11112}, vip_port=104) == 11112
    assert model_facts.server_port({"port": 4242}, {"server_port": 11112}, {"server_port": 5678}, 104) == 5678


def test_ipv6_addresses_are_bracketed_in_the_model():
    hostvars = dict(HOSTVARS, pacs1={"pacs_lb_address": "2001:db8::21"}, pacs2={"pacs_lb_address": "2001:db8::22"},
                    lb1={"pacs_lb_address": "2001:db8::11"}, lb2={"pacs_lb_address": "2001:db8::12"})
    model = sm.build_model([], [dicom(vip="2001:db8::100", server_port=None)],
                           [dict(INSTANCES[0], network="2001:db8::/64")], {}, GROUPS, hostvars)
    (svc,) = model["services"]
    assert svc["port_groups"][0]["address"] == "[2001:db8::100]"
    assert svc["servers"][0]["host"] == "[2001:db8::21]"
    assert sm.render_haproxy(model)["frontends"][0]["binds"] == ["[2001:db8::100]:104"]


def test_every_ipvs_checker_counts_fall_like_haproxy():
    """A real server leaves IPVS after fall failed checks one interval apart,
    as in HAProxy: keepalived's defaults retry one second after a failure
    (a balancer busy for seconds emptied a virtual server) and give a script
    check no retry at all ("retry disabled")."""
    def dr(name, vip, check):
        return dicom(name=name, mode="l4_dr", vip=vip, server_port=None, check=check)
    model = build([dr("DICOM", "198.18.10.101", {"type": "dicom", "called_ae": "ORTHANC", "fall": 4,
                                                 "interval": 5000, "timeout": 4000}),
                   dr("EXT", "198.18.10.102", {"type": "external", "script": "/usr/local/libexec/pacs_lb/check_portal"}),
                   dr("TCP", "198.18.10.103", {"type": "connect", "fall": 2, "interval": 3000}),
                   dr("PING", "198.18.10.104", {"type": "icmp", "fall": 5, "interval": 2500}),
                   dict(dr("WEB", "198.18.10.105", {"type": "http", "path": "/", "interval": 500}), protocol="http")])
    blocks = dict((b["service"], b) for b in sm.render_keepalived_virtual_servers(model))
    for service, kind, retry, delay in (("DICOM", "MISC_CHECK", 3, 5), ("EXT", "MISC_CHECK", 2, 2),
                                        ("TCP", "TCP_CHECK", 1, 3), ("PING", "PING_CHECK", 4, 2),
                                        ("WEB", "HTTP_GET", 2, 1)):
        check = blocks[service]["real_servers"][0]["check"]
        assert check["kind"] == kind, check
        assert "retry %d" % retry in check["lines"] and "delay_before_retry %d" % delay in check["lines"], check
