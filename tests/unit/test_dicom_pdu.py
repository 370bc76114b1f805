"""dicom_pdu: bytes checked against a reference A-ASSOCIATE-RQ (PS3.8 9.3.2) and pynetdicom, live echo against pynetdicom and DCMTK."""
import socket
from io import BytesIO

import pytest
from pynetdicom import pdu as pn_pdu
from pynetdicom.dimse_messages import C_ECHO_RQ, C_ECHO_RSP
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.dsutils import decode
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import CTImageStorage, Verification


from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu as d

# The reference 161-byte A-ASSOCIATE-RQ (PS3.8 9.3.2, called ORTHANC, calling LBCHECK,
# Verification, Implicit VR LE), field by field in order (offset, hex)
TABLE_161 = [
    (0, "01"), (1, "00"), (2, "0000009b"), (6, "0001"), (8, "0000"),
    (10, "ORTHANC".ljust(16).encode().hex()), (26, "LBCHECK".ljust(16).encode().hex()), (42, "00" * 32),
    (74, "10000015" + b"1.2.840.10008.3.1.1.1".hex()),
    (99, "2000002e01000000"),
    (107, "30000011" + b"1.2.840.10008.1.1".hex()),
    (128, "40000011" + b"1.2.840.10008.1.2".hex()),
    (149, "50000008" + "5100000400004000"),
]


# ---------------------------------------------------------------- AE titles

@pytest.mark.parametrize("ae,expected", [("ORTHANC", "ORTHANC"), ("  PACS 1  ", "PACS 1"),
                                         ("A" * 16, "A" * 16), ('A"B$C', 'A"B$C')])
def test_valid_ae_titles(ae, expected):
    assert d.validate_ae_title(ae) == expected


@pytest.mark.parametrize("ae,message", [("", "empty"), ("    ", "empty"), ("A" * 17, "maximum is 16"),
                                        ("PACS\\1", "backslash"), ("PACS\t1", "control"),
                                        ("P\u00c4CS", "non-ASCII"), (b"PACS", "string")])
def test_invalid_ae_titles(ae, message):
    with pytest.raises(ValueError, match=message):
        d.validate_ae_title(ae)


# ---------------------------------------------------------------- A-ASSOCIATE-RQ

