"""The tests' own certificates: a root CA, an intermediate CA, and leaf
certificates issued from it (made with the cryptography library; nothing is
fetched). Used by the unit tests (import) and by the lab (command line):

    lab_tls.py OUTDIR --vip 198.18.20.100 --server 198.18.20.21 ...

writes OUTDIR/*.pem and OUTDIR/tls_vars.yml, which holds
pacs_lb_tls_certificates for the lab inventory (PEM content, as a site keeps
it in Ansible Vault). Re-running keeps the files already there.
"""
import argparse
import datetime
import ipaddress
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _names(names):
    out = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def make_cert(subject, issuer=None, ca=False, names=(), days=365, not_before_days=-1, client=False, key=None):
    """(certificate, key). issuer: (certificate, key) or None for self-signed."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer[0].subject if issuer else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW + datetime.timedelta(days=not_before_days))
               .not_valid_after(NOW + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
                                        critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH,
             ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(_names(names)), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


class TestPKI(object):
    """A root, an intermediate, and leaves issued by the intermediate."""

    def __init__(self, label="pacs-lb test", rsa_keys=False):
        self.rsa = rsa_keys
        self.root = make_cert("%s root CA" % label, ca=True, days=3650, key=self._key())
        self.intermediate = make_cert("%s intermediate CA" % label, issuer=self.root, ca=True, days=1825,
                                      key=self._key())

    def _key(self):
        # RSA where DCMTK (Orthanc, echoscu) takes part: its TLS profile is
        # sure to accept RSA; EC keys are quicker for the unit tests.
        return rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.rsa else None

    def leaf(self, subject, names=(), days=365, not_before_days=-1, client=False):
        return make_cert(subject, issuer=self.intermediate, names=names, days=days,
                         not_before_days=not_before_days, client=client, key=self._key())

    def entry(self, name, leaf, names=None, ca="lab_ca"):
        """An entry of pacs_lb_tls_certificates for a leaf (certificate, chain, key)."""
        out = {"name": name, "certificate": cert_pem(leaf[0]), "chain": cert_pem(self.intermediate[0]),
               "key": key_pem(leaf[1])}
        if ca:
            out["ca"] = ca
        if names:
            out["names"] = list(names)
        return out

    def ca_entry(self, name="lab_ca", with_intermediate=False):
        return {"name": name, "certificate": cert_pem(self.root[0]) + (
            cert_pem(self.intermediate[0]) if with_intermediate else "")}


def write(path, text, mode=0o644):
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as out:
        out.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir")
    parser.add_argument("--vip", action="append", default=[], help="a VIP the balancers' certificate covers")
    parser.add_argument("--server", action="append", default=[], help="a real server's address (its own certificate)")
    args = parser.parse_args()
    done = os.path.join(args.outdir, "tls_vars.yml")
    if os.path.exists(done):
        print("kept %s" % done)
        return
    os.makedirs(args.outdir, exist_ok=True)
    pki = TestPKI(rsa_keys=True)
    other = TestPKI("pacs-lb other", rsa_keys=True)  # a CA nobody trusts: the "wrong certificate"
    balancer = pki.leaf("pacs-lb.lab", names=["pacs-lb.lab"] + args.vip, days=365)
    client = pki.leaf("modality.lab", days=365, client=True)
    # The files the lab's fixtures use directly (DCMTK, curl, openssl, Orthanc).
    # The CA file holds the intermediate too: DCMTK (Orthanc) serves its
    # certificate file's first certificate only, without the chain.
    write(os.path.join(args.outdir, "ca.pem"), cert_pem(pki.root[0]) + cert_pem(pki.intermediate[0]))
    write(os.path.join(args.outdir, "chain.pem"), cert_pem(pki.intermediate[0]))
    write(os.path.join(args.outdir, "client.pem"), cert_pem(client[0]) + cert_pem(pki.intermediate[0]))
    write(os.path.join(args.outdir, "client.key"), key_pem(client[1]), 0o600)
    for address in args.server:
        server = pki.leaf("server %s" % address, names=[address])
        write(os.path.join(args.outdir, "server-%s.pem" % address), cert_pem(server[0]))
        write(os.path.join(args.outdir, "server-%s.key" % address), key_pem(server[1]), 0o600)
        wrong = other.leaf("server %s" % address, names=[address])
        write(os.path.join(args.outdir, "wrong-%s.pem" % address), cert_pem(wrong[0]))
        write(os.path.join(args.outdir, "wrong-%s.key" % address), key_pem(wrong[1]), 0o600)
    expired = pki.leaf("expired.lab", names=["pacs-lb.lab"] + args.vip, days=-1, not_before_days=-30)
    renewed = pki.leaf("renewed.pacs-lb.lab", names=["pacs-lb.lab"] + args.vip, days=400)
    entries = {
        "pacs_lb_tls_certificates": [
            pki.ca_entry("lab_ca", with_intermediate=True),
            pki.entry("lab_vip", balancer, names=["pacs-lb.lab"] + args.vip),
            pki.entry("lab_client", client, ca="lab_ca"),
        ],
        # An expired certificate, for the test that the preflight stops before any host is touched.
        "lab_tls_expired_entry": pki.entry("lab_vip", expired, names=["pacs-lb.lab"] + args.vip),
        # A renewed certificate (new key), for the test that renewal is one run and a reload.
        "lab_tls_renewed_entry": pki.entry("lab_vip", renewed, names=["pacs-lb.lab"] + args.vip),
    }
    # JSON is YAML: no YAML library needed on the controller for this file.
    write(done, json.dumps(entries, indent=1) + "\n", 0o600)
    print("wrote %s" % done)


if __name__ == "__main__":
    main()
