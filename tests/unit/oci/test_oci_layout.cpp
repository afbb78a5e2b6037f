// oci/layout.hpp: a bundle plan written as an OCI image layout (directory and
// tar), read back and validated; hostile layouts are refused.
#include <doctest/doctest.h>

#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "../bundle/test_bundle_support.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/oci/layout.hpp"

using namespace kernel_lock;
using namespace kltest;
using nlohmann::json;

namespace {

std::map<std::string, std::string> files_under(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).generic_string()] = slurp(e.path());
  return out;
}

fs::path blob_file(const fs::path& root, const std::string& digest) { return root / "blobs" / "sha256" / digest.substr(7); }

json read_blob(const fs::path& root, const std::string& digest) { return json::parse(slurp(blob_file(root, digest))); }

// Stores `doc` as a blob and returns its descriptor fields (digest, size).
std::pair<std::string, std::size_t> put_blob(const fs::path& root, const std::string& bytes) {
  const std::string digest = "sha256:" + sha256_hex(bytes);
  spit(blob_file(root, digest), bytes);
  return {digest, bytes.size()};
}

// Edits the first kernel manifest with `edit` and re-chains every digest up to
// index.json, so that only what `edit` did is wrong.
void edit_manifest(const fs::path& root, const std::function<void(json&)>& edit) {
  json index = json::parse(slurp(root / "index.json"));
  json lock_index = read_blob(root, index["manifests"][0]["digest"]);
  json manifest = read_blob(root, lock_index["manifests"][0]["digest"]);
  edit(manifest);
  auto [md, ms] = put_blob(root, manifest.dump());
  lock_index["manifests"][0]["digest"] = md;
  lock_index["manifests"][0]["size"] = ms;
  auto [id, is] = put_blob(root, lock_index.dump());
  index["manifests"][0]["digest"] = id;
  index["manifests"][0]["size"] = is;
  spit(root / "index.json", index.dump());
}

struct Fixture {
  TempDir t;
  Lockfile lock = make_cache(t / "cache", sample_kernels());
  BundlePlan plan = plan_bundle(lock, t / "cache");
};

ErrorCode code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::generic;
}

}  // namespace

TEST_CASE("oci layout: manifests per kernel, files stored once under sha256, read back as the same plan") {
  Fixture f;
  const fs::path out = f.t / "layout";
  auto s = write_oci_layout(f.plan, out, OciWriteOptions{"v1", {}});
  CHECK(s.kernels == 2);
  CHECK(s.changed);
  CHECK(json::parse(slurp(out / "oci-layout")) == json{{"imageLayoutVersion", "1.0.0"}});
  const json index = json::parse(slurp(out / "index.json"));
  REQUIRE(index["manifests"].size() == 1);
  CHECK(index["manifests"][0]["annotations"][std::string(kOciRefNameAnnotation)] == "v1");
  const json lock_index = read_blob(out, index["manifests"][0]["digest"]);
  REQUIRE(lock_index["manifests"].size() == 2);
  std::set<std::string> layer_digests;
  std::size_t layers = 0;
  for (const auto& m : lock_index["manifests"]) {
    const json manifest = read_blob(out, m["digest"]);
    CHECK(manifest["artifactType"] == kOciKernelArtifactType);
    CHECK(manifest["config"]["mediaType"] == kOciKernelConfigType);
    for (const auto& layer : manifest["layers"]) {
      const std::string bytes = slurp(blob_file(out, layer["digest"]));
      CHECK("sha256:" + sha256_hex(bytes) == layer["digest"]);
      CHECK(bytes.size() == layer["size"]);
      layer_digests.insert(layer["digest"]);
      ++layers;
    }
  }
  // "layers/__init__.py" is in 3 variants of 2 kernels: one blob.
  CHECK(layers == s.files);
  CHECK(layer_digests.size() == f.plan.manifest.blobs.size());
  CHECK(layer_digests.size() < layers);
  CHECK(s.blobs == layer_digests.size() + 2 /* configs */ + 2 /* manifests */ + 1 /* lock index */);

  const BundlePlan back = read_oci_layout(out, "v1");
  CHECK(format_bundle_manifest(back.manifest) == format_bundle_manifest(f.plan.manifest));
  for (const auto& blob : back.manifest.blobs) CHECK(back.sources.at(blob.digest).parent_path() == out / "blobs" / "sha256");
  CHECK(format_bundle_manifest(read_oci_layout(out).manifest) == format_bundle_manifest(f.plan.manifest));  // the only tag
  CHECK(code_of([&] { read_oci_layout(out, "v2"); }) == ErrorCode::not_found);
}

