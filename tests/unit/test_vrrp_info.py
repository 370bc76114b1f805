# -*- coding: utf-8 -*-
"""Tests for the vrrp_info module.

Fixtures under fixtures/keepalived/ were captured from keepalived 2.2.7 running
in two network namespaces joined by a veth pair (this kernel has no dummy
links):
  master_fault.*  VI_PACS MASTER (vrid 51, 2 VIPs), VI_HL7 FAULT (tracks a
                  down bridge), config keepalived.conf
  backup.*        VI_PACS BACKUP with a virtual_ipaddress_excluded entry,
                  config keepalived_backup.conf
  *.ip_addr       `ip -o addr` inside that namespace at the same moment
The live test repeats this in a namespace of its own.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from lb_helpers import FIXTURES, fixture_text, run_module

from ansible_collections.medimaging.pacs_lb.plugins.modules import vrrp_info


def ka(name):
    return fixture_text('keepalived', name)


def by_name(instances):
    return dict((i['name'], i) for i in instances)


# ---------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------

class TestJsonDump(object):
    def test_master_and_fault(self):
        inst = by_name(vrrp_info.parse_json_dump(ka('master_fault.json')))
        pacs, hl7 = inst['VI_PACS'], inst['VI_HL7']
        assert pacs['state'] == 'MASTER'
        assert pacs['interface'] == 'veth0'
        assert pacs['virtual_router_id'] == 51
        assert pacs['priority'] == 150 and pacs['effective_priority'] == 150
        assert pacs['last_transition'] == pytest.approx(1795366943.82556)
        assert [v['address'] for v in pacs['vip_details']] == ['198.18.77.10', '198.18.77.11']
        assert pacs['vip_details'][0]['prefix'] == 24
        assert all(v['installed'] for v in pacs['vip_details'])
        assert pacs['stats']['became_master'] == 1
        assert pacs['stats']['advertisements'] == {'received': 0, 'sent': 4}
        assert hl7['state'] == 'FAULT'
        assert hl7['vip_details'][0]['label'] == 'veth0:hl7'
        assert not hl7['vip_details'][0]['installed']

    def test_backup_with_excluded_vip(self):
        pacs = vrrp_info.parse_json_dump(ka('backup.json'))[0]
        assert pacs['state'] == 'BACKUP'
        assert [(v['address'], v['excluded']) for v in pacs['vip_details']] == [
            ('198.18.77.10', False), ('198.18.77.11', False), ('198.18.77.12', True)]

    @pytest.mark.parametrize('number, name', [(0, 'INIT'), (1, 'BACKUP'), (2, 'MASTER'), (3, 'FAULT'),
                                              (98, 'STOP'), (42, 'unknown')])
    def test_state_numbers(self, number, name):
        text = json.dumps([{'data': {'iname': 'X', 'state': number, 'vips': []}, 'stats': {}}])
        assert vrrp_info.parse_json_dump(text)[0]['state'] == name


class TestDataDump(object):
    def test_master_and_fault(self):
        inst = by_name(vrrp_info.parse_data_dump(ka('master_fault.data')))
        assert sorted(inst) == ['VI_HL7', 'VI_PACS']
        pacs = inst['VI_PACS']
        assert (pacs['state'], pacs['interface'], pacs['virtual_router_id'], pacs['priority']) == (
            'MASTER', 'veth0', 51, 150)
        assert pacs['last_transition'] == pytest.approx(1795366943.82556)
        assert [v['address'] for v in pacs['vip_details']] == ['198.18.77.10', '198.18.77.11']
        # "Tracked interfaces" lines must not be taken for VIPs
        assert [v['address'] for v in inst['VI_HL7']['vip_details']] == ['198.18.77.20']
        assert inst['VI_HL7']['state'] == 'FAULT'

    def test_backup_excluded(self):
        pacs = vrrp_info.parse_data_dump(ka('backup.data'))[0]
        assert pacs['state'] == 'BACKUP'
        assert [(v['address'], v['excluded']) for v in pacs['vip_details']] == [
            ('198.18.77.10', False), ('198.18.77.11', False), ('198.18.77.12', True)]

    @pytest.mark.parametrize('name', ['master_fault', 'backup'])
    def test_stats_same_shape_as_stats_file(self, name):
        from_json = dict((i['name'], i['stats']) for i in vrrp_info.parse_json_dump(ka(name + '.json')))
        assert from_json == vrrp_info.parse_stats(ka(name + '.stats'))

    @pytest.mark.parametrize('name', ['master_fault', 'backup'])
    def test_agrees_with_json(self, name):
        def essentials(instances):
            return [(i['name'], i['state'], i['interface'], i['virtual_router_id'], i['priority'],
                     [(v['address'], v['prefix'], v['dev'], v['excluded'], v['installed']) for v in i['vip_details']])
                    for i in instances]
        assert essentials(vrrp_info.parse_data_dump(ka(name + '.data'))) == \
            essentials(vrrp_info.parse_json_dump(ka(name + '.json')))

    def test_no_topology(self):
        assert vrrp_info.parse_data_dump('------< Global definitions >------\n Router ID = x\n') == []


def test_parse_stats():
    stats = vrrp_info.parse_stats(ka('master_fault.stats'))
    assert sorted(stats) == ['VI_HL7', 'VI_PACS']
    assert stats['VI_PACS']['advertisements'] == {'received': 0, 'sent': 4}
    assert stats['VI_PACS']['became_master'] == 1
    assert stats['VI_PACS']['packet_errors']['ttl'] == 0
    assert stats['VI_PACS']['priority_zero'] == {'received': 0, 'sent': 0}
    assert vrrp_info.parse_stats(ka('backup.stats'))['VI_PACS']['advertisements']['received'] == 4


def test_parse_ip_addr():
    addrs = vrrp_info.parse_ip_addr(ka('master_fault.ip_addr'))
    assert ('veth0', 'inet', '198.18.77.10', 24) in [(a['ifname'], a['family'], a['address'], a['prefix'])
                                                     for a in addrs]
    assert ('veth0', '198.18.77.11') in [(a['ifname'], a['address']) for a in addrs]
    assert '::1' in [a['address'] for a in addrs]


@pytest.mark.parametrize('spec, expected', [
    ('192.0.2.10/24 dev eth0 label eth0:1', ('192.0.2.10', 24, 'eth0', 'eth0:1', False)),
    ('192.0.2.11', ('192.0.2.11', None, None, None, False)),
    ('198.18.77.10/24 dev veth0 scope global set', ('198.18.77.10', 24, 'veth0', None, True)),
    ('2001:DB8::0010/64 dev eth0', ('2001:db8::10', 64, 'eth0', None, False)),
])
def test_parse_vip_spec(spec, expected):
    vip = vrrp_info.parse_vip_spec(spec)
    assert (vip['address'], vip['prefix'], vip['dev'], vip['label'], vip['installed']) == expected


class TestConfig(object):
    def test_fixture_configs(self):
        inst = by_name(vrrp_info.parse_config(ka('keepalived.conf')))
        assert inst['VI_PACS']['configured_state'] == 'BACKUP'
        assert inst['VI_PACS']['state'] == 'unknown'
        assert (inst['VI_PACS']['interface'], inst['VI_PACS']['virtual_router_id'], inst['VI_PACS']['priority']) == (
            'veth0', 51, 150)
        assert [v['address'] for v in inst['VI_PACS']['vip_details']] == ['198.18.77.10', '198.18.77.11']
        assert inst['VI_HL7']['vip_details'][0]['label'] == 'veth0:hl7'
        backup = vrrp_info.parse_config(ka('keepalived_backup.conf'))[0]
        assert [v['excluded'] for v in backup['vip_details']] == [False, False, True]

    def test_layout_variants(self):
        text = """
        ! comment
        global_defs { router_id lb1 }   # trailing comment
        vrrp_script chk { script "/usr/bin/pgrep -x haproxy" }
        vrrp_instance VI_A
        {
            state MASTER
            interface eth0
            virtual_router_id 61
            priority 120
            track_script {
                chk
            }
            virtual_ipaddress { 192.0.2.50/24 dev eth0 }
            virtual_ipaddress_excluded {
                2001:db8::50/64
            }
        }
        vrrp_instance VI_B {
            interface eth1
            virtual_router_id 62
            virtual_ipaddress {
                192.0.2.60   # VIP for HL7
            }
        }
        virtual_server 192.0.2.50 104 {
            real_server 10.0.0.21 104 { TCP_CHECK { connect_timeout 3 } }
        }
        """
        inst = by_name(vrrp_info.parse_config(text))
        assert sorted(inst) == ['VI_A', 'VI_B']
        a = inst['VI_A']
        assert (a['configured_state'], a['interface'], a['virtual_router_id'], a['priority']) == (
            'MASTER', 'eth0', 61, 120)
        assert [(v['address'], v['excluded']) for v in a['vip_details']] == [
            ('192.0.2.50', False), ('2001:db8::50', True)]
        assert [v['address'] for v in inst['VI_B']['vip_details']] == ['192.0.2.60']
        assert inst['VI_B']['configured_state'] is None

    def test_includes_and_conditionals(self, tmp_path):
        (tmp_path / 'conf.d').mkdir()
        (tmp_path / 'keepalived.conf').write_text(
            'global_defs {\n router_id x\n}\ninclude conf.d/*.conf\ninclude keepalived.conf\n')
        (tmp_path / 'conf.d' / 'a.conf').write_text(
            'vrrp_instance VI_1 {\n'
            '@lb1 priority 150\n'
            '@lb2 priority 100\n'
            '@^lb1 state BACKUP\n'
            ' virtual_ipaddress {\n  192.0.2.10\n }\n}\n')
        (tmp_path / 'conf.d' / 'b.conf').write_text('vrrp_instance VI_2 {\n virtual_ipaddress {\n 192.0.2.20\n }\n}\n')
        lines = vrrp_info._config_lines(str(tmp_path / 'keepalived.conf'), {'lb1'})
        inst = by_name(vrrp_info.parse_config(lines))
        assert sorted(inst) == ['VI_1', 'VI_2']
        assert inst['VI_1']['priority'] == 150
        assert inst['VI_1']['configured_state'] is None
        inst = by_name(vrrp_info.parse_config(vrrp_info._config_lines(str(tmp_path / 'keepalived.conf'), {'lb2'})))
        assert inst['VI_1']['priority'] == 100
        assert inst['VI_1']['configured_state'] == 'BACKUP'


class TestAnnotate(object):
    def addrs(self, *pairs):
        return [{'ifname': i, 'address': a} for i, a in pairs]

    def inst(self, state, *vips):
        return {'name': 'VI', 'state': state, 'vip_details': [vrrp_info.parse_vip_spec(v) for v in vips]}

    def test_master_holds_all(self):
        inst = vrrp_info.annotate([self.inst('MASTER', '192.0.2.10/24', '192.0.2.11')],
                                  self.addrs(('eth0', '192.0.2.10'), ('eth0', '192.0.2.11')))[0]
        assert inst['vips'] == ['192.0.2.10', '192.0.2.11']
        assert inst['vips_held'] == inst['vips'] and inst['vips_missing'] == []
        assert inst['holds_all_vips'] is True and inst['vips_consistent'] is True
        assert inst['vip_details'][0]['held_on'] == ['eth0']

    def test_master_missing_a_vip(self):
        inst = vrrp_info.annotate([self.inst('MASTER', '192.0.2.10', '192.0.2.11')],
                                  self.addrs(('eth0', '192.0.2.10')))[0]
        assert inst['vips_missing'] == ['192.0.2.11']
        assert inst['holds_all_vips'] is False and inst['vips_consistent'] is False

    def test_backup_holding_a_vip_is_inconsistent(self):
        inst = vrrp_info.annotate([self.inst('BACKUP', '192.0.2.10')], self.addrs(('lo', '192.0.2.10')))[0]
        assert inst['vips_held'] == ['192.0.2.10'] and inst['vips_consistent'] is False

    def test_unknown_state(self):
        inst = vrrp_info.annotate([self.inst('unknown', '192.0.2.10')], [])[0]
        assert inst['holds_all_vips'] is False and inst['vips_consistent'] is None

    def test_no_vips_never_holds_all(self):
        inst = vrrp_info.annotate([self.inst('MASTER')], [])[0]
        assert inst['holds_all_vips'] is False

    def test_ipv6_normalised(self):
        inst = vrrp_info.annotate([self.inst('MASTER', '2001:DB8:0::10/64')], self.addrs(('eth0', '2001:db8::10')))[0]
        assert inst['holds_all_vips'] is True


def test_wait_for_dump(tmp_path):
    path = str(tmp_path / 'keepalived.json')
    with open(path, 'w') as handle:
        handle.write('[]')
    before = vrrp_info._mtime_ns(path)

    def rewrite():
        time.sleep(0.2)
        shutil.copy(os.path.join(FIXTURES, 'keepalived', 'master_fault.json'), path)

    writer = threading.Thread(target=rewrite)
    writer.start()
    got = vrrp_info.wait_for_dump(path, before, vrrp_info.parse_json_dump, 3)
    writer.join()
    assert got is not None and len(got[0]) == 2
    # not rewritten: times out
    assert vrrp_info.wait_for_dump(path, vrrp_info._mtime_ns(path), vrrp_info.parse_json_dump, 0.2) is None


def test_stale_pid_file_is_not_trusted(tmp_path):
    pid_file = tmp_path / 'keepalived.pid'
    pid_file.write_text('%d\n' % os.getpid())   # a live process that is not keepalived
    assert os.getpid() not in vrrp_info.find_keepalived_pids(str(pid_file))


# ---------------------------------------------------------------------------
# main() with faked keepalived and ip
# ---------------------------------------------------------------------------

class FakeHost(object):
    """Stands in for ip(8), keepalived --signum and the keepalived process."""

    def __init__(self, tmp_path, scenario='master_fault', json_signal=True, kill_error=None):
        self.tmp = tmp_path
        self.scenario = scenario
        self.json_signal = json_signal
        self.kill_error = kill_error
        self.signals = []
        self.commands = []
        self.paths = dict((kind, str(tmp_path / ('keepalived.' + kind))) for kind in ('json', 'data', 'stats'))

    def args(self, **extra):
        args = {
            'json_file': self.paths['json'], 'data_file': self.paths['data'], 'stats_file': self.paths['stats'],
            'config': os.path.join(FIXTURES, 'keepalived',
                                   'keepalived.conf' if self.scenario == 'master_fault' else 'keepalived_backup.conf'),
            'pid_file': str(self.tmp / 'none.pid'), 'timeout': 2,
        }
        args.update(extra)
        return args

    def put(self, kind):
        shutil.copy(os.path.join(FIXTURES, 'keepalived', '%s.%s' % (self.scenario, kind)), self.paths[kind])

    def run_command(self, module, args, **kwargs):
        self.commands.append(args)
        if args[-1] == '--signum=JSON':
            return (0, '36\n', '') if self.json_signal else (1, '', 'unknown signal')
        if args[-1] == '--signum=DATA':
            return 0, '10\n', ''
        if args[-1] == '--signum=STATS':
            return 0, '12\n', ''
        if args[1:] == ['-o', 'addr', 'show']:
            return 0, ka(self.scenario + '.ip_addr'), ''
        raise AssertionError('unexpected command %r' % (args,))

    def kill(self, pid, signum):
        self.signals.append((pid, signum))
        if self.kill_error:
            raise self.kill_error
        self.put({36: 'json', signal.SIGUSR1: 'data', signal.SIGUSR2: 'stats'}[signum])


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path)

    def run_command(module, args, **kwargs):  # a function, so AnsibleModule binds it as a method
        return fake.run_command(module, args, **kwargs)
    monkeypatch.setattr(vrrp_info.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(vrrp_info.AnsibleModule, 'get_bin_path',
                        lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(vrrp_info, 'find_keepalived_pids', lambda pid_file: [4242])
    monkeypatch.setattr(vrrp_info.os, 'kill', fake.kill)
    return fake


def test_main_signal_json(host):
    result = run_module(vrrp_info, host.args(_ansible_check_mode=True))
    assert result['changed'] is False
    assert result['source'] == 'json'
    assert result['keepalived_pid'] == 4242
    assert host.signals == [(4242, 36)]
    assert result['dump_file'] == host.paths['json']
    inst = by_name(result['instances'])
    assert inst['VI_PACS']['state'] == 'MASTER'
    assert inst['VI_PACS']['vips_held'] == ['198.18.77.10', '198.18.77.11']
    assert inst['VI_PACS']['holds_all_vips'] is True
    assert inst['VI_PACS']['configured_state'] == 'BACKUP'   # from the configuration
    assert inst['VI_HL7']['state'] == 'FAULT' and inst['VI_HL7']['vips_held'] == []
    assert inst['VI_HL7']['vips_consistent'] is True
    assert result['masters'] == ['VI_PACS']
    assert 'installed' not in inst['VI_PACS']['vip_details'][0]


def test_main_signal_falls_back_to_data_and_stats(host):
    host.json_signal = False
    host.scenario = 'backup'
    result = run_module(vrrp_info, host.args())
    assert result['source'] == 'data'
    assert host.signals == [(4242, signal.SIGUSR1), (4242, signal.SIGUSR2)]
    pacs = result['instances'][0]
    assert pacs['state'] == 'BACKUP' and pacs['vips_held'] == [] and pacs['holds_all_vips'] is False
    assert pacs['stats']['advertisements']['received'] == 4
    assert result['masters'] == []


def test_main_kill_denied_falls_back_to_config(host):
    host.kill_error = PermissionError(1, 'Operation not permitted')
    result = run_module(vrrp_info, host.args())
    assert result['source'] == 'config'
    assert 'Operation not permitted' in json.dumps(result.get('warnings'))
    inst = by_name(result['instances'])
    assert inst['VI_PACS']['state'] == 'unknown'
    assert inst['VI_PACS']['vips_held'] == ['198.18.77.10', '198.18.77.11']
    assert inst['VI_PACS']['holds_all_vips'] is True
    assert inst['VI_PACS']['vips_consistent'] is None


def test_main_without_signal_reads_existing_dump(host):
    host.put('data')
    result = run_module(vrrp_info, host.args(use_signal=False))
    assert host.signals == []
    assert result['source'] == 'data'
    assert result['dump_age'] >= 0


def test_main_without_signal_or_dump_uses_config(host):
    result = run_module(vrrp_info, host.args(use_signal=False))
    assert host.signals == []
    assert result['source'] == 'config'


def test_main_keepalived_not_running(host, monkeypatch):
    monkeypatch.setattr(vrrp_info, 'find_keepalived_pids', lambda pid_file: [])
    host.put('json')   # a stale dump must not be used when signalling was asked for
    result = run_module(vrrp_info, host.args())
    assert host.signals == []
    assert result['source'] == 'config'
    assert 'no running keepalived' in json.dumps(result['warnings'])


def test_main_several_keepalived_not_signalled(host, monkeypatch):
    monkeypatch.setattr(vrrp_info, 'find_keepalived_pids', lambda pid_file: [10, 20])
    result = run_module(vrrp_info, host.args())
    assert host.signals == []
    assert result['source'] == 'config'
    assert 'several keepalived processes' in json.dumps(result['warnings'])


def test_main_explicit_source_unavailable_fails(host):
    result = run_module(vrrp_info, host.args(use_signal=False, source='json'))
    assert result['failed'] is True
    assert 'json dump not available' in result['msg']


def test_main_no_config_no_dump_fails(host):
    result = run_module(vrrp_info, host.args(use_signal=False, config=str(host.tmp / 'missing.conf')))
    assert result['failed'] is True
    assert 'does not exist' in result['msg']


# ---------------------------------------------------------------------------
# Live: keepalived in a private network namespace
# ---------------------------------------------------------------------------

KEEPALIVED = shutil.which('keepalived') or '/usr/sbin/keepalived'
IP = shutil.which('ip') or '/usr/sbin/ip'
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

LIVE_CONFIG = """global_defs {
    router_id PYTEST
    vrrp_version 3
    enable_script_security
    script_user root
}
vrrp_instance VI_T_PACS {
    state MASTER
    interface veth0
    virtual_router_id 71
    priority 200
    advert_int 1
    virtual_ipaddress {
        198.18.99.10/24 dev veth0
        198.18.99.11
    }
}
vrrp_instance VI_T_HL7 {
    state BACKUP
    interface veth0
    virtual_router_id 72
    priority 100
    advert_int 1
    track_interface {
        br0
    }
    virtual_ipaddress {
        198.18.99.20/24 dev veth0
    }
}
"""


def _netns_usable():
    if os.geteuid() != 0 or not os.access(KEEPALIVED, os.X_OK) or not os.access(IP, os.X_OK):
        return False
    return subprocess.call([IP, 'netns', 'list'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


@pytest.fixture
def netns_keepalived(tmp_path):
    ns = 'pacslbt%d' % os.getpid()
    leftovers = [p for p in ('/tmp/keepalived.json', '/tmp/keepalived.data', '/tmp/keepalived.stats',
                             '/tmp/keepalived_parent.data') if not os.path.exists(p)]
    setup = [
        [IP, 'netns', 'add', ns],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'lo', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth1', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth0', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'addr', 'add', '198.18.99.2/24', 'dev', 'veth0'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'add', 'br0', 'type', 'bridge'],   # stays down: VI_T_HL7 FAULT
    ]
    proc = None
    try:
        for cmd in setup:
            if subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
                pytest.skip('cannot build the test namespace (%s)' % ' '.join(cmd[-5:]))
        cfg = tmp_path / 'keepalived.conf'
        cfg.write_text(LIVE_CONFIG)
        pid_file = str(tmp_path / 'keepalived.pid')
        log = open(str(tmp_path / 'keepalived.log'), 'w')
        # ip netns exec execs keepalived, so proc.pid is keepalived's parent process
        proc = subprocess.Popen([IP, 'netns', 'exec', ns, KEEPALIVED, '-n', '-l', '-D', '-P', '-f', str(cfg),
                                 '-p', pid_file, '-r', str(tmp_path / 'vrrp.pid'),
                                 '-c', str(tmp_path / 'checkers.pid')], stdout=log, stderr=subprocess.STDOUT)
        yield {'ns': ns, 'config': str(cfg), 'pid_file': pid_file, 'proc': proc, 'tmp': tmp_path}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()
        subprocess.call([IP, 'netns', 'del', ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for path in leftovers:
            if os.path.exists(path):
                os.unlink(path)


def run_in_netns(env, **args):
    args_file = env['tmp'] / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    module_path = vrrp_info.__file__
    penv = dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.build', 'collections'))
    out = subprocess.run([IP, 'netns', 'exec', env['ns'], sys.executable, module_path, str(args_file)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=penv, timeout=60, check=False)
    return json.loads(out.stdout.decode())


@pytest.mark.skipif(not _netns_usable(), reason='needs root, keepalived, ip and network namespaces')
def test_live_keepalived_in_netns(netns_keepalived):
    env = netns_keepalived
    base = {'config': env['config'], 'pid_file': env['pid_file'], 'timeout': 5}
    deadline = time.monotonic() + 20
    while True:
        result = run_in_netns(env, **base)
        inst = by_name(result.get('instances', []))
        if inst.get('VI_T_PACS', {}).get('state') == 'MASTER' and inst['VI_T_PACS']['holds_all_vips']:
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.5)

    assert result['source'] == 'json'
    assert result['keepalived_pid'] == env['proc'].pid
    pacs, hl7 = inst['VI_T_PACS'], inst['VI_T_HL7']
    assert (pacs['interface'], pacs['virtual_router_id'], pacs['priority']) == ('veth0', 71, 200)
    assert pacs['vips_held'] == ['198.18.99.10', '198.18.99.11'] and pacs['vips_consistent'] is True
    assert pacs['configured_state'] == 'MASTER'
    assert hl7['state'] == 'FAULT' and hl7['vips_held'] == [] and hl7['holds_all_vips'] is False
    assert result['masters'] == ['VI_T_PACS']

    data = run_in_netns(env, source='data', **base)
    assert data['source'] == 'data'
    inst = by_name(data['instances'])
    assert inst['VI_T_PACS']['state'] == 'MASTER' and inst['VI_T_HL7']['state'] == 'FAULT'
    assert inst['VI_T_PACS']['stats']['became_master'] == 1

    config = run_in_netns(env, source='config', use_signal=False, **base)
    assert config['source'] == 'config'
    inst = by_name(config['instances'])
    assert inst['VI_T_PACS']['state'] == 'unknown' and inst['VI_T_PACS']['holds_all_vips'] is True
    assert inst['VI_T_HL7']['vips_held'] == []
