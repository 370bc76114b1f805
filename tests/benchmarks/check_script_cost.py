"""CPU per run of keepalived's check script (pacs_lb_check.py), this tree against a git ref, side by side.

    .venv/bin/python tests/benchmarks/check_script_cost.py [--base REF] [--runs 200] [--rounds 5]

keepalived starts the script for every IPVS real server with a DICOM, HL7 or
verified HTTPS check at every interval, so its start-up is the check's cost.
Each version is laid out as the keepalived role installs it
(libexec/pacs_lb/pacs_lb_check.py, lib/pacs_lb/{dicom_pdu,mllp}.py) and run
the way its own render_keepalived writes misc_path (read from that version's
code), against a real DICOM SCP on loopback (pynetdicom, C-ECHO accepted):
the rounds alternate between the versions. Reported: CPU milliseconds per
check (user + system of the children) and wall milliseconds, medians over
the rounds, and the ratio this tree / base.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FILES = {"libexec/pacs_lb/pacs_lb_check.py": "roles/keepalived/files/pacs_lb_check.py",
         "lib/pacs_lb/dicom_pdu.py": "plugins/module_utils/dicom_pdu.py",
         "lib/pacs_lb/mllp.py": "plugins/module_utils/mllp.py"}
RENDERER = "plugins/plugin_utils/render_keepalived.py"
# The system's interpreter, as keepalived runs it on a balancer (a virtualenv's
# site packages would weigh on the version that loads them).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def read(ref, path):
    if ref is None:
        with open(os.path.join(ROOT, path)) as handle:
            return handle.read()
    return subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (ref, path)], check=True, capture_output=True,
                          text=True).stdout


def interpreter_flags(renderer_source):
    """The python3 options the version's renderer puts before the script in misc_path."""
    found = re.search(r'/usr/bin/python3((?: -[A-Za-z]+)*) ', renderer_source)
    return found.group(1).split() if found else []


def lay_out(ref, prefix):
    for dest, src in FILES.items():
        path = os.path.join(prefix, dest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(read(ref, src))
    return [PYTHON] + interpreter_flags(read(ref, RENDERER)) + [os.path.join(prefix, "libexec/pacs_lb/pacs_lb_check.py")]


def measure(command, runs):
    """(CPU ms, wall ms) per run of command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for _run in range(runs):
        subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1000.0 / runs, wall * 1000.0 / runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="HEAD~1")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scp = AE(ae_title="ORTHANC")
    scp.add_supported_context(Verification)
    server = scp.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)])
    port = server.server_address[1]
    work = tempfile.mkdtemp(prefix="pacs-lb-check-cost-")
    try:
        versions = {"this tree": lay_out(None, os.path.join(work, "new")),
                    args.base: lay_out(args.base, os.path.join(work, "base"))}
        words = ["dicom", "127.0.0.1", str(port), "ORTHANC", "LBCHECK"]
        samples = dict((name, []) for name in versions)
        for _round in range(args.rounds):
            for name, command in versions.items():
                samples[name].append(measure(command + words, args.runs))
        print("| version | command | CPU ms per check | wall ms per check |")
        print("|---|---|---|---|")
        for name, command in versions.items():
            print("| %s | `%s` | %.1f | %.1f |" % (
                name, " ".join(["python3"] + command[1:-1] + ["pacs_lb_check.py"] + words[:1]),
                statistics.median(s[0] for s in samples[name]), statistics.median(s[1] for s in samples[name])))
        cpu = [statistics.median(s[0] for s in samples[n]) for n in versions]
        print("ratio this tree / %s, CPU per check: %.2f" % (args.base, cpu[0] / cpu[1]))
    finally:
        server.shutdown()
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
