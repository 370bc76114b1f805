# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DICOM Upper Layer (PS3.8) bytes for health checks: C-ECHO and HAProxy tcp-check.

Standard library only: this file is shipped to bare target hosts by Ansible.
All PDU and item integers are big-endian; the DIMSE command set inside P-DATA
is Implicit VR Little Endian (PS3.7 6.3.1).
"""

from __future__ import absolute_import, division, print_function

import socket
import struct
import time

__metaclass__ = type

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
# PS3.7 D.3.3.2 requires an Implementation Class UID; 2.25.<uuid-int> needs no registered root.
IMPLEMENTATION_CLASS_UID = "2.25.95702919224800364835001940333128177896"
IMPLEMENTATION_VERSION_NAME = "PACS_LB_1"

PDU_TYPES = {
    0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ", 0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP", 0x07: "A-ABORT",
}
# PS3.8 Table 9-18
CONTEXT_RESULTS = {
    0: "acceptance", 1: "user-rejection", 2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}
# PS3.8 Table 9-21
REJECT_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCES = {
    1: "DICOM UL service-user",
    2: "DICOM UL service-provider (ACSE related function)",
    3: "DICOM UL service-provider (presentation related function)",
}
REJECT_REASONS = {
    1: {1: "no-reason-given", 2: "application-context-name-not-supported",
        3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {1: "temporary-congestion", 2: "local-limit-exceeded"},
}
# PS3.8 Table 9-26
ABORT_SOURCES = {0: "DICOM UL service-user", 2: "DICOM UL service-provider"}
ABORT_REASONS = {
    0: "reason-not-specified", 1: "unrecognized-PDU", 2: "unexpected-PDU",
    4: "unrecognized-PDU-parameter", 5: "unexpected-PDU-parameter", 6: "invalid-PDU-parameter-value",
}
# PS3.7 C.11.1 / Annex C: statuses a C-ECHO-RSP can carry
ECHO_STATUSES = {
    0x0000: "Success", 0x0122: "Refused: SOP class not supported", 0x0210: "Duplicate invocation",
    0x0211: "Unrecognized operation", 0x0212: "Mistyped argument",
}
# Command set elements (group 0000) we write or report: tag -> (keyword, VR); others are skipped.
COMMAND_ELEMENTS = {
    0x0000: ("CommandGroupLength", "UL"), 0x0002: ("AffectedSOPClassUID", "UI"),
    0x0100: ("CommandField", "US"), 0x0110: ("MessageID", "US"),
    0x0120: ("MessageIDBeingRespondedTo", "US"), 0x0800: ("CommandDataSetType", "US"),
    0x0900: ("Status", "US"), 0x0902: ("ErrorComment", "LO"),
}
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATASET = 0x0101

# A peer that is not DICOM (e.g. HTTP) can announce huge lengths; never buffer more than this.
MAX_READ_PDU = 1 << 22


class PDUError(ValueError):
    """Bytes that are not a well-formed PDU (or not the PDU the exchange needs)."""


def validate_ae_title(ae):
    """Return the significant part of an AE title or raise ValueError (PS3.5 6.2, VR AE)."""
    if not isinstance(ae, str):
        raise ValueError("AE title must be a string, got %s" % type(ae).__name__)
    value = ae.strip(" ")
    if not value:
        raise ValueError("AE title must not be empty or only spaces")
    if len(value) > 16:
        raise ValueError("AE title %r is %d characters long, the maximum is 16" % (value, len(value)))
    bad = [c for c in value if not " " <= c <= "~"]
    if bad:
        raise ValueError("AE title %r contains a control or non-ASCII character %r" % (value, bad[0]))
    if "\\" in value:
        raise ValueError("AE title %r must not contain a backslash" % value)
    return value


def _ae_field(ae):
    return validate_ae_title(ae).encode("ascii").ljust(16, b" ")


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _pdu(pdu_type, payload):
    return struct.pack(">BBI", pdu_type, 0, len(payload)) + payload


def _uid(uid):
    # UIDs in UL items are not padded (PS3.8 9.3.2.2.1), unlike UIDs in data sets.
    return uid.encode("ascii")


def associate_rq(called_ae, calling_ae, abstract_syntax=VERIFICATION_SOP_CLASS,
                 transfer_syntaxes=(IMPLICIT_VR_LE,), max_pdu=16384,
                 implementation_uid=None, implementation_version=None):
    """A-ASSOCIATE-RQ with one presentation context (ID 1).

    Without implementation_uid this is the 161-byte reference PDU of tests/unit/test_dicom_pdu.py; the 0x55
    version name is only sent together with a 0x52 class UID, as PS3.7 D.3.3.2 pairs them.
    """
    context = b"\x01\x00\x00\x00" + _item(0x30, _uid(abstract_syntax))
    context += b"".join(_item(0x40, _uid(ts)) for ts in transfer_syntaxes)
    user_info = _item(0x51, struct.pack(">I", max_pdu))
    if implementation_uid:
        user_info += _item(0x52, _uid(implementation_uid))
        if implementation_version:
            user_info += _item(0x55, implementation_version.encode("ascii"))
    return _pdu(0x01, struct.pack(">HH", 1, 0) + _ae_field(called_ae) + _ae_field(calling_ae)
                + bytes(32) + _item(0x10, _uid(APP_CONTEXT)) + _item(0x20, context)
                + _item(0x50, user_info))


def check_rq(called_ae, calling_ae):
    """The A-ASSOCIATE-RQ that both echo() and haproxy_tcp_check() send."""
    return associate_rq(called_ae, calling_ae, implementation_uid=IMPLEMENTATION_CLASS_UID,
                        implementation_version=IMPLEMENTATION_VERSION_NAME)


def release_rq():
    return _pdu(0x05, bytes(4))


def release_rp():
    return _pdu(0x06, bytes(4))


def abort(source=0, reason=0):
    return _pdu(0x07, struct.pack(">BBBB", 0, 0, source, reason))


def _element(elem, value):
    vr = COMMAND_ELEMENTS[elem][1]
    if vr == "US":
        raw = struct.pack("<H", value)
    elif vr == "UL":
        raw = struct.pack("<I", value)
    else:
        raw = value.encode("ascii")
        if len(raw) % 2:  # values have even length: UI pads with NUL, text VRs with a space
            raw += b"\0" if vr == "UI" else b" "
    return struct.pack("<HHI", 0x0000, elem, len(raw)) + raw


def c_echo_rq_command(message_id):
    """C-ECHO-RQ command set (PS3.7 9.3.5.1), group 0000 in Implicit VR LE."""
    body = b"".join([
        _element(0x0002, VERIFICATION_SOP_CLASS),
        _element(0x0100, C_ECHO_RQ),
        _element(0x0110, message_id),
        _element(0x0800, NO_DATASET),
    ])
    return _element(0x0000, len(body)) + body


def p_data_c_echo_rq(message_id, pc_id=1):
    """P-DATA-TF with one PDV: control header 0x03 = command fragment, last fragment."""
    pdv = struct.pack(">BB", pc_id, 0x03) + c_echo_rq_command(message_id)
    return _pdu(0x04, struct.pack(">I", len(pdv)) + pdv)


def parse_command(data):
    """Decode an Implicit VR LE group 0000 command set into {keyword: value}."""
    out, pos = {}, 0
    while pos + 8 <= len(data):
        group, elem, length = struct.unpack_from("<HHI", data, pos)
        raw = data[pos + 8:pos + 8 + length]
        pos += 8 + length
        if group != 0 or elem not in COMMAND_ELEMENTS or len(raw) != length:
            continue
        keyword, vr = COMMAND_ELEMENTS[elem]
        if vr == "US" and length == 2:
            out[keyword] = struct.unpack("<H", raw)[0]
        elif vr == "UL" and length == 4:
            out[keyword] = struct.unpack("<I", raw)[0]
        elif vr in ("UI", "LO"):
            out[keyword] = raw.decode("ascii", "replace").rstrip("\0 ")
    return out


def _items(data, pos):
    """Yield (type, payload) for the items of an association PDU's variable field."""
    while pos + 4 <= len(data):
        item_type, length = data[pos], struct.unpack_from(">H", data, pos + 2)[0]
        if pos + 4 + length > len(data):
            raise PDUError("item 0x%02X at offset %d overruns the PDU" % (item_type, pos))
        yield item_type, data[pos + 4:pos + 4 + length]
        pos += 4 + length


