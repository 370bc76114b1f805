# -*- coding: utf-8 -*-
"""haproxy_runtime and the haproxy_info / balancer_state modules against a real HAProxy and real sockets."""

import os
import socket
import threading
import time

import pytest

from lb_helpers import HAProxyLab, fixture_text, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import haproxy_runtime as hr
from ansible_collections.medimaging.pacs_lb.plugins.modules import balancer_state, haproxy_info


# ---------------------------------------------------------------------------
# show stat
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# show servers state
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# RuntimeAPI over real sockets (fake server)
# ---------------------------------------------------------------------------

class FakeSocketServer(object):
    """Answers one command per connection, like HAProxy's non-interactive CLI."""

    def __init__(self, answers, family=socket.AF_UNIX, path=None, silent=False):
        self.answers = answers
        self.received = []
        self.silent = silent
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.sock.bind(path)
            self.address = path
        else:
            self.sock.bind(('127.0.0.1', 0))
            self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            data = b''
            while not data.endswith(b'\n'):
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            cmd = data.decode().strip()
            self.received.append(cmd)
            if self.silent:
                time.sleep(1.5)
            else:
                answer = self.answers.get(cmd, 'Unknown command.\n')
                # send in pieces: the client must read until EOF
                for i in range(0, len(answer), 7):
                    conn.sendall(answer[i:i + 7].encode())
            conn.close()

    def close(self):
        self.sock.close()


class TestRuntimeAPISocket(object):
    def test_unix_commands_and_parsing(self, sockdir):
        answers = {
            'show stat': fixture_text('haproxy', 'show_stat_drain.csv'),
            'show servers state': fixture_text('haproxy', 'show_servers_state_drain.txt'),
            'set server be_web/web1 state maint': '\n',
            'set server be_web/nope state maint': 'No such server.\n\n',
            'set server be_web/web1 state ready': 'Permission denied\n\n',
        }
        server = FakeSocketServer(answers, path=os.path.join(sockdir, 's'))
        try:
            api = hr.RuntimeAPI(server.address, timeout=2)
            servers = api.servers()
            assert len(servers) == 6
            assert api.set_server_state('be_web', 'web1', 'maint') == '\n'
            with pytest.raises(hr.NotFoundError, match='No such server'):
                api.set_server_state('be_web', 'nope', 'maint')
            with pytest.raises(hr.CommandError, match="level admin"):
                api.set_server_state('be_web', 'web1', 'ready')
            assert server.received == [
                'show stat', 'show servers state', 'set server be_web/web1 state maint',
                'set server be_web/nope state maint', 'set server be_web/web1 state ready']
        finally:
            server.close()

    def test_tcp_socket(self):
        server = FakeSocketServer({'show info': fixture_text('haproxy', 'show_info.txt')}, family=socket.AF_INET)
        try:
            info = hr.RuntimeAPI(server.address, timeout=2).show_info()
            assert info['Name'] == 'HAProxy'
        finally:
            server.close()

    def test_show_stat_error_text(self, sockdir):
        server = FakeSocketServer({'show stat': 'Permission denied\n'}, path=os.path.join(sockdir, 's'))
        try:
            with pytest.raises(hr.CommandError):
                hr.RuntimeAPI(server.address, timeout=2).show_stat()
        finally:
            server.close()

    def test_show_servers_state_unknown_backend(self, sockdir):
        server = FakeSocketServer({'show servers state be_x': "Can't find backend.\n\n"},
                                  path=os.path.join(sockdir, 's'))
        try:
            with pytest.raises(hr.NotFoundError):
                hr.RuntimeAPI(server.address, timeout=2).show_servers_state('be_x')
        finally:
            server.close()

    def test_timeout(self, sockdir):
        server = FakeSocketServer({}, path=os.path.join(sockdir, 's'), silent=True)
        try:
            started = time.monotonic()
            with pytest.raises(hr.RuntimeAPIError, match='timeout'):
                hr.RuntimeAPI(server.address, timeout=0.3).command('show stat')
            assert time.monotonic() - started < 1.2
        finally:
            server.close()

    def test_missing_socket_message(self, sockdir):
        with pytest.raises(hr.RuntimeAPIError, match="does not exist .*level admin"):
            hr.RuntimeAPI(os.path.join(sockdir, 'missing.sock')).command('show info')

    def test_refused_tcp(self):
        port = socket.socket()
        port.bind(('127.0.0.1', 0))
        address = '127.0.0.1:%d' % port.getsockname()[1]
        port.close()
        with pytest.raises(hr.RuntimeAPIError, match='cannot connect'):
            hr.RuntimeAPI(address, timeout=1).command('show info')

    def test_multiline_command_rejected(self):
        with pytest.raises(ValueError):
            hr.RuntimeAPI('/nonexistent').command('show stat\nshow info')


