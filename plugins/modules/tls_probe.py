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

import datetime
import os
import socket
import ssl
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import client_context


def _decode_der(der):
    """Certificate fields of DER bytes without verification (ssl's own decoder, as getpeercert() returns them)."""
    decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decoder is None:
        return {}
    handle, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(ssl.DER_cert_to_PEM_cert(der))
        return decoder(path)
    except (ssl.SSLError, ValueError, OSError):
        return {}
    finally:
        os.unlink(path)


def _name(rdns):
    return ",".join("%s=%s" % pair for rdn in rdns or () for pair in rdn)


def cert_facts(cert, now=None):
    """subject, issuer, names, not_after, days_left of a getpeercert() dictionary."""
    if not cert:
        return {}
    now = now or time.time()
    expires = ssl.cert_time_to_seconds(cert["notAfter"])
    return {
        "subject": _name(cert.get("subject")),
        "issuer": _name(cert.get("issuer")),
        "names": [value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "IP Address")],
        "not_after": datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": int((expires - now) // 86400),
    }


def _context(verify, ca_data, server_name, client):
    ctx = client_context(verify, None, ca_data, client[0], client[1], server_name=bool(server_name))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def _handshake(host, port, ctx, server_name, timeout):
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            elapsed = (time.monotonic() - start) * 1000.0
            verified = ctx.verify_mode == ssl.CERT_REQUIRED
            cert = tls.getpeercert() if verified else _decode_der(tls.getpeercert(binary_form=True) or b"")
            out = {"protocol": tls.version(), "cipher": tls.cipher()[0], "alpn": tls.selected_alpn_protocol(),
                   "handshake_ms": round(elapsed, 1)}
            # A server that wants a client certificate refuses a missing one
            # after the handshake (TLS 1.3): read once to see the alert.
            tls.settimeout(0.2)
            try:
                tls.recv(1)
            except (socket.timeout, ssl.SSLWantReadError):
                pass
            out.update(cert_facts(cert))
            return out


def probe(host, port, server_name=None, ca_data=None, verify=True, client=(None, None), timeout=10.0):
    result = {"host": host, "port": port, "ok": False, "handshake": False, "protocol": None, "cipher": None,
              "alpn": None, "chain_valid": False, "verify_error": None, "error": None, "handshake_ms": None}
    try:
        result.update(_handshake(host, port, _context(verify, ca_data, server_name, client), server_name,
                                 timeout))
        result.update(handshake=True, chain_valid=verify, ok=True)
        return result
    except ssl.SSLCertVerificationError as exc:
        result["verify_error"] = exc.verify_message or str(exc)
    except (OSError, ValueError) as exc:  # ssl.SSLError, refused, timeout, bad CA text
        result["error"] = str(exc) or exc.__class__.__name__
        return result
    # The chain did not verify: what is served, without verification.
    try:
        result.update(_handshake(host, port, _context(False, None, server_name, client), server_name, timeout))
        result["handshake"] = True
    except (OSError, ValueError) as exc:
        result["error"] = str(exc) or exc.__class__.__name__
    return result


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
