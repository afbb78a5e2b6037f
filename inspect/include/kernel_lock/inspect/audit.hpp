// `kernel-lock audit`: findings for one kernel .so (docs/audit.md): symbol
// versions against a manylinux policy, DT_NEEDED resolution, torch/c10 symbols
// against a libtorch, the Python symbols PyInit_ needs (and which the loader
// shims), Python stable-ABI (abi3) compliance. The manylinux policy values are
// auditwheel's policy (PEP 600), kept in one table (audit.cpp); the abi3
// symbols come from CPython's Misc/stable_abi.toml (abi3_symbols.inc).
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/inspect/elf.hpp"

namespace kernel_lock::inspect {

struct ManylinuxPolicy {
  std::string_view name;     // "manylinux_2_28"
  std::string_view glibc;    // highest GLIBC_ version allowed ("2.28")
  std::string_view glibcxx;  // GLIBCXX_ ("3.4.24")
  std::string_view cxxabi;   // CXXABI_ ("1.3.11")
  std::string_view gcc;      // GCC_ ("7.0.0")
};
// The policy named `name`; throws Error(usage) listing the known ones.
const ManylinuxPolicy& manylinux_policy(std::string_view name);
// Libraries every manylinux policy lets a wheel need from the system.
const std::vector<std::string_view>& manylinux_libraries();

// The stable ABI: the Python 3 minor version that added `symbol`, or none when
// `symbol` is not in the stable ABI.
std::optional<int> abi3_added(std::string_view symbol);
// Python symbols our loader provides itself (loader/src/pyshim.c).
bool loader_shims(std::string_view symbol);

enum class Level { error, warning, note };
std::string_view to_string(Level level);

struct Finding {
  std::string rule;     // "manylinux-symbol", "needed-unresolved", "torch-symbol", "python-symbol", "abi3", ...
  Level level = Level::error;
  std::string file;     // "org/name build/<variant>/<path>"
  std::string message;
  friend auto operator<=>(const Finding&, const Finding&) = default;
};

struct AuditOptions {
  const ManylinuxPolicy* policy = nullptr;        // symbol versions and the system libraries
  std::optional<std::filesystem::path> sysroot;   // DT_NEEDED resolved in its lib dirs instead of the whitelist
  std::optional<std::set<std::string>> libtorch_symbols;  // defined symbols of the libtorch libraries
  std::set<std::string> libtorch_libraries;       // their file names (resolve DT_NEEDED)
  bool abi3 = false;                              // the file is an abi3 extension (name holds ".abi3.")
  int abi3_minor = 9;                             // the stable ABI version to check against (3.9)
};

// True when the object defines std::locale::classic(): it carries its own, statically
// linked libstdc++, whose C++ locale is never initialised next to torch's shared one
// (the first error message that formats a number crashes). Rule `private-libstdcxx`
// of the audit, a gap of every class in `check --fleet`.
bool carries_private_libstdcxx(const DynamicInfo& dyn);

// Every finding for one object, sorted.
std::vector<Finding> audit_object(const DynamicInfo& dyn, const std::string& file, const AuditOptions& options);

// The defined dynamic symbols and the library names of every lib*.so* in `dir`
// (a torch wheel's lib/). Throws Error(not_found) when `dir` has none.
void load_libtorch(const std::filesystem::path& dir, AuditOptions& options);

// SARIF 2.1.0 (deterministic bytes) for `findings`.
std::string to_sarif(const std::vector<Finding>& findings);

}  // namespace kernel_lock::inspect
