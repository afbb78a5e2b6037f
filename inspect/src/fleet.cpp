// fleet.yaml, metadata.json facts and the per-class verdict (fleet.hpp).
#include "kernel_lock/inspect/fleet.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/json.hpp"

namespace kernel_lock::inspect {
namespace {

constexpr const char* kFleetHint = "see docs/fleet.md for the fleet.yaml format";

[[noreturn]] void fleet_error(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::invalid_input, where + ": " + what, kFleetHint);
}

std::string scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) fleet_error(where, "expected a string");
  return node.as<std::string>();
}

NodeClass parse_class(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) fleet_error(where, "expected a mapping");
  NodeClass c;
  c.env = Environment{};
  c.env.macos.reset();
  c.env.torch = {};
  bool have_torch = false;
  for (const auto& kv : node) {
    const auto key = scalar(kv.first, where);
    const auto at = where + "." + key;
    const auto& v = kv.second;
    if (key == "name") c.name = scalar(v, at);
    else if (key == "torch") { c.env.torch = parse_version2(scalar(v, at), at); have_torch = true; }
    else if (key == "cxx11-abi") c.env.cxx11_abi = v.as<bool>();
    else if (key == "cuda" || key == "rocm" || key == "xpu") {
      c.env.backend = key;
      c.env.backend_version = parse_version2(scalar(v, at), at);
    } else if (key == "cpu") { if (v.as<bool>()) c.env.backend = "cpu"; }
    else if (key == "arch") c.env.arch = scalar(v, at);
    else if (key == "os") c.env.os = scalar(v, at);
    else if (key == "glibc") { parse_version2(scalar(v, at), at); c.glibc = scalar(v, at); }
    else if (key == "kernels") c.kernels = scalar(v, at);
    else if (key == "gpus") {
      if (!v.IsSequence() || v.size() > 64) fleet_error(at, "expected a list of at most 64 capabilities");
      for (std::size_t i = 0; i < v.size(); ++i) c.gpus.push_back(parse_capability(scalar(v[i], at), at));
    } else fleet_error(at, "unknown field (known: name, torch, cxx11-abi, cuda, rocm, xpu, cpu, arch, os, gpus, glibc, kernels)");
  }
  if (c.name.empty()) fleet_error(where, "missing `name`");
  if (!have_torch) fleet_error(where, "missing `torch` (e.g. \"2.11\")");
  if (!c.gpus.empty() && c.env.backend != "cuda") fleet_error(where + ".gpus", "GPU capabilities need `cuda`");
  return c;
}

}  // namespace

std::vector<NodeClass> parse_fleet_yaml(std::string_view text, std::string_view source) {
  const std::string src(source);
  if (text.size() > kMaxFleetBytes) fleet_error(src, "file larger than 1 MiB; not a fleet file");
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap() || !root["classes"] || !root["classes"].IsSequence())
      fleet_error(src, "expected a mapping with a `classes` list");
    const auto& list = root["classes"];
    if (list.size() > kMaxFleetClasses) fleet_error(src, "more than 1024 classes");
    std::vector<NodeClass> out;
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto c = parse_class(list[i], src + ": classes[" + std::to_string(i) + "]");
      if (!names.insert(c.name).second) fleet_error(src, "class `" + c.name + "` is listed twice");
      out.push_back(std::move(c));
    }
    return out;
  } catch (const YAML::Exception& e) {
    fleet_error(e.mark.is_null() ? src : src + ":" + std::to_string(e.mark.line + 1), "invalid YAML: " + e.msg);
  }
}

KernelMetadata parse_kernel_metadata(std::string_view text, std::string_view source) {
  const auto doc = parse_json_bounded<nlohmann::json>(text, source, kMaxMetadataBytes, "metadata.json of a kernel build");
  KernelMetadata m;
  if (!doc.is_object()) throw Error(ErrorCode::invalid_input, std::string(source) + ": expected a JSON object");
  if (auto b = doc.find("backend"); b != doc.end() && b->is_object()) {
    if (auto t = b->find("type"); t != b->end() && t->is_string()) m.backend = t->get<std::string>();
    if (auto a = b->find("archs"); a != b->end() && a->is_array())
      for (const auto& arch : *a)
        if (arch.is_string()) m.archs.push_back(arch.get<std::string>());
  }
  if (auto k = doc.find("kernels-minver"); k != doc.end() && k->is_string()) m.kernels_minver = k->get<std::string>();
  if (auto p = doc.find("provenance"); p != doc.end() && p->is_object())
    if (auto d = p->find("dirty"); d != p->end() && d->is_boolean()) m.dirty = d->get<bool>();
  return m;
}

