// install_bundle: cache layout, idempotence, hostile archives, concurrency.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <thread>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/bundle/verify.hpp"
#include "test_bundle_support.hpp"

using namespace kernel_lock;
using namespace kltest;

namespace {

struct Made {
  Lockfile lock;
  fs::path bundle;
};

Made make_bundle(const TempDir& t, const std::string& name, const std::vector<TestKernel>& kernels,
                 const VariantFilter& filter = {}) {
  Made m;
  m.lock = make_cache(t / ("src-" + name), kernels);
  m.bundle = t / (name + ".tar.zst");
  bundle_from(m.lock, t / ("src-" + name), m.bundle, filter);
  return m;
}

InstallOptions into(const fs::path& cache) {
  InstallOptions o;
  o.cache_dir = cache;
  o.durable = false;
  return o;
}

// Every blob in the cache hashes to its name; no snapshot or ref exists.
void check_untouched_except_verified_blobs(const fs::path& cache) {
  if (!fs::exists(cache)) return;
  for (auto it = fs::recursive_directory_iterator(cache); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), cache).generic_string();
    INFO(rel);
    CHECK(rel.find("/snapshots") == std::string::npos);
    CHECK(rel.find("/refs") == std::string::npos);
    CHECK(!rel.starts_with(".kernel-lock-staging"));  // staging removed, and its parent with it
    if (it->is_regular_file() && it->path().parent_path().filename() == "blobs") {
      std::string name = it->path().filename().string();
      std::string content = slurp(it->path());
      CHECK((name.size() == 64 ? sha256_hex(content) : git_blob_sha1_hex(content)) == name);
    }
  }
}

}  // namespace

TEST_CASE("install: HF cache layout that Python reads offline") {
  TempDir t;
  auto kernels = sample_kernels();
  auto made = make_bundle(t, "b", kernels);
  auto s = install_bundle(made.bundle, into(t / "cache"));
  CHECK(s.kernels == 2);
  CHECK(s.variants == 4);
  CHECK(s.variants_changed == 4);

  auto repo = cache_repo_paths(t / "cache", "kernel", "kernels-test/relu");
  CHECK(fs::is_directory(t / "cache" / "kernels--kernels-test--relu"));
  // refs/v1 holds the sha without a newline.
  CHECK(slurp(repo.refs() / "v1") == std::string(40, 'a'));
  CHECK(slurp(cache_repo_paths(t / "cache", "kernel", "kernels-test/gelu").refs() / "v2") == std::string(40, 'b'));
  // No trees/ file.
  CHECK(!fs::exists(repo.root / "trees"));
  // Relative symlinks into blobs, one "../" per level.
  const auto link = repo.snapshot(std::string(40, 'a')) / "build/torch211-cxx11-cpu-x86_64-linux/layers/__init__.py";
  REQUIRE(fs::is_symlink(link));
  CHECK(fs::read_symlink(link).string() == "../../../../../blobs/" + git_blob_sha1_hex("# shared\n"));
  CHECK(slurp(link) == "# shared\n");
  const auto so = repo.snapshot(std::string(40, 'a')) / "build/torch211-cxx11-cpu-x86_64-linux/_relu_cpu_abc1234.abi3.so";
  CHECK(fs::read_symlink(so).filename().string().size() == 64);
  // Lock files sit where huggingface_hub puts them.
  CHECK(fs::exists(t / "cache" / ".locks" / "kernels--kernels-test--relu" / (git_blob_sha1_hex("# shared\n") + ".lock")));

  CHECK(verify_cache(made.lock, t / "cache").ok());

  // Idempotent: a second install changes nothing.
  auto before = tree_snapshot(t / "cache");
  auto again = install_bundle(made.bundle, into(t / "cache"));
  CHECK(again.variants_changed == 0);
  CHECK(tree_snapshot(t / "cache") == before);
}

TEST_CASE("install: zero padding after the tar end-of-archive marker is accepted") {
  TempDir t;
  auto made = make_bundle(t, "b", sample_kernels());
  std::vector<RawEntry> raw;
  for (auto& [name, content] : read_raw_archive(made.bundle)) raw.push_back(RawEntry{name, content});
  const fs::path padded = t / "padded.tar";
  write_raw_archive(padded, raw, /*zstd=*/false);
  spit(padded, slurp(padded) + std::string(20 * 512, '\0'));
  auto s = install_bundle(padded, into(t / "cache"));
  CHECK(s.variants == 4);
  CHECK(verify_cache(made.lock, t / "cache").ok());
}

