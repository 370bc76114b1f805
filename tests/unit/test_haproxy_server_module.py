# -*- coding: utf-8 -*-
"""Tests for the haproxy_server module.

Logic tests drive ServerStateTask with FakeHAProxy (a RuntimeAPI answering in
HAProxy 2.6 text formats, parsed by the real parsers) and a fake clock.
Regression tests cover the community.general haproxy module bugs:
  ansible #37591       drain then maint never reached maint
  c.g. #8092 / #8100   a DOWN server waited forever for DRAIN
  c.g. #12286          drain+wait on an UP server timed out on sessions
Live tests run the module against a real haproxy on loopback.
"""

import json
import os
import tempfile

import pytest

from lb_helpers import FakeClock, FakeHAProxy, FakeServer, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.medimaging.pacs_lb.plugins.modules import haproxy_server
from ansible_collections.medimaging.pacs_lb.plugins.modules.haproxy_server import (
    ServerStateTask, WaitTimeout,
)

DEFAULTS = {
    'socket': '/run/haproxy/admin.sock', 'backend': None, 'server': None, 'state': None,
    'drain_first': False, 'wait': False, 'wait_for_up': False, 'wait_interval': 1.0,
    'wait_retries': None, 'wait_timeout': None, 'timeout': 5.0,
}


def task(api, check_mode=False, **params):
    merged = dict(DEFAULTS)
    merged.update(params)
    clock = FakeClock()
    return ServerStateTask(api, merged, check_mode=check_mode, sleep=clock.sleep, clock=clock.clock), clock


def set_commands(api):
    return [c for c in api.commands if c.startswith('set server')]


def by_key(result):
    return dict(('%s/%s' % (s['backend'], s['server']), s) for s in result['servers'])


# ---------------------------------------------------------------------------
# Idempotence and plain transitions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('bits, wanted', [(0, 'ready'), (8, 'drain'), (1, 'maint')])
def test_noop_when_already_in_state(bits, wanted):
    api = FakeHAProxy([FakeServer('be', 's1', bits=bits, scur=4)])
    result = task(api, server='s1', state=wanted)[0].run()
    assert result['changed'] is False
    assert set_commands(api) == []
    assert result['msg'] == 'no change: be/s1 is %s' % wanted
    assert result['diff'] == {'before': {'be/s1': wanted}, 'after': {'be/s1': wanted}}


@pytest.mark.parametrize('bits, wanted, after_bits', [
    (0, 'drain', 8), (0, 'maint', 1), (8, 'maint', 1), (1, 'drain', 8), (1, 'ready', 0), (8, 'ready', 0),
])
def test_transitions(bits, wanted, after_bits):
    api = FakeHAProxy([FakeServer('be', 's1', bits=bits)])
    result = task(api, server='s1', state=wanted)[0].run()
    assert result['changed'] is True
    assert set_commands(api) == ['set server be/s1 state %s' % wanted]
    assert api.model[0].bits == after_bits
    srv = by_key(result)['be/s1']
    assert srv['admin_state'] == wanted and srv['changed'] is True
    assert srv['admin_state_before'] == hr.admin_state(bits)
    assert result['diff'] == {'before': {'be/s1': hr.admin_state(bits)}, 'after': {'be/s1': wanted}}


def test_every_backend_with_that_server():
    api = FakeHAProxy([FakeServer('be_a', 's1'), FakeServer('be_b', 's1', bits=1),
                       FakeServer('be_b', 's2'), FakeServer('be_c', 's3')])
    result = task(api, server='s1', state='maint')[0].run()
    assert set_commands(api) == ['set server be_a/s1 state maint']
    assert sorted(by_key(result)) == ['be_a/s1', 'be_b/s1']
    assert by_key(result)['be_b/s1']['changed'] is False
    assert result['msg'] == 'be_a/s1: ready -> maint'


def test_backend_restricts_targets():
    api = FakeHAProxy([FakeServer('be_a', 's1'), FakeServer('be_b', 's1')])
    task(api, server='s1', backend='be_b', state='drain')[0].run()
    assert set_commands(api) == ['set server be_b/s1 state drain']


# ---------------------------------------------------------------------------
# Check mode
# ---------------------------------------------------------------------------

