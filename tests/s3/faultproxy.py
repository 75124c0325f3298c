"""A small fault-injecting HTTP proxy, run in its own process between boto3 and the S3 server.

``python faultproxy.py --upstream http://127.0.0.1:PORT`` prints ``READY <port>``. It forwards
every request unchanged, except as told through its control paths (answered by the proxy
itself, never forwarded):

* ``POST /__fault__/slowdown?count=N`` - answer the next N requests with ``503 SlowDown``;
* ``POST /__fault__/strip-conditions?on=1`` - drop ``If-Match``/``If-None-Match`` headers, like
  an endpoint that ignores conditional writes;
* ``POST /__fault__/drop-response?count=N&match=TEXT`` - forward the next N requests whose path
  contains TEXT, then close the connection without answering (an outcome the client cannot know);
* ``GET /__fault__/stats`` - JSON counters.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class State:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.lock = threading.Lock()
        self.slowdown = 0
        self.strip = False
        self.drop = 0
        self.drop_match = ""
        self.stats = {"forwarded": 0, "slowdowns": 0, "stripped": 0, "dropped": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep stderr quiet
        return

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _reply(self, status: int, body: bytes, content_type: str = "application/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        state = self.state
        with state.lock:
            if url.path == "/__fault__/slowdown":
                state.slowdown = int(query.get("count", ["0"])[0])
            elif url.path == "/__fault__/drop-response":
                state.drop = int(query.get("count", ["0"])[0])
                state.drop_match = query.get("match", [""])[0]
            elif url.path == "/__fault__/strip-conditions":
                state.strip = query.get("on", ["1"])[0] == "1"
            body = json.dumps({**state.stats, "slowdown_left": state.slowdown, "strip": state.strip}).encode()
        self._reply(200, body, "application/json")

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith("/__fault__/"):
            self._control()
            return
        state = self.state
        with state.lock:
            if state.slowdown > 0:
                state.slowdown -= 1
                state.stats["slowdowns"] += 1
                slow = True
            else:
                slow = False
                state.stats["forwarded"] += 1
            strip = state.strip
        if slow:
            self._reply(503, SLOWDOWN)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
        if strip:
            for name in [k for k in headers if k.lower() in ("if-match", "if-none-match")]:
                del headers[name]
                with state.lock:
                    state.stats["stripped"] += 1
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(state.host, state.port, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except OSError:
            self.close_connection = True
            return
        finally:
            conn.close()
        with state.lock:
            drop = state.drop > 0 and state.drop_match in self.path and self.command != "GET"
            if drop:
                state.drop -= 1
                state.stats["dropped"] += 1
        if drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection", "server", "date"):
                self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    Handler.state = State(args.upstream)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"READY {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
