"""Integration tests: real HAProxy, keepalived, DCMTK, pynetdicom peers, an
MLLP peer, openssl, ansible-playbook and network namespaces on this host.

Plain helpers live in tests/fixtures/ (lb_helpers, probe_peers,
render_local); the pytest fixtures wrapping the peers are here.
"""
import subprocess

import pytest

from probe_peers import Hl7Peer, Scp


@pytest.fixture
def scp_factory():
    """Start pynetdicom SCPs (keyword arguments of probe_peers.Scp); all are shut down afterwards."""
    started = []

    def make(**kwargs):
        started.append(Scp(**kwargs))
        return started[-1]
    yield make
    for scp in started:
        scp.close()


@pytest.fixture
def hl7_peer():
    """Start MLLP ACK peers (probe_peers.Hl7Peer, by mode); all are closed afterwards."""
    peers = []

    def make(mode="AA"):
        peers.append(Hl7Peer(mode))
        return peers[-1]
    yield make
    for peer in peers:
        peer.close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """Self-signed certificate and key for 127.0.0.1 made with openssl: (cert_path, key_path)."""
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = str(tmp / "cert.pem"), str(tmp / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key
