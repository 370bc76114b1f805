"""DICOM TLS through the balancer, measured (docs/performance.md section 10).

A DCMTK storescu speaking DICOM TLS (+tla, trusting the benchmark's own CA)
stores the same images in an Orthanc that speaks DICOM TLS only
(DicomTlsEnabled, in a container of the lab image), alternately direct and
through HAProxy as the haproxy role renders a terminated DICOM TLS VIP that
re-encrypts to the server and verifies its certificate (server_tls,
server_ca), with quickack on the balancer's routes as the role sets it
(--no-quickack: without); the order flips every pair. HAProxy's CPU is read around every
proxied run (CPU per GB moved through the TLS VIP).

The cost of TLS per association: C-ECHO associations (the collection's own
client, dicom_pdu.echo, in-process) timed by stage, to a plain storescp
through a plain VIP and through a terminated TLS VIP (one TLS handshake, at
the balancer), and over TLS direct to Orthanc and through the re-encrypting
VIP (two handshakes: client-balancer, balancer-server).

  python tests/benchmarks/tls.py            # ~3 min
  python tests/benchmarks/tls.py --quick    # ~1 min
"""
import argparse
import os
import ssl
import subprocess
import sys
import time

import benchlib as bl

sys.path.insert(0, os.path.join(bl.ROOT, "tests", "lab", "files"))
import lab_tls  # noqa: E402  pylint: disable=wrong-import-position

PORTS = {"tls_reencrypt": 2762, "tls_plain": 2763, "plain": 104}


def make_certs(workdir, topology):
    pki = lab_tls.TestPKI("pacs-lb bench", rsa_keys=True)
    ca = lab_tls.cert_pem(pki.root[0]) + lab_tls.cert_pem(pki.intermediate[0])
    server = pki.leaf("orthanc", names=[topology.server_ips[0]])
    balancer = pki.leaf("vip", names=[topology.vip])
    orthanc_dir = os.path.join(workdir, "orthanc-tls")
    os.makedirs(orthanc_dir, exist_ok=True)
    lab_tls.write(os.path.join(orthanc_dir, "cert.pem"), lab_tls.cert_pem(server[0]))
    lab_tls.write(os.path.join(orthanc_dir, "key.pem"), lab_tls.key_pem(server[1]), 0o644)  # read in the container
    lab_tls.write(os.path.join(orthanc_dir, "ca.pem"), ca)
    ca_file = os.path.join(workdir, "ca.pem")
    lab_tls.write(ca_file, ca)
    crt = os.path.join(workdir, "vip.pem")
    lab_tls.write(crt, lab_tls.cert_pem(balancer[0]) + lab_tls.cert_pem(pki.intermediate[0])
                  + lab_tls.key_pem(balancer[1]), 0o600)
    return orthanc_dir, ca_file, crt, ca


def services(topology, orthanc, storescp, crt, ca_file):
    check = dict(bl.LAB_CHECK)
    tls = bl.dicom_service("DICOM_TLS", topology.vip, PORTS["tls_reencrypt"], [(orthanc.ip, orthanc.port)],
                           check=check)
    tls.update(protocol="dicom_tls", tls_certificate=crt, server_tls=True, server_ca=ca_file)
    tls_plain = bl.dicom_service("DICOM_TLS_PLAIN", topology.vip, PORTS["tls_plain"], [(storescp.ip, storescp.port)],
                                 check=dict(check, called_ae="ANY-SCP"))
    tls_plain.update(protocol="dicom_tls", tls_certificate=crt)
    plain = bl.dicom_service("DICOM", topology.vip, PORTS["plain"], [(storescp.ip, storescp.port)],
                             check=dict(check, called_ae="ANY-SCP"))
    return [tls, tls_plain, plain]


def storescu(bench, host, port, files, ca_file):
    argv = [bl.DCMTK["storescu"], "-to", "10", "-ta", "10", "-td", "60", "+tla", "+cf", ca_file,
            "-aet", "MODALITY1", "-aec", "ORTHANC", host, str(port)] + files
    proc = subprocess.run(bench.topology.exec_argv("cli", argv), capture_output=True, text=True, timeout=600,
                          check=False)
    return proc.returncode == 0 and "E: " not in proc.stderr


def store_pairs(bench, haproxy, sink, files, file_bytes, ca_file, pairs):
    rows = []
    topo = bench.topology
    for pair in range(pairs):
        order = ("direct", "proxy") if pair % 2 == 0 else ("proxy", "direct")
        result = {}
        for path in order:
            host, port = (sink.ip, sink.port) if path == "direct" else (topo.vip, PORTS["tls_reencrypt"])
            sink.clear(topo)
            cpu_before = haproxy.cpu() if path == "proxy" else None
            start = time.monotonic()
            ok = storescu(bench, host, port, files, ca_file)
            elapsed = time.monotonic() - start
            stored = sink.count(topo)
            mb = len(files) * file_bytes / 1e6
            entry = {"mb_s": mb / elapsed if ok and stored >= len(files) else None, "elapsed_s": elapsed, "mb": mb}
            if cpu_before is not None:
                delta = bl.cpu_delta(cpu_before, haproxy.cpu())
                entry["haproxy_cpu_ms"] = delta["self_ms"] + delta["children_ms"]
            result[path] = entry
        rows.append(result)
        print("  pair %d: direct %s MB/s, via TLS VIP %s MB/s, HAProxy CPU %s ms" % (
            pair + 1, bl.fmt(result["direct"]["mb_s"]), bl.fmt(result["proxy"]["mb_s"]),
            bl.fmt(result["proxy"].get("haproxy_cpu_ms"), 0)))
    return rows


