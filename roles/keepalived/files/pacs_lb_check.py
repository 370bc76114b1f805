"""keepalived MISC_CHECK for IPVS real servers: exit 0 when the server speaks.

    python3 pacs_lb_check.py [TLS] dicom HOST PORT CALLED_AE CALLING_AE  (association + C-ECHO)
    python3 pacs_lb_check.py [TLS] hl7 HOST PORT                         (MLLP message, ACK AA/CA)
    python3 pacs_lb_check.py TLS https HOST PORT PATH STATUS HOST_HEADER (GET, status in STATUS)

TLS is either "--ca CAFILE [--name NAME]": the server's certificate must chain
to CAFILE and, with --name, carry NAME (also sent as SNI); or "--no-verify":
TLS without verification (the service's explicit server_verify: false).
STATUS is a code or a range (200-399).

Any argument given as hex:<hex digits> is decoded first: keepalived splits
misc_path on spaces and ends it at a quote, and AE titles, URL paths and file
names may hold either.

The protocol code is the collection's module_utils (dicom_pdu.py, mllp.py),
installed next to this script by the keepalived role, so keepalived's checks
send the same bytes as HAProxy's checks and the dicom_echo module.

keepalived starts this script for every real server at every interval:
each check imports only what its protocol needs (ssl and http.client cost
more than the rest of a DICOM check together), and keepalived runs it with
python3 -I -S (no site packages to scan).
"""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "lib", "pacs_lb"))

TIMEOUT = float(os.environ.get("PACS_LB_CHECK_TIMEOUT", "5"))


def word(text):
    if text.startswith("hex:"):
        return bytes.fromhex(text[4:]).decode("utf-8")
    return text


def tls_options(argv):
    """(ssl context or None, server name or None, the remaining arguments)."""
    if argv[:1] not in (["--no-verify"], ["--ca"]):
        return None, None, argv
    import ssl
    if argv[:1] == ["--no-verify"]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context, None, argv[1:]
    if len(argv) < 2:
        return None, None, argv
    context = ssl.create_default_context(cafile=word(argv[1]))
    name, rest = None, argv[2:]
    if rest[:1] == ["--name"] and len(rest) >= 2:
        name, rest = word(rest[1]), rest[2:]
    # Without a name the chain is verified and the name is not (as HAProxy's
    # "verify required" without verifyhost).
    context.check_hostname = name is not None
    return context, name, rest


def https_get(host, port, path, status, host_header, context, name):
    """None when the answer's status is accepted, else why not."""
    import http.client
    import ssl
    low, _sep, high = status.partition("-")
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pacs_lb_check\r\nConnection: close\r\n\r\n"
                             % (path, host_header)).encode("ascii"))
                response = http.client.HTTPResponse(tls)
                response.begin()
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        return "%s:%d: %s" % (host, port, exc)
    if not int(low) <= response.status <= int(high or low):
        return "%s:%d%s answered %d, not %s" % (host, port, path, response.status, status)
    return None


def main(argv):
    context, name, argv = tls_options(argv)
    args = [word(a) for a in argv]
    if len(args) == 5 and args[0] == "dicom":
        import dicom_pdu
        result = dicom_pdu.echo(args[1], int(args[2]), args[3], args[4], timeout=TIMEOUT, tls_context=context,
                                server_name=name)
        error = None if result.get("ok") else (result.get("error") or result)
    elif len(args) == 3 and args[0] == "hl7":
        import mllp
        result = mllp.probe(args[1], int(args[2]), timeout=TIMEOUT, tls_context=context, server_name=name)
        error = None if result.get("ok") else (result.get("error") or result)
    elif len(args) == 6 and args[0] == "https" and context is not None:
        error = https_get(args[1], int(args[2]), args[3], args[4], args[5], context, name)
    else:
        sys.stderr.write(__doc__)
        return 2
    if error:
        sys.stderr.write("%s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
