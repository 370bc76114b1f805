#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vip_probes
short_description: Probe every virtual service from the client side in one task
description:
  - Runs a list of probes side by side and returns one result per probe, in the same order. Each probe is a
    DICOM C-ECHO (as M(medimaging.pacs_lb.dicom_echo)), an HL7 message answered by an ACK
    (as M(medimaging.pacs_lb.hl7_mllp_probe)), an HTTP(S) GET or a TCP connect; a probe with C(tls) is first
    checked with a TLS handshake (as M(medimaging.pacs_lb.tls_probe)) and then speaks its protocol over TLS.
  - The verify role gives it the probes the service model carries (filter C(medimaging.pacs_lb.verify_probes)),
    one task for every VIP port instead of a module run per port and kind.
  - Connects from the managed host; use C(delegate_to) to probe from the controller or a client network.
    Read-only; also runs in check mode.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  probes:
    description:
      - The probes. Each needs C(kind) (V(dicom), V(hl7), V(http), V(https) or V(tcp)), C(vip) and C(port);
        DICOM probes C(called_ae) and C(calling_ae), HTTP(S) probes C(url).
      - C(tls) (optional) is V(null) or a dictionary with C(ca) and C(client_certificate). The handshake's chain is
        verified against the O(ca_data) entry named C(ca) (not verified when C(ca) is null) and the client
        certificate is presented when C(client_certificate) is true.
      - Other keys (the verify role's C(service), C(status), ...) are ignored.
    type: list
    elements: dict
    required: true
  ca_data:
    description: CA certificates (PEM) by the names the probes' C(tls.ca) use.
    type: dict
    default: {}
  client_cert_data:
    description: Client certificate (PEM, with its chain) for probes whose C(tls.client_certificate) is true.
    type: str
  client_key_data:
    description: Its private key (PEM).
    type: str
  timeout:
    description: Seconds each probe may take (connect, handshake, exchange).
    type: float
    default: 10
  workers:
    description: Probes run at the same time.
    type: int
    default: 16
notes:
  - Supports check mode; the module never reports a change.
  - Python's standard library only.
"""

EXAMPLES = r"""
- name: Probe every VIP port from the controller
  medimaging.pacs_lb.vip_probes:
    probes: "{{ pacs_lb_model | medimaging.pacs_lb.verify_probes }}"
    ca_data: {site_ca: "{{ lookup('ansible.builtin.file', 'site-ca.pem') }}"}
    timeout: 5
  delegate_to: localhost
  run_once: true
  register: probed

- name: Two probes written by hand
  medimaging.pacs_lb.vip_probes:
    probes:
      - {kind: dicom, vip: 192.0.2.100, port: 104, called_ae: PACS, calling_ae: LBCHECK}
      - {kind: https, vip: 192.0.2.100, port: 443, url: "https://192.0.2.100:443/", tls: {ca: null}}
  delegate_to: localhost
"""

RETURN = r"""
results:
  description:
    - One entry per probe, in the order of O(probes).
    - C(result) is what the probe's kind returns; dicom as M(medimaging.pacs_lb.dicom_echo), hl7 as
      M(medimaging.pacs_lb.hl7_mllp_probe), http and https C(status) (-1 without an HTTP answer), C(elapsed)
      (seconds) and C(msg); tcp C(state) (V(started) when connected), C(elapsed) or C(failed) and C(msg).
    - C(tls) is the handshake's result as M(medimaging.pacs_lb.tls_probe) returns it, or null.
  returned: always
  type: list
  elements: dict
  sample:
    - result: {ok: true, status: 0, status_text: Success, stage: done, timings_ms: {total: 4.2}}
      tls: null
    - result: {status: 200, elapsed: 0.004, msg: OK}
      tls: {handshake: true, chain_valid: true, protocol: TLSv1.3, days_left: 364}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.vip_probes import KINDS, run_all


def main():
    module = AnsibleModule(
        argument_spec=dict(
            probes=dict(type="list", elements="dict", required=True),
            ca_data=dict(type="dict", default={}),
            client_cert_data=dict(type="str"),
            client_key_data=dict(type="str", no_log=True),
            timeout=dict(type="float", default=10.0),
            workers=dict(type="int", default=16),
        ),
        required_together=[("client_cert_data", "client_key_data")],
        supports_check_mode=True,
    )
    p = module.params
    for pos, probe in enumerate(p["probes"]):
        missing = [key for key in ("kind", "vip", "port") if probe.get(key) in (None, "")]
        if missing or probe["kind"] not in KINDS:
            module.fail_json(msg="probes[%d]: needs kind (one of %s), vip and port; got %r" % (
                pos, ", ".join(KINDS), dict((k, probe.get(k)) for k in ("kind", "vip", "port"))))
    results = run_all(p["probes"], p["ca_data"], (p["client_cert_data"], p["client_key_data"]), p["timeout"],
                      p["workers"])
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