def _parse_ac(data, out):
    out.update(called_ae=data[10:26].decode("ascii", "replace").strip(),
               calling_ae=data[26:42].decode("ascii", "replace").strip(),
               contexts=[], max_pdu=None, implementation_uid=None, implementation_version=None)
    for item_type, payload in _items(data, 74):
        if item_type == 0x21 and len(payload) >= 4:
            ts = [p.decode("ascii", "replace") for t, p in _items(payload, 4) if t == 0x40]
            out["contexts"].append(dict(id=payload[0], result=payload[2],
                                        result_text=CONTEXT_RESULTS.get(payload[2], "unknown"),
                                        transfer_syntax=ts[0] if ts else None))
        elif item_type == 0x50:
            for sub_type, sub in _items(payload, 0):
                if sub_type == 0x51 and len(sub) == 4:
                    out["max_pdu"] = struct.unpack(">I", sub)[0]
                elif sub_type == 0x52:
                    out["implementation_uid"] = sub.decode("ascii", "replace")
                elif sub_type == 0x55:
                    out["implementation_version"] = sub.decode("ascii", "replace")


def _parse_p_data(data, out):
    out["pdvs"], pos = [], 6
    while pos + 6 <= len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        if length < 2 or pos + 4 + length > len(data):
            raise PDUError("PDV item at offset %d has a bad length %d" % (pos, length))
        control = data[pos + 5]
        out["pdvs"].append(dict(pc_id=data[pos + 4], is_command=bool(control & 1),
                                is_last=bool(control & 2), data=data[pos + 6:pos + 4 + length]))
        pos += 4 + length
    commands = [p for p in out["pdvs"] if p["is_command"]]
    # A command split over several PDVs is joined by echo(); a single-PDU one is decoded here.
    if commands and commands[-1]["is_last"]:
        out["command"] = parse_command(b"".join(p["data"] for p in commands))
        out["status"] = out["command"].get("Status")


