#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_info
short_description: Read frontends, backends and servers from the HAProxy runtime API
description:
  - Reads C(show stat), C(show servers state) and C(show info) from the HAProxy runtime API
    (stats socket) and returns every frontend, backend and server. For each one it returns the status,
    health check result, seconds since the last change, current sessions and, for servers, the
    admin state (ready, drain or maint).
  - The admin state comes from the C(srv_admin_state) bit field, so a drained server that is DOWN
    shows as drained.
  - Read-only. Never reports a change, and runs in check mode too.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  socket:
    description:
      - Path of the HAProxy stats socket, or C(host:port) for a TCP stats socket.
      - Any C(level) works (C(user) is enough).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description:
      - Return only this backend and its servers. Frontends are always returned.
      - The task fails if the backend does not exist.
    type: str
  timeout:
    description: Timeout in seconds for each runtime API command.
    type: float
    default: 5.0
seealso:
  - module: medimaging.pacs_lb.haproxy_server
"""

EXAMPLES = r"""
- name: Read the load balancer state
  medimaging.pacs_lb.haproxy_info:
  register: lb

- name: Fail when a PACS server of the DICOM backend is not UP
  ansible.builtin.assert:
    that: lb.servers | selectattr('backend', 'eq', 'be_pacs_dicom')
          | rejectattr('operational_state', 'eq', 'UP') | list | length == 0
    fail_msg: "{{ lb.servers | rejectattr('operational_state', 'eq', 'UP') | map(attribute='name') | list }}"

- name: Show the servers in maintenance or drain
  ansible.builtin.debug:
    msg: "{{ lb.servers | rejectattr('admin_state', 'eq', 'ready') | list }}"

- name: Only one backend, over a TCP stats socket
  medimaging.pacs_lb.haproxy_info:
    socket: 127.0.0.1:9999
    backend: be_pacs_http
"""

RETURN = r"""
process:
  description: Selected C(show info) fields.
  returned: always
  type: dict
  contains:
    version:
      description: HAProxy version.
      type: str
      sample: 2.6.12-1+deb12u4
    pid:
      description: Process ID of the worker that answered.
      type: int
      sample: 1234
    uptime_sec:
      description: Seconds since the process started.
      type: int
      sample: 3600
    current_connections:
      description: Current connections (C(CurrConns)).
      type: int
      sample: 12
frontends:
  description: Every frontend.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Frontend name.
      type: str
      sample: fe_dicom
    type:
      description: Always V(frontend).
      type: str
      sample: frontend
    status:
      description: C(OPEN), C(STOP) or C(FULL).
      type: str
      sample: OPEN
    mode:
      description: C(tcp) or C(http).
      type: str
      sample: tcp
    current_sessions:
      description: Current sessions (C(scur)).
      type: int
      sample: 4
    max_sessions:
      description: Highest number of sessions seen (C(smax)).
      type: int
      sample: 10
    session_limit:
      description: Configured session limit (C(slim)).
      type: int
      sample: 2000
    total_sessions:
      description: Total sessions (C(stot)).
      type: int
      sample: 812
backends:
  description: Every backend (or only O(backend)), each with its servers.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Backend name.
      type: str
      sample: be_pacs_dicom
    type:
      description: Always V(backend).
      type: str
      sample: backend
    status:
      description: C(UP) when at least one server is usable, else C(DOWN).
      type: str
      sample: UP
    last_change:
      description: Seconds since the backend status last changed.
      type: int
      sample: 5320
    current_sessions:
      description: Current sessions.
      type: int
      sample: 4
    active_servers:
      description: Number of active servers that are up.
      type: int
      sample: 2
    backup_servers:
      description: Number of backup servers that are up.
      type: int
      sample: 1
    servers:
      description: The servers of this backend, with the same fields as RV(servers).
      type: list
      elements: dict
servers:
  description: Every server (or those of O(backend)), as a flat list.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: pacs1
    backend:
      description: Backend the server belongs to.
      type: str
      sample: be_pacs_dicom
    type:
      description: Always V(server).
      type: str
      sample: server
    status:
      description: Raw C(show stat) status, for example C(UP), C(DOWN), C(UP 1/3), C(DRAIN), C(MAINT), C(NOLB) or C(no check).
      type: str
      sample: UP
    operational_state:
      description: Class of RV(servers[].status) (UP, DOWN, NOLB, MAINT, DRAIN, NOCHECK or UNKNOWN).
      type: str
      sample: UP
    transition:
      description: V(going_down) for C(UP x/y) (health below maximum, also seen just after leaving maint), V(going_up) for C(DOWN x/y), else null.
      type: str
      sample: null
    check_status:
      description: Last health check result code, for example C(L4OK), C(L4CON), C(L7OK) or C(L7STS). A leading C(*) means the check is still running.
      type: str
      sample: L4OK
    check_desc:
      description: Human-readable health check result.
      type: str
      sample: Layer4 check passed
    last_check:
      description: Details of the last check (C(last_chk)), for example C(Connection refused).
      type: str
      sample: Connection refused
    last_change:
      description: Seconds since the last UP/DOWN change.
      type: int
      sample: 5320
    current_sessions:
      description: Current sessions on the server.
      type: int
      sample: 3
    max_sessions:
      description: Highest number of sessions seen.
      type: int
      sample: 12
    total_sessions:
      description: Total sessions.
      type: int
      sample: 345
    weight:
      description: Effective weight.
      type: int
      sample: 1
    admin_state:
      description: V(ready), V(drain) or V(maint), from the admin bit field.
      type: str
      sample: ready
    admin_flags:
      description: Admin flags that are set (forced_maint, inherited_maint, config_disabled, forced_drain, inherited_drain, resolution_maint).
      type: list
      elements: str
      sample: []
    op_state:
      description: Operational state from C(show servers state) (stopped, starting, running or stopping).
      type: str
      sample: running
    address:
      description: Server address and port.
      type: str
      sample: 10.0.0.21:104
    backup:
      description: Whether this is a backup server.
      type: bool
      sample: false
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medimaging.pacs_lb.plugins.module_utils.haproxy_runtime import RuntimeAPI, RuntimeAPIError, collect


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='str', default='/run/haproxy/admin.sock'),
            backend=dict(type='str'),
            timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    api = RuntimeAPI(module.params['socket'], module.params['timeout'])
    try:
        result = collect(api, module.params['backend'])
    except RuntimeAPIError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
