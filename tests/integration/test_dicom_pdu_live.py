"""dicom_pdu.echo against live peers: pynetdicom SCPs, DCMTK storescp, raw TCP peers, TLS."""
import socket
import ssl

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
from pynetdicom.sop_class import CTImageStorage

from lb_helpers import free_port
from probe_peers import RawPeer, start_storescp, stop

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu as d


# ---------------------------------------------------------------- AE titles


# ---------------------------------------------------------------- A-ASSOCIATE-RQ


# ---------------------------------------------------------------- other PDUs


# ---------------------------------------------------------------- HAProxy lines (live: test_haproxy_protocol_checks)


# ---------------------------------------------------------------- live echo against pynetdicom

def test_echo_ok(scp_factory):
    scp = scp_factory()
    res = d.echo("127.0.0.1", scp.port, "ANY-SCP", "LBCHECK", timeout=5)
    assert res["ok"] and res["stage"] == "done" and res["error"] is None, res
    assert res["status"] == 0 and res["status_text"] == "Success"
    assert res["context"] == dict(id=1, result=0, result_text="acceptance", transfer_syntax=d.IMPLICIT_VR_LE)
    assert res["peer"]["implementation_uid"] == PYNETDICOM_IMPLEMENTATION_UID
    assert set(res["timings_ms"]) == {"connect", "associate", "echo", "release", "total"}
    assert scp.wait_for("EVT_RELEASED")
    assert "EVT_ABORTED" not in scp.names()
    assert ("EVT_ACCEPTED", "LBCHECK", d.IMPLEMENTATION_CLASS_UID) in scp.events


def test_echo_rejected_called_ae(scp_factory):
    scp = scp_factory(ae_title="STRICT", require_called_aet=True)
    res = d.echo("127.0.0.1", scp.port, "WRONG", "LBCHECK", timeout=5)
    assert not res["ok"] and res["stage"] == "associate"
    assert res["reject"]["reason"] == 7 and res["reject"]["reason_text"] == "called-AE-title-not-recognized"
    assert "called-AE-title-not-recognized" in res["error"]
    assert d.echo("127.0.0.1", scp.port, "STRICT", "LBCHECK", timeout=5)["ok"]


def test_echo_abstract_syntax_not_supported(scp_factory):
    scp = scp_factory(contexts=(CTImageStorage,))
    res = d.echo("127.0.0.1", scp.port, "ANY-SCP", "LBCHECK", timeout=5)
    assert not res["ok"] and res["stage"] == "associate"
    assert res["context"]["result"] == 3
    assert "abstract-syntax-not-supported" in res["error"]
    assert scp.wait_for("EVT_RELEASED")  # released politely, not aborted


def test_echo_failure_status_is_reported(scp_factory):
    scp = scp_factory(echo_status=0x0211)
    res = d.echo("127.0.0.1", scp.port, "ANY-SCP", "LBCHECK", timeout=5)
    assert not res["ok"] and res["stage"] == "echo"
    assert res["status"] == 0x0211 and res["status_text"] == "Unrecognized operation"
    assert scp.wait_for("EVT_RELEASED")


def test_echo_connection_refused():
    res = d.echo("127.0.0.1", free_port(), "ANY-SCP", "LBCHECK", timeout=2)
    assert not res["ok"] and res["stage"] == "connect"
    assert "ConnectionRefusedError" in res["error"]


def test_echo_silent_peer_times_out():
    peer = RawPeer(reply=None)
    try:
        res = d.echo("127.0.0.1", peer.port, "ANY-SCP", "LBCHECK", timeout=0.5)
    finally:
        peer.close()
    assert not res["ok"] and res["stage"] == "associate" and "timed out" in res["error"]
    assert 400 < res["timings_ms"]["total"] < 2000


def test_echo_against_non_dicom_peer():
    peer = RawPeer(reply=b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        res = d.echo("127.0.0.1", peer.port, "ANY-SCP", "LBCHECK", timeout=2)
    finally:
        peer.close()
    assert not res["ok"] and "not a DICOM peer" in res["error"]


def test_echo_over_tls(scp_factory, tls_files):
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    scp = scp_factory(ssl_context=server_ctx)
    ok = d.echo("127.0.0.1", scp.port, "ANY-SCP", "LBCHECK", timeout=5,
                tls_context=ssl.create_default_context(cafile=cert))
    assert ok["ok"] and ok["tls"], ok
    untrusted = d.echo("127.0.0.1", scp.port, "ANY-SCP", "LBCHECK", timeout=5,
                       tls_context=ssl.create_default_context())
    assert not untrusted["ok"] and untrusted["stage"] == "connect"
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted["error"]


# ---------------------------------------------------------------- live echo against DCMTK storescp

def test_echo_against_storescp(tmp_path):
    proc, port = start_storescp(tmp_path)
    try:
        res = d.echo("127.0.0.1", port, "STORESCP", "LBCHECK", timeout=5)
    finally:
        stop(proc)
    assert res["ok"] and res["status"] == 0, res
    assert res["peer"]["implementation_version"].startswith("OFFIS_DCMTK")


def test_storescp_reject_needs_implementation_uid(tmp_path):
    """storescp --reject refuses RQs without 0x52, which is why echo() sends one."""
    proc, port = start_storescp(tmp_path, "--reject")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(d.associate_rq("STORESCP", "LBCHECK"))
            bare = d.read_pdu(sock)
        res = d.echo("127.0.0.1", port, "STORESCP", "LBCHECK", timeout=5)
    finally:
        stop(proc)
    assert bare["name"] == "A-ASSOCIATE-RJ", bare
    assert res["ok"], res


def test_storescp_refuse_is_reported(tmp_path):
    proc, port = start_storescp(tmp_path, "--refuse")
    try:
        res = d.echo("127.0.0.1", port, "STORESCP", "LBCHECK", timeout=5)
    finally:
        stop(proc)
    assert not res["ok"] and res["stage"] == "associate" and res["reject"]["result"] in (1, 2), res


def test_echo_peer_abort_is_reported():
    peer = RawPeer(reply=d.abort(source=2, reason=2))
    try:
        res = d.echo("127.0.0.1", peer.port, "ANY-SCP", "LBCHECK", timeout=2)
    finally:
        peer.close()
    assert not res["ok"] and res["stage"] == "associate"
    assert res["abort"]["source"] == 2 and res["abort"]["reason_text"] == "unexpected-PDU"
    assert res["error"] == "association aborted: unexpected-PDU by DICOM UL service-provider"
