"""The keepalived MISC_CHECK script, installed as the keepalived role installs it.

It must run on a bare balancer: plain python3, with the collection's
module_utils copied beside it, against real DICOM and MLLP peers.
"""
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import threading

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "files"))
import lab_tls  # noqa: E402


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The layout the role creates: libexec/pacs_lb/pacs_lb_check.py and lib/pacs_lb/*.py."""
    prefix = tmp_path_factory.mktemp("usr_local")
    (prefix / "libexec" / "pacs_lb").mkdir(parents=True)
    (prefix / "lib" / "pacs_lb").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "roles", "keepalived", "files", "pacs_lb_check.py"), str(prefix / "libexec" / "pacs_lb"))
    for name in ("dicom_pdu.py", "mllp.py"):
        shutil.copy(os.path.join(ROOT, "plugins", "module_utils", name), str(prefix / "lib" / "pacs_lb"))
    return str(prefix / "libexec" / "pacs_lb" / "pacs_lb_check.py")


def run(script, *args):
    # -I: no user site, no PYTHONPATH, so nothing of the controller's venv leaks in.
    return subprocess.run([sys.executable, "-I", "-S", script] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=30, check=False)


def test_dicom_check_passes_against_an_scp(installed, scp_factory):
    scp = scp_factory(ae_title="ORTHANC")
    assert run(installed, "dicom", "127.0.0.1", scp.port, "ORTHANC", "LBCHECK").returncode == 0


def test_dicom_check_fails_when_the_called_ae_is_rejected(installed, scp_factory):
    scp = scp_factory(ae_title="ORTHANC", require_called_aet=True)
    result = run(installed, "dicom", "127.0.0.1", scp.port, "WRONG", "LBCHECK")
    assert result.returncode == 1 and result.stderr


def test_dicom_check_fails_on_a_closed_port(installed):
    assert run(installed, "dicom", "127.0.0.1", 9, "ORTHANC", "LBCHECK").returncode == 1


def test_hl7_check_follows_the_ack(installed, hl7_peer):
    assert run(installed, "hl7", "127.0.0.1", hl7_peer("AA").port).returncode == 0
    assert run(installed, "hl7", "127.0.0.1", hl7_peer("AE").port).returncode == 1


def test_usage_error(installed):
    assert run(installed, "ping", "127.0.0.1").returncode == 2


def test_dicom_check_takes_a_hex_encoded_ae_title(installed, scp_factory):
    """An AE title with a space or a quote reaches the script hex-encoded (misc_word)."""
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.render_keepalived import misc_word
    scp = scp_factory(ae_title="MY 'PACS'", require_called_aet=True)
    word = misc_word("MY 'PACS'")
    assert word.startswith("hex:") and " " not in word and "'" not in word
    assert run(installed, "dicom", "127.0.0.1", scp.port, word, misc_word("LB CHECK")).returncode == 0


class _Portal(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        # "/" answers 200, anything else 404; the Host header is echoed for the test
        self.send_response(200 if self.path in ("/", "/status?full=1") else 404)
        self.send_header("X-Host", self.headers.get("Host", ""))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """A real HTTPS server on loopback with a certificate of a test CA (name pacs.example.org),
    and the files the check is given: that CA and another one."""
    pki, other = lab_tls.TestPKI(), lab_tls.TestPKI("untrusted")
    leaf = pki.leaf("pacs.example.org", names=["pacs.example.org"])
    tmp = tmp_path_factory.mktemp("https")
    lab_tls.write(str(tmp / "server.pem"), lab_tls.cert_pem(leaf[0]) + lab_tls.cert_pem(pki.intermediate[0]))
    lab_tls.write(str(tmp / "server.key"), lab_tls.key_pem(leaf[1]), 0o600)
    lab_tls.write(str(tmp / "ca.pem"), lab_tls.cert_pem(pki.root[0]))
    lab_tls.write(str(tmp / "other.pem"), lab_tls.cert_pem(other.root[0]))
    server = http.server.HTTPServer(("127.0.0.1", 0), _Portal)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp / "server.pem"), str(tmp / "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"port": server.server_address[1], "ca": str(tmp / "ca.pem"), "other": str(tmp / "other.pem")}
    server.shutdown()


def https(installed, server, *tls, path="/", status="200-399"):
    return run(installed, *(list(tls) + ["https", "127.0.0.1", server["port"], path, status, "pacs.example.org"]))


def test_https_check_verifies_the_chain_and_the_name(installed, https_server):
    ca = ["--ca", https_server["ca"]]
    assert https(installed, https_server, *ca).returncode == 0
    assert https(installed, https_server, *(ca + ["--name", "pacs.example.org"])).returncode == 0
    wrong_name = https(installed, https_server, *(ca + ["--name", "other.example.org"]))
    assert wrong_name.returncode == 1 and "other.example.org" in wrong_name.stderr, wrong_name.stderr
    wrong_ca = https(installed, https_server, "--ca", https_server["other"])
    assert wrong_ca.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in wrong_ca.stderr, wrong_ca.stderr
    # the explicit opt-out (server_verify: false) takes any certificate
    assert https(installed, https_server, "--no-verify").returncode == 0


def test_https_check_follows_the_status_and_decodes_the_path(installed, https_server):
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.render_keepalived import misc_word
    ca = ["--ca", https_server["ca"]]
    missing = https(installed, https_server, *ca, path="/missing")
    assert missing.returncode == 1 and "answered 404, not 200-399" in missing.stderr, missing.stderr
    assert https(installed, https_server, *ca, path="/missing", status="404").returncode == 0
    assert https(installed, https_server, *ca, path=misc_word("/status?full=1")).returncode == 0


def test_https_check_needs_tls_options(installed, https_server):
    assert run(installed, "https", "127.0.0.1", https_server["port"], "/", "200", "x").returncode == 2
    assert run(installed, "--ca", https_server["ca"], "https", "127.0.0.1", 9, "/", "200", "x").returncode == 1