TEST_CASE("oci layout: same plan, same bytes; unchanged output is left alone; tar form deterministic") {
  Fixture f;
  write_oci_layout(f.plan, f.t / "a");
  write_oci_layout(f.plan, f.t / "b");
  CHECK(files_under(f.t / "a") == files_under(f.t / "b"));
  CHECK_FALSE(write_oci_layout(f.plan, f.t / "a").changed);
  CHECK(write_oci_layout(f.plan, f.t / "a", OciWriteOptions{"other", {}}).changed);
  CHECK(json::parse(slurp(f.t / "a" / "index.json"))["manifests"][0]["annotations"][std::string(kOciRefNameAnnotation)] == "other");
  CHECK_FALSE(fs::exists(f.t / "b.tar"));
  write_oci_layout(f.plan, f.t / "x.tar");
  write_oci_layout(f.plan, f.t / "y.tar");
  CHECK(slurp(f.t / "x.tar") == slurp(f.t / "y.tar"));
  CHECK_FALSE(write_oci_layout(f.plan, f.t / "x.tar").changed);
  CHECK(write_oci_layout(f.plan, f.t / "x.tar", OciWriteOptions{"v9", {}}).changed);
  CHECK(slurp(f.t / "x.tar") != slurp(f.t / "y.tar"));
  write_oci_layout(f.plan, f.t / "x.tar");
  std::vector<struct stat> stats;
  auto entries = read_raw_archive(f.t / "x.tar", &stats);
  REQUIRE(entries.size() >= 4);
  CHECK(entries[0].first == "oci-layout");
  CHECK(entries[1].first == "index.json");
  std::map<std::string, std::string> in_tar;
  for (const auto& [name, content] : entries)
    if (!name.ends_with("/")) in_tar[name] = content;
  CHECK(in_tar == files_under(f.t / "b"));
  for (const auto& st : stats) CHECK(st.st_mtime == 0);
  // Only the layout's own files: no temp directory left next to the outputs.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(f.t.path())) names.insert(e.path().filename().string());
  CHECK(names == std::set<std::string>{"a", "b", "cache", "x.tar", "y.tar"});
}

TEST_CASE("oci layout: never replaces a directory that is not a layout; refuses a bad tag") {
  Fixture f;
  spit(f.t / "mine" / "keep.txt", "mine");
  CHECK(code_of([&] { write_oci_layout(f.plan, f.t / "mine"); }) == ErrorCode::usage);
  CHECK(slurp(f.t / "mine" / "keep.txt") == "mine");
  CHECK(code_of([&] { write_oci_layout(f.plan, f.t / "l", OciWriteOptions{"-bad", {}}); }) == ErrorCode::invalid_input);
  CHECK(code_of([&] { write_oci_layout(f.plan, f.t / "l", OciWriteOptions{"a/b", {}}); }) == ErrorCode::invalid_input);
  CHECK_FALSE(fs::exists(f.t / "l"));
  fs::create_directories(f.t / "empty");
  write_oci_layout(f.plan, f.t / "empty");
  CHECK(fs::exists(f.t / "empty" / "oci-layout"));
  CHECK(is_valid_oci_tag("v1.0_rc-1"));
  CHECK_FALSE(is_valid_oci_tag(std::string(129, 'a')));
}

