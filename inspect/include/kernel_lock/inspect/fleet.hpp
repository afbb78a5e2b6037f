// `kernel-lock check --fleet`: node classes (fleet.yaml, docs/fleet.md) and the
// verdict for one class and one locked kernel: the variant the loader would
// pick (core's select_variants, the Python `kernels` rules), the fatbinary of
// its .so files against every GPU of the class, metadata.json `backend.archs`,
// `kernels-minver` and the glibc symbol versions the .so files need.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/variant.hpp"
#include "kernel_lock/inspect/elf.hpp"
#include "kernel_lock/inspect/fatbin.hpp"

namespace kernel_lock::inspect {

inline constexpr std::size_t kMaxFleetBytes = 1u << 20;
inline constexpr std::size_t kMaxFleetClasses = 1024;
inline constexpr std::size_t kMaxMetadataBytes = 1u << 20;

struct NodeClass {
  std::string name;
  Environment env;                      // torch, cxx11 ABI, backend + version, arch, os
  std::vector<Capability> gpus;         // compute capabilities (CUDA); empty for CPU classes
  std::optional<std::string> glibc;     // "2.35"
  std::optional<std::string> kernels;   // Python `kernels` version ("0.17.2")
};

// Parses fleet.yaml (docs/fleet.md). Throws Error(invalid_input) naming
// "<source>: classes[i].<field>" for a bad or unknown field, over
// kMaxFleetBytes or kMaxFleetClasses, or duplicate class names.
std::vector<NodeClass> parse_fleet_yaml(std::string_view text, std::string_view source);

// What fleet and audit read from a variant's metadata.json.
struct KernelMetadata {
  std::string backend;                   // backend.type ("cuda", "cpu", ...); "" when absent
  std::vector<std::string> archs;        // backend.archs as written ("9.0a", "12.0+PTX")
  std::optional<std::string> kernels_minver;
  bool dirty = false;                    // provenance marked dirty
};
// Bounded parse (kMaxMetadataBytes, depth limit). Throws Error(invalid_input) naming `source`.
KernelMetadata parse_kernel_metadata(std::string_view text, std::string_view source);

// backend.archs as fatbin entries: "8.0" -> sm_80, "9.0a" -> sm_90a,
// "12.0+PTX" -> sm_120 and compute_120. Throws Error(invalid_input).
std::vector<FatbinEntry> archs_as_entries(const std::vector<std::string>& archs);

// One .so of the picked variant.
struct SharedObjectFacts {
  std::string path;                      // relative to build/<variant>/
  std::vector<FatbinEntry> fatbin;
  std::vector<VersionNeed> version_needs;
  bool private_libstdcxx = false;        // carries_private_libstdcxx (audit.hpp)
};
struct VariantFacts {
  std::optional<KernelMetadata> metadata;
  std::vector<SharedObjectFacts> objects;
};

struct Gap {
  std::string what;  // "variant", "gpu", "archs", "kernels", "glibc", "libstdcxx"
  std::string detail;
};
struct KernelVerdict {
  std::string repo_id;
  std::optional<std::string> variant;    // the pick, none when nothing fits
  std::vector<std::string> gpu_notes;    // "9.0: sm_90a" / "10.0: compute_120 (JIT)"
  std::vector<Gap> gaps;
  bool ok() const noexcept { return gaps.empty(); }
};

// The verdict of `node` for a kernel locked with `variants`; `facts` reads the
// picked variant (called at most once). Throws what `facts` throws.
KernelVerdict check_kernel(const NodeClass& node, const std::string& repo_id, const std::vector<std::string>& variants,
                           const std::function<VariantFacts(const std::string& variant)>& facts);

// Dotted numeric compare ("2.28" < "2.31", "0.17.2" >= "0.17"); non-numeric parts compare as 0.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace kernel_lock::inspect
