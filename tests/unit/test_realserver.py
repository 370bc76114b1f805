"""Real-server side of Layer 4 DR: VIPs per host and the plans of the realserver roles (no hosts, no Ansible)."""
import json
import re

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.filter import realserver as rs_filter
from ansible_collections.medimaging.pacs_lb.plugins.module_utils import realserver_plan as rp
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import realserver as rs
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

from realserver_site import GROUPS, HOSTVARS, INSTANCES, SERVICES


@pytest.fixture(scope="module")
def model():
    return sm.build_model([], SERVICES, INSTANCES, {}, GROUPS, HOSTVARS)


def vips_of(entries):
    return [(e["vip"], e["port_spec"], e["services"]) for e in entries]


def test_vips_of_a_pool_member_merge_ports_per_vip(model):
    assert vips_of(rs.dr_vips_for_host(model, "rs1")) == [
        ("198.18.30.100", "104,2762,4000-4010", ["DR_DICOM", "DR_DICOM_TLS"]),
        ("198.18.30.101", "8042", ["DR_WEB"]),
    ]


def test_entry_fields(model):
    entry = rs.dr_vips_for_host(model, "rs1")[0]
    assert entry == {"vip": "198.18.30.100", "version": 4, "prefixlen": 32, "services": ["DR_DICOM", "DR_DICOM_TLS"],
                     "ports": [[104, 104], [2762, 2762], [4000, 4010]], "port_spec": "104,2762,4000-4010",
                     "server_address": "198.18.30.21"}


def test_port_groups_with_their_own_vip_and_numeric_order(model):
    # 198.18.30.9 sorts before .100 as an address, not as text.
    assert vips_of(rs.dr_vips_for_host(model, "rs2")) == [
        ("198.18.30.9", "11112", ["DR_ARCHIVE"]),
        ("198.18.30.100", "104,2762,4000-4010", ["DR_DICOM", "DR_DICOM_TLS"]),
        ("198.18.30.101", "8042", ["DR_WEB"]),
        ("198.18.30.102", "11113", ["DR_ARCHIVE"]),
    ]


def test_nat_l7_and_other_pools_are_not_dr_vips(model):
    assert rs.dr_vips_for_host(model, "web1") == []
    assert rs.dr_vips_for_host(model, "lb1") == []
    assert rs.dr_vips_for_host(model, "nobody") == []
    assert rs.dr_vips_for_host({}, "rs1") == []


def test_explicit_server_lists_match_by_address(model):
    assert "198.18.30.105" not in [e["vip"] for e in rs.dr_vips_for_host(model, "rs1")]
    with_address = rs.dr_vips_for_host(model, "rs1", ["198.18.30.21", "", None])
    assert [e["vip"] for e in with_address] == ["198.18.30.100", "198.18.30.101", "198.18.30.105"]
    assert with_address[-1]["services"] == ["LISTED"]
    assert [e["vip"] for e in rs.dr_vips_for_host(model, "pacs-b")] == ["198.18.30.105"]


def test_ipv6_vip_is_reported_as_such():
    instances = [{"name": "V6", "virtual_router_id": 60, "interface": "eth0", "network": "2001:db8::/64"}]
    hostvars = {"lb1": {"pacs_lb_address": "2001:db8::11"}, "rs1": {"pacs_lb_address": "2001:db8::21"}}
    model = sm.build_model([], [{"name": "V6", "vip": "2001:db8::100", "ports": 104, "mode": "l4_dr",
                                 "pool": "p"}], instances, {}, {"balancers": ["lb1"], "p": ["rs1"]}, hostvars)
    (entry,) = rs.dr_vips_for_host(model, "rs1")
    assert (entry["version"], entry["prefixlen"]) == (6, 128)


def test_dr_pool_members(model):
    assert rs.dr_pool_members(model) == ["pacs-a", "pacs-b", "rs1", "rs2"]