TEST_CASE("oci layout: a cached file changed since planning is not written") {
  Fixture f;
  const fs::path src = f.plan.sources.begin()->second;
  const std::string bytes = slurp(src);
  fs::remove(src);
  spit(src, bytes + "x");
  CHECK(code_of([&] { write_oci_layout(f.plan, f.t / "layout"); }) == ErrorCode::integrity);
  CHECK_FALSE(fs::exists(f.t / "layout"));
}

TEST_CASE("oci layout reader: tampered, hostile or oversized layouts are refused") {
  Fixture f;
  const fs::path out = f.t / "layout";
  write_oci_layout(f.plan, out);
  const json lock_index = read_blob(out, json::parse(slurp(out / "index.json"))["manifests"][0]["digest"]);
  const json manifest = read_blob(out, lock_index["manifests"][0]["digest"]);
  const fs::path layer = blob_file(out, manifest["layers"][0]["digest"]);

  SUBCASE("a flipped byte in a file blob") {
    std::string bytes = slurp(layer);
    bytes[0] = static_cast<char>(bytes[0] ^ 1);
    spit(layer, bytes);
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::integrity);
  }
  SUBCASE("a blob that is a symlink") {
    const std::string bytes = slurp(layer);
    spit(f.t / "elsewhere", bytes);
    fs::remove(layer);
    fs::create_symlink(f.t / "elsewhere", layer);
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::invalid_input);
  }
  SUBCASE("a title escaping the layout") {
    edit_manifest(out, [](json& m) { m["layers"][0]["annotations"][std::string(kOciTitleAnnotation)] = "../../etc/passwd"; });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::invalid_input);
  }
  SUBCASE("a title under another variant") {
    edit_manifest(out, [](json& m) { m["layers"][0]["annotations"]["dev.kernel-lock.variant"] = "torch-cpu"; });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::invalid_input);
  }
  SUBCASE("a consistent file that is not the locked one (variant hash)") {
    const std::string other = "print('not locked')\n";
    auto [digest, size] = put_blob(out, other);
    const std::string kind = manifest["layers"][0]["annotations"]["dev.kernel-lock.hub-digest-kind"];
    const std::string hub = kind == "git_sha1" ? git_blob_sha1_hex(other) : sha256_hex(other);
    edit_manifest(out, [&](json& m) {
      m["layers"][0]["digest"] = digest;
      m["layers"][0]["size"] = size;
      m["layers"][0]["annotations"]["dev.kernel-lock.hub-digest"] = hub;
    });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::integrity);
  }
  SUBCASE("one Hub digest naming two blobs") {
    edit_manifest(out, [](json& m) { m["layers"][1]["annotations"] = m["layers"][0]["annotations"]; });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::integrity);
  }
  SUBCASE("a wrong config media type") {
    edit_manifest(out, [](json& m) { m["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json"; });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::invalid_input);
  }
  SUBCASE("a descriptor size that lies") {
    edit_manifest(out, [](json& m) { m["layers"][0]["size"] = m["layers"][0]["size"].get<std::uint64_t>() + 1; });
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::integrity);
  }
  SUBCASE("JSON over the size limit or nested too deep") {
    OciReadLimits small;
    small.max_json_bytes = 64;
    CHECK(code_of([&] { read_oci_layout(out, {}, small); }) == ErrorCode::invalid_input);
    spit(out / "index.json", std::string(100, '[') + std::string(100, ']'));
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::invalid_input);
  }
  SUBCASE("a missing blob") {
    fs::remove(layer);
    CHECK(code_of([&] { read_oci_layout(out); }) == ErrorCode::not_found);
  }
}

