"""vip_probes against real peers on loopback: a pynetdicom SCP, an MLLP peer,
HTTP and HTTPS servers, a closed port; and the module as Ansible runs it."""
import http.server
import ssl
import threading

import pytest

from lb_helpers import free_port, run_module

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import vip_probes
from ansible_collections.medimaging.pacs_lb.plugins.modules import vip_probes as vip_probes_module


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        else:
            self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def web(tls_files):
    """{"http": port, "https": port}: plain and TLS HTTP servers on 127.0.0.1."""
    servers = []
    for tls in (False, True):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*tls_files)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield {"http": servers[0].server_address[1], "https": servers[1].server_address[1]}
    for server in servers:
        server.shutdown()
        server.server_close()


def probe(kind, port, **extra):
    out = {"kind": kind, "vip": "127.0.0.1", "port": port, "called_ae": "ANY-SCP", "calling_ae": "LBCHECK",
           "url": "%s://127.0.0.1:%d/" % ("https" if kind == "https" else "http", port), "tls": None}
    out.update(extra)
    return out


def test_every_kind_against_a_real_peer_in_one_call(scp_factory, hl7_peer, web, tls_files):
    scp, peer, closed = scp_factory(), hl7_peer("AA"), free_port()
    with open(tls_files[0]) as handle:
        ca = handle.read()
    probes = [
        probe("dicom", scp.port),
        probe("dicom", scp.port, called_ae="OTHER"),  # accepted: this SCP takes any called AE
        probe("hl7", peer.port),
        probe("http", web["http"]),
        probe("http", web["http"], url="http://127.0.0.1:%d/missing" % web["http"]),
        probe("http", web["http"], url="http://127.0.0.1:%d/moved" % web["http"]),
        probe("https", web["https"], tls={"ca": "site", "client_certificate": False}),
        probe("https", web["https"], tls={"ca": "other", "client_certificate": False}),
        probe("tcp", web["http"]),
        probe("tcp", closed),
        probe("http", closed),
        probe("dicom", closed),
    ]
    results = vip_probes.run_all(probes, ca_data={"site": ca, "other": _other_ca()}, timeout=3)
    got = [r["result"] for r in results]
    assert got[0]["ok"] and got[0]["status_text"] == "Success", got[0]
    assert got[1]["ok"]
    assert got[2]["ok"] and got[2]["code"] == "AA", got[2]
    assert [got[i]["status"] for i in (3, 4, 5, 6)] == [200, 404, 301, 200]
    assert got[8]["state"] == "started" and got[8]["elapsed"] >= 0
    assert got[9]["failed"] and got[9]["state"] is None and "refused" in got[9]["msg"].lower()
    assert got[10]["status"] == -1 and "no HTTP answer" in got[10]["msg"]
    assert not got[11]["ok"] and got[11]["stage"] == "connect", got[11]
    good, bad = results[6]["tls"], results[7]["tls"]
    assert good["handshake"] and good["chain_valid"] and good["days_left"] == 0, good
    assert bad["handshake"] and not bad["chain_valid"] and bad["verify_error"], bad
    assert all(r["tls"] is None for i, r in enumerate(results) if i not in (6, 7))


def test_dicom_over_tls_is_proven_after_the_handshake(scp_factory, tls_files):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*tls_files)
    tls_scp, plain_scp = scp_factory(ssl_context=server_ctx), scp_factory()
    tls = {"ca": None, "client_certificate": False}
    ok, plain = vip_probes.run_all([probe("dicom", tls_scp.port, tls=tls), probe("dicom", plain_scp.port, tls=tls)],
                                   timeout=3)
    assert ok["result"]["ok"] and ok["tls"]["handshake"] and not ok["tls"]["chain_valid"]
    assert not plain["result"]["ok"] and not plain["tls"]["handshake"]


def test_the_module_refuses_a_probe_it_cannot_run():
    result = run_module(vip_probes_module, {"probes": [{"kind": "ftp", "vip": "127.0.0.1", "port": 21}]})
    assert result["failed"] and "probes[0]" in result["msg"] and "ftp" in result["msg"]


def test_the_module_returns_one_result_per_probe_in_order(web):
    closed = free_port()
    result = run_module(vip_probes_module, {"probes": [probe("tcp", closed), probe("http", web["http"])],
                                            "timeout": 2})
    assert not result.get("failed") and not result["changed"]
    assert [r["result"].get("status", r["result"].get("state")) for r in result["results"]] == [None, 200]


def _other_ca():
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=other", "-keyout", tmp + "/k.pem", "-out", tmp + "/c.pem"], check=True,
                       capture_output=True)
        with open(tmp + "/c.pem") as handle:
            return handle.read()
