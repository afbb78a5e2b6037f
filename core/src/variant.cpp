// Variant directory names and variant selection, mirroring Python `kernels` 0.17
// (variants.py: parse_variant, _check_variants, _sort_variants; backends.py:
// parse_backend) so that our loader and the Python loader pick the same variant.
//
// Deliberate differences from Python, all for names Python would only ever reject
// or that cannot be real directory names:
//  - names must consist of [A-Za-z0-9._-] and have no empty component, so a name
//    from a lock can never act as a path ("torch-../x", "torch211-cu130--linux");
//  - a version group longer than 9 digits is refused (Python has big integers).
#include "kernel_lock/core/variant.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <span>
#include <sstream>
#include <tuple>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

constexpr std::size_t kMaxDigits = 9;

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view digits) {
  int value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

std::vector<std::string_view> split_dash(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto dash = s.find('-', start);
    if (dash == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, dash - start));
    start = dash + 1;
  }
}

// Splits the digits of a flattened "<major><minor>" version the way the Python
// regexes do. `major_digits_lazy`: `(\d+?)(\d+)` (major = first digit, tvm-ffi);
// otherwise greedy `(\d+)(\d+)` (minor = last digit: cu130 -> 13.0). Torch and
// stable-ABI use `(\d)(\d+)`, which is the lazy split too.
std::optional<Version2> split_version(std::string_view digits, bool major_digits_lazy) {
  if (!all_digits(digits) || digits.size() < 2) return std::nullopt;
  const std::size_t cut = major_digits_lazy ? 1 : digits.size() - 1;
  const auto major = digits.substr(0, cut);
  const auto minor = digits.substr(cut);
  if (major.size() > kMaxDigits || minor.size() > kMaxDigits) return std::nullopt;
  return Version2{to_int(major), to_int(minor)};
}