def parse_pdu(data):
    """Decode one complete PDU into a dict with at least 'type' and 'name'."""
    data = bytes(data)
    if len(data) < 6:
        raise PDUError("short PDU: %d bytes" % len(data))
    pdu_type, length = data[0], struct.unpack_from(">I", data, 2)[0]
    if pdu_type not in PDU_TYPES:
        raise PDUError("not a DICOM PDU: type byte 0x%02X" % pdu_type)
    if len(data) != 6 + length:
        raise PDUError("%s announces %d bytes, got %d" % (PDU_TYPES[pdu_type], length, len(data) - 6))
    out = dict(type=pdu_type, name=PDU_TYPES[pdu_type], length=length)
    if pdu_type in (0x01, 0x02):
        if length < 68:
            raise PDUError("%s too short: %d bytes" % (out["name"], length))
        if pdu_type == 0x02:
            _parse_ac(data, out)
    elif pdu_type == 0x03 and length >= 4:
        result, source, reason = data[7], data[8], data[9]
        out.update(result=result, result_text=REJECT_RESULTS.get(result, "unknown"),
                   source=source, source_text=REJECT_SOURCES.get(source, "unknown"),
                   reason=reason, reason_text=REJECT_REASONS.get(source, {}).get(reason, "reserved"))
    elif pdu_type == 0x04:
        _parse_p_data(data, out)
    elif pdu_type == 0x07 and length >= 4:
        out.update(source=data[8], source_text=ABORT_SOURCES.get(data[8], "reserved"),
                   reason=data[9], reason_text=ABORT_REASONS.get(data[9], "reserved"))
    return out


def _recv_exact(sock, count):
    buf = bytearray()
    while len(buf) < count:
        chunk = sock.recv(count - len(buf))
        if not chunk:
            raise PDUError("connection closed by peer after %d of %d bytes" % (len(buf), count))
        buf += chunk
    return bytes(buf)


def read_pdu(sock):
    """Read and parse one PDU; the socket's own timeout applies to each recv."""
    header = _recv_exact(sock, 6)
    if header[0] not in PDU_TYPES:
        raise PDUError("not a DICOM peer: first byte 0x%02X" % header[0])
    length = struct.unpack_from(">I", header, 2)[0]
    if length > MAX_READ_PDU:
        raise PDUError("%s announces %d bytes, refusing to read" % (PDU_TYPES[header[0]], length))
    return parse_pdu(header + _recv_exact(sock, length))


def _ms(start):
    return round((time.monotonic() - start) * 1000.0, 3)


class _Unusable(PDUError):
    """The association works but cannot echo: release it rather than abort, so the SCP logs no abort."""


def _expect(pdu, wanted, result):
    """Return pdu if it has the wanted type; record an RJ or A-ABORT in result and raise otherwise."""
    if pdu["type"] == wanted:
        return pdu
    if pdu["type"] == 0x03:
        result["reject"] = pdu
        raise PDUError("association rejected: %s (%s, %s)" % (
            pdu["reason_text"], pdu["result_text"], pdu["source_text"]))
    if pdu["type"] == 0x07:
        result["abort"] = pdu
        raise PDUError("association aborted: %s by %s" % (pdu["reason_text"], pdu["source_text"]))
    raise PDUError("expected %s, got %s" % (PDU_TYPES[wanted], pdu["name"]))


