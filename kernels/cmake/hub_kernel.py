#!/usr/bin/env python3
"""Configure-time helper for kernels/cmake/HubKernel.cmake (Python >= 3.8, stdlib only).

Subcommands (all write their output file only when its content changes, so
CMake/ninja do not rebuild needlessly):

  info SOURCE_DIR OUT.cmake
      Parses SOURCE_DIR/build.toml (edition 5 subset used by kernel-builder:
      [general], [torch], [kernel.<x>]) and writes CMake `set()` commands:
        HK_NAME, HK_PYNAME, HK_VERSION, HK_LICENSE, HK_BACKENDS,
        HK_TORCH_SRC, HK_TORCH_INCLUDE, HK_TORCH_CXX_FLAGS, HK_TORCH_PYEXT,
        HK_KERNELS (section names) and per section HK_KERNEL_<x>_{BACKEND,SRC,
        INCLUDE,CXX_FLAGS,CUDA_CAPABILITIES,CUDA_FLAGS},
        HK_TREE_ID (git tree id of SOURCE_DIR as it is on disk).
      Unknown keys are errors, as in kernel-builder (serde deny_unknown_fields).

  metadata OUT --name N --id ID --version V --license L --backend B [--arch A ...]
      Writes metadata.json exactly as kernel-builder does: keys in the order
      name, id, version, license, python-depends, kernel-depends, backend
      {type, archs}; 2-space indent, no trailing newline; archs (if any) are
      deduplicated and sorted as strings, like add_build_metadata.py.

  ops OUT NAMESPACE
      Writes _ops.py: imports the extension module (which registers the ops),
      `ops = torch.ops.<NAMESPACE>` and `add_op_namespace_prefix(op_name)`.

  uid TREE_ID [SALT]
      Prints the 7-hex-character build id: TREE_ID[:7] without SALT, else the
      first 7 hex characters of sha1(TREE_ID + ":" + SALT).
"""
import hashlib
import json
import os
import re
import stat
import sys

try:
    import tomllib  # Python >= 3.11
except ImportError:  # pragma: no cover - older interpreters on build machines
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ImportError:
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

NAME_RE = re.compile(r"^[a-z][-a-z0-9]*[a-z0-9]$")
GENERAL_KEYS = {"name", "version", "edition", "license", "backends", "upstream", "source",
                "python-depends", "kernel-depends", "hub", "cuda", "xpu", "neuron", "tpu"}
TORCH_KEYS = {"src", "include", "pyext", "minver", "maxver", "cxx-flags", "stable-abi"}
KERNEL_COMMON = {"backend", "depends", "src", "include", "cxx-flags"}
KERNEL_EXTRA = {"cuda": {"cuda-capabilities", "cuda-flags", "cuda-minver"},
                "rocm": {"rocm-archs", "hip-flags"}, "xpu": {"sycl-flags"},
                "cpu": set(), "metal": set(), "cann": set(), "neuron": set(), "tpu": set()}


def fail(msg):
    sys.stderr.write(f"hub_kernel.py: error: {msg}\n")
    sys.exit(1)


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def git_tree_id(path):
    """The git tree object id of directory `path` as on disk (what
    `git rev-parse HEAD:<path>` prints for a clean, fully tracked tree).
    __pycache__ folders and *.pyc files are skipped (never tracked)."""
    entries = []
    for name in os.listdir(path):
        if name in ("__pycache__", ".git") or name.endswith(".pyc"):
            continue
        full = os.path.join(path, name)
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            data = os.readlink(full).encode()
            mode, oid = b"120000", hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        elif stat.S_ISDIR(st.st_mode):
            sub = git_tree_id(full)
            if sub is None:  # git does not record empty folders
                continue
            mode, oid = b"40000", bytes.fromhex(sub)
        elif stat.S_ISREG(st.st_mode):
            with open(full, "rb") as f:
                data = f.read()
            mode = b"100755" if st.st_mode & stat.S_IXUSR else b"100644"
            oid = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        else:
            continue
        # git sorts tree entries by name, comparing folders as if they ended in '/'.
        key = name.encode() + (b"/" if mode == b"40000" else b"")
        entries.append((key, mode + b" " + name.encode() + b"\0" + oid))
    if not entries:
        return None
    body = b"".join(e for _, e in sorted(entries))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def cmake_quote(value):
    s = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace(";", "\\;")
    return f'"{s}"'


def cmake_list(values):
    return " ".join(cmake_quote(v) for v in values)


def check_keys(table, allowed, where):
    unknown = sorted(set(table) - allowed)
    if unknown:
        fail(f"unknown key(s) {', '.join(unknown)} in {where}")