std::string flatten(Version2 v) { return std::to_string(v.major) + std::to_string(v.minor); }
std::string dotted(Version2 v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

// Arch backends with a flattened version, and those without one.
constexpr std::array<std::string_view, 4> kVersionedBackends{"cu", "rocm", "xpu", "cann"};
constexpr std::array<std::string_view, 4> kPlainBackends{"cpu", "metal", "neuron", "tpu"};

// parse_backend: exact plain names, else a prefix with a flattened version
// (checked in Python's order: cu, rocm, xpu, cann).
bool parse_arch_backend(std::string_view text, Variant& out) {
  for (auto plain : kPlainBackends) {
    if (text == plain) {
      out.backend = std::string(plain);
      out.backend_version.clear();
      return true;
    }
  }
  for (auto prefix : kVersionedBackends) {
    if (text.starts_with(prefix)) {
      auto version = split_version(text.substr(prefix.size()), false);
      if (!version) return false;
      out.backend = std::string(prefix);
      out.backend_version = flatten(*version);
      return true;
    }
  }
  return false;
}

bool valid_name_chars(std::string_view name) noexcept {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// Arch.parse: exactly <backend>-<cpu>-<os>.
bool parse_arch_parts(std::span<const std::string_view> parts, Variant& out) {
  if (parts.size() != 3) return false;
  if (!parse_arch_backend(parts[0], out)) return false;
  if (parts[1].empty() || parts[2].empty()) return false;
  out.arch = std::string(parts[1]);
  out.os = std::string(parts[2]);
  return true;
}

std::optional<Variant> parse_impl(std::string_view name, std::string& why) {
  if (name.empty()) {
    why = "empty name";
    return std::nullopt;
  }
  if (!valid_name_chars(name)) {
    why = "only letters, digits, '.', '_' and '-' may appear in a variant name";
    return std::nullopt;
  }
  const auto parts = split_dash(name);
  Variant v;
  v.name = std::string(name);
  if (name.starts_with("torch-stable-abi")) {
    v.kind = VariantKind::stable_abi;
    // parts: "torch", "stable", "abi<MM>", backend, cpu, os
    auto version = parts.size() >= 3 ? split_version(parts[2].substr(3), true) : std::nullopt;
    if (!version) {
      why = "expected torch-stable-abi<major><minor>-<backend>-<cpu>-<os>";
      return std::nullopt;
    }
    v.framework = version;
    if (!parse_arch_parts(std::span(parts).subspan(3), v)) {
      why = "expected torch-stable-abi<major><minor>-<backend>-<cpu>-<os> with a known backend";
      return std::nullopt;
    }
    return v;
  }
  if (parts[0] == "torch") {
    v.kind = VariantKind::noarch;
    v.backend = name.size() > 6 ? std::string(name.substr(6)) : std::string();  // after "torch-"
    if (parts.size() < 2 || v.backend.empty() ||
        std::any_of(parts.begin() + 1, parts.end(), [](std::string_view p) { return p.empty(); })) {
      why = "expected torch-<backend> (noarch), e.g. torch-cuda or torch-universal";
      return std::nullopt;
    }
    return v;
  }
  if (parts[0].starts_with("torch")) {
    v.kind = VariantKind::torch;
    auto version = split_version(parts[0].substr(5), true);
    if (!version) {
      why = "expected torch<major><minor>[-cxx11|-cxx98]-<backend>-<cpu>-<os>";
      return std::nullopt;
    }
    v.framework = version;
    std::size_t arch_start = 1;
    if (parts.size() >= 2 && (parts[1] == "cxx11" || parts[1] == "cxx98")) {
      v.cxx_abi = std::string(parts[1]);
      arch_start = 2;
    }
    if (!parse_arch_parts(std::span(parts).subspan(arch_start), v)) {
      why = "expected torch<major><minor>[-cxx11|-cxx98]-<backend>-<cpu>-<os> with a known backend "
            "(cu<MM>, rocm<MM>, xpu<MM>, cann<MM>, cpu, metal, neuron, tpu)";
      return std::nullopt;
    }
    return v;
  }
  if (parts[0] == "tvm" && parts.size() >= 2 && parts[1].starts_with("ffi")) {
    v.kind = VariantKind::tvm_ffi;
    auto version = split_version(parts[1].substr(3), true);
    if (!version) {
      why = "expected tvm-ffi<major><minor>-<backend>-<cpu>-<os>";
      return std::nullopt;
    }
    v.framework = version;
    if (!parse_arch_parts(std::span(parts).subspan(2), v)) {
      why = "expected tvm-ffi<major><minor>-<backend>-<cpu>-<os> with a known backend";
      return std::nullopt;
    }
    return v;
  }
  why = "unknown framework (expected torch<MM>-..., torch-stable-abi<MM>-..., tvm-ffi<MM>-... or torch-<backend>)";
  return std::nullopt;
}

// ---- The environment's backend, as Python's Backend objects see it -------------

bool is_versioned_prefix(std::string_view backend) noexcept {
  return std::find(kVersionedBackends.begin(), kVersionedBackends.end(), backend) != kVersionedBackends.end();
}

// Environment backend name -> variant prefix ("cuda" -> "cu", "npu" -> "cann").
std::string env_backend_prefix(const Environment& env) {
  if (env.backend == "cuda") return "cu";
  if (env.backend == "npu" || env.backend == "cann") return "cann";
  return env.backend;
}

// Backend.name of the selected backend ("cann" for npu), and the noarch spelling.
std::string env_backend_name(const Environment& env) {
  return env.backend == "npu" ? std::string("cann") : env.backend;
}
std::string env_noarch_name(const Environment& env) {
  const auto name = env_backend_name(env);
  return name == "cann" ? std::string("npu") : name;
}

// Backend.variant_str of the selected backend ("cu130", "rocm63", "cpu").
std::string env_backend_variant_str(const Environment& env) {
  const auto prefix = env_backend_prefix(env);
  if (is_versioned_prefix(prefix)) return env.backend_version ? prefix + flatten(*env.backend_version) : prefix;
  return prefix;
}

std::string variant_backend_str(const Variant& v) { return v.backend + v.backend_version; }

// How far a variant got through the checks (for the nearest-miss explanation).
enum class Stage { cpu = 0, os = 1, framework = 2, backend = 3, fits = 4 };

struct Check {
  Stage stage;
  std::string reason;
};

std::string abi_label(std::optional<bool> cxx11) {
  if (!cxx11) return "None";
  return *cxx11 ? "True" : "False";
}

Check check(const Variant& v, const Environment& env) {
  if (v.kind == VariantKind::noarch) {
    const auto wanted = env_noarch_name(env);
    if (v.backend != wanted && v.backend != "universal")
      return {Stage::backend,
              "backend (" + v.backend + ") does not match system backend (" + wanted + ") and is not universal"};
    return {Stage::fits, {}};
  }
  if (v.arch != env.arch) return {Stage::cpu, "CPU (" + v.arch + ") does not match system CPU (" + env.arch + ")"};
  if (v.os != env.os) return {Stage::os, "OS (" + v.os + ") does not match system OS (" + env.os + ")"};
  const Version2 fw = v.framework.value_or(Version2{});
  switch (v.kind) {
    case VariantKind::torch: {
      if (fw != env.torch)
        return {Stage::framework, "Torch version (" + dotted(fw) + ") does not match environment Torch version (" +
                                      dotted(env.torch) + ")"};
      // Python only knows the ABI of torch on Linux (None elsewhere), so a tagged
      // variant never fits off Linux.
      const std::optional<bool> env_abi = env.os == "linux" ? std::optional<bool>(env.cxx11_abi) : std::nullopt;
      if (v.cxx_abi) {
        const bool variant_abi = *v.cxx_abi != "cxx98";
        if (!env_abi || variant_abi != *env_abi)
          return {Stage::framework, "Torch CXX11 ABI (" + abi_label(variant_abi) +
                                        ") does not match environment Torch CXX11 ABI (" + abi_label(env_abi) + ")"};
      }
      break;
    }
    case VariantKind::stable_abi:
      if (fw > env.torch)
        return {Stage::framework, "Torch stable ABI version (" + dotted(fw) +
                                      ") is too new for environment Torch version (" + dotted(env.torch) + ")"};
      break;
    case VariantKind::tvm_ffi:
      if (!env.tvm_ffi || fw != *env.tvm_ffi)
        return {Stage::framework, "tvm-ffi version (" + dotted(fw) + ") does not match environment tvm-ffi version (" +
                                      (env.tvm_ffi ? dotted(*env.tvm_ffi) : std::string("None")) + ")"};
      break;
    case VariantKind::noarch:
      break;
  }
  const bool env_is_cuda = env_backend_prefix(env) == "cu";
  if (env_is_cuda && v.backend == "cu") {
    const auto variant_cuda = backend_version2(v).value_or(Version2{});
    if (!env.backend_version)
      return {Stage::backend, "CUDA version (" + dotted(variant_cuda) +
                                  ") cannot be checked: the environment gives no CUDA version"};
    if (variant_cuda.major != env.backend_version->major || variant_cuda.minor > env.backend_version->minor)
      return {Stage::backend, "CUDA version (" + dotted(variant_cuda) +
                                  ") is not compatible with system CUDA version (" + dotted(*env.backend_version) + ")"};
  } else if (variant_backend_str(v) != env_backend_variant_str(env)) {
    return {Stage::backend, "backend (" + variant_backend_str(v) + ") does not match selected backend (" +
                                env_backend_variant_str(env) + ")"};
  } else if (v.backend == "metal" && (!env.macos || *env.macos < Version2{26, 0})) {
    return {Stage::backend, "Metal kernels require macOS 26.0 or later, system macOS version is " +
                                (env.macos ? dotted(*env.macos) : std::string("None"))};
  }
  return {Stage::fits, {}};
}

// _sort_variants' key, less the accepted/rejected part (callers sort each group).
std::array<int, 4> sort_key(const Variant& v) {
  if (v.kind == VariantKind::noarch) return {2, 0, 0, v.backend == "universal" ? 1 : 0};
  int backend_order = 0;
  if (v.backend == "cu" || v.backend == "rocm" || v.backend == "xpu" || v.backend == "cann")
    backend_order = -backend_version2(v).value_or(Version2{}).minor;
  const Version2 fw = v.framework.value_or(Version2{});
  switch (v.kind) {
    case VariantKind::stable_abi: return {0, -fw.major, -fw.minor, backend_order};
    case VariantKind::torch: return {1, 0, v.cxx_abi ? 1 : 0, backend_order};
    default: return {2, 0, 0, backend_order};
  }
}

}  // namespace

// ---- Parsing and printing -----------------------------------------------------

std::optional<Variant> try_parse_variant(std::string_view name) {
  std::string why;
  return parse_impl(name, why);
}

Variant parse_variant(std::string_view name) {
  std::string why;
  auto v = parse_impl(name, why);
  if (!v)
    throw Error(ErrorCode::invalid_input, "'" + std::string(name) + "' is not a variant name: " + why,
                "variant names look like torch211-cxx11-cu130-x86_64-linux, torch-stable-abi210-cu130-x86_64-linux, "
                "tvm-ffi01-cpu-x86_64-linux or torch-universal");
  return *v;
}

std::string to_string(const Variant& v) {
  const std::string arch = "-" + v.backend + v.backend_version + "-" + v.arch + "-" + v.os;
  const Version2 fw = v.framework.value_or(Version2{});
  switch (v.kind) {
    case VariantKind::torch: return "torch" + flatten(fw) + (v.cxx_abi ? "-" + *v.cxx_abi : std::string()) + arch;
    case VariantKind::stable_abi: return "torch-stable-abi" + flatten(fw) + arch;
    case VariantKind::tvm_ffi: return "tvm-ffi" + flatten(fw) + arch;
    case VariantKind::noarch: return "torch-" + v.backend;
  }
  return v.name;
}

Version2 parse_version2(std::string_view text, std::string_view what) {
  const auto dot = text.find('.');
  if (dot != std::string_view::npos) {
    const auto major = text.substr(0, dot);
    const auto minor = text.substr(dot + 1);
    if (all_digits(major) && all_digits(minor) && major.size() <= kMaxDigits && minor.size() <= kMaxDigits)
      return Version2{to_int(major), to_int(minor)};
  }
  throw Error(ErrorCode::invalid_input,
              "invalid " + std::string(what) + " '" + std::string(text) + "': expected <major>.<minor> such as 2.11");
}

std::optional<Version2> backend_version2(const Variant& v) {
  if (v.kind == VariantKind::noarch || v.backend_version.empty()) return std::nullopt;
  return split_version(v.backend_version, false);
}

// ---- Environment ----------------------------------------------------------------

Environment Environment::host(Version2 torch, std::string backend, std::optional<Version2> backend_version) {
  Environment env;
  env.torch = torch;
  env.backend = std::move(backend);
  env.backend_version = backend_version;
  struct utsname u {};
  if (::uname(&u) == 0) {
    std::string machine = u.machine;
    std::string sys = u.sysname;
    std::transform(sys.begin(), sys.end(), sys.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (machine == "arm64") machine = "aarch64";
    if (machine == "AMD64") machine = "x86_64";
    env.arch = machine;
    env.os = sys;
    if (sys == "darwin") {
      // Darwin 20..24 are macOS 11..15; Darwin 25 is macOS 26 (versions aligned).
      const int darwin = to_int(std::string_view(u.release).substr(0, std::string_view(u.release).find('.')));
      if (darwin >= 25) env.macos = Version2{darwin + 1, 0};
      else if (darwin >= 20) env.macos = Version2{darwin - 9, 0};
    }
  }
  return env;
}

std::string describe(const Environment& env) {
  std::string out = "torch " + dotted(env.torch);
  if (env.os == "linux") out += env.cxx11_abi ? " (C++11 ABI)" : " (pre-C++11 ABI)";
  out += ", backend " + env.backend;
  if (env.backend_version) out += " " + dotted(*env.backend_version);
  out += " (" + env_backend_variant_str(env) + ")";
  if (env.tvm_ffi) out += ", tvm-ffi " + dotted(*env.tvm_ffi);
  out += ", " + env.arch + "-" + env.os;
  if (env.macos) out += " (macOS " + dotted(*env.macos) + ")";
  return out;
}

// ---- Fit and selection -------------------------------------------------------------

VariantFit check_fit(const Variant& variant, const Environment& env) {
  auto c = check(variant, env);
  return {c.stage == Stage::fits, std::move(c.reason)};
}

VariantSelection select_variants(const std::vector<std::string>& names, const Environment& env) {
  struct Entry {
    Variant variant;
    std::string reason;
    bool fits;
  };
  std::vector<Entry> entries;
  std::vector<VariantSelection::Rejected> unparseable;
  std::vector<std::string> seen;
  for (const auto& name : names) {
    // Python collects names into a set; keep the first occurrence.
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    std::string why;
    auto v = parse_impl(name, why);
    if (!v) {
      unparseable.push_back({name, "not a variant name: " + why});
      continue;
    }
    auto c = check(*v, env);
    entries.push_back({std::move(*v), std::move(c.reason), c.stage == Stage::fits});
  }
  // Python's sorted() is stable: equal keys keep the input order. Accepted first.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tuple(a.fits ? 0 : 1, sort_key(a.variant)) < std::tuple(b.fits ? 0 : 1, sort_key(b.variant));
  });
  VariantSelection out;
  for (auto& e : entries) {
    if (e.fits) out.ranked.push_back(e.variant.name);
    else out.rejected.push_back({e.variant.name, std::move(e.reason)});
  }
  for (auto& r : unparseable) out.rejected.push_back(std::move(r));
  return out;
}