TEST_CASE("install: a corrupted existing blob is replaced by the verified one") {
  TempDir t;
  auto made = make_bundle(t, "b", sample_kernels());
  install_bundle(made.bundle, into(t / "cache"));
  auto repo = cache_repo_paths(t / "cache", "kernel", "kernels-test/relu");
  const auto blob = repo.blob(git_blob_sha1_hex("# shared\n"));
  fs::remove(blob);
  spit(blob, "# sharet\n");
  CHECK(!verify_cache(made.lock, t / "cache").ok());
  install_bundle(made.bundle, into(t / "cache"));
  CHECK(verify_cache(made.lock, t / "cache").ok());
}

TEST_CASE("install: a forged bundle of an installed commit never replaces it; --repair needs the user's lock") {
  TempDir t;
  auto genuine = make_bundle(t, "genuine", sample_kernels());
  install_bundle(genuine.bundle, into(t / "cache"));
  REQUIRE(verify_cache(genuine.lock, t / "cache").ok());
  const auto installed = tree_snapshot(t / "cache");

  // Self-consistent, same repo and commit, other bytes: its embedded lock matches its files.
  auto kernels = sample_kernels();
  kernels[0].variants["torch211-cxx11-cpu-x86_64-linux"]["_ops.py"] = "import os\nos.system('id')\n";
  auto forged = make_bundle(t, "forged", kernels);
  try {
    install_bundle(forged.bundle, into(t / "cache"));
    FAIL("expected the forged bundle to be refused");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    const std::string what = e.what();
    CHECK(what.find(forged.bundle.string()) != std::string::npos);
    CHECK(what.find("snapshots/" + std::string(40, 'a') + "/build/torch211-cxx11-cpu-x86_64-linux") != std::string::npos);
    CHECK(e.hint().find("--repair") != std::string::npos);
  }
  CHECK(tree_snapshot(t / "cache") == installed);  // nothing changed: no snapshot swap, no ref moved
  CHECK(verify_cache(genuine.lock, t / "cache").ok());

  SUBCASE("--repair without a lock is a usage error") {
    auto o = into(t / "cache");
    o.repair = true;
    CHECK_THROWS_WITH_AS(install_bundle(forged.bundle, o), doctest::Contains("--repair needs --lockfile"), Error);
    CHECK(tree_snapshot(t / "cache") == installed);
  }
  SUBCASE("--repair with a lock the bundle matches replaces the installed copy") {
    auto o = into(t / "cache");
    o.repair = true;
    o.lock = forged.lock;
    auto s = install_bundle(forged.bundle, o);
    CHECK(s.variants_changed == 1);
    CHECK(verify_cache(forged.lock, t / "cache").ok());
    CHECK(!verify_cache(genuine.lock, t / "cache").ok());
  }
  SUBCASE("--repair with the genuine lock refuses the forged bundle") {
    auto o = into(t / "cache");
    o.repair = true;
    o.lock = genuine.lock;
    CHECK_THROWS_AS(install_bundle(forged.bundle, o), Error);
    CHECK(tree_snapshot(t / "cache") == installed);
  }
}

