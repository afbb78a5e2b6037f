// Kernel requirements: kernels.yaml (ours) and pyproject.toml
// [tool.kernels.dependencies] (the Python `kernels lock` input).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/locked_requirement.hpp"
#include "kernel_lock/core/tag_range.hpp"
#include "kernel_lock/core/variant.hpp"

namespace kernel_lock {

struct KernelRequirement {
  std::string repo_id;                    // "org/name"
  std::optional<int> version;             // branch v<N>
  std::optional<std::string> revision;    // branch, tag or sha
  std::optional<TagRange> tag_range;      // PEP 440-like range over v<semver> tags, e.g. ">=0.0.2,<0.1.0"
  std::optional<std::string> repo_type;   // "kernel" (default) or "model"
  VariantFilter filter;                   // per-kernel narrowing (added to the global targets)
  SigningRequirement signing;             // signers / allow-unsigned / require-signature (kernels.yaml only)
  // What the lock records under "requirement" for this entry (no targets, no
  // required-by: the resolver adds those); compares requirement changes.
  LockedRequirement locked() const;
  // locked().to_json().
  nlohmann::ordered_json to_json() const;
};

struct Requirements {
  std::filesystem::path source;           // the file read
  std::vector<KernelRequirement> kernels; // in file order
  VariantFilter targets;                  // fleet-wide torch/cuda/arch/os matrix (kernels.yaml only)
};

// Parses kernels.yaml text / pyproject.toml text. Errors name `source`, the
// line (and column where known), the field and what was expected.
Requirements parse_kernels_yaml(std::string_view text, std::string_view source = "kernels.yaml");
Requirements parse_pyproject_toml(std::string_view text, std::string_view source = "pyproject.toml");

// Reads a file, or a directory holding kernels.yaml (preferred) or pyproject.toml.
// Throws Error(not_found) naming what was looked for.
Requirements read_requirements(const std::filesystem::path& file_or_dir);

}  // namespace kernel_lock
