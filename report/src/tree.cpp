#include "kernel_lock/report/tree.hpp"

#include <algorithm>
#include <set>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lock_graph.hpp"
#include "kernel_lock/report/labels.hpp"

namespace kernel_lock::report {
namespace {

TreeNode node_for(const LockedKernel& kernel, bool variants) {
  TreeNode node;
  node.repo_id = kernel.repo_id;
  node.sha = kernel.sha;
  node.version = version_label(kernel);
  if (variants)
    for (const auto& [name, variant] : kernel.variants) node.variants.push_back(name);
  return node;
}

struct TreeWalk {
  const Lockfile& lock;
  const TreeOptions& options;
  std::set<const LockedKernel*> shown;  // expanded once already

  TreeNode walk(const LockedKernel& kernel, std::size_t level, std::vector<const LockedKernel*>& path) {
    auto node = node_for(kernel, options.variants);
    const bool cycle = std::find(path.begin(), path.end(), &kernel) != path.end();
    const auto deps = lock_dependencies(lock, kernel);
    if (cycle || (shown.count(&kernel) && !deps.empty())) {
      node.repeated = true;
      return node;
    }
    shown.insert(&kernel);
    if (options.depth && level >= *options.depth) return node;
    path.push_back(&kernel);
    for (const auto* dep : deps) node.children.push_back(walk(*dep, level + 1, path));
    path.pop_back();
    return node;
  }
};

struct WhyWalk {
  const Lockfile& lock;
  const Requirements* requirements;

  void set_requirement(TreeNode& node, const LockedKernel& kernel) const {
    if (kernel.requirement) {
      node.requirement = *kernel.requirement;
      node.requirement_source = "kernel.lock";
      return;
    }
    if (!requirements) return;
    for (const auto& wanted : requirements->kernels)
      if (wanted.repo_id == kernel.repo_id) {
        node.requirement = wanted.locked();
        node.requirement_source = requirements->source.string();
      }
  }

  TreeNode walk(const LockedKernel& kernel, std::vector<const LockedKernel*>& path) {
    auto node = node_for(kernel, false);
    if (std::find(path.begin(), path.end(), &kernel) != path.end()) {
      node.repeated = true;
      return node;
    }
    if (is_top_level(kernel)) set_requirement(node, kernel);
    const auto dependents = lock_dependents(lock, kernel);
    if (!is_top_level(kernel) && dependents.empty()) {
      TreeNode missing;  // required-by names a repo the lock does not hold (a hand-edited lock)
      missing.repo_id = *kernel.requirement->required_by;
      missing.missing = true;
      node.children.push_back(std::move(missing));
      return node;
    }
    path.push_back(&kernel);
    for (const auto* dependent : dependents) node.children.push_back(walk(*dependent, path));
    path.pop_back();
    return node;
  }
};

std::vector<std::string> sorted_repo_ids(const Lockfile& lock) {
  std::vector<std::string> out;
  for (const auto& kernel : lock.kernels) out.push_back(kernel.repo_id);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}


}  // namespace

std::vector<TreeNode> lock_tree(const Lockfile& lock, const TreeOptions& options) {
  TreeWalk walker{lock, options, {}};
  std::vector<TreeNode> out;
  std::vector<const LockedKernel*> path;
  for (const auto* root : top_level_entries(lock)) out.push_back(walker.walk(*root, 0, path));
  return out;
}

TreeNode why_kernel(const Lockfile& lock, std::string_view repo_id, std::string_view lock_source,
                    const Requirements* requirements) {
  const auto* kernel = lock.find(repo_id);
  if (!kernel) {
    std::string listed;
    for (const auto& id : sorted_repo_ids(lock)) listed += (listed.empty() ? "" : ", ") + id;
    throw Error(ErrorCode::not_found,
                std::string(repo_id) + " is not in " + std::string(lock_source) + " (locked: " +
                    (listed.empty() ? "none" : listed) + ")",
                "run `kernel-lock tree` to see the locked kernels, or `kernel-lock resolve` after adding it");
  }
  WhyWalk walker{lock, requirements};
  std::vector<const LockedKernel*> path;
  return walker.walk(*kernel, path);
}

}  // namespace kernel_lock::report