std::string VariantSelection::explain_no_match(const Environment& env) const {
  std::ostringstream out;
  if (!ranked.empty()) {
    out << "variant " << ranked.front() << " fits " << describe(env);
    return out.str();
  }
  out << "no variant fits this environment: " << describe(env) << "\n";
  if (rejected.empty()) {
    out << "available variants: none";
    return out.str();
  }
  out << "available variants (" << rejected.size() << "):\n";
  const Rejected* nearest = nullptr;
  int nearest_stage = -1;
  for (const auto& r : rejected) {
    out << "  " << r.name << ": " << r.reason << "\n";
    auto v = try_parse_variant(r.name);
    if (!v) continue;
    // Nearest miss: the variant that passed the most checks (CPU, OS, framework,
    // backend); among equals, the first in preference order.
    const int stage = static_cast<int>(check(*v, env).stage);
    if (stage > nearest_stage) {
      nearest_stage = stage;
      nearest = &r;
    }
  }
  if (nearest != nullptr) out << "nearest miss: " << nearest->name << " (" << nearest->reason << ")";
  else out << "nearest miss: none (no name is a valid variant)";
  return out.str();
}

// ---- Filters ----------------------------------------------------------------------

bool variant_name_matches_filter(std::string_view name, const VariantFilter& filter) {
  if (filter.empty()) return true;
  const auto parsed = try_parse_variant(name);
  return parsed && matches_filter(*parsed, filter);
}

