#include "kernel_lock/core/tree_variants.hpp"

#include <algorithm>
#include <string_view>

#include "kernel_lock/core/hash.hpp"

namespace kernel_lock {

TreeVariants variants_from_tree(const std::vector<TreeEntry>& entries) {
  std::map<std::string, std::vector<const TreeEntry*>> by_variant;
  for (const auto& e : entries) {
    if (!e.path.starts_with("build/")) continue;
    const auto rest = std::string_view(e.path).substr(6);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      if (e.is_directory) by_variant[std::string(rest)];
      continue;  // a file directly under build/ is no variant
    }
    auto& files = by_variant[std::string(rest.substr(0, slash))];
    if (!e.is_directory) files.push_back(&e);
  }
  TreeVariants out;
  for (const auto& [name, files] : by_variant) {
    out.names.push_back(name);
    const std::size_t prefix = std::string_view("build/").size() + name.size() + 1;
    LockedVariant v;
    std::vector<VariantFileDigest> digests;
    for (const auto* f : files) {
      auto rel = f->path.substr(prefix);
      if (!is_hashed_variant_path(rel)) continue;
      digests.push_back(VariantFileDigest{rel, f->digest()});
      v.files.push_back(LockedFile{std::move(rel), f->size, f->digest(), f->digest_kind()});
    }
    if (digests.empty()) continue;  // empty, or only caches (*.pyc): nothing to lock
    std::sort(v.files.begin(), v.files.end(), [](const LockedFile& a, const LockedFile& b) { return a.path < b.path; });
    v.hash = git_lfs_concat_hash(std::move(digests));
    out.variants.emplace(name, std::move(v));
  }
  return out;
}

}  // namespace kernel_lock