def cmd_info(source_dir, out):
    toml_path = os.path.join(source_dir, "build.toml")
    try:
        with open(toml_path, "rb") as f:
            cfg = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{toml_path}: {e}")
    general = cfg.get("general")
    if not isinstance(general, dict):
        fail(f"{toml_path}: missing [general]")
    check_keys(general, GENERAL_KEYS, "[general]")
    for key in ("name", "version", "license", "backends"):
        if key not in general:
            fail(f"{toml_path}: [general] needs `{key}`")
    if general.get("edition") != 5:
        fail(f"{toml_path}: only edition = 5 is supported")
    name = general["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        fail(f"{toml_path}: invalid kernel name {name!r}")
    version = general["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        fail(f"{toml_path}: `version` must be a non-negative integer")
    if "torch" not in cfg:
        fail(f"{toml_path}: only [torch] (AOT Torch extension) kernels are supported")
    torch = cfg["torch"]
    check_keys(torch, TORCH_KEYS, "[torch]")
    if "stable-abi" in torch:
        fail(f"{toml_path}: [torch] stable-abi is not supported by this builder")
    extra = sorted(set(cfg) - {"general", "torch", "kernel"})
    if extra:
        fail(f"{toml_path}: unknown section(s) {', '.join(extra)}")
    lines = [
        f"set(HK_NAME {cmake_quote(name)})",
        f"set(HK_PYNAME {cmake_quote(name.replace('-', '_'))})",
        f"set(HK_VERSION {version})",
        f"set(HK_LICENSE {cmake_quote(general['license'])})",
        f"set(HK_BACKENDS {cmake_list(general['backends'])})",
        f"set(HK_TORCH_SRC {cmake_list(torch.get('src', []))})",
        f"set(HK_TORCH_INCLUDE {cmake_list(torch.get('include', []))})",
        f"set(HK_TORCH_CXX_FLAGS {cmake_list(torch.get('cxx-flags', []))})",
        f"set(HK_TORCH_PYEXT {cmake_list(torch.get('pyext', ['py', 'pyi']))})",
    ]
    kernels = cfg.get("kernel", {})
    names = []
    for kname, k in kernels.items():
        if not re.match(r"^[A-Za-z0-9_]+$", kname):
            fail(f"{toml_path}: kernel section name {kname!r} must be [A-Za-z0-9_]+")
        backend = k.get("backend")
        if backend not in KERNEL_EXTRA:
            fail(f"{toml_path}: [kernel.{kname}] has unknown backend {backend!r}")
        check_keys(k, KERNEL_COMMON | KERNEL_EXTRA[backend], f"[kernel.{kname}]")
        for key in ("depends", "src"):
            if key not in k:
                fail(f"{toml_path}: [kernel.{kname}] needs `{key}`")
        names.append(kname)
        p = f"HK_KERNEL_{kname}_"
        lines += [
            f"set({p}BACKEND {cmake_quote(backend)})",
            f"set({p}SRC {cmake_list(k['src'])})",
            f"set({p}INCLUDE {cmake_list(k.get('include', []))})",
            f"set({p}CXX_FLAGS {cmake_list(k.get('cxx-flags', []))})",
            f"set({p}CUDA_CAPABILITIES {cmake_list(k.get('cuda-capabilities', []))})",
            f"set({p}CUDA_FLAGS {cmake_list(k.get('cuda-flags', []))})",
        ]
    lines.append(f"set(HK_KERNELS {cmake_list(names)})")
    lines.append(f"set(HK_TREE_ID {git_tree_id(source_dir) or '0' * 40})")
    write_if_changed(out, "\n".join(lines) + "\n")


def cmd_metadata(out, args):
    import argparse
    p = argparse.ArgumentParser(prog="hub_kernel.py metadata")
    p.add_argument("--name", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--version", required=True, type=int)
    p.add_argument("--license", required=True)
    p.add_argument("--backend", required=True)
    p.add_argument("--arch", action="append", default=[])
    a = p.parse_args(args)
    backend = {"type": a.backend}
    if a.arch:
        backend["archs"] = sorted(set(a.arch))
    meta = {"name": a.name, "id": a.id, "version": a.version, "license": a.license,
            "python-depends": [], "kernel-depends": [], "backend": backend}
    write_if_changed(out, json.dumps(meta, indent=2))


OPS_TEMPLATE = '''import torch
from . import {ns}

ops = torch.ops.{ns}


def add_op_namespace_prefix(op_name: str):
    """
    Prefix op by namespace.
    """
    return f"{ns}::{{op_name}}"
'''


def cmd_ops(out, ns):
    if not re.match(r"^_[a-z0-9_]+$", ns):
        fail(f"invalid op namespace {ns!r}")
    write_if_changed(out, OPS_TEMPLATE.format(ns=ns))


def main(argv):
    if len(argv) >= 3 and argv[0] == "info":
        cmd_info(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "metadata":
        cmd_metadata(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "ops":
        cmd_ops(argv[1], argv[2])
    elif len(argv) in (2, 3) and argv[0] == "uid":
        tree = argv[1]
        if len(argv) == 2 or not argv[2]:
            print(tree[:7])
        else:
            print(hashlib.sha1(f"{tree}:{argv[2]}".encode()).hexdigest()[:7])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
