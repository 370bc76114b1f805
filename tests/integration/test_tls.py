"""TLS: certificates checked on the controller, the rendered TLS policy, and
a real HAProxy on loopback serving what the model renders, probed with real
clients (openssl s_client, the tls_probe module, DICOM over TLS).

The certificates are made by the test (tests/lab/files/lab_tls.py)."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from lb_helpers import HAPROXY, free_port
import render_local
from test_haproxy_protocol_checks import show_stat

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.haproxy_runtime import RuntimeAPI
from ansible_collections.medimaging.pacs_lb.plugins.modules import tls_probe
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import verify_report as vr

sys.path.insert(0, os.path.join(render_local.ROOT, "tests", "lab", "files"))
import lab_tls  # noqa: E402

PKI = lab_tls.TestPKI()
OTHER = lab_tls.TestPKI("untrusted")
LEAF = PKI.leaf("pacs.example.org", names=["pacs.example.org", "127.0.0.100"])
CLIENT = PKI.leaf("modality.example.org", client=True)
CA_PEM = lab_tls.cert_pem(PKI.root[0])


def site(services, certificates=None, server_ca=None):
    inputs = {
        "profile_services": [],
        "user_services": services,
        "vrrp_instances": [{"name": "VI_LO", "virtual_router_id": 51, "interface": "lo", "network": "127.0.0.0/8"}],
        "pools": {}, "groups": {"balancers": ["lb1", "lb2"]},
        "hostvars": {"lb1": {"pacs_lb_address": "127.0.0.11"}, "lb2": {"pacs_lb_address": "127.0.0.12"}},
        "tls_certificates": certificates if certificates is not None else [
            PKI.ca_entry("site_ca"), PKI.entry("portal", LEAF, names=["pacs.example.org"], ca="site_ca")],
        "tls_server_ca": server_ca,
    }
    return inputs


def problems(inputs):
    with pytest.raises(sm.ModelError) as err:
        sm.build_model(**inputs)
    return err.value.problems


def svc(**fields):
    out = {"name": "PORTAL", "vip": "127.0.0.100", "ports": 443, "protocol": "https", "tls_certificate": "portal",
           "servers": [{"address": "127.0.0.1", "port": 8080}]}
    out.update(fields)
    return out


# ------------------------------------------------------------ controller checks

def test_a_good_certificate_passes_and_its_facts_reach_the_model():
    model = sm.build_model(**site([svc()]))
    facts = model["tls_certificates"]["portal"]
    assert facts["subject"] == "CN=pacs.example.org" and facts["ca"] == "site_ca"
    assert 360 <= facts["days_left"] <= 365
    assert model["tls_files"] == [
        {"name": "site_ca", "path": "/etc/haproxy/pacs_lb_tls/site_ca.ca.pem", "kind": "ca"},
        {"name": "portal", "path": "/etc/haproxy/pacs_lb_tls/portal.pem", "kind": "certificate"}]
    # keys never reach the model (it is a fact, shown with -v)
    assert "PRIVATE KEY" not in repr(model)
    assert model["services"][0]["tls"]["certificate"] == "/etc/haproxy/pacs_lb_tls/portal.pem"


def _entry(**change):
    entry = PKI.entry("portal", LEAF, names=["pacs.example.org"], ca="site_ca")
    entry.update(change)
    return [PKI.ca_entry("site_ca"), entry]


@pytest.mark.parametrize("change, field, text", [
    (dict(key=lab_tls.key_pem(CLIENT[1])), "key", "does not match the certificate"),
    (dict(certificate=lab_tls.cert_pem(PKI.leaf("old", names=["pacs.example.org"], days=-1,
                                                not_before_days=-30)[0])), "certificate", "expired on"),
    (dict(certificate=lab_tls.cert_pem(PKI.leaf("future", names=["pacs.example.org"], days=60,
                                                not_before_days=30)[0])), "certificate", "is not valid before"),
    (dict(names=["pacs.example.org", "viewer.example.org"]), "names", "viewer.example.org is not covered"),
    (dict(chain=None), "chain", "incomplete"),
    (dict(chain=lab_tls.cert_pem(OTHER.intermediate[0])), "chain", "is not signed by the next certificate"),
    (dict(certificate="not a certificate"), "certificate", "is not PEM text"),
    (dict(key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "key", "not an unencrypted PEM"),
    (dict(ca="nope"), "ca", "'nope' is not a CA entry"),
    (dict(path="/etc/ssl/x.pem"), "certificate", "either certificate"),
])
def test_certificate_problems_stop_the_run_before_any_host(change, field, text):
    entry = _entry(**change)
    entry[1] = dict((k, v) for k, v in entry[1].items() if v is not None)
    found = problems(site([svc()], entry))
    assert any(p.startswith("tls certificate 'portal': %s: " % field) and text in p for p in found), found


def test_a_key_is_never_shown_in_a_message():
    entry = _entry(key="-----BEGIN PRIVATE KEY-----\nSECRET\x01\n-----END PRIVATE KEY-----\n")
    found = problems(site([svc()], entry))
    assert found == ["tls certificate 'portal': key: must be PEM text (printable ASCII, lines); the value is not shown"]


def test_a_wildcard_covers_one_label():
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.tls_check import covers
    assert covers(["*.example.org"], "pacs.example.org")
    assert not covers(["*.example.org"], "a.pacs.example.org")
    assert not covers(["*.example.org"], "example.org")
    assert covers(["198.18.0.5"], "198.18.0.5") and not covers(["pacs.example.org"], "198.18.0.5")


@pytest.mark.parametrize("service, field, text", [
    (svc(tls_certificate="site_ca"), "tls_certificate", "is a CA"),
    (svc(tls_certificate="missing"), "tls_certificate", "'missing' is not an entry of pacs_lb_tls_certificates"),
    (svc(tls_client_ca="portal"), "tls_client_ca", "is a server certificate"),
    (svc(tls_certificate=None, protocol="https", tls_min_version="TLSv1.3"), "tls_min_version",
     "only when the balancer terminates"),
    (svc(protocol="dicom"), "tls_certificate", "set protocol dicom_tls"),
    (svc(protocol="dicom_tls", hsts_max_age=100), "hsts_max_age", "terminated HTTPS portal"),
    (svc(http_redirect_port=443), "http_redirect_port", "one of the service's own ports"),
    (svc(check="https"), "server_ca", "verifies their certificates"),
    (svc(server_tls=True), "server_ca", "or opt out with server_verify: false"),
    (svc(tls_certificate=None, protocol="dicom_tls", server_tls=True, server_verify=False), "server_tls",
     "encrypt it twice"),
    (svc(server_name="pacs1.example.org"), "server_name", "only when the balancer speaks TLS to the servers"),
    (svc(tls_certificate="/etc/ssl/a b.pem"), "tls_certificate", "an absolute path on the balancers"),
])
def test_tls_service_problems(service, field, text):
    service = dict((k, v) for k, v in service.items() if v is not None)
    found = problems(site([service]))
    assert any(p.startswith("service 'PORTAL': %s: " % field) and text in p for p in found), found


def test_cryptography_is_needed_only_with_pem_content(monkeypatch):
    from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import tls_check
    monkeypatch.setattr(tls_check, "HAS_CRYPTOGRAPHY", False)
    found = problems(site([svc()]))
    assert found[0].startswith("controller: cryptography: the Python package cryptography is required")
    # a certificate already on the balancers needs no library on the controller
    sm.build_model(**site([svc(tls_certificate="/etc/haproxy/site.pem")], []))


# ------------------------------------------------------------------- rendering

def frontend(model, name):
    return [f for f in sm.render_haproxy(model)["frontends"] if f["name"] == name][0]


def test_https_portal_policy():
    model = sm.build_model(**site([svc(protocol="https", hsts_max_age=31536000, http_redirect_port=80,
                                       check={"type": "http", "path": "/"})]))
    fe = frontend(model, "fe_PORTAL")
    assert fe["mode"] == "http"
    assert fe["binds"] == ["127.0.0.100:443 ssl crt /etc/haproxy/pacs_lb_tls/portal.pem ssl-min-ver TLSv1.2 "
                           "alpn h2,http/1.1", "127.0.0.100:80"]
    assert "http-request redirect scheme https code 301 unless { ssl_fc }" in fe["lines"]
    assert "http-response set-header Strict-Transport-Security 'max-age=31536000' if { ssl_fc }" in fe["lines"]


def test_dicom_tls_terminated_with_routes_and_mutual_tls():
    model = sm.build_model(**site([svc(protocol="dicom_tls", ports=2762, tls_min_version="TLSv1.3",
                                       tls_client_ca="site_ca", check={"type": "dicom"},
                                       routes=[{"name": "ER", "calling_ae": "CT_EMERG",
                                                "servers": [{"address": "127.0.0.2", "port": 104}]}])]))
    fe = frontend(model, "fe_PORTAL")
    assert fe["mode"] == "tcp"
    assert fe["binds"] == ["127.0.0.100:2762 ssl crt /etc/haproxy/pacs_lb_tls/portal.pem ssl-min-ver TLSv1.3 "
                           "ca-file /etc/haproxy/pacs_lb_tls/site_ca.ca.pem verify required"]
    assert any(line.startswith("acl route_ER req.payload(26,16)") for line in fe["lines"])
    backend = sm.render_haproxy(model)["backends"][0]
    # terminated, plain to the servers: the DICOM check is plain too
    assert "tcp-check connect" in backend["lines"] and "tcp-check connect ssl" not in backend["lines"]


def test_passthrough_dicom_tls_check_is_verified_with_sni():
    model = sm.build_model(**site([svc(tls_certificate=None, protocol="dicom_tls", ports=2762,
                                       check={"type": "dicom"}, server_ca="site_ca",
                                       server_name="pacs.example.org")]))
    backend = sm.render_haproxy(model)["backends"][0]
    assert "tcp-check connect ssl" in backend["lines"]
    assert backend["servers"] == ["server srv1 127.0.0.1:8080 check verify required ca-file "
                                  "/etc/haproxy/pacs_lb_tls/site_ca.ca.pem verifyhost pacs.example.org "
                                  "check-sni pacs.example.org weight 100"]


def test_default_server_ca_and_the_opt_out_warning():
    optout = svc(name="OPTOUT", ports=444, server_tls=True, server_verify=False)
    model = sm.build_model(**site([svc(server_tls=True), optout], server_ca="site_ca"))
    backends = sm.render_haproxy(model)["backends"]
    assert "ssl verify required ca-file /etc/haproxy/pacs_lb_tls/site_ca.ca.pem" in backends[0]["servers"][0]
    assert "ssl verify none" in backends[1]["servers"][0]
    report = vr.build_report(model, [], [], {}, {})
    assert report["warnings"] == ["service OPTOUT: the real servers' certificates are not verified "
                                  "(server_verify: false)"]


def test_ipvs_tls_checks_are_verified_by_the_check_script(tmp_path):
    # keepalived's SSL_GET never verifies a certificate: a verified https
    # check, and the DICOM/HL7 check of a TLS service, run the collection's
    # script with the servers' CA; SSL_GET is left to the explicit opt-out.
    def dr(**fields):
        out = svc(tls_certificate=None, mode="l4_dr", servers=[{"address": "127.0.0.1"}])
        out.update(fields)
        return out
    services = [dr(name="WEB_DR", check={"type": "https", "path": "/status?full=1"}, server_name="pacs.example.org"),
                dr(name="WEB_OPTOUT", vip="127.0.0.101", check={"type": "https"}, server_verify=False),
                dr(name="DICOM_DR", protocol="dicom_tls", ports=2762, check={"type": "dicom", "called_ae": "PACS"}),
                dr(name="DICOM_PLAIN", protocol="dicom", ports=104, check={"type": "dicom", "called_ae": "PACS"})]
    inputs = site(services, server_ca="site_ca")
    # keepalived --config-test refuses VRRP on lo: the machine's own interface
    inputs["vrrp_instances"][0]["interface"] = "eth0"
    model = sm.build_model(**inputs)
    checks = dict((b["service"], b["real_servers"][0]["check"]) for b in sm.render_keepalived_virtual_servers(model))
    script = "/usr/bin/python3 -I -S /usr/local/libexec/pacs_lb/pacs_lb_check.py"
    ca = "--ca /etc/haproxy/pacs_lb_tls/site_ca.ca.pem"
    assert checks["WEB_DR"]["kind"] == "MISC_CHECK"
    assert checks["WEB_DR"]["lines"][0] == 'misc_path "%s %s --name pacs.example.org https 127.0.0.1 443 hex:%s ' \
        '200-399 127.0.0.100"' % (script, ca, "/status?full=1".encode().hex())
    assert checks["WEB_OPTOUT"]["kind"] == "SSL_GET"
    assert checks["DICOM_DR"]["lines"][0] == 'misc_path "%s %s dicom 127.0.0.1 2762 PACS LBCHECK"' % (script, ca)
    assert checks["DICOM_PLAIN"]["lines"][0] == 'misc_path "%s dicom 127.0.0.1 104 PACS LBCHECK"' % script
    ok, out = render_local.keepalived_check(render_local.write(render_local.render(model), tmp_path)["keepalived.conf"])
    assert ok, out
    report = vr.build_report(model, [], [], {}, {})
    assert report["warnings"] == ["service WEB_OPTOUT: the real servers' certificates are not verified "
                                  "(server_verify: false)"]
    # without a CA, the https check is refused before any host is touched
    found = problems(site([dr(name="WEB_DR", check={"type": "https"})]))
    assert len(found) == 1 and "service 'WEB_DR'" in found[0] and "server_ca" in found[0] and "name the CA" in found[0], found


def test_verify_judges_expiry_and_chain():
    model = sm.build_model(**site([svc(protocol="dicom_tls", ports=2762, check={"type": "dicom"})]))
    probes = vr.verify_probes(model)
    assert probes[0]["kind"] == "dicom" and probes[0]["tls"] == {"ca": "site_ca", "client_certificate": False}
    ok = {"ok": True}

    def judge(**tls):
        result = dict({"handshake": True, "chain_valid": True, "days_left": 100, "subject": "CN=x",
                       "not_after": "2027-01-01T00:00:00Z", "protocol": "TLSv1.3"}, **tls)
        return vr.build_report(model, probes, [ok], {}, {}, tls_results={0: result}, warn_days=30, fail_days=7)

    def tls_problems(**tls):
        return [p for p in judge(**tls)["problems"] if not p.startswith("VRRP")]
    assert tls_problems() == [] and judge()["warnings"] == []
    assert judge()["services"][0]["tls"]["protocol"] == "TLSv1.3"
    assert "expires in 20 day(s)" in judge(days_left=20)["warnings"][0] and tls_problems(days_left=20) == []
    assert "expires in 3 day(s)" in tls_problems(days_left=3)[0]
    assert "does not verify against CA 'site_ca'" in tls_problems(chain_valid=False, verify_error="x")[0]
    assert "handshake failed" in tls_problems(handshake=False, error="refused")[0]


# ------------------------------------------------- a real HAProxy on loopback

def _write(path, text, mode=0o644):
    lab_tls.write(str(path), text, mode)
    return str(path)


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory):
    """HAProxy with the model's TLS frontends and backends, TLS and plain DICOM SCPs behind it."""
    from probe_peers import Scp
    tmp = tmp_path_factory.mktemp("tlslab")
    good = PKI.leaf("127.0.0.1", names=["127.0.0.1", "pacs1.example.org"])
    wrong = OTHER.leaf("127.0.0.1", names=["127.0.0.1", "pacs1.example.org"])
    scps = {}
    for name, leaf, chain in (("good", good, PKI.intermediate), ("wrong", wrong, OTHER.intermediate)):
        cert = _write(tmp / ("%s.pem" % name), lab_tls.cert_pem(leaf[0]) + lab_tls.cert_pem(chain[0]))
        key = _write(tmp / ("%s.key" % name), lab_tls.key_pem(leaf[1]), 0o600)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        scps[name] = Scp(ssl_context=ctx)
    scps["plain"] = Scp()
    scps["emerg"] = Scp()
    web = free_port()
    http = subprocess.Popen([sys.executable, "-m", "http.server", str(web), "--bind", "127.0.0.1"],
                            cwd=str(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dicom_term, dicom_pass, dicom_mtls, portal, redirect = (free_port() for port in range(5))
    services = [
        svc(ports=portal, protocol="https", http_redirect_port=redirect, hsts_max_age=600,
            servers=[{"address": "127.0.0.1", "port": web}], check={"type": "http", "path": "/"}),
        svc(name="DICOM_TLS", ports=dicom_term, protocol="dicom_tls", check={"type": "dicom"},
            servers=[{"address": "127.0.0.1", "port": scps["plain"].port}],
            routes=[{"name": "EMERGENCY", "calling_ae": "CT_EMERG",
                     "servers": [{"name": "emerg", "address": "127.0.0.1", "port": scps["emerg"].port}]}]),
        # re-encrypted to TLS servers, verified: the wrong certificate is taken out
        svc(name="DICOM_MTLS", ports=dicom_mtls, protocol="dicom_tls", tls_client_ca="site_ca", server_tls=True,
            server_ca="site_ca",
            server_name="pacs1.example.org", check={"type": "dicom"},
            servers=[{"name": "good", "address": "127.0.0.1", "port": scps["good"].port},
                     {"name": "wrong", "address": "127.0.0.1", "port": scps["wrong"].port}]),
        svc(name="DICOM_PASS", ports=dicom_pass, protocol="dicom_tls", tls_certificate=None,
            check={"type": "dicom"}, server_ca="site_ca",
            servers=[{"name": "good", "address": "127.0.0.1", "port": scps["good"].port},
                     {"name": "wrong", "address": "127.0.0.1", "port": scps["wrong"].port}]),
    ]
    model = sm.build_model(**site(services))
    tlsdir = tmp / "tls"
    tlsdir.mkdir()
    _write(tlsdir / "site_ca.ca.pem", CA_PEM)
    entry = PKI.entry("portal", LEAF)
    _write(tlsdir / "portal.pem", entry["certificate"] + entry["chain"] + entry["key"], 0o600)
    sock = str(tmp / "admin.sock")
    text = render_local.render(model, haproxy_stats_socket=sock, haproxy_peers_port=free_port())["haproxy.cfg"]
    text = text.replace("/etc/haproxy/pacs_lb_tls", str(tlsdir))
    for line in ("    chroot /var/lib/haproxy\n", "    user haproxy\n", "    group haproxy\n", "    daemon\n",
                 "    log /dev/log local0\n"):
        text = text.replace(line, "")
    cfg = _write(tmp / "haproxy.cfg", text)
    checked = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr + text
    log = open(str(tmp / "haproxy.log"), "w")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 10
    while not os.path.exists(sock) and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1.5)  # a few check rounds
    ports = {"portal": portal, "redirect": redirect, "term": dicom_term, "pass": dicom_pass, "mtls": dicom_mtls}
    client_cert = _write(tmp / "client.pem", lab_tls.cert_pem(CLIENT[0]) + lab_tls.cert_pem(PKI.intermediate[0]))
    client_key = _write(tmp / "client.key", lab_tls.key_pem(CLIENT[1]), 0o600)
    ca_file = _write(tmp / "ca.pem", CA_PEM)
    yield {"ports": ports, "sock": sock, "ca": ca_file, "client": (client_cert, client_key), "tmp": tmp, "scps": scps}
    proc.terminate()
    proc.wait(timeout=5)
    log.close()
    http.terminate()
    http.wait(timeout=5)
    for scp in scps.values():
        scp.close()


def s_client(port, *args):
    return subprocess.run(["openssl", "s_client", "-connect", "127.0.0.100:%d" % port] + list(args),
                          input="Q\n", capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(tls_lab, version):
    # the client's own OpenSSL policy (SECLEVEL) would refuse first without @SECLEVEL=0
    out = s_client(tls_lab["ports"]["portal"], version, "-cipher", "DEFAULT@SECLEVEL=0")
    assert out.returncode != 0 and "alert protocol version" in out.stderr, out


def test_tls_1_2_with_an_aead_cipher_and_no_compression(tls_lab):
    out = s_client(tls_lab["ports"]["portal"], "-tls1_2", "-CAfile", tls_lab["ca"])
    assert out.returncode == 0, out.stderr
    assert "Verify return code: 0 (ok)" in out.stdout
    assert "Compression: NONE" in out.stdout
    cipher = [line for line in out.stdout.splitlines() if line.strip().startswith("Cipher    :")][0]
    assert "ECDHE" in cipher and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    # a TLS 1.2 cipher outside the policy is refused
    weak = s_client(tls_lab["ports"]["portal"], "-tls1_2", "-cipher", "AES128-SHA")
    assert weak.returncode != 0


def test_client_renegotiation_is_refused(tls_lab):
    proc = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.100:%d" % tls_lab["ports"]["portal"],
                           "-tls1_2"], input="R\n", capture_output=True, text=True, timeout=20, check=False)
    assert "RENEGOTIATING" in proc.stdout + proc.stderr
    # the server answers the client's renegotiation with a no_renegotiation alert
    assert "no renegotiation" in proc.stderr, proc