TEST_CASE("install: --lockfile must agree with the bundle") {
  TempDir t;
  auto made = make_bundle(t, "b", sample_kernels());
  auto other = made.lock;
  other.kernels[1].variants.begin()->second.hash = "sha256-" + std::string(64, '1');
  auto o = into(t / "cache");
  o.lock = other;
  try {
    install_bundle(made.bundle, o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
  }
  CHECK(!fs::exists(t / "cache" / "kernels--kernels-test--relu"));
}

TEST_CASE("install: hostile archives are refused and leave no snapshot, ref or unverified blob") {
  TempDir t;
  auto made = make_bundle(t, "good", sample_kernels());
  auto entries = read_raw_archive(made.bundle);
  REQUIRE(entries.size() > 3);
  const std::string manifest = entries[0].second;
  auto as_raw = [&](std::size_t skip = SIZE_MAX) {
    std::vector<RawEntry> out;
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (i != skip) out.push_back(RawEntry{entries[i].first, entries[i].second});
    return out;
  };
  const fs::path bad = t / "bad.tar.zst";
  const fs::path cache = t / "cache";
  auto expect_refused = [&](const std::string& needle, ErrorCode code = ErrorCode::invalid_input,
                            InstallOptions options = {}) {
    options.cache_dir = cache;
    options.durable = false;
    try {
      install_bundle(bad, options);
      FAIL("install accepted a hostile bundle");
    } catch (const Error& e) {
      INFO(std::string(e.what()));
      CHECK(e.code() == code);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
    check_untouched_except_verified_blobs(cache);
    CHECK(!fs::exists(t / "evil"));
    CHECK(!fs::exists("/tmp/kl-evil-absolute"));
  };

  SUBCASE("path traversal") {
    auto raw = as_raw();
    raw.push_back(RawEntry{"../evil", "x"});
    write_raw_archive(bad, raw);
    expect_refused("path traversal");
  }
  SUBCASE("traversal hidden under blobs/") {
    auto raw = as_raw();
    raw.insert(raw.begin() + 1, RawEntry{"blobs/../../evil", "x"});
    write_raw_archive(bad, raw);
    expect_refused("path traversal");
  }
  SUBCASE("absolute path") {
    auto raw = as_raw();
    raw.insert(raw.begin() + 1, RawEntry{"/tmp/kl-evil-absolute", "x"});
    write_raw_archive(bad, raw);
    expect_refused("absolute path");
  }
  SUBCASE("symlink entry named like a blob") {
    auto raw = as_raw(1);
    raw.insert(raw.begin() + 1, RawEntry{entries[1].first, "", AE_IFLNK, -1, "/etc/passwd"});
    write_raw_archive(bad, raw);
    expect_refused("symbolic link");
  }
  SUBCASE("hardlink entry") {
    auto raw = as_raw(2);
    raw.insert(raw.begin() + 2, RawEntry{entries[2].first, "", AE_IFREG, 0, entries[1].first, true});
    write_raw_archive(bad, raw);
    expect_refused("hard link");
  }
  SUBCASE("device file") {
    auto raw = as_raw();
    raw.insert(raw.begin() + 1, RawEntry{"blobs/" + std::string(40, '0'), "", AE_IFCHR});
    write_raw_archive(bad, raw);
    expect_refused("character device");
  }
  SUBCASE("duplicate entry") {
    auto raw = as_raw();
    raw.insert(raw.begin() + 2, RawEntry{entries[1].first, entries[1].second});
    write_raw_archive(bad, raw);
    expect_refused("duplicate");
  }
  SUBCASE("entry not listed in the manifest") {
    auto raw = as_raw();
    raw.push_back(RawEntry{"blobs/" + git_blob_sha1_hex("extra"), "extra"});
    write_raw_archive(bad, raw);
    expect_refused("not listed");
  }
  SUBCASE("header size lies (smaller than the manifest says)") {
    auto raw = as_raw();
    raw[1].declared_size = static_cast<std::int64_t>(raw[1].content.size()) - 1;
    raw[1].content.pop_back();
    write_raw_archive(bad, raw);
    expect_refused("declares");
  }
  SUBCASE("content altered, same size") {
    auto raw = as_raw();
    raw[2].content[0] ^= 0x20;
    write_raw_archive(bad, raw);
    expect_refused("hashes to", ErrorCode::integrity);
  }
  SUBCASE("a blob missing at the end") {
    write_raw_archive(bad, as_raw(entries.size() - 1));
    expect_refused("missing");
  }
  SUBCASE("manifest not first") {
    auto raw = as_raw();
    std::swap(raw[0], raw[1]);
    write_raw_archive(bad, raw);
    expect_refused("first entry");
  }
  SUBCASE("truncated archive") {
    std::string bytes = slurp(made.bundle);
    spit(bad, bytes.substr(0, bytes.size() * 2 / 3));
    expect_refused("truncated");
  }
  SUBCASE("not an archive at all") {
    spit(bad, "hello, I am not a tar file\n");
    expect_refused("bundle");
  }
  SUBCASE("manifest inconsistent with its lock (digest swapped)") {
    auto m = parse_bundle_manifest(manifest);
    auto text = manifest;
    // Point one file at another blob of the same kind: the variant hash no longer matches.
    const auto& f0 = m.kernels[1].files[0];
    const auto& f1 = m.kernels[1].files[1];
    REQUIRE(f0.digest.size() == f1.digest.size());
    auto pos = text.find("\"digest\": \"" + f0.digest + "\"");
    REQUIRE(pos != std::string::npos);
    text.replace(pos + 11, f0.digest.size(), f1.digest);
    auto raw = as_raw();
    raw[0].content = text;
    write_raw_archive(bad, raw);
    try {
      InstallOptions o = into(cache);
      install_bundle(bad, o);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK((e.code() == ErrorCode::integrity || e.code() == ErrorCode::invalid_input));
    }
    check_untouched_except_verified_blobs(cache);
  }
  SUBCASE("decompression bomb: declared total over the limit") {
    write_raw_archive(bad, as_raw());
    InstallOptions o;
    o.limits.max_total_bytes = 1000;
    expect_refused("exceeds the limit", ErrorCode::invalid_input, o);
  }
  SUBCASE("decompression bomb: expansion ratio") {
    // A manifest-consistent bundle whose one big blob is all zeros.
    TempDir z;
    TestKernel k{"kernels-test/zeros", std::string(40, 'd'), {}, 1};
    k.variants["torch-cpu"] = {{"big.so", std::string(8 << 20, '\0')}};
    auto lock = make_cache(z / "src", {k});
    bundle_from(lock, z / "src", bad);
    InstallOptions o;
    o.limits.max_expansion_ratio = 50;
    o.limits.ratio_grace_bytes = 1 << 20;
    expect_refused("decompression bomb", ErrorCode::invalid_input, o);
  }
  SUBCASE("garbage after the tar end-of-archive marker") {
    write_raw_archive(bad, as_raw(), /*zstd=*/false);
    spit(bad, slurp(bad) + std::string(1024, '\0') + "garbage after the end" + std::string(491, 'x'));
    expect_refused("data after the last blob");
  }
  SUBCASE("a partial block after the tar end-of-archive marker") {
    write_raw_archive(bad, as_raw(), /*zstd=*/false);
    spit(bad, slurp(bad) + "tail");
    expect_refused("data after the last blob");
  }
  SUBCASE("a second archive with a traversal entry after the end-of-archive marker") {
    const fs::path second = t / "second.tar";
    write_raw_archive(second, {RawEntry{"../../escape", "evil"}}, /*zstd=*/false);
    write_raw_archive(bad, as_raw(), /*zstd=*/false);
    spit(bad, slurp(bad) + slurp(second));
    expect_refused("data after the last blob, where only zero padding may follow (the tar end-of-archive marker): "
                   "entry '../../escape' refused");
    CHECK(!fs::exists(t / "escape"));
    CHECK(!fs::exists(cache / ".." / ".." / "escape"));
  }
  SUBCASE("garbage after the compressed stream") {
    write_raw_archive(bad, as_raw());
    spit(bad, slurp(bad) + std::string(4096, 'g'));
    expect_refused("corrupt or truncated archive");  // the decompressor reads ahead into it
  }
  SUBCASE("manifest nested deeper than the limit (4 MiB of '[')") {
    auto raw = as_raw();
    raw[0].content = std::string(4u << 20, '[');
    write_raw_archive(bad, raw);
    expect_refused("bundle manifest: JSON nested deeper than 64 levels");
  }
  SUBCASE("manifest with a duplicate key") {
    auto raw = as_raw();
    raw[0].content = "{\"format\": \"x\", " + manifest.substr(manifest.find('{') + 1);
    write_raw_archive(bad, raw);
    expect_refused("bundle manifest: duplicate key \"format\"");
  }
  SUBCASE("oversized manifest") {
    auto raw = as_raw();
    raw[0].content = std::string(2 << 20, ' ') + manifest;
    write_raw_archive(bad, raw);
    InstallOptions o;
    o.limits.max_manifest_bytes = 1 << 20;
    expect_refused("manifest size", ErrorCode::invalid_input, o);
  }
}

TEST_CASE("install: two concurrent installs of overlapping bundles both succeed") {
  TempDir t;
  auto kernels = sample_kernels();
  VariantFilter cpu;
  cpu.cuda = {"99.0"};  // drops CUDA variants: cpu + noarch
  VariantFilter all;
  auto a = make_bundle(t, "a", kernels, cpu);
  auto b = make_bundle(t, "b", kernels, all);
  const fs::path cache = t / "cache";

  SUBCASE("threads") {
    for (int round = 0; round < 5; ++round) {
      fs::remove_all(cache);
      std::exception_ptr ea, eb;
      std::thread ta([&] {
        try {
          install_bundle(a.bundle, into(cache));
        } catch (...) {
          ea = std::current_exception();
        }
      });
      std::thread tb([&] {
        try {
          install_bundle(b.bundle, into(cache));
        } catch (...) {
          eb = std::current_exception();
        }
      });
      ta.join();
      tb.join();
      CHECK(!ea);
      CHECK(!eb);
      CHECK(verify_cache(b.lock, cache).ok());
    }
  }
  SUBCASE("processes") {
    for (int round = 0; round < 3; ++round) {
      fs::remove_all(cache);
      pid_t pids[2];
      for (int i = 0; i < 2; ++i) {
        pids[i] = ::fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
          int rc = 0;
          try {
            install_bundle(i == 0 ? a.bundle : b.bundle, into(cache));
          } catch (...) {
            rc = 1;
          }
          ::_exit(rc);
        }
      }
      for (pid_t pid : pids) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
      }
      CHECK(verify_cache(b.lock, cache).ok());
    }
  }
}