def test_rq_is_the_161_byte_pdu_of_the_reference_table():
    rq = d.associate_rq("ORTHANC", "LBCHECK")
    assert len(rq) == 161
    for offset, hexstr in TABLE_161:
        assert rq[offset:offset + len(hexstr) // 2].hex() == hexstr, "offset %d" % offset
    ends = [offset + len(hexstr) // 2 for offset, hexstr in TABLE_161]
    assert [row[0] for row in TABLE_161[1:]] + [161] == ends  # the rows cover every byte once
    assert d.parse_pdu(rq)["name"] == "A-ASSOCIATE-RQ"


def test_rq_with_implementation_uid_matches_reference_arithmetic():
    uid = "2.25.329800735698586629295641978511506172918"  # a 44-byte UID, the longest of the test
    rq = d.associate_rq("ORTHANC", "LBCHECK", implementation_uid=uid)
    assert len(rq) == 209 and rq[2:6].hex() == "000000cb"
    assert rq[149:153].hex() == "50000038"
    assert rq[161:165].hex() == "5200002c" and rq[165:] == uid.encode()


def test_rq_decoded_by_pynetdicom():
    rq = d.check_rq("ORTHANC", "LBCHECK")
    pdu = pn_pdu.A_ASSOCIATE_RQ()
    pdu.decode(rq)
    assert pdu.called_ae_title == "ORTHANC" and pdu.calling_ae_title == "LBCHECK"
    assert pdu.application_context_name == d.APP_CONTEXT
    (ctx,) = pdu.presentation_context
    assert (ctx.context_id, ctx.abstract_syntax, ctx.transfer_syntax) == (1, Verification, [d.IMPLICIT_VR_LE])
    prim = pdu.to_primitive()
    assert prim.maximum_length_received == 16384
    assert prim.implementation_class_uid == d.IMPLEMENTATION_CLASS_UID
    names = [i.implementation_version_name for i in prim.user_information
             if hasattr(i, "implementation_version_name")]
    assert names == [d.IMPLEMENTATION_VERSION_NAME]
    assert pdu.encode() == rq


def test_rq_with_several_transfer_syntaxes_and_other_abstract_syntax():
    rq = d.associate_rq("A", "B", abstract_syntax=CTImageStorage,
                        transfer_syntaxes=("1.2.840.10008.1.2.1", d.IMPLICIT_VR_LE), max_pdu=0)
    pdu = pn_pdu.A_ASSOCIATE_RQ()
    pdu.decode(rq)
    ctx = pdu.presentation_context[0]
    assert ctx.abstract_syntax == CTImageStorage
    assert ctx.transfer_syntax == ["1.2.840.10008.1.2.1", d.IMPLICIT_VR_LE]
    assert pdu.to_primitive().maximum_length_received == 0


def test_uid_is_a_valid_2_25_uid():
    uid = d.IMPLEMENTATION_CLASS_UID
    assert uid.startswith("2.25.") and len(uid) <= 64
    assert int(uid[5:]) < 2 ** 128 and not uid[5:].startswith("0")
    assert len(d.IMPLEMENTATION_VERSION_NAME) <= 16


# ---------------------------------------------------------------- other PDUs

def test_release_and_abort_bytes():
    assert d.release_rq().hex() == "05000000000400000000"
    assert d.release_rp().hex() == "06000000000400000000"
    assert d.abort().hex() == "07000000000400000000"
    for ours, theirs in [(d.release_rq(), pn_pdu.A_RELEASE_RQ()), (d.release_rp(), pn_pdu.A_RELEASE_RP()),
                         (d.abort(), pn_pdu.A_ABORT_RQ())]:
        theirs.decode(ours)
        assert theirs.encode() == ours


def test_c_echo_p_data_decoded_by_pynetdicom():
    raw = d.p_data_c_echo_rq(7, pc_id=3)
    pdu = pn_pdu.P_DATA_TF()
    pdu.decode(raw)
    (pdv,) = pdu.presentation_data_value_items
    assert pdv.presentation_context_id == 3
    assert pdv.presentation_data_value[0] == 0x03  # command + last fragment
    ds = decode(BytesIO(pdv.presentation_data_value[1:]), True, True)
    assert ds.CommandGroupLength == len(pdv.presentation_data_value) - 1 - 12
    assert (ds.CommandField, ds.MessageID, ds.CommandDataSetType) == (0x0030, 7, 0x0101)
    assert ds.AffectedSOPClassUID == Verification

    msg = C_ECHO_RQ()
    prim = P_DATA()
    prim.presentation_data_value_list = [[3, pdv.presentation_data_value]]
    assert msg.decode_msg(prim)  # True = complete DIMSE message
    echo = msg.message_to_primitive()
    assert isinstance(echo, C_ECHO) and echo.MessageID == 7 and echo.AffectedSOPClassUID == Verification


def _pynetdicom_echo_rsp(status, pc_id=1, max_pdu=16384):
    rsp = C_ECHO()
    rsp.MessageIDBeingRespondedTo, rsp.AffectedSOPClassUID, rsp.Status = 7, Verification, status
    msg = C_ECHO_RSP()
    msg.primitive_to_message(rsp)
    return [pn_pdu.P_DATA_TF(p).encode() for p in msg.encode_msg(pc_id, max_pdu)]


@pytest.mark.parametrize("status", [0x0000, 0x0122])
def test_parse_c_echo_rsp_encoded_by_pynetdicom(status):
    (raw,) = _pynetdicom_echo_rsp(status)
    pdu = d.parse_pdu(raw)
    assert pdu["name"] == "P-DATA-TF" and pdu["status"] == status
    assert pdu["command"]["CommandField"] == 0x8030
    assert pdu["command"]["MessageIDBeingRespondedTo"] == 7


def test_parse_reject_from_reference():
    pdu = d.parse_pdu(bytes.fromhex("03000000000400010107"))  # Orthanc, DicomCheckCalledAet
    assert (pdu["name"], pdu["result"], pdu["source"], pdu["reason"]) == ("A-ASSOCIATE-RJ", 1, 1, 7)
    assert pdu["reason_text"] == "called-AE-title-not-recognized"
    assert pdu["result_text"] == "rejected-permanent"
    assert d.parse_pdu(bytes.fromhex("03000000000400020302"))["reason_text"] == "local-limit-exceeded"


def test_parse_abort():
    pdu = d.parse_pdu(bytes.fromhex("07000000000400000201"))
    assert (pdu["source_text"], pdu["reason_text"]) == ("DICOM UL service-provider", "unrecognized-PDU")


@pytest.mark.parametrize("raw,message", [(b"\x02\x00", "short"), (b"HTTP/1.1 400", "type byte 0x48"),
                                         (bytes.fromhex("0600000000040000"), "announces 4 bytes, got 2")])
def test_parse_rejects_garbage(raw, message):
    with pytest.raises(d.PDUError, match=message):
        d.parse_pdu(raw)


# ---------------------------------------------------------------- HAProxy lines (live: test_haproxy_protocol_checks)

def test_haproxy_lines_share_the_echo_bytes():
    lines = d.haproxy_tcp_check("ORTHANC", "LBCHECK")
    assert lines[0].startswith("tcp-check send-binary %s comment \"" % d.check_rq("ORTHANC", "LBCHECK").hex())
    assert lines[1].startswith("tcp-check expect min-recv 106 rbinary ^02.{208}00 comment ")
    pattern = lines[1].split()[5]
    assert pattern == pattern.upper()  # HAProxy matches rbinary against UPPERCASE hex
    assert lines[2].startswith("tcp-check send-binary 05000000000400000000 ")
    assert lines[3].startswith("tcp-check expect binary 06000000000400000000 ")
    assert all(line == line.strip() and not line.startswith("tcp-check connect") for line in lines)


def test_haproxy_comment_cannot_break_the_quoting():
    line = d.haproxy_tcp_check('A"B$C', "X'Y#Z")[0]
    comment = line.split(" comment ", 1)[1]
    assert comment.count('"') == 2 and comment.startswith('"') and comment.endswith('"')
    assert not set("$'#\\") & set(comment)


def test_haproxy_rejects_invalid_ae():
    with pytest.raises(ValueError):
        d.haproxy_tcp_check("X" * 17, "LBCHECK")


# ---------------------------------------------------------------- live echo against pynetdicom


def test_echo_invalid_ae_raises_before_connecting():
    with pytest.raises(ValueError):
        d.echo("127.0.0.1", 9, "X" * 17, "LBCHECK")


# ---------------------------------------------------------------- live echo against DCMTK storescp


def test_read_command_joins_fragments_over_several_pdus():
    fragments = _pynetdicom_echo_rsp(0x0000, max_pdu=32)  # pynetdicom splits the command set
    assert len(fragments) > 2
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"".join(fragments))
        b.settimeout(2)
        command = d._read_command(b, {})
    assert command["CommandField"] == 0x8030 and command["Status"] == 0
    assert command["MessageIDBeingRespondedTo"] == 7