def echo_timings(bench, host, port, called_ae, ca_pem, count):
    """count C-ECHO associations; per association: connect (with the TLS handshake) and total ms."""
    bl._collection_path()  # pylint: disable=protected-access
    from ansible_collections.medimaging.pacs_lb.plugins.module_utils import dicom_pdu  # pylint: disable=import-error
    from ansible_collections.medimaging.pacs_lb.plugins.module_utils.tls_client import client_context  # pylint: disable=import-error

    def run():
        out = []
        for _round in range(count):
            ctx = client_context(True, None, ca_pem) if ca_pem else None
            result = dicom_pdu.echo(host, port, called_ae, "BENCH", timeout=10, tls_context=ctx)
            if not result["ok"]:
                raise RuntimeError("echo to %s:%s failed: %s" % (host, port, result["error"]))
            out.append(result["timings_ms"])
        return out
    return bl.netns_call(bench.topology.ns["cli"], run)


def main(argv=None):
    parser = bl.common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--no-quickack", action="store_true", help="leave the balancer's routes alone "
                        "(haproxy_route_quickack: none)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    images, pairs, echoes = (20, 2, 30) if args.quick else (60, 4, 100)
    out = {"machine": bl.machine_info(), "args": vars(args)}
    with bl.Bench(args.topology, keep=args.keep, pin=args.pin, link_rate=args.link_rate) as bench:
        topo = bench.topology
        orthanc_dir, ca_file, crt, ca_pem = make_certs(bench.workdir, topo)
        orthanc = bench.start_orthanc("orthanc-tls", topo.server_ips[0], 2762, 8043, tls_dir=orthanc_dir)
        storescp = bench.start_storescp("storescp", topo.server_ips[1], 4242)
        haproxy = bench.start_haproxy(services(topo, orthanc, storescp, crt, ca_file))
        haproxy.wait_servers_up(60)
        if topo.kind == "veth" and not args.no_quickack:
            topo.set_quickack()  # the role as rendered: haproxy_route_quickack: all
        files = []
        for n in range(images):
            path = os.path.join(bench.workdir, "img%03d.dcm" % n)
            subprocess.run([sys.executable, os.path.join(bl.ROOT, "tests", "lab", "files", "make_dicom.py"), path,
                            "512"], check=True, capture_output=True)
            files.append(path)
        file_bytes = os.path.getsize(files[0])
        print("C-STORE over DICOM TLS, %d images of %d kB per association, %d pairs" % (
            images, file_bytes // 1000, pairs))
        rows = store_pairs(bench, haproxy, orthanc, files, file_bytes, ca_file, pairs)
        ratios = [r["proxy"]["mb_s"] / r["direct"]["mb_s"] for r in rows if r["proxy"]["mb_s"] and r["direct"]["mb_s"]]
        cpu_per_gb = [r["proxy"]["haproxy_cpu_ms"] / 1000.0 / (r["proxy"]["mb"] / 1000.0) for r in rows]
        out["store"] = {"rows": rows, "ratio_median": bl.median(ratios) if ratios else None,
                        "direct_mb_s_median": bl.median([r["direct"]["mb_s"] for r in rows if r["direct"]["mb_s"]]),
                        "proxy_mb_s_median": bl.median([r["proxy"]["mb_s"] for r in rows if r["proxy"]["mb_s"]]),
                        "haproxy_cpu_s_per_gb_median": bl.median(cpu_per_gb)}
        print("echo associations, %d each" % echoes)
        cases = [("plain via VIP (storescp)", topo.vip, PORTS["plain"], "ANY-SCP", None),
                 ("TLS via VIP, terminated, plain to storescp", topo.vip, PORTS["tls_plain"], "ANY-SCP", ca_pem),
                 ("TLS direct to Orthanc", orthanc.ip, orthanc.port, "ORTHANC", ca_pem),
                 ("TLS via VIP, re-encrypted to Orthanc", topo.vip, PORTS["tls_reencrypt"], "ORTHANC", ca_pem)]
        echo_rows = []
        for label, host, port, called, ca in cases:
            timings = echo_timings(bench, host, port, called, ca, echoes)
            echo_rows.append({"case": label, "connect_ms_median": bl.median([t["connect"] for t in timings]),
                              "connect_ms_p90": bl.percentile([t["connect"] for t in timings], 90),
                              "total_ms_median": bl.median([t["total"] for t in timings])})
        out["echo"] = echo_rows
        haproxy_version = bl.run(["haproxy", "-v"]).stdout.splitlines()[0]
        out["versions"] = {"haproxy": haproxy_version, "openssl": ssl.OPENSSL_VERSION}
    print()
    print(bl.table(["C-STORE over DICOM TLS", "direct MB/s", "via TLS VIP MB/s", "ratio", "HAProxy CPU s/GB"], [[
        "%d x %d kB, %d pairs" % (images, file_bytes // 1000, pairs), bl.fmt(out["store"]["direct_mb_s_median"]),
        bl.fmt(out["store"]["proxy_mb_s_median"]), bl.fmt(out["store"]["ratio_median"]),
        bl.fmt(out["store"]["haproxy_cpu_s_per_gb_median"])]]))
    print()
    print(bl.table(["association (C-ECHO)", "connect+handshake ms median", "p90", "whole association ms median"],
                   [[r["case"], bl.fmt(r["connect_ms_median"]), bl.fmt(r["connect_ms_p90"]),
                     bl.fmt(r["total_ms_median"])] for r in echo_rows]))
    return bl.finish("tls", out, started)


if __name__ == "__main__":
    sys.exit(main())