TEST_CASE("install_plan: installs a plan's files like a bundle; a source changed after planning is refused, nothing visible") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  const BundlePlan plan = plan_bundle(lock, t / "cache");
  InstallOptions options;
  options.cache_dir = t / "fresh";
  options.lock = lock;
  auto s = install_plan(plan, t / "cache", options);
  CHECK(s.kernels == 2);
  CHECK(s.blobs == plan.manifest.blobs.size());
  write_bundle(plan, t / "b.tar.zst");
  InstallOptions via_bundle = options;
  via_bundle.cache_dir = t / "from-bundle";
  install_bundle(t / "b.tar.zst", via_bundle);
  CHECK(tree_snapshot(t / "fresh") == tree_snapshot(t / "from-bundle"));

  // The same size, other bytes: only the staged re-hash can see it.
  const fs::path src = plan.sources.begin()->second;
  std::string bytes = slurp(src);
  bytes[0] = static_cast<char>(bytes[0] ^ 1);
  fs::remove(src);
  spit(src, bytes);
  InstallOptions second;
  second.cache_dir = t / "second";
  bool refused = false;
  try {
    install_plan(plan, t / "cache", second);
  } catch (const Error& e) {
    refused = e.code() == ErrorCode::integrity;
  }
  CHECK(refused);
  for (const auto& [path, what] : tree_snapshot(t / "second")) CHECK_MESSAGE(path.find("snapshots") == std::string::npos, path);
}