def _read_command(sock, result):
    """Join command PDV fragments up to the last one; a command may span several PDUs."""
    fragments = []
    while True:
        for pdv in _expect(read_pdu(sock), 0x04, result)["pdvs"]:
            if pdv["is_command"]:
                fragments.append(pdv["data"])
                if pdv["is_last"]:
                    return parse_command(b"".join(fragments))


def echo(host, port, called_ae, calling_ae, timeout=10.0, tls_context=None, server_name=None):
    """Associate, send C-ECHO, release. Returns a result dict; network problems never raise.

    With ``tls_context``, TLS names ``server_name`` (default ``host``) in SNI and the name check.

    ``timeout`` bounds the whole exchange. ``stage`` is the last stage entered:
    connect, associate, echo, release, or done on success.
    """
    rq = check_rq(called_ae, calling_ae)  # invalid AE titles raise ValueError before any I/O
    result = dict(ok=False, stage="connect", error=None, host=host, port=port,
                  called_ae=called_ae, calling_ae=calling_ae, tls=tls_context is not None,
                  status=None, status_text=None, context=None, reject=None, abort=None,
                  peer=None, timings_ms={})
    timings = result["timings_ms"]
    begin = time.monotonic()
    deadline = begin + timeout
    sock, established = None, False

    def step(name):
        result["stage"] = name
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out before stage %s" % name)
        if sock is not None:
            sock.settimeout(remaining)
        return time.monotonic()

    try:
        t = step("connect")
        sock = socket.create_connection((host, port), timeout=deadline - t)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=server_name or host)
        timings["connect"] = _ms(t)

        t = step("associate")
        sock.sendall(rq)
        ac = _expect(read_pdu(sock), 0x02, result)
        established = True
        timings["associate"] = _ms(t)
        result["peer"] = dict((k, ac[k]) for k in ("max_pdu", "implementation_uid", "implementation_version"))
        context = result["context"] = ac["contexts"][0] if ac["contexts"] else None
        if not context or context["result"] != 0:
            raise _Unusable("Verification presentation context rejected: %s" % (
                context["result_text"] if context else "no presentation context in the AC"))

        t = step("echo")
        sock.sendall(p_data_c_echo_rq(1, pc_id=context["id"]))
        command = _read_command(sock, result)
        timings["echo"] = _ms(t)
        if command.get("CommandField") != C_ECHO_RSP or command.get("Status") is None:
            raise PDUError("expected a C-ECHO-RSP, got command %r" % command)
        status = result["status"] = command["Status"]
        result["status_text"] = ECHO_STATUSES.get(status, "unknown")
        if status != 0:
            raise _Unusable("C-ECHO status 0x%04X: %s" % (status, result["status_text"]))

        t = step("release")
        sock.sendall(release_rq())
        _expect(read_pdu(sock), 0x06, result)
        established = False
        timings["release"] = _ms(t)
        result.update(ok=True, stage="done")
    except (OSError, PDUError) as exc:  # socket.timeout and ssl.SSLError are OSErrors
        result["error"] = str(exc) if isinstance(exc, PDUError) else "%s: %s" % (type(exc).__name__, exc)
        if established and result["abort"] is None:
            if isinstance(exc, _Unusable):
                _release_quietly(sock)
            else:
                _send_quietly(sock, abort())
    finally:
        if sock is not None:
            sock.close()
        timings["total"] = _ms(begin)
    return result


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def _release_quietly(sock):
    try:
        sock.sendall(release_rq())
        read_pdu(sock)
    except (OSError, PDUError):
        pass


def _comment(text):
    # HAProxy expands $VAR and backslash escapes inside double quotes; AE titles may contain both.
    return '"%s"' % "".join(c if c not in '"\\$#\'' else "_" for c in text)


def haproxy_tcp_check(called_ae, calling_ae):
    """HAProxy ``tcp-check`` lines (no indentation) for a DICOM association check.

    Add ``option tcp-check`` and ``tcp-check connect`` (or ``connect ssl``) first.
    The expect regex reads the Result byte of the first presentation context (offset
    105, two hex characters per byte); HAProxy matches rbinary against UPPERCASE hex.
    """
    called, calling = validate_ae_title(called_ae), validate_ae_title(calling_ae)
    return [
        "tcp-check send-binary %s comment %s" % (
            check_rq(called, calling).hex(), _comment("A-ASSOCIATE-RQ Verification %s to %s" % (calling, called))),
        "tcp-check expect min-recv 106 rbinary ^02.{208}00 comment %s"
        % _comment("A-ASSOCIATE-AC with Verification accepted"),
        "tcp-check send-binary %s comment %s" % (release_rq().hex(), _comment("A-RELEASE-RQ")),
        "tcp-check expect binary %s comment %s" % (release_rp().hex(), _comment("A-RELEASE-RP")),
    ]