def test_sysctls_for_a_plain_interface():
    assert rp.dr_sysctls("eth0") == [
        {"name": "net.ipv4.conf.all.arp_ignore", "path": "net/ipv4/conf/all/arp_ignore", "value": "1"},
        {"name": "net.ipv4.conf.all.arp_announce", "path": "net/ipv4/conf/all/arp_announce", "value": "2"},
        {"name": "net.ipv4.conf.eth0.arp_ignore", "path": "net/ipv4/conf/eth0/arp_ignore", "value": "1"},
        {"name": "net.ipv4.conf.eth0.arp_announce", "path": "net/ipv4/conf/eth0/arp_announce", "value": "2"},
    ]


def test_sysctls_for_a_vlan_use_slashes_and_loose_rp_filter():
    items = rp.dr_sysctls("eth0.100", loose_rp_filter=True)
    assert [i["name"] for i in items] == [
        "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce",
        "net/ipv4/conf/eth0.100/arp_ignore", "net/ipv4/conf/eth0.100/arp_announce", "net/ipv4/conf/eth0.100/rp_filter"]
    assert items[-1] == {"name": "net/ipv4/conf/eth0.100/rp_filter", "path": "net/ipv4/conf/eth0.100/rp_filter",
                         "value": "2"}


def test_sysctls_on_all_are_not_doubled():
    assert len(rp.dr_sysctls("all")) == 2


@pytest.mark.parametrize("bad", ["", None, "../x", "a/b", "."])
def test_sysctls_reject_bad_interface(bad):
    with pytest.raises(ValueError):
        rp.dr_sysctls(bad)


IP_JSON = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8},
                                   {"family": "inet", "local": "198.18.30.100", "prefixlen": 32},
                                   {"family": "inet6", "local": "::1", "prefixlen": 128}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "198.18.30.21", "prefixlen": 24}]},
]


def test_addresses_from_ip_json():
    assert rp.lo_ipv4_addresses(IP_JSON) == ["127.0.0.1", "198.18.30.100"]
    assert rp.interface_with_address(IP_JSON, "198.18.30.21") == "eth0"
    # An address on lo is never the service interface.
    assert rp.interface_with_address(IP_JSON, "198.18.30.100") is None
    assert rp.interface_with_address(IP_JSON, "198.18.30.99") is None


SYSCTLS = rp.dr_sysctls("eth0")
KERNEL_DEFAULTS = {i["path"]: "0" for i in SYSCTLS}
APPLIED = {i["path"]: i["value"] for i in SYSCTLS}


