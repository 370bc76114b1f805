# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS client contexts for the probe modules (standard library only).

The CA and a client certificate arrive as PEM text (from the controller's
inventory); the client certificate and key are written to a private
temporary directory only for as long as the context is loaded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import shutil
import socket
import ssl
import tempfile
import time

# Options of the probe modules that take a TLS client context.
ARGUMENT_SPEC = dict(
    tls=dict(type="bool", default=False),
    tls_verify=dict(type="bool", default=True),
    tls_ca_file=dict(type="path"),
    tls_ca_data=dict(type="str"),
    tls_client_cert_data=dict(type="str"),
    tls_client_key_data=dict(type="str", no_log=True),
)


def client_context(verify=True, ca_file=None, ca_data=None, client_cert=None, client_key=None, server_name=False):
    """An ssl.SSLContext for a client: TLS 1.2 at least, the chain verified
    against ca_file / ca_data (else the system store) unless verify is false,
    the host name checked only when server_name is true."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if ca_file or ca_data:
            ctx.load_verify_locations(cafile=ca_file, cadata=ca_data)
        else:
            ctx.load_default_certs()
        ctx.check_hostname = bool(server_name)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client_cert:
        tmpdir = tempfile.mkdtemp()
        try:
            paths = (os.path.join(tmpdir, "cert.pem"), os.path.join(tmpdir, "key.pem"))
            for path, text in zip(paths, (client_cert, client_key or "")):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                    out.write(text)
            ctx.load_cert_chain(paths[0], paths[1] if client_key else None)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return ctx


def context_from_params(params):
    """The context the module parameters of ARGUMENT_SPEC ask for, or None without tls."""
    if not params.get("tls"):
        return None
    return client_context(params["tls_verify"], params.get("tls_ca_file"), params.get("tls_ca_data"),
                          params.get("tls_client_cert_data"), params.get("tls_client_key_data"), server_name=True)


# The TLS probe (tls_probe, vip_probes): what a client sees on a TLS port.
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
