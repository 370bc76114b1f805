"""Rendered configurations judged by the daemons themselves (haproxy -c, keepalived --config-test)."""

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

import render_local

from site_model import build, dicom


# ------------------------------------------------------- server failure, quoting, wide port groups


def test_description_is_one_quoted_haproxy_argument(tmp_path):
    import subprocess
    text = "it's a \"test\" # $HOME \\ x"
    fe = sm.render_haproxy(build([dicom(description=text)]))["frontends"][0]
    assert fe["description"] == "'it'\\''s a \"test\" # $HOME \\ x'"
    cfg = tmp_path / "h.cfg"
    cfg.write_text("defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
                   "frontend f\n    description %s\n    bind 127.0.0.1:1\n" % fe["description"])
    checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and "WARNING" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def test_rendered_keepalived_syncs_ipvs_connections_only_when_asked(tmp_path):
    model = build([dicom(name="DR", mode="l4_dr", vip="198.18.10.101", server_port=None, check="connect")])
    synced = render_local.render(model, "lb1")["keepalived.conf"]
    assert "    lvs_sync_daemon eth0 VI_PACS id 51\n" in synced
    assert "lvs_sync_daemon" not in render_local.render(model, "lb1", keepalived_lvs_sync=False)["keepalived.conf"]
    path = tmp_path / "keepalived.conf"
    path.write_text(synced)
    ok, output = render_local.keepalived_check(str(path))
    assert ok, output


# ------------------------------------------------------- Layer 4 NAT: the floating gateway
