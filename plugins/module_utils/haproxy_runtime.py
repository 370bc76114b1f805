# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small client for the HAProxy runtime API (stats socket).

Standard library only: this file is shipped to the balancers with the modules.

Facts this code relies on, observed on HAProxy 2.6.12 (Debian 12):

* Non-interactive mode: one command per connection; HAProxy writes the answer
  and closes the connection. Successful ``set server`` commands answer with an
  empty line; failures answer with text ("No such server.", "No such backend.",
  "Permission denied", ...).
* ``show stat`` is CSV with a ``# pxname,svname,...`` header. Its ``status``
  column mixes operational and admin state, and it hides admin drain on a DOWN
  server (a drained DOWN server still shows ``DOWN``). The admin state must
  therefore be read from ``show servers state`` (``srv_admin_state`` bit field),
  never inferred from ``status``.
* ``set server <be>/<srv> state maint`` clears forced drain (admin 8 -> 1);
  ``ready`` clears forced maint and forced drain but not inherited (tracked)
  or resolution flags; a config ``disabled`` server is 5 (FMAINT|CMAINT) and
  only CMAINT (4) remains after ``ready``, which is not maintenance.
* An agent check answering ``drain`` sets the same forced-drain bit (8) as the
  CLI does, so an agent can undo a ``ready`` set over the socket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import errno
import re
import socket
import time

# srv_admin_state bits (HAProxy include/haproxy/server-t.h, enum srv_admin).
ADMF_FMAINT = 0x01   # forced maintenance (CLI, agent)
ADMF_IMAINT = 0x02   # maintenance inherited from a tracked server
ADMF_CMAINT = 0x04   # "disabled" in the configuration; not maintenance on its own
ADMF_FDRAIN = 0x08   # forced drain (CLI, agent)
ADMF_IDRAIN = 0x10   # drain inherited from a tracked server
ADMF_RMAINT = 0x20   # DNS resolution failure
ADMF_FQDN_CHANGED = 0x40
# HAProxy's own masks: CMAINT is deliberately left out of the maintenance mask.
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN

ADMIN_FLAG_NAMES = (
    (ADMF_FMAINT, 'forced_maint'),
    (ADMF_IMAINT, 'inherited_maint'),
    (ADMF_CMAINT, 'config_disabled'),
    (ADMF_FDRAIN, 'forced_drain'),
    (ADMF_IDRAIN, 'inherited_drain'),
    (ADMF_RMAINT, 'resolution_maint'),
    (ADMF_FQDN_CHANGED, 'fqdn_changed'),
)

ADMIN_STATES = ('ready', 'drain', 'maint')

# srv_op_state (enum srv_state).
OP_STATES = {0: 'stopped', 1: 'starting', 2: 'running', 3: 'stopping'}

# "type" column of show stat.
STAT_TYPES = {0: 'frontend', 1: 'backend', 2: 'server', 3: 'listener'}

# show stat columns that stay strings even when they look numeric.
STAT_STRING_COLUMNS = frozenset((
    'pxname', 'svname', 'status', 'tracked', 'check_status', 'last_chk', 'last_agt',
    'agent_status', 'check_desc', 'agent_desc', 'addr', 'cookie', 'mode', 'algo',
    'agg_server_status', 'agg_server_check_status', 'agg_check_status',
))

SERVERS_STATE_STRING_COLUMNS = frozenset((
    'be_name', 'srv_name', 'srv_addr', 'srv_fqdn', 'srvrecord', 'srv_check_addr',
    'srv_agent_addr',
))

# Proxy and server names allowed by HAProxy; anything else could smuggle a
# second command (';') or line into the CLI.
_NAME_RE = re.compile(r'^[A-Za-z0-9_.:-]+\Z')  # \Z: a trailing newline would start a second CLI command
_INT_RE = re.compile(r'^-?[0-9]+$')
_STATUS_PROGRESS_RE = re.compile(r'^(\S+)\s+(\d+)/(\d+)$')


class RuntimeAPIError(Exception):
    """The runtime API could not be reached or refused a command."""


