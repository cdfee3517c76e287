"""An S3 proxy that behaves like a store without `If-None-Match` (for the put-if-absent probe tests).

    python oss_proxy.py UPSTREAM MODE      # prints the port it listens on (127.0.0.1), then serves

It forwards every request to UPSTREAM (the test's moto server) except conditional PUTs:
  oss      — like Alibaba Cloud OSS: a PUT with `If-None-Match` or `If-Match` is answered 501
             NotImplemented; a PUT with `x-oss-forbid-overwrite: true` of an object that exists is
             answered 409 FileAlreadyExists (checked and forwarded under one lock, so two such PUTs
             never both create), otherwise forwarded.
  neither  — 501 to `If-None-Match` / `If-Match` as OSS, and the OSS header ignored (forwarded).
  ignore   — the conditional headers are dropped and the PUT forwarded: a store that overwrites
             silently.
Requests are counted by kind in /stats (GET), so a test can see which way junheng created objects.
"""

import http.client
import http.server
import json
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlparse(sys.argv[1])
MODE = sys.argv[2]
CREATE_LOCK = threading.Lock()
STATS = {"if_none_match": 0, "if_match": 0, "forbid_overwrite": 0, "forbid_overwrite_refused": 0}
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def error_document(code, message):
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>junheng-proxy</RequestId><HostId>127.0.0.1</HostId></Error>"
    ).encode()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def upstream(self, method, headers, body):
        connection = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        connection.request(method, self.path, body=body, headers=headers)
        return connection, connection.getresponse()

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def relay(self, method, headers, body):
        connection, response = self.upstream(method, headers, body)
        data = response.read()
        passed = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP | {"content-length"}]
        # A HEAD has no body: its length is the object's, as upstream said.
        length = response.getheader("Content-Length", "0") if method == "HEAD" else str(len(data))
        connection.close()
        self.send_response(response.status)
        for name, value in passed:
            self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
        headers["Host"] = UPSTREAM.netloc
        lower = {k.lower(): v for k, v in headers.items()}
        if self.command == "PUT":
            conditional = [h for h in ("if-none-match", "if-match") if h in lower]
            for h in conditional:
                STATS[h.replace("-", "_")] += 1
            if conditional and MODE in ("oss", "neither"):
                body = error_document(
                    "NotImplemented", "A header you provided implies functionality that is not implemented."
                )
                return self.answer(501, body, [("Content-Type", "application/xml")])
            if conditional and MODE == "ignore":
                headers = {k: v for k, v in headers.items() if k.lower() not in ("if-none-match", "if-match")}
            if lower.get("x-oss-forbid-overwrite", "").lower() == "true" and MODE == "oss":
                STATS["forbid_overwrite"] += 1
                with CREATE_LOCK:
                    # The PUT's credentials (moto reads who asks from them, and checks no signature).
                    asking = {k: v for k, v in headers.items() if k.lower() in ("host", "authorization", "x-amz-date")}
                    connection, head = self.upstream("HEAD", asking, None)
                    head.read()
                    connection.close()
                    if head.status not in (200, 404):
                        return self.answer(502, f"HEAD answered {head.status}".encode())
                    if head.status == 200:
                        STATS["forbid_overwrite_refused"] += 1
                        body = error_document("FileAlreadyExists", "The object you specified already exists.")
                        return self.answer(409, body, [("Content-Type", "application/xml")])
                    return self.relay(self.command, headers, body)
        if self.command == "GET" and self.path == "/stats":
            return self.answer(200, json.dumps(STATS).encode(), [("Content-Type", "application/json")])
        return self.relay(self.command, headers, body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
