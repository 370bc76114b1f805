# -*- coding: utf-8 -*-
"""The host_state module run for real: packages, paths, files and read-only commands in one call."""

import sys

from lb_helpers import run_module

from ansible_collections.medimaging.pacs_lb.plugins.modules import host_state


def test_reads_everything_in_one_call(tmp_path):
    present = tmp_path / "present"
    present.write_text("1\n")
    result = run_module(host_state, {
        "packages": ["dpkg", "no-such-package-pacs-lb"],
        "paths": [str(present), str(tmp_path / "absent")],
        "files": [str(present), str(tmp_path / "absent")],
        "commands": [[sys.executable, "-c", "print('hi')"], [sys.executable, "-c", "import sys; sys.exit(3)"],
                     ["no-such-command-pacs-lb", "x"]],
    })
    assert not result.get("failed") and result["changed"] is False
    assert result["packages"]["no-such-package-pacs-lb"] is None
    assert result["packages"]["dpkg"]   # installed on the Debian machines this runs on
    assert result["paths"] == [str(present)]
    assert result["files"] == {str(present): "1\n", str(tmp_path / "absent"): None}
    assert [(c["rc"], c["stdout"].strip()) for c in result["commands"]] == [(0, "hi"), (3, ""), (127, "")]
