"""The verify role's judgement: every problem named by service, VIP, server, balancer and cause."""
import pytest
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import verify_report as vr
from test_service_model import build, dicom

WEB = {"name": "WEB", "vip": "198.18.10.100", "ports": 80, "server_port": 8042, "mode": "l7", "protocol": "http",
       "pool": "pacs", "check": {"type": "http", "path": "/system", "status": "200"}}
DR = {"name": "DR_DICOM", "vip": "198.18.10.101", "ports": 104, "mode": "l4_dr", "pool": "pacs", "check": "connect"}


def model():
    return build([dicom(), WEB, DR])


def healthy_results():
    return [
        {"ok": True, "status": 0, "status_text": "Success", "timings_ms": {"total": 3.2}},
        {"status": 200, "elapsed": 0},
        {"elapsed": 0, "port": 104, "state": "started"},
    ]


def haproxy(states=None):
    states = states or {}
    servers = []
    for backend in ("be_DICOM", "be_WEB"):
        for name in ("pacs1", "pacs2"):
            state = states.get((backend, name), "UP")
            servers.append({"backend": backend, "name": name, "operational_state": state, "status": state,
                            "check_status": "L7OK" if state == "UP" else "L4CON",
                            "check_desc": "" if state == "UP" else "Connection refused"})
    return {"servers": servers}


def vrrp(state, held=True):
    vips = ["198.18.10.100", "198.18.10.101"]
    return {"instances": [{"name": "VI_PACS", "state": state, "holds_all_vips": held and state == "MASTER",
                           "vips_held": vips if held and state == "MASTER" else [],
                           "vips_missing": [] if held else vips}]}


def report(results=None, hap=None, vr_states=None):
    m = model()
    probes = vr.verify_probes(m)
    return vr.build_report(m, probes, results or healthy_results(),
                           hap or {"lb1": haproxy(), "lb2": haproxy()},
                           vr_states or {"lb1": vrrp("MASTER"), "lb2": vrrp("BACKUP")})


def test_probe_kinds_follow_the_protocol():
    probes = vr.verify_probes(model())
    assert [(p["service"], p["kind"], p["port"]) for p in probes] == [
        ("DICOM", "dicom", 104), ("WEB", "http", 80), ("DR_DICOM", "tcp", 104)]
    assert probes[1]["url"] == "http://198.18.10.100:80/system"


def test_a_health_url_on_another_port_is_not_the_vip_port_s_protocol():
    # GE's EA_Study_Management_Service: HTTPS on 443, judged by HTTP on 80:
    # the client probe connects to 443 (and shakes hands: TLS probe), it does
    # not send plain HTTP there.
    study = {"name": "STUDY", "vip": "198.18.10.102", "ports": 443, "mode": "l4_dr", "protocol": "https",
             "pool": "pacs", "check": {"type": "http", "port": 80, "path": "/"}}
    web_on_check_port = dict(WEB, name="WEB2", vip="198.18.10.103", check={"type": "http", "port": 80, "path": "/"})
    probes = dict((p["service"], p) for p in vr.verify_probes(build([study, web_on_check_port])))
    assert (probes["STUDY"]["kind"], probes["STUDY"]["port"]) == ("tcp", 443)
    assert probes["STUDY"]["tls"] is not None
    # the check's port is the VIP's own port: the check's URL is the probe's
    assert probes["WEB2"]["kind"] == "http" and probes["WEB2"]["url"] == "http://198.18.10.103:80/"


def test_healthy_cluster_passes_with_counts():
    result = report()
    assert result["ok"] and result["problems"] == []
    assert [(r["service"], r["servers_up"], r["servers_total"]) for r in result["services"]] == [
        ("DICOM", 2, 2), ("WEB", 2, 2), ("DR_DICOM", None, None)]


def test_down_server_is_named_with_balancer_and_cause():
    result = report(hap={"lb1": haproxy({("be_DICOM", "pacs1"): "DOWN"}), "lb2": haproxy()})
    assert not result["ok"]
    assert result["problems"] == [
        "service DICOM VIP 198.18.10.100:104 server pacs1 on balancer lb1: DOWN (L4CON: Connection refused)"]
    assert result["services"][0]["servers_up"] == 1


def test_drained_server_is_not_a_problem():
    result = report(hap={"lb1": haproxy({("be_DICOM", "pacs1"): "DRAIN"}), "lb2": haproxy()})
    assert result["ok"]


def test_failed_dicom_probe_names_the_vip():
    results = healthy_results()
    results[0] = {"ok": False, "stage": "connect", "error": "connection refused"}
    result = report(results=results)
    assert result["problems"] == [
        "service DICOM VIP 198.18.10.100:104 (dicom probe from the client side): connection refused"]


