#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dicom_echo
short_description: Verify a DICOM SCP with a C-ECHO (association, echo, release)
description:
  - Opens a DICOM association for the Verification SOP Class (Implicit VR Little Endian),
    sends a C-ECHO-RQ, checks the C-ECHO-RSP status and releases the association.
  - Sends the same A-ASSOCIATE-RQ bytes as the HAProxy DICOM health check of this collection; that check
    stops after the association is accepted and released, this module also performs the C-ECHO.
  - Connects from the managed host; use C(delegate_to) to probe from the load balancer or the controller.
    It never changes anything and also runs in check mode.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  host:
    description: Host name or IP address of the DICOM SCP (a PACS node or a load balancer VIP).
    type: str
    required: true
  port:
    description: TCP port of the SCP.
    type: int
    default: 104
  called_ae:
    description:
      - Called AE title, the AE title of the SCP. At most 16 characters of printable ASCII without backslash.
      - SCPs that check the called AE title reject a wrong one (A-ASSOCIATE-RJ reason 7).
    type: str
    default: ANY-SCP
  calling_ae:
    description: Calling AE title, our own. SCPs with an AE whitelist must know it.
    type: str
    default: LBCHECK
  timeout:
    description: Seconds allowed for the whole exchange (connect, association, echo, release).
    type: float
    default: 10
  tls:
    description: Use DICOM TLS (PS3.15 Annex B, usually port 2762).
    type: bool
    default: false
  fail_on_error:
    description: Fail the task when the echo does not succeed. With V(false) the result is only reported.
    type: bool
    default: true
extends_documentation_fragment:
  - medimaging.pacs_lb.tls_client
notes:
  - Supports check mode; the module is read-only and never reports a change.
  - The association announces Implementation Class UID and version name of this collection (PS3.7 D.3.3.2).
"""

EXAMPLES = r"""
- name: Echo every PACS node through its own address
  medimaging.pacs_lb.dicom_echo:
    host: "{{ item }}"
    port: 4242
    called_ae: ORTHANC
  loop: "{{ groups['pacs'] }}"

- name: Echo through the load balancer VIP over DICOM TLS
  medimaging.pacs_lb.dicom_echo:
    host: pacs-vip.example.org
    port: 2762
    called_ae: PACS
    tls: true
    tls_ca_file: /etc/pki/pacs-ca.pem

- name: Record the echo result without failing
  medimaging.pacs_lb.dicom_echo:
    host: 192.0.2.21
    called_ae: ORTHANC
    fail_on_error: false
  register: echo

- name: Show why the node is down
  ansible.builtin.debug:
    msg: "{{ echo.stage }}: {{ echo.error }}"
  when: not echo.ok
"""

RETURN = r"""
host:
  description: The SCP host that was probed.
  returned: always
  type: str
port:
  description: The SCP port that was probed.
  returned: always
  type: int
called_ae:
  description: Called AE title as given.
  returned: always
  type: str
calling_ae:
  description: Calling AE title as given.
  returned: always
  type: str
tls:
  description: Whether DICOM TLS was used.
  returned: always
  type: bool
ok:
  description: Whether association, C-ECHO (status 0x0000) and release all succeeded.
  returned: always
  type: bool
  sample: true
stage:
  description: Last stage entered, C(connect), C(associate), C(echo), C(release) or C(done) on success.
  returned: always
  type: str
  sample: done
error:
  description: Why the echo failed, or null.
  returned: always
  type: str
  sample: "association rejected: called-AE-title-not-recognized (rejected-permanent, DICOM UL service-user)"
status:
  description: Status (0000,0900) of the C-ECHO-RSP, null if no response was received.
  returned: always
  type: int
  sample: 0
status_text:
  description: Meaning of RV(status).
  returned: always
  type: str
  sample: Success
context:
  description: Result of the Verification presentation context from the A-ASSOCIATE-AC.
  returned: always
  type: dict
  sample: {"id": 1, "result": 0, "result_text": "acceptance", "transfer_syntax": "1.2.840.10008.1.2"}
reject:
  description: A-ASSOCIATE-RJ fields (result, source, reason and their texts), null if not rejected.
  returned: always
  type: dict
  sample: {"result": 1, "result_text": "rejected-permanent", "source": 1,
           "source_text": "DICOM UL service-user", "reason": 7, "reason_text": "called-AE-title-not-recognized"}
abort:
  description: A-ABORT fields (source, reason and their texts) if the peer aborted, else null.
  returned: always
  type: dict
peer:
  description: Max PDU length, Implementation Class UID and version name announced by the SCP.
  returned: always, null without an A-ASSOCIATE-AC
  type: dict
  sample: {"max_pdu": 16384, "implementation_uid": "1.2.276.0.7230010.3.0.3.6.7",
           "implementation_version": "OFFIS_DCMTK_367"}
timings_ms:
  description: Milliseconds per stage reached (connect incl. TLS handshake, associate, echo, release) and total.
  returned: always
  type: dict
  sample: {"connect": 0.4, "associate": 2.1, "echo": 0.9, "release": 0.6, "total": 4.3}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.dicom_pdu import echo, validate_ae_title
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import ARGUMENT_SPEC, context_from_params


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=104),
            called_ae=dict(type="str", default="ANY-SCP"),
            calling_ae=dict(type="str", default="LBCHECK"),
            timeout=dict(type="float", default=10.0),
            fail_on_error=dict(type="bool", default=True),
            **ARGUMENT_SPEC
        ),
        required_together=[("tls_client_cert_data", "tls_client_key_data")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        called, calling = validate_ae_title(p["called_ae"]), validate_ae_title(p["calling_ae"])
        ctx = context_from_params(p)
    except (ValueError, OSError) as exc:  # bad AE title, unreadable or invalid CA file
        module.fail_json(msg=str(exc))

    result = echo(p["host"], p["port"], called, calling, timeout=p["timeout"], tls_context=ctx)
    if not result["ok"] and p["fail_on_error"]:
        module.fail_json(msg="DICOM echo to %s:%s failed at %s: %s" % (
            p["host"], p["port"], result["stage"], result["error"]), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
