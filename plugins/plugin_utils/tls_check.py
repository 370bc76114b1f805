# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates of pacs_lb_tls_certificates, checked on the controller.

Before any host is touched: every PEM parses, the key matches the
certificate, nothing has expired (or is not valid yet), the names the user
configures are covered by the certificate, and the chain is complete (each
certificate is signed by the next, and the last by the entry's CA when one
is named). Uses the ``cryptography`` library, which only the controller
needs. Private keys are read here and never copied into the model.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported as a problem at use time
    HAS_CRYPTOGRAPHY = False

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _utc(cert, attr):
    value = getattr(cert, attr + "_utc", None)
    if value is None:  # cryptography < 42
        value = getattr(cert, attr).replace(tzinfo=datetime.timezone.utc)
    return value


def load_certificates(pem):
    """Every certificate of a PEM text, in order (ValueError when there is none or one is broken)."""
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("is not PEM text with a -----BEGIN CERTIFICATE----- block")
    blocks = PEM_CERT.findall(pem)
    if len(blocks) != pem.count("-----BEGIN CERTIFICATE-----"):
        raise ValueError("has a certificate block that is not complete PEM")
    return [x509.load_pem_x509_certificate(block.encode("ascii")) for block in blocks]


def subject_text(cert):
    return cert.subject.rfc4514_string()


def cert_names(cert):
    """DNS names and IP addresses of the subjectAltName (the CN only without one)."""
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return [str(cns[0].value)] if cns else []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + [
        str(a) for a in san.get_values_for_type(x509.IPAddress)]


def covers(names, wanted):
    """Whether a certificate's names cover one wanted name (one-label wildcards, RFC 6125)."""
    try:
        ip = ipaddress.ip_address(wanted)
    except ValueError:
        ip = None
    for name in names:
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                pass
            continue
        name, host = name.lower().rstrip("."), wanted.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:] and host.split(".", 1)[0]:
            return True
    return False


def _is_ca(cert):
    try:
        return bool(cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_entry(entry, cas, add, now=None):
    """Check one entry of pacs_lb_tls_certificates with PEM content.

    cas: {name: [certificates]} of the CA entries (for the entry's ``ca``).
    add(field, text) records a problem. Returns the entry's public facts
    (subject, names, not_after, days_left) or None.
    """
    now = now or _now()
    try:
        certs = load_certificates(entry["certificate"])
    except ValueError as exc:
        add("certificate", str(exc))
        return None
    chain = []
    if entry.get("chain"):
        try:
            chain = load_certificates(entry["chain"])
        except ValueError as exc:
            add("chain", str(exc))
            return None
    leaf, rest = certs[0], certs[1:] + chain
    is_ca_bundle = entry.get("key") is None
    for pos, cert in enumerate(certs + chain):
        label = "the certificate" if pos == 0 else "chain certificate %d (%s)" % (pos, subject_text(cert))
        if _utc(cert, "not_valid_after") <= now:
            add("certificate" if pos < len(certs) else "chain", "%s expired on %s" % (
                label, _utc(cert, "not_valid_after").strftime("%Y-%m-%d %H:%M UTC")))
        elif _utc(cert, "not_valid_before") > now:
            add("certificate" if pos < len(certs) else "chain", "%s is not valid before %s" % (
                label, _utc(cert, "not_valid_before").strftime("%Y-%m-%d %H:%M UTC")))
    if is_ca_bundle:
        for cert in certs:
            if not _is_ca(cert):
                add("certificate", "%s is not a CA certificate (basicConstraints CA:TRUE); an entry without key is a "
                    "CA bundle" % subject_text(cert))
        return {"kind": "ca", "subject": subject_text(leaf), "names": [],
                "not_after": _utc(leaf, "not_valid_after").strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        key = serialization.load_pem_private_key(entry["key"].encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError) as exc:
        add("key", "is not an unencrypted PEM private key (%s)" % str(exc).splitlines()[0])
        key = None
    if key is not None and _public_der(key.public_key()) != _public_der(leaf.public_key()):
        add("key", "does not match the certificate %s (another key pair)" % subject_text(leaf))
    names = cert_names(leaf)
    for wanted in entry.get("names") or []:
        if not covers(names, wanted):
            add("names", "%s is not covered by the certificate (its names: %s)" % (wanted, ", ".join(names) or "none"))
    # The chain as served: leaf, then each certificate signed by the next.
    for pos, cert in enumerate([leaf] + rest[:-1] if rest else []):
        if not _issued_by(cert, rest[pos]):
            add("chain", "%s is not signed by the next certificate %s; put the chain in order, leaf first" % (
                subject_text(cert), subject_text(rest[pos])))
    top = ([leaf] + rest)[-1]
    if entry.get("ca"):
        anchors = cas.get(entry["ca"])
        if anchors is not None and top not in anchors and not any(_issued_by(top, a) for a in anchors):
            add("chain", "incomplete: %s is issued by %s, which is not in CA '%s'; add the intermediate "
                "certificate(s) to chain" % (subject_text(top), top.issuer.rfc4514_string(), entry["ca"]))
    return {"kind": "certificate", "subject": subject_text(leaf), "names": names,
            "not_after": _utc(leaf, "not_valid_after").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_left": (_utc(leaf, "not_valid_after") - now).days}
