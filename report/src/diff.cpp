#include "kernel_lock/report/diff.hpp"

#include <set>

#include "kernel_lock/report/labels.hpp"

namespace kernel_lock::report {
namespace {

bool signer_differs(const std::optional<LockedSignature>& a, const std::optional<LockedSignature>& b) {
  if (a.has_value() != b.has_value()) return true;
  return a && !a->same_signer(*b);
}

std::optional<VariantDiff> diff_variant(const std::string& name, const LockedVariant* old_v, const LockedVariant* new_v) {
  VariantDiff out;
  out.name = name;
  if (old_v) {
    out.old_hash = old_v->hash;
    out.old_signer = old_v->signature;
  }
  if (new_v) {
    out.new_hash = new_v->hash;
    out.new_signer = new_v->signature;
  }
  if (!old_v || !new_v) {
    out.change = old_v ? Change::removed : Change::added;
    return out;
  }
  out.hash_changed = old_v->hash != new_v->hash;
  out.signer_changed = signer_differs(old_v->signature, new_v->signature);
  if (!out.hash_changed && !out.signer_changed) return std::nullopt;
  return out;
}

std::vector<VariantDiff> diff_variants(const LockedKernel& old_k, const LockedKernel& new_k) {
  std::set<std::string> names;
  for (const auto& [name, v] : old_k.variants) names.insert(name);
  for (const auto& [name, v] : new_k.variants) names.insert(name);
  std::vector<VariantDiff> out;
  for (const auto& name : names) {
    const auto o = old_k.variants.find(name);
    const auto n = new_k.variants.find(name);
    if (auto d = diff_variant(name, o == old_k.variants.end() ? nullptr : &o->second,
                              n == new_k.variants.end() ? nullptr : &n->second))
      out.push_back(std::move(*d));
  }
  return out;
}

KernelDiff side(const LockedKernel* old_k, const LockedKernel* new_k) {
  KernelDiff out;
  out.repo_id = old_k ? old_k->repo_id : new_k->repo_id;
  if (old_k) {
    out.old_sha = old_k->sha;
    out.old_version = version_label(*old_k);
  }
  if (new_k) {
    out.new_sha = new_k->sha;
    out.new_version = version_label(*new_k);
  }
  out.change = !old_k ? Change::added : !new_k ? Change::removed : Change::changed;
  return out;
}

}  // namespace

std::string_view to_string(Change change) noexcept {
  switch (change) {
    case Change::added: return "added";
    case Change::removed: return "removed";
    case Change::changed: return "changed";
  }
  return "changed";
}

LockDiff diff_locks(const Lockfile& old_lock, const Lockfile& new_lock) {
  std::set<std::string> repos;
  for (const auto& k : old_lock.kernels) repos.insert(k.repo_id);
  for (const auto& k : new_lock.kernels) repos.insert(k.repo_id);
  LockDiff out;
  for (const auto& repo : repos) {
    const auto* old_k = old_lock.find(repo);
    const auto* new_k = new_lock.find(repo);
    auto diff = side(old_k, new_k);
    if (old_k && new_k) {
      diff.variants = diff_variants(*old_k, *new_k);
      if (diff.variants.empty() && diff.old_sha == diff.new_sha && diff.old_version == diff.new_version) continue;
    }
    out.kernels.push_back(std::move(diff));
  }
  return out;
}

}  // namespace kernel_lock::report
