// bundle_bench: bundle / install / verify throughput (MB/s) and bundle size
// against `tar --zstd` of the same files, printed as one markdown table.
//
//   bundle_bench [--mb N] [--dir DIR] [--threads T] [--level L]
//
// Synthetic kernel: 4 variants, each one large shared object of mixed random /
// repetitive 4 KiB blocks (compresses roughly like machine code) plus small
// Python files; N MiB of content in total (default 1024). All reads come from a
// warm page cache (files were just written). Install runs twice: without fsync
// (page-cache speed) and with an fsync per blob (the default, crash-durable).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <cstring>
#include <thread>
#include <algorithm>
#include <string>
#include <vector>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/bundle/verify.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Writes `size` bytes of semi-compressible data; returns its sha256.
std::string write_payload(const fs::path& path, std::uint64_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> dictionary;
  for (int i = 0; i < 64; ++i) {
    std::string block(4096, '\0');
    for (auto& c : block) c = static_cast<char>(rng() % 23);  // low-entropy "code"
    dictionary.push_back(block);
  }
  Hasher hasher(Hasher::Algorithm::sha256);
  std::ofstream out(path, std::ios::binary);
  std::string block(4096, '\0');
  for (std::uint64_t done = 0; done < size; done += block.size()) {
    if (rng() % 3 == 0) {
      for (std::size_t i = 0; i < block.size(); i += 8) {
        auto r = rng();
        std::memcpy(block.data() + i, &r, 8);
      }
    } else {
      block = dictionary[rng() % dictionary.size()];
    }
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), size - done));
    out.write(block.data(), static_cast<std::streamsize>(n));
    hasher.update(std::string_view(block.data(), n));
  }
  return hasher.finish_hex();
}

int run_shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::cerr << "bundle_bench: command failed (" << rc << "): " << cmd << "\n";
  return rc;
}