bool matches_filter(const Variant& v, const VariantFilter& filter) {
  if (filter.empty()) return true;
  const Version2 fw = v.framework.value_or(Version2{});
  if (!filter.torch.empty()) {
    bool ok = v.kind == VariantKind::noarch || v.kind == VariantKind::tvm_ffi;
    for (const auto& t : filter.torch) {
      const auto want = parse_version2(t, "torch version");
      if (v.kind == VariantKind::torch && fw == want) ok = true;
      if (v.kind == VariantKind::stable_abi && fw <= want) ok = true;
    }
    if (!ok) return false;
  }
  if (!filter.cuda.empty()) {
    bool ok = false;
    if (v.kind == VariantKind::noarch) {
      ok = v.backend == "cuda" || v.backend == "cpu" || v.backend == "universal";
    } else if (v.backend == "cpu") {
      ok = true;
    } else if (v.backend == "cu") {
      const auto have = backend_version2(v).value_or(Version2{});
      for (const auto& c : filter.cuda) {
        const auto want = parse_version2(c, "CUDA version");
        if (have.major == want.major && have.minor <= want.minor) ok = true;
      }
    }
    if (!ok) return false;
  }
  if (v.kind != VariantKind::noarch) {
    if (!filter.arch.empty() && std::find(filter.arch.begin(), filter.arch.end(), v.arch) == filter.arch.end())
      return false;
    if (!filter.os.empty() && std::find(filter.os.begin(), filter.os.end(), v.os) == filter.os.end()) return false;
  }
  return true;
}

}  // namespace kernel_lock
