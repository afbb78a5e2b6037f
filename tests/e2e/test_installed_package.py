"""The installed CMake package: `cmake --install` into an empty prefix, then a
separate project (examples/load_kernel) finds it with find_package(kernel_lock),
builds against its headers and libraries only, and loads our activation kernel
from an HF cache with the installed loader (not the build tree's)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch.utils

from hf_cache_helpers import REPO_ID, install, write_lock

BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")).resolve()

SOURCE_DIR = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))


def run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert proc.returncode == 0, f"{cmd[:3]} failed ({proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_find_package_build_and_load(tmp_path: Path):
    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    # Skips this test (not the module) without the example and our kernels built.
    from test_loader_activation import VARIANT_DIR
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix])
    for rel in ("lib/cmake/kernel_lock/kernel_lockConfig.cmake", "include/kernel_lock/loader/loader.hpp",
                "include/kernel_lock/hub/hub_fetcher.hpp", "include/kernel_lock/core/lockfile.hpp", "bin/kernel-lock"):
        assert (prefix / rel).exists(), rel
    assert any(prefix.glob("lib*/libkernel_lock_loader.so*")) and any(prefix.glob("lib*/libkernel_lock_pyshim.so"))
    version = run([prefix / "bin" / "kernel-lock", "--version"]).stdout
    assert version.strip()

    # A consumer project that knows only the prefix (and torch).
    build = tmp_path / "consumer"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", SOURCE_DIR / "examples" / "load_kernel", "-B", build, *generator,
         f"-DCMAKE_PREFIX_PATH={prefix};{torch.utils.cmake_prefix_path}"])
    cache_text = (build / "CMakeCache.txt").read_text()
    assert f"kernel_lock_DIR:PATH={prefix}/lib" in cache_text  # found the installed package, not the build tree
    run(["cmake", "--build", build])
    example = build / "load_kernel_example"
    ldd = run(["ldd", example]).stdout
    loader_line = next(line for line in ldd.splitlines() if "libkernel_lock_loader" in line)
    assert str(prefix) in loader_line, loader_line

    cache = tmp_path / "hub"
    lock = write_lock(tmp_path / "kernel.lock", [install(VARIANT_DIR, cache)])
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("KERNEL_LOCK_PYSHIM", None)  # the installed shim next to the installed loader
    proc = subprocess.run([str(example), "--backend", "cpu", str(lock), REPO_ID], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 mismatches" in proc.stdout and "(locked)" in proc.stdout


# A consumer that asks for the loader component only. CURL and LibArchive are
# disabled for its configure: find_package fails if the loader asks for them.
LOADER_ONLY_CMAKE = """cmake_minimum_required(VERSION 3.25)
project(loader_only_consumer LANGUAGES C CXX)
find_package(kernel_lock REQUIRED COMPONENTS loader)
foreach(_t kernel_lock::hub kernel_lock::bundle kernel_lock::mirror kernel_lock::resolve)
  if(TARGET ${_t})
    message(FATAL_ERROR "COMPONENTS loader also loaded ${_t}")
  endif()
endforeach()
add_executable(app main.cpp)
target_compile_features(app PRIVATE cxx_std_20)
target_link_libraries(app PRIVATE kernel_lock::loader)
"""

LOADER_ONLY_MAIN = r"""#include <cstdio>
#include <string>
#include <vector>

