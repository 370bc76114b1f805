"""The Windows role's PowerShell, parsed by a real PowerShell grammar (tree-sitter-powershell).

No pwsh runs here, so this is what catches a syntax error in
roles/realserver_windows/files/*.ps1 before a Windows host does.
"""
import glob
import os

import pytest
import tree_sitter
import tree_sitter_powershell

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "roles", "realserver_windows", "files", "*.ps1")))
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def syntax_errors(source):
    """'line:column: what' for every error or missing token in the parse tree."""
    errors = []
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            errors.append("%d:%d: %s %r" % (row + 1, col + 1, "missing" if node.is_missing else "unexpected",
                                            node.text.decode("utf-8", "replace")[:40]))
        elif node.has_error:
            stack.extend(reversed(node.children))
    return sorted(errors)


def test_the_role_has_scripts():
    assert [os.path.basename(s) for s in SCRIPTS] == [
        "detect.ps1", "dr_configure.ps1", "loopback_install.ps1", "nlb_leave.ps1"]


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_script_parses(path):
    with open(path, "rb") as handle:
        source = handle.read()
    assert syntax_errors(source) == []
    # The scripts run under check mode with -WhatIf (win_powershell), which
    # needs the cmdlet binding to declare it.
    assert b"SupportsShouldProcess" in source or os.path.basename(path) == "detect.ps1"


@pytest.mark.parametrize("source", [
    b"param([string]$Name)\nif ($Name -eq 'x' {\n  Write-Output 1\n}\n",
    b"$vips = @('198.18.30.100', '198.18.30.101'\nforeach ($v in $vips) { $v }\n",
    b"function Set-Vip {\n  param($Vip)\n  New-NetIPAddress -IPAddress $Vip\n",
    b"$x = \"unterminated\n",
    b"try { Get-NetAdapter } finally\n",
], ids=["unclosed-condition", "unclosed-array", "unclosed-function", "unterminated-string", "finally-without-block"])
def test_the_parser_catches_syntax_errors(source):
    assert syntax_errors(source) != []


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_a_script_with_one_brace_less_fails(path):
    with open(path, "rb") as handle:
        source = handle.read()
    cut = source.rindex(b"}")
    assert syntax_errors(source[:cut] + source[cut + 1:]) != []
