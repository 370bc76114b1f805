"""Several clusters in one inventory through ansible-playbook: each balancer gets its
cluster's model, under --limit too."""
import os
import re
import shutil
import subprocess
import sys


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MULTI_SITE = os.path.join(ROOT, "inventories", "examples", "multi_site")


def _ansible(tmp_path, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    run = subprocess.run([binary] + list(args), env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    return run.returncode, run.stdout + run.stderr


def test_the_preflight_builds_every_cluster_under_limit_from_hostvars(tmp_path):
    """The multi_site example limited to one cluster: the others' variables come from hostvars (inventory
    variables of hosts outside --limit), and a VRID clash between two clusters outside the limit still stops
    the run, naming both."""
    rc, out = _ansible(tmp_path, "-i", MULTI_SITE, os.path.join(ROOT, "playbooks", "preflight.yml"),
                       "--limit", "site_b_pacs")
    assert rc == 0, out
    for name in ("site_a_pacs", "site_a_vna", "site_b_pacs"):
        assert "cluster %s: " % name in out
    clash = tmp_path / "inventory"
    shutil.copytree(MULTI_SITE, str(clash))
    vna = clash / "group_vars" / "site_a_vna" / "pacs_lb.yml"
    vna.write_text(vna.read_text().replace("virtual_router_id: 52", "virtual_router_id: 51"))
    rc, out = _ansible(tmp_path, "-i", str(clash), os.path.join(ROOT, "playbooks", "preflight.yml"),
                       "--limit", "site_b_pacs")
    assert rc != 0
    assert ("- cluster 'site_a_vna': vrrp instance 'VI_VNA': virtual_router_id: 51 is also used by VRRP instance "
            "'VI_PACS' of cluster 'site_a_pacs' on 198.18.110.0/24") in out, out


def test_the_preflight_as_a_role_dependency_gives_each_balancer_its_cluster(tmp_path):
    """The roles depend on the preflight with a role-level condition, which Ansible adds to every
    preflight task: it must not stop the step that gives each balancer its cluster's model (it once
    tested pacs_lb_model, set by the step before: every balancer kept the union, without TLS files),
    and the next dependency must skip the preflight."""
    rc, out = _ansible(tmp_path, "-i", MULTI_SITE, os.path.join(ROOT, "tests", "render", "preflight_guard.yml"))
    assert rc == 0, out
    models = dict((m.group(1), (m.group(2), m.group(3))) for m in re.finditer(r"MODEL (\S+) (\S+) (\S+)", out))
    for cluster, prefix in (("site_a_pacs", "a-pacs-lb"), ("site_a_vna", "a-vna-lb"), ("site_b_pacs", "b-pacs-lb")):
        for num in (1, 2):
            assert models["%s%d" % (prefix, num)] == (cluster, "%s1,%s2" % (prefix, prefix)), models
    second = out.split("PLAY [The preflight again")[1]
    assert "Build and validate the service model of every cluster" in second
    assert "ok: [" not in second.split("PLAY RECAP")[0] and "changed: [" not in second.split("PLAY RECAP")[0]


def test_multi_site_renders_each_pair_from_its_own_cluster(tmp_path):
    out_dir = tmp_path / "out"
    rc, out = _ansible(tmp_path, "-i", MULTI_SITE, os.path.join(ROOT, "tests", "render", "render.yml"),
                       "-e", "render_dir=%s" % out_dir)
    assert rc == 0, out
    expected = {"a-pacs-lb": ("198.18.110.101", "virtual_router_id 51", "fe_INFINITT_Web"),
                "a-vna-lb": ("198.18.110.110", "virtual_router_id 52", "fe_HL7_2575"),
                "b-pacs-lb": ("198.18.111.101", "virtual_router_id 51", "fe_INFINITT_Web")}
    for prefix, (vip, vrid, frontend) in expected.items():
        for num in (1, 2):
            host = "%s%d" % (prefix, num)
            haproxy_cfg = (out_dir / (host + ".haproxy.cfg")).read_text()
            keepalived_conf = (out_dir / (host + ".keepalived.conf")).read_text()
            assert vip in keepalived_conf and vrid in keepalived_conf
            assert frontend in haproxy_cfg
            # Nothing of another cluster: its VIPs, its balancers as peers.
            others = [v[0].rsplit(".", 1)[0] for p, v in expected.items() if p != prefix]
            assert not any(other + ".1" in keepalived_conf.split("virtual_ipaddress")[1] for other in others
                           if other != vip.rsplit(".", 1)[0])
            peers = re.findall(r"^    peer (\S+) ", haproxy_cfg, re.M)
            assert peers == [prefix + "1", prefix + "2"]
            checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(out_dir / (host + ".haproxy.cfg"))],
                                     capture_output=True, text=True, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            checked = subprocess.run(["/usr/sbin/keepalived", "-l", "--config-test",
                                      "--use-file=%s" % (out_dir / (host + ".keepalived.conf"))],
                                     capture_output=True, text=True, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
