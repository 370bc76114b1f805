# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for keepalived's JSON state dump and ``ip -j addr``.

Standard library only: this file is shipped to the balancers with the modules.

Facts this code relies on, observed on keepalived 2.2.7 (Debian 12):

* ``keepalived --signum=JSON`` prints the signal number (36). Sent to the
  parent or to the VRRP process, it makes the VRRP process rewrite
  ``/tmp/keepalived.json`` (mode 0600): a list with one
  ``{"data": {...}, "stats": {...}}`` per vrrp_instance.
* ``data.state`` is a number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 98 STOP.
* ``data.vips`` and ``data.evips`` (virtual_ipaddress_excluded, absent when
  there are none) are strings such as
  ``198.18.48.10/24 dev veth-a scope global set``; the address comes first.
* The dump says nothing about addresses added by anyone else, so which VIPs
  this host holds is read from ``ip -j addr``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import time

VRRP_STATES = {0: 'INIT', 1: 'BACKUP', 2: 'MASTER', 3: 'FAULT', 97: 'DELETED', 98: 'STOP'}


def normalise_ip(text):
    """One spelling per address (IPv6 compressed, lower case)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def vip_address(spec):
    """The address of one VIP string of the dump, without prefix."""
    return normalise_ip(spec.split()[0].partition('/')[0])


def parse_json_dump(text):
    """[{name, state, vips}] from the JSON dump; vips include the excluded ones."""
    instances = []
    for entry in json.loads(text):
        data = entry.get('data', {})
        vips = []
        for spec in data.get('vips', []) + data.get('evips', []):
            if vip_address(spec) not in vips:
                vips.append(vip_address(spec))
        instances.append({
            'name': data.get('iname'),
            'state': VRRP_STATES.get(data.get('state'), 'unknown'),
            'vips': vips,
        })
    return instances


def parse_ip_addr_json(text):
    """Every address configured on this host, from ``ip -j addr``."""
    return set(normalise_ip(info['local'])
               for link in json.loads(text or '[]')
               for info in link.get('addr_info', []) if 'local' in info)


def parse_timing(text):
    """{name: (last_transition, adver_int)}: when each instance entered its state (epoch seconds of the
    keepalived host) and its advert interval in whole seconds (keepalived 2.2.7 writes both)."""
    timing = {}
    for entry in json.loads(text):
        data = entry.get('data', {})
        try:
            timing[data.get('iname')] = (float(data['last_transition']), float(data.get('adver_int') or 0))
        except (KeyError, TypeError, ValueError):
            pass
    return timing


def settled(state, seconds_in_state, advert_int):
    """True for a MASTER, and for a BACKUP that has been one longer than it would take it to become
    MASTER if none advertised (3 adverts and the skew, under one advert): the pair has its MASTER."""
    if state == 'MASTER':
        return True
    return state == 'BACKUP' and seconds_in_state is not None and seconds_in_state > 3 * max(advert_int, 1) + 1


def vrrp_state(dump_text, ip_addr_text, now=None):
    """The module's result: instances with the VIPs this host holds, and the MASTER instances.

    now: the time on the keepalived host (epoch seconds); with it, each instance also gets
    seconds_in_state and settled.
    """
    addresses = parse_ip_addr_json(ip_addr_text)
    instances = parse_json_dump(dump_text)
    timing = parse_timing(dump_text) if now is not None else {}
    for inst in instances:
        inst['vips_held'] = [vip for vip in inst['vips'] if vip in addresses]
        inst['vips_missing'] = [vip for vip in inst['vips'] if vip not in addresses]
        inst['holds_all_vips'] = bool(inst['vips']) and not inst['vips_missing']
        if now is not None:
            last, advert = timing.get(inst['name'], (None, 0))
            inst['seconds_in_state'] = round(now - last, 1) if last else None
            inst['settled'] = settled(inst['state'], inst['seconds_in_state'], advert)
    return {'instances': instances, 'masters': [i['name'] for i in instances if i['state'] == 'MASTER']}


# ------------------------------------------------------------------ reading the running keepalived (vrrp_info, balancer_state)

class StateError(Exception):
    """keepalived's state cannot be read; the message says why."""


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


def read_vrrp(module, pid_file='/run/keepalived.pid', json_file=None, timeout=5.0):
    """vrrp_state() of the keepalived of this network namespace: asks it for
    its JSON dump, waits for the file and reads ``ip -j addr``. Raises StateError."""
    pids = find_keepalived_pids(pid_file)
    if not pids:
        raise StateError('no running keepalived found in this network namespace (pid file %s)' % pid_file)
    if len(pids) > 1:
        raise StateError('several keepalived processes (%s); not signalling any' % ', '.join(map(str, pids)))
    keepalived, ip_bin = module.get_bin_path('keepalived'), module.get_bin_path('ip')
    if not keepalived or not ip_bin:
        raise StateError('keepalived and ip(8) are needed (found: %s)' % ', '.join(
            name for name, path in (('keepalived', keepalived), ('ip', ip_bin)) if path) or 'neither')
    rc, out, err = module.run_command([keepalived, '--signum=JSON'])
    if rc != 0 or not out.strip().isdigit():
        raise StateError('this keepalived has no JSON dump (keepalived --signum=JSON: %s)' % (err or out).strip())

    path = json_file or dump_path(pids[0])
    before = _mtime_ns(path)
    try:
        os.kill(pids[0], int(out))
    except OSError as exc:
        raise StateError('cannot signal keepalived (pid %d): %s; run the task as root' % (pids[0], exc))
    dump = wait_for_dump(path, before, timeout)
    if dump is None:
        raise StateError('keepalived (pid %d) did not rewrite %s within %ss' % (pids[0], path, timeout))

    rc, addresses, err = module.run_command([ip_bin, '-j', 'addr', 'show'])
    if rc != 0:
        raise StateError('ip -j addr show failed: %s' % err.strip())
    return vrrp_state(dump, addresses, now=time.time())
