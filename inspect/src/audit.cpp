// The audit rules (audit.hpp).
#include "kernel_lock/inspect/audit.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/inspect/fleet.hpp"

namespace kernel_lock::inspect {
namespace {

// auditwheel's policy (manylinux-policy.json, PEP 600), x86_64 and aarch64: the
// highest version of each symbol family a policy allows.
constexpr std::array<ManylinuxPolicy, 6> kPolicies{{
    {"manylinux_2_17", "2.17", "3.4.19", "1.3.7", "4.8.0"},
    {"manylinux_2_28", "2.28", "3.4.24", "1.3.11", "7.0.0"},
    {"manylinux_2_31", "2.31", "3.4.28", "1.3.12", "7.0.0"},
    {"manylinux_2_34", "2.34", "3.4.29", "1.3.13", "7.0.0"},
    {"manylinux_2_35", "2.35", "3.4.30", "1.3.13", "12.0.0"},
    {"manylinux_2_39", "2.39", "3.4.33", "1.3.15", "14.0.0"},
}};

struct Abi3Symbol {
  std::string_view name;
  int minor;
};
constexpr Abi3Symbol kAbi3[] = {
#include "abi3_symbols.inc"
};

// The allowed maximum for a versioned symbol's family, or none when the family is not policed.
std::optional<std::string_view> policy_max(const ManylinuxPolicy& p, std::string_view family) {
  if (family == "GLIBC") return p.glibc;
  if (family == "GLIBCXX") return p.glibcxx;
  if (family == "CXXABI") return p.cxxabi;
  if (family == "GCC") return p.gcc;
  return std::nullopt;
}

bool numeric(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool is_torch_symbol(std::string_view s) {
  for (std::string_view p : {"_ZN3c10", "_ZNK3c10", "_ZN2at", "_ZNK2at", "_ZN5torch", "_ZNK5torch"})
    if (s.starts_with(p)) return true;
  return false;
}

bool resolves_in_sysroot(const std::filesystem::path& root, const std::string& lib) {
  for (const char* d : {"lib", "lib64", "usr/lib", "usr/lib64", "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu",
                        "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"}) {
    std::error_code ec;
    if (std::filesystem::exists(root / d / lib, ec)) return true;
  }
  return false;
}

void check_symbols(const DynamicInfo& dyn, const std::string& file, const AuditOptions& o, std::vector<Finding>& out) {
  for (const auto& s : dyn.undefined) {
    const auto us = s.version.find('_');
    if (o.policy != nullptr && us != std::string::npos) {
      const auto family = std::string_view(s.version).substr(0, us);
      const auto version = std::string_view(s.version).substr(us + 1);
      if (auto max = policy_max(*o.policy, family); max && numeric(version) && compare_versions(version, *max) > 0)
        out.push_back({"manylinux-symbol", Level::error, file,
                       s.name + "@" + s.version + " (" + s.version_file + ") is newer than " + std::string(o.policy->name) +
                           " allows (" + std::string(family) + "_" + std::string(*max) + ")"});
    }
    if (o.libtorch_symbols && is_torch_symbol(s.name) && !s.weak && !o.libtorch_symbols->contains(s.name))
      out.push_back({"torch-symbol", Level::error, file, s.name + " is not defined by the given libtorch"});
    if (!(s.name.starts_with("Py") || s.name.starts_with("_Py"))) continue;
    out.push_back({"python-symbol", Level::note, file,
                   s.name + (loader_shims(s.name) ? " (shimmed by the loader)" : " (NOT shimmed: needs libpython in the process)")});
    if (!o.abi3) continue;
    const auto added = abi3_added(s.name);
    if (!added) out.push_back({"abi3", Level::error, file, s.name + " is not in the Python stable ABI (abi3)"});
    else if (*added > o.abi3_minor)
      out.push_back({"abi3", Level::error, file,
                     s.name + " joined the stable ABI in 3." + std::to_string(*added) + ", after 3." + std::to_string(o.abi3_minor)});
  }
}

void check_private_libstdcxx(const DynamicInfo& dyn, const std::string& file, std::vector<Finding>& out) {
  if (!carries_private_libstdcxx(dyn)) return;
  out.push_back({"private-libstdcxx", Level::error, file,
                 "defines std::locale::classic(): it carries its own, statically linked libstdc++, whose C++ locale "
                 "is never initialised next to torch's shared one (the first error message that formats a number "
                 "crashes); link the shared libstdc++.so.6"});
}

}  // namespace

const ManylinuxPolicy& manylinux_policy(std::string_view name) {
  std::string known;
  for (const auto& p : kPolicies) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  throw Error(ErrorCode::usage, "unknown target " + std::string(name), "known: " + known);
}

const std::vector<std::string_view>& manylinux_libraries() {
  static const std::vector<std::string_view> libs{
      "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6",    "libdl.so.2",      "librt.so.1",      "libc.so.6",
      "libnsl.so.1",   "libutil.so.1",   "libpthread.so.0", "libX11.so.6",  "libXext.so.6",    "libXrender.so.1",
      "libICE.so.6",   "libSM.so.6",     "libGL.so.1",   "libgobject-2.0.so.0", "libgthread-2.0.so.0",
      "libglib-2.0.so.0", "libresolv.so.2", "libexpat.so.1", "libz.so.1", "libatomic.so.1", "ld-linux-x86-64.so.2",
      "ld-linux-aarch64.so.1"};
  return libs;
}

std::optional<int> abi3_added(std::string_view symbol) {
  const auto* end = std::end(kAbi3);
  const auto* it = std::lower_bound(std::begin(kAbi3), end, symbol, [](const Abi3Symbol& s, std::string_view n) { return s.name < n; });
  if (it == end || it->name != symbol) return std::nullopt;
  return it->minor;
}

bool loader_shims(std::string_view symbol) { return symbol == "PyModule_Create2"; }

std::string_view to_string(Level level) {
  switch (level) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::note: return "note";
  }
  return "error";
}

// A kernel that defines std::locale::classic() carries its own copy of libstdc++
// (linked statically). In a process that has torch's shared libstdc++, that
// copy's C++ locale is never initialised: its first formatted number (a
// TORCH_CHECK message with a shape or an eps) segfaults inside the op call.
bool carries_private_libstdcxx(const DynamicInfo& dyn) {
  constexpr std::string_view kLocaleClassic = "_ZNSt6locale7classicEv";
  const auto it = std::lower_bound(dyn.defined.begin(), dyn.defined.end(), kLocaleClassic,
                                   [](const DynamicSymbol& s, std::string_view n) { return s.name < n; });
  return it != dyn.defined.end() && it->name == kLocaleClassic;
}

std::vector<Finding> audit_object(const DynamicInfo& dyn, const std::string& file, const AuditOptions& o) {
  std::vector<Finding> out;
  check_symbols(dyn, file, o, out);
  check_private_libstdcxx(dyn, file, out);
  const auto& system = manylinux_libraries();
  for (const auto& lib : dyn.needed) {
    const bool torch = o.libtorch_libraries.contains(lib);
    const bool resolved = torch || (o.sysroot ? resolves_in_sysroot(*o.sysroot, lib)
                                              : std::find(system.begin(), system.end(), lib) != system.end());
    if (!resolved)
      out.push_back({"needed-unresolved", Level::warning, file,
                     "DT_NEEDED " + lib + " is " + (o.sysroot ? "not in the sysroot" : "not a manylinux system library") +
                         (o.libtorch_libraries.empty() ? "" : " nor in libtorch")});
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void load_libtorch(const std::filesystem::path& dir, AuditOptions& options) {
  std::set<std::string> symbols;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (!name.starts_with("lib") || name.find(".so") == std::string::npos || !entry.is_regular_file()) continue;
    options.libtorch_libraries.insert(name);
    for (const auto& s : ElfFile::open(entry.path()).dynamic().defined) symbols.insert(s.name);
  }
  if (ec || options.libtorch_libraries.empty())
    throw Error(ErrorCode::not_found, "no lib*.so in " + dir.string(), "pass the torch wheel's lib/ directory");
  options.libtorch_symbols = std::move(symbols);
}

std::string to_sarif(const std::vector<Finding>& findings) {
  std::set<std::string> rules;
  auto results = nlohmann::ordered_json::array();
  for (const auto& f : findings) {
    rules.insert(f.rule);
    results.push_back({{"ruleId", f.rule},
                       {"level", to_string(f.level)},
                       {"message", {{"text", f.message}}},
                       {"locations", {{{"physicalLocation", {{"artifactLocation", {{"uri", f.file}}}}}}}}});
  }
  auto rule_list = nlohmann::ordered_json::array();
  for (const auto& r : rules) rule_list.push_back({{"id", r}});
  nlohmann::ordered_json driver{{"name", "kernel-lock audit"}, {"informationUri", "docs/audit.md"}, {"rules", rule_list}};
  nlohmann::ordered_json doc{{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
                             {"version", "2.1.0"},
                             {"runs", {{{"tool", {{"driver", driver}}}, {"results", results}}}}};
  return doc.dump(2) + "\n";
}

}  // namespace kernel_lock::inspect
