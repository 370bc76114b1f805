# -*- coding: utf-8 -*-
"""write_files with its checks run for real: HAProxy's own haproxy -c, and a failed check that stops there."""

import os
import sys

from lb_helpers import run_module

from ansible_collections.medimaging.pacs_lb.plugins.modules import write_files

GOOD_CFG = "global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n" \
           "    timeout server 1s\nfrontend f\n    bind 127.0.0.1:10104\n    default_backend b\nbackend b\n" \
           "    server s1 127.0.0.1:9\n"
HAPROXY_CHECK = ["haproxy", "-c", "-f", "%s"]


def files(tmp_path, config):
    return [{"path": str(tmp_path / "tool"), "content": "#!/bin/sh\n", "mode": "0755"},
            {"path": str(tmp_path / "haproxy.cfg"), "content": config, "mode": "0644", "validate": HAPROXY_CHECK},
            {"path": str(tmp_path / "after"), "content": "after\n", "mode": "0644"}]


def test_a_configuration_haproxy_accepts_is_put_in_place(tmp_path):
    result = run_module(write_files, {"files": files(tmp_path, GOOD_CFG)})
    assert not result.get("failed"), result
    assert result["written"] == [str(tmp_path / n) for n in ("tool", "haproxy.cfg", "after")]
    assert (tmp_path / "haproxy.cfg").read_text() == GOOD_CFG


def test_a_configuration_haproxy_refuses_replaces_nothing_from_there_on(tmp_path):
    (tmp_path / "haproxy.cfg").write_text(GOOD_CFG)
    broken = GOOD_CFG.replace("default_backend b", "default_backend no_such_backend")
    result = run_module(write_files, {"files": files(tmp_path, broken)})
    assert result.get("failed")
    assert result["msg"].startswith(str(tmp_path / "haproxy.cfg") + ": the new file failed its check (haproxy -c -f %s")
    assert "no_such_backend" in result["msg"]
    assert result["written"] == [str(tmp_path / "tool")]   # put in place before the configuration, as asked
    assert (tmp_path / "haproxy.cfg").read_text() == GOOD_CFG and not (tmp_path / "after").exists()
    assert sorted(os.listdir(str(tmp_path))) == ["haproxy.cfg", "tool"]   # the staged file is gone


def test_the_check_reads_the_new_file_not_the_live_one(tmp_path):
    live = tmp_path / "conf"
    live.write_text("old\n")
    check = [sys.executable, "-c", "import sys; sys.exit(0 if open(sys.argv[1]).read() == 'new\\n' else 3)", "%s"]
    result = run_module(write_files, {"files": [{"path": str(live), "content": "new\n", "mode": "0600",
                                                 "validate": check}]})
    assert not result.get("failed"), result
    assert live.read_text() == "new\n" and oct(live.stat().st_mode & 0o7777) == "0o600"