TEST_CASE("oci layout install: into an empty cache like a bundle, checked against the lock; a bad blob installs nothing") {
  Fixture f;
  const fs::path out = f.t / "layout";
  write_oci_layout(f.plan, out);
  CHECK(is_oci_layout_dir(out));
  CHECK_FALSE(is_oci_layout_dir(f.t / "cache"));

  InstallOptions options;
  options.cache_dir = f.t / "fresh";
  options.lock = f.lock;
  auto s = install_oci_layout(out, {}, options);
  CHECK(s.kernels == 2);
  CHECK(s.variants == 4);
  CHECK(s.blobs == f.plan.manifest.blobs.size());
  // The same cache a bundle install gives.
  InstallOptions via_bundle = options;
  via_bundle.cache_dir = f.t / "from-bundle";
  write_bundle(f.plan, f.t / "b.tar.zst");
  install_bundle(f.t / "b.tar.zst", via_bundle);
  CHECK(tree_snapshot(f.t / "fresh") == tree_snapshot(f.t / "from-bundle"));

  // A lock that disagrees: nothing installed.
  Lockfile other = f.lock;
  other.kernels[0].sha = std::string(40, 'c');
  InstallOptions strict;
  strict.cache_dir = f.t / "strict";
  strict.lock = other;
  CHECK(code_of([&] { install_oci_layout(out, {}, strict); }) == ErrorCode::integrity);
  CHECK(tree_snapshot(f.t / "strict").empty());

  // A tampered file: refused before anything is visible.
  const json lock_index = read_blob(out, json::parse(slurp(out / "index.json"))["manifests"][0]["digest"]);
  const fs::path layer = blob_file(out, read_blob(out, lock_index["manifests"][1]["digest"])["layers"][0]["digest"]);
  std::string bytes = slurp(layer);
  bytes.back() = static_cast<char>(bytes.back() ^ 1);
  spit(layer, bytes);
  InstallOptions tampered;
  tampered.cache_dir = f.t / "tampered";
  CHECK(code_of([&] { install_oci_layout(out, {}, tampered); }) == ErrorCode::integrity);
  for (const auto& [path, what] : tree_snapshot(f.t / "tampered")) CHECK_MESSAGE(path.find("snapshots") == std::string::npos, path);
}

TEST_CASE("oci layout install from the tar form; hostile tars are refused with nothing installed") {
  Fixture f;
  write_oci_layout(f.plan, f.t / "l.tar");
  write_oci_layout(f.plan, f.t / "l");
  CHECK(is_oci_layout_tar(f.t / "l.tar"));
  write_bundle(f.plan, f.t / "b.tar.zst");
  CHECK_FALSE(is_oci_layout_tar(f.t / "b.tar.zst"));
  CHECK_FALSE(is_oci_layout_tar(f.t / "l"));

  InstallOptions options;
  options.cache_dir = f.t / "fresh";
  options.lock = f.lock;
  CHECK(install_oci_layout(f.t / "l.tar", {}, options).kernels == 2);
  InstallOptions from_dir = options;
  from_dir.cache_dir = f.t / "from-dir";
  install_oci_layout(f.t / "l", {}, from_dir);
  CHECK(tree_snapshot(f.t / "fresh") == tree_snapshot(f.t / "from-dir"));  // and no extraction left behind

  const auto good = read_raw_archive(f.t / "l.tar");
  auto hostile = [&](RawEntry extra) {
    std::vector<RawEntry> entries;
    for (const auto& [name, content] : good)
      if (!name.ends_with("/")) entries.push_back(RawEntry{name, content});
    entries.push_back(std::move(extra));
    write_raw_archive(f.t / "h.tar", entries, false);
    InstallOptions o;
    o.cache_dir = f.t / "hostile";
    const ErrorCode code = code_of([&] { install_oci_layout(f.t / "h.tar", {}, o); });
    CHECK(tree_snapshot(f.t / "hostile").empty());
    return code;
  };
  CHECK(hostile(RawEntry{"../evil", "x"}) == ErrorCode::invalid_input);
  CHECK(hostile(RawEntry{"blobs/sha256/" + std::string(64, 'a'), "", AE_IFLNK, -1, "/etc/passwd"}) == ErrorCode::invalid_input);
  CHECK(hostile(RawEntry{"index.json", "{}"}) == ErrorCode::invalid_input);  // a duplicate
  CHECK(hostile(RawEntry{"blobs/sha256/../../x", "x"}) == ErrorCode::invalid_input);
}
