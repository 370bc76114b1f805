"""Unit tests: pure logic, no process started, no network peer.

Plain helpers live in tests/fixtures/ (lb_helpers, render_local); test
modules import them from there, never from each other. A test that starts a
process (HAProxy, keepalived, openssl, ansible-playbook) or opens a TCP
connection belongs in tests/integration/: the guard below fails it here.
In-process fakes on UNIX sockets and socket pairs are allowed.
"""
import socket
import subprocess

import pytest

NETWORK = (socket.AF_INET, socket.AF_INET6)


class LiveResourceInUnitTest(AssertionError):
    """A unit test started a process or used the network."""


@pytest.fixture(autouse=True)
def no_processes_no_network(monkeypatch):
    def refuse_process(self, *args, **kwargs):
        raise LiveResourceInUnitTest("unit tests start no process (%r); move the test to tests/integration" % (
            args[0] if args else kwargs.get("args"),))

    def guard(method):
        original = getattr(socket.socket, method)

        def checked(self, address, *rest):
            if self.family in NETWORK:
                raise LiveResourceInUnitTest("unit tests open no network socket (%s %r); move the test to "
                                             "tests/integration" % (method, address))
            return original(self, address, *rest)
        return checked

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_process)
    for method in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, method, guard(method))
