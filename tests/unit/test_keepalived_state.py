# -*- coding: utf-8 -*-
"""Tests for module_utils/keepalived_state.py.

Fixtures under fixtures/keepalived/, all from keepalived 2.2.7:
  master_fault.json   VI_PACS MASTER (vrid 51, 2 VIPs), VI_HL7 FAULT (tracks a
                      down bridge); multicast, one namespace
  backup.json         VI_PACS BACKUP with a virtual_ipaddress_excluded entry
  unicast_*           a pair in two network namespaces joined by a veth pair,
                      unicast peers (configs unicast_a.conf, unicast_b.conf);
                      the .ip_addr.json beside each dump is `ip -j addr` in
                      that namespace at the same moment:
    unicast_master_fault     balancer a: VI_PACS MASTER holding its 2 VIPs and
                             its excluded VIP, VI_HL7 FAULT (br-down is down)
    unicast_backup_master    balancer b: VI_PACS BACKUP, VI_HL7 MASTER (the
                             label veth-b:hl7 shows in ip -j addr)
"""

import json

import pytest

from lb_helpers import fixture_text

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import keepalived_state as ks


def ka(name):
    return fixture_text('keepalived', name)


def by_name(instances):
    return dict((i['name'], i) for i in instances)


def dump(*instances):
    """A JSON dump of (state number, vips) pairs, named VI_0, VI_1, ..."""
    return json.dumps([{'data': {'iname': 'VI_%d' % n, 'state': state, 'vips': vips}, 'stats': {}}
                       for n, (state, vips) in enumerate(instances)])


def ip_addr(*addresses):
    infos = [{'family': 'inet', 'local': a, 'prefixlen': 24} for a in addresses]
    return json.dumps([{'ifname': 'eth0', 'addr_info': infos}])


class TestJsonDump(object):
    def test_master_and_fault(self):
        inst = by_name(ks.parse_json_dump(ka('master_fault.json')))
        assert inst['VI_PACS'] == {'name': 'VI_PACS', 'state': 'MASTER', 'vips': ['198.18.77.10', '198.18.77.11']}
        assert inst['VI_HL7']['state'] == 'FAULT'
        assert inst['VI_HL7']['vips'] == ['198.18.77.20']

    def test_backup_with_excluded_vip(self):
        pacs = ks.parse_json_dump(ka('backup.json'))[0]
        assert pacs['state'] == 'BACKUP'
        assert pacs['vips'] == ['198.18.77.10', '198.18.77.11', '198.18.77.12']

    def test_unicast_pair(self):
        a = by_name(ks.parse_json_dump(ka('unicast_master_fault.json')))
        b = by_name(ks.parse_json_dump(ka('unicast_backup_master.json')))
        assert (a['VI_PACS']['state'], a['VI_HL7']['state']) == ('MASTER', 'FAULT')
        assert (b['VI_PACS']['state'], b['VI_HL7']['state']) == ('BACKUP', 'MASTER')
        for side in (a, b):
            assert side['VI_PACS']['vips'] == ['198.18.48.10', '198.18.48.11', '198.18.48.12']
            assert side['VI_HL7']['vips'] == ['198.18.48.20']

    @pytest.mark.parametrize('number, name', [(0, 'INIT'), (1, 'BACKUP'), (2, 'MASTER'), (3, 'FAULT'),
                                              (98, 'STOP'), (42, 'unknown')])
    def test_state_numbers(self, number, name):
        assert ks.parse_json_dump(dump((number, [])))[0]['state'] == name

    def test_half_written_dump_raises(self):
        with pytest.raises(ValueError):
            ks.parse_json_dump(ka('unicast_master_fault.json')[:500])


@pytest.mark.parametrize('spec, expected', [
    ('192.0.2.10/24 dev eth0 label eth0:1', '192.0.2.10'),
    ('192.0.2.11', '192.0.2.11'),
    ('198.18.77.10/24 dev veth0 scope global set', '198.18.77.10'),
    ('2001:DB8::0010/64 dev eth0', '2001:db8::10'),
])
def test_vip_address(spec, expected):
    assert ks.vip_address(spec) == expected


