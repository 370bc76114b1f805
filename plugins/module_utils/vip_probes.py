# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every VIP port probed from the client side at once (the vip_probes module).

Standard library only. One probe per port group (verify_report.verify_probes):
a DICOM C-ECHO, an HL7 message, an HTTP(S) GET or a TCP connect, and a TLS
handshake first where the VIP speaks TLS. The probes run side by side in
threads; each result has the shape the verify report reads (that of
dicom_echo, hl7_mllp_probe, uri, wait_for and tls_probe).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl
import time

from concurrent.futures import ThreadPoolExecutor

from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu, mllp, tls_client

KINDS = ("dicom", "hl7", "http", "https", "tcp")


class _AnswerRedirects(HTTPRedirectHandler):
    """A 3xx is the service's answer: handed back as an HTTPError, not followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def http_get(url, timeout):
    """uri's result shape: status (-1 without an HTTP answer), elapsed in seconds, msg.

    The chain is judged by the TLS probe; this one only asks whether the
    service answers, so the certificate is not verified here."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    opener = build_opener(HTTPSHandler(context=ctx), _AnswerRedirects())
    start = time.monotonic()
    try:
        with opener.open(Request(url, method="GET"), timeout=timeout) as answer:
            status, msg = answer.status, "OK"
    except HTTPError as exc:
        status, msg = exc.code, str(exc.reason)
        exc.close()
    except (URLError, OSError, ValueError) as exc:
        return {"status": -1, "elapsed": time.monotonic() - start,
                "msg": "no HTTP answer: %s" % (getattr(exc, "reason", None) or exc)}
    return {"status": status, "elapsed": time.monotonic() - start, "msg": msg}


def tcp_connect(host, port, timeout):
    """wait_for's result shape: state started (with elapsed seconds), or failed with msg."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return {"state": "started", "elapsed": time.monotonic() - start}
    except OSError as exc:
        return {"failed": True, "state": None, "msg": "TCP connect to %s:%s failed: %s" % (host, port, exc)}


def run_probe(probe, ca_data=None, client=(None, None), timeout=10.0):
    """{"result": the kind's result, "tls": tls_probe's result or None} for one probe."""
    tls = probe.get("tls")
    client = client if tls and tls.get("client_certificate") else (None, None)
    out = {"result": None, "tls": None}
    if tls:
        ca = (ca_data or {}).get(tls.get("ca")) if tls.get("ca") else None
        out["tls"] = tls_client.probe(probe["vip"], probe["port"], ca_data=ca, verify=ca is not None, client=client,
                                      timeout=timeout)
    kind = probe["kind"]
    if kind in ("dicom", "hl7"):
        # The chain is the TLS probe's judgement; this one proves the protocol over TLS.
        ctx = tls_client.client_context(False, client_cert=client[0], client_key=client[1]) if tls else None
        if kind == "dicom":
            out["result"] = dicom_pdu.echo(probe["vip"], probe["port"], probe["called_ae"], probe["calling_ae"],
                                           timeout=timeout, tls_context=ctx)
        else:
            out["result"] = mllp.probe(probe["vip"], probe["port"], timeout=timeout, tls_context=ctx)
    elif kind in ("http", "https"):
        out["result"] = http_get(probe["url"], timeout)
    elif kind == "tcp":
        out["result"] = tcp_connect(probe["vip"], probe["port"], timeout)
    else:
        raise ValueError("probe kind '%s' is not one of %s" % (kind, ", ".join(KINDS)))
    return out


def run_all(probes, ca_data=None, client=(None, None), timeout=10.0, workers=16):
    """run_probe for every probe, side by side; results in the order of probes."""
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(probes)))) as pool:
        return list(pool.map(lambda probe: run_probe(probe, ca_data, client, timeout), probes))
