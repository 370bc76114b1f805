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
  - For each keepalived C(vrrp_instance), returns its VRRP state (MASTER, BACKUP, FAULT, ...), interface,
    virtual router ID, virtual IP addresses, and which of those addresses this host holds now.
  - The state is taken from keepalived's own state dump. With O(use_signal=true) the module asks the running
    keepalived for a fresh dump, first as JSON (the C(JSON) signal, written to O(json_file)) and, if that fails,
    as text (C(SIGUSR1), written to O(data_file)). keepalived 2.2.7 on Debian 12 supports both.
  - If no dump can be had (keepalived stopped, no permission, O(use_signal=false) and no dump file), the module
    falls back to the configuration. It reads the C(vrrp_instance) blocks from O(config) (following C(include))
    and compares their C(virtual_ipaddress) entries with the output of C(ip -o addr). The state is then V(unknown).
  - Whether a VIP is held is always decided from C(ip -o addr), on any interface of this host.
  - Read-only. Never reports a change, and runs in check mode too.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  config:
    description: keepalived configuration file, used when no state dump is available.
    type: path
    default: /etc/keepalived/keepalived.conf
  data_file:
    description:
      - Text dump written by keepalived on C(SIGUSR1).
      - keepalived writes it to C(/tmp/keepalived.data), or under C(tmp_config_directory) when that is set.
    type: path
    default: /tmp/keepalived.data
  json_file:
    description: JSON dump written by keepalived on its C(JSON) signal (see C(keepalived --signum=JSON)).
    type: path
    default: /tmp/keepalived.json
  stats_file:
    description: Statistics written by keepalived on C(SIGUSR2). Read only when the text dump is used.
    type: path
    default: /tmp/keepalived.stats
  pid_file:
    description:
      - PID file of the keepalived parent process.
      - If it is missing, the module looks in C(/proc) for a keepalived process whose parent is not keepalived.
    type: path
    default: /run/keepalived.pid
  use_signal:
    description:
      - Signal keepalived for a fresh dump.
      - When V(false), existing dump files are read as they are (RV(dump_age) tells how old they are).
        If there are none, the configuration is used.
    type: bool
    default: true
  source:
    description:
      - V(auto) tries the JSON dump, then the text dump, then the configuration.
      - V(json), V(data) and V(config) use only that source, and the task fails if it is not available.
    type: str
    choices: [auto, json, data, config]
    default: auto
  timeout:
    description: Seconds to wait for keepalived to write a dump after the signal.
    type: float
    default: 5.0
notes:
  - Signalling keepalived and reading its dump files (mode 0600, owned by root) need root (C(become=true)).
    Without root the module falls back to the configuration and warns.
  - The format of the text dump is not guaranteed to stay the same between keepalived versions. The JSON dump is
    preferred for that reason. Both were checked against keepalived 2.2.7.
  - Configuration fallback limits. Lines starting with C(@) are matched against the short host name.
    C($VARIABLE) definitions and C(~SEQ) are not expanded.
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

- name: Without signalling keepalived (configuration and ip addr only)
  medimaging.pacs_lb.vrrp_info:
    source: config
"""

RETURN = r"""
source:
  description: Where the VRRP states came from, V(json), V(data) or V(config).
  returned: always
  type: str
  sample: json
dump_file:
  description: Dump file that was read, if any.
  returned: when source is json or data
  type: str
  sample: /tmp/keepalived.json
dump_age:
  description: Age in seconds of the dump file when it was read.
  returned: when source is json or data
  type: float
  sample: 0.02
keepalived_pid:
  description: PID of the keepalived parent process that was signalled.
  returned: when a signal was sent
  type: int
  sample: 812
masters:
  description: Names of the instances in MASTER state on this host.
  returned: always
  type: list
  elements: str
  sample: [VI_PACS]
