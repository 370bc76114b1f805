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
  settle_timeout:
    description:
      - Seconds to wait, reading again four times a second on the host, until every instance has settled (see
        RV(instances[].settled)) and keepalived runs. The state read last is returned either way; the module fails
        only when keepalived could not be read at the end.
      - One task, and one round trip, where a retried task would pay one per try and up to a second between tries.
        C(site.yml) waits with it for a newly started pair to elect its MASTER.
      - V(0) reads once.
    type: float
    default: 0
    version_added: 0.3.0
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

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.keepalived_state import StateError, read_vrrp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            json_file=dict(type='path'),
            pid_file=dict(type='path', default='/run/keepalived.pid'),
            timeout=dict(type='float', default=5.0),
            settle_timeout=dict(type='float', default=0.0),
        ),
        supports_check_mode=True,
    )
    deadline = time.time() + module.params['settle_timeout']
    while True:
        try:
            state, error = read_vrrp(module, module.params['pid_file'], module.params['json_file'],
                                     module.params['timeout']), None
        except StateError as exc:
            state, error = None, exc
        if time.time() >= deadline or (state and all(inst['settled'] for inst in state['instances'])):
            break
        time.sleep(0.25)
    if error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **state)


if __name__ == '__main__':
    main()
