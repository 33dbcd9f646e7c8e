#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for vLLM's HTTP server in the CLI tests.

Listens on 127.0.0.1 on an ephemeral port, writes the port to --port-file
once it listens, answers every GET with 503 until --ready-after seconds have
passed (never with --never), then 200 with a small JSON body.  Each request
appends one line ("<status> <path>") to --log, so a test can count probes.
"""
import argparse
import http.server
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-after", type=float, default=0.0)
    ap.add_argument("--never", action="store_true")
    args = ap.parse_args()
    start = time.monotonic()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ready = not args.never and time.monotonic() - start >= args.ready_after
            status = 200 if ready else 503
            body = b'{"object": "list", "data": []}\n' if ready else b"not ready\n"
            with open(args.log, "a") as f:
                f.write(f"{status} {self.path}\n")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, args.port_file)  # the test sees a whole port number
    open(args.log, "a").close()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