instances:
  description: One entry per VRRP instance.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Instance name.
      type: str
      sample: VI_PACS
    state:
      description: V(MASTER), V(BACKUP), V(FAULT), V(INIT), V(STOP) or V(unknown) (always V(unknown) from the configuration).
      type: str
      sample: MASTER
    configured_state:
      description: Initial C(state) from the configuration, if it was read.
      type: str
      sample: BACKUP
    interface:
      description: Interface the instance runs on.
      type: str
      sample: eth0
    virtual_router_id:
      description: VRRP virtual router ID.
      type: int
      sample: 51
    priority:
      description: Configured priority.
      type: int
      sample: 150
    effective_priority:
      description: Priority after track_script/track_interface weights (dump only).
      type: int
      sample: 130
    last_transition:
      description: Unix time of the last state change (dump only).
      type: float
      sample: 1795366943.82556
    vips:
      description: Virtual IP addresses (without prefix), including C(virtual_ipaddress_excluded) ones.
      type: list
      elements: str
      sample: [192.0.2.10]
    vips_held:
      description: The VIPs that are configured on an interface of this host now.
      type: list
      elements: str
      sample: [192.0.2.10]
    vips_missing:
      description: The VIPs that are not on this host.
      type: list
      elements: str
      sample: []
    holds_all_vips:
      description: True when the instance has VIPs and this host holds all of them.
      type: bool
      sample: true
    vips_consistent:
      description:
        - True when MASTER holds all VIPs, or BACKUP/FAULT/INIT/STOP holds none.
        - Null when the state is unknown.
        - False points to a stuck VIP or a VIP that someone added by hand.
      type: bool
      sample: true
    vip_details:
      description: Per VIP, C(address), C(prefix), C(dev), C(label), C(excluded), C(held) and C(held_on) (interface names).
      type: list
      elements: dict
    stats:
      description:
        - VRRP counters from the dump, in the layout of C(/tmp/keepalived.stats), whichever dump was used.
        - Empty when the configuration was used.
      type: dict
      sample:
        advertisements: {received: 0, sent: 4}
        became_master: 1
        released_master: 0
        packet_errors: {length: 0, ttl: 0, invalid_type: 0, advertisement_interval: 0, address_list: 0}
        authentication_errors: {invalid_type: 0, type_mismatch: 0, failure: 0}
        priority_zero: {received: 0, sent: 0}