std::vector<FatbinEntry> archs_as_entries(const std::vector<std::string>& archs) {
  std::vector<FatbinEntry> out;
  for (std::string a : archs) {
    const bool ptx = a.size() > 4 && a.ends_with("+PTX");
    if (ptx) a.resize(a.size() - 4);
    const bool specific = !a.empty() && a.back() == 'a';
    const bool family = !a.empty() && a.back() == 'f';
    if (specific || family) a.pop_back();
    const auto cap = parse_capability(a, "backend.archs entry");
    const int arch = cap.major * 10 + cap.minor;
    out.push_back(FatbinEntry{FatbinKind::sass, arch, specific, family});
    if (ptx) out.push_back(FatbinEntry{FatbinKind::ptx, arch, specific, family});
  }
  std::sort(out.begin(), out.end());
  return out;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto next = [](std::string_view& s) {
    long v = 0;
    std::size_t i = 0;
    for (; i < s.size() && s[i] != '.'; ++i) v = (s[i] >= '0' && s[i] <= '9' && v < 1'000'000) ? v * 10 + (s[i] - '0') : v;
    s.remove_prefix(i < s.size() ? i + 1 : i);
    return v;
  };
  while (!a.empty() || !b.empty()) {
    const long x = next(a), y = next(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

namespace {

void check_gpus(const NodeClass& node, const VariantFacts& facts, KernelVerdict& out) {
  for (const auto& cap : node.gpus) {
    for (const auto& so : facts.objects) {
      if (so.fatbin.empty()) continue;
      const auto v = check_capability(so.fatbin, cap);
      if (!v.runs) out.gaps.push_back({"gpu", to_string(cap) + ": " + so.path + ": " + v.reason});
      else out.gpu_notes.push_back(to_string(cap) + ": " + v.via->to_string() + (v.jit ? " (JIT from PTX)" : ""));
    }
    if (facts.metadata && !facts.metadata->archs.empty()) {
      const auto v = check_capability(archs_as_entries(facts.metadata->archs), cap);
      if (!v.runs) out.gaps.push_back({"archs", to_string(cap) + ": not in metadata.json backend.archs"});
    }
  }
}

// A private libstdc++ crashes next to torch on every class: a gap everywhere.
void check_libstdcxx(const VariantFacts& facts, KernelVerdict& out) {
  for (const auto& so : facts.objects)
    if (so.private_libstdcxx)
      out.gaps.push_back({"libstdcxx", so.path + " carries its own, statically linked libstdc++ (it defines "
                                       "std::locale::classic()): its first error message that formats a number "
                                       "crashes next to torch's libstdc++; rebuild it against libstdc++.so.6"});
}

void check_versions(const NodeClass& node, const VariantFacts& facts, KernelVerdict& out) {
  if (facts.metadata && facts.metadata->kernels_minver && node.kernels &&
      compare_versions(*node.kernels, *facts.metadata->kernels_minver) < 0)
    out.gaps.push_back({"kernels", "needs kernels >= " + *facts.metadata->kernels_minver + ", class has " + *node.kernels});
  if (!node.glibc) return;
  for (const auto& so : facts.objects)
    for (const auto& need : so.version_needs)
      if (need.version.starts_with("GLIBC_") && compare_versions(need.version.substr(6), *node.glibc) > 0) {
        out.gaps.push_back({"glibc", so.path + " needs " + need.version + ", class has glibc " + *node.glibc});
        break;
      }
}

}  // namespace

KernelVerdict check_kernel(const NodeClass& node, const std::string& repo_id, const std::vector<std::string>& variants,
                           const std::function<VariantFacts(const std::string& variant)>& facts) {
  KernelVerdict out;
  out.repo_id = repo_id;
  const auto selection = select_variants(variants, node.env);
  if (selection.ranked.empty()) {
    out.gaps.push_back({"variant", selection.explain_no_match(node.env)});
    return out;
  }
  out.variant = selection.ranked.front();
  const auto f = facts(*out.variant);
  check_gpus(node, f, out);
  check_versions(node, f, out);
  check_libstdcxx(f, out);
  return out;
}

}  // namespace kernel_lock::inspect
