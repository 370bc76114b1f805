# -*- coding: utf-8 -*-
"""The vendor lab's external check stand-in against a real HTTP server and a closed port."""

import os
import subprocess
import sys


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "filter_plugins"))


def test_external_check_script_passes_and_fails(tmp_path):
    """The lab's stand-in for a vendor's external check, against a real HTTP server and a closed port."""
    import http.server
    import socket
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    script = os.path.join(ROOT, "tests", "lab", "files", "lab_external_check")
    try:
        # HAProxy's environment: an empty PATH.
        up = subprocess.run([script, "198.18.0.1", "80", "127.0.0.1", str(server.server_port)], env={"PATH": ""},
                            timeout=10, check=False)
        down = subprocess.run([script, "198.18.0.1", "80", "127.0.0.1", str(closed_port)], env={"PATH": ""},
                              timeout=10, stderr=subprocess.DEVNULL, check=False)
    finally:
        server.shutdown()
    assert up.returncode == 0 and down.returncode != 0