class CommandError(RuntimeAPIError):
    """HAProxy answered a command with an error text."""

    def __init__(self, command, response):
        self.command = command
        self.response = response.strip()
        hint = ''
        if 'Permission denied' in self.response:
            hint = " (the stats socket needs 'level admin' for this command)"
        super(CommandError, self).__init__(
            "HAProxy refused '%s': %s%s" % (command, self.response, hint))


class NotFoundError(RuntimeAPIError):
    """A backend or server name does not exist."""


# ---------------------------------------------------------------------------
# Pure parsers and classifiers
# ---------------------------------------------------------------------------

def _convert(value, keep_string):
    if value == '' or value == '-':
        return None
    if not keep_string and _INT_RE.match(value):
        return int(value)
    return value


def parse_show_stat(text):
    """Parse the CSV answer of ``show stat`` into a list of dicts.

    Every CSV column is kept. Numeric columns become ints, empty cells None.
    ``type`` becomes 'frontend', 'backend', 'server' or 'listener' (the raw
    number is kept as ``type_id``).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith('#'):
        raise RuntimeAPIError('unexpected show stat output: %r' % text[:200])
    header = [h.strip() for h in lines[0].lstrip('#').strip().split(',')]
    rows = []
    # csv handles HAProxy's quoting of fields that contain commas.
    for values in csv.reader(lines[1:]):
        row = {}
        for name, value in zip(header, values):
            if not name:
                continue  # trailing comma yields an unnamed column
            row[name] = _convert(value, name in STAT_STRING_COLUMNS)
        type_id = row.get('type')
        row['type_id'] = type_id
        row['type'] = STAT_TYPES.get(type_id, 'unknown')
        rows.append(row)
    return rows


def parse_servers_state(text):
    """Parse the answer of ``show servers state [backend]``.

    The first line is the format version (1 on 2.x), the second a
    space-separated ``# be_id be_name ...`` header.
    """
    lines = text.splitlines()
    header = None
    rows = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if line.startswith('#'):
            header = line.lstrip('#').split()
            continue
        if header is None:
            if _INT_RE.match(line):
                continue  # format version line
            raise RuntimeAPIError('unexpected show servers state output: %r' % text[:200])
        values = line.split()
        row = {}
        for name, value in zip(header, values):
            row[name] = _convert(value, name in SERVERS_STATE_STRING_COLUMNS)
        rows.append(row)
    if header is None:
        raise RuntimeAPIError('unexpected show servers state output: %r' % text[:200])
    return rows


def _admin_state(bits, maint_mask, drain_mask):
    bits = int(bits or 0)
    if bits & maint_mask:
        return 'maint'
    if bits & drain_mask:
        return 'drain'
    return 'ready'


def admin_state(bits):
    """Effective admin state ('ready', 'drain', 'maint') of an srv_admin_state value."""
    return _admin_state(bits, ADMF_MAINT, ADMF_DRAIN)


def forced_admin_state(bits):
    """Admin state counting only the flags ``set server ... state`` can change."""
    return _admin_state(bits, ADMF_FMAINT, ADMF_FDRAIN)


def admin_flags(bits):
    """Names of the bits set in an srv_admin_state value."""
    bits = int(bits or 0)
    return [name for flag, name in ADMIN_FLAG_NAMES if bits & flag]


def inherited_admin_flags(bits):
    """Admin flags that ``set server ... state ready`` cannot clear."""
    bits = int(bits or 0)
    return [name for flag, name in ADMIN_FLAG_NAMES
            if bits & flag & (ADMF_IMAINT | ADMF_IDRAIN | ADMF_RMAINT)]


def op_state_name(op_state):
    """Name of an srv_op_state value."""
    if op_state is None:
        return 'unknown'
    return OP_STATES.get(int(op_state), 'unknown')


def classify_status(status):
    """Split a show stat ``status`` value into its parts.

    Returns a dict with ``state`` (UP, DOWN, NOLB, MAINT, DRAIN, NOCHECK,
    OPEN, STOP, FULL or UNKNOWN), ``transition`` ('going_down' for "UP 1/3",
    'going_up' for "DOWN 1/2", else None) and ``detail`` (text in parentheses,
    e.g. 'via be/srv', 'agent', 'resolution').
    """
    result = {'state': 'UNKNOWN', 'transition': None, 'detail': None}
    if not status:
        return result
    text = status.strip()
    if text.lower() == 'no check':
        result['state'] = 'NOCHECK'
        return result
    match = re.match(r'^(.*?)\s*\((.*)\)$', text)
    if match:
        text, result['detail'] = match.group(1), match.group(2)
    progress = _STATUS_PROGRESS_RE.match(text)
    if progress:
        text = progress.group(1)
        # "UP x/y" is an UP server failing checks, "DOWN x/y" a DOWN one passing.
        result['transition'] = {'UP': 'going_down', 'NOLB': 'going_down',
                                'DOWN': 'going_up'}.get(text.upper())
    word = text.split('/')[0].upper()  # "UP/DRAIN" style values seen in logs
    if word in ('UP', 'DOWN', 'NOLB', 'MAINT', 'DRAIN', 'OPEN', 'STOP', 'FULL'):
        result['state'] = word
    return result


def operational_state(status):
    """Operational class of a show stat status: UP, DOWN, NOLB, MAINT, DRAIN, NOCHECK, ..."""
    return classify_status(status)['state']


def is_up(server):
    """True when a merged server dict is up and stable.

    "UP 1/2" (failing checks) and NOLB do not count; a server without health
    checks counts as up unless it is in maintenance.
    """
    info = classify_status(server.get('status'))
    if info['state'] == 'NOCHECK':
        return server.get('op_state') in (None, 'running')
    return info['state'] in ('UP', 'DRAIN') and info['transition'] is None


def is_down(server):
    """True when HAProxy considers the server not running (DOWN, MAINT, stopped)."""
    info = classify_status(server.get('status'))
    if info['state'] in ('DOWN', 'MAINT') and info['transition'] is None:
        return True
    return server.get('op_state') == 'stopped'


def drain_complete(server):
    """True when a drained server needs no more waiting.

    Done when no session is left, or when the server is DOWN: a DOWN server
    never reports DRAIN in show stat, which is what left community.general's
    haproxy module waiting forever (community.general #8092/#8100).
    """
    if server.get('admin_state') not in ('drain', 'maint'):
        return False
    return not server.get('scur') or is_down(server)


def merge_servers(stat_rows, state_rows):
    """Join show stat (sessions, status, checks) and show servers state (admin bits).

    Returns one dict per server, in show stat order, with normalised keys:
    backend, server, status, operational_state, transition, status_detail,
    admin_state, forced_admin_state, admin_flags, admin_bits, op_state,
    scur, smax, stot, weight, check_status, check_desc, last_chk, lastchg,
    addr, backup.
    """
    states = {}
    for row in state_rows:
        states[(row.get('be_name'), row.get('srv_name'))] = row
    servers = []
    for row in stat_rows:
        if row.get('type') != 'server':
            continue
        key = (row.get('pxname'), row.get('svname'))
        state = states.get(key, {})
        bits = state.get('srv_admin_state')
        info = classify_status(row.get('status'))
        if bits is None:
            # Without show servers state, MAINT/DRAIN in status is the best hint.
            guessed = {'MAINT': 'maint', 'DRAIN': 'drain'}.get(info['state'], 'ready')
            admin, forced, flags = guessed, guessed, []
        else:
            admin, forced, flags = admin_state(bits), forced_admin_state(bits), admin_flags(bits)
        servers.append({
            'backend': key[0],
            'server': key[1],
            'status': row.get('status'),
            'operational_state': info['state'],
            'transition': info['transition'],
            'status_detail': info['detail'],
            'admin_state': admin,
            'forced_admin_state': forced,
            'admin_flags': flags,
            'admin_bits': bits,
            'op_state': op_state_name(state.get('srv_op_state')) if state else 'unknown',
            'scur': row.get('scur') or 0,
            'smax': row.get('smax') or 0,
            'stot': row.get('stot') or 0,
            'weight': row.get('weight'),
            'check_status': row.get('check_status'),
            'check_desc': row.get('check_desc'),
            'last_chk': row.get('last_chk'),
            'lastchg': row.get('lastchg'),
            'addr': row.get('addr'),
            'backup': bool(row.get('bck')),
        })
    return servers


def server_summary(srv):
    """Public view of a merged server dict, as returned by the info module."""
    return {
        'name': srv['server'],
        'backend': srv['backend'],
        'type': 'server',
        'status': srv.get('status'),
        'operational_state': srv.get('operational_state'),
        'transition': srv.get('transition'),
        'check_status': srv.get('check_status'),
        'check_desc': srv.get('check_desc'),
        'last_check': srv.get('last_chk'),
        'last_change': srv.get('lastchg'),
        'current_sessions': srv.get('scur') or 0,
        'max_sessions': srv.get('smax') or 0,
        'total_sessions': srv.get('stot') or 0,
        'weight': srv.get('weight'),
        'admin_state': srv.get('admin_state'),
        'admin_flags': srv.get('admin_flags') or [],
        'op_state': srv.get('op_state'),
        'address': srv.get('addr'),
        'backup': bool(srv.get('backup')),
    }


def proxy_summary(row):
    """Public view of a FRONTEND or BACKEND show stat row."""
    summary = {
        'name': row.get('pxname'),
        'type': row.get('type'),
        'status': row.get('status'),
        'mode': row.get('mode'),
        'current_sessions': row.get('scur') or 0,
        'max_sessions': row.get('smax') or 0,
        'session_limit': row.get('slim'),
        'total_sessions': row.get('stot') or 0,
    }
    if row.get('type') == 'backend':
        summary.update({
            'last_change': row.get('lastchg'),
            'active_servers': row.get('act') or 0,
            'backup_servers': row.get('bck') or 0,
            'weight': row.get('weight'),
            'algo': row.get('algo'),
        })
    return summary


def parse_show_info(text):
    """Parse ``show info`` ("Key: value" lines) into a dict; numeric values become ints."""
    info = {}
    for line in text.splitlines():
        if ':' not in line:
            continue
        key, value = line.split(':', 1)
        value = value.strip()
        info[key.strip()] = int(value) if _INT_RE.match(value) else value
    return info


def select_servers(servers, server, backend=None):
    """Pick the merged server dicts named ``server`` (in ``backend``, or in every backend).

    Raises NotFoundError with the names that do exist, so a typo is obvious.
    """
    backends = []
    for srv in servers:
        if srv['backend'] not in backends:
            backends.append(srv['backend'])
    if backend is not None:
        if backend not in backends:
            raise NotFoundError("backend '%s' not found (backends with servers: %s)"
                                % (backend, ', '.join(backends) or 'none'))
        in_backend = [s for s in servers if s['backend'] == backend]
        found = [s for s in in_backend if s['server'] == server]
        if not found:
            raise NotFoundError("server '%s' not found in backend '%s' (servers: %s)"
                                % (server, backend, ', '.join(s['server'] for s in in_backend)))
        return found
    found = [s for s in servers if s['server'] == server]
    if not found:
        raise NotFoundError("server '%s' not found in any backend (backends: %s)"
                            % (server, ', '.join(backends) or 'none'))
    return found


def check_name(kind, name):
    """Reject names HAProxy would not accept; they could inject CLI commands."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError("invalid %s name %r: HAProxy names use letters, digits, '-', '_', '.', ':'"
                         % (kind, name))
    return name


