"""Asks every VIP port of a vendor lab with a real client of its protocol.

Reads the probes tests/lab/filter_plugins/lab_vendor.py derives from the
model (service, vip, port, kind, path, host_header, expect) and runs, from
the client container:
  dicom / dicom_tls  DCMTK echoscu (C-ECHO), with +tla and the lab CA for TLS
  hl7 / hl7_tls      an ADT^A01 over MLLP (hl7.client.MLLPClient; TLS: ssl
                     with the lab CA), ACK must be AA from an expected server
  http / https       curl (the lab CA for HTTPS), 200 from an expected server
  tcp                a TCP connection that must deliver an expected server's banner
A TCP connect alone would pass against a proxy with no server behind it, so
every probe but DICOM names the server that answered. Prints one line per
probe and exits 1 naming each failing service, VIP and port.
Usage: vip_client.py probes.json ca.pem
"""
import json
import socket
import ssl
import subprocess
import sys
import time

import hl7
import hl7.client

TIMEOUT = 10
SB, EB = b"\x0b", b"\x1c\x0d"


def _expected(text, probe):
    names = [n for n in probe["expect"] if "stand-in %s port" % n in text or "|%s|" % n in text]
    if not names:
        raise RuntimeError("answer not from %s: %r" % ("/".join(probe["expect"]), text[:200]))
    return names[0]


def dicom(probe, ca):
    argv = ["echoscu", "-to", str(TIMEOUT), "-ta", str(TIMEOUT), "-td", str(TIMEOUT),
            "-aet", probe.get("calling_ae") or "LABCLIENT", "-aec", probe.get("called_ae") or "ANY-SCP"]
    if probe["kind"] == "dicom_tls":
        argv += ["+tla", "+cf", ca]
    run = subprocess.run(argv + [probe["vip"], str(probe["port"])], capture_output=True, text=True,
                         timeout=3 * TIMEOUT, check=False)
    if run.returncode:
        raise RuntimeError("echoscu exit %d: %s" % (run.returncode, (run.stderr or run.stdout).strip()[-300:]))
    return "C-ECHO ok"


def _message():
    return hl7.parse("\r".join([
        "MSH|^~\\&|LABCLIENT|LAB|PACS|HOSP|%s||ADT^A01|LAB%d|P|2.3" % (
            time.strftime("%Y%m%d%H%M%S"), int(time.time() * 1000)),
        "PID|||LAB0001||LAB^PATIENT"]))


def hl7_probe(probe, ca):
    socket.setdefaulttimeout(TIMEOUT)
    if probe["kind"] == "hl7":
        with hl7.client.MLLPClient(probe["vip"], probe["port"]) as client:
            answer = client.send_message(_message())
    else:
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = False  # the lab CA signs IP SANs; the chain is what is checked
        with socket.create_connection((probe["vip"], probe["port"])) as raw, \
                context.wrap_socket(raw) as conn:
            conn.sendall(SB + str(_message()).encode() + EB)
            data = b""
            while EB not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer = data.strip(SB + EB).decode("utf-8", "replace")
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    ack = hl7.parse(answer.strip("\x0b\x1c\r\n"))
    code = str(ack.segment("MSA")[1])
    if code != "AA":
        raise RuntimeError("ACK %s: %r" % (code, answer[:200]))
    return "ACK AA from %s" % _expected(answer.replace("\r", "\n"), probe)


def http(probe, ca):
    host = "[%s]" % probe["vip"] if ":" in probe["vip"] else probe["vip"]
    url = "%s://%s:%d%s" % (probe["kind"], host, probe["port"], probe["path"])
    argv = ["curl", "-sS", "--max-time", str(TIMEOUT), "-o", "-", "-w", "\n%{http_code}"]
    if probe["kind"] == "https":
        argv += ["--cacert", ca]
    if probe.get("host_header"):
        argv += ["-H", "Host: %s" % probe["host_header"]]
    run = subprocess.run(argv + [url], capture_output=True, text=True, timeout=3 * TIMEOUT, check=False)
    if run.returncode:
        raise RuntimeError("curl exit %d: %s" % (run.returncode, run.stderr.strip()))
    body, _sep, code = run.stdout.rpartition("\n")
    if code != "200":
        raise RuntimeError("HTTP %s: %r" % (code, body[:200]))
    return "%s 200 from %s" % (url, _expected(body, probe))


def tcp(probe, ca):
    with socket.create_connection((probe["vip"], probe["port"]), timeout=TIMEOUT) as conn:
        banner = conn.makefile("rb").readline().decode("utf-8", "replace")
    return "banner from %s" % _expected(banner, probe)


CLIENTS = {"dicom": dicom, "dicom_tls": dicom, "hl7": hl7_probe, "hl7_tls": hl7_probe,
           "http": http, "https": http, "tcp": tcp}


def main():
    with open(sys.argv[1]) as probes_file:
        probes = json.load(probes_file)
    ca = sys.argv[2]
    failures = []
    for probe in probes:
        where = "%s %s:%d (%s)" % (probe["service"], probe["vip"], probe["port"], probe["kind"])
        try:
            print("ok   %s: %s" % (where, CLIENTS[probe["kind"]](probe, ca)))
        except Exception as exc:  # pylint: disable=broad-except
            failures.append(where)
            print("FAIL %s: %s" % (where, exc))
    print("%d of %d VIP ports answered by a real client of their protocol" % (
        len(probes) - len(failures), len(probes)))
    if failures:
        print("failed: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
