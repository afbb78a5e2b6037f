"""A real OCI registry for the tests and the fan-out benchmark: Debian's
`docker-registry` (distribution 2.8) on a free loopback port.

  Registry(workdir, auth=True, tls=False)
      .start() / .stop() / .restart()   restart keeps the storage and the port, so a
                                        client in the middle of a transfer sees the
                                        registry go away and come back
      .stop_and_start_after(delay)      stop now, start again `delay` seconds later (in a
                                        timer thread; stop() cancels or waits for it)
      .host "127.0.0.1:PORT", .url "http(s)://host", .oci(repo, tag) "oci://host/repo:tag"
      .username / .password             htpasswd (bcrypt) credentials when auth=True
      .ca_file (PEM) / .cert_dir        the test CA when tls=True (cert_dir holds ca.crt,
                                        the layout skopeo's --*-cert-dir expects)
      .access_log() -> [AccessEntry]    one per request the registry served (method, path,
                                        status, bytes): "bytes the origin served"
      .http(method, path, body=None, headers=None, auth=True) -> (status, headers, body)

The registry signs upload state with a fixed `http.secret`, so an upload
started before a restart can be resumed after it. Everything it writes lives
under `workdir`; stop() is idempotent and the caller (a fixture) must call it.
No pytest here: bench/oci_fanout.py uses this module too.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from processes import stop_process

REGISTRY_BIN = "docker-registry"
USERNAME = "fleet"
PASSWORD = "correct horse battery staple"


def tools_missing(*tools: str) -> list[str]:
    """The command-line tools (of `tools`) that are not on PATH."""
    return [t for t in tools if shutil.which(t) is None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 / localhost (SAN),
    made with openssl. Returns (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=kernel-lock test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


@dataclass
class AccessEntry:
    method: str
    path: str
    status: int
    bytes: int


# Combined log format: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 1234 "referer" "agent"
_ACCESS_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<bytes>\d+|-)')


class Registry:
    def __init__(self, workdir: Path, *, auth: bool = True, tls: bool = False, name: str = "registry"):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.auth, self.tls = auth, tls
        self.username, self.password = (USERNAME, PASSWORD) if auth else (None, None)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self.ca_file: Path | None = None
        self.cert_dir: Path | None = None
        self._access_path = self.dir / "access.log"
        self._log_path = self.dir / "registry.log"
        self._write_config()

    # ---- configuration -----------------------------------------------------------------
    def _write_config(self) -> None:
        storage = self.dir / "storage"
        storage.mkdir(exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {json.dumps(str(storage))}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: kernel-lock-test-upload-state-secret",
        ]
        if self.tls:
            ca, crt, key = make_test_ca(self.dir / "tls")
            self.ca_file = ca
            self.cert_dir = self.dir / "certs.d"
            self.cert_dir.mkdir(exist_ok=True)
            shutil.copy(ca, self.cert_dir / "ca.crt")
            lines += ["  tls:", f"    certificate: {json.dumps(str(crt))}", f"    key: {json.dumps(str(key))}"]
        if self.auth:
            htpasswd = self.dir / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", self.username, self.password],
                                 check=True, capture_output=True, text=True).stdout
            htpasswd.write_text(out.strip() + "\n")
            lines += ["auth:", "  htpasswd:", "    realm: kernel-lock-test", f"    path: {json.dumps(str(htpasswd))}"]
        (self.dir / "config.yml").write_text("\n".join(lines) + "\n")

    # ---- addresses -----------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def oci(self, repo: str, tag: str, host: str | None = None) -> str:
        return f"oci://{host or self.host}/{repo}:{tag}"

    def creds(self) -> str:
        """user:password, as skopeo's --src-creds / --dest-creds take them."""
        return f"{self.username}:{self.password}"

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> "Registry":
        if self.proc is not None and self.proc.poll() is None:
            return self
        access = open(self._access_path, "ab")
        log = open(self._log_path, "ab")
        try:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.dir / "config.yml")],
                                         stdout=access, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            access.close()
            log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        want = 401 if self.auth else 200
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited ({self.proc.returncode}):\n{self.log_text()}")
            try:
                status, _, _ = self.http("GET", "/v2/", auth=False, timeout=2)
                if status == want:
                    return
                last = f"HTTP {status}"
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry on {self.url} not ready after {timeout}s ({last}):\n{self.log_text()}")

    def stop(self, timeout: float = 10.0) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
            timer.join()
        if self.proc is not None:
            stop_process(self.proc, timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop_and_start_after(self, delay: float) -> None:
        self.stop()
        self._timer = threading.Timer(delay, self.start)
        self._timer.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    # ---- observation ------------------------------------------------------------------------
    def access_log(self) -> list[AccessEntry]:
        if not self._access_path.exists():
            return []
        entries = []
        for line in self._access_path.read_text(errors="replace").splitlines():
            m = _ACCESS_RE.search(line)
            if m:
                size = 0 if m["bytes"] == "-" else int(m["bytes"])
                entries.append(AccessEntry(m["method"], m["path"], int(m["status"]), size))
        return entries

    def served_bytes(self, since: int = 0) -> int:
        """Bytes of response bodies the registry sent, over the access log from entry `since`."""
        return sum(e.bytes for e in self.access_log()[since:] if e.method == "GET")

    def uploads(self, since: int = 0) -> list[AccessEntry]:
        """Blob upload requests (POST/PATCH/PUT under /blobs/uploads/) from entry `since`."""
        return [e for e in self.access_log()[since:]
                if "/blobs/uploads/" in e.path and e.method in ("POST", "PATCH", "PUT")]

    # ---- raw HTTP --------------------------------------------------------------------------
    def http(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             auth: bool = True, timeout: float = 30) -> tuple[int, dict, bytes]:
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if auth and self.auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()
