#!/usr/bin/env python3
"""Layering check (ctest `layering`): every `#include "kernel_lock/<lib>/..."` in
<library>/include and <library>/src (cli/ for the command) must name the library
itself or one it may use, directly or transitively, as tests/layering/layers.txt
says. Public headers (<library>/include) must not include libcurl, libarchive,
cpp-httplib or OpenSSL headers. Prints file:line for each violation and exits 1.

usage: check_layering.py <source root> [layers.txt]
"""

import re
import sys
from pathlib import Path

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*["<]kernel_lock/([A-Za-z0-9_]+)/')
THIRD_PARTY_RE = re.compile(r'^\s*#\s*include\s*[<"](curl/|archive\.h|archive_entry\.h|httplib\.h|openssl/)')
SOURCE_SUFFIXES = {".hpp", ".h", ".cpp", ".cc", ".c", ".ipp", ".inc"}
# Folders scanned per library: its public headers and its sources; the CLI is flat.
FLAT_LIBRARIES = {"cli"}


def read_layers(path: Path) -> dict[str, set[str]]:
    """Parses `<lib>: <deps...>` lines; '#' starts a comment. Raises ValueError on a bad line."""
    layers: dict[str, set[str]] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, deps = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"{path}:{number}: expected '<library>: <deps...>'")
        layers[name.strip()] = set(deps.split())
    for name, deps in layers.items():
        for dep in deps - layers.keys():
            raise ValueError(f"{path}: {name} uses unknown library {dep}")
    return layers


def allowed(layers: dict[str, set[str]], name: str) -> set[str]:
    """The library itself and every library it may use, transitively."""
    seen, todo = {name}, list(layers[name])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(layers[dep])
    return seen


def library_files(root: Path, name: str):
    """(file, is_public_header) for each source file of the library."""
    folders = [(root / name, False)] if name in FLAT_LIBRARIES else [
        (root / name / "include", True), (root / name / "src", False)]
    for folder, public in folders:
        if not folder.is_dir():
            continue
        pattern = "*" if name in FLAT_LIBRARIES else "**/*"
        for path in sorted(folder.glob(pattern)):
            if path.is_file() and path.suffix in SOURCE_SUFFIXES:
                yield path, public


def check(root: Path, layers: dict[str, set[str]]) -> list[str]:
    problems = []
    for name in sorted(layers):
        ok = allowed(layers, name)
        for path, public in library_files(root, name):
            rel = path.relative_to(root)
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = INCLUDE_RE.match(line)
                if match and match.group(1) not in ok:
                    target = match.group(1)
                    why = "unknown library" if target not in layers else "not allowed by tests/layering/layers.txt"
                    problems.append(f"{rel}:{number}: {name} includes a header of {target} ({why}): {line.strip()}")
                if public and THIRD_PARTY_RE.match(line):
                    problems.append(f"{rel}:{number}: public header of {name} includes a third-party "
                                    f"transport/archive/crypto header: {line.strip()}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    layers_file = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("layers.txt")
    try:
        layers = read_layers(layers_file)
    except (OSError, ValueError) as e:
        print(f"layering: {e}", file=sys.stderr)
        return 2
    missing = [name for name in layers if not (root / name).is_dir()]
    problems = check(root, layers)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layering: {len(problems)} violation(s)", file=sys.stderr)
        return 1
    print(f"layering: {len(layers) - len(missing)} libraries checked, no violation")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