def test_plan_first_run(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    plan = rp.linux_plan("present", vips, ["127.0.0.1"], {}, SYSCTLS, KERNEL_DEFAULTS)
    assert plan["present"] is True
    assert plan["add"] == [{"address": "198.18.30.100", "prefixlen": 32, "label": "lo:pacslb0"},
                           {"address": "198.18.30.101", "prefixlen": 32, "label": "lo:pacslb1"}]
    assert plan["remove"] == [] and plan["sysctl_restore"] == []
    assert [i["path"] for i in plan["sysctl_set"]] == [i["path"] for i in SYSCTLS]
    assert plan["state"] == {"version": 1, "vips": ["198.18.30.100", "198.18.30.101"],
                             "sysctl_before": KERNEL_DEFAULTS, "firewalld_rules": [], "nat_routes": []}
    json.dumps(plan)


def test_plan_second_run_changes_nothing(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    first = rp.linux_plan("present", vips, ["127.0.0.1"], {}, SYSCTLS, KERNEL_DEFAULTS)
    again = rp.linux_plan("present", vips, ["127.0.0.1", "198.18.30.100", "198.18.30.101"], first["state"],
                          SYSCTLS, APPLIED)
    assert (again["add"], again["remove"], again["sysctl_set"], again["sysctl_restore"]) == ([], [], [], [])
    assert again["state"] == first["state"]


def test_plan_does_not_own_a_vip_that_was_there_before(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    plan = rp.linux_plan("present", vips, ["127.0.0.1", "198.18.30.100"], {}, SYSCTLS, KERNEL_DEFAULTS)
    assert [a["address"] for a in plan["add"]] == ["198.18.30.101"]
    assert plan["state"]["vips"] == ["198.18.30.101"]
    absent = rp.linux_plan("absent", vips, ["127.0.0.1", "198.18.30.100", "198.18.30.101"], plan["state"],
                           SYSCTLS, APPLIED)
    assert absent["remove"] == ["198.18.30.101"]


def test_plan_container_with_settings_already_right_writes_no_sysctl(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    plan = rp.linux_plan("present", vips, ["127.0.0.1"], {}, SYSCTLS, APPLIED)
    assert plan["sysctl_set"] == []
    # ... and absent then has nothing to restore either.
    absent = rp.linux_plan("absent", vips, ["127.0.0.1", "198.18.30.100", "198.18.30.101"], plan["state"],
                           SYSCTLS, APPLIED)
    assert absent["sysctl_restore"] == []


def test_plan_absent_restores_values_from_before_the_first_run(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    before = dict(KERNEL_DEFAULTS, **{"net/ipv4/conf/all/arp_announce": "1"})
    state = rp.linux_plan("present", vips, ["127.0.0.1"], {}, SYSCTLS, before)["state"]
    absent = rp.linux_plan("absent", vips, ["127.0.0.1", "198.18.30.100", "198.18.30.101"], state, SYSCTLS, APPLIED)
    assert absent["present"] is False
    assert absent["add"] == [] and absent["sysctl_set"] == []
    assert absent["remove"] == ["198.18.30.100", "198.18.30.101"]
    assert absent["sysctl_restore"] == [{"path": p, "value": before[p]} for p in sorted(before)]
    assert absent["state"] is None


def test_plan_absent_twice_does_nothing(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    plan = rp.linux_plan("absent", vips, ["127.0.0.1"], {}, SYSCTLS, KERNEL_DEFAULTS)
    assert (plan["add"], plan["remove"], plan["sysctl_set"], plan["sysctl_restore"], plan["state"]) == ([], [], [], [], None)


def test_plan_present_without_vips_cleans_up_like_absent(model):
    state = {"version": 1, "vips": ["198.18.30.100"], "sysctl_before": KERNEL_DEFAULTS, "firewalld_rules": ["r"]}
    plan = rp.linux_plan("present", [], ["127.0.0.1", "198.18.30.100"], state, [], APPLIED)
    assert plan["present"] is False
    assert plan["remove"] == ["198.18.30.100"]
    assert len(plan["sysctl_restore"]) == 4
    assert plan["firewalld_remove"] == ["r"]
    assert plan["state"] is None


def test_plan_stale_vip_and_old_interface_are_undone(model):
    vips = rs.dr_vips_for_host(model, "rs1")[:1]
    old_before = {"net/ipv4/conf/eth1/arp_ignore": "0", "net/ipv4/conf/all/arp_ignore": "0"}
    state = {"version": 1, "vips": ["198.18.30.100", "198.18.30.101"], "sysctl_before": old_before}
    current = dict(APPLIED, **{"net/ipv4/conf/eth1/arp_ignore": "1"})
    plan = rp.linux_plan("present", vips, ["127.0.0.1", "198.18.30.100", "198.18.30.101"], state, SYSCTLS, current)
    assert plan["remove"] == ["198.18.30.101"]
    assert plan["add"] == []
    assert plan["sysctl_restore"] == [{"path": "net/ipv4/conf/eth1/arp_ignore", "value": "0"}]
    # all/arp_ignore keeps the value recorded on the very first run.
    assert plan["state"]["sysctl_before"]["net/ipv4/conf/all/arp_ignore"] == "0"
    assert "net/ipv4/conf/eth1/arp_ignore" not in plan["state"]["sysctl_before"]


def test_plan_skips_a_recorded_interface_that_is_gone(model):
    state = {"version": 1, "vips": [], "sysctl_before": {"net/ipv4/conf/eth9/arp_ignore": "0"}}
    plan = rp.linux_plan("absent", [], ["127.0.0.1"], state, [], {})
    assert plan["sysctl_restore"] == [] and plan["state"] is None


def test_plan_fails_clearly_when_the_interface_cannot_be_read(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    with pytest.raises(ValueError, match="eth0/arp_ignore"):
        rp.linux_plan("present", vips, [], {}, SYSCTLS, {"net/ipv4/conf/all/arp_ignore": "0"})


def test_plan_firewalld_rules_added_and_stale_removed(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    rules = rp.firewalld_rich_rules(vips)
    state = {"version": 1, "vips": [], "sysctl_before": {}, "firewalld_rules": ["old rule", rules[0]]}
    plan = rp.linux_plan("present", vips, [], state, SYSCTLS, APPLIED, rules)
    assert plan["firewalld_add"] == rules
    assert plan["firewalld_remove"] == ["old rule"]
    assert plan["state"]["firewalld_rules"] == rules


def test_firewalld_rich_rules(model):
    assert rp.firewalld_rich_rules(rs.dr_vips_for_host(model, "rs1")) == [
        'rule family="ipv4" destination address="198.18.30.100/32" port port="104" protocol="tcp" accept',
        'rule family="ipv4" destination address="198.18.30.100/32" port port="2762" protocol="tcp" accept',
        'rule family="ipv4" destination address="198.18.30.100/32" port port="4000-4010" protocol="tcp" accept',
        'rule family="ipv4" destination address="198.18.30.101/32" port port="8042" protocol="tcp" accept',
    ]


RULESET = {"nftables": [
    {"metainfo": {"version": "1.0.6"}},
    {"table": {"family": "inet", "name": "filter", "handle": 2}},
    {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input",
               "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter",
               "hook": "forward", "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "open", "name": "input", "handle": 1, "type": "filter", "hook": "input",
               "prio": 0, "policy": "accept"}},
    {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input",
               "prio": 0, "policy": "drop"}},
    {"chain": {"family": "inet", "table": "filter", "name": "services", "handle": 7}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 9, "expr": [],
              "comment": "pacs_lb_dr:198.18.30.101:8042"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 8, "expr": [],
              "comment": "pacs_lb_dr:198.18.30.100:104"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [], "comment": "ssh"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": []}},
]}


def test_nft_input_chains_only_drop_policy_and_wanted_families():
    assert rp.nft_input_chains(RULESET) == ["inet filter input"]
    assert rp.nft_input_chains(RULESET, ("inet", "ip")) == ["inet filter input", "ip filter INPUT"]
    assert rp.nft_input_chains({}) == []


def test_nft_rules_and_comments(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    rules = rp.nft_rules(vips, ["inet filter input"])
    assert rules == [
        {"chain": "inet filter input", "comment": "pacs_lb_dr:198.18.30.100:104,2762,4000-4010",
         "rule": 'ip daddr 198.18.30.100 tcp dport { 104, 2762, 4000-4010 } accept '
                 'comment "pacs_lb_dr:198.18.30.100:104,2762,4000-4010"'},
        {"chain": "inet filter input", "comment": "pacs_lb_dr:198.18.30.101:8042",
         "rule": 'ip daddr 198.18.30.101 tcp dport 8042 accept comment "pacs_lb_dr:198.18.30.101:8042"'},
    ]
    assert rp.nft_rules(vips, []) == []


def test_nft_comment_stays_within_the_kernel_limit():
    many = {"vip": "198.18.30.100", "port_spec": ",".join(str(p) for p in range(10000, 10128, 2))}
    comment = rp.nft_comment(many)
    assert len(comment) <= rp.NFT_COMMENT_MAX
    assert comment.startswith("pacs_lb_dr:198.18.30.100:sha256-")
    assert comment != rp.nft_comment(dict(many, port_spec=many["port_spec"] + ",20000"))


def test_nft_owned_rules_only_by_comment():
    assert rp.nft_owned_rules(RULESET) == [
        {"chain": "inet filter input", "handle": 9, "comment": "pacs_lb_dr:198.18.30.101:8042"},
        {"chain": "inet filter input", "handle": 8, "comment": "pacs_lb_dr:198.18.30.100:104"},
    ]


def test_nft_plan_keeps_what_is_right_and_replaces_what_changed(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    desired = rp.nft_rules(vips, ["inet filter input"])
    plan = rp.nft_plan(desired, rp.nft_owned_rules(RULESET))
    # 8042 is right already; .100 gained ports, so its old rule goes and the new one comes.
    assert [r["handle"] for r in plan["delete"]] == [8]
    assert [r["comment"] for r in plan["insert"]] == ["pacs_lb_dr:198.18.30.100:104,2762,4000-4010"]


def test_nft_plan_removes_duplicates_and_everything_when_absent():
    owned = [{"chain": "inet filter input", "handle": 3, "comment": "pacs_lb_dr:x:1"},
             {"chain": "inet filter input", "handle": 4, "comment": "pacs_lb_dr:x:1"}]
    desired = [{"chain": "inet filter input", "comment": "pacs_lb_dr:x:1", "rule": "r"}]
    assert rp.nft_plan(desired, owned) == {"insert": [], "delete": [owned[1]]}
    assert rp.nft_plan([], owned) == {"insert": [], "delete": owned}


def test_windows_firewall_rules(model):
    assert rs.windows_firewall_rules(rs.dr_vips_for_host(model, "rs1")) == [
        {"name": "PACS LB DR 198.18.30.100", "localip": "198.18.30.100", "localport": "104,2762,4000-4010"},
        {"name": "PACS LB DR 198.18.30.101", "localip": "198.18.30.101", "localport": "8042"},
    ]


def test_filter_plugin_exposes_every_filter_and_wraps_errors():
    filters = rs_filter.FilterModule().filters()
    # the host-side plan runs in the realserver_linux module, not in filters
    assert set(filters) == {"dr_vips_for_host", "dr_pool_members", "realserver_nat_routes", "dr_windows_firewall_rules"}
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="nat_routes_for_host: .* is not an IPv4 network"):
        filters["realserver_nat_routes"](sm.build_model([], SERVICES, INSTANCES, {}, GROUPS, HOSTVARS), "rs1",
                                         networks=["2001:db8::/32"])


def test_network_files_carry_every_vip_with_its_label(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    ifupdown = rp.ifupdown_conf(vips)
    assert "auto lo:pacslb0\niface lo:pacslb0 inet static\n    address 198.18.30.100/32" in ifupdown
    assert "iface lo:pacslb1 inet static\n    address 198.18.30.101/32" in ifupdown
    networkd = rp.networkd_conf(vips)
    assert "[Match]\nName=lo" in networkd and "Address=127.0.0.1/8" in networkd
    assert "[Address]\nAddress=198.18.30.101/32\nLabel=lo:pacslb1" in networkd
    nm = rp.networkmanager_conf(vips)
    assert "type=loopback" in nm and "interface-name=lo" in nm
    assert "address1=127.0.0.1/8\naddress2=198.18.30.100/32\naddress3=198.18.30.101/32\n" in nm


def test_nft_and_sysctl_files(model):
    vips = rs.dr_vips_for_host(model, "rs1")
    rules = rp.nft_rules(vips, ["inet filter input", "inet host in"])
    text = rp.nft_include(rules)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[:4] == ["add table inet filter", "add chain inet filter input", "add table inet host", "add chain inet host in"]
    # Inserted in reverse, so that the chain ends up in the order of the list.
    inserted = [re.match(r"insert rule (\S+ \S+ \S+) ip daddr (\S+) ", line).groups() for line in lines[4:]]
    assert inserted == [("inet host in", "198.18.30.101"), ("inet host in", "198.18.30.100"),
                        ("inet filter input", "198.18.30.101"), ("inet filter input", "198.18.30.100")]
    assert lines[-1].endswith('comment "pacs_lb_dr:198.18.30.100:104,2762,4000-4010"')
    sysctl = rp.sysctl_conf(rp.dr_sysctls("eth0.100"))
    assert "net.ipv4.conf.all.arp_ignore = 1\n" in sysctl
    assert "net/ipv4/conf/eth0.100/arp_announce = 2\n" in sysctl


# ------------------------------------------------------- Layer 4 NAT: replies routed through the balancers

ROUTES = [{"dst": "default", "gateway": "198.18.30.1", "dev": "eth0", "flags": []},
          {"dst": "198.18.30.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "198.18.30.21"}]


def test_nat_routes_of_a_nat_pool_member(model):
    assert rs.nat_routes_for_host(model, "rs1") == [
        {"dst": "default", "gateway": "198.18.30.254", "services": ["NAT"]}]
    assert rs.nat_routes_for_host(model, "rs1", networks=["198.18.31.0/24", "0.0.0.0/0"]) == [
        {"dst": "198.18.31.0/24", "gateway": "198.18.30.254", "services": ["NAT"]},
        {"dst": "default", "gateway": "198.18.30.254", "services": ["NAT"]}]
    assert rs.nat_routes_for_host(model, "web1") == []


def test_nat_routes_refuse_two_gateways_and_bad_networks():
    instances = INSTANCES + [{"name": "VI_B", "virtual_router_id": 52, "network": "198.18.30.0/24",
                              "nat_gateway": "198.18.30.253"}]
    services = [SERVICES[4], dict(SERVICES[4], name="NAT_B", vip="198.18.30.106", vrrp_instance="VI_B")]
    two = sm.build_model([], services, instances, {}, GROUPS, HOSTVARS)
    with pytest.raises(ValueError, match="rs1 is a real server of Layer 4 NAT services behind different gateways "
                                         r"\(198.18.30.253: NAT_B; 198.18.30.254: NAT\)"):
        rs.nat_routes_for_host(two, "rs1")
    with pytest.raises(ValueError):
        rs.nat_routes_for_host(sm.build_model([], SERVICES, INSTANCES, {}, GROUPS, HOSTVARS), "rs1",
                               networks=["2001:db8::/32"])


def test_nat_route_plan_replaces_the_default_route_and_puts_it_back(model):
    wanted = rs.nat_routes_for_host(model, "rs1")
    first = rp.nat_route_plan(wanted, ROUTES, [])
    assert first["replace"] == [{"dst": "default", "gateway": "198.18.30.254"}]
    assert first["owned"] == [{"dst": "default", "gateway": "198.18.30.254",
                               "before": {"gateway": "198.18.30.1", "dev": "eth0"}}]
    applied = [dict(ROUTES[0], gateway="198.18.30.254"), ROUTES[1]]
    again = rp.nat_route_plan(wanted, applied, first["owned"])
    assert (again["replace"], again["restore"], again["delete"]) == ([], [], [])
    assert again["owned"] == first["owned"]
    gone = rp.nat_route_plan([], applied, again["owned"])
    assert gone["restore"] == [{"dst": "default", "gateway": "198.18.30.1", "dev": "eth0"}]
    assert (gone["replace"], gone["delete"], gone["owned"]) == ([], [], [])


def test_nat_route_plan_adds_and_deletes_a_client_network_route(model):
    wanted = rs.nat_routes_for_host(model, "rs1", networks=["198.18.31.0/24"])
    first = rp.nat_route_plan(wanted, ROUTES, [])
    assert first["replace"] == [{"dst": "198.18.31.0/24", "gateway": "198.18.30.254"}]
    assert first["owned"][0]["before"] is None
    applied = ROUTES + [{"dst": "198.18.31.0/24", "gateway": "198.18.30.254", "dev": "eth0"}]
    gone = rp.nat_route_plan([], applied, first["owned"])
    assert gone["delete"] == [{"dst": "198.18.31.0/24", "gateway": "198.18.30.254"}]
    # Someone re-pointed the route since: it is theirs now and stays.
    moved = ROUTES + [{"dst": "198.18.31.0/24", "gateway": "198.18.30.2", "dev": "eth0"}]
    assert rp.nat_route_plan([], moved, first["owned"])["delete"] == []


def test_linux_plan_records_nat_routes_for_absent(model):
    wanted = rs.nat_routes_for_host(model, "rs1")
    plan = rp.linux_plan("present", [], ["127.0.0.1"], {}, SYSCTLS, KERNEL_DEFAULTS, [], wanted, ROUTES)
    assert plan["present"] is False and plan["route_replace"] == [{"dst": "default", "gateway": "198.18.30.254"}]
    assert plan["state"]["nat_routes"] == plan["nat_routes"]
    applied = [dict(ROUTES[0], gateway="198.18.30.254"), ROUTES[1]]
    absent = rp.linux_plan("absent", [], ["127.0.0.1"], plan["state"], SYSCTLS, KERNEL_DEFAULTS, [], wanted, applied)
    assert absent["route_restore"] == [{"dst": "default", "gateway": "198.18.30.1", "dev": "eth0"}]
    assert absent["state"] is None
