// loader_bench: one cold measurement per process (a kernel loads once per
// process), driven by bench/loader_bench.py which runs it many times.
//
//   loader_bench load_kernel LOCKFILE REPO_ID OP   kernel_lock::load_kernel (lock lookup,
//                                                  selection, verify into sealed memory,
//                                                  dlopen from memfd) + first call of OP
//   loader_bench dlopen SO_PATH NAMESPACE OP       plain dlopen(RTLD_NOW) of the same .so
//                                                  + dispatcher lookup + first call of OP
//   loader_bench reload LOCKFILE REPO_ID N         load_kernel once (cold), then N more times
//                                                  in the same process: the library is loaded
//                                                  already, so each reload is the lock, the
//                                                  read + hash into sealed memory and, for a
//                                                  variant the lock pins a signer for, the
//                                                  signature and kernel digest check. Prints
//                                                  {"first_ms", "reload_median_ms", "reload_min_ms",
//                                                  "provenance"}.
//
// OP is called as "(Tensor! out, Tensor input) -> ()" on a 16x1024 fp32 CPU
// tensor. Prints one JSON line: {"load_ms": .., "first_call_ms": .., "total_ms": ..}.
// Timing starts after libtorch is loaded (process start-up is not counted),
// as the Python measurement starts after `import torch, kernels`.
#include <dlfcn.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <filesystem>
#include <string>

#include <kernel_lock/core/error.hpp>
#include <kernel_lock/loader/loader.hpp>

namespace {
using Clock = std::chrono::steady_clock;
double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// The `reload` mode (see the top of this file).
int reload(const char* lock, const char* repo_id, int n) {
  kernel_lock::LoadOptions options;
  options.backend = "cpu";
  auto t0 = Clock::now();
  auto kernel = kernel_lock::load_kernel(repo_id, lock, options);
  const double first = ms(t0, Clock::now());
  std::vector<double> times;
  for (int i = 0; i < n; ++i) {
    auto a = Clock::now();
    (void)kernel_lock::load_kernel(repo_id, lock, options);
    times.push_back(ms(a, Clock::now()));
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"first_ms\": %.3f, \"reload_median_ms\": %.4f, \"reload_min_ms\": %.4f, \"provenance\": \"%s\"}\n",
              first, times[times.size() / 2], times.front(), kernel.provenance().c_str());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: loader_bench load_kernel LOCK REPO OP | loader_bench dlopen SO NS OP | "
                         "loader_bench reload LOCK REPO N\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::string op = argv[4];
  if (mode == "reload") {
    try {
      return reload(argv[2], argv[3], std::max(1, std::atoi(argv[4])));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  }
  auto x = at::randn({16, 1024});
  auto out = at::empty_like(x);
  try {
    if (mode == "load_kernel") {
      kernel_lock::LoadOptions options;
      options.backend = "cpu";
      auto t0 = Clock::now();
      auto kernel = kernel_lock::load_kernel(argv[3], argv[2], options);
      auto t1 = Clock::now();
      kernel.call<void(at::Tensor&, const at::Tensor&)>(op, out, x);
      auto t2 = Clock::now();
      std::printf("{\"load_ms\": %.3f, \"first_call_ms\": %.3f, \"total_ms\": %.3f}\n", ms(t0, t1), ms(t1, t2),
                  ms(t0, t2));
    } else if (mode == "dlopen") {
      // The same PyModule_Create2 shim the loader uses, loaded before the clock
      // starts: without it a -z now Hub kernel cannot be dlopened at all.
      if (dlsym(RTLD_DEFAULT, "PyModule_Create2") == nullptr) {
        Dl_info info{};
        dladdr(reinterpret_cast<void*>(&kernel_lock::detect_environment), &info);
        auto shim = std::filesystem::path(info.dli_fname).parent_path() / "libkernel_lock_pyshim.so";
        if (dlopen(shim.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
          std::fprintf(stderr, "shim: %s\n", dlerror());
          return 1;
        }
      }
      auto t0 = Clock::now();
      void* handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        std::fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
      }
      auto h = c10::Dispatcher::singleton().findSchemaOrThrow((std::string(argv[3]) + "::" + op).c_str(), "");
      auto t1 = Clock::now();
      h.typed<void(at::Tensor&, const at::Tensor&)>().call(out, x);
      auto t2 = Clock::now();
      std::printf("{\"load_ms\": %.3f, \"first_call_ms\": %.3f, \"total_ms\": %.3f}\n", ms(t0, t1), ms(t1, t2),
                  ms(t0, t2));
    } else {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
