"""mllp.probe against live ACK peers built on the hl7 package."""
import socket

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import mllp

# The reference health-check ADT^A01: 148 characters, 151 bytes framed (0x0b ... 0x1c 0x0d)
REFERENCE = ("MSH|^~\\&|LBCHECK|LB|PACS|HOSP|20250101000000||ADT^A01^ADT_A01|HC000001|D|2.5\r"
             "EVN|A01|20250101000000\rPID|1||HC000001^^^LB^MR||HEALTHCHECK^LB\rPV1|1|I\r")


@pytest.mark.parametrize("mode,ok", [("AA", True), ("CA", True), ("AE", False), ("AR", False)])
def test_probe_against_hl7_peer(hl7_peer, mode, ok):
    peer = hl7_peer(mode)
    res = mllp.probe("127.0.0.1", peer.port, timeout=5)
    assert res["ok"] is ok and res["code"] == mode, res
    assert res["control_id_match"] and res["ack_control_id"] == res["control_id"]
    assert mllp.message_control_id(peer.received[0]) == res["control_id"]
    assert res["latency_ms"] > 0
    if not ok:
        assert res["text"] == "Unknown test patient" and "Unknown test patient" in res["error"]


def test_probe_custom_message_and_expect(hl7_peer):
    peer = hl7_peer("AE")
    res = mllp.probe("127.0.0.1", peer.port, message=REFERENCE.replace("\r", "\n"), timeout=5,
                     expect=("AA", "AE"))
    assert res["ok"] and res["control_id"] == "HC000001"
    assert peer.received == [REFERENCE]


def test_probe_detects_foreign_control_id(hl7_peer):
    res = mllp.probe("127.0.0.1", hl7_peer("wrongid").port, timeout=5)
    assert res["code"] == "AA" and not res["control_id_match"]
    assert not res["ok"] and "does not match" in res["error"]


def test_probe_connection_refused():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
    res = mllp.probe("127.0.0.1", port, timeout=2)
    assert not res["ok"] and "ConnectionRefusedError" in res["error"]


def test_probe_peer_closes_without_ack(hl7_peer):
    res = mllp.probe("127.0.0.1", hl7_peer("silent").port, timeout=5)
    assert not res["ok"] and "closed before a complete MLLP frame" in res["error"]


def test_probe_timeout():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        res = mllp.probe("127.0.0.1", srv.getsockname()[1], timeout=0.3)
    assert not res["ok"] and "timed out" in res["error"]