"""

import glob
import ipaddress
import json
import os
import re
import signal
import time

from ansible.module_utils.basic import AnsibleModule

VRRP_STATES = {0: 'INIT', 1: 'BACKUP', 2: 'MASTER', 3: 'FAULT', 97: 'DELETED', 98: 'STOP'}
_KEY_RE = re.compile(r'[^a-z0-9]+')


# ---------------------------------------------------------------------------
# Parsers (pure functions, unit tested against keepalived 2.2.7 output)
# ---------------------------------------------------------------------------

def _normalise_ip(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def parse_vip_spec(spec, excluded=False):
    """Parse one VIP line, from the configuration or from a dump.

    Formats: ``192.0.2.10/24 dev eth0 label eth0:1`` (configuration) and
    ``192.0.2.10/24 dev eth0 scope global set`` (dumps; ``set`` means keepalived
    installed the address).
    """
    words = spec.split()
    address, _sep, prefix = words[0].partition('/')
    vip = {
        'address': _normalise_ip(address),
        'prefix': int(prefix) if prefix.isdigit() else None,
        'dev': None,
        'label': None,
        'excluded': excluded,
        'installed': 'set' in words[1:],
    }
    for key in ('dev', 'label'):
        if key in words[:-1]:
            vip[key] = words[words.index(key) + 1]
    return vip


def parse_ip_addr(text):
    """Parse ``ip -o addr`` output into dicts: ifname, family, address, prefix."""
    addresses = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] not in ('inet', 'inet6'):
            continue
        address, _sep, prefix = parts[3].partition('/')
        addresses.append({
            'ifname': parts[1].split('@')[0],
            'family': parts[2],
            'address': _normalise_ip(address),
            'prefix': int(prefix) if prefix.isdigit() else None,
        })
    return addresses


def _strip_comment(line):
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char in '#!' and not quoted:
            return line[:index]
    return line


def _config_lines(path, config_ids, depth=0, seen=None):
    """Lines of a keepalived configuration with includes expanded and comments removed."""
    if depth > 8:
        raise ValueError('include nesting too deep at %s' % path)
    seen = seen if seen is not None else set()
    real = os.path.realpath(path)
    if real in seen:
        return []
    seen.add(real)
    with open(path) as handle:
        raw = handle.read().splitlines()
    lines = []
    for line in raw:
        line = _strip_comment(line).strip()
        if line.startswith('@'):
            tag, _sep, rest = line.partition(' ')
            negate = tag.startswith('@^')
            name = tag[2:] if negate else tag[1:]
            if (name in config_ids) == negate:
                continue
            line = rest.strip()
        if not line:
            continue
        words = line.split()
        if words[0] == 'include' and len(words) > 1:
            pattern = words[1].strip('"')
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for included in sorted(glob.glob(pattern)):
                lines.extend(_config_lines(included, config_ids, depth + 1, seen))
            continue
        lines.append(line)
    return lines


def parse_config_blocks(lines):
    """Turn configuration lines into a tree of {'words': [...], 'children': [...] or None}."""
    root = []
    stack = [root]
    for line in lines:
        words = []
        for token in line.replace('{', ' { ').replace('}', ' } ').split():
            if token == '{':
                node = {'words': words, 'children': []}
                if not words and stack[-1] and stack[-1][-1]['children'] is None:
                    # "{" on its own line opens the block of the previous statement
                    node = stack[-1].pop()
                    node['children'] = []
                stack[-1].append(node)
                stack.append(node['children'])
                words = []
            elif token == '}':
                if words:
                    stack[-1].append({'words': words, 'children': None})
                    words = []
                if len(stack) > 1:
                    stack.pop()
            else:
                words.append(token)
        if words:
            stack[-1].append({'words': words, 'children': None})
    return root


def parse_config(text_or_lines):
    """vrrp_instance blocks of a keepalived configuration as instance dicts."""
    lines = text_or_lines
    if isinstance(text_or_lines, str):
        lines = [line.strip() for line in (_strip_comment(x) for x in text_or_lines.splitlines()) if line.strip()]
    instances = []
    for node in parse_config_blocks(lines):
        if not node['words'] or node['words'][0] != 'vrrp_instance' or node['children'] is None:
            continue
        inst = {
            'name': node['words'][1] if len(node['words']) > 1 else None,
            'state': 'unknown',
            'configured_state': None,
            'interface': None,
            'virtual_router_id': None,
            'priority': None,
            'vip_details': [],
        }
        for child in node['children']:
            words = child['words']
            if not words:
                continue
            key = words[0]
            if key in ('virtual_ipaddress', 'virtual_ipaddress_excluded') and child['children'] is not None:
                for entry in child['children']:
                    if entry['words']:
                        inst['vip_details'].append(parse_vip_spec(
                            ' '.join(entry['words']), excluded=key.endswith('_excluded')))
            elif len(words) > 1 and key == 'state':
                inst['configured_state'] = words[1].upper()
            elif len(words) > 1 and key == 'interface':
                inst['interface'] = words[1]
            elif len(words) > 1 and key in ('virtual_router_id', 'priority') and words[1].isdigit():
                inst[key] = int(words[1])
        instances.append(inst)
    return instances


# JSON stats keys -> path in the /tmp/keepalived.stats layout, so both sources return one shape
_JSON_STATS = {
    'advert_rcvd': ('advertisements', 'received'),
    'advert_sent': ('advertisements', 'sent'),
    'become_master': ('became_master',),
    'release_master': ('released_master',),
    'packet_len_err': ('packet_errors', 'length'),
    'ip_ttl_err': ('packet_errors', 'ttl'),
    'invalid_type_rcvd': ('packet_errors', 'invalid_type'),
    'advert_interval_err': ('packet_errors', 'advertisement_interval'),
    'addr_list_err': ('packet_errors', 'address_list'),
    'invalid_authtype': ('authentication_errors', 'invalid_type'),
    'authtype_mismatch': ('authentication_errors', 'type_mismatch'),
    'auth_failure': ('authentication_errors', 'failure'),
    'pri_zero_rcvd': ('priority_zero', 'received'),
    'pri_zero_sent': ('priority_zero', 'sent'),
}


def normalise_json_stats(stats):
    """JSON dump counters in the nested layout of parse_stats(); unknown keys kept flat."""
    result = {}
    for key, value in stats.items():
        path = _JSON_STATS.get(key, (key,))
        target = result
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return result


def parse_json_dump(text):
    """Instances from keepalived's JSON dump (list of {'data': ..., 'stats': ...})."""
    instances = []
    for entry in json.loads(text):
        data = entry.get('data', {})
        vips = [parse_vip_spec(v) for v in data.get('vips', [])]
        vips += [parse_vip_spec(v, excluded=True) for v in data.get('evips', [])]
        instances.append({
            'name': data.get('iname'),
            'state': VRRP_STATES.get(data.get('state'), 'unknown'),
            'interface': data.get('ifp_ifname') or None,
            'virtual_router_id': data.get('vrid'),
            'priority': data.get('base_priority'),
            'effective_priority': data.get('effective_priority'),
            'last_transition': data.get('last_transition'),
            'vip_details': vips,
            'stats': normalise_json_stats(entry.get('stats', {})),
        })
    return instances