def test_tls_probe_sees_the_portal_as_a_client(tls_lab):
    result = tls_probe.probe("127.0.0.100", tls_lab["ports"]["portal"], ca_data=CA_PEM)
    assert result["ok"] and result["chain_valid"], result
    assert result["protocol"] == "TLSv1.3" and result["alpn"] == "h2"
    assert result["subject"] == "commonName=pacs.example.org" and 360 <= result["days_left"] <= 365
    # the same VIP against a CA that did not issue it: not valid, but still described
    other = tls_probe.probe("127.0.0.100", tls_lab["ports"]["portal"], ca_data=lab_tls.cert_pem(OTHER.root[0]))
    assert not other["ok"] and other["handshake"] and not other["chain_valid"]
    assert "unable to get local issuer certificate" in other["verify_error"] and other["days_left"] >= 360
    closed = tls_probe.probe("127.0.0.100", free_port(), ca_data=CA_PEM, timeout=2)
    assert not closed["handshake"] and closed["error"]


def test_https_redirect_and_hsts(tls_lab):
    import urllib.request
    ctx = ssl.create_default_context(cafile=tls_lab["ca"])
    ctx.check_hostname = False
    with urllib.request.urlopen("https://127.0.0.100:%d/" % tls_lab["ports"]["portal"], context=ctx) as reply:
        assert reply.status == 200 and reply.headers["Strict-Transport-Security"] == "max-age=600"
    sock = socket.create_connection(("127.0.0.100", tls_lab["ports"]["redirect"]), timeout=5)
    sock.sendall(b"GET /x HTTP/1.1\r\nHost: pacs.example.org\r\n\r\n")
    head = sock.recv(4096).decode()
    sock.close()
    assert head.startswith("HTTP/1.1 301") and "location: https://pacs.example.org/x" in head.lower()