def test_check_mode_sends_nothing_and_predicts():
    api = FakeHAProxy([FakeServer('be', 's1', bits=8, scur=3)])
    t, clock = task(api, check_mode=True, server='s1', state='maint', wait=True, drain_first=True)
    result = t.run()
    assert result['changed'] is True
    assert set_commands(api) == []
    assert clock.sleeps == []
    srv = by_key(result)['be/s1']
    assert srv['admin_state_before'] == 'drain'
    assert srv['admin_state'] == 'maint'
    assert srv['admin_flags'] == ['forced_maint']
    assert result['diff']['after'] == {'be/s1': 'maint'}


def test_check_mode_noop():
    api = FakeHAProxy([FakeServer('be', 's1')])
    result = task(api, check_mode=True, server='s1', state='ready')[0].run()
    assert result['changed'] is False


def test_check_mode_predicts_inherited_drain():
    api = FakeHAProxy([FakeServer('be', 's1', bits=16 | 1)])
    result = task(api, check_mode=True, server='s1', state='ready')[0].run()
    assert by_key(result)['be/s1']['admin_state'] == 'drain'


# ---------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------

def test_drain_waits_for_sessions():
    api = FakeHAProxy([FakeServer('be', 's1', scur=3, drop_per_poll=1)])
    t, clock = task(api, server='s1', state='drain', wait=True, wait_interval=2)
    result = t.run()
    assert by_key(result)['be/s1']['current_sessions'] == 0
    # reads see 3 (before), 2 (after the command), 1, 0 sessions
    assert clock.sleeps == [2, 2]


def test_drain_already_drained_without_sessions_returns_at_once():
    api = FakeHAProxy([FakeServer('be', 's1', bits=8, scur=0)])
    t, clock = task(api, server='s1', state='drain', wait=True)
    result = t.run()
    assert result['changed'] is False
    assert clock.sleeps == []
    assert set_commands(api) == []


def test_drain_timeout_by_retries():
    api = FakeHAProxy([FakeServer('be', 's1', scur=5)])
    t, clock = task(api, server='s1', state='drain', wait=True, wait_retries=4, wait_interval=0.5)
    with pytest.raises(WaitTimeout, match=r'sessions to end: be/s1 \(status DRAIN, admin drain, 5 sessions\)'):
        t.run()
    assert clock.sleeps == [0.5] * 4
    assert api.model[0].bits == 8   # the drain itself was applied


def test_drain_timeout_by_seconds():
    api = FakeHAProxy([FakeServer('be', 's1', scur=5)])
    t, clock = task(api, server='s1', state='drain', wait=True, wait_timeout=10, wait_interval=3)
    with pytest.raises(WaitTimeout):
        t.run()
    assert clock.sleeps == [3, 3, 3, 1]


def test_default_retries():
    api = FakeHAProxy([FakeServer('be', 's1', scur=5)])
    t, clock = task(api, server='s1', state='drain', wait=True)
    with pytest.raises(WaitTimeout):
        t.run()
    assert len(clock.sleeps) == haproxy_server.DEFAULT_WAIT_RETRIES


def test_maint_wait():
    api = FakeHAProxy([FakeServer('be', 's1', scur=5)])
    t, clock = task(api, server='s1', state='maint', wait=True)
    result = t.run()
    assert by_key(result)['be/s1']['admin_state'] == 'maint'
    assert clock.sleeps == []   # maint does not wait for sessions


def test_ready_wait_for_up_times_out_on_down_server():
    api = FakeHAProxy([FakeServer('be', 's1', up=False, bits=1)])
    t, clock = task(api, server='s1', state='ready', wait_for_up=True, wait_retries=2)
    with pytest.raises(WaitTimeout, match='waiting for UP: be/s1 .status DOWN'):
        t.run()
    assert api.model[0].bits == 0


def test_ready_wait_for_up_on_up_server():
    api = FakeHAProxy([FakeServer('be', 's1', bits=1)])
    t, clock = task(api, server='s1', state='ready', wait_for_up=True)
    result = t.run()
    assert by_key(result)['be/s1']['status'] == 'UP'
    assert clock.sleeps == []


# ---------------------------------------------------------------------------
# Regressions of the community.general haproxy module bugs
# ---------------------------------------------------------------------------