def _as_number(value):
    value = value.strip()
    if re.match(r'^-?\d+$', value):
        return int(value)
    return value


def parse_data_dump(text):
    """Instances from the ``VRRP Topology`` section of /tmp/keepalived.data."""
    instances = []
    inst = None
    in_topology = False
    vip_list = None
    vip_indent = 0
    for line in text.splitlines():
        if line.startswith('------<'):
            in_topology = 'VRRP Topology' in line
            inst = None
            continue
        if not in_topology or not line.strip():
            continue
        indent = len(line) - len(line.lstrip(' '))
        stripped = line.strip()
        if stripped.startswith('VRRP Instance = '):
            inst = {
                'name': stripped.split('=', 1)[1].strip(),
                'state': 'unknown',
                'interface': None,
                'virtual_router_id': None,
                'priority': None,
                'effective_priority': None,
                'last_transition': None,
                'vip_details': [],
            }
            instances.append(inst)
            vip_list = None
            continue
        if inst is None:
            continue
        if vip_list is not None and indent > vip_indent:
            inst['vip_details'].append(parse_vip_spec(stripped, excluded=vip_list == 'excluded'))
            continue
        vip_list = None
        if re.match(r'^Virtual IP Excluded\b.*:$', stripped):
            vip_list, vip_indent = 'excluded', indent
        elif re.match(r'^Virtual IP\b.*:$', stripped):
            vip_list, vip_indent = 'vips', indent
        elif ' = ' in stripped:
            key, value = [p.strip() for p in stripped.split(' = ', 1)]
            if key == 'State':
                inst['state'] = value if value in VRRP_STATES.values() else 'unknown'
            elif key == 'Interface':
                inst['interface'] = value
            elif key == 'Virtual Router ID':
                inst['virtual_router_id'] = _as_number(value)
            elif key == 'Priority':
                inst['priority'] = _as_number(value)
            elif key == 'Effective priority':
                inst['effective_priority'] = _as_number(value)
            elif key == 'Last transition':
                try:
                    inst['last_transition'] = float(value.split()[0])
                except ValueError:
                    pass
    return instances


def parse_stats(text):
    """Per-instance counters of /tmp/keepalived.stats, nested by indentation, keys in snake_case."""
    result = {}
    stack = []  # (indent, dict)
    for line in text.splitlines():
        if not line.strip() or ':' not in line:
            continue
        indent = len(line) - len(line.lstrip(' '))
        key, _sep, value = line.strip().partition(':')
        if indent == 0 and key.startswith('VRRP Instance'):
            current = {}
            result[value.strip()] = current
            stack = [(0, current)]
            continue
        if not stack:
            continue
        while len(stack) > 1 and stack[-1][0] >= indent:
            stack.pop()
        name = _KEY_RE.sub('_', key.strip().lower()).strip('_')
        if value.strip():
            stack[-1][1][name] = _as_number(value)
        else:
            child = {}
            stack[-1][1][name] = child
            stack.append((indent, child))
    return result


