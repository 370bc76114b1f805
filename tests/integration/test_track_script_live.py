# -*- coding: utf-8 -*-
"""The keepalived role's HAProxy track script, as the template renders it, run by a live keepalived.

keepalived runs in a network namespace and a PID namespace of its own (with its own /proc), so the
track script sees only the processes started there: a stand-in named haproxy (a copy of sleep) that
lives, dies and comes back. The VRRP instance must hold its VIP while it lives, leave it (FAULT) when
it dies, and take it again when it is back. (pidof, cheaper than pgrep, was tried: run directly by
keepalived 2.2.7 it never found the stand-in and this test failed, so the template keeps pgrep.)
"""

import os
import re
import shutil
import subprocess
import time

import pytest
from lb_helpers import stop_process

KEEPALIVED = shutil.which('keepalived') or '/usr/sbin/keepalived'
IP = shutil.which('ip') or '/usr/sbin/ip'
UNSHARE = shutil.which('unshare') or '/usr/bin/unshare'
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TEMPLATE = os.path.join(ROOT, 'roles', 'keepalived', 'templates', 'keepalived.conf.j2')
VIP = '198.18.49.10'

CONFIG = """global_defs {
    router_id PYTEST_TRACK
    enable_script_security
    script_user root
}
vrrp_script chk_haproxy {
    script "%(script)s"
    interval 1
    fall 2
    rise 2
}
vrrp_instance VI_T_TRACK {
    state BACKUP
    interface veth0
    virtual_router_id 73
    priority 100
    advert_int 1
    track_script {
        chk_haproxy
    }
    virtual_ipaddress {
        %(vip)s/24 dev veth0
    }
}
"""


def rendered_track_command():
    """The command of the template's chk_haproxy script (no Jinja inside it)."""
    with open(TEMPLATE) as handle:
        block = re.search(r'vrrp_script chk_haproxy \{(.*?)\}', handle.read(), re.S).group(1)
    return re.search(r'^\s*script "([^"{}]+)"\s*$', block, re.M).group(1)


def holds_vip(ns):
    out = subprocess.run([IP, 'netns', 'exec', ns, IP, '-o', 'addr', 'show', 'dev', 'veth0'],
                         stdout=subprocess.PIPE, check=False).stdout.decode()
    return (' %s/' % VIP) in out


def wait_for(ns, want, seconds):
    deadline = time.monotonic() + seconds
    while holds_vip(ns) != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


# Only a non-root run skips (network namespaces need root); as root (make test, CI) a missing keepalived, ip or
# unshare fails the test instead of hiding it: the Makefile installs all three.
@pytest.mark.skipif(os.geteuid() != 0, reason='network and PID namespaces need root')
def test_track_script_moves_the_vip_with_haproxy(tmp_path):
    ns = 'pacslbtr%d' % os.getpid()
    fake = tmp_path / 'haproxy'
    shutil.copy('/bin/sleep', str(fake))
    cfg = tmp_path / 'keepalived.conf'
    cfg.write_text(CONFIG % {'script': rendered_track_command(), 'vip': VIP})
    proc = log = None
    try:
        for cmd in ([IP, 'netns', 'add', ns],
                    [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'lo', 'up'],
                    [IP, 'netns', 'exec', ns, IP, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'],
                    [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth1', 'up'],
                    [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth0', 'up'],
                    [IP, 'netns', 'exec', ns, IP, 'addr', 'add', '198.18.49.2/24', 'dev', 'veth0']):
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(str(tmp_path / 'keepalived.log'), 'w')
        start = time.monotonic()
        # haproxy lives 0-10 s, is gone 10-16 s, and runs again from 16 s on, beside keepalived; when
        # unshare ends, its child (PID 1 of the namespace) and with it every process there is killed
        proc = subprocess.Popen([IP, 'netns', 'exec', ns, UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc',
                                 'sh', '-c', '("$1" 10; sleep 6; "$1" 120) & shift; exec "$@"', 'init', str(fake),
                                 KEEPALIVED, '-n', '-l', '-D', '-f', str(cfg), '-p', str(tmp_path / 'k.pid'),
                                 '-r', str(tmp_path / 'v.pid'), '-c', str(tmp_path / 'c.pid')],
                                stdout=log, stderr=subprocess.STDOUT)
        assert wait_for(ns, True, 9), 'no VIP while haproxy runs'
        assert time.monotonic() - start < 10
        assert wait_for(ns, False, 10 + 5 - (time.monotonic() - start)), 'VIP kept after haproxy died'
        assert wait_for(ns, True, 16 + 10 - (time.monotonic() - start)), 'VIP not taken back with haproxy'
    finally:
        if proc is not None:
            stop_process(proc)
        if log is not None:
            log.close()
        subprocess.call([IP, 'netns', 'del', ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = (tmp_path / 'keepalived.log').read_text()
    assert 'Entering FAULT STATE' in text, text
