# -*- coding: utf-8 -*-
"""Tests for plugins/module_utils/haproxy_runtime.py and the haproxy_info module.

Parser fixtures under fixtures/haproxy/ were captured from HAProxy 2.6.12 on
loopback (configs: capture_main.cfg, capture_special.cfg):
  *_initial   after start: web2 DOWN (nothing listens), web3 without checks
  *_sessions  6 client sessions held through fe_web (3 on web1, 3 on web3)
  *_drain     be_web/web1 drain (3 sessions), be_dicom/web2 drain while DOWN,
              be_dicom/pacs3 maint
  *_maint     be_web/web1 drain -> maint, be_web/web2 maint
  *_ready     all set back to ready ("UP 1/2" right after leaving maint)
  *_special   config "disabled", a tracking server inheriting drain, weight 0,
              http-check disable-on-404 (NOLB), agent check answering "drain"
"""

import os

import pytest

from lb_helpers import FakeHAProxy, FakeServer, fixture_text, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.medimaging.pacs_lb.plugins.modules import balancer_state, haproxy_info


def stat(name):
    return hr.parse_show_stat(fixture_text('haproxy', 'show_stat_%s.csv' % name))


def state(name):
    return hr.parse_servers_state(fixture_text('haproxy', 'show_servers_state_%s.txt' % name))


def merged(name):
    return dict(((s['backend'], s['server']), s) for s in hr.merge_servers(stat(name), state(name)))


# ---------------------------------------------------------------------------
# show stat
# ---------------------------------------------------------------------------

class TestParseShowStat(object):
    def test_rows_and_types(self):
        rows = stat('initial')
        assert [(r['pxname'], r['svname'], r['type']) for r in rows] == [
            ('fe_web', 'FRONTEND', 'frontend'),
            ('fe_dicom', 'FRONTEND', 'frontend'),
            ('be_web', 'web1', 'server'),
            ('be_web', 'web2', 'server'),
            ('be_web', 'web3', 'server'),
            ('be_web', 'BACKEND', 'backend'),
            ('be_dicom', 'pacs1', 'server'),
            ('be_dicom', 'web2', 'server'),
            ('be_dicom', 'pacs3', 'server'),
            ('be_dicom', 'BACKEND', 'backend'),
        ]
        assert rows[0]['type_id'] == 0 and rows[5]['type_id'] == 1 and rows[2]['type_id'] == 2

    def test_server_fields(self):
        rows = dict(((r['pxname'], r['svname']), r) for r in stat('initial'))
        web1, web2, web3 = rows[('be_web', 'web1')], rows[('be_web', 'web2')], rows[('be_web', 'web3')]
        assert web1['status'] == 'UP'
        assert web1['check_status'] == 'L4OK'
        assert web1['check_desc'] == 'Layer4 check passed'
        assert web1['lastchg'] == 16 and isinstance(web1['lastchg'], int)
        assert web1['weight'] == 1
        assert web1['addr'] == '127.0.0.1:18201'
        assert web2['status'] == 'DOWN'
        assert web2['check_status'] == 'L4CON'
        assert web2['check_desc'] == 'Layer4 connection problem'
        assert web2['last_chk'] == 'Connection refused'
        assert web3['status'] == 'no check'
        assert web3['check_status'] is None

    def test_current_sessions(self):
        rows = dict(((r['pxname'], r['svname']), r) for r in stat('sessions'))
        assert rows[('fe_web', 'FRONTEND')]['scur'] == 6
        assert rows[('be_web', 'web1')]['scur'] == 3
        assert rows[('be_web', 'web3')]['scur'] == 3
        assert rows[('be_web', 'web2')]['scur'] == 0
        assert rows[('be_web', 'BACKEND')]['scur'] == 6

    def test_statuses_after_drain_and_maint(self):
        rows = dict(((r['pxname'], r['svname']), r['status']) for r in stat('drain'))
        assert rows[('be_web', 'web1')] == 'DRAIN'
        # drained while DOWN: show stat still says DOWN (why admin state needs show servers state)
        assert rows[('be_dicom', 'web2')] == 'DOWN'
        assert rows[('be_dicom', 'pacs3')] == 'MAINT'
        rows = dict(((r['pxname'], r['svname']), r['status']) for r in stat('ready'))
        assert rows[('be_web', 'web2')] == 'UP 1/2'

    def test_empty_cells_are_none_and_unnamed_trailing_column_dropped(self):
        row = stat('initial')[0]
        assert row['qcur'] is None
        assert '' not in row

    def test_quoted_field_with_comma(self):
        text = ('# pxname,svname,scur,status,type,check_desc,last_chk,\n'
                'be,s1,0,DOWN,2,Layer7 wrong status,"HTTP status 503, Service Unavailable",\n')
        row = hr.parse_show_stat(text)[0]
        assert row['last_chk'] == 'HTTP status 503, Service Unavailable'
        assert row['type'] == 'server'

    def test_garbage_raises(self):
        with pytest.raises(hr.RuntimeAPIError):
            hr.parse_show_stat('Permission denied\n')


