# -*- coding: utf-8 -*-
"""The haproxy_server module against a real HAProxy."""

import os
import tempfile
import threading
import time

import pytest

from lb_helpers import HAProxyLab, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.medimaging.pacs_lb.plugins.modules import haproxy_server


# ---------------------------------------------------------------------------
# Idempotence and plain transitions
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Check mode
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Regressions of the community.general haproxy module bugs
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Inherited states and errors
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# main()
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Live
# ---------------------------------------------------------------------------

# Runs the real /usr/sbin/haproxy (make installs it): a missing binary fails, it does not skip.
live = pytest.mark.live


@pytest.fixture
def lab():
    tmpdir = tempfile.mkdtemp(prefix='hxm')
    lab = HAProxyLab(tmpdir)
    try:
        yield lab.start()
    finally:
        lab.stop()
        for name in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, name))
        os.rmdir(tmpdir)


@live
def test_live_module_drain_maint_ready(lab):
    sock = lab.socket_path
    lab.open_sessions(2)
    time.sleep(0.3)
    closer = threading.Timer(1.0, lab.close_sessions)
    closer.start()
    started = time.monotonic()
    try:
        result = run_module(haproxy_server, {
            'socket': sock, 'backend': 'be_pacs', 'server': 'pacs1', 'state': 'drain',
            'wait': True, 'wait_interval': 0.2, 'wait_timeout': 10, '_ansible_diff': True})
    finally:
        closer.join()
    assert result.get('failed') is not True, result
    assert time.monotonic() - started >= 0.9   # really waited for the sessions
    assert result['changed'] is True
    assert result['servers'][0]['admin_state'] == 'drain'
    assert result['servers'][0]['current_sessions'] == 0
    assert result['diff'] == {'before': {'be_pacs/pacs1': 'ready'}, 'after': {'be_pacs/pacs1': 'drain'}}

    # drained with 0 sessions: returns at once, no change
    started = time.monotonic()
    again = run_module(haproxy_server, {'socket': sock, 'backend': 'be_pacs', 'server': 'pacs1',
                                        'state': 'drain', 'wait': True, 'wait_timeout': 10})
    assert again['changed'] is False and time.monotonic() - started < 1

    result = run_module(haproxy_server, {'socket': sock, 'backend': 'be_pacs', 'server': 'pacs1',
                                         'state': 'maint', 'wait': True})
    assert result['changed'] is True
    assert result['servers'][0]['admin_state'] == 'maint'
    assert result['servers'][0]['status'] == 'MAINT'

    result = run_module(haproxy_server, {'socket': sock, 'backend': 'be_pacs', 'server': 'pacs1',
                                         'state': 'ready', 'wait_for_up': True, 'wait_interval': 0.2,
                                         'wait_timeout': 10})
    assert result['changed'] is True, result
    assert result['servers'][0]['admin_state'] == 'ready'
    assert result['servers'][0]['status'] == 'UP'

    admin = dict(((s['backend'], s['server']), s['admin_state'])
                 for s in hr.RuntimeAPI(sock).servers())
    assert admin[('be_pacs', 'pacs1')] == 'ready'


@live
def test_live_module_down_server_and_all_backends(lab):
    sock = lab.socket_path
    # DOWN server: drain_first + maint must finish at once (c.g. #8100)
    started = time.monotonic()
    result = run_module(haproxy_server, {'socket': sock, 'server': 'pacs2', 'state': 'maint',
                                         'drain_first': True, 'wait_timeout': 10})
    assert result['changed'] is True and time.monotonic() - started < 2
    assert result['servers'][0]['admin_state'] == 'maint'

    # no backend: every backend with a pacs1
    result = run_module(haproxy_server, {'socket': sock, 'server': 'pacs1', 'state': 'maint'})
    assert sorted(s['backend'] for s in result['servers']) == ['be_pacs', 'be_pacs_http']
    assert all(s['admin_state'] == 'maint' for s in result['servers'])
    result = run_module(haproxy_server, {'socket': sock, 'server': 'pacs1', 'state': 'ready',
                                         '_ansible_check_mode': True})
    assert result['changed'] is True
    admin = [s['admin_state'] for s in hr.RuntimeAPI(sock).servers() if s['server'] == 'pacs1']
    assert admin == ['maint', 'maint']   # check mode changed nothing

    result = run_module(haproxy_server, {'socket': sock, 'backend': 'be_pacs', 'server': 'nope', 'state': 'ready'})
    assert result['failed'] is True
    assert "server 'nope' not found in backend 'be_pacs'" in result['msg']
