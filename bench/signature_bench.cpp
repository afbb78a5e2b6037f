// What signature checks add to install and verify, side by side in one run:
// the same bundle installed and verified with its lock's signature records
// (signature over metadata.json by the pinned signer, then the kernel digest)
// and without them (lock hashes only). Prints a markdown table.
//   signature_bench --signed-bundle B --signed-lock L --plain-bundle B2 --plain-lock L2
//                   --trusted-root R --dir SCRATCH [--runs N]
// bench/signature_bench.py prepares the inputs from the fixture Hub.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/bundle/verify.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/trust_store.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double time_ms(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return ms_since(t0);
}

struct Args {
  std::map<std::string, std::string> values;
  int runs = 15;
  std::string get(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) {
      std::fprintf(stderr, "signature_bench: missing %s\n", key.c_str());
      std::exit(2);
    }
    return it->second;
  }
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key == "--runs")
      a.runs = std::atoi(argv[i + 1]);
    else
      a.values[key] = argv[i + 1];
  }
  return a;
}

struct Timings {
  std::vector<double> install, verify_cache, verify_bundle;
};

// One round: install into a fresh cache (no fsync), verify it, verify the bundle.
void round(const fs::path& bundle, const Lockfile& lock, const trust::CapturedTrustRoot& root, const fs::path& cache,
           Timings& out) {
  std::error_code ec;
  remove_tree(cache, ec);
  SignatureOptions sig;
  sig.trusted_root = root;
  sig.now = root.captured_at;
  InstallOptions io;
  io.cache_dir = cache;
  io.lock = lock;
  io.durable = false;
  io.signatures = sig;
  out.install.push_back(time_ms([&] { install_bundle(bundle, io); }));
  VerifyOptions vo;
  vo.signatures = sig;
  out.verify_cache.push_back(time_ms([&] {
    if (!verify_cache(lock, cache, vo).ok()) throw Error(ErrorCode::integrity, "verify_cache failed");
  }));
  out.verify_bundle.push_back(time_ms([&] {
    if (!verify_bundle(lock, bundle, vo).ok()) throw Error(ErrorCode::integrity, "verify_bundle failed");
  }));
}

std::size_t signed_variant_count(const Lockfile& lock) {
  std::size_t n = 0;
  for (const auto& k : lock.kernels)
    for (const auto& [name, v] : k.variants) n += v.signature.has_value();
  return n;
}

// Per signed variant of an installed cache: the signature alone, the kernel digest alone.
void breakdown(const Lockfile& lock, const fs::path& cache, const trust::Verifier& verifier, int runs) {
  std::printf("\n| signed variant | files | bytes | signature (ms) | kernel digest (ms) |\n|---|---:|---:|---:|---:|\n");
  for (const auto& k : lock.kernels)
    for (const auto& [name, v] : k.variants) {
      if (!v.signature) continue;
      const fs::path dir = cache_repo_paths(cache, "kernel", k.repo_id).snapshot(k.sha) / "build" / name;
      const std::string metadata = read_file(dir / "metadata.json");
      const std::string bundle = read_file(dir / "metadata.json.sigstore");
      const auto policy = trust::pinned_policy(*v.signature);
      std::vector<double> sig, digest;
      for (int i = 0; i < runs; ++i) {
        sig.push_back(time_ms([&] {
          const auto* p = reinterpret_cast<const std::uint8_t*>(metadata.data());
          if (!verifier.verify_blob({p, metadata.size()}, bundle, policy).verified)
            throw Error(ErrorCode::integrity, "signature did not verify");
        }));
        digest.push_back(time_ms([&] {
          if (!trust::check_kernel_digest(dir).matches()) throw Error(ErrorCode::integrity, "digest");
        }));
      }
      std::uint64_t bytes = 0;
      for (const auto& f : v.files) bytes += f.size;
      std::printf("| %s %s | %zu | %llu | %.3f | %.3f |\n", k.repo_id.c_str(), name.c_str(), v.files.size(),
                  static_cast<unsigned long long>(bytes), median(sig), median(digest));
    }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parse_args(argc, argv);
    const fs::path dir = args.get("--dir");
    const Lockfile signed_lock = read_lockfile(args.get("--signed-lock"));
    const Lockfile plain_lock = read_lockfile(args.get("--plain-lock"));
    const fs::path signed_bundle = args.get("--signed-bundle");
    const fs::path plain_bundle = args.get("--plain-bundle");
    const auto root = trust::read_trust_root_file(args.get("--trusted-root"), trust::file_modification_time(args.get("--trusted-root")));
    const std::size_t n = signed_variant_count(signed_lock);
    if (n == 0 || signed_variant_count(plain_lock) != 0) {
      std::fprintf(stderr, "signature_bench: the signed lock must pin signatures, the plain one none\n");
      return 2;
    }
    Timings with, without;
    round(signed_bundle, signed_lock, root, dir / "warm", with);  // warm the page cache
    with = {};
    for (int i = 0; i < args.runs; ++i) {  // interleaved: both see the same machine state
      round(plain_bundle, plain_lock, root, dir / "plain", without);
      round(signed_bundle, signed_lock, root, dir / "signed", with);
    }
    std::printf("| step (median of %d, %zu signed variants) | lock hashes only (ms) | + signatures (ms) | added per signed variant (ms) |\n",
                args.runs, n);
    std::printf("|---|---:|---:|---:|\n");
    auto row = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b) {
      std::printf("| %s | %.2f | %.2f | %.3f |\n", what, median(a), median(b),
                  (median(b) - median(a)) / static_cast<double>(n));
    };
    row("install (no fsync)", without.install, with.install);
    row("verify (cache)", without.verify_cache, with.verify_cache);
    row("verify --bundle", without.verify_bundle, with.verify_bundle);
    const double parse_ms = time_ms([&] { trust::Verifier v(trust::parse_trusted_root(root.json)); });
    std::vector<double> store_ms;
    for (int i = 0; i < args.runs; ++i) {
      std::error_code ec;
      remove_tree(dir / "store", ec);
      fs::create_directories(dir / "store");
      store_ms.push_back(time_ms([&] { trust::write_trust_store(dir / "store", root); }));
    }
    std::printf("\nonce per install/verify, not per variant: parse the trusted root and build the Verifier %.3f ms; "
                "install only: store the carried root in the cache's trust store (two atomic, fsynced writes) %.3f ms\n",
                parse_ms, median(store_ms));
    const trust::Verifier verifier(trust::parse_trusted_root(root.json));
    breakdown(signed_lock, dir / "signed", verifier, args.runs);
    std::error_code ec;
    for (const char* sub : {"warm", "plain", "signed", "store"}) remove_tree(dir / sub, ec);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "signature_bench: %s\n", e.what());
    return 1;
  }
}
