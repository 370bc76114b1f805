# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HL7 v2 over MLLP: framing, a harmless test message, ACK parsing, probe, HAProxy check.

Standard library only: this file is shipped to bare target hosts by Ansible.
"""

from __future__ import absolute_import, division, print_function

import datetime
import re
import socket
import time
import uuid

__metaclass__ = type

START, END = b"\x0b", b"\x1c\x0d"
ACK_CODES = {
    "AA": "application accept", "AE": "application error", "AR": "application reject",
    "CA": "commit accept", "CE": "commit error", "CR": "commit reject",
}
# A rendered config must not change on every run (Ansible would report changed and
# reload HAProxy), so the HAProxy check sends a fixed message.
HAPROXY_CONTROL_ID = "HC000001"
HAPROXY_TIMESTAMP = "20250101000000"
MAX_FRAME = 1 << 20
_SEGMENT_BREAK = re.compile(r"\r\n|\n|\r")


def _segments(message):
    """Normalise \\r\\n / \\n separated text to HL7's \\r segment terminators."""
    return "".join(line + "\r" for line in _SEGMENT_BREAK.split(message) if line)


def frame(message, encoding="utf-8"):
    """MLLP frame: 0x0B + segments each ending in 0x0D + 0x1C 0x0D."""
    if isinstance(message, bytes):
        message = message.decode(encoding)
    payload = _segments(message).encode(encoding)
    if START in payload or END[:1] in payload:
        raise ValueError("message contains an MLLP framing byte (0x0B or 0x1C)")
    return START + payload + END


def read_frame(sock, timeout=None):
    """Return the payload of the next MLLP frame; bytes before 0x0B are discarded.

    ``timeout`` applies to each recv, as with any socket timeout.
    """
    if timeout is not None:
        sock.settimeout(timeout)
    buf = bytearray()
    while True:
        start = buf.find(START)
        end = buf.find(END, start + 1) if start >= 0 else -1
        if end >= 0:
            return bytes(buf[start + 1:end])
        if len(buf) > MAX_FRAME:
            raise ValueError("no complete MLLP frame within %d bytes" % MAX_FRAME)
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed before a complete MLLP frame (%d bytes read)" % len(buf))
        buf += chunk


def default_test_message(sending_app="LBCHECK", sending_facility="LB", receiving_app="PACS",
                         receiving_facility="HOSP", control_id=None, timestamp=None,
                         processing_id="D"):
    """Minimal ADT^A01 for a fixed test patient; MSH-11 'D' marks it as debug traffic."""
    ts = timestamp or datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    control_id = control_id or "LB" + uuid.uuid4().hex[:18].upper()  # MSH-10 is at most 20 characters
    return "".join(s + "\r" for s in [
        "MSH|^~\\&|%s|%s|%s|%s|%s||ADT^A01^ADT_A01|%s|%s|2.5" % (
            sending_app, sending_facility, receiving_app, receiving_facility, ts, control_id, processing_id),
        "EVN|A01|%s" % ts,
        "PID|1||HC000001^^^LB^MR||HEALTHCHECK^LB",
        "PV1|1|I",
    ])


def _split(message):
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    segments = [s for s in _SEGMENT_BREAK.split(message) if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 4:
        raise ValueError("not an HL7 v2 message: it does not start with MSH")
    sep = segments[0][3]
    return sep, [s.split(sep) for s in segments]


def message_control_id(message):
    """MSH-10; MSH-1 is the separator itself, so MSH-n is at split index n - 1."""
    fields = _split(message)[1][0]
    return fields[9] if len(fields) > 9 else None


def parse_ack(message):
    """Decode an ACK: dict(code, control_id, text) from MSA-1, MSA-2, MSA-3 and ERR."""
    sep, segments = _split(message)
    msa = next((s for s in segments if s[0] == "MSA"), None)
    if msa is None:
        raise ValueError("no MSA segment in the reply")
    msa += [""] * (4 - len(msa))
    # ERR-1 (v2.3) and ERR-3/ERR-8 (v2.5+) carry the error; keep every non-empty field.
    errs = [f for s in segments if s[0] == "ERR" for f in s[1:] if f]
    text = "; ".join([t for t in [msa[3]] + errs if t]) or None
    return dict(code=msa[1], code_text=ACK_CODES.get(msa[1], "unknown"), control_id=msa[2], text=text)


def probe(host, port, message=None, timeout=10.0, expect=("AA", "CA"), tls_context=None, server_name=None):
    """Send one framed message and wait for its ACK. Network problems never raise.

    With ``tls_context``, TLS names ``server_name`` (default ``host``) in SNI and the name check.

    ok is True only if the ACK code is in ``expect`` and MSA-2 echoes our MSH-10.
    """
    message = message or default_test_message()
    payload = frame(message)  # malformed input raises ValueError before any I/O
    control_id = message_control_id(message)
    result = dict(ok=False, host=host, port=port, code=None, code_text=None, control_id=control_id,
                  ack_control_id=None, control_id_match=False, text=None, ack=None,
                  latency_ms=None, error=None)
    begin = time.monotonic()
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=server_name or host)
        sock.sendall(payload)
        ack = read_frame(sock, max(timeout - (time.monotonic() - begin), 0.001)).decode("utf-8", "replace")
        result["latency_ms"] = round((time.monotonic() - begin) * 1000.0, 3)
        result["ack"] = ack.replace("\r", "\n").strip()
        parsed = parse_ack(ack)
        result.update(code=parsed["code"], code_text=parsed["code_text"], text=parsed["text"],
                      ack_control_id=parsed["control_id"], control_id_match=parsed["control_id"] == control_id)
        if not result["control_id_match"]:
            result["error"] = "ACK MSA-2 %r does not match MSH-10 %r" % (parsed["control_id"], control_id)
        elif parsed["code"] not in expect:
            result["error"] = "ACK code %s (%s)%s" % (
                parsed["code"], parsed["code_text"], ": " + parsed["text"] if parsed["text"] else "")
        else:
            result["ok"] = True
    except (OSError, ValueError) as exc:  # socket.timeout and ssl.SSLError are OSErrors
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
    finally:
        if sock is not None:
            sock.close()
    return result


def haproxy_tcp_check(message=None):
    """HAProxy ``tcp-check`` lines (no indentation) for an MLLP/ACK check.

    Add ``option tcp-check`` and ``tcp-check connect`` first. ``min-recv 0`` makes
    the last expect conclusive on the complete frame, so AE/AR fail at once instead
    of waiting out ``timeout check``. [|] avoids backslashes, which HAProxy's
    config parser would interpret before the regex engine sees them.
    """
    if message is None:
        message = default_test_message(control_id=HAPROXY_CONTROL_ID, timestamp=HAPROXY_TIMESTAMP)
    return [
        'tcp-check send-binary %s comment "MLLP-framed HL7 test message"' % frame(message).hex(),
        'tcp-check expect binary 1c0d comment "complete MLLP frame"',
        'tcp-check expect min-recv 0 rstring MSA[|][AC]A[|] comment "HL7 ACK with MSA-1 AA or CA"',
    ]