# ---------------------------------------------------------------------------
# haproxy_info module
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Live: real haproxy on loopback
# ---------------------------------------------------------------------------

# Runs the real /usr/sbin/haproxy (make installs it): a missing binary fails, it does not skip.
live = pytest.mark.live


@pytest.fixture
def lab(sockdir):
    lab = HAProxyLab(sockdir)
    try:
        yield lab.start()
    finally:
        lab.stop()


@live
def test_live_drain_maint_ready(lab):
    api = hr.RuntimeAPI(lab.socket_path, timeout=2)

    def read(server='pacs1'):
        return [s for s in api.servers() if (s['backend'], s['server']) == ('be_pacs', server)][0]

    lab.open_sessions(2)
    time.sleep(0.3)
    srv = read()
    assert srv['scur'] == 2 and srv['admin_state'] == 'ready' and srv['admin_bits'] == 0

    api.set_server_state('be_pacs', 'pacs1', 'drain')
    srv = read()
    assert (srv['admin_state'], srv['admin_bits'], srv['status']) == ('drain', 8, 'DRAIN')
    assert srv['scur'] == 2 and not hr.drain_complete(srv)
    lab.close_sessions()
    deadline = time.monotonic() + 5
    while not hr.drain_complete(read()):
        assert time.monotonic() < deadline, read()
        time.sleep(0.1)

    api.set_server_state('be_pacs', 'pacs1', 'maint')
    srv = read()
    assert (srv['admin_state'], srv['admin_bits'], srv['status']) == ('maint', 1, 'MAINT')

    api.set_server_state('be_pacs', 'pacs1', 'ready')
    srv = read()
    assert (srv['admin_state'], srv['admin_bits']) == ('ready', 0)
    deadline = time.monotonic() + 5
    while not hr.is_up(read()):
        assert time.monotonic() < deadline, read()
        time.sleep(0.1)

    # DOWN server drained: status stays DOWN, admin bits say drain
    api.set_server_state('be_pacs', 'pacs2', 'drain')
    down = read('pacs2')
    assert down['status'] == 'DOWN' and down['admin_state'] == 'drain' and hr.drain_complete(down)

    with pytest.raises(hr.NotFoundError):
        api.set_server_state('be_pacs', 'nope', 'maint')
    with pytest.raises(hr.NotFoundError):
        api.set_server_state('be_nope', 'pacs1', 'maint')


@live
def test_live_haproxy_info(lab):
    result = run_module(haproxy_info, {'socket': lab.socket_path, 'backend': 'be_pacs'})
    assert result['changed'] is False
    assert [f['name'] for f in result['frontends']] == ['fe_pacs']
    servers = dict((s['name'], s) for s in result['servers'])
    assert servers['pacs1']['operational_state'] == 'UP'
    assert servers['pacs2']['operational_state'] == 'DOWN'
    assert servers['pacs2']['last_check'] == 'Connection refused'
    assert result['process']['version'].startswith('2.')


@live
def test_live_balancer_state_reads_haproxy_and_reports_keepalived_unreadable(lab, tmp_path):
    """One module run for verify: HAProxy's servers as haproxy_info reads them;
    no keepalived here, so its part says why (the module itself never fails)."""
    result = run_module(balancer_state, {'socket': lab.socket_path, 'pid_file': str(tmp_path / 'none.pid')})
    assert not result.get('failed') and result['changed'] is False
    servers = dict((s['name'], s) for s in result['haproxy']['servers'] if s['backend'] == 'be_pacs')
    assert (servers['pacs1']['operational_state'], servers['pacs2']['operational_state']) == ('UP', 'DOWN')
    assert result['vrrp']['failed'] and 'keepalived' in result['vrrp']['msg']
    # the IPVS part as the kernel has it: this machine's has no ip_vs (the guests' has: molecule l4)
    assert result['ipvs']['loaded'] == os.path.exists('/proc/net/ip_vs') and 'failed' not in result['ipvs']
