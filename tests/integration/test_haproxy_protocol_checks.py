"""Run the generated tcp-check lines in a real HAProxy on loopback and read server states."""
import csv
import os
import subprocess
import ssl
import time

from pynetdicom.sop_class import CTImageStorage

from lb_helpers import HAPROXY, free_port
from probe_peers import start_storescp, stop

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu, mllp
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.haproxy_runtime import RuntimeAPI
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

CONFIG = """global
    stats socket {sock} mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 2s
listen checks
    bind 127.0.0.1:{bind}
    option tcp-check
    {connect}
{checks}
{servers}
"""


def write_config(tmp_path, check_lines, servers, connect="tcp-check connect", server_opts=""):
    sock = str(tmp_path / "admin.sock")
    cfg = tmp_path / "haproxy.cfg"
    checks = "\n".join("    " + line for line in check_lines)
    server_lines = "\n".join("    server %s 127.0.0.1:%d check inter 200ms fall 1 rise 1 %s" % (name, port, server_opts)
                             for name, port in servers)
    cfg.write_text(CONFIG.format(sock=sock, bind=free_port(), connect=connect, checks=checks, servers=server_lines))
    return str(cfg), sock


def syntax_check(cfg):
    return subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True, check=False)


def server_states(tmp_path, check_lines, servers, settle=3.0, **config):
    """Start HAProxy, wait until every server has a check result, return {name: (status, check_status, info)}."""
    cfg, sock = write_config(tmp_path, check_lines, servers, **config)
    checked = syntax_check(cfg)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = open(str(tmp_path / "haproxy.log"), "w")
    proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stdout=log, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + settle + 5
        states = {}
        while time.monotonic() < end:
            time.sleep(0.2)
            if not os.path.exists(sock):
                continue
            states = show_stat(sock)
            if len(states) == len(servers) and all(s[1] not in ("", "INI", "* INI") for s in states.values()):
                time.sleep(0.6)  # a few more check rounds so a flapping server would show
                return show_stat(sock)
        raise AssertionError("no check results: %r\n%s" % (states, open(str(tmp_path / "haproxy.log")).read()))
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        log.close()


def show_stat(sock_path):
    data = RuntimeAPI(sock_path).command("show stat")
    rows = list(csv.DictReader(data.lstrip("# ").splitlines()))
    return dict((r["svname"], (r["status"], r["check_status"].lstrip("* "), r["last_chk"]))
                for r in rows if r["svname"] not in ("FRONTEND", "BACKEND"))


def test_dicom_check(tmp_path, scp_factory):
    ok = scp_factory(ae_title="ANY-SCP")
    rejecting = scp_factory(ae_title="OTHER", require_called_aet=True)
    no_verification = scp_factory(contexts=(CTImageStorage,))
    states = server_states(tmp_path, dicom_pdu.haproxy_tcp_check("ANY-SCP", "LBCHECK"), [
        ("ok", ok.port), ("rejecting", rejecting.port), ("no_verification", no_verification.port),
        ("closed", free_port())])
    assert states["ok"][:2] == ("UP", "L7OK"), states
    assert states["rejecting"][:2] == ("DOWN", "L7RSP"), states
    assert states["no_verification"][:2] == ("DOWN", "L7RSP"), states
    assert states["closed"][:2] == ("DOWN", "L4CON"), states
    # the check ends with a release, so the SCP logs no aborted associations
    assert "EVT_RELEASED" in ok.names() and "EVT_ABORTED" not in ok.names()


def test_dicom_check_against_storescp(tmp_path):
    proc, port = start_storescp(tmp_path, "--reject")  # strict: needs our Implementation Class UID
    try:
        states = server_states(tmp_path, dicom_pdu.haproxy_tcp_check("STORESCP", "LBCHECK"), [("dcmtk", port)])
    finally:
        stop(proc)
    assert states["dcmtk"][:2] == ("UP", "L7OK"), states