# ---------------------------------------------------------------------------
# show servers state
# ---------------------------------------------------------------------------

class TestParseServersState(object):
    def test_initial(self):
        rows = state('initial')
        assert len(rows) == 6
        web1 = rows[0]
        assert web1['be_name'] == 'be_web' and web1['srv_name'] == 'web1'
        assert web1['srv_op_state'] == 2 and web1['srv_admin_state'] == 0
        assert web1['srv_port'] == 18201
        assert web1['srv_fqdn'] is None  # '-'
        assert rows[1]['srv_op_state'] == 0  # web2 DOWN

    def test_admin_bits_observed_live(self):
        bits = dict(((r['be_name'], r['srv_name']), r['srv_admin_state']) for r in state('drain'))
        assert bits[('be_web', 'web1')] == 8       # drain
        assert bits[('be_dicom', 'web2')] == 8     # drain on a DOWN server
        assert bits[('be_dicom', 'pacs3')] == 1    # maint
        bits = dict(((r['be_name'], r['srv_name']), r['srv_admin_state']) for r in state('maint'))
        assert bits[('be_web', 'web1')] == 1       # drain then maint clears drain
        bits = [r['srv_admin_state'] for r in state('ready')]
        assert bits == [0] * 6

    def test_special_bits(self):
        bits = dict((r['srv_name'], r['srv_admin_state']) for r in state('special'))
        assert bits['disabled1'] == 5   # FMAINT|CMAINT from "disabled"
        assert bits['tracker1'] == 16   # drain inherited via track
        assert bits['agentd'] == 8      # agent answered "drain"

    def test_garbage_raises(self):
        with pytest.raises(hr.RuntimeAPIError):
            hr.parse_servers_state("Can't find backend.\n")


def test_parse_show_info():
    info = hr.parse_show_info(fixture_text('haproxy', 'show_info.txt'))
    assert info['Name'] == 'HAProxy'
    assert info['Version'] == '2.6.12-1+deb12u4'
    assert isinstance(info['Uptime_sec'], int)
    assert info['Uptime'].startswith('0d ')


# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('bits, effective, forced, flags', [
    (0, 'ready', 'ready', []),
    (1, 'maint', 'maint', ['forced_maint']),
    (8, 'drain', 'drain', ['forced_drain']),
    (9, 'maint', 'maint', ['forced_maint', 'forced_drain']),
    (5, 'maint', 'maint', ['forced_maint', 'config_disabled']),
    (4, 'ready', 'ready', ['config_disabled']),   # after "ready" on a disabled server: UP
    (16, 'drain', 'ready', ['inherited_drain']),
    (2, 'maint', 'ready', ['inherited_maint']),
    (32, 'maint', 'ready', ['resolution_maint']),
    (None, 'ready', 'ready', []),
])
def test_admin_state(bits, effective, forced, flags):
    assert hr.admin_state(bits) == effective
    assert hr.forced_admin_state(bits) == forced
    assert hr.admin_flags(bits) == flags


def test_inherited_admin_flags():
    assert hr.inherited_admin_flags(16 | 8) == ['inherited_drain']
    assert hr.inherited_admin_flags(1) == []


@pytest.mark.parametrize('status, expected', [
    ('UP', ('UP', None, None)),
    ('UP 1/2', ('UP', 'going_down', None)),
    ('DOWN', ('DOWN', None, None)),
    ('DOWN 1/3', ('DOWN', 'going_up', None)),
    ('DOWN (agent)', ('DOWN', None, 'agent')),
    ('NOLB', ('NOLB', None, None)),
    ('NOLB 1/2', ('NOLB', 'going_down', None)),
    ('MAINT', ('MAINT', None, None)),
    ('MAINT (via be_web/web1)', ('MAINT', None, 'via be_web/web1')),
    ('MAINT (resolution)', ('MAINT', None, 'resolution')),
    ('DRAIN', ('DRAIN', None, None)),
    ('DRAIN (agent)', ('DRAIN', None, 'agent')),
    ('no check', ('NOCHECK', None, None)),
    ('OPEN', ('OPEN', None, None)),
    ('', ('UNKNOWN', None, None)),
    (None, ('UNKNOWN', None, None)),
])
def test_classify_status(status, expected):
    info = hr.classify_status(status)
    assert (info['state'], info['transition'], info['detail']) == expected
    assert hr.operational_state(status) == expected[0]