def test_regression_37591_drain_then_maint_reaches_maint():
    """ansible #37591: drain + wait left the server in DRAIN; it must end in MAINT."""
    api = FakeHAProxy([FakeServer('be', 's1', scur=3, drop_per_poll=1)])
    t, clock = task(api, server='s1', state='maint', drain_first=True, wait_interval=1)
    result = t.run()
    assert set_commands(api) == ['set server be/s1 state drain', 'set server be/s1 state maint']
    assert api.model[0].bits == hr.ADMF_FMAINT
    srv = by_key(result)['be/s1']
    assert srv['admin_state'] == 'maint' and srv['status'] == 'MAINT'
    assert result['changed'] is True
    assert len(clock.sleeps) == 2


def test_regression_37591_timeout_leaves_drain_and_says_so():
    api = FakeHAProxy([FakeServer('be', 's1', scur=2)])
    t, _clock = task(api, server='s1', state='maint', drain_first=True, wait_retries=1)
    with pytest.raises(WaitTimeout, match='stays in drain'):
        t.run()
    assert set_commands(api) == ['set server be/s1 state drain']


def test_regression_8100_down_server_drain_does_not_wait():
    """c.g. #8092/#8100: a DOWN server never shows DRAIN; draining it must not wait."""
    api = FakeHAProxy([FakeServer('be', 's1', up=False, scur=0)])
    t, clock = task(api, server='s1', state='drain', wait=True, wait_retries=3)
    result = t.run()
    assert clock.sleeps == []
    srv = by_key(result)['be/s1']
    assert srv['status'] == 'DOWN' and srv['admin_state'] == 'drain'


def test_regression_8100_down_server_drain_first_reaches_maint():
    # sessions still counted on a DOWN server (no on-marked-down shutdown-sessions)
    api = FakeHAProxy([FakeServer('be', 's1', up=False, scur=3)])
    t, clock = task(api, server='s1', state='maint', drain_first=True, wait_retries=3)
    result = t.run()
    assert clock.sleeps == []
    assert set_commands(api) == ['set server be/s1 state drain', 'set server be/s1 state maint']
    assert by_key(result)['be/s1']['admin_state'] == 'maint'


def test_regression_8100_already_drained_down_server_is_noop():
    api = FakeHAProxy([FakeServer('be', 's1', up=False, bits=8)])
    t, clock = task(api, server='s1', state='drain', wait=True)
    result = t.run()
    assert result['changed'] is False and clock.sleeps == [] and set_commands(api) == []


def test_regression_12286_ready_with_wait_on_busy_up_server():
    """c.g. #12286: ready + wait on an UP server with traffic must not wait for 0 sessions."""
    api = FakeHAProxy([FakeServer('be', 's1', scur=25)])
    t, clock = task(api, server='s1', state='ready', wait=True, wait_retries=2)
    result = t.run()
    assert result['changed'] is False
    assert clock.sleeps == []
    assert set_commands(api) == []
    assert by_key(result)['be/s1']['current_sessions'] == 25


def test_regression_12286_wait_for_up_on_busy_server():
    api = FakeHAProxy([FakeServer('be', 's1', scur=25)])
    t, clock = task(api, server='s1', state='ready', wait_for_up=True, wait_retries=2)
    assert t.run()['changed'] is False
    assert clock.sleeps == []


def test_drain_first_rejected_with_other_states():
    api = FakeHAProxy([FakeServer('be', 's1', scur=25)])
    with pytest.raises(ValueError, match='drain_first applies only to state=maint'):
        task(api, server='s1', state='ready', drain_first=True, wait=True)[0].run()
    with pytest.raises(ValueError, match='wait_for_up applies only to state=ready'):
        task(api, server='s1', state='drain', wait_for_up=True)[0].run()
    assert set_commands(api) == []


# ---------------------------------------------------------------------------
# Inherited states and errors
# ---------------------------------------------------------------------------

def test_ready_with_inherited_drain_warns():
    api = FakeHAProxy([FakeServer('be', 's1', bits=16 | 8)])
    t, _clock = task(api, server='s1', state='ready')
    result = t.run()
    assert set_commands(api) == ['set server be/s1 state ready']
    assert by_key(result)['be/s1']['admin_state'] == 'drain'
    assert t.warnings and 'inherited_drain' in t.warnings[0]


