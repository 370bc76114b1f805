#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tls_probe
short_description: Check a TLS endpoint from the client's side (handshake, version, cipher, chain, expiry)
description:
  - Opens a TCP connection and performs a TLS handshake as a client would, with SNI, and reports the protocol version
    and cipher negotiated, whether the served chain is valid against the given CA, and the days until the served
    certificate expires.
  - When the chain does not verify, the handshake is repeated without verification so that the version, cipher and
    expiry of what is served are still reported.
  - Python's standard library only (the module runs on bare hosts). Read-only; also runs in check mode.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  host:
    description: Host name or IP address (a VIP, a real server).
    type: str
    required: true
  port:
    description: TCP port.
    type: int
    required: true
  server_name:
    description:
      - Name sent as SNI and checked against the certificate's names.
      - Without it no SNI is sent and only the chain is verified (the usual case for a VIP addressed by IP).
    type: str
  ca_data:
    description: PEM text of the CA certificate(s) the chain must verify against. Without it, the system trust store.
    type: str
  verify:
    description: Verify the chain. With V(false) the result only reports what is served.
    type: bool
    default: true
  client_cert_data:
    description: PEM text of a client certificate (and chain) for endpoints that require one (mutual TLS).
    type: str
  client_key_data:
    description: PEM text of the client certificate's unencrypted private key.
    type: str
  timeout:
    description: Seconds allowed for connect and handshake.
    type: float
    default: 10
  fail_on_error:
    description: Fail the task when the handshake fails or the chain does not verify.
    type: bool
    default: true
notes:
  - Supports check mode; the module never reports a change.
"""

EXAMPLES = r"""
- name: Check the DICOM TLS VIP against the site's CA
  medimaging.pacs_lb.tls_probe:
    host: 198.18.100.10
    port: 2762
    ca_data: "{{ lookup('ansible.builtin.file', 'site-ca.pem') }}"
  register: tls

- name: Warn a month ahead
  ansible.builtin.debug:
    msg: "{{ tls.days_left }} days left on {{ tls.subject }}"
  when: tls.days_left < 30
"""

RETURN = r"""
ok:
  description: The handshake succeeded and (with O(verify)) the chain verified.
  returned: always
  type: bool
handshake:
  description: Whether a TLS handshake succeeded at all (with or without verification).
  returned: always
  type: bool
protocol:
  description: TLS version negotiated, such as C(TLSv1.3).
  returned: always
  type: str
  sample: TLSv1.2
cipher:
  description: Cipher negotiated.
  returned: always
  type: str
  sample: ECDHE-RSA-AES128-GCM-SHA256
alpn:
  description: ALPN protocol selected by the server (C(h2), C(http/1.1)), null if none.
  returned: always
  type: str
chain_valid:
  description: Whether the served chain verified against the CA (and the name, with O(server_name)).
  returned: always
  type: bool
verify_error:
  description: Why the chain did not verify, or null.
  returned: always
  type: str
subject:
  description: Subject of the served certificate.
  returned: when a certificate was served
  type: str
issuer:
  description: Issuer of the served certificate.
  returned: when a certificate was served
  type: str
names:
  description: DNS names and IP addresses of the served certificate.
  returned: when a certificate was served
  type: list
  elements: str
not_after:
  description: End of validity of the served certificate, ISO 8601 UTC.
  returned: when a certificate was served
  type: str
  sample: "2027-01-31T12:00:00Z"
days_left:
  description: Whole days until the served certificate expires (negative when expired).
  returned: when a certificate was served
  type: int
error:
  description: Why the handshake failed, or null.
  returned: always
  type: str
handshake_ms:
  description: Milliseconds for connect and handshake.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import probe


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            port=dict(type="int", required=True),
            server_name=dict(type="str"),
            ca_data=dict(type="str"),
            verify=dict(type="bool", default=True),
            client_cert_data=dict(type="str"),
            client_key_data=dict(type="str", no_log=True),
            timeout=dict(type="float", default=10.0),
            fail_on_error=dict(type="bool", default=True),
        ),
        required_together=[("client_cert_data", "client_key_data")],
        supports_check_mode=True,
    )
    p = module.params
    result = probe(p["host"], p["port"], p["server_name"], p["ca_data"], p["verify"],
                   (p["client_cert_data"], p["client_key_data"]), p["timeout"])
    if not result["ok"] and p["fail_on_error"]:
        module.fail_json(msg="TLS probe of %s:%s failed: %s" % (
            p["host"], p["port"], result["error"] or "certificate not valid: %s" % result["verify_error"]),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
