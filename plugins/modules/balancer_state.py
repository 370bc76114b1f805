#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: balancer_state
short_description: Read a balancer's real servers (HAProxy and IPVS) and VRRP states (keepalived) in one task
description:
  - What M(medimaging.pacs_lb.haproxy_info) and M(medimaging.pacs_lb.vrrp_info) return, and the kernel's IPVS table
    (C(/proc/net/ip_vs), the real servers keepalived holds for Layer 4 DR and NAT services), read in one module run,
    so that the verify role reaches each balancer once for all three.
  - Never fails for an unreadable part; that part carries C(failed) and C(msg) instead, so the caller judges a
    balancer whose runtime API or keepalived cannot be read.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  socket:
    description: HAProxy's runtime API socket (as M(medimaging.pacs_lb.haproxy_info)).
    type: str
    default: /run/haproxy/admin.sock
  pid_file:
    description: keepalived's PID file (as M(medimaging.pacs_lb.vrrp_info)).
    type: path
    default: /run/keepalived.pid
  timeout:
    description: Seconds for each read (the runtime API's answers, keepalived's dump).
    type: float
    default: 5
notes:
  - Supports check mode; read-only. keepalived is asked for its dump with a signal, which needs root (C(become)).
"""

EXAMPLES = r"""
- name: Read both on every balancer
  medimaging.pacs_lb.balancer_state:
  register: state

- name: Show the VRRP states
  ansible.builtin.debug:
    msg: "{{ state.vrrp.instances | map(attribute='state') | list if not state.vrrp.failed | default(false) else state.vrrp.msg }}"
"""

RETURN = r"""
haproxy:
  description: The result of M(medimaging.pacs_lb.haproxy_info) (C(process), C(frontends), C(backends), C(servers)),
    or C(failed) and C(msg).
  returned: always
  type: dict
vrrp:
  description: The result of M(medimaging.pacs_lb.vrrp_info) (C(instances), ...), or C(failed) and C(msg).
  returned: always
  type: dict
ipvs:
  description:
    - The IPVS table, or C(failed) and C(msg). C(loaded) is false where the ip_vs module is not loaded (no virtual
      server was ever configured).
    - Each of C(virtual_servers) has C(protocol), C(vip), C(port), C(scheduler), C(persistent) (seconds or null) and
      C(servers), each with C(address), C(port), C(forward) (Route, Masq, Tunnel, Local), C(weight), C(active) and
      C(inactive) connections. A real server that keepalived's check removed is not listed.
  returned: always
  type: dict
  sample:
    loaded: true
    virtual_servers:
      - {protocol: TCP, vip: 198.18.30.100, port: 104, scheduler: wlc, persistent: null,
         servers: [{address: 198.18.30.21, port: 104, forward: Route, weight: 100, active: 0, inactive: 2}]}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.haproxy_runtime import RuntimeAPI, RuntimeAPIError, collect
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.ipvs_state import read_ipvs
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.keepalived_state import StateError, read_vrrp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", default="/run/haproxy/admin.sock"),
            pid_file=dict(type="path", default="/run/keepalived.pid"),
            timeout=dict(type="float", default=5.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        haproxy = collect(RuntimeAPI(p["socket"], p["timeout"]))
    except RuntimeAPIError as exc:
        haproxy = {"failed": True, "msg": str(exc)}
    try:
        vrrp = dict(read_vrrp(module, p["pid_file"], None, p["timeout"]), changed=False)
    except StateError as exc:
        vrrp = {"failed": True, "msg": str(exc)}
    try:
        ipvs = read_ipvs()
    except ValueError as exc:
        ipvs = {"failed": True, "msg": "/proc/net/ip_vs: %s" % exc}
    module.exit_json(changed=False, haproxy=haproxy, vrrp=vrrp, ipvs=ipvs)


if __name__ == "__main__":
    main()