TEST_CASE("bundle + install: a repo locked at two versions (issue 14 item 6) keeps both commits and refs") {
  TempDir t;
  TestKernel v1{"kernels-test/dep", std::string(40, 'a'), {}, 1};
  v1.variants["torch-cpu"] = {{"__init__.py", "v1\n"}};
  TestKernel v2{"kernels-test/dep", std::string(40, 'b'), {}, 2};
  v2.variants["torch-cpu"] = {{"__init__.py", "v2\n"}};
  TestKernel same{"kernels-test/dep", std::string(40, 'b'), {}, 3};  // a third version at v2's commit
  same.variants["torch-cpu"] = {{"__init__.py", "v2\n"}};
  auto lock = make_cache(t / "src", {v2, v1, same});
  lock.kernels[1].requirement->required_by = "kernels-test/top";
  lock.kernels[2].requirement->required_by = "kernels-test/other";
  const auto bundle = t / "two.tar.zst";
  bundle_from(lock, t / "src", bundle);

  const auto manifest = parse_bundle_manifest(read_raw_archive(bundle)[0].second);
  REQUIRE(manifest.kernels.size() == 2);  // one per (repo, commit)
  CHECK(manifest.kernels[0].sha == std::string(40, 'a'));
  CHECK(manifest.kernels[0].refs == std::vector<std::string>{"v1"});
  CHECK(manifest.kernels[1].refs == std::vector<std::string>{"v2", "v3"});
  CHECK(manifest.lock.kernels.size() == 3);
  CHECK(manifest.kernels[1].ref_kinds_known);
  CHECK(manifest.kernels[1].tags.empty());

  InstallOptions options = into(t / "cache");
  options.lock = lock;
  install_bundle(bundle, options);
  const auto repo = cache_repo_paths(t / "cache", "kernel", "kernels-test/dep");
  CHECK(slurp(repo.refs() / "v1") == std::string(40, 'a'));
  CHECK(slurp(repo.refs() / "v2") == std::string(40, 'b'));
  CHECK(slurp(repo.refs() / "v3") == std::string(40, 'b'));
  CHECK(slurp(repo.snapshot(std::string(40, 'a')) / "build/torch-cpu/__init__.py") == "v1\n");
  CHECK(slurp(repo.snapshot(std::string(40, 'b')) / "build/torch-cpu/__init__.py") == "v2\n");
  const auto report = verify_cache(lock, t / "cache");
  CHECK(report.ok());
  CHECK(report.kernels == 3);
  CHECK(verify_bundle(lock, bundle).ok());
  // The v<N> refs are branches, recorded next to the refs.
  CHECK(read_ref_kinds(repo) == RefKinds{{"v1", "v2", "v3"}, {}});
}

