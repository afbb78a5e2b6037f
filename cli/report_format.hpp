// Shared by the lock report commands (tree, why, outdated, diff;
// docs/lock-commands.md): finding and reading the lock, and drawing a tree with
// the box characters of `cargo tree` / `uv tree`.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/report/tree.hpp"

namespace kernel_lock::cli {

// --lock FILE (alias --lockfile); unset: ./kernel.lock, else ./kernels.lock.
void add_lock_option(CLI::App* cmd, std::string& lock);
// The lock named by --lock, or the one find_lockfile finds in "." (Error not_found
// with the `kernel-lock resolve` hint).
std::filesystem::path lock_path(const std::string& lock);
// read_lockfile, with a next step for a missing file (`kernel-lock resolve`);
// the lock parser's errors carry their own (file:line:column and a hint).
Lockfile load_lock(const std::filesystem::path& path);

// One line of a drawn tree and the lines below it.
struct TreeLine {
  std::string text;
  std::vector<TreeLine> children;
};
// "text\n├── child\n│   └── grandchild\n└── child\n" (UTF-8 box drawing).
std::string draw_tree(const TreeLine& root);
// "<repo> <version> (<short sha>)", " (*)" for a repeated node, "<repo> (not locked)"
// for a missing one.
std::string kernel_line(const report::TreeNode& node);

// A table as `uv pip list` prints one: the header, a row of dashes per column,
// then the rows; columns padded to their widest cell, two spaces apart, no
// trailing spaces. Every row has as many cells as `header`.
std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace kernel_lock::cli
