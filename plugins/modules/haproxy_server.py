#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Put an HAProxy server into ready, drain or maint through the runtime API
description:
  - Sets the administrative state of a server with C(set server <backend>/<server> state ready|drain|maint)
    on the HAProxy runtime API (stats socket), and optionally waits until the change has taken effect.
  - Idempotent. The admin state is read from C(show servers state) (the C(srv_admin_state) bit field), not from the
    C(status) column of C(show stat), which hides drain on a DOWN server. Nothing is sent when the server
    is already in the wanted state, and the task then reports C(changed=false).
  - For O(state=drain) with O(wait=true), the module waits until the server has no current sessions.
    A server that is DOWN also counts as drained, and a server that is already drained with no sessions
    returns at once.
    Sessions are never waited for with O(state=ready), so an UP server with traffic does not time out
    (community.general issue 12286).
  - With O(state=maint) and O(drain_first=true), the server is drained, the module waits for its
    sessions to end (or for the server to be DOWN), and then the server is set to maint. The task ends in
    maint, unlike community.general's haproxy module (ansible issue 37591, community.general issues 8092 and 8100).
  - Supports check mode (reports what would change, sends nothing) and diff mode (admin state before and after,
    per C(backend/server)).
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  socket:
    description:
      - Path of the HAProxy stats socket, or C(host:port) for a TCP stats socket.
      - The socket must be declared with C(level admin).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description:
      - Backend that holds the server.
      - When omitted, the state is set in every backend that has a server named O(server).
    type: str
  server:
    description: Name of the server, as on the C(server) line of the HAProxy configuration.
    type: str
    required: true
  state:
    description:
      - V(ready) puts the server back into normal load balancing. It clears forced maint and forced drain.
      - V(drain) stops new sessions (except persistent ones) and lets current sessions finish.
      - V(maint) stops all traffic and health checks.
    type: str
    required: true
    choices: [ready, drain, maint]
  drain_first:
    description:
      - Only with O(state=maint). Drain the server first and wait for its sessions to end, or for the server
        to be DOWN, and only then set maint.
      - The wait for sessions always happens and is bounded by O(wait_interval) and O(wait_retries)
        or O(wait_timeout). If sessions remain at the end, the task fails and leaves the server in drain.
    type: bool
    default: false
  wait:
    description:
      - Wait until the state has taken effect.
      - With O(state=drain), wait until no sessions remain or the server is DOWN.
      - With O(state=maint), wait until the admin state reads maint.
      - With O(state=ready), wait until the server has left drain and maint. See also O(wait_for_up).
    type: bool
    default: false
  wait_for_up:
    description:
      - Only with O(state=ready). Also wait until the health checks report the server fully UP.
        C(UP x/y), C(NOLB) and C(DOWN) do not count as up.
      - Implies O(wait=true).
    type: bool
    default: false
  wait_interval:
    description: Seconds between two reads of the server state while waiting.
    type: float
    default: 1.0
  wait_retries:
    description:
      - Number of reads after the first one before giving up.
      - The default is 30 when O(wait_timeout) is not set.
      - Mutually exclusive with O(wait_timeout).
    type: int
  wait_timeout:
    description:
      - Give up after this many seconds instead of counting O(wait_retries).
      - Mutually exclusive with O(wait_retries).
    type: float
  timeout:
    description: Timeout in seconds for each runtime API command (connect and answer).
    type: float
    default: 5.0
notes:
  - An agent check that answers C(drain) or C(maint) sets the same forced flags as this module, so it can
    undo a change made here.
  - Drain and maint inherited from a tracked server (C(track)), and maint caused by DNS resolution failures,
    cannot be cleared on this server. O(state=ready) then warns, or fails if it has to wait.
  - The change is made on the running process only. A reload without C(server-state-file) restores the
    configured state.
seealso:
  - module: medimaging.pacs_lb.haproxy_info
"""

EXAMPLES = r"""
- name: Drain pacs1 in every backend and wait up to 10 minutes for DICOM associations to end
  medimaging.pacs_lb.haproxy_server:
    server: pacs1
    state: drain
    wait: true
    wait_interval: 5
    wait_timeout: 600

- name: Take pacs1 out of be_pacs_dicom for maintenance, draining it first
  medimaging.pacs_lb.haproxy_server:
    backend: be_pacs_dicom
    server: pacs1
    state: maint
    drain_first: true
    wait_interval: 2
    wait_retries: 150

- name: Put pacs1 back and wait until its health checks pass
  medimaging.pacs_lb.haproxy_server:
    backend: be_pacs_dicom
    server: pacs1
    state: ready
    wait_for_up: true
    wait_timeout: 60

- name: Use a TCP stats socket
  medimaging.pacs_lb.haproxy_server:
    socket: 127.0.0.1:9999
    server: pacs2
    state: maint
