// Variant directory names under build/ and the choice of the best variant for
// an environment, following the Python `kernels` 0.17 rules (docs/formats.md, "Variant names").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kernel_lock {

enum class VariantKind {
  torch,       // torch<MM>[-cxx11|-cxx98]-<backend>-<arch>-<os>
  stable_abi,  // torch-stable-abi<MM>-<backend>-<arch>-<os>
  tvm_ffi,     // tvm-ffi<MM>-<backend>-<arch>-<os>
  noarch,      // torch-<backend>   (cpu, cuda, rocm, xpu, npu, metal, universal, ...)
};

struct Version2 {
  int major = 0;
  int minor = 0;
  friend auto operator<=>(const Version2&, const Version2&) = default;
};

struct Variant {
  VariantKind kind = VariantKind::torch;
  std::string name;                   // the directory name as given
  std::optional<Version2> framework;  // torch / stable-abi / tvm-ffi version (none for noarch)
  std::optional<std::string> cxx_abi; // "cxx11" or "cxx98" when tagged
  std::string backend;                // "cu", "rocm", "xpu", "cann", "metal", "cpu", "tpu", ...;
                                      // noarch: "cuda", "rocm", "xpu", "npu", "cpu", "metal", "universal", ...
  std::string backend_version;        // digits after the backend ("130" for cu130, "20253" for xpu20253); may be empty
  std::string arch;                   // "x86_64", "aarch64" (empty for noarch)
  std::string os;                     // "linux", "darwin", "windows" (empty for noarch)
};

// Parses a variant directory name; std::nullopt when it is not one.
std::optional<Variant> try_parse_variant(std::string_view name);
// Parses or throws Error(invalid_input) naming what was expected.
Variant parse_variant(std::string_view name);
// Canonical name of a parsed variant (round-trips every form parse accepts).
std::string to_string(const Variant& variant);

// The process (or a fleet target) a variant must fit.
struct Environment {
  Version2 torch;                       // libtorch major.minor
  bool cxx11_abi = true;                // _GLIBCXX_USE_CXX11_ABI of libtorch
  std::string backend = "cpu";          // "cuda", "rocm", "xpu", "cpu", "metal", "npu", ...
  std::optional<Version2> backend_version;  // CUDA / ROCm runtime version
  std::string arch = "x86_64";
  std::string os = "linux";
  std::optional<Version2> tvm_ffi;      // tvm-ffi version when present
  std::optional<Version2> macos;        // macOS product version (darwin only): Metal arch
                                        // variants need >= 26.0, as in Python `kernels`

  // The machine this code runs on, with torch/backend versions supplied by the caller.
  static Environment host(Version2 torch, std::string backend, std::optional<Version2> backend_version);
};
std::string describe(const Environment& env);

struct VariantFit {
  bool fits = false;
  std::string reason;  // why not (empty when it fits)
};
VariantFit check_fit(const Variant& variant, const Environment& env);

struct VariantSelection {
  std::vector<std::string> ranked;  // fitting variants, best first (Python `kernels` preference)
  struct Rejected {
    std::string name;
    std::string reason;
  };
  std::vector<Rejected> rejected;  // non-fitting (or unparseable) names with the reason
  // Human explanation when nothing fits: the environment, what was available, the nearest miss.
  std::string explain_no_match(const Environment& env) const;
};
VariantSelection select_variants(const std::vector<std::string>& names, const Environment& env);

// Filters used by `resolve --torch/--cuda/--arch` and kernels.yaml targets.
// Empty lists match everything. Versions are "2.11" / "13.0"; archs "x86_64".
struct VariantFilter {
  std::vector<std::string> torch;
  std::vector<std::string> cuda;
  std::vector<std::string> arch;
  std::vector<std::string> os;
  bool empty() const noexcept { return torch.empty() && cuda.empty() && arch.empty() && os.empty(); }
  friend bool operator==(const VariantFilter&, const VariantFilter&) = default;
};
// True when a fleet described by `filter` could use `variant`. Each non-empty list
// must be satisfied by one of its entries:
//  - torch ("2.11"): torch variants of a listed version; stable-ABI variants at or
//    below a listed version; tvm-ffi and noarch variants always.
//  - cuda ("13.0"): CUDA variants fitting a listed version (same major, variant minor
//    <= listed minor); CPU arch variants kept; other accelerators (rocm, xpu, cann,
//    metal, tpu, neuron) dropped; noarch kept only for cuda, cpu and universal.
//  - arch / os: arch variants with a listed CPU / OS; noarch always.
// Throws Error(invalid_input) for a malformed version in the filter.
bool matches_filter(const Variant& variant, const VariantFilter& filter);
// The same for a variant directory name: an empty filter keeps every name; a
// non-empty one drops names that are not variant names. Throws like matches_filter.
bool variant_name_matches_filter(std::string_view name, const VariantFilter& filter);

// "2.11" -> {2, 11}; throws Error(invalid_input) naming `what` otherwise.
Version2 parse_version2(std::string_view text, std::string_view what = "version");
// The backend version of an arch variant split as Python `kernels` does
// (cu130 -> 13.0, cu126 -> 12.6, xpu20253 -> 2025.3, rocm71 -> 7.1); none when the
// backend has no version (cpu, metal, ...) or for noarch variants.
std::optional<Version2> backend_version2(const Variant& variant);

}  // namespace kernel_lock