def test_wrong_http_status_fails():
    results = healthy_results()
    results[1] = {"status": 503, "elapsed": 0}
    assert report(results=results)["problems"] == [
        "service WEB VIP 198.18.10.100:80 (http probe from the client side): HTTP 503"]


def test_no_master_names_the_instance_and_vips():
    result = report(vr_states={"lb1": vrrp("FAULT", held=False), "lb2": vrrp("FAULT", held=False)})
    assert "VRRP instance VI_PACS (VIPs 198.18.10.100, 198.18.10.101): no balancer is MASTER" in result["problems"]


def test_split_brain_is_reported():
    result = report(vr_states={"lb1": vrrp("MASTER"), "lb2": vrrp("MASTER")})
    assert "VRRP instance VI_PACS (VIPs 198.18.10.100, 198.18.10.101): several MASTERs: lb1, lb2 (split brain)" \
        in result["problems"]


def test_master_without_its_vips():
    result = report(vr_states={"lb1": vrrp("MASTER", held=False), "lb2": vrrp("BACKUP")})
    assert result["problems"] == [
        "VRRP instance VI_PACS: MASTER lb1 does not hold VIP(s) 198.18.10.100, 198.18.10.101"]


def test_unreadable_runtime_api():
    result = report(hap={"lb1": {"failed": True, "msg": "socket missing"}, "lb2": haproxy()})
    assert result["problems"] == ["balancer lb1: HAProxy runtime API not readable: socket missing"]


def test_wide_port_group_is_probed_on_its_checked_port():
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm
    model = sm.build_model([], [{"name": "ALL_PORTS", "vip": "198.18.10.101", "ports": {"all_except": [22]},
                                 "mode": "l4_snat", "protocol": "tcp", "pool": "pacs",
                                 "check": {"type": "connect", "port": 4242}},
                                {"name": "ONE", "vip": "198.18.10.102", "ports": 104, "mode": "l4_snat",
                                 "protocol": "tcp", "pool": "pacs", "check": {"type": "connect", "port": 4242}}],
                           [{"name": "VI", "virtual_router_id": 51, "interface": "eth0", "network": "198.18.10.0/24"}],
                           {}, {"balancers": ["lb1", "lb2"], "pacs": ["pacs1"]},
                           {"lb1": {"pacs_lb_address": "198.18.10.11"}, "lb2": {"pacs_lb_address": "198.18.10.12"},
                            "pacs1": {"pacs_lb_address": "198.18.10.21"}})
    assert [(p["service"], p["port"]) for p in vr.verify_probes(model)] == [("ALL_PORTS", 4242), ("ONE", 104)]


def test_tcp_probe_timeout_is_a_failure_even_when_not_marked_failed():
    probe = {"kind": "tcp"}
    # what wait_for returns on a timeout once the role's failed_when: false has cleared "failed"
    timed_out = {"failed": False, "failed_when_result": False, "elapsed": 11,
                 "msg": "Timeout when waiting for 198.18.10.101:4242"}
    assert vr.probe_outcome(probe, timed_out) == (False, None, "Timeout when waiting for 198.18.10.101:4242")
    assert vr.probe_outcome(probe, {"failed": False, "elapsed": 0, "port": 4242, "state": "started"})[:2] == (True, None)


def test_unreadable_runtime_api_after_failed_when_false():
    # what the role registers: failed_when false cleared "failed", the data is missing
    cleared = {"failed": False, "failed_when_result": False, "msg": "[Errno 2] No such file or directory"}
    result = report(hap={"lb1": cleared, "lb2": haproxy()})
    assert result["problems"] == [
        "balancer lb1: HAProxy runtime API not readable: [Errno 2] No such file or directory"]
    assert result["balancers"]["lb1"]["haproxy"].startswith("not readable")


def test_unreadable_keepalived_state_is_a_problem_not_a_backup():
    cleared = {"failed": False, "failed_when_result": False, "msg": "keepalived is not running"}
    result = report(vr_states={"lb1": vrrp("MASTER"), "lb2": cleared})
    assert result["problems"] == ["balancer lb2: keepalived state not readable: keepalived is not running"]


def test_balancer_without_any_result_is_not_healthy():
    result = report(hap={"lb1": haproxy(), "lb2": {}}, vr_states={"lb1": vrrp("MASTER"), "lb2": {}})
    assert not result["ok"]
    assert result["problems"] == [
        "balancer lb2: HAProxy runtime API not readable: no result (balancer unreachable or failed earlier in the run)",
        "balancer lb2: keepalived state not readable: no result (balancer unreachable or failed earlier in the run)"]


