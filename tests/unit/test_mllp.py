"""mllp: framing, test message, ACK parsing and probes against an ACK peer built on the hl7 package."""
import socket

import hl7
import pytest

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import mllp

# The reference health-check ADT^A01: 148 characters, 151 bytes framed (0x0b ... 0x1c 0x0d)
REFERENCE = ("MSH|^~\\&|LBCHECK|LB|PACS|HOSP|20250101000000||ADT^A01^ADT_A01|HC000001|D|2.5\r"
             "EVN|A01|20250101000000\rPID|1||HC000001^^^LB^MR||HEALTHCHECK^LB\rPV1|1|I\r")


def test_default_message_matches_reference():
    msg = mllp.default_test_message(control_id="HC000001", timestamp="20250101000000")
    assert msg == REFERENCE and len(msg) == 148
    assert len(mllp.frame(msg)) == 151


def test_default_message_is_debug_and_unique():
    a, b = mllp.default_test_message(), mllp.default_test_message()
    parsed = hl7.parse(a)
    assert str(parsed.segment("MSH")(11)) == "D"
    assert str(parsed.segment("MSH")(9)) == "ADT^A01^ADT_A01"
    assert mllp.message_control_id(a) != mllp.message_control_id(b)
    assert len(mllp.message_control_id(a)) <= 20


@pytest.mark.parametrize("text", [REFERENCE, REFERENCE.replace("\r", "\n"), REFERENCE.replace("\r", "\r\n"),
                                  "\n" + REFERENCE.replace("\r", "\n") + "\n\n", REFERENCE.encode()])
def test_frame_normalises_segment_separators(text):
    assert mllp.frame(text) == b"\x0b" + REFERENCE.encode() + b"\x1c\x0d"


def test_frame_refuses_framing_bytes():
    with pytest.raises(ValueError, match="framing"):
        mllp.frame("MSH|^~\\&|A\x1c")


def test_read_frame_skips_noise_and_reassembles():
    a, b = socket.socketpair()
    with a, b:
        for part in (b"junk\x0bMSH|^~\\&|X\r", b"MSA|AA|1\r\x1c", b"\x0dNEXT"):
            a.sendall(part)
        assert mllp.read_frame(b, timeout=2) == b"MSH|^~\\&|X\rMSA|AA|1\r"


def test_read_frame_reports_closed_connection():
    a, b = socket.socketpair()
    with b:
        a.sendall(b"\x0bMSH|partial")
        a.close()
        with pytest.raises(ValueError, match="closed"):
            mllp.read_frame(b, timeout=2)


def test_parse_ack_from_hl7_package():
    ack = hl7.parse(REFERENCE).create_ack(ack_code="AE", message_id="A1")
    ack.segment("MSA").assign_field("Bad PID", 3)
    assert mllp.parse_ack(str(ack)) == dict(code="AE", code_text="application error",
                                            control_id="HC000001", text="Bad PID")


def test_parse_ack_with_err_segment_and_other_separator():
    ack = "MSH#^~\\&#R#F#L#LB#20250101##ACK#9#P#2.5\rMSA#CR#X1\rERR###207^Application internal error^HL70357\r"
    res = mllp.parse_ack(ack)
    assert (res["code"], res["control_id"]) == ("CR", "X1")
    assert res["text"] == "207^Application internal error^HL70357"


@pytest.mark.parametrize("bad", ["", "EVN|A01\r", "MSH|^~\\&|A\rPID|1\r"])
def test_parse_ack_rejects_non_acks(bad):
    with pytest.raises(ValueError):
        mllp.parse_ack(bad)


def test_probe_invalid_message_raises_before_io():
    with pytest.raises(ValueError, match="MSH"):
        mllp.probe("127.0.0.1", 9, message="PID|1\r")


def test_haproxy_lines():
    lines = mllp.haproxy_tcp_check()
    assert lines[0] == ('tcp-check send-binary %s comment "MLLP-framed HL7 test message"'
                        % mllp.frame(REFERENCE).hex())
    assert lines[1].startswith("tcp-check expect binary 1c0d ")
    assert lines[2].startswith("tcp-check expect min-recv 0 rstring MSA[|][AC]A[|] ")
    assert mllp.haproxy_tcp_check() == lines  # stable, so rendered configs stay idempotent
    custom = mllp.haproxy_tcp_check("MSH|^~\\&|A|B|C|D|1||ADT^A01|Z|T|2.5\n")
    assert bytes.fromhex(custom[0].split()[2]) == b"\x0bMSH|^~\\&|A|B|C|D|1||ADT^A01|Z|T|2.5\r\x1c\r"
