#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hl7_mllp_probe
short_description: Send one HL7 v2 message over MLLP and check the ACK
description:
  - Frames an HL7 v2 message for MLLP (0x0B ... 0x1C 0x0D), sends it and reads the ACK.
  - Succeeds when MSA-1 is one of O(expect) and MSA-2 echoes the message control ID (MSH-10).
  - Without O(hl7_message) a minimal ADT^A01 for a fixed test patient with MSH-11 = V(D) (debug) is sent.
  - B(The receiver processes the message like any other.) Agree with the interface owner that the
    test message is harmless, or pass an agreed no-op message.
  - The module never changes anything on the managed host and also runs in check mode.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  host:
    description: Host name or IP address of the MLLP listener (interface engine, RIS, load balancer VIP).
    type: str
    required: true
  port:
    description: TCP port of the MLLP listener.
    type: int
    default: 2575
  hl7_message:
    description:
      - Raw HL7 v2 message starting with MSH. Segments may be separated by CR, LF or CRLF;
        they are sent CR-terminated.
    type: str
  timeout:
    description: Seconds allowed for connect, send and the complete ACK frame.
    type: float
    default: 10
  expect:
    description: ACK codes (MSA-1) that count as success.
    type: list
    elements: str
    choices: [AA, AE, AR, CA, CE, CR]
    default: [AA, CA]
  tls:
    description: Speak MLLP over TLS (HL7 over TLS, usually port 2576).
    type: bool
    default: false
  fail_on_error:
    description: Fail the task when the probe does not succeed. With V(false) the result is only reported.
    type: bool
    default: true
extends_documentation_fragment:
  - medimaging.pacs_lb.tls_client
notes:
  - Supports check mode; never reports a change.
"""

EXAMPLES = r"""
- name: Probe the HL7 listener with the built-in test message
  medimaging.pacs_lb.hl7_mllp_probe:
    host: 192.0.2.31

- name: Probe the VIP with a message agreed with the interface team
  medimaging.pacs_lb.hl7_mllp_probe:
    host: hl7-vip.example.org
    port: 2575
    hl7_message: |
      MSH|^~\&|LBCHECK|LB|RIS|HOSP|20250101000000||ADT^A08^ADT_A01|LBCHK0001|T|2.5
      EVN|A08|20250101000000
      PID|1||HC000001^^^LB^MR||HEALTHCHECK^LB
      PV1|1|I
    expect: [AA]
  register: hl7

- name: Accept an application error as "listener alive"
  medimaging.pacs_lb.hl7_mllp_probe:
    host: 192.0.2.31
    expect: [AA, AE, CA]
"""

RETURN = r"""
host:
  description: The MLLP host that was probed.
  returned: always
  type: str
port:
  description: The MLLP port that was probed.
  returned: always
  type: int
ok:
  description: Whether an ACK with an expected code and matching control ID arrived.
  returned: always
  type: bool
  sample: true
code:
  description: MSA-1 acknowledgment code of the ACK, null without an ACK.
  returned: always
  type: str
  sample: AA
code_text:
  description: Meaning of RV(code) (HL7 table 0008).
  returned: always
  type: str
  sample: application accept
control_id:
  description: Message control ID (MSH-10) that was sent.
  returned: always
  type: str
  sample: LB3F2A9C0D1E4B5A6C7D8E
ack_control_id:
  description: MSA-2 of the ACK.
  returned: always
  type: str
control_id_match:
  description: Whether MSA-2 equals the sent MSH-10.
  returned: always
  type: bool
text:
  description: MSA-3 and ERR fields of the ACK, joined, or null.
  returned: always
  type: str
  sample: "Unknown patient"
ack:
  description: The ACK message, segments separated by newlines.
  returned: always
  type: str
latency_ms:
  description: Milliseconds from connect until the complete ACK frame.
  returned: always
  type: float
  sample: 3.2
error:
  description: Why the probe failed, or null.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.mllp import probe
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import ARGUMENT_SPEC, context_from_params


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", default=2575),
            hl7_message=dict(type="str"),
            timeout=dict(type="float", default=10.0),
            expect=dict(type="list", elements="str", default=["AA", "CA"],
                        choices=["AA", "AE", "AR", "CA", "CE", "CR"]),
            fail_on_error=dict(type="bool", default=True),
            **ARGUMENT_SPEC
        ),
        required_together=[("tls_client_cert_data", "tls_client_key_data")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        ctx = context_from_params(p)
    except (ValueError, OSError) as exc:  # unreadable or invalid CA / client certificate
        module.fail_json(msg=str(exc))
    try:
        result = probe(p["host"], p["port"], message=p["hl7_message"], timeout=p["timeout"], expect=p["expect"],
                       tls_context=ctx)
    except ValueError as exc:  # hl7_message without MSH or with MLLP framing bytes
        module.fail_json(msg="invalid message: %s" % exc)
    if not result["ok"] and p["fail_on_error"]:
        module.fail_json(msg="HL7 MLLP probe of %s:%s failed: %s" % (p["host"], p["port"], result["error"]),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