def test_report_carries_every_server_and_vrrp_state():
    result = report(hap={"lb1": haproxy({("be_DICOM", "pacs1"): "DOWN"}), "lb2": haproxy()})
    dicom_row = result["services"][0]
    assert [(s["balancer"], s["name"], s["state"]) for s in dicom_row["servers"]] == [
        ("lb1", "pacs1", "DOWN"), ("lb1", "pacs2", "UP"), ("lb2", "pacs1", "UP"), ("lb2", "pacs2", "UP")]
    assert dicom_row["servers"][0]["check_desc"] == "Connection refused"
    assert result["services"][2]["servers"] == []  # IPVS: not in HAProxy
    assert result["balancers"]["lb1"]["vrrp_instances"] == [
        {"name": "VI_PACS", "state": "MASTER", "vips_held": ["198.18.10.100", "198.18.10.101"], "vips_missing": []}]
    assert result["balancers"]["lb2"]["vrrp_instances"][0]["state"] == "BACKUP"


def test_check_mode_reports_findings_as_unconfirmed():
    results = healthy_results()
    results[1] = {"status": -1, "msg": "Status code was -1: Connection refused"}
    m = model()
    result = vr.build_report(m, vr.verify_probes(m), results, {"lb1": haproxy(), "lb2": haproxy()},
                             {"lb1": vrrp("MASTER"), "lb2": vrrp("BACKUP")}, check_mode=True)
    assert result["check_mode"] and not result["ok"]
    assert result["problems"] == []
    assert result["unconfirmed"] == [
        "service WEB VIP 198.18.10.100:80 (http probe from the client side): Status code was -1: Connection refused"]


def test_batch_results_line_up_with_the_probes_per_cluster():
    probes = vr.verify_probes(model())  # dicom, http, tcp
    (batch,) = vr.probe_batches(model(), probes)
    assert batch["probes"] == probes and batch["cluster"] == probes[0]["cluster"]
    probed = {"results": [{"item": batch, "results": [
        {"result": {"ok": True}, "tls": None}, {"result": {"status": 200}, "tls": {"handshake": True}},
        {"result": {"state": "started"}, "tls": None}]}]}
    results, tls_results = vr.batch_results(probes, probed)
    assert results == [{"ok": True}, {"status": 200}, {"state": "started"}]
    assert tls_results == {}  # none of these probes has TLS


def test_batch_results_when_the_batch_failed_or_never_ran():
    # a failed module run (bad CA text, unreachable delegate) or a task
    # skipped as a whole: every probe shows as not run, none as healthy
    probes = vr.verify_probes(model())
    (batch,) = vr.probe_batches(model(), probes)
    for probed in ({"results": [{"item": batch, "failed": True, "msg": "boom"}]},
                   {"skipped": True, "msg": "skipped, since check mode"}, None, {}):
        results, tls_results = vr.batch_results(probes, probed)
        assert results == [{"skipped": True}] * 3 and tls_results == {}
        assert vr.probe_outcome(probes[0], results[0]) == (False, None, "probe not run")


def test_probe_batches_carry_each_clusters_own_ca():
    one, two = model(), model()
    one["tls_certificates"] = {"site_ca": {"pem": "PEM-ONE"}, "lb_cert": {"pem": None}}
    two["tls_certificates"] = {"site_ca": {"pem": "PEM-TWO"}}
    clusters = {"pacs": dict(one, cluster="pacs"), "vna": dict(two, cluster="vna")}
    probes = vr.verify_probes(clusters)
    batches = vr.probe_batches(clusters, probes)
    assert [(b["cluster"], b["ca_data"], len(b["probes"])) for b in batches] == [
        ("pacs", {"site_ca": "PEM-ONE"}, 3), ("vna", {"site_ca": "PEM-TWO"}, 3)]
    assert [p for b in batches for p in b["probes"]] == probes


IP_VS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C6120A65:0068 rr
  -> C6120A15:0068      Route   100    0          3
  -> C6120A16:0068      Route   100    1          0
TCP  [2001:0db8:0000:0000:0000:0000:0000:0100]:0050 wlc persistent 300 FFFFFFFF
  -> [2001:0db8:0000:0000:0000:0000:0000:0021]:1F72      Masq    1      0          0