"""

RETURN = r"""
servers:
  description: One entry per backend/server the task acted on, read back after the change (predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    backend:
      description: Backend name.
      type: str
      sample: be_pacs_dicom
    server:
      description: Server name.
      type: str
      sample: pacs1
    admin_state_before:
      description: Effective admin state before the task (V(ready), V(drain) or V(maint)).
      type: str
      sample: ready
    admin_state:
      description: Effective admin state after the task.
      type: str
      sample: maint
    admin_flags:
      description: Admin flags set after the task, for example C(forced_maint) or C(inherited_drain).
      type: list
      elements: str
      sample: [forced_maint]
    status:
      description: HAProxy C(show stat) status after the task, for example C(UP), C(DOWN), C(DRAIN), C(MAINT) or C(UP 1/3).
      type: str
      sample: MAINT
    operational_state:
      description: Class of RV(servers[].status) (UP, DOWN, NOLB, MAINT, DRAIN, NOCHECK or UNKNOWN).
      type: str
      sample: MAINT
    current_sessions:
      description: Current sessions on the server.
      type: int
      sample: 0
    changed:
      description: Whether a command was (or in check mode would be) sent for this server.
      type: bool
      sample: true
msg:
  description: Summary of what was done.
  returned: always
  type: str
  sample: "be_pacs_dicom/pacs1: ready -> maint"
diff:
  description: Admin state per C(backend/server) before and after, in diff mode.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"be_pacs_dicom/pacs1": "ready"}, "after": {"be_pacs_dicom/pacs1": "maint"}}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medimaging.pacs_lb.plugins.module_utils.haproxy_runtime import (
    ADMF_FDRAIN,
    ADMF_FMAINT,
    RuntimeAPI,
    RuntimeAPIError,
    admin_flags,
    admin_state,
    drain_complete,
    inherited_admin_flags,
    is_up,
    select_servers,
)

DEFAULT_WAIT_RETRIES = 30


class WaitTimeout(Exception):
    def __init__(self, msg, servers):
        super(WaitTimeout, self).__init__(msg)
        self.servers = servers


def predict(srv, wanted):
    """The server as it would be after set server ... state <wanted> (check mode)."""
    srv = dict(srv)
    bits = srv.get('admin_bits')
    if bits is None:
        srv['admin_state'] = wanted
    else:
        # set server state replaces the forced flags; inherited ones stay.
        bits = (bits & ~(ADMF_FMAINT | ADMF_FDRAIN)) | {'maint': ADMF_FMAINT, 'drain': ADMF_FDRAIN}.get(wanted, 0)
        srv['admin_bits'] = bits
        srv['admin_state'] = admin_state(bits)
        srv['admin_flags'] = admin_flags(bits)
    srv['forced_admin_state'] = wanted
    return srv


def _key(srv):
    return '%s/%s' % (srv['backend'], srv['server'])


def _describe(srv):
    return '%s (status %s, admin %s, %s sessions)' % (
        _key(srv), srv.get('status'), srv.get('admin_state'), srv.get('scur'))