def parse_address(address):
    """Return ('unix', path) or ('tcp', (host, port)) for a socket option value.

    Accepts a path, ``unix:/path``, ``host:port``, ``tcp:host:port`` and
    ``[v6addr]:port``.
    """
    if address.startswith('unix:'):
        return 'unix', address[5:]
    if address.startswith('tcp:'):
        address = address[4:]
    elif '/' in address:
        return 'unix', address
    match = re.match(r'^\[([^\]]+)\]:(\d+)$', address) or re.match(r'^([^:]+):(\d+)$', address)
    if not match:
        return 'unix', address
    return 'tcp', (match.group(1), int(match.group(2)))


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------

class RuntimeAPI(object):
    """HAProxy runtime API over a UNIX stats socket or TCP ``host:port``."""

    def __init__(self, socket_path, timeout=5.0):
        self.socket_path = socket_path
        self.timeout = float(timeout)
        self.kind, self.address = parse_address(socket_path)

    def _connect(self):
        if self.kind == 'unix':
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.address)
            except (OSError, socket.error) as exc:
                sock.close()
                raise RuntimeAPIError(self._connect_error(exc))
            return sock
        try:
            return socket.create_connection(self.address, timeout=self.timeout)
        except (OSError, socket.error) as exc:
            raise RuntimeAPIError(self._connect_error(exc))

    def _connect_error(self, exc):
        code = getattr(exc, 'errno', None)
        if self.kind == 'unix' and code == errno.ENOENT:
            return ("HAProxy runtime socket %s does not exist (is haproxy running with "
                    "'stats socket %s level admin'?)" % (self.address, self.address))
        if code in (errno.EACCES, errno.EPERM):
            return 'no permission to open HAProxy runtime socket %s: %s' % (self.socket_path, exc)
        return 'cannot connect to HAProxy runtime socket %s: %s' % (self.socket_path, exc)

    def command(self, cmd):
        """Send one command, return HAProxy's whole answer as text."""
        if '\n' in cmd or '\r' in cmd:
            raise ValueError('a runtime API command must be a single line')
        deadline = time.monotonic() + self.timeout
        sock = self._connect()
        chunks = []
        try:
            sock.sendall(cmd.encode('utf-8') + b'\n')
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                sock.settimeout(remaining)
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            raise RuntimeAPIError("timeout after %ss waiting for HAProxy's answer to '%s' on %s"
                                  % (self.timeout, cmd, self.socket_path))
        except (OSError, socket.error) as exc:
            raise RuntimeAPIError("error talking to HAProxy on %s: %s" % (self.socket_path, exc))
        finally:
            sock.close()
        return b''.join(chunks).decode('utf-8', 'replace')

    def show_stat(self):
        """All frontends, backends and servers from ``show stat`` (see parse_show_stat)."""
        text = self.command('show stat')
        if not text.lstrip().startswith('#'):
            raise CommandError('show stat', text)
        return parse_show_stat(text)

    def show_servers_state(self, backend=None):
        """Rows of ``show servers state`` (see parse_servers_state)."""
        cmd = 'show servers state'
        if backend is not None:
            cmd += ' ' + check_name('backend', backend)
        text = self.command(cmd)
        if '#' not in text:
            if "Can't find backend" in text:
                raise NotFoundError("backend '%s' not found" % backend)
            raise CommandError(cmd, text)
        return parse_servers_state(text)

    def show_info(self):
        """Process information from ``show info`` (Version, Uptime_sec, Pid, ...)."""
        text = self.command('show info')
        if 'Name:' not in text:
            raise CommandError('show info', text)
        return parse_show_info(text)

    def servers(self):
        """Every server with sessions, status and admin state (see merge_servers)."""
        return merge_servers(self.show_stat(), self.show_servers_state())

    def set_server_state(self, backend, server, state):
        """``set server <backend>/<server> state ready|drain|maint``; raises on any error text."""
        if state not in ADMIN_STATES:
            raise ValueError('state must be one of %s, not %r' % (', '.join(ADMIN_STATES), state))
        cmd = 'set server %s/%s state %s' % (
            check_name('backend', backend), check_name('server', server), state)
        answer = self.command(cmd)
        if answer.strip():
            if answer.strip().startswith('No such'):
                raise NotFoundError("%s/%s: %s" % (backend, server, answer.strip()))
            raise CommandError(cmd, answer)
        return answer


def collect(api, backend=None):
    """Build the module result from a RuntimeAPI (or a fake with the same methods)."""
    stat = api.show_stat()
    servers = [server_summary(s) for s in merge_servers(stat, api.show_servers_state())]
    info = api.show_info()

    frontends = [proxy_summary(r) for r in stat if r['type'] == 'frontend']
    backends = [proxy_summary(r) for r in stat if r['type'] == 'backend']
    if backend is not None:
        names = [b['name'] for b in backends]
        if backend not in names:
            raise NotFoundError("backend '%s' not found (backends: %s)" % (backend, ', '.join(names) or 'none'))
        backends = [b for b in backends if b['name'] == backend]
        servers = [s for s in servers if s['backend'] == backend]
    for entry in backends:
        entry['servers'] = [s for s in servers if s['backend'] == entry['name']]

    return {
        'changed': False,
        'process': {
            'version': info.get('Version'),
            'pid': info.get('Pid'),
            'uptime_sec': info.get('Uptime_sec'),
            'current_connections': info.get('CurrConns'),
        },
        'frontends': frontends,
        'backends': backends,
        'servers': servers,
    }