def annotate(instances, addresses):
    """Add vips, vips_held, vips_missing, holds_all_vips and vips_consistent to each instance."""
    where = {}
    for addr in addresses:
        where.setdefault(addr['address'], []).append(addr['ifname'])
    for inst in instances:
        vips, held = [], []
        for vip in inst['vip_details']:
            vip['held_on'] = sorted(set(where.get(vip['address'], [])))
            vip['held'] = bool(vip['held_on'])
            if vip['address'] not in vips:
                vips.append(vip['address'])
                if vip['held']:
                    held.append(vip['address'])
        inst['vips'] = vips
        inst['vips_held'] = held
        inst['vips_missing'] = [v for v in vips if v not in held]
        inst['holds_all_vips'] = bool(vips) and len(held) == len(vips)
        if inst['state'] == 'MASTER':
            inst['vips_consistent'] = inst['holds_all_vips']
        elif inst['state'] in ('BACKUP', 'FAULT', 'INIT', 'STOP'):
            inst['vips_consistent'] = not held
        else:
            inst['vips_consistent'] = None
    return instances


# ---------------------------------------------------------------------------
# Talking to keepalived
# ---------------------------------------------------------------------------

def _proc_comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _proc_ppid(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            # the command name may contain spaces; fields resume after ')'
            return int(handle.read().rsplit(')', 1)[1].split()[1])
    except (IOError, OSError, IndexError, ValueError):
        return None


def find_keepalived_pids(pid_file):
    """PIDs of keepalived parent processes: from pid_file if it is valid, else from /proc."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        # a stale PID file may name a reused PID: only signal a keepalived
        if _proc_comm(pid) == 'keepalived':
            return [pid]
    except (IOError, OSError, ValueError):
        pass
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if _proc_comm(pid) != 'keepalived':
            continue
        ppid = _proc_ppid(pid)
        if ppid is not None and _proc_comm(ppid) != 'keepalived':
            pids.append(pid)
    return sorted(pids)


def _mtime_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def wait_for_dump(path, previous_mtime, parse, timeout, sleep=time.sleep, clock=time.monotonic):
    """Wait until path is rewritten (mtime changed) and parses; return (instances, text) or None.

    keepalived truncates and rewrites the file, so a read can catch it half
    written: a parse error or a size still changing means "try again".
    """
    deadline = clock() + timeout
    last_size = None
    while True:
        mtime = _mtime_ns(path)
        if mtime is not None and mtime != previous_mtime:
            try:
                size = os.path.getsize(path)
                if size and size == last_size:
                    with open(path) as handle:
                        text = handle.read()
                    return parse(text), text
                last_size = size
            except (IOError, OSError, ValueError):
                last_size = None
        if clock() >= deadline:
            return None
        sleep(0.05)


def keepalived_signal(module, name, default):
    """Signal number keepalived uses for DATA/STATS/JSON (``keepalived --signum``), or default."""
    binary = module.get_bin_path('keepalived')
    if binary:
        rc, out, _err = module.run_command([binary, '--signum=%s' % name])
        if rc == 0 and out.strip().isdigit():
            return int(out.strip())
    return default


def read_dump(module, kind, params, result, pid, kill=None):
    """Instances from a JSON ('json') or text ('data') dump, or None when unavailable.

    pid is the keepalived process to signal; None reads the file as it is.
    """
    kill = kill or os.kill
    path = params['json_file'] if kind == 'json' else params['data_file']
    parse = parse_json_dump if kind == 'json' else parse_data_dump
    if pid is None:
        if params['use_signal'] or not os.path.exists(path):
            return None
        try:
            with open(path) as handle:
                instances = parse(handle.read())
        except (IOError, OSError, ValueError) as exc:
            module.warn('cannot read %s: %s' % (path, exc))
            return None
    else:
        if kind == 'json':
            signum = keepalived_signal(module, 'JSON', None)
            if signum is None:
                return None
        else:
            signum = keepalived_signal(module, 'DATA', signal.SIGUSR1)
        before = _mtime_ns(path)
        try:
            kill(pid, signum)
        except OSError as exc:
            module.warn('cannot signal keepalived (pid %d): %s' % (pid, exc))
            return None
        got = wait_for_dump(path, before, parse, params['timeout'])
        if got is None:
            module.warn('keepalived did not write %s within %ss' % (path, params['timeout']))
            return None
        instances = got[0]
        result['keepalived_pid'] = pid
        if kind == 'data':
            stats = read_stats(params, pid, kill, module)
            for inst in instances:
                if inst['name'] in stats:
                    inst['stats'] = stats[inst['name']]
    result['dump_file'] = path
    result['dump_age'] = round(max(time.time() - os.path.getmtime(path), 0.0), 3)
    return instances


def read_stats(params, pid, kill, module):
    path = params['stats_file']
    before = _mtime_ns(path)
    try:
        kill(pid, keepalived_signal(module, 'STATS', signal.SIGUSR2))
    except OSError:
        return {}
    got = wait_for_dump(path, before, parse_stats, params['timeout'])
    return got[0] if got else {}


def _config_ids():
    nodename = os.uname()[1]
    return set([nodename, nodename.split('.')[0]])


def read_config(params, config_ids):
    return parse_config(_config_lines(params['config'], config_ids))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='path', default='/etc/keepalived/keepalived.conf'),
            data_file=dict(type='path', default='/tmp/keepalived.data'),
            json_file=dict(type='path', default='/tmp/keepalived.json'),
            stats_file=dict(type='path', default='/tmp/keepalived.stats'),
            pid_file=dict(type='path', default='/run/keepalived.pid'),
            use_signal=dict(type='bool', default=True),
            source=dict(type='str', default='auto', choices=['auto', 'json', 'data', 'config']),
            timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = {'changed': False}

    order = ['json', 'data', 'config'] if params['source'] == 'auto' else [params['source']]
    pid = None
    if params['use_signal'] and order != ['config']:
        pids = find_keepalived_pids(params['pid_file'])
        if len(pids) == 1:
            pid = pids[0]
        elif pids:
            module.warn('several keepalived processes (%s); not signalling any' % ', '.join(map(str, pids)))
        else:
            module.warn('no running keepalived found (pid file %s)' % params['pid_file'])
    instances = None
    for kind in order:
        if kind == 'config':
            if not os.path.exists(params['config']):
                module.fail_json(msg='no keepalived state dump available and %s does not exist'
                                 % params['config'], **result)
            try:
                instances = read_config(params, _config_ids())
            except (IOError, OSError, ValueError) as exc:
                module.fail_json(msg='cannot read %s: %s' % (params['config'], exc), **result)
            for inst in instances:
                inst.setdefault('stats', {})
        else:
            instances = read_dump(module, kind, params, result, pid)
        if instances is not None:
            result['source'] = kind
            break
    if instances is None:
        module.fail_json(msg='keepalived %s dump not available (is keepalived running, and the task run as root?)'
                         % params['source'], **result)

    ip_bin = module.get_bin_path('ip')
    if ip_bin:
        rc, out, err = module.run_command([ip_bin, '-o', 'addr', 'show'])
        if rc != 0:
            module.fail_json(msg='ip -o addr show failed: %s' % err.strip(), **result)
        addresses = parse_ip_addr(out)
    elif result['source'] != 'config':
        # keepalived marks the VIPs it installed with "set"; the best we have without ip(8)
        module.warn('ip command not found; VIPs held are taken from the keepalived dump')
        addresses = [{'address': v['address'], 'ifname': v['dev'] or inst['interface']}
                     for inst in instances for v in inst['vip_details'] if v['installed']]
    else:
        module.fail_json(msg='the ip command (iproute2) is needed to see which VIPs this host holds', **result)

    if result['source'] != 'config' and os.path.exists(params['config']):
        # the dump lacks the configured initial state; add it when the file is readable
        try:
            configured = dict((i['name'], i['configured_state']) for i in read_config(params, _config_ids()))
        except (IOError, OSError, ValueError):
            configured = {}
        for inst in instances:
            inst['configured_state'] = configured.get(inst['name'])

    annotate(instances, addresses)
    for inst in instances:
        for vip in inst['vip_details']:
            vip.pop('installed', None)
        inst.setdefault('configured_state', None)
        inst.setdefault('effective_priority', None)
        inst.setdefault('last_transition', None)
        inst.setdefault('stats', {})
    result['instances'] = instances
    result['masters'] = [i['name'] for i in instances if i['state'] == 'MASTER']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