class TestMerge(object):
    def test_drained_down_server_is_drain(self):
        srv = merged('drain')[('be_dicom', 'web2')]
        assert srv['status'] == 'DOWN'
        assert srv['admin_state'] == 'drain'
        assert hr.is_down(srv)
        assert hr.drain_complete(srv)

    def test_drain_with_sessions_is_not_complete(self):
        srv = merged('drain')[('be_web', 'web1')]
        assert srv['admin_state'] == 'drain' and srv['scur'] == 3
        assert not hr.drain_complete(srv)
        assert hr.is_up(srv)

    def test_ready_server_never_counts_as_drained(self):
        srv = merged('initial')[('be_web', 'web1')]
        assert srv['scur'] == 0
        assert not hr.drain_complete(srv)

    def test_maint_counts_as_drained(self):
        srv = merged('maint')[('be_web', 'web1')]
        assert srv['admin_state'] == 'maint'
        assert hr.drain_complete(srv)

    def test_up_after_maint_is_not_stable(self):
        srv = merged('ready')[('be_dicom', 'pacs3')]
        assert srv['status'] == 'UP 1/2'
        assert not hr.is_up(srv)
        assert hr.is_up(merged('ready')[('be_dicom', 'pacs1')])

    def test_no_check_server_is_up(self):
        srv = merged('initial')[('be_web', 'web3')]
        assert srv['operational_state'] == 'NOCHECK'
        assert hr.is_up(srv)

    def test_special(self):
        servers = merged('special')
        assert servers[('be_misc', 'disabled1')]['admin_state'] == 'maint'
        assert servers[('be_misc', 'tracker1')]['admin_state'] == 'drain'
        assert servers[('be_misc', 'tracker1')]['forced_admin_state'] == 'ready'
        assert servers[('be_misc', 'weight0')]['weight'] == 0
        assert servers[('be_misc', 'weight0')]['admin_state'] == 'ready'
        nolb = servers[('be_http', 'nolb1')]
        assert nolb['operational_state'] == 'NOLB' and nolb['op_state'] == 'stopping'
        assert not hr.is_up(nolb)
        assert servers[('be_http', 'agentd')]['admin_state'] == 'drain'

    def test_without_servers_state_falls_back_to_status(self):
        servers = hr.merge_servers(stat('drain'), [])
        by_key = dict(((s['backend'], s['server']), s) for s in servers)
        assert by_key[('be_web', 'web1')]['admin_state'] == 'drain'
        assert by_key[('be_dicom', 'pacs3')]['admin_state'] == 'maint'
        assert by_key[('be_web', 'web1')]['admin_bits'] is None


class TestSelectServers(object):
    servers = hr.merge_servers(stat('initial'), state('initial'))

    def test_server_in_every_backend(self):
        found = hr.select_servers(self.servers, 'web2')
        assert [(s['backend'], s['server']) for s in found] == [('be_web', 'web2'), ('be_dicom', 'web2')]

    def test_backend_filter(self):
        found = hr.select_servers(self.servers, 'web2', 'be_dicom')
        assert [(s['backend'], s['server']) for s in found] == [('be_dicom', 'web2')]

    def test_missing_backend(self):
        with pytest.raises(hr.NotFoundError, match="backend 'be_nope' not found .*be_web, be_dicom"):
            hr.select_servers(self.servers, 'web1', 'be_nope')

    def test_missing_server_in_backend(self):
        with pytest.raises(hr.NotFoundError, match="server 'pacs1' not found in backend 'be_web' "
                                                   r"\(servers: web1, web2, web3\)"):
            hr.select_servers(self.servers, 'pacs1', 'be_web')

    def test_missing_server_everywhere(self):
        with pytest.raises(hr.NotFoundError, match="server 'nope' not found in any backend"):
            hr.select_servers(self.servers, 'nope')


