"""The NAT routes unit the realserver_linux module writes, judged by systemd-analyze."""
import subprocess

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import realserver_plan as rp
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import realserver as rs
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

from realserver_site import GROUPS, HOSTVARS, INSTANCES, SERVICES


@pytest.fixture(scope="module")
def model():
    return sm.build_model([], SERVICES, INSTANCES, {}, GROUPS, HOSTVARS)


SYSCTLS = rp.dr_sysctls("eth0")
KERNEL_DEFAULTS = {i["path"]: "0" for i in SYSCTLS}


# ------------------------------------------------------- Layer 4 NAT: replies routed through the balancers

ROUTES = [{"dst": "default", "gateway": "198.18.30.1", "dev": "eth0", "flags": []},
          {"dst": "198.18.30.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "198.18.30.21"}]


def test_nat_routes_unit_is_a_valid_systemd_unit(model, tmp_path):
    plan = rp.linux_plan("present", [], ["127.0.0.1"], {}, SYSCTLS, KERNEL_DEFAULTS, [],
                         rs.nat_routes_for_host(model, "rs1", networks=["default", "198.18.31.0/24"]), ROUTES)
    text = rp.nat_routes_unit(plan["nat_routes"])
    assert [line for line in text.splitlines() if line.startswith("ExecStart=")] == [
        "ExecStart=/sbin/ip -4 route replace default via 198.18.30.254",
        "ExecStart=/sbin/ip -4 route replace 198.18.31.0/24 via 198.18.30.254"]
    unit = tmp_path / "pacs-lb-nat-routes.service"
    unit.write_text(text)
    # systemd's own parser: unknown keys, bad sections and a missing ExecStart binary all fail here.
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "pacs-lb-nat-routes" not in out.stderr, out.stderr
