"""The vendor lab's stand-in for a real server's non-HL7 ports: one process, every port.

Reads a JSON list of listeners ({"port", "kind", "target"}), as planned by
tests/lab/filter_plugins/lab_vendor.py from the service model:
  http / https  answer every GET or HEAD with 200 and a body naming the server
  tcp           send a banner naming the server, then hold the connection
  relay         pass the bytes to 127.0.0.1:target (the local Orthanc)
  tls_relay     terminate TLS, then pass the bytes to 127.0.0.1:target
                (Orthanc or the MLLP peer: DICOM and HL7 over TLS)
The names let a client through a VIP tell which server answered.
Usage: standin.py --spec listeners.json --name ea1 [--cert c.pem --key k.pem]
"""
import argparse
import asyncio
import json
import ssl


async def _pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, ssl.SSLError):
            pass


def relay_handler(target):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    return handle


def http_handler(name, port):
    async def handle(reader, writer):
        try:
            while True:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                method = request.split(b" ", 1)[0]
                body = ("pacs-lb stand-in %s port %d\n" % (name, port)).encode()
                head = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                        "Server: %s\r\n\r\n" % (len(body), name)).encode()
                writer.write(head if method == b"HEAD" else head + body)
                await writer.drain()
                # HTTP/1.0 (keepalived's HTTP_GET and SSL_GET) and "Connection: close" end at the
                # response: such a client reads to the end of the stream and fails on a kept one.
                lines = request.lower().split(b"\r\n")
                if lines[0].endswith(b"http/1.0") or b"connection: close" in lines[1:]:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
    return handle


def tcp_handler(name, port):
    async def handle(reader, writer):
        try:
            writer.write(("pacs-lb stand-in %s port %d\r\n" % (name, port)).encode())
            await writer.drain()
            await asyncio.wait_for(reader.read(), 60)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
    return handle


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    with open(args.spec) as spec:
        listeners = json.load(spec)
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    servers = []
    for item in listeners:
        kind, port = item["kind"], item["port"]
        if kind in ("http", "https"):
            handler = http_handler(args.name, port)
        elif kind == "tcp":
            handler = tcp_handler(args.name, port)
        else:
            handler = relay_handler(item["target"])
        use_tls = tls if kind in ("https", "tls_relay") else None
        servers.append(await asyncio.start_server(handler, "0.0.0.0", port, ssl=use_tls, reuse_address=True))
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
