"""The verify role as AWX runs it (ansible-runner): what set_stats publishes, and check mode.

Two balancers on local connections whose HAProxy runtime API and keepalived
state cannot be read, one TCP service whose VIP is a listener of the test.
"""
import os
import socket
import sys
import textwrap

import ansible_runner
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "verify_role", "verify.yml")


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def run(tmp_path, port, check=False):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(textwrap.dedent("""\
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: %(python)s
            fixture_state_dir: %(tmp)s
            verify_haproxy_socket: %(tmp)s/admin.sock
            verify_probe_timeout: 3
            pacs_lb_vendor: none
            pacs_lb_pools: {}
            pacs_lb_vrrp_instances:
              - {name: VI_TEST, virtual_router_id: 51, interface: lo, network: 127.0.0.0/8}
            pacs_lb_services:
              - {name: TCP_SVC, vip: 127.0.0.1, ports: %(port)d, mode: l4_snat, protocol: tcp,
                 pool: pacs, check: connect}
          children:
            balancers:
              hosts:
                lb1: {pacs_lb_address: 127.0.0.11}
                lb2: {pacs_lb_address: 127.0.0.12}
            pacs:
              hosts:
                pacs1: {pacs_lb_address: 127.0.0.21}
        """ % {"python": sys.executable, "tmp": tmp_path, "port": port}))
    cmdline = "--check --diff" if check else None
    (tmp_path / "runner").mkdir()
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), playbook=PLAYBOOK, inventory=str(inventory), cmdline=cmdline,
        quiet=True, envvars={"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                             "ANSIBLE_HOME": str(tmp_path / "ansible-home")})
    return result


def artifact_data(result):
    """What AWX stores as the job's artifacts: the stats event's artifact_data (set_stats)."""
    stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1
    return stats[0]["event_data"]["artifact_data"]


def test_unreadable_balancers_fail_the_run_and_set_stats_has_the_whole_report(tmp_path, listener):
    result = run(tmp_path, listener)
    assert result.status == "failed"
    report = artifact_data(result)["pacs_lb_verify"]
    assert report["ok"] is False and report["check_mode"] is False
    problems = report["problems"]
    for balancer in ("lb1", "lb2"):
        assert any(p.startswith("balancer %s: HAProxy runtime API not readable" % balancer) for p in problems), problems
        assert any(p.startswith("balancer %s: keepalived state not readable" % balancer) for p in problems), problems
        assert report["balancers"][balancer]["haproxy"].startswith("not readable")
    assert [(row["service"], row["kind"], row["ok"], row["detail"]) for row in report["services"]] == [
        ("TCP_SVC", "tcp", True, "TCP connect")]
    # The reports default to the job's artifact directory under ansible-runner.
    artifacts = os.path.join(str(tmp_path / "runner"), "artifacts", result.config.ident)
    assert report["report_dir"] == os.path.join(artifacts, "verify-report")
    with open(os.path.join(report["report_dir"], "verify.md")) as handle:
        markdown = handle.read()
    assert "HAProxy runtime API not readable" in markdown and "TCP_SVC" in markdown


def test_check_mode_ends_green_and_lists_what_it_could_not_confirm(tmp_path, listener):
    result = run(tmp_path, listener, check=True)
    assert result.status == "successful", result.stdout.read()[-3000:]
    report = artifact_data(result)["pacs_lb_verify"]
    assert report["check_mode"] is True and report["problems"] == []
    assert any("keepalived state not readable" in p for p in report["unconfirmed"])
    assert report["services"][0]["ok"] is True  # the read-only probe ran in check mode
    events = [e for e in result.events if e.get("event") == "runner_on_ok"
              and e["event_data"].get("task") == "Say what check mode cannot confirm before the change is applied"]
    assert events and "not judged" in events[0]["event_data"]["res"]["msg"]