def _echo(port, client=None, ca=CA_PEM, calling="ECHOSCU"):
    from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import client_context
    ctx = client_context(True, None, ca, *(open(p).read() for p in client) if client else (None, None))
    return dicom_pdu.echo("127.0.0.100", port, "ANY-SCP", calling, timeout=5, tls_context=ctx)


def test_routing_by_calling_ae_on_a_terminated_tls_vip(tls_lab):
    """HAProxy reads the A-ASSOCIATE-RQ after decrypting it: AE routing works on the TLS VIP."""
    emerg, plain = tls_lab["scps"]["emerg"], tls_lab["scps"]["plain"]
    before = (len(emerg.events), len(plain.events))
    assert _echo(tls_lab["ports"]["term"], calling="CT_EMERG")["ok"]
    assert emerg.wait_for("EVT_RELEASED") and any(e[1] == "CT_EMERG" for e in emerg.events)
    assert not any(e[1] == "CT_EMERG" for e in plain.events[before[1]:])


def test_dicom_tls_terminated_passthrough_and_mutual(tls_lab):
    ports = tls_lab["ports"]
    assert _echo(ports["term"])["ok"]
    # passthrough: the client sees the servers' own certificates; only the good one stays UP
    states = show_stat(tls_lab["sock"])
    assert states["good"][0] == "UP" and states["wrong"][0] == "DOWN", states
    assert _echo(ports["pass"])["ok"]
    # mutual TLS: refused without a client certificate, accepted with one
    assert not _echo(ports["mtls"])["ok"]
    assert _echo(ports["mtls"], client=tls_lab["client"])["ok"]