@pytest.mark.parametrize('value, expected', [
    ('/run/haproxy/admin.sock', ('unix', '/run/haproxy/admin.sock')),
    ('unix:/tmp/x.sock', ('unix', '/tmp/x.sock')),
    ('127.0.0.1:9999', ('tcp', ('127.0.0.1', 9999))),
    ('tcp:localhost:9999', ('tcp', ('localhost', 9999))),
    ('[::1]:9999', ('tcp', ('::1', 9999))),
    ('admin.sock', ('unix', 'admin.sock')),
])
def test_parse_address(value, expected):
    assert hr.parse_address(value) == expected


@pytest.mark.parametrize('name', ['web1;shutdown sessions server be/s', 'a b', 'x\ny', 'web1\n', '', None])
def test_check_name_rejects_injection(name):
    with pytest.raises(ValueError):
        hr.check_name('server', name)


def test_set_server_state_rejects_unknown_state():
    api = FakeHAProxy([FakeServer('be', 's1')])
    with pytest.raises(ValueError):
        api.set_server_state('be', 's1', 'disabled')
    assert api.commands == []


# ---------------------------------------------------------------------------
# RuntimeAPI over real sockets (fake server)
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# haproxy_info module
# ---------------------------------------------------------------------------

class TestHaproxyInfo(object):
    def fake(self):
        return FakeHAProxy([
            FakeServer('be_pacs', 'pacs1', scur=2),
            FakeServer('be_pacs', 'pacs2', up=False, bits=8),
            FakeServer('be_web', 'web1', bits=1),
        ])

    def test_collect(self):
        result = hr.collect(self.fake())
        assert result['changed'] is False
        assert result['process']['version'] == '2.6.12-fake'
        assert [b['name'] for b in result['backends']] == ['be_pacs', 'be_web']
        servers = dict(((s['backend'], s['name']), s) for s in result['servers'])
        assert servers[('be_pacs', 'pacs1')]['current_sessions'] == 2
        assert servers[('be_pacs', 'pacs1')]['check_status'] == 'L4OK'
        assert servers[('be_pacs', 'pacs1')]['check_desc'] == 'Layer4 check passed'
        assert servers[('be_pacs', 'pacs1')]['last_change'] == 5
        assert servers[('be_pacs', 'pacs2')]['status'] == 'DOWN'
        assert servers[('be_pacs', 'pacs2')]['admin_state'] == 'drain'
        assert servers[('be_web', 'web1')]['admin_state'] == 'maint'
        assert result['backends'][0]['servers'][0]['name'] == 'pacs1'

    def test_backend_filter(self):
        result = hr.collect(self.fake(), 'be_web')
        assert [b['name'] for b in result['backends']] == ['be_web']
        assert [s['name'] for s in result['servers']] == ['web1']

    def test_unknown_backend(self):
        with pytest.raises(hr.NotFoundError, match="be_x.*be_pacs, be_web"):
            hr.collect(self.fake(), 'be_x')

    def test_main_fixture_capture(self, monkeypatch):
        answers = {
            'show stat': fixture_text('haproxy', 'show_stat_sessions.csv'),
            'show servers state': fixture_text('haproxy', 'show_servers_state_initial.txt'),
            'show info': fixture_text('haproxy', 'show_info.txt'),
        }

        class Canned(hr.RuntimeAPI):
            def command(self, cmd):
                return answers[cmd]

        monkeypatch.setattr(haproxy_info, 'RuntimeAPI', Canned)
        result = run_module(haproxy_info, {'socket': '/x.sock', '_ansible_check_mode': True})
        assert result['changed'] is False
        assert [f['name'] for f in result['frontends']] == ['fe_web', 'fe_dicom']
        assert result['frontends'][0]['current_sessions'] == 6
        assert [b['name'] for b in result['backends']] == ['be_web', 'be_dicom']
        assert len(result['servers']) == 6
        assert result['backends'][0]['active_servers'] == 2

    def test_main_missing_socket(self, sockdir):
        result = run_module(haproxy_info, {'socket': os.path.join(sockdir, 'none.sock')})
        assert result['failed'] is True
        assert 'does not exist' in result['msg']


# ---------------------------------------------------------------------------
# Live: real haproxy on loopback
# ---------------------------------------------------------------------------


def test_balancer_state_with_nothing_readable(sockdir, tmp_path):
    result = run_module(balancer_state, {'socket': os.path.join(sockdir, 'none.sock'),
                                         'pid_file': str(tmp_path / 'none.pid')})
    assert not result.get('failed')
    assert result['haproxy']['failed'] and 'none.sock' in result['haproxy']['msg']
    assert result['vrrp']['failed'] and result['vrrp']['msg']
