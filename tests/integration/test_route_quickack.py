"""roles/haproxy/files/route-quickack against the real kernel, in a network namespace of its own.

The namespace has a veth pair (the peer end in the same namespace) with
IPv4 and IPv6 on-link prefixes and a gateway default route for each family,
as a balancer has.
"""
import os
import subprocess
import uuid

import pytest

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "haproxy", "files", "route-quickack")


def run(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces), as the rest of the suite")
    name = "pacs-lb-qa-%s" % uuid.uuid4().hex[:8]
    run("ip", "netns", "add", name)
    try:
        ip = ("ip", "-n", name)
        run(*ip, "link", "add", "qa0", "type", "veth", "peer", "name", "qa1")
        run(*ip, "addr", "add", "198.18.44.1/24", "dev", "qa0")
        run(*ip, "addr", "add", "2001:db8:44::1/64", "dev", "qa0", "nodad")
        for dev in ("lo", "qa0", "qa1"):
            run(*ip, "link", "set", dev, "up")
        run(*ip, "route", "add", "default", "via", "198.18.44.254", "dev", "qa0", "proto", "static")
        run(*ip, "-6", "route", "add", "default", "via", "2001:db8:44::fe", "dev", "qa0", "proto", "static")
        yield name
    finally:
        run("ip", "netns", "del", name, check=False)


def tool(ns, *args):
    return run("ip", "netns", "exec", ns, "sh", TOOL, *args, check=False)


def routes(ns, family):
    return [line.strip() for line in run("ip", "-n", ns, family, "route", "show", "table", "main").stdout.splitlines()]


def test_on_is_idempotent_and_status_tells(netns):
    assert tool(netns, "status").returncode == 1
    first = tool(netns, "on")
    assert first.returncode == 0, first.stderr
    changed = [line for line in first.stdout.splitlines() if line.startswith("changed: ")]
    # v4 default + on-link, v6 default + on-link; the fe80::/64 link-local routes are left alone
    assert len(changed) == 4, first.stdout
    for family in ("-4", "-6"):
        for route in routes(netns, family):
            if not route.startswith("fe80::"):
                assert " quickack 1" in route, route
    assert any(r.startswith("fe80::") and "quickack" not in r for r in routes(netns, "-6"))
    second = tool(netns, "on")
    assert second.returncode == 0 and "changed:" not in second.stdout
    assert tool(netns, "status").returncode == 0


def test_off_undoes_on_and_only_for_the_named_device(netns):
    tool(netns, "on")
    off = tool(netns, "off", "qa1")  # no route goes through qa1
    assert off.returncode == 0 and "changed:" not in off.stdout
    off = tool(netns, "off", "qa0")
    assert off.stdout.count("changed: ") == 4
    status = tool(netns, "status")
    assert status.returncode == 1 and status.stdout.startswith("no quickack: ")


def test_host_routes_to_the_real_servers(netns):
    servers = ["198.18.44.21", "192.0.2.7", "2001:db8:44::21"]  # on-link, via the gateway, IPv6
    assert tool(netns, "hosts-status", *servers).returncode == 1
    first = tool(netns, "hosts-on", *servers)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("changed: ") == 3
    assert "198.18.44.21 dev qa0 proto static scope link quickack 1" in routes(netns, "-4")
    assert "192.0.2.7 via 198.18.44.254 dev qa0 proto static quickack 1" in routes(netns, "-4")
    assert any(r.startswith("2001:db8:44::21 dev qa0 proto static") and "quickack 1" in r for r in routes(netns, "-6"))
    assert tool(netns, "hosts-on", *servers).stdout == ""
    assert tool(netns, "hosts-status", *servers).returncode == 0
    assert tool(netns, "hosts-off", *servers).stdout.count("changed: removed") == 3
    assert tool(netns, "hosts-status", *servers).returncode == 1


def test_unknown_action_is_refused(netns):
    refused = tool(netns, "enable")
    assert refused.returncode == 2 and "usage:" in refused.stderr
