#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vrrp_info
short_description: Report the keepalived VRRP instances of this balancer and whether it holds their VIPs
description:
  - For each keepalived C(vrrp_instance), returns its VRRP state (MASTER, BACKUP, FAULT, ...), its virtual IP
    addresses, and which of them this host holds now.
  - The state comes from keepalived's JSON dump. The module sends the running keepalived its C(JSON) signal
    (the number C(keepalived --signum=JSON) prints) and reads O(json_file) once keepalived has rewritten it.
  - Whether a VIP is held is decided from C(ip -j addr), on any interface of this host, so a VIP that a
    non-MASTER still holds (or that someone added by hand) shows too.
  - Read-only. Never reports a change, and runs in check mode too.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  json_file:
    description:
      - JSON dump that keepalived writes on its C(JSON) signal.
      - By default C(keepalived.json) in the C(TMPDIR) of the keepalived process (read from its environment),
        else C(/tmp/keepalived.json), where keepalived 2.2.7 writes it.
    type: path
  pid_file:
    description:
      - PID file of the keepalived parent process.
      - If it is missing or names no keepalived process, the module looks in C(/proc) for a keepalived
        process whose parent is not keepalived (keepalived in a container, or started by hand).
      - Only a keepalived in the network namespace of the module counts (not one of a container
        on this host with a network of its own).
    type: path
    default: /run/keepalived.pid
  timeout:
    description: Seconds to wait for keepalived to rewrite O(json_file) after the signal.
    type: float
    default: 5.0