struct Row {
  std::string what;
  double seconds;
  std::uint64_t bytes;
  std::uint64_t size;  // archive size, 0 when n/a
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mb = 1024;
  fs::path dir;
  int threads = 0;
  int level = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--mb") mb = std::stoull(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--threads") threads = std::stoi(argv[i + 1]);
    else if (a == "--level") level = std::stoi(argv[i + 1]);
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "kl-bundle-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return 1;
    dir = tmpl;
  }
  try {
    // 1. A source cache holding one kernel with 4 variants.
    const fs::path src = dir / "src-cache";
    const std::string repo_id = "bench/big";
    const std::string sha(40, 'c');
    auto repo = cache_repo_paths(src, "kernel", repo_id);
    fs::create_directories(repo.blobs());
    LockedKernel lk;
    lk.repo_id = repo_id;
    lk.sha = sha;
    std::uint64_t content = 0;
    const char* variants[] = {"torch211-cxx11-cpu-x86_64-linux", "torch211-cxx11-cu130-x86_64-linux",
                              "torch212-cxx11-cu130-x86_64-linux", "torch-cpu"};
    unsigned seed = 1;
    for (const char* variant : variants) {
      LockedVariant lv;
      std::vector<VariantFileDigest> digests;
      auto add = [&](const std::string& rel, const fs::path& tmp, const std::string& digest, DigestKind kind) {
        auto size = fs::file_size(tmp);
        fs::rename(tmp, repo.blob(digest));
        const std::string repo_path = "build/" + std::string(variant) + "/" + rel;
        fs::path link = repo.snapshot(sha) / repo_path;
        fs::create_directories(link.parent_path());
        fs::create_symlink(snapshot_link_target(repo_path, digest), link);
        digests.push_back({rel, digest});
        lv.files.push_back(LockedFile{rel, size, digest, kind});
        content += size;
      };
      const fs::path tmp = dir / "tmp.bin";
      std::string so_digest = write_payload(tmp, (mb << 20) / 4, seed++);
      add(std::string("_big_") + std::to_string(seed) + ".abi3.so", tmp, so_digest, DigestKind::lfs_sha256);
      for (int i = 0; i < 20; ++i) {
        std::string text = "# module " + std::to_string(i) + " of " + variant + "\n" + std::string(2000 + i, 'x') + "\n";
        { std::ofstream(tmp, std::ios::binary) << text; }
        add("pkg/mod" + std::to_string(i) + ".py", tmp, git_blob_sha1_hex(text), DigestKind::git_sha1);
      }
      std::sort(lv.files.begin(), lv.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
      lv.hash = git_lfs_concat_hash(digests);
      lk.variants[variant] = lv;
    }
    Lockfile lock;
    lock.kernels.push_back(lk);

    std::vector<Row> rows;
    // 2. kernel-lock bundle.
    const fs::path bundle = dir / "bundle.tar.zst";
    BundleOptions bo;
    bo.threads = threads;
    bo.compression_level = level;
    ::sync();
    auto t0 = std::chrono::steady_clock::now();
    auto summary = write_bundle(plan_bundle(lock, src), bundle, bo);
    rows.push_back({"kernel-lock bundle (zstd -" + std::to_string(level) + ", MT)", seconds_since(t0), content,
                    summary.archive_bytes});

    // 3. kernel-lock install, page-cache speed and durable.
    for (bool durable : {false, true}) {
      const fs::path cache = dir / (durable ? "cache-durable" : "cache-fast");
      InstallOptions io;
      io.cache_dir = cache;
      io.durable = durable;
      ::sync();  // each step starts with no dirty-page backlog of the previous one
    t0 = std::chrono::steady_clock::now();
      install_bundle(bundle, io);
      rows.push_back({std::string("kernel-lock install") + (durable ? " (fsync per blob)" : " (no fsync)"),
                      seconds_since(t0), content, 0});
    }
    // 4. kernel-lock verify (cache).
    ::sync();  // each step starts with no dirty-page backlog of the previous one
    t0 = std::chrono::steady_clock::now();
    auto report = verify_cache(lock, dir / "cache-fast");
    rows.push_back({"kernel-lock verify (cache)", seconds_since(t0), content, 0});
    if (!report.ok()) std::cerr << "bundle_bench: verify reported problems!\n";
    ::sync();  // each step starts with no dirty-page backlog of the previous one
    t0 = std::chrono::steady_clock::now();
    verify_bundle(lock, bundle);
    rows.push_back({"kernel-lock verify --bundle", seconds_since(t0), content, 0});

    // 5. tar --zstd of the same blobs, same level, all cores (when zstd(1) exists).
    if (std::system("command -v zstd >/dev/null 2>&1") != 0) {
      std::cerr << "bundle_bench: zstd(1) not found: the tar --zstd rows are left out\n";
    } else {
      const fs::path tarball = dir / "plain.tar.zst";
      const std::string zstd = "zstd -" + std::to_string(level) + " -T" + std::to_string(threads) + " -q";
      ::sync();  // each step starts with no dirty-page backlog of the previous one
      t0 = std::chrono::steady_clock::now();
      run_shell("tar -I '" + zstd + "' -cf '" + tarball.string() + "' -C '" + repo.blobs().string() + "' .");
      rows.push_back({"tar --zstd -c (" + zstd + ")", seconds_since(t0), content, fs::file_size(tarball)});
      fs::create_directories(dir / "untar");
      ::sync();  // each step starts with no dirty-page backlog of the previous one
      t0 = std::chrono::steady_clock::now();
      run_shell("tar -I 'zstd -d -T0 -q' -xf '" + tarball.string() + "' -C '" + (dir / "untar").string() + "'");
      rows.push_back({"tar --zstd -x (no verification)", seconds_since(t0), content, 0});
    }

    std::printf("\nContent: %.1f MiB in %zu files (%zu distinct blobs); %u hardware threads\n\n",
                static_cast<double>(content) / 1048576.0, summary.files, summary.blobs,
                std::thread::hardware_concurrency());
    std::printf("| operation | seconds | MB/s (content) | archive MiB | ratio |\n|---|---:|---:|---:|---:|\n");
    for (const auto& r : rows) {
      std::printf("| %s | %.3f | %.0f | %s | %s |\n", r.what.c_str(), r.seconds,
                  static_cast<double>(r.bytes) / 1e6 / r.seconds,
                  r.size ? std::to_string(static_cast<double>(r.size) / 1048576.0).substr(0, 7).c_str() : "",
                  r.size ? std::to_string(static_cast<double>(content) / static_cast<double>(r.size)).substr(0, 4).c_str() : "");
    }
  } catch (const std::exception& e) {
    std::cerr << "bundle_bench: " << e.what() << "\n";
    if (own_dir) fs::remove_all(dir);
    return 1;
  }
  if (own_dir) fs::remove_all(dir);
  return 0;
}