def test_backend_with_the_wrong_certificate_is_taken_out(tls_lab):
    """The re-encrypted backend verifies the servers against the CA and their name (SNI)."""
    data = RuntimeAPI(tls_lab["sock"]).command("show servers state be_DICOM_MTLS")
    rows = [line.split() for line in data.splitlines() if line and not line.startswith("#")][1:]
    state = dict((r[3], r[5]) for r in rows)  # srv_name -> srv_op_state (2 = UP, 0 = DOWN)
    assert state == {"good": "2", "wrong": "0"}, data


def _run_module(module, capsys, **args):
    import yaml
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        module.main()
    out = json.loads(capsys.readouterr().out)
    assert (exc.value.code != 0) == bool(out.get("failed")), out
    assert set(out) - {"changed", "failed", "msg", "invocation", "host", "port"} <= set(yaml.safe_load(module.RETURN))
    return out


def test_tls_probe_module_and_mutual_tls(tls_lab, capsys):
    out = _run_module(tls_probe, capsys, host="127.0.0.100", port=tls_lab["ports"]["portal"], ca_data=CA_PEM,
                      server_name="pacs.example.org")
    assert out["ok"] and not out["changed"] and out["chain_valid"] and out["names"] == [
        "pacs.example.org", "127.0.0.100"]
    wrong_name = _run_module(tls_probe, capsys, host="127.0.0.100", port=tls_lab["ports"]["portal"], ca_data=CA_PEM,
                             server_name="other.example.org", fail_on_error=False)
    assert not wrong_name["ok"] and "mismatch" in wrong_name["verify_error"]
    failed = _run_module(tls_probe, capsys, host="127.0.0.100", port=tls_lab["ports"]["portal"],
                         ca_data=lab_tls.cert_pem(OTHER.root[0]))
    assert failed["failed"] and "certificate not valid" in failed["msg"]
    # mutual TLS: without a client certificate the handshake (or the first read) fails; with one it passes
    port = tls_lab["ports"]["mtls"]
    assert not _run_module(tls_probe, capsys, host="127.0.0.100", port=port, ca_data=CA_PEM,
                           fail_on_error=False)["ok"]
    cert, key = (open(p).read() for p in tls_lab["client"])
    with_client = _run_module(tls_probe, capsys, host="127.0.0.100", port=port, ca_data=CA_PEM,
                              client_cert_data=cert, client_key_data=key)
    assert with_client["ok"] and key not in json.dumps(with_client)
