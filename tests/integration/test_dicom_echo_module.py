"""dicom_echo and hl7_mllp_probe modules: main() with patched module args, JSON on stdout."""
import importlib
import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from lb_helpers import free_port

from ansible_collections.medimaging.pacs_lb.plugins.modules import dicom_echo, hl7_mllp_probe


def run(module, capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        module.main()
    out = json.loads(capsys.readouterr().out)
    assert (exc.value.code != 0) == bool(out.get("failed")), out
    if "ok" in out:  # every key a probe returns is documented
        assert set(out) - {"changed", "failed", "msg", "invocation"} <= set(yaml.safe_load(module.RETURN))
    return out


def test_echo_ok_never_changed(scp_factory, capsys):
    port = scp_factory().port
    out = run(dicom_echo, capsys, host="127.0.0.1", port=port, timeout=5)
    assert not out.get("failed") and out["changed"] is False
    assert out["ok"] and out["stage"] == "done" and out["status"] == 0
    assert out["called_ae"] == "ANY-SCP" and out["calling_ae"] == "LBCHECK"


def test_echo_runs_in_check_mode(scp_factory, capsys):
    port = scp_factory().port
    out = run(dicom_echo, capsys, host="127.0.0.1", port=port, _ansible_check_mode=True)
    assert out["ok"] and out["changed"] is False


def test_echo_reject_fails_with_details(scp_factory, capsys):
    port = scp_factory(ae_title="STRICT", require_called_aet=True).port
    out = run(dicom_echo, capsys, host="127.0.0.1", port=port, called_ae="WRONG", timeout=5)
    assert out["failed"] and "called-AE-title-not-recognized" in out["msg"]
    assert "at associate" in out["msg"] and out["reject"]["reason"] == 7


def test_echo_fail_on_error_false_reports_only(capsys):
    out = run(dicom_echo, capsys, host="127.0.0.1", port=free_port(), timeout=2, fail_on_error=False)
    assert not out.get("failed") and out["ok"] is False and out["stage"] == "connect"
    assert "ConnectionRefusedError" in out["error"]


def test_echo_bad_ae_title(capsys):
    out = run(dicom_echo, capsys, host="127.0.0.1", calling_ae="THIS-IS-FAR-TOO-LONG")
    assert out["failed"] and "maximum is 16" in out["msg"]


def test_echo_missing_ca_file(capsys):
    out = run(dicom_echo, capsys, host="127.0.0.1", tls=True, tls_ca_file="/nonexistent/ca.pem")
    assert out["failed"] and "No such file" in out["msg"]


def test_echo_tls_against_plain_scp_fails(scp_factory, capsys):
    port = scp_factory().port
    out = run(dicom_echo, capsys, host="127.0.0.1", port=port, tls=True, tls_verify=False, timeout=3)
    assert out["failed"] and out["stage"] == "connect" and out["tls"] is True


def test_echo_requires_host(capsys):
    out = run(dicom_echo, capsys)
    assert out["failed"] and "host" in out["msg"]


@pytest.mark.parametrize("mode,failed", [("AA", False), ("CA", False), ("AE", True), ("AR", True)])
def test_hl7_probe_default_expect(hl7_peer, capsys, mode, failed):
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", port=hl7_peer(mode).port, timeout=5)
    assert bool(out.get("failed")) is failed and out["code"] == mode and out["changed"] is False
    if failed:
        assert "ACK code %s" % mode in out["msg"]


def test_hl7_probe_custom_message_expect_and_check_mode(hl7_peer, capsys):
    peer = hl7_peer("AE")
    message = "MSH|^~\\&|LBCHECK|LB|RIS|HOSP|20250101000000||ADT^A08^ADT_A01|LBCHK0001|T|2.5\nPV1|1|I\n"
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", port=peer.port, hl7_message=message,
              expect=["AE"], _ansible_check_mode=True)
    assert out["ok"] and out["control_id"] == "LBCHK0001"
    assert peer.received == [message.replace("\n", "\r")]


def test_hl7_probe_fail_on_error_false(capsys):
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", port=free_port(), timeout=2, fail_on_error=False)
    assert not out.get("failed") and out["ok"] is False


def test_hl7_probe_invalid_message_and_expect(capsys):
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", hl7_message="PID|1")
    assert out["failed"] and "invalid message" in out["msg"]
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", expect=["OK"])
    assert out["failed"] and "expect" in out["msg"]


def test_hl7_probe_has_no_message_option(capsys):
    # 'message' is reserved by Ansible; the option is hl7_message and has no such alias
    out = run(hl7_mllp_probe, capsys, host="127.0.0.1", message="MSH|^~\\&|A|B|C|D|1||ADT^A01|Z|T|2.5")
    assert out["failed"] and "Unsupported parameters" in out["msg"] and "module: message." in out["msg"]


@pytest.mark.parametrize("module", [dicom_echo, hl7_mllp_probe])
def test_documentation_matches_argument_spec(module, monkeypatch):
    captured = {}

    class Stop(Exception):
        pass

    def fake_module(**kwargs):
        captured.update(kwargs)
        raise Stop()
    monkeypatch.setattr(module, "AnsibleModule", fake_module)
    with pytest.raises(Stop):
        module.main()
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc["options"])
    # the options of the collection's doc fragments it extends (tls_client: the TLS client options)
    for fragment in doc.get("extends_documentation_fragment") or []:
        name = fragment.rsplit(".", 1)[-1]
        fragment_module = importlib.import_module(
            "ansible_collections.medimaging.pacs_lb.plugins.doc_fragments." + name)
        options.update(yaml.safe_load(fragment_module.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = captured["argument_spec"]
    assert sorted(options) == sorted(spec)
    for name, doc in options.items():
        for key in ("type", "default", "required", "choices", "elements"):
            assert doc.get(key) == spec[name].get(key), (name, key)
    assert captured["supports_check_mode"] is True
    yaml.safe_load(module.EXAMPLES)
    assert set(yaml.safe_load(module.RETURN)) >= {"ok", "error"}
