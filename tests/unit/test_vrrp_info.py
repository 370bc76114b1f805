# -*- coding: utf-8 -*-
"""Tests for the vrrp_info module: finding and signalling keepalived, waiting
for its JSON dump, and a live keepalived in a network namespace of its own.
The parsers are tested in test_keepalived_state.py.
"""

import os
import shutil
import threading
import time

import pytest

from lb_helpers import FIXTURES, fixture_text, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import keepalived_state as ks
from ansible_collections.medimaging.pacs_lb.plugins.modules import vrrp_info


def ka(name):
    return fixture_text('keepalived', name)


def by_name(instances):
    return dict((i['name'], i) for i in instances)


def test_wait_for_dump(tmp_path):
    path = str(tmp_path / 'keepalived.json')
    with open(path, 'w') as handle:
        handle.write('[]')
    before = ks._mtime_ns(path)

    def rewrite():
        time.sleep(0.2)
        with open(path, 'w') as handle:   # half written first: must not be taken
            handle.write(ka('master_fault.json')[:300])
        time.sleep(0.2)
        shutil.copy(os.path.join(FIXTURES, 'keepalived', 'master_fault.json'), path)

    writer = threading.Thread(target=rewrite)
    writer.start()
    got = ks.wait_for_dump(path, before, 3)
    writer.join()
    assert got == ka('master_fault.json')
    # not rewritten: times out
    assert ks.wait_for_dump(path, ks._mtime_ns(path), 0.2) is None


def test_stale_pid_file_is_not_trusted(tmp_path):
    pid_file = tmp_path / 'keepalived.pid'
    pid_file.write_text('%d\n' % os.getpid())   # a live process that is not keepalived
    assert os.getpid() not in ks.find_keepalived_pids(str(pid_file))


# ---------------------------------------------------------------------------
# main() with faked keepalived and ip
# ---------------------------------------------------------------------------

class FakeHost(object):
    """Stands in for ip(8), keepalived --signum and the keepalived process."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.scenario = 'unicast_master_fault'
        self.signum = (0, '36\n', '')
        self.kill_denied = False
        self.write = True
        self.signals = []
        self.json_file = str(tmp_path / 'keepalived.json')

    def args(self, **extra):
        args = {'json_file': self.json_file, 'pid_file': str(self.tmp / 'none.pid'), 'timeout': 0.5}
        args.update(extra)
        return args

    def run_command(self, module, args, **kwargs):
        if args[-1] == '--signum=JSON':
            return self.signum
        if args[1:] == ['-j', 'addr', 'show']:
            return 0, ka(self.scenario + '.ip_addr.json'), ''
        raise AssertionError('unexpected command %r' % (args,))

    def kill(self, pid, signum):
        self.signals.append((pid, signum))
        if self.kill_denied:
            raise PermissionError(1, 'Operation not permitted')
        if self.write:
            shutil.copy(os.path.join(FIXTURES, 'keepalived', self.scenario + '.json'), self.json_file)


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path)

    def run_command(module, args, **kwargs):  # a function, so AnsibleModule binds it as a method
        return fake.run_command(module, args, **kwargs)
    monkeypatch.setattr(vrrp_info.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(vrrp_info.AnsibleModule, 'get_bin_path',
                        lambda module, name, *a, **kw: '/usr/sbin/' + name)
    monkeypatch.setattr(ks, 'find_keepalived_pids', lambda pid_file: [4242])
    monkeypatch.setattr(ks.os, 'kill', fake.kill)
    return fake


def test_main_signal_json(host):
    with open(host.json_file, 'w') as handle:   # an old dump must be rewritten, not read
        handle.write('[]')
    os.utime(host.json_file, (0, 0))
    result = run_module(vrrp_info, host.args(_ansible_check_mode=True))
    assert result['changed'] is False
    assert host.signals == [(4242, 36)]
    inst = by_name(result['instances'])
    assert inst['VI_PACS']['state'] == 'MASTER'
    assert inst['VI_PACS']['vips_held'] == ['198.18.48.10', '198.18.48.11', '198.18.48.12']
    assert inst['VI_PACS']['holds_all_vips'] is True
    assert inst['VI_HL7']['state'] == 'FAULT' and inst['VI_HL7']['vips_held'] == []
    assert result['masters'] == ['VI_PACS']
    assert sorted(result) == ['changed', 'instances', 'invocation', 'masters']


def test_main_backup(host):
    host.scenario = 'unicast_backup_master'
    result = run_module(vrrp_info, host.args())
    pacs = by_name(result['instances'])['VI_PACS']
    assert pacs['state'] == 'BACKUP' and pacs['vips_held'] == [] and pacs['holds_all_vips'] is False
    assert result['masters'] == ['VI_HL7']


def test_main_default_json_file_is_keepalived_tmpdir(host, monkeypatch):
    monkeypatch.setattr(ks, 'dump_path', lambda pid: host.json_file if pid == 4242 else None)
    result = run_module(vrrp_info, host.args(json_file=None))
    assert result['masters'] == ['VI_PACS']


@pytest.mark.parametrize('change, message', [
    (('kill_denied', True), 'Operation not permitted; run the task as root'),
    (('write', False), 'did not rewrite'),
    (('signum', (1, '', 'unknown signal name JSON')), 'has no JSON dump'),
])
def test_main_fails(host, change, message):
    setattr(host, *change)
    result = run_module(vrrp_info, host.args())
    assert result['failed'] is True
    assert message in result['msg']


@pytest.mark.parametrize('pids, message', [([], 'no running keepalived'), ([10, 20], 'several keepalived processes')])
def test_main_not_one_keepalived(host, monkeypatch, pids, message):
    monkeypatch.setattr(ks, 'find_keepalived_pids', lambda pid_file: pids)
    result = run_module(vrrp_info, host.args())
    assert host.signals == []
    assert result['failed'] is True and message in result['msg']


# ---------------------------------------------------------------------------
# Live: keepalived in a private network namespace
# ---------------------------------------------------------------------------
