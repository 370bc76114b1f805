"""keepalived MISC_CHECK for IPVS real servers: exit 0 when the server speaks.

    python3 pacs_lb_check.py dicom HOST PORT CALLED_AE CALLING_AE   (association + C-ECHO)
    python3 pacs_lb_check.py hl7 HOST PORT                          (MLLP message, ACK AA/CA)

An AE title given as hex:<hex digits> is decoded first: keepalived splits
misc_path on spaces, and an AE title may contain spaces and quotes.

The protocol code is the collection's module_utils (dicom_pdu.py, mllp.py),
installed next to this script by the keepalived role, so keepalived's checks
send the same bytes as HAProxy's checks and the dicom_echo module.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "lib", "pacs_lb"))

import dicom_pdu  # noqa: E402
import mllp  # noqa: E402

TIMEOUT = float(os.environ.get("PACS_LB_CHECK_TIMEOUT", "5"))


def ae_argument(text):
    if text.startswith("hex:"):
        return bytes.fromhex(text[4:]).decode("ascii")
    return text


def main(argv):
    if len(argv) == 5 and argv[0] == "dicom":
        result = dicom_pdu.echo(argv[1], int(argv[2]), ae_argument(argv[3]), ae_argument(argv[4]), timeout=TIMEOUT)
    elif len(argv) == 3 and argv[0] == "hl7":
        result = mllp.probe(argv[1], int(argv[2]), timeout=TIMEOUT)
    else:
        sys.stderr.write(__doc__)
        return 2
    if not result.get("ok"):
        sys.stderr.write("%s\n" % (result.get("error") or result))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
