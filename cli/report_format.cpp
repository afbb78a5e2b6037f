#include "report_format.hpp"

#include <algorithm>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/report/labels.hpp"

namespace kernel_lock::cli {
namespace {

void draw_children(std::string& out, const std::vector<TreeLine>& children, const std::string& prefix) {
  for (std::size_t i = 0; i < children.size(); ++i) {
    const bool last = i + 1 == children.size();
    out += prefix + (last ? "└── " : "├── ") + children[i].text + "\n";
    draw_children(out, children[i].children, prefix + (last ? "    " : "│   "));
  }
}

}  // namespace

void add_lock_option(CLI::App* cmd, std::string& lock) {
  cmd->add_option("--lock,--lockfile", lock, "Lock file (default: ./kernel.lock, else ./kernels.lock)");
}

std::filesystem::path lock_path(const std::string& lock) {
  return lock.empty() ? find_lockfile(".") : std::filesystem::path(lock);
}

Lockfile load_lock(const std::filesystem::path& path) {
  try {
    return read_lockfile(path);
  } catch (Error& e) {
    if (e.hint().empty() && e.code() == ErrorCode::not_found)
      e.set_hint("run `kernel-lock resolve` in the project directory to write the lock");
    throw;
  }
}

std::string draw_tree(const TreeLine& root) {
  std::string out = root.text + "\n";
  draw_children(out, root.children, "");
  return out;
}

std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  std::vector<std::string> dashes;
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
    dashes.push_back(std::string(width[c], '-'));
  }
  std::string out;
  const auto add_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) line += row[c] + std::string(width[c] - row[c].size() + 2, ' ');
    out += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
  };
  add_row(header);
  add_row(dashes);
  for (const auto& row : rows) add_row(row);
  return out;
}

std::string kernel_line(const report::TreeNode& node) {
  if (node.missing) return node.repo_id + " (not locked)";
  std::string out = node.repo_id;
  if (!node.version.empty()) out += " " + node.version;
  out += " (" + report::short_sha(node.sha) + ")";
  if (node.repeated) out += " (*)";
  return out;
}

}  // namespace kernel_lock::cli
