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

import os
import shutil
import ssl
import tempfile

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