def test_dicom_check_over_tls(tmp_path, scp_factory, tls_files):
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    tls_scp, plain_scp = scp_factory(ssl_context=server_ctx), scp_factory()
    states = server_states(tmp_path, dicom_pdu.haproxy_tcp_check("ANY-SCP", "LBCHECK"),
                           [("tls", tls_scp.port), ("plain", plain_scp.port)],
                           connect="tcp-check connect ssl", server_opts="ca-file %s" % cert)
    assert states["tls"][:2] == ("UP", "L7OK"), states
    assert states["plain"][0] == "DOWN", states


def test_dicom_check_comment_with_odd_ae_titles_parses(tmp_path):
    cfg = write_config(tmp_path, dicom_pdu.haproxy_tcp_check('A"B$C', "X'Y#Z"), [("s", free_port())])[0]
    checked = syntax_check(cfg)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_mllp_check(tmp_path, hl7_peer):
    peers = dict((mode, hl7_peer(mode)) for mode in ("AA", "CA", "AE", "AR", "silent"))
    states = server_states(tmp_path, mllp.haproxy_tcp_check(), [(m, p.port) for m, p in peers.items()])
    assert states["AA"][:2] == ("UP", "L7OK"), states
    assert states["CA"][:2] == ("UP", "L7OK"), states
    for mode in ("AE", "AR", "silent"):
        assert states[mode][0] == "DOWN", states
    assert states["AE"][1] == "L7RSP", states  # conclusive at once thanks to min-recv 0
    assert peers["AA"].received[0] == mllp.default_test_message(
        control_id=mllp.HAPROXY_CONTROL_ID, timestamp=mllp.HAPROXY_TIMESTAMP)


def test_external_check_program_has_the_interval_not_the_connect_timeout(tmp_path):
    """The role's defaults give HAProxy "timeout connect 1s"; with "timeout check"
    in the backend, HAProxy killed a check program after that second
    (PROCTOUT), less than ping's own wait: ICMP checks failed on a slow host."""
    # HAProxy runs it with an empty PATH: commands by absolute path.
    script = tmp_path / "slow_check"
    script.write_text("#!/bin/sh\n/bin/sleep 1.5\n")
    script.chmod(0o755)
    model = sm.build_model(
        [], [{"name": "SLOW", "vip": "198.18.10.100", "ports": 80, "mode": "l4_snat", "pool": "pacs",
              "check": {"type": "external", "script": "/usr/local/libexec/pacs_lb/slow_check",
                        "interval": 3000, "rise": 1, "fall": 1}}],
        [{"name": "VI_PACS", "virtual_router_id": 51, "interface": "eth0", "network": "198.18.10.0/24"}], {},
        {"balancers": ["lb1", "lb2"], "pacs": ["pacs1"]},
        {"lb1": {"pacs_lb_address": "198.18.10.11"}, "lb2": {"pacs_lb_address": "198.18.10.12"},
         "pacs1": {"pacs_lb_address": "198.18.10.21"}})
    backend = sm.render_haproxy(model)["backends"][0]
    sock = str(tmp_path / "admin.sock")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("\n".join(
        ["global", "    stats socket %s mode 600 level admin" % sock, "    external-check", "    insecure-fork-wanted",
         "defaults", "    timeout connect 1s", "    timeout client 5s", "    timeout server 5s",
         "backend %s" % backend["name"], "    mode %s" % backend["mode"]]
        + ["    " + line.replace("/usr/local/libexec/pacs_lb/slow_check", str(script)) for line in backend["lines"]]
        + ["    " + server for server in backend["servers"]]) + "\n")
    checked = syntax_check(str(cfg))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = subprocess.Popen([HAPROXY, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        end, states = time.monotonic() + 10, {}
        while time.monotonic() < end:
            time.sleep(0.5)
            if os.path.exists(sock):
                states = show_stat(sock)
                if states and all(s[1] not in ("", "INI", "START") for s in states.values()):
                    break
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert states and all(s[:2] == ("UP", "PROCOK") for s in states.values()), states
