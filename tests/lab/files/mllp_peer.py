"""An HL7 v2 interface engine stand-in for the lab: MLLP listener that ACKs.

Built on the `hl7` package (hl7.parse, Message.create_ack). Answers AA to
every message, or the code given with --ack (AE/AR to test failing checks).
Usage: mllp_peer.py --port 2575 [--port 2576] [--ack AA] [--name pacs1]
"""
import argparse
import socketserver
import threading

import hl7

START, END = b"\x0b", b"\x1c\x0d"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        buf = b""
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            buf += data
            while START in buf and END in buf:
                frame, buf = buf[buf.index(START) + 1:buf.index(END)], buf[buf.index(END) + 2:]
                message = hl7.parse(frame.decode("utf-8", "replace"))
                ack = message.create_ack(ack_code=self.server.ack_code, application=self.server.app_name)
                self.request.sendall(START + str(ack).encode("utf-8") + END)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("--ack", default="AA")
    parser.add_argument("--name", default="HL7PEER")
    args = parser.parse_args()
    servers = []
    for port in args.port:
        server = Server(("0.0.0.0", port), Handler)
        server.ack_code, server.app_name = args.ack, args.name
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
