"""Make the collection importable as ansible_collections.medimaging.pacs_lb.

`make` creates .build/collections/ansible_collections/medimaging/pacs_lb as a
link to the work tree; pytest.ini puts .build/collections on sys.path.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LINK = os.path.join(ROOT, ".build", "collections", "ansible_collections", "medimaging", "pacs_lb")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(LINK)), LINK)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

# Plain helpers live in tests/unit/fixtures/ (lb_helpers, probe_peers); test
# modules import them from there, never from each other.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)

import subprocess  # noqa: E402  (after the sys.path set-up above)

import pytest  # noqa: E402

from probe_peers import Hl7Peer, Scp  # noqa: E402


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
