// hash_bench: times kernel_lock's file hashing for bench/hash_bench.sh.
//   hash_bench file PATH [--kind sha256|git-sha1] [--repeat N]
//       hashes one file N times (default 3) on one thread; prints the digest and
//       the best wall time.
//   hash_bench many [--threads N] [--kind sha256|git-sha1] [--repeat N] PATH...
//       hashes all PATHs with digest_files_hex on N threads (0 = all cores).
// Output: "digest=<hex>" (file mode) then "seconds=<best>" and "bytes=<total>".
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace {

int usage() {
  std::cerr << "usage: hash_bench file PATH [--kind sha256|git-sha1] [--repeat N]\n"
               "       hash_bench many [--threads N] [--kind sha256|git-sha1] [--repeat N] PATH...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kernel_lock;
  using clock = std::chrono::steady_clock;
  if (argc < 3) return usage();
  const std::string_view mode = argv[1];
  unsigned threads = 0;
  int repeat = 3;
  DigestKind kind = DigestKind::lfs_sha256;
  std::vector<std::filesystem::path> paths;
  try {
    for (int i = 2; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if ((arg == "--threads" || arg == "--repeat" || arg == "--kind") && i + 1 < argc) {
        const std::string value = argv[++i];
        if (arg == "--threads") threads = static_cast<unsigned>(std::stoul(value));
        else if (arg == "--repeat") repeat = std::max(1, std::stoi(value));
        else kind = parse_digest_kind(value);
      } else {
        paths.emplace_back(arg);
      }
    }
    if (paths.empty() || (mode != "file" && mode != "many") || (mode == "file" && paths.size() != 1)) return usage();
    std::uintmax_t bytes = 0;
    for (const auto& p : paths) bytes += std::filesystem::file_size(p);
    double best = 1e300;
    std::string digest;
    for (int r = 0; r < repeat; ++r) {
      const auto start = clock::now();
      if (mode == "file") {
        digest = file_digest_hex(paths.front(), kind);
      } else {
        std::vector<FileDigestRequest> requests;
        requests.reserve(paths.size());
        for (const auto& p : paths) requests.push_back({p, kind});
        digest = digest_files_hex(requests, threads).back();
      }
      best = std::min(best, std::chrono::duration<double>(clock::now() - start).count());
    }
    if (mode == "file") std::cout << "digest=" << digest << "\n";
    std::cout << "seconds=" << best << "\nbytes=" << bytes << "\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "hash_bench: " << e.what() << "\n";
    return exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::cerr << "hash_bench: " << e.what() << "\n";
    return 1;
  }
}