TEST_CASE("install: a bundle's ref kinds are kept in the cache; a manifest without them (older bundles) still installs") {
  TempDir t;
  auto made = make_bundle(t, "b", sample_kernels());
  const auto entries = read_raw_archive(made.bundle);
  auto manifest = parse_bundle_manifest(entries[0].second);
  REQUIRE(manifest.kernels.size() == 2);
  CHECK(entries[0].second.find("\"tags\": []") != std::string::npos);

  // A manifest whose tags name a ref the kernel does not have is refused.
  auto bad = manifest;
  bad.kernels[0].tags = {"v9"};
  CHECK_THROWS_AS(parse_bundle_manifest(format_bundle_manifest(bad)), Error);
  // Older manifests (no "tags"): read, refs of unknown kind, nothing recorded.
  auto old = manifest;
  for (auto& k : old.kernels) k.ref_kinds_known = false;
  const auto old_text = format_bundle_manifest(old);
  CHECK(old_text.find("\"tags\"") == std::string::npos);
  const auto back = parse_bundle_manifest(old_text);
  CHECK(!back.kernels[0].ref_kinds_known);
  CHECK(format_bundle_manifest(back) == old_text);

  // A tag recorded by the bundle: install records it, and the cache reports it as a tag only.
  const auto lock = make_cache(t / "src-tagged", sample_kernels());
  auto plan = plan_bundle(lock, t / "src-tagged", {});
  REQUIRE(plan.manifest.kernels[1].repo_id == "kernels-test/relu");
  plan.manifest.kernels[1].refs = {"release", "v1"};
  plan.manifest.kernels[1].tags = {"release"};
  write_bundle(plan, t / "tagged.tar.zst", {});
  install_bundle(t / "tagged.tar.zst", into(t / "cache"));
  const auto repo = cache_repo_paths(t / "cache", "kernel", "kernels-test/relu");
  CHECK(read_ref_kinds(repo) == RefKinds{{"v1"}, {"release"}});
  const auto refs = read_cache_refs(repo);
  REQUIRE(refs.tags.size() == 1);
  CHECK(refs.tags[0].name == "release");
  REQUIRE(refs.branches.size() == 1);
  CHECK(refs.branches[0].name == "v1");
  // --no-refs: neither refs nor the side file.
  InstallOptions no_refs = into(t / "cache-no-refs");
  no_refs.write_refs = false;
  install_bundle(t / "tagged.tar.zst", no_refs);
  CHECK(!fs::exists(cache_repo_paths(t / "cache-no-refs", "kernel", "kernels-test/relu").root / std::string(kRefKindsFileName)));
}