def test_parse_ip_addr_json():
    addrs = ks.parse_ip_addr_json(ka('unicast_master_fault.ip_addr.json'))
    assert set(['198.18.48.1', '198.18.48.10', '198.18.48.11', '198.18.48.12', '127.0.0.1', '::1']) <= addrs
    assert '198.18.48.20' not in addrs
    assert '198.18.48.20' in ks.parse_ip_addr_json(ka('unicast_backup_master.ip_addr.json'))
    assert ks.parse_ip_addr_json('') == set()


class TestVrrpState(object):
    def test_unicast_master_fault(self):
        state = ks.vrrp_state(ka('unicast_master_fault.json'), ka('unicast_master_fault.ip_addr.json'))
        assert state['masters'] == ['VI_PACS']
        inst = by_name(state['instances'])
        pacs, hl7 = inst['VI_PACS'], inst['VI_HL7']
        assert pacs['vips_held'] == pacs['vips'] and pacs['vips_missing'] == []
        assert pacs['holds_all_vips'] is True
        assert hl7['vips_held'] == [] and hl7['vips_missing'] == ['198.18.48.20']
        assert hl7['holds_all_vips'] is False

    def test_unicast_backup_master(self):
        state = ks.vrrp_state(ka('unicast_backup_master.json'), ka('unicast_backup_master.ip_addr.json'))
        assert state['masters'] == ['VI_HL7']
        inst = by_name(state['instances'])
        assert inst['VI_PACS']['vips_held'] == [] and inst['VI_PACS']['holds_all_vips'] is False
        assert inst['VI_HL7']['holds_all_vips'] is True

    def test_master_missing_a_vip(self):
        inst = ks.vrrp_state(dump((2, ['192.0.2.10', '192.0.2.11'])), ip_addr('192.0.2.10'))['instances'][0]
        assert inst['vips_missing'] == ['192.0.2.11']
        assert inst['holds_all_vips'] is False

    def test_backup_holding_a_vip(self):
        state = ks.vrrp_state(dump((1, ['192.0.2.10 dev lo'])), ip_addr('192.0.2.10'))
        assert state['instances'][0]['vips_held'] == ['192.0.2.10'] and state['masters'] == []

    def test_no_vips_never_holds_all(self):
        assert ks.vrrp_state(dump((2, [])), ip_addr())['instances'][0]['holds_all_vips'] is False

    def test_ipv6_normalised(self):
        inst = ks.vrrp_state(dump((2, ['2001:DB8:0::10/64'])), ip_addr('2001:db8::10'))['instances'][0]
        assert inst['holds_all_vips'] is True

    def test_vip_listed_twice_counted_once(self):
        inst = ks.vrrp_state(dump((2, ['192.0.2.10/24', '192.0.2.10/32'])), ip_addr('192.0.2.10'))['instances'][0]
        assert inst['vips'] == ['192.0.2.10']


def test_seconds_in_state_and_settled():
    text = ka('unicast_backup_master.json')
    last = dict((e['data']['iname'], e['data']['last_transition']) for e in json.loads(text))
    state = ks.vrrp_state(text, ka('unicast_backup_master.ip_addr.json'), now=last['VI_PACS'] + 2.0)
    inst = dict((i['name'], i) for i in state['instances'])
    # a BACKUP for 2 s may still be electing (advert 1 s: MASTER after ~3.5 s without adverts)
    assert inst['VI_PACS']['state'] == 'BACKUP' and inst['VI_PACS']['seconds_in_state'] == 2.0
    assert inst['VI_PACS']['settled'] is False
    assert inst['VI_HL7']['state'] == 'MASTER' and inst['VI_HL7']['settled'] is True
    later = ks.vrrp_state(text, ka('unicast_backup_master.ip_addr.json'), now=last['VI_PACS'] + 10.0)
    assert [i['settled'] for i in later['instances']] == [True, True]
    assert ks.settled('FAULT', 100.0, 1) is False
    # without now, the result is as before
    assert 'settled' not in ks.vrrp_state(text, ka('unicast_backup_master.ip_addr.json'))['instances'][0]
