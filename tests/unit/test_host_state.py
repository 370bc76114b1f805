# -*- coding: utf-8 -*-
"""The host_state module: packages, paths, files and read-only commands in one call."""

import hashlib
import os

from lb_helpers import run_module

from ansible_collections.medimaging.pacs_lb.plugins.modules import host_state


def test_nothing_asked():
    result = run_module(host_state, {})
    assert result["packages"] == {} and result["paths"] == [] and result["files"] == {} and result["commands"] == []


def test_stat_checksums_modes_and_owners(tmp_path):
    wanted = tmp_path / "cert.pem"
    wanted.write_text("PEM\n")
    wanted.chmod(0o600)
    result = run_module(host_state, {"stat": [str(wanted), str(tmp_path), str(tmp_path / "absent")]})
    entry = result["stat"][str(wanted)]
    assert entry["sha1"] == hashlib.sha1(b"PEM\n").hexdigest()
    assert entry["mode"] == "0600" and entry["isdir"] is False
    assert entry["uid"] == os.getuid() and entry["gid"] == os.getgid()
    assert result["stat"][str(tmp_path)]["isdir"] is True and result["stat"][str(tmp_path)]["sha1"] is None
    assert result["stat"][str(tmp_path / "absent")] is None


def test_dirs_list_their_entries(tmp_path):
    (tmp_path / "b.pem").write_text("b")
    (tmp_path / "a.ca.pem").write_text("a")
    result = run_module(host_state, {"dirs": [str(tmp_path), str(tmp_path / "b.pem"), str(tmp_path / "absent")]})
    assert result["dirs"] == {str(tmp_path): ["a.ca.pem", "b.pem"], str(tmp_path / "b.pem"): None,
                              str(tmp_path / "absent"): None}
