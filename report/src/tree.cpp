#include "kernel_lock/report/tree.hpp"

#include <algorithm>
#include <set>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lock_graph.hpp"
#include "kernel_lock/report/labels.hpp"

namespace kernel_lock::report {
namespace {

TreeNode node_for(const Lockfile& lock, const std::string& repo_id, bool variants) {
  TreeNode node;
  node.repo_id = repo_id;
  const auto* kernel = lock.find(repo_id);
  if (!kernel) {
    node.missing = true;
    return node;
  }
  node.sha = kernel->sha;
  node.version = version_label(*kernel);
  if (variants)
    for (const auto& [name, variant] : kernel->variants) node.variants.push_back(name);
  return node;
}

struct TreeWalk {
  const Lockfile& lock;
  const TreeOptions& options;
  std::set<std::string> shown;  // expanded once already

  TreeNode walk(const std::string& repo_id, std::size_t level, std::vector<std::string>& path) {
    auto node = node_for(lock, repo_id, options.variants);
    if (node.missing) return node;
    const bool cycle = std::find(path.begin(), path.end(), repo_id) != path.end();
    const auto deps = lock_dependencies(lock, repo_id);
    if (cycle || (shown.count(repo_id) && !deps.empty())) {
      node.repeated = true;
      return node;
    }
    shown.insert(repo_id);
    if (options.depth && level >= *options.depth) return node;
    path.push_back(repo_id);
    for (const auto& dep : deps) node.children.push_back(walk(dep, level + 1, path));
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

  TreeNode walk(const std::string& repo_id, std::vector<std::string>& path) {
    auto node = node_for(lock, repo_id, false);
    if (node.missing) return node;
    if (std::find(path.begin(), path.end(), repo_id) != path.end()) {
      node.repeated = true;
      return node;
    }
    const auto& kernel = *lock.find(repo_id);
    if (is_top_level(kernel)) set_requirement(node, kernel);
    path.push_back(repo_id);
    for (const auto& dependent : lock_dependents(kernel)) node.children.push_back(walk(dependent, path));
    path.pop_back();
    return node;
  }
};

std::vector<std::string> sorted_repo_ids(const Lockfile& lock, bool top_level_only) {
  std::vector<std::string> out;
  for (const auto& kernel : lock.kernels)
    if (!top_level_only || is_top_level(kernel)) out.push_back(kernel.repo_id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<TreeNode> lock_tree(const Lockfile& lock, const TreeOptions& options) {
  TreeWalk walker{lock, options, {}};
  std::vector<TreeNode> out;
  std::vector<std::string> path;
  for (const auto& root : sorted_repo_ids(lock, true)) out.push_back(walker.walk(root, 0, path));
  return out;
}

TreeNode why_kernel(const Lockfile& lock, std::string_view repo_id, std::string_view lock_source,
                    const Requirements* requirements) {
  if (!lock.find(repo_id)) {
    std::string listed;
    for (const auto& id : sorted_repo_ids(lock, false)) listed += (listed.empty() ? "" : ", ") + id;
    throw Error(ErrorCode::not_found,
                std::string(repo_id) + " is not in " + std::string(lock_source) + " (locked: " +
                    (listed.empty() ? "none" : listed) + ")",
                "run `kernel-lock tree` to see the locked kernels, or `kernel-lock resolve` after adding it");
  }
  WhyWalk walker{lock, requirements};
  std::vector<std::string> path;
  return walker.walk(std::string(repo_id), path);
}

}  // namespace kernel_lock::report