notes:
  - Signalling keepalived and reading its dump (mode 0600, owned by root) need root (C(become=true)).
  - Needs a keepalived built with JSON support (Debian 12's keepalived 2.2.7 is) and C(ip) from iproute2.
  - The module fails when keepalived is not running, when several keepalived parents run, or when the dump
    is not rewritten within O(timeout).
seealso:
  - module: medimaging.pacs_lb.haproxy_info
"""

EXAMPLES = r"""
- name: Read VRRP state on every balancer
  medimaging.pacs_lb.vrrp_info:
  become: true
  register: vrrp

- name: Exactly one balancer holds all VIPs of VI_PACS
  ansible.builtin.assert:
    that: >-
      ansible_play_hosts
      | map('extract', hostvars, ['vrrp', 'instances'])
      | map('selectattr', 'name', 'eq', 'VI_PACS') | map('first')
      | selectattr('holds_all_vips') | list | length == 1
  run_once: true

- name: Exactly one MASTER over the pair
  ansible.builtin.assert:
    that: ansible_play_hosts | map('extract', hostvars, ['vrrp', 'masters']) | flatten | length == 1
  run_once: true
"""

RETURN = r"""
masters:
  description: Names of the instances in MASTER state on this host.
  returned: success
  type: list
  elements: str
  sample: [VI_PACS]
instances:
  description: One entry per VRRP instance, in keepalived's order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Instance name.
      type: str
      sample: VI_PACS
    state:
      description: V(MASTER), V(BACKUP), V(FAULT), V(INIT), V(STOP), or V(unknown) for a state number this module does not know.
      type: str
      sample: MASTER
    vips:
      description: Virtual IP addresses (without prefix), including C(virtual_ipaddress_excluded) ones.
      type: list
      elements: str
      sample: [198.18.48.10, 198.18.48.11]
    vips_held:
      description: The VIPs that are configured on an interface of this host now.
      type: list
      elements: str
      sample: [198.18.48.10, 198.18.48.11]
    vips_missing:
      description: The VIPs that are not on this host.
      type: list
      elements: str
      sample: []
    holds_all_vips:
      description: True when the instance has VIPs and this host holds all of them.
      type: bool
      sample: true
    seconds_in_state:
      description: Seconds since the instance entered its state (keepalived's C(last_transition)), or null.
      type: float
      sample: 312.4
      version_added: 0.2.0
    settled:
      description:
        - True when the instance is MASTER, or BACKUP for longer than it would take to become MASTER if no
          MASTER advertised (three advert intervals and one second), that is, its pair has a MASTER.
        - False right after keepalived started, while the pair still elects its MASTER, and in FAULT.
      type: bool
      sample: true
      version_added: 0.2.0
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.keepalived_state import vrrp_state


def _proc_ppid(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            # the command name may contain spaces; fields resume after ')'
            return int(handle.read().rsplit(')', 1)[1].split()[1])
    except (IOError, OSError, IndexError, ValueError):
        return None


def _keepalived_here(pid):
    """True for a keepalived process in this network namespace: the one whose VIPs ip -j addr shows."""
    try:
        with open('/proc/%d/comm' % pid) as handle:
            if handle.read().strip() != 'keepalived':
                return False
        return os.readlink('/proc/%d/ns/net' % pid) == os.readlink('/proc/self/ns/net')
    except (IOError, OSError):
        return False


def find_keepalived_pids(pid_file):
    """keepalived parent PIDs of this network namespace: from pid_file if it names one, else from /proc."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        if _keepalived_here(pid):   # a stale PID file may name a reused PID
            return [pid]
    except (IOError, OSError, ValueError):
        pass
    pids = [int(e) for e in os.listdir('/proc') if e.isdigit() and _keepalived_here(int(e))]
    return sorted(pid for pid in pids if (_proc_ppid(pid) or 0) not in pids)


def dump_path(pid):
    """Where keepalived writes its JSON dump: its TMPDIR, else /tmp."""
    tmpdir = '/tmp'
    try:
        with open('/proc/%d/environ' % pid, 'rb') as handle:
            for item in handle.read().split(b'\0'):
                if item.startswith(b'TMPDIR=') and len(item) > 7:
                    tmpdir = item[7:].decode('utf-8', 'replace')
    except (IOError, OSError):
        pass
    return os.path.join(tmpdir, 'keepalived.json')


def _mtime_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def wait_for_dump(path, previous_mtime, timeout, sleep=time.sleep, clock=time.monotonic):
    """Text of path once it is rewritten (mtime changed) and whole JSON, or None after timeout.

    keepalived truncates and rewrites the file, so a read can catch it half
    written: text that does not parse means "try again".
    """
    deadline = clock() + timeout
    while True:
        if _mtime_ns(path) not in (None, previous_mtime):
            try:
                with open(path) as handle:
                    text = handle.read()
                json.loads(text)
                return text
            except (IOError, OSError, ValueError):
                pass
        if clock() >= deadline:
            return None
        sleep(0.05)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            json_file=dict(type='path'),
            pid_file=dict(type='path', default='/run/keepalived.pid'),
            timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    pids = find_keepalived_pids(module.params['pid_file'])
    if not pids:
        module.fail_json(msg='no running keepalived found in this network namespace (pid file %s)'
                         % module.params['pid_file'])
    if len(pids) > 1:
        module.fail_json(msg='several keepalived processes (%s); not signalling any' % ', '.join(map(str, pids)))
    rc, out, err = module.run_command([module.get_bin_path('keepalived', required=True), '--signum=JSON'])
    if rc != 0 or not out.strip().isdigit():
        module.fail_json(msg='this keepalived has no JSON dump (keepalived --signum=JSON: %s)' % (err or out).strip())
    ip_bin = module.get_bin_path('ip', required=True)

    path = module.params['json_file'] or dump_path(pids[0])
    before = _mtime_ns(path)
    try:
        os.kill(pids[0], int(out))
    except OSError as exc:
        module.fail_json(msg='cannot signal keepalived (pid %d): %s; run the task as root' % (pids[0], exc))
    dump = wait_for_dump(path, before, module.params['timeout'])
    if dump is None:
        module.fail_json(msg='keepalived (pid %d) did not rewrite %s within %ss'
                         % (pids[0], path, module.params['timeout']))

    rc, addresses, err = module.run_command([ip_bin, '-j', 'addr', 'show'])
    if rc != 0:
        module.fail_json(msg='ip -j addr show failed: %s' % err.strip())
    module.exit_json(changed=False, **vrrp_state(dump, addresses, now=time.time()))


if __name__ == '__main__':
    main()
