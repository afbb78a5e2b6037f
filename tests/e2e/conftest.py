"""Shared pytest fixtures for the end-to-end tests.

Environment (set by ctest, see tests/CMakeLists.txt):
  KERNEL_LOCK_BUILD_DIR   build tree holding cli/kernel-lock and testing/kernel-lock-dev
  KERNEL_LOCK_SOURCE_DIR  source tree (defaults to the repo this file is in)

Fixtures and helpers:

  kernel_lock_bin -> Path
      The built `kernel-lock` executable (skips the test when it is missing).

  kernel_lock_dev_bin -> Path
      The built developer tool `kernel-lock-dev` (fixture Hubs, a mirror with
      fault injection; skips the test when it is missing).

  fixture_hub -> Path                                   (session scope)
      A fixture Hub built once per session by fixtures/build_fixture_hub.sh:
      kernels-test/noarch-demo (kernel; branches main, v1, v2; tags v1.0.0,
      v1.1.0, v2.0.0), kernels-test/many-files (kernel; 150 nested files),
      kernels-test/model-demo (model; LFS weights.bin; tags r1, r2; branch
      dev/next), kernels-test/gated-demo (gated model), and the compiled
      kernels when built (v2 signed by the Hub's test PKI in
      HUB/.sigstore-pki/, trusted_root.json there). Treat it as read-only;
      use `make_fixture_hub` for a Hub a test may modify.

  make_fixture_hub(dest=None) -> Path
      A fresh private copy of that Hub (in tmp_path unless `dest` is given),
      for tests that publish to it with `kernel-lock-dev hub publish --hub ...`.

  start_hub_server(hub_dir=None, *args, token=None, page_size=None, faults=None, log=True, product=False) -> HubServer
      Starts `kernel-lock-dev serve HUB --port 0` (default Hub: fixture_hub)
      and waits for the URL it prints; product=True runs the product's
      `kernel-lock serve` instead (an HF cache or a bundle, no faults). Extra
      CLI `args` are passed through; `faults` is a dict of --fault-* options
      without the prefix, e.g. {"429-rate": 1, "times": 1, "match": "resolve"}.
      Every server is stopped (SIGTERM) at the end of the test.

  hub_server -> HubServer
      `start_hub_server()` with defaults: the session fixture Hub, no token.

  HubServer: .url (str, no trailing '/'), .port (int), .log_path (Path or
      None), .requests() -> list of dicts (one per request: seq, method,
      path, query, status, fault, error_code, range, bytes, authorized),
      .stop() -> exit status (0 after a clean SIGTERM shutdown), .stderr().

  hf_env(server_or_url, token=None, **extra) -> dict
      An environment for subprocesses running the stock Python clients against
      the mirror: HF_ENDPOINT, HF_HUB_DISABLE_XET=1, a private HF_HOME and
      HF_HUB_CACHE under tmp_path, HF_TOKEN only when given. (Telemetry is
      left on: with HF_HUB_DISABLE_TELEMETRY=1, kernels 0.17.2 builds a
      User-Agent ending in "; " that httpx refuses to send.)
      huggingface_hub reads these at import time, so run clients in a
      subprocess (see run_python) rather than in the pytest process.

  run_python(code, env, timeout=300, check=True) -> subprocess.CompletedProcess
      Runs `code` with the reference Python (sys.executable) and `env`;
      check=True fails the test with stdout/stderr on a non-zero exit. By
      convention client snippets print one JSON document as their last line;
      `last_json(proc)` parses it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from processes import stop_process

# Exit status of a run in which every test was skipped (none passed, failed or
# errored): ctest maps it to "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt),
# so that a module that skips wholesale (no CLI, no loader build, no GPU) is not
# counted as passed.
ALL_SKIPPED_EXIT = 77


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    ran = [key for key in ("passed", "failed", "error", "xfailed", "xpassed") if reporter.stats.get(key)]
    if reporter.stats.get("skipped") and not ran:
        session.exitstatus = ALL_SKIPPED_EXIT


SOURCE_DIR = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", SOURCE_DIR / "build"))


def _bin_path() -> Path:
    return BUILD_DIR / "cli" / "kernel-lock"


def _dev_bin_path() -> Path:
    return BUILD_DIR / "testing" / "kernel-lock-dev"


@pytest.fixture(scope="session")
def kernel_lock_bin() -> Path:
    path = _bin_path()
    if not path.is_file():
        pytest.skip(f"kernel-lock is not built at {path} (set KERNEL_LOCK_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def kernel_lock_dev_bin() -> Path:
    path = _dev_bin_path()
    if not path.is_file():
        pytest.skip(f"kernel-lock-dev is not built at {path} (set KERNEL_LOCK_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def fixture_hub(tmp_path_factory, kernel_lock_dev_bin) -> Path:
    out = tmp_path_factory.mktemp("fixture-hub") / "hub"
    subprocess.run(
        ["bash", str(SOURCE_DIR / "fixtures" / "build_fixture_hub.sh"), str(out), str(kernel_lock_dev_bin)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "KERNEL_LOCK_PYTHON": sys.executable},  # signs the v2 compiled kernels
    )
    return out


@pytest.fixture
def make_fixture_hub(fixture_hub, tmp_path):
    def make(dest: Path | None = None) -> Path:
        target = Path(dest) if dest is not None else tmp_path / "hub-copy"
        shutil.copytree(fixture_hub, target)
        return target

    return make


class HubServer:
    """A running `kernel-lock serve` / `kernel-lock-dev serve` process (see the module docstring)."""

    def __init__(self, argv: list[str], log_path: Path | None, startup_timeout: float = 30.0):
        self.argv = argv
        self.log_path = log_path
        self._stderr_lines: list[str] = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(startup_timeout)
        if not line or not line[0].startswith("http"):
            self.stop()
            raise RuntimeError(f"serve did not print its URL: {argv}\nstderr:\n{self.stderr()}")
        self.url = line[0].strip().rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain_stderr(self) -> None:
        for text in self.proc.stderr:
            self._stderr_lines.append(text)

    def stderr(self) -> str:
        return "".join(self._stderr_lines)

    def requests(self) -> list[dict]:
        if self.log_path is None or not self.log_path.exists():
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self, timeout: float = 10.0) -> int:
        stop_process(self.proc, timeout)
        # The process has exited: let the drain thread take its last lines
        # (the "stopped after" line races with stderr() otherwise).
        self._stderr_thread.join(timeout)
        return self.proc.returncode


@pytest.fixture
def start_hub_server(kernel_lock_bin, kernel_lock_dev_bin, fixture_hub, tmp_path):
    servers: list[HubServer] = []

    def start(hub_dir=None, *args, token=None, page_size=None, faults=None, log=True, product=False) -> HubServer:
        if product and (faults or hub_dir is None):
            raise ValueError("the product's `kernel-lock serve` serves an HF cache or a bundle, without faults")
        binary = kernel_lock_bin if product else kernel_lock_dev_bin
        argv = [str(binary), "serve", str(hub_dir or fixture_hub), "--port", "0"]
        if token is not None:
            argv += ["--token", token]
        if page_size is not None:
            argv += ["--page-size", str(page_size)]
        for key, value in (faults or {}).items():
            argv += [f"--fault-{key}", str(value)]
        log_path = None
        if log:
            log_path = tmp_path / f"serve-{len(servers)}.jsonl"
            argv += ["--log", str(log_path)]
        argv += [str(a) for a in args]
        server = HubServer(argv, log_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hub_server(start_hub_server) -> HubServer:
    return start_hub_server()


@pytest.fixture
def hf_env(tmp_path):
    def make(server_or_url, token=None, **extra) -> dict:
        url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
        home = tmp_path / "hf-home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "KERNELS_"))}
        env.update(
            HF_ENDPOINT=url,
            HF_HUB_DISABLE_XET="1",
            HF_HOME=str(home),
            HF_HUB_CACHE=str(home / "hub"),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_IMPLICIT_TOKEN="1" if token is None else "0",
            HF_TOKEN_PATH=str(home / "no-token"),
        )
        if token is not None:
            env["HF_TOKEN"] = token
        env.update({k: str(v) for k, v in extra.items()})
        return env

    return make


def run_python(code: str, env: dict, timeout: float = 300, check: bool = True, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        pytest.fail(f"python client failed ({proc.returncode})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def last_json(proc: subprocess.CompletedProcess):
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no output\n--- stderr\n{proc.stderr}"
    return json.loads(lines[-1])
