"""The keepalived MISC_CHECK script, installed as the keepalived role installs it.

It must run on a bare balancer: plain python3, with the collection's
module_utils copied beside it, against real DICOM and MLLP peers.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


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
    return subprocess.run([sys.executable, "-I", script] + [str(a) for a in args],
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
