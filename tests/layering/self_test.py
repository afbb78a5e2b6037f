#!/usr/bin/env python3
"""Self-test of check_layering.py (ctest `layering.self_test`): run against tiny
temporary trees, it must pass a clean tree (transitive use included) and fail,
naming file:line, on an upward include, an unknown library and a public header
that includes libcurl. Exits 1 when the checker does not behave so."""

import subprocess
import sys
import tempfile
from pathlib import Path

CHECKER = Path(__file__).with_name("check_layering.py")
LAYERS = "core:\ncache: core\nhub: cache\ncli: hub\n"


def run(files: dict[str, str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "layers.txt").write_text(LAYERS)
        for name in ("core", "cache", "hub", "cli"):
            (root / name).mkdir()
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        return subprocess.run([sys.executable, str(CHECKER), str(root), str(root / "layers.txt")],
                              capture_output=True, text=True, timeout=60)


def main() -> int:
    clean = {
        "core/include/kernel_lock/core/a.hpp": "#pragma once\n#include <string>\n",
        "hub/src/h.cpp": '#include "kernel_lock/core/a.hpp"\n#include <curl/curl.h>\n',  # transitive, private curl
        "cli/main.cpp": '#include "kernel_lock/cache/c.hpp"\n',
    }
    cases = [
        ("clean tree", clean, 0, None),
        ("upward include", {**clean, "cache/src/c.cpp": '// x\n#include "kernel_lock/hub/h.hpp"\n'}, 1,
         "cache/src/c.cpp:2"),
        ("upward include in a public header",
         {**clean, "core/include/kernel_lock/core/b.hpp": '#include "kernel_lock/cache/c.hpp"\n'}, 1,
         "core/include/kernel_lock/core/b.hpp:1"),
        ("unknown library", {**clean, "cli/x.cpp": '\n\n#include "kernel_lock/nosuch/y.hpp"\n'}, 1, "cli/x.cpp:3"),
        ("curl in a public header", {**clean, "hub/include/kernel_lock/hub/h.hpp": "#include <curl/curl.h>\n"}, 1,
         "hub/include/kernel_lock/hub/h.hpp:1"),
        ("openssl in a public header",
         {**clean, "core/include/kernel_lock/core/s.hpp": "#pragma once\n#include <openssl/evp.h>\n"}, 1,
         "core/include/kernel_lock/core/s.hpp:2"),
    ]
    failures = 0
    for label, files, want_rc, want_text in cases:
        proc = run(files)
        ok = proc.returncode == want_rc and (want_text is None or want_text in proc.stdout)
        print(f"{'ok  ' if ok else 'FAIL'} {label}: exit {proc.returncode}")
        if not ok:
            print(proc.stdout + proc.stderr)
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
