"""C-STORE and retrieval throughput through every forwarding mode, side by side on the real-kernel lab.

The l4 Molecule lab (balancers are QEMU guests with real IPVS, Orthanc real
servers and a DCMTK client are containers on one bridge) must be converged
and running. From the client, per round and in a rotating order:

  store     DCMTK storescu, --images fresh 512x512 CT images on one association,
            direct to rs1:104, through the DR VIP (.100:104), the NAT VIP
            (.104:11112) and the SNAT VIP (HAProxy TCP mode, .103:104);
  retrieve  curl, --gets downloads of one stored instance (/instances/ID/file,
            one keep-alive connection), direct from rs1:8042, through the DR VIP
            (.101:8042), the NAT VIP (.104:8042) and the Layer 7 VIP (HAProxy
            HTTP mode, .103:80).

Each path's MB/s is timed inside the client container; the table gives the
median over rounds and each path's median ratio to direct within a round.
The balancers' CPU is emulated (TCG): anything the balancer must touch per
packet (NAT both ways, HAProxy) pays for it far more than on real hardware,
while DR retrieval never passes the balancer at all.

  export CONTAINERS_CONF=$PWD/tests/lab/containers.conf ANSIBLE_HOME=$PWD/.build/ansible-home \\
         ANSIBLE_CONFIG=$PWD/ansible.cfg PACS_LB_GUEST_DIR=$PWD/.build/guest
  molecule converge -s l4 && python tests/benchmarks/l4_throughput.py; molecule destroy -s l4
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

NET = "198.18.30"
CLIENT = "pacs-lb-l4-client"
STORE = {"direct": (NET + ".21", 104), "DR": (NET + ".100", 104), "NAT": (NET + ".104", 11112),
         "SNAT (HAProxy)": (NET + ".103", 104)}
RETRIEVE = {"direct": "http://%s.21:8042" % NET, "DR": "http://%s.101:8042" % NET,
            "NAT": "http://%s.104:8042" % NET, "L7 (HAProxy)": "http://%s.103" % NET}
MAKE_DICOM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab", "files", "make_dicom.py")


def client(script, check=True):
    """Run a bash script in the client container; its stdout."""
    out = subprocess.run(["podman", "exec", CLIENT, "bash", "-c", script], capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError("client: %s\n%s%s" % (script[:200], out.stdout, out.stderr))
    return out.stdout


def timed(script):
    """Seconds the script took inside the client (no podman exec overhead)."""
    ns = client("s=$(date +%%s%%N); %s >/dev/null; e=$(date +%%s%%N); echo $((e - s))" % script)
    return int(ns.strip().splitlines()[-1]) / 1e9


def make_images(directory, count):
    client("rm -rf %s && mkdir -p %s && for i in $(seq %d); do python3 /tmp/make_dicom.py %s/$i.dcm 512 >/dev/null; done"
           % (directory, directory, count, directory))
    return int(client("du -sb %s | cut -f1" % directory).split()[0])


def rotate(names, offset):
    names = list(names)
    return names[offset % len(names):] + names[:offset % len(names)]


def summarize(kind, results):
    rows = []
    direct = results["direct"]
    for name, values in results.items():
        ratios = [v / d for v, d in zip(values, direct)]
        rows.append("| %s | %s | %.1f | %.2f |" % (kind, name, statistics.median(values), statistics.median(ratios)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=24, help="images per C-STORE run (512 KiB each)")
    parser.add_argument("--gets", type=int, default=40, help="downloads per retrieval run")
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args(argv)

    subprocess.run(["podman", "cp", MAKE_DICOM, CLIENT + ":/tmp/make_dicom.py"], check=True)
    # The instance every retrieval downloads, on both real servers (DR and NAT may pick either).
    client("python3 /tmp/make_dicom.py /tmp/retrieve.dcm 512 >/tmp/retrieve.uid")
    for rs in ("21", "22"):
        client("storescu -aec ORTHANC %s.%s 104 /tmp/retrieve.dcm" % (NET, rs))
    found = json.loads(client("curl -sf -X POST -d %s http://%s.21:8042/tools/find" % (shlex.quote(json.dumps(
        {"Level": "Instance", "Query": {"SOPInstanceUID": client("cat /tmp/retrieve.uid").strip()}})), NET)))
    url_path = "/instances/%s/file" % found[0]
    size = int(client("curl -sf %s%s | wc -c" % (RETRIEVE["direct"], url_path)).strip())

    store = dict((name, []) for name in STORE)
    retrieve = dict((name, []) for name in RETRIEVE)
    for rnd in range(args.rounds):
        for name in rotate(STORE, rnd):
            host, port = STORE[name]
            nbytes = make_images("/tmp/bench", args.images)
            seconds = timed("storescu -to 60 -aec ORTHANC %s %d /tmp/bench/*.dcm" % (host, port))
            store[name].append(nbytes / seconds / 1e6)
        for name in rotate(RETRIEVE, rnd):
            urls = " ".join(["-o /dev/null %s%s" % (RETRIEVE[name], url_path)] * args.gets)
            seconds = timed("curl -sf %s" % urls)
            retrieve[name].append(size * args.gets / seconds / 1e6)
        print("round %d: store %s; retrieve %s" % (rnd + 1, {k: round(v[-1], 1) for k, v in store.items()},
                                                   {k: round(v[-1], 1) for k, v in retrieve.items()}), flush=True)

    print("\n| traffic | path | MB/s (median of %d) | ratio to direct (median) |" % args.rounds)
    print("|---|---|---|---|")
    for row in summarize("C-STORE, %d x %.1f MB, 1 association" % (args.images, nbytes / args.images / 1e6), store) + \
            summarize("retrieval, %d x %.1f MB GET, 1 connection" % (args.gets, size / 1e6), retrieve):
        print(row)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"store": store, "retrieve": retrieve, "image_bytes": size}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