FWM  00000001 wlc
"""
# The kernel pads the fields with spaces, at the ends of lines too.
IP_VS_PADDED = "".join(line + "   \n" for line in IP_VS.splitlines())


def test_the_kernel_ipvs_table_is_read_as_keepalived_left_it():
    from ansible_collections.medimaging.pacs_lb.plugins.module_utils import ipvs_state
    dr, v6, fwm = ipvs_state.parse_ip_vs(IP_VS_PADDED)
    assert (dr["protocol"], dr["vip"], dr["port"], dr["scheduler"], dr["persistent"]) == (
        "TCP", "198.18.10.101", 104, "rr", None)
    assert dr["servers"] == [
        {"address": "198.18.10.21", "port": 104, "forward": "Route", "weight": 100, "active": 0, "inactive": 3},
        {"address": "198.18.10.22", "port": 104, "forward": "Route", "weight": 100, "active": 1, "inactive": 0}]
    assert (v6["vip"], v6["port"], v6["persistent"]) == ("2001:db8::100", 80, 300)
    assert v6["servers"][0]["address"] == "2001:db8::21" and v6["servers"][0]["port"] == 8050
    assert (fwm["fwmark"], fwm["vip"], fwm["servers"]) == (1, None, [])
    assert ipvs_state.read_ipvs("/nonexistent/ip_vs") == {"loaded": False, "virtual_servers": []}
    with pytest.raises(ValueError):
        ipvs_state.parse_ip_vs("  -> C6120A15:0068      Route   100    0          3\n")


def ipvs_table(servers=("198.18.10.21", "198.18.10.22"), weight=100, vip="198.18.10.101"):
    return {"loaded": True, "virtual_servers": [
        {"protocol": "TCP", "vip": vip, "port": 104, "scheduler": "rr", "persistent": None,
         "servers": [{"address": a, "port": 104, "forward": "Route", "weight": weight, "active": 0, "inactive": 0}
                     for a in servers]}]}


def ipvs_report(tables):
    m = model()
    return vr.build_report(m, vr.verify_probes(m), healthy_results(), {"lb1": haproxy(), "lb2": haproxy()},
                           {"lb1": vrrp("MASTER"), "lb2": vrrp("BACKUP")}, ipvs=tables)


def test_layer4_servers_are_judged_from_each_balancers_ipvs_table():
    result = ipvs_report({"lb1": ipvs_table(), "lb2": ipvs_table()})
    assert result["ok"] and result["warnings"] == []
    dr = result["services"][2]
    assert (dr["service"], dr["servers_up"], dr["servers_total"]) == ("DR_DICOM", 2, 2)
    assert sorted((s["balancer"], s["name"], s["state"]) for s in dr["servers"]) == [
        ("lb1", "pacs1", "UP"), ("lb1", "pacs2", "UP"), ("lb2", "pacs1", "UP"), ("lb2", "pacs2", "UP")]
    assert result["balancers"]["lb1"]["ipvs"] == "read"

    # keepalived removed pacs2 on lb2: the VIP still answers, with less
    result = ipvs_report({"lb1": ipvs_table(), "lb2": ipvs_table(servers=("198.18.10.21",))})
    assert result["ok"] and result["services"][2]["servers_up"] == 1
    assert result["warnings"] == ["service DR_DICOM VIP 198.18.10.101:104 server pacs2 on balancer lb2: "
                                  "not in the IPVS table (its check fails)"]


def test_an_empty_or_missing_ipvs_virtual_server_is_a_problem():
    result = ipvs_report({"lb1": ipvs_table(servers=()), "lb2": ipvs_table(weight=0)})
    assert not result["ok"]
    assert result["problems"] == [
        "service DR_DICOM VIP 198.18.10.101:104: the IPVS virtual server on balancer lb1 has no real server",
        "service DR_DICOM VIP 198.18.10.101:104: the IPVS virtual server on balancer lb2 has no real server"]
    result = ipvs_report({"lb1": ipvs_table(vip="198.18.10.99"), "lb2": {"loaded": False, "virtual_servers": []}})
    assert result["problems"] == [
        "service DR_DICOM VIP 198.18.10.101:104: no IPVS virtual server on balancer lb1",
        "balancer lb2: IPVS table not readable: the ip_vs module is not loaded"]
    result = ipvs_report({"lb1": ipvs_table(), "lb2": {"failed": True, "msg": "/proc/net/ip_vs: bad line"}})
    assert result["problems"] == ["balancer lb2: IPVS table not readable: /proc/net/ip_vs: bad line"]


def test_a_cluster_without_layer4_services_does_not_read_ipvs():
    m = build([dicom(), WEB])
    probes = vr.verify_probes(m)
    result = vr.build_report(m, probes, healthy_results()[:2], {"lb1": haproxy()}, {"lb1": vrrp("MASTER")},
                             ipvs={"lb1": {"loaded": False, "virtual_servers": []}})
    assert result["ok"] and "ipvs" not in result["balancers"]["lb1"]
