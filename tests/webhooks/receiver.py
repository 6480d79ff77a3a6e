"""A webhook receiver for the end-to-end tests: it checks every delivery's signature with
the `standardwebhooks` package (an implementation independent of ours) and behaves as
the callback URL's path says.

    receiver.py SECRET [PORT [HOST]]   prints "listening PORT", then serves HOST:PORT
                                       (default 127.0.0.1)

Paths: /ok (204), /fail/N (500 for the first N deliveries of a webhook-id, then 200),
/gone (410), /busy/S (503 with Retry-After: S the first time, then 200), /hang/N (the
first N deliveries of a webhook-id get no answer for 60 s, then 200).
GET /_log answers every delivery seen so far, as JSON.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

SECRET = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
HOST = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
LOCK = threading.Lock()
LOG = []
SEEN = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with LOCK:
            body = json.dumps(LOG).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(min(int(self.headers.get("content-length", "0")), 1 << 20))

    def do_POST(self):
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = Webhook(SECRET).verify(body, headers)
            verified, error = True, None
        except Exception as e:  # any refusal: recorded, and the test says what failed
            event, verified, error = None, False, repr(e)
        msg_id = headers.get("webhook-id", "")
        with LOCK:
            SEEN[msg_id] = SEEN.get(msg_id, 0) + 1
            nth = SEEN[msg_id]
            LOG.append({
                "path": self.path,
                "webhook_id": msg_id,
                "timestamp": headers.get("webhook-timestamp"),
                "signatures": headers.get("webhook-signature", "").count("v1,"),
                "verified": verified,
                "error": error,
                "event": event,
                "nth": nth,
                "at": time.time(),
            })
        parts = self.path.strip("/").split("/")
        status, extra = 204, {}
        if parts[0] == "fail" and nth <= int(parts[1]):
            status = 500
        elif parts[0] == "gone":
            status = 410
        elif parts[0] == "busy" and nth == 1:
            status, extra = 503, {"retry-after": parts[1]}
        elif parts[0] == "hang" and nth <= int(parts[1]):
            time.sleep(60)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()


server = ThreadingHTTPServer((HOST, PORT), Handler)
server.daemon_threads = True
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
