# -*- coding: utf-8 -*-
"""write_files (every differing file of a role in one call) and the filters that choose the files and the
service tasks after the one host_state read. The checks (validate) start a process: tests/integration."""

import hashlib
import os

import pytest
from ansible.errors import AnsibleFilterError

from lb_helpers import run_module

from ansible_collections.medimaging.pacs_lb.plugins.filter import role_files
from ansible_collections.medimaging.pacs_lb.plugins.modules import write_files


def spec(path, content, mode="0644", **extra):
    return dict({"path": str(path), "content": content, "mode": mode}, **extra)


def test_writes_new_files_with_their_parents_and_modes(tmp_path):
    tool = tmp_path / "lib" / "pacs_lb" / "tool"
    conf = tmp_path / "app.conf"
    result = run_module(write_files, {"files": [spec(tool, "#!/bin/sh\n", "0755"), spec(conf, "a = 1\n", "0640")]})
    assert not result.get("failed") and result["changed"] is True
    assert result["written"] == [str(tool), str(conf)]
    assert tool.read_text() == "#!/bin/sh\n" and oct(tool.stat().st_mode & 0o7777) == "0o755"
    assert conf.read_text() == "a = 1\n" and oct(conf.stat().st_mode & 0o7777) == "0o640"
    assert oct(tool.parent.stat().st_mode & 0o777) == "0o755"
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(".")]   # no staged file left


def test_a_second_run_changes_nothing(tmp_path):
    files = [spec(tmp_path / "a", "x\n"), spec(tmp_path / "b", "y\n", "0600")]
    run_module(write_files, {"files": files})
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (tmp_path / "a", tmp_path / "b")]
    result = run_module(write_files, {"files": files})
    assert result["changed"] is False and result["written"] == []
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (tmp_path / "a", tmp_path / "b")] == before


def test_a_mode_alone_is_put_right_without_rewriting(tmp_path):
    target = tmp_path / "key.pem"
    target.write_text("KEY\n")
    target.chmod(0o644)
    inode = target.stat().st_ino
    result = run_module(write_files, {"_ansible_diff": True, "files": [spec(target, "KEY\n", "0600")]})
    assert result["changed"] is True and result["written"] == [str(target)]
    assert oct(target.stat().st_mode & 0o7777) == "0o600" and target.stat().st_ino == inode
    assert result["diff"] == []   # the content did not change


def test_check_mode_reports_with_diffs_and_writes_nothing(tmp_path):
    old = tmp_path / "haproxy.cfg"
    old.write_text("maxconn 4000\n")
    new = tmp_path / "new" / "hook"
    result = run_module(write_files, {"_ansible_check_mode": True, "_ansible_diff": True,
                                      "files": [spec(old, "maxconn 4001\n"), spec(new, "#!/bin/sh\n", "0755")]})
    assert result["changed"] is True and result["written"] == [str(old), str(new)]
    assert result["diff"] == [
        {"before_header": str(old), "after_header": str(old), "before": "maxconn 4000\n", "after": "maxconn 4001\n"},
        {"before_header": str(new), "after_header": str(new), "before": "", "after": "#!/bin/sh\n"}]
    assert old.read_text() == "maxconn 4000\n" and not new.parent.exists()


def test_a_secret_is_never_shown_in_a_diff(tmp_path):
    key = tmp_path / "vip.pem"
    key.write_text("OLD PRIVATE KEY\n")
    result = run_module(write_files, {"_ansible_diff": True, "files": [spec(key, "NEW PRIVATE KEY\n", "0600",
                                                                            secret=True)]})
    assert "PRIVATE" not in repr(result["diff"]) and result["written"] == [str(key)]
    assert key.read_text() == "NEW PRIVATE KEY\n" and oct(key.stat().st_mode & 0o7777) == "0o600"


@pytest.mark.parametrize("files, message", [
    ([spec("/tmp/x", "a", "0644"), spec("/tmp/x", "b", "0644")], "a path is given twice: /tmp/x"),
    ([spec("/tmp/x", "a", "rw-r--r--")], "/tmp/x: mode 'rw-r--r--' is not four octal digits"),
    ([spec("/tmp/x", "a", "0644", owner="no-such-user-pacs-lb")], "/tmp/x: no such owner 'no-such-user-pacs-lb'"),
])
def test_bad_input_fails_naming_the_file_and_writes_nothing(tmp_path, files, message):
    for entry in files:
        entry["path"] = entry["path"].replace("/tmp", str(tmp_path))
    result = run_module(write_files, {"files": files})
    assert result.get("failed") and message.replace("/tmp", str(tmp_path)) in result["msg"]
    assert os.listdir(str(tmp_path)) == []


def stat_of(content, mode="0644", uid=0, gid=0):
    return {"sha1": hashlib.sha1(content.encode()).hexdigest(), "mode": mode, "uid": uid, "gid": gid, "isdir": False}


def test_files_to_write_keeps_those_that_differ_in_order():
    files = [spec("/a", "same\n"), spec("/b", "new\n", validate=["nft", "-c", "-f", "%s"]), spec("/c", "x\n", "0755"),
             spec("/d", "é\n")]
    stat = {"/a": stat_of("same\n"), "/b": stat_of("old\n"), "/c": stat_of("x\n", "0644"), "/d": stat_of("é\n", uid=1)}
    assert [f["path"] for f in role_files.files_to_write(files, stat)] == ["/b", "/c", "/d"]
    assert role_files.files_to_write(files, stat)[0]["validate"] == ["nft", "-c", "-f", "%s"]
    assert role_files.files_to_write(files[:1], {"/a": None}) == [dict(files[0], owner="root", group="root")]
    assert role_files.files_to_write(files[:1], stat) == []


def test_files_to_write_refuses_a_file_without_content():
    with pytest.raises(AnsibleFilterError, match="path, content and mode"):
        role_files.files_to_write([{"path": "/a", "mode": "0644"}], {})


def host(systemd, enabled_rc, running_rc, rc2=()):
    return {"paths": ["/run/systemd/system"] if systemd else [], "dirs": {"/etc/rc2.d": list(rc2)},
            "commands": [{"rc": 1}, {"rc": enabled_rc}, {"rc": running_rc}]}


@pytest.mark.parametrize("state, wanted", [
    (host(True, 0, 0), True),
    (host(True, 1, 0), False),                       # runs, but does not start at boot
    (host(True, 0, 1), False),                       # enabled, not running
    (host(False, 1, 0, ["S01haproxy"]), True),        # sysvinit: the runlevel 2 link
    (host(False, 0, 0, ["K01haproxy", "S01haproxyx"]), False),
    (host(False, 1, 1, ["S01haproxy"]), False),
])
def test_service_as_wanted(state, wanted):
    assert role_files.service_as_wanted(state, "haproxy", 1, 2) is wanted


def test_service_as_wanted_refuses_a_short_read():
    with pytest.raises(AnsibleFilterError, match="'keepalived' is not a host_state result"):
        role_files.service_as_wanted({"paths": [], "commands": []}, "keepalived", 0, 1)