#include <kernel_lock/core/error.hpp>
#include <kernel_lock/core/lockfile.hpp>
#include <kernel_lock/loader/loader.hpp>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    const kernel_lock::Lockfile lock = kernel_lock::read_lockfile(argv[1]);
    const auto* kernel = lock.find(argv[2]);
    if (!kernel) return 3;
    std::vector<std::string> names;
    for (const auto& [name, variant] : kernel->variants) names.push_back(name);
    kernel_lock::LoadOptions options;
    auto env = kernel_lock::Environment::host(kernel_lock::Version2{2, 11}, "cpu", std::nullopt);
    env.arch = "x86_64";
    env.os = "linux";
    options.environment = env;
    const auto ranked = kernel_lock::select_variants_for(names, options, argv[2]);
    std::printf("selected %s of %zu\n", ranked.front().c_str(), names.size());
    return 0;
  } catch (const kernel_lock::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
"""

LOADER_ONLY_LOCK = [{
    "repo_id": "kernels-test/activation", "sha": "a" * 40,
    "variants": {name: {"hash": "sha256-" + "0" * 64, "hash_type": "git_lfs_concat"}
                 for name in ("torch211-cxx11-cu130-x86_64-linux", "torch211-cxx11-cpu-x86_64-linux",
                              "torch211-cxx11-cpu-aarch64-linux", "torch-universal")},
}]


@pytest.fixture(scope="module")
def installed_prefix(tmp_path_factory) -> Path:
    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    if not any((BUILD_DIR / "loader").glob("libkernel_lock_loader.so*")):
        pytest.skip(f"the loader is not built in {BUILD_DIR} (KERNEL_LOCK_BUILD_LOADER=OFF?)")
    prefix = tmp_path_factory.mktemp("installed") / "prefix"
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix])
    return prefix


def configure_consumer(tmp_path: Path, prefix: Path, cmake_text: str, main_text: str = LOADER_ONLY_MAIN,
                       check: bool = True) -> subprocess.CompletedProcess:
    src, build = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(cmake_text)
    (src / "main.cpp").write_text(main_text)
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    cmd = ["cmake", "-S", src, "-B", build, *generator, f"-DCMAKE_PREFIX_PATH={prefix};{torch.utils.cmake_prefix_path}",
           "-DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON", "-DCMAKE_DISABLE_FIND_PACKAGE_LibArchive=ON"]
    if check:
        return run(cmd)
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900)


def test_loader_component_alone(installed_prefix: Path, tmp_path: Path):
    prefix = installed_prefix
    configure_consumer(tmp_path, prefix, LOADER_ONLY_CMAKE)
    build = tmp_path / "build"
    cache_text = (build / "CMakeCache.txt").read_text()
    assert f"kernel_lock_DIR:PATH={prefix}/lib" in cache_text
    assert "CURL_DIR" not in cache_text and "LibArchive_INCLUDE_DIR" not in cache_text
    run(["cmake", "--build", build])
    lock = tmp_path / "kernel.lock"
    lock.write_text(json.dumps(LOADER_ONLY_LOCK, indent=2) + "\n")
    out = run([build / "app", lock, "kernels-test/activation"]).stdout
    assert out.strip() == "selected torch211-cxx11-cpu-x86_64-linux of 4", out

    # The installed loader library needs no network or archive library...
    libs = sorted(prefix.glob("lib*/libkernel_lock_loader.so*"))
    assert libs
    needed = run(["readelf", "-d", libs[0]]).stdout
    assert "(NEEDED)" in needed
    for banned in ("libcurl", "libarchive", "libhttplib", "libnghttp"):
        assert banned not in needed, f"{libs[0].name} needs {banned}:\n{needed}"
    # ... and its export set names none of their CMake packages or targets.
    target_files = sorted(prefix.glob("lib*/cmake/kernel_lock/kernel_lock-loader-targets*.cmake"))
    assert target_files
    for f in target_files:
        text = f.read_text()
        for banned in ("CURL", "LibArchive", "httplib", "kernel_lock::hub", "kernel_lock::bundle"):
            assert banned not in text, f"{f.name} mentions {banned}"


def test_unknown_component_fails_configure(installed_prefix: Path, tmp_path: Path):
    cmake_text = LOADER_ONLY_CMAKE.replace("COMPONENTS loader", "COMPONENTS loader no_such_part")
    proc = configure_consumer(tmp_path, installed_prefix, cmake_text, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "no_such_part" in output and "kernel_lock" in output, output
    assert "loader" in output  # the message lists the installed components