def test_ready_with_inherited_drain_fails_when_waiting():
    api = FakeHAProxy([FakeServer('be', 's1', bits=16)])
    t, clock = task(api, server='s1', state='ready', wait=True)
    with pytest.raises(WaitTimeout, match='tracked server'):
        t.run()
    assert clock.sleeps == []


@pytest.mark.parametrize('backend, server, message', [
    ('be_x', 's1', "backend 'be_x' not found"),
    ('be', 'nope', "server 'nope' not found in backend 'be' \\(servers: s1\\)"),
    (None, 'nope', "server 'nope' not found in any backend"),
])
def test_not_found(backend, server, message):
    api = FakeHAProxy([FakeServer('be', 's1')])
    with pytest.raises(hr.NotFoundError, match=message):
        task(api, server=server, backend=backend, state='maint')[0].run()
    assert set_commands(api) == []


def test_permission_denied_is_reported():
    api = FakeHAProxy([FakeServer('be', 's1')],
                      answers={'set server be/s1 state maint': 'Permission denied\n\n'})
    with pytest.raises(hr.CommandError, match='level admin'):
        task(api, server='s1', state='maint')[0].run()


# ---------------------------------------------------------------------------
# main()
# ---------------------------------------------------------------------------

@pytest.fixture
def fake_api(monkeypatch):
    model = [FakeServer('be_pacs', 'pacs1', scur=1, drop_per_poll=1), FakeServer('be_pacs', 'pacs2', up=False)]
    api = FakeHAProxy(model)
    monkeypatch.setattr(haproxy_server, 'RuntimeAPI', lambda socket_path, timeout: api)
    monkeypatch.setattr(haproxy_server.time, 'sleep', lambda seconds: None)
    return api


def test_main_changed_and_diff(fake_api):
    result = run_module(haproxy_server, {'server': 'pacs1', 'state': 'drain', 'wait': True, '_ansible_diff': True})
    assert result['changed'] is True
    assert result['diff'] == {'before': {'be_pacs/pacs1': 'ready'}, 'after': {'be_pacs/pacs1': 'drain'}}
    assert result['servers'][0]['current_sessions'] == 0
    again = run_module(haproxy_server, {'server': 'pacs1', 'state': 'drain', 'wait': True})
    assert again['changed'] is False
    assert 'diff' not in again


def test_main_check_mode(fake_api):
    result = run_module(haproxy_server, {'server': 'pacs1', 'state': 'maint', '_ansible_check_mode': True})
    assert result['changed'] is True
    assert set_commands(fake_api) == []


def test_main_timeout_failure_reports_servers(fake_api):
    fake_api.model[0].drop_per_poll = 0
    result = run_module(haproxy_server, {'server': 'pacs1', 'state': 'drain', 'wait': True, 'wait_retries': 2})
    assert result['failed'] is True
    assert 'timed out waiting for sessions to end' in result['msg']
    assert result['changed'] is True
    assert result['servers'][0]['admin_state'] == 'drain'


def test_main_not_found(fake_api):
    result = run_module(haproxy_server, {'backend': 'be_nope', 'server': 'pacs1', 'state': 'ready'})
    assert result['failed'] is True
    assert "backend 'be_nope' not found (backends with servers: be_pacs)" == result['msg']


def test_main_mutually_exclusive(fake_api):
    result = run_module(haproxy_server, {'server': 'pacs1', 'state': 'drain', 'wait_retries': 2, 'wait_timeout': 3})
    assert result['failed'] is True
    assert 'mutually exclusive' in result['msg']


def test_main_warning_on_inherited(fake_api):
    fake_api.model[0].bits = 16
    result = run_module(haproxy_server, {'server': 'pacs1', 'state': 'ready'})
    # ansible-core 2.19 returns structured warnings; older versions plain strings
    assert 'inherited_drain' in json.dumps(result.get('warnings', []))


def test_main_missing_socket():
    path = os.path.join(tempfile.gettempdir(), 'no-such-haproxy-%d.sock' % os.getpid())
    result = run_module(haproxy_server, {'socket': path, 'server': 'pacs1', 'state': 'ready'})
    assert result['failed'] is True
    assert 'does not exist' in result['msg']


# ---------------------------------------------------------------------------
# Live
# ---------------------------------------------------------------------------