class ServerStateTask(object):
    """Plans, applies and waits for one haproxy_server task.

    Kept apart from AnsibleModule so the unit tests can drive it with a fake
    API and a fake clock.
    """

    def __init__(self, api, params, check_mode=False, sleep=None, clock=None):
        self.api = api
        self.params = params
        self.check_mode = check_mode
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.warnings = []
        self.before = []
        self.touched = set()

    # -- reading ---------------------------------------------------------
    def read_targets(self):
        return select_servers(self.api.servers(), self.params['server'], self.params.get('backend'))

    def wait_until(self, predicate, what, current=None):
        """Poll until predicate holds for every target.

        The first check uses ``current`` (or a fresh read) without sleeping, so a
        server that is already there returns at once.
        """
        interval = max(float(self.params.get('wait_interval') or 0), 0.0)
        timeout = self.params.get('wait_timeout')
        retries = self.params.get('wait_retries')
        if retries is None:
            retries = DEFAULT_WAIT_RETRIES
        deadline = None if timeout is None else self.clock() + float(timeout)
        attempt = 0
        if current is None:
            current = self.read_targets()
        while True:
            pending = [s for s in current if not predicate(s)]
            if not pending:
                return current
            if deadline is not None:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                self.sleep(min(interval, remaining))
            else:
                if attempt >= retries:
                    break
                self.sleep(interval)
            attempt += 1
            current = self.read_targets()
        raise WaitTimeout('timed out waiting for %s: %s' % (what, '; '.join(_describe(s) for s in pending)),
                          current)

    # -- acting ----------------------------------------------------------
    def set_state(self, targets, state):
        """Send the command to the targets whose forced state differs; return their keys."""
        touched = []
        for srv in targets:
            if srv['forced_admin_state'] != state:
                if not self.check_mode:
                    self.api.set_server_state(srv['backend'], srv['server'], state)
                touched.append(_key(srv))
        return touched

    def run(self):
        params = self.params
        wanted = params['state']
        if params.get('drain_first') and wanted != 'maint':
            raise ValueError('drain_first applies only to state=maint, not state=%s' % wanted)
        if params.get('wait_for_up') and wanted != 'ready':
            raise ValueError('wait_for_up applies only to state=ready, not state=%s' % wanted)
        wait = bool(params.get('wait') or params.get('wait_for_up'))

        before = self.before = self.read_targets()
        touched = self.touched

        if wanted == 'maint' and params.get('drain_first'):
            to_drain = [s for s in before if s['forced_admin_state'] != 'maint']
            touched.update(self.set_state(to_drain, 'drain'))
            if to_drain and not self.check_mode:
                keys = set(_key(s) for s in to_drain)
                drained = self.wait_until(lambda s: _key(s) not in keys or drain_complete(s),
                                          'sessions to end before maint (the server stays in drain)')
                to_drain = [s for s in drained if _key(s) in keys]
            touched.update(self.set_state(to_drain, 'maint'))
        else:
            touched.update(self.set_state(before, wanted))

        if self.check_mode:
            after = [predict(s, wanted) if _key(s) in touched else s for s in before]
        else:
            after = self.read_targets()
            if wanted == 'ready':
                self.check_inherited(after, wait)
            if wait:
                after = self.wait_until(self.predicate(wanted), self.wait_description(wanted), after)

        return self.result(before, after, touched)

    def check_inherited(self, after, wait):
        """Ready cannot clear drain/maint inherited from a tracked server: say so clearly."""
        stuck = [s for s in after if s['admin_state'] != 'ready' and inherited_admin_flags(s.get('admin_bits'))]
        for srv in stuck:
            msg = ('%s is still %s because of %s; change the tracked server (or DNS) instead'
                   % (_key(srv), srv['admin_state'], ', '.join(inherited_admin_flags(srv['admin_bits']))))
            if wait:
                raise WaitTimeout(msg, after)
            self.warnings.append(msg)

    def predicate(self, wanted):
        if wanted == 'drain':
            return drain_complete
        if wanted == 'maint':
            return lambda s: s['admin_state'] == 'maint'
        if self.params.get('wait_for_up'):
            return lambda s: s['admin_state'] == 'ready' and is_up(s)
        return lambda s: s['admin_state'] == 'ready'

    def wait_description(self, wanted):
        if wanted == 'drain':
            return 'sessions to end'
        if wanted == 'maint':
            return 'maint'
        return 'UP' if self.params.get('wait_for_up') else 'ready'

    def result(self, before, after, touched):
        before_map = dict((_key(s), s['admin_state']) for s in before)
        servers = []
        for srv in after:
            key = _key(srv)
            servers.append({
                'backend': srv['backend'],
                'server': srv['server'],
                'admin_state_before': before_map.get(key),
                'admin_state': srv['admin_state'],
                'admin_flags': srv.get('admin_flags', []),
                'status': srv.get('status'),
                'operational_state': srv.get('operational_state'),
                'current_sessions': srv.get('scur'),
                'changed': key in touched,
            })
        if touched:
            msg = ', '.join('%s: %s -> %s' % (_key(s), s['admin_state_before'], self.params['state'])
                            for s in servers if s['changed'])
        else:
            msg = 'no change: %s' % ', '.join('%s is %s' % (_key(s), s['admin_state']) for s in servers)
        return {
            'changed': bool(touched),
            'servers': servers,
            'msg': msg,
            'diff': {
                'before': before_map,
                'after': dict((_key(s), s['admin_state']) for s in servers),
            },
        }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='str', default='/run/haproxy/admin.sock'),
            backend=dict(type='str'),
            server=dict(type='str', required=True),
            state=dict(type='str', required=True, choices=['ready', 'drain', 'maint']),
            drain_first=dict(type='bool', default=False),
            wait=dict(type='bool', default=False),
            wait_for_up=dict(type='bool', default=False),
            wait_interval=dict(type='float', default=1.0),
            wait_retries=dict(type='int'),
            wait_timeout=dict(type='float'),
            timeout=dict(type='float', default=5.0),
        ),
        mutually_exclusive=[('wait_retries', 'wait_timeout')],
        supports_check_mode=True,
    )
    api = RuntimeAPI(module.params['socket'], module.params['timeout'])
    task = ServerStateTask(api, module.params, check_mode=module.check_mode)
    try:
        result = task.run()
    except WaitTimeout as exc:
        result = task.result(task.before, exc.servers, task.touched)
        result.pop('diff')
        result['msg'] = str(exc)
        module.fail_json(**result)
    except (RuntimeAPIError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    for warning in task.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop('diff')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
