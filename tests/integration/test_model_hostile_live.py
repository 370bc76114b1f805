"""Hostile values rendered so that the daemons read exactly the value: haproxy -c and keepalived --config-test."""

import pytest

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

import render_local

from site_edits import NET, add, base, field, svc


# ------------------------------------------------------------- rendered safely

def rendered(change, tmp_path):
    inputs = base()
    change(inputs)
    model = sm.build_model(**inputs)
    configs = render_local.render(model)
    paths = render_local.write(configs, tmp_path)
    ok, out = render_local.haproxy_check(paths["haproxy.cfg"])
    assert ok, out
    ok, out = render_local.keepalived_check(paths["keepalived.conf"])
    assert ok, out
    assert render_local.foreign_directives(configs["haproxy.cfg"], render_local.HAPROXY_KEYWORDS) == []
    assert render_local.foreign_directives(configs["keepalived.conf"], render_local.KEEPALIVED_KEYWORDS) == []
    return configs


@pytest.mark.parametrize("text", ["it's \"quoted\"", "# not a comment", "$HOME ${PATH} \\n", "' bind :9999 '"])
def test_description_is_one_quoted_argument(text, tmp_path):
    configs = rendered(field("WEB", description=text), tmp_path)
    line = [x for x in configs["haproxy.cfg"].splitlines() if x.strip().startswith("description")]
    assert line == ["    description '%s'" % text.replace("'", "'\\''")]


@pytest.mark.parametrize("ae", ["MY PACS", "PACS'1", 'PACS"2', "A#B!C"])
def test_ae_titles_with_spaces_and_quotes(ae, tmp_path):
    def change(i):
        svc(i, "DR")["check"]["called_ae"] = ae
        svc(i, "DICOM")["check"]["called_ae"] = ae
        svc(i, "DICOM")["routes"] = [{"name": "R", "calling_ae": ae, "pool": "vna"}]
    configs = rendered(change, tmp_path)
    misc = [x for x in configs["keepalived.conf"].splitlines() if "misc_path" in x]
    assert misc and all(x.strip().endswith(" %s LBCHECK\"" % ("hex:" + ae.encode().hex())) for x in misc), misc
    # HAProxy sends the titles as hex; the comments name them with quotes and $ replaced.
    assert all(line.count('"') % 2 == 0 for line in configs["haproxy.cfg"].splitlines())


def test_hl7_message_travels_as_hex(tmp_path):
    message = "MSH|^~\\&|LB|X|PACS|H|20250101||ADT^A01|1|D|2.5\rEVN|A01|20250101\r"
    configs = rendered(add(name="HL7", vip=NET + ".100", ports=2575, protocol="hl7", pool="pacs",
                           check={"type": "hl7", "message": message}), tmp_path)
    assert "MSH|" not in configs["haproxy.cfg"]


@pytest.mark.parametrize("protocol", ["dicom_tls", "hl7_tls"])
def test_tls_checks_without_tls_traffic_pass_haproxy(protocol, tmp_path):
    """Found by the property test: tcp-check connect ssl needs a CA file (verified) or verify none (opted out)."""
    check_type = protocol.split("_")[0]
    configs = rendered(field("DICOM", protocol=protocol, check={"type": check_type}, server_verify=False), tmp_path)
    assert "tcp-check connect ssl" in configs["haproxy.cfg"] and " verify none" in configs["haproxy.cfg"]
    configs = rendered(field("DICOM", protocol=protocol, check={"type": check_type},
                             server_ca="/etc/ssl/certs/ca-certificates.crt"), tmp_path)
    assert "verify required ca-file /etc/ssl/certs/ca-certificates.crt" in configs["haproxy.cfg"]
