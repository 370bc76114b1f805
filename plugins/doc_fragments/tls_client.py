# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS client options of the probe modules (module_utils/tls_client.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Options of module_utils.tls_client.ARGUMENT_SPEC besides the module's own O(tls)."""

    DOCUMENTATION = r"""
options:
  tls_verify:
    description: Verify the peer's certificate chain and host name. Only used with O(tls=true).
    type: bool
    default: true
  tls_ca_file:
    description: PEM file of CA certificates used to verify the peer. Defaults to the system trust store.
    type: path
  tls_ca_data:
    description: PEM text of CA certificates used to verify the peer (instead of O(tls_ca_file)).
    type: str
  tls_client_cert_data:
    description: PEM text of a client certificate, for peers or VIPs that require one (mutual TLS).
    type: str
  tls_client_key_data:
    description: PEM text of the client certificate's unencrypted private key.
    type: str
"""
