"""A fault-injecting HTTP proxy in front of a registry (tests/e2e/registry.py).

  proxy = FaultProxy(upstream_port).start()       listens on 127.0.0.1:proxy.port
  proxy.add(kind, match=r"GET /v2/.*/blobs/sha256:", times=1, after=0, status=429, retry_after=1, hook=None)
  proxy.log -> [dict(method, path, status, fault, bytes, sent)]   one per request it answered
                                         (bytes: response body sent back; sent: request body received)
  proxy.stop()

The Host header is forwarded unchanged, so the registry builds upload Locations
that point back at the proxy. Bodies are buffered whole (test artifacts are small).

Fault kinds (the first armed fault whose `match` regex finds "METHOD PATH" applies,
`times` requests in a row after letting `after` matching requests through, then it is spent):
  status    answer `status` (429, 503, ...) without forwarding; Retry-After when given
  truncate  forward, then send the first half of the body with a matching Content-Length
            (a short, well-formed response: only a digest check can catch it)
  corrupt   forward, then flip one byte in the middle of the body (same length)
  drop      forward, then send the headers with the full Content-Length, half the
            body, and close the connection (a transfer cut mid-body)
  hook      call hook() before forwarding (e.g. stop the registry and restart it a
            moment later); when the upstream is then unreachable the client connection
            is closed without an answer, as a stopped registry would leave it
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}
MAX_BODY = 512 * 1024 * 1024


@dataclass
class Fault:
    kind: str
    match: re.Pattern
    times: int
    after: int = 0
    status: int = 503
    retry_after: int | None = None
    hook: Callable[[], None] | None = None


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.faults: list[Fault] = []
        self.log: list[dict] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, kind: str, match: str = ".*", times: int = 1, status: int = 503,
            retry_after: int | None = None, hook: Callable[[], None] | None = None, after: int = 0) -> None:
        if kind not in ("status", "truncate", "corrupt", "drop", "hook"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self.faults.append(Fault(kind, re.compile(match), times, after, status, retry_after, hook))

    def take(self, method: str, path: str) -> Fault | None:
        """The armed fault for this request, counted as used; None when none applies."""
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.search(f"{method} {path}"):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def record(self, **entry) -> None:
        with self._lock:
            self.log.append(entry)

    def spent(self) -> bool:
        """Every fault added has fired as many times as asked."""
        with self._lock:
            return all(f.times == 0 for f in self.faults)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, *args):  # quiet: the proxy keeps its own log
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large for the fault proxy")
        return self.rfile.read(length) if length else None

    def _forward(self, body: bytes | None):
        conn = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        # Header by header: a client may repeat one (skopeo sends several Accept lines).
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for key, value in self.headers.items():
            if key.lower() not in HOP_BY_HOP:
                conn.putheader(key, value)
        if body is not None or self.command in ("PUT", "POST", "PATCH"):
            conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheaders(), data

    def _send(self, status: int, headers, data: bytes, kind: str | None) -> None:
        if kind == "truncate":
            data = data[: len(data) // 2]
        elif kind == "corrupt" and data:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
        self.send_response(status)
        length = None
        for key, value in headers:
            if key.lower() == "content-length":
                length = value
            elif key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", length or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        if kind == "drop":
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data if kind != "drop" else data[: len(data) // 2])
        self.wfile.flush()
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        self.owner.record(method=self.command, path=self.path, status=status, fault=kind, bytes=len(data),
                          sent=self._sent)

    def _handle(self) -> None:
        body = self._read_body()
        self._sent = len(body or b"")
        fault = self.owner.take(self.command, self.path)
        if fault and fault.kind == "status":
            headers = [("Content-Type", "application/json")]
            if fault.retry_after is not None:
                headers.append(("Retry-After", str(fault.retry_after)))
            msg = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"fault proxy"}]}'
            self._send(fault.status, headers, msg, "status")
            return
        if fault and fault.kind == "hook":
            fault.hook()
        try:
            status, headers, data = self._forward(body)
        except OSError:  # the upstream is down: leave the client as a stopped registry would
            self.owner.record(method=self.command, path=self.path, status=0, fault="upstream-down", bytes=0,
                              sent=self._sent)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, headers, data, fault.kind if fault else None)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle
