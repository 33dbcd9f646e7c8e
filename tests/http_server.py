#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for vLLM's HTTP server in the CLI tests.

Listens on 127.0.0.1 on an ephemeral port, writes the port to --port-file
once it listens (into it, when it is a FIFO the test reads), answers every GET with 503 until it is ready, then 200 with
a small JSON body.  Ready: at once, or with --ready-file once that file
exists (the test makes it: a handshake, no clock), or --ready-after
seconds after the start (a clock: only where the order does not matter),
never with --never.
Each request appends one line ("<status> <path>") to --log, so a test can
count probes, and with --notify writes the same line to that FIFO, which
the test reads to wait for a probe (opened once, at the first request).
"""
import argparse
import http.server
import os
import stat
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready-file")
    ap.add_argument("--ready-after", type=float, default=0.0)  # a clock: prefer --ready-file
    ap.add_argument("--never", action="store_true")
    ap.add_argument("--notify")
    args = ap.parse_args()
    start = time.monotonic()
    notify = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ready = (not args.never and time.monotonic() - start >= args.ready_after
                     and (not args.ready_file or os.path.exists(args.ready_file)))
            status = 200 if ready else 503
            body = b'{"object": "list", "data": []}\n' if ready else b"not ready\n"
            with lock:
                with open(args.log, "a") as f:
                    f.write(f"{status} {self.path}\n")
                if args.notify:
                    if not notify:  # blocks until the test opens it to read
                        notify.append(open(args.notify, "w", buffering=1))
                    try:
                        notify[0].write(f"{status} {self.path}\n")
                    except BrokenPipeError:
                        pass  # the test stopped reading: only the log counts
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    open(args.log, "a").close()
    if stat.S_ISFIFO(os.stat(args.port_file).st_mode if os.path.exists(args.port_file) else 0):
        with open(args.port_file, "w") as f:  # the test waits on reading it
            f.write(f"{srv.server_address[1]}\n")
    else:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{srv.server_address[1]}\n")
        os.rename(tmp, args.port_file)  # the test sees a whole port number
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
