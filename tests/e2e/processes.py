"""Process helpers shared by the end-to-end fixtures (conftest.py) and the
registry harness (registry.py, also used by bench/oci_fanout.py): no pytest here."""
from __future__ import annotations

import signal
import subprocess


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Stops `proc` with SIGTERM, then SIGKILL after `timeout` seconds; returns
    its exit status. A process that has exited already is left as it is."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
