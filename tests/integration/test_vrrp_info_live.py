# -*- coding: utf-8 -*-
"""vrrp_info against a live keepalived in a network namespace of its own, and the dump path of a real process."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from lb_helpers import stop_process


from ansible_collections.medimaging.pacs_lb.plugins.module_utils import keepalived_state as ks
from ansible_collections.medimaging.pacs_lb.plugins.modules import vrrp_info


def by_name(instances):
    return dict((i['name'], i) for i in instances)


def test_dump_path_follows_tmpdir(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, '-c', 'import time; print("up", flush=True); time.sleep(30)'],
                             env=env, stdout=subprocess.PIPE)
    try:
        child.stdout.readline()   # its environment is readable once it runs
        assert ks.dump_path(child.pid) == str(tmp_path / 'keepalived.json')
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert ks.dump_path(2 ** 22 + 1) == '/tmp/keepalived.json'   # no such process


# ---------------------------------------------------------------------------
# main() with faked keepalived and ip
# ---------------------------------------------------------------------------


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
        198.18.48.10/24 dev veth0
        198.18.48.11
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
        198.18.48.20/24 dev veth0
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
    setup = [
        [IP, 'netns', 'add', ns],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'lo', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth1', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'link', 'set', 'veth0', 'up'],
        [IP, 'netns', 'exec', ns, IP, 'addr', 'add', '198.18.48.2/24', 'dev', 'veth0'],
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
        # its own TMPDIR: the dump lands there, not in a /tmp/keepalived.json
        # that another keepalived on this machine may be rewriting
        proc = subprocess.Popen([IP, 'netns', 'exec', ns, KEEPALIVED, '-n', '-l', '-D', '-P', '-f', str(cfg),
                                 '-p', pid_file, '-r', str(tmp_path / 'vrrp.pid'),
                                 '-c', str(tmp_path / 'checkers.pid')], stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, TMPDIR=str(tmp_path)))
        yield {'ns': ns, 'config': str(cfg), 'pid_file': pid_file, 'proc': proc, 'tmp': tmp_path}
    finally:
        if proc is not None:
            stop_process(proc)
            log.close()
        subprocess.call([IP, 'netns', 'del', ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
    deadline = time.monotonic() + 20
    while True:
        result = run_in_netns(env, pid_file=env['pid_file'], timeout=5)
        inst = by_name(result.get('instances', []))
        if inst.get('VI_T_PACS', {}).get('state') == 'MASTER' and inst['VI_T_PACS']['holds_all_vips']:
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.5)

    assert os.path.exists(str(env['tmp'] / 'keepalived.json'))   # found through keepalived's TMPDIR
    pacs, hl7 = inst['VI_T_PACS'], inst['VI_T_HL7']
    assert pacs['vips_held'] == ['198.18.48.10', '198.18.48.11'] and pacs['vips_missing'] == []
    assert hl7['state'] == 'FAULT' and hl7['vips_held'] == [] and hl7['holds_all_vips'] is False
    assert result['masters'] == ['VI_T_PACS']

    # the VRRP process answers the signal too (a PID file naming it is good enough)
    result = run_in_netns(env, pid_file=str(env['tmp'] / 'vrrp.pid'), timeout=5)
    assert result['masters'] == ['VI_T_PACS']
    # no PID file: the keepalived of this network namespace is found in /proc
    result = run_in_netns(env, pid_file=str(env['tmp'] / 'none.pid'), timeout=5)
    assert result['masters'] == ['VI_T_PACS']


@pytest.mark.skipif(not _netns_usable(), reason='needs root, keepalived, ip and network namespaces')
def test_settle_timeout_reads_again_on_the_host_until_the_deadline(netns_keepalived):
    env = netns_keepalived
    # keepalived was just started: VI_T_PACS is BACKUP until it took over (~3 adverts); VI_T_HL7 stays in FAULT,
    # so it never settles and the module reads until the deadline, then returns the state it read last
    start = time.monotonic()
    result = run_in_netns(env, pid_file=env['pid_file'], timeout=5, settle_timeout=6)
    elapsed = time.monotonic() - start
    inst = by_name(result['instances'])
    assert 6 <= elapsed < 12, elapsed
    assert inst['VI_T_PACS']['state'] == 'MASTER' and inst['VI_T_PACS']['settled'] is True
    assert inst['VI_T_HL7']['state'] == 'FAULT' and inst['VI_T_HL7']['settled'] is False
