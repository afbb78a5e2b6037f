"""The variant flags --torch, --cuda, --arch and --os behave the same on every
command that takes them (cli/filter_flags.hpp): repeatable and comma lists are
one list, and each flag narrows `verify` and `bundle` the same way. A lock of
four variants of one kernel, with only one of them in the HF cache: a filter
that selects only that one passes, any other fails on the missing variants."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from hf_cache_helpers import install, write_lock

IN_CACHE = "torch211-cxx11-cu130-x86_64-linux"
NOT_IN_CACHE = ["torch210-cxx11-cu128-x86_64-linux", "torch211-cxx11-cu130-aarch64-linux", "torch211-cpu-aarch64-darwin"]
REPO = "kernels-test/filters"


def kl(bin_path, *args, env=None):
    return subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path):
    """(lock, cache, env): all four variants locked, only IN_CACHE installed."""
    cache, elsewhere = tmp_path / "hub", tmp_path / "elsewhere"
    entry = None
    for name in [IN_CACHE, *NOT_IN_CACHE]:
        variant = tmp_path / "variants" / name
        variant.mkdir(parents=True)
        (variant / "__init__.py").write_text(f"# {name}\n")
        (variant / f"_ops_{name.replace('-', '_')}.abi3.so").write_bytes(name.encode() * 3)
        e = install(variant, cache if name == IN_CACHE else elsewhere, repo_id=REPO)
        if entry is None:
            entry = e
        else:
            entry["variants"].update(e["variants"])
            entry["files"].update(e["files"])
    lock = write_lock(tmp_path / "kernel.lock", [entry])
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_ENDPOINT="http://127.0.0.1:9")
    env.pop("KERNELS_CACHE", None)
    return lock, cache, env


def verify(bin_path, project, *flags):
    lock, cache, env = project
    return kl(bin_path, "verify", "--lockfile", lock, "--cache", cache, "--json", *flags, env=env)


SELECT_ONLY_IN_CACHE = [
    ["--torch", "2.11", "--arch", "x86_64"],
    ["--cuda", "13.0", "--arch", "x86_64"],
    ["--os", "linux", "--arch", "x86_64", "--torch", "2.11"],
    ["--arch", "x86_64,", "--torch", "2.11,"],  # empty list items are ignored
]
SELECT_MORE = [
    [],
    ["--os", "linux"],
    ["--os", "darwin"],
    ["--arch", "x86_64", "--torch", "2.10,2.11"],
    ["--arch", "x86_64", "--cuda", "12.8,13.0"],
    ["--torch", "2.11", "--arch", "x86_64,aarch64"],
]


@pytest.mark.parametrize("flags", SELECT_ONLY_IN_CACHE, ids=" ".join)
def test_verify_filter_selects_only_the_cached_variant(kernel_lock_bin, project, flags):
    proc = verify(kernel_lock_bin, project, *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("flags", SELECT_MORE, ids=lambda f: " ".join(f) or "no-filter")
def test_verify_filter_keeping_a_missing_variant_fails(kernel_lock_bin, project, flags):
    proc = verify(kernel_lock_bin, project, *flags)
    assert proc.returncode == 6, proc.stdout + proc.stderr


def test_comma_list_equals_repeated_flag(kernel_lock_bin, project):
    comma = verify(kernel_lock_bin, project, "--torch", "2.10,2.11", "--os", "linux,darwin")
    repeated = verify(kernel_lock_bin, project, "--torch", "2.10", "--torch", "2.11", "--os", "linux", "--os", "darwin")
    assert comma.returncode == repeated.returncode == 6
    assert json.loads(comma.stdout) == json.loads(repeated.stdout)
    # The missing 2.10 variant is reported; the darwin one (cpu, 2.11) as well; nothing else.
    assert "torch210-cxx11-cu128-x86_64-linux" in comma.stdout
    assert "torch211-cpu-aarch64-darwin" in comma.stdout


def test_bundle_takes_the_same_flags(kernel_lock_bin, project, tmp_path):
    lock, cache, env = project
    out = tmp_path / "b.tar.zst"
    base = ["bundle", "--lockfile", lock, "--cache", cache, "--offline", "-o", out]
    ok = kl(kernel_lock_bin, *base, "--os", "linux", "--arch", "x86_64,", "--cuda", "13.0", "--torch", "2.11", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out.unlink()
    again = kl(kernel_lock_bin, *base, "--os", "linux", "--arch", "x86_64", "--cuda", "13.0", "--torch", "2.11", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    missing = kl(kernel_lock_bin, *base, "--os", "linux,darwin", "--arch", "x86_64", env=env)
    assert missing.returncode != 0 and "torch210-cxx11-cu128-x86_64-linux" in missing.stderr, missing.stderr


@pytest.mark.parametrize("command", ["resolve", "bundle", "verify", "variants"])
def test_every_command_lists_the_four_flags(kernel_lock_bin, command):
    help_text = kl(kernel_lock_bin, command, "--help").stdout
    for flag in ("--torch", "--cuda", "--arch", "--os"):
        assert flag in help_text, (command, flag)
    if command != "variants":
        assert help_text.count("repeatable, or a comma list") == 4


def test_variants_takes_one_environment(kernel_lock_bin):
    names = [IN_CACHE, *NOT_IN_CACHE]
    via_cuda = kl(kernel_lock_bin, "variants", "--json", "--torch", "2.11", "--cuda", "13.0", "--arch", "x86_64",
                  "--os", "linux", *names)
    via_backend = kl(kernel_lock_bin, "variants", "--json", "--torch", "2.11", "--backend", "cuda",
                     "--backend-version", "13.0", "--arch", "x86_64", "--os", "linux", *names)
    assert via_cuda.returncode == 0, via_cuda.stderr
    assert json.loads(via_cuda.stdout) == json.loads(via_backend.stdout)
    assert json.loads(via_cuda.stdout)["selected"] == IN_CACHE
    several = kl(kernel_lock_bin, "variants", "--torch", "2.10,2.11", *names)
    assert several.returncode == 2 and "--torch takes one value" in several.stderr, several.stderr
    clash = kl(kernel_lock_bin, "variants", "--cuda", "13.0", "--backend", "rocm", *names)
    assert clash.returncode == 2 and "exclude each other" in clash.stderr, clash.stderr
