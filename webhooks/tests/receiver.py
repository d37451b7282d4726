"""A webhook receiver for the tests, run as its own process:

    python webhooks/tests/receiver.py PORT LOG

Every POST is appended to LOG as one JSON line (path, headers, body, arrival
time) as soon as its body is read, then answered. The query string says how:
`status=N` (default 200) and `delay=S` (seconds to wait before answering: a
slow receiver). `GET /health` answers 200.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    log_path = ""

    def do_GET(self):
        self._answer(200, b"ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        record = {"path": url.path, "query": query, "headers": dict(self.headers.items()),
                  "body": body.decode("utf-8"), "received_at": time.time()}
        with _lock, open(self.log_path, "a") as log:
            log.write(json.dumps(record) + "\n")
        time.sleep(float(query.get("delay", 0)))
        self._answer(int(query.get("status", 200)), b'{"received": true}')

    def _answer(self, status: int, body: bytes):
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender stopped waiting (its timeout)

    def log_message(self, *args):
        pass


def main() -> None:
    port, Handler.log_path = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
