"""A loopback HTTP proxy for tests: forwards each request to a real server, and can drop or hold a response.

One request per client connection (the proxy answers with ``Connection: close``), which is all an
MLflow client needs.  A rule matches the first request whose path and body contain given text.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    """What to do with the first request to a path containing ``path`` whose body contains ``body``."""

    path: str
    body: str
    action: str  # 'drop': forward the request, close without the response; 'hold': wait for `release`
    matched: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class Proxy:
    """Listens on 127.0.0.1 (``port``) and forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.rules: list[Rule] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy.forward(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, body: str, action: str) -> Rule:
        rule = Rule(path, body, action)
        self.rules.append(rule)
        return rule

    def forward(self, client: socket.socket) -> None:
        request = _read_request(client)
        if not request:
            return
        with socket.create_connection(self.upstream) as upstream:
            upstream.sendall(request)
            response = _read_to_end(upstream)
        rule = self._match(request)
        if rule is not None:
            rule.matched.set()
            if rule.action == "drop":
                return  # the server did the work; the client never hears of it
            rule.released.wait(120)
        client.sendall(response)

    def _match(self, request: bytes) -> Rule | None:
        head, _, body = request.partition(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        for rule in self.rules:
            if not rule.matched.is_set() and rule.path in path and rule.body.encode() in body:
                return rule
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_request(client: socket.socket) -> bytes:
    """One whole request (headers and Content-Length body), its connection header set to close."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += client.recv(65536)
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _read_to_end(upstream: socket.socket) -> bytes:
    data = b""
    while chunk := upstream.recv(65536):
        data += chunk
    return data
