// kernels.yaml and pyproject.toml [tool.kernels.dependencies] parsing (see
// requirements.hpp and docs/formats.md). Errors name "source:line:column",
// the kernel and the field, and what was expected.
#include "kernel_lock/core/requirements.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <toml++/toml.h>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {
namespace {

constexpr const char* kRequirementsHint = "see docs/formats.md for the kernels.yaml and pyproject.toml formats";
constexpr std::size_t kMaxRequirementsBytes = 1 << 20;

// "source:line:col: " prefix; line/column are 1-based, 0 = unknown.
std::string location(std::string_view source, std::size_t line, std::size_t column) {
  std::string out(source);
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  return out;
}

[[noreturn]] void fail(const std::string& where, const std::string& message) {
  throw Error(ErrorCode::invalid_input, where + ": " + message, kRequirementsHint);
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 9) return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_major_minor(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return false;
  return parse_unsigned(text.substr(0, dot)) && parse_unsigned(text.substr(dot + 1));
}

bool is_token(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A revision is a branch, tag or commit: printable, no spaces, no "..".
bool is_revision(std::string_view text) {
  if (text.empty() || text.size() > 255 || text.find("..") != std::string_view::npos) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f && c != '\\'; });
}

// The tag range `text`, or a failure at `where`: "<message>, got "<text>" (<why>)".
TagRange tag_range_at(const std::string& where, const std::string& message, const std::string& text) {
  try {
    return TagRange::parse(text);
  } catch (const Error& e) {
    fail(where, message + ", got \"" + text + "\" (" + e.what() + ")");
  }
}

// Checks one filter value; `kind` is the filter key (torch, cuda, arch, os).
std::optional<std::string> filter_value_problem(std::string_view kind, std::string_view value) {
  if (kind == "torch" || kind == "cuda") {
    if (!is_major_minor(value)) return "expected a MAJOR.MINOR version such as \"2.11\" or \"13.0\"";
  } else if (!is_token(value)) {
    return kind == "arch" ? "expected an architecture such as \"x86_64\" or \"aarch64\""
                          : "expected an operating system such as \"linux\"";
  }
  return std::nullopt;
}

std::vector<std::string>* filter_field(VariantFilter& filter, std::string_view key) {
  if (key == "torch") return &filter.torch;
  if (key == "cuda") return &filter.cuda;
  if (key == "arch") return &filter.arch;
  if (key == "os") return &filter.os;
  return nullptr;
}

std::string known_kernel_keys() {
  return "version, revision, tags, repo-type, torch, cuda, arch, os, signers, allow-unsigned, require-signature";
}

std::string did_you_mean(std::string_view key) {
  if (key == "repo_id" || key == "repo" || key == "id") return " (did you mean \"repo-id\"?)";
  if (key == "repo_type" || key == "type") return " (did you mean \"repo-type\"?)";
  if (key == "tag" || key == "tag-range" || key == "tag_range") return " (did you mean \"tags\"?)";
  if (key == "rev" || key == "branch" || key == "sha" || key == "commit") return " (did you mean \"revision\"?)";
  if (key == "versions") return " (did you mean \"version\"?)";
  if (key == "signer" || key == "signed-by") return " (did you mean \"signers\"?)";
  if (key == "unsigned" || key == "allow_unsigned") return " (did you mean \"allow-unsigned\"?)";
  if (key == "target") return " (did you mean \"targets\"?)";
  return {};
}

void check_requirement_complete(const KernelRequirement& req, const std::string& where) {
  int given = (req.version ? 1 : 0) + (req.revision ? 1 : 0) + (req.tag_range ? 1 : 0);
  if (given == 0)
    fail(where, req.repo_id + ": expected one of \"version\" (the branch v<N>), \"revision\" (branch, tag or sha) or "
                              "\"tags\" (a range over v<semver> tags)");
  if (given > 1)
    fail(where, req.repo_id + ": \"version\", \"revision\" and \"tags\" are mutually exclusive; give exactly one");
  if (req.signing.allow_unsigned && req.signing.require_signature)
    fail(where, req.repo_id + ": \"allow-unsigned\" and \"require-signature\" contradict each other; keep one");
}

// ---- kernels.yaml -----------------------------------------------------------

class YamlReader {
 public:
  explicit YamlReader(std::string_view source) : source_(source) {}

  std::string at(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.is_null()) return std::string(source_);
    return location(source_, static_cast<std::size_t>(mark.line) + 1, static_cast<std::size_t>(mark.column) + 1);
  }

  std::string scalar(const YAML::Node& node, const std::string& field, const char* expected) const {
    if (!node.IsScalar()) fail(at(node), field + ": expected " + std::string(expected));
    return node.Scalar();
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& field, std::string_view kind) const {
    std::vector<std::string> values;
    auto add = [&](const YAML::Node& item) {
      auto value = scalar(item, field, "a string");
      // Unquoted 2.10 is the number 2.1 to other YAML readers: versions must be quoted.
      if ((kind == "torch" || kind == "cuda") && item.Tag() != "!")
        fail(at(item), field + ": write versions in quotes (\"" + value + "\"); unquoted, YAML reads them as numbers");
      if (auto problem = filter_value_problem(kind, value)) fail(at(item), field + ": " + *problem + ", got \"" + value + "\"");
      if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
    };
    if (node.IsScalar()) {
      add(node);
    } else if (node.IsSequence()) {
      for (const auto& item : node) add(item);
    } else {
      fail(at(node), field + ": expected a string or a list of strings");
    }
    return values;
  }

  bool boolean(const YAML::Node& node, const std::string& field) const {
    const auto text = scalar(node, field, "true or false");
    if (node.Tag() == "!" || (text != "true" && text != "false")) fail(at(node), field + ": expected true or false");
    return text == "true";
  }

  // A non-empty string that is an https:// URL (issuer, repository, workflow URIs are).
  std::string url(const YAML::Node& node, const std::string& field) const {
    auto text = scalar(node, field, "a URL string");
    if (!text.starts_with("https://") || text.size() > 4096 ||
        text.find_first_of(" \t\r\n") != std::string::npos)
      fail(at(node), field + ": expected an https:// URL, got \"" + text + "\"");
    return text;
  }

  SignerRule signer(const YAML::Node& node, const std::string& field) const {
    if (!node.IsMap()) fail(at(node), field + ": expected a map with issuer, source-repository and build-signer-uri");
    SignerRule rule;
    for (const auto& item : node) {
      const auto key = scalar(item.first, field, "a field name");
      if (key == "issuer") {
        rule.issuer = url(item.second, field + ".issuer");
      } else if (key == "source-repository") {
        rule.source_repository = url(item.second, field + ".source-repository");
      } else if (key == "build-signer-uri") {
        const auto& value = item.second;
        if (value.IsSequence()) {
          for (const auto& uri : value) rule.build_signer_uris.push_back(url(uri, field + ".build-signer-uri"));
        } else {
          rule.build_signer_uris.push_back(url(value, field + ".build-signer-uri"));
        }
      } else {
        fail(at(item.first), field + ": unknown field \"" + key + "\"; expected issuer, source-repository, build-signer-uri");
      }
    }
    if (rule.issuer.empty() || rule.source_repository.empty())
      fail(at(node), field + ": a signer needs both \"issuer\" and \"source-repository\"");
    return rule;
  }

  void signers(const YAML::Node& node, KernelRequirement& req) const {
    const auto field = req.repo_id + ": signers";
    if (!node.IsSequence() || node.size() == 0) fail(at(node), field + ": expected a non-empty list of signers");
    for (std::size_t i = 0; i < node.size(); ++i)
      req.signing.signers.push_back(signer(node[i], field + "[" + std::to_string(i) + "]"));
  }

  void filter(const YAML::Node& key, const YAML::Node& value, VariantFilter& out, const std::string& prefix) const {
    const auto name = key.Scalar();
    auto* field = filter_field(out, name);
    *field = string_list(value, prefix + name, name);
  }

  // Reads the fields of one kernel from a map node (skipping `skip_key`).
  void kernel_fields(const YAML::Node& map, KernelRequirement& req, std::string_view skip_key) const {
    std::map<std::string, bool> seen;
    for (const auto& item : map) {
      const auto& key_node = item.first;
      const auto& value = item.second;
      const auto key = scalar(key_node, req.repo_id, "a field name");
      if (!seen.emplace(key, true).second) fail(at(key_node), req.repo_id + ": duplicate field \"" + key + "\"");
      if (key == skip_key) continue;
      const auto field = req.repo_id + ": " + key;
      if (key == "version") {
        auto text = scalar(value, field, "a non-negative integer (the branch v<N>)");
        if (value.Tag() == "!") fail(at(value), field + ": expected a number, got the string \"" + text + "\"; drop the quotes");
        auto number = parse_unsigned(text);
        if (!number || *number > 1000000)
          fail(at(value), field + ": expected a non-negative integer (the branch v<N>), got \"" + text + "\"" +
                              (text.starts_with("v") ? "; write the number without the v" : ""));
        req.version = static_cast<int>(*number);
      } else if (key == "revision") {
        auto text = scalar(value, field, "a branch, tag or commit sha");
        if (!is_revision(text)) fail(at(value), field + ": expected a branch, tag or commit sha, got \"" + text + "\"");
        req.revision = text;
      } else if (key == "tags") {
        auto text = scalar(value, field, "a tag range such as \">=0.1.0,<0.2.0\"");
        req.tag_range =
            tag_range_at(at(value), field + ": expected a tag range of comma-separated clauses like \">=0.1.0,<0.2.0\"", text);
      } else if (key == "repo-type") {
        auto text = scalar(value, field, "\"kernel\" or \"model\"");
        if (text != "kernel" && text != "model")
          fail(at(value), field + ": expected \"kernel\" or \"model\", got \"" + text + "\"");
        req.repo_type = text;
      } else if (key == "signers") {
        signers(value, req);
      } else if (key == "allow-unsigned") {
        req.signing.allow_unsigned = boolean(value, field);
      } else if (key == "require-signature") {
        req.signing.require_signature = boolean(value, field);
      } else if (filter_field(req.filter, key) != nullptr) {
        filter(key_node, value, req.filter, req.repo_id + ": ");
      } else {
        fail(at(key_node), req.repo_id + ": unknown field \"" + key + "\"" + did_you_mean(key) +
                               "; expected one of " + known_kernel_keys());
      }
    }
  }

  KernelRequirement kernel_from_map_entry(const YAML::Node& key, const YAML::Node& value) const {
    KernelRequirement req;
    req.repo_id = scalar(key, "kernels", "a repo id \"org/name\"");
    if (!is_valid_repo_id(req.repo_id))
      fail(at(key), "kernels: expected a Hub repo id \"org/name\", got \"" + req.repo_id + "\"");
    if (value.IsScalar()) {
      // Shorthand "org/name: N" for "org/name: {version: N}".
      auto number = value.Tag() == "!" ? std::nullopt : parse_unsigned(value.Scalar());
      if (!number || *number > 1000000)
        fail(at(value), req.repo_id + ": expected a version number or a map of fields (" + known_kernel_keys() +
                            "), got \"" + value.Scalar() + "\"");
      req.version = static_cast<int>(*number);
      return req;
    }
    if (!value.IsMap())
      fail(at(value.IsNull() ? key : value),
           req.repo_id + ": expected a version number or a map of fields (" + known_kernel_keys() + ")");
    kernel_fields(value, req, {});
    check_requirement_complete(req, at(key));
    return req;
  }

  KernelRequirement kernel_from_list_item(const YAML::Node& item) const {
    if (!item.IsMap()) fail(at(item), "kernels: expected a map with \"repo-id\" and a version, revision or tags");
    KernelRequirement req;
    std::optional<YAML::Node> repo_node;
    for (const auto& field : item) {
      if (field.first.IsScalar() && field.first.Scalar() == "repo-id") repo_node = field.second;
    }
    if (!repo_node) {
      std::string hint;
      for (const auto& field : item)
        if (field.first.IsScalar() && hint.empty()) hint = did_you_mean(field.first.Scalar());
      fail(at(item), "kernels: missing \"repo-id\"" + hint);
    }
    req.repo_id = scalar(*repo_node, "repo-id", "a repo id \"org/name\"");
    if (!is_valid_repo_id(req.repo_id))
      fail(at(*repo_node), "repo-id: expected a Hub repo id \"org/name\", got \"" + req.repo_id + "\"");
    kernel_fields(item, req, "repo-id");
    check_requirement_complete(req, at(item));
    return req;
  }

 private:
  std::string_view source_;
};

Requirements parse_yaml_document(const YAML::Node& root, std::string_view source) {
  const YamlReader reader(source);
  Requirements out;
  out.source = std::string(source);
  if (!root.IsMap()) fail(reader.at(root), "expected a map with a \"kernels\" key (and optionally \"targets\")");
  std::optional<YAML::Node> kernels_node;
  std::map<std::string, bool> seen;
  for (const auto& item : root) {
    const auto key = reader.scalar(item.first, "top level", "a key");
    if (!seen.emplace(key, true).second) fail(reader.at(item.first), "duplicate key \"" + key + "\"");
    if (key == "kernels") {
      kernels_node = item.second;
    } else if (key == "targets") {
      if (item.second.IsNull()) continue;
      if (!item.second.IsMap()) fail(reader.at(item.second), "targets: expected a map of torch, cuda, arch, os lists");
      std::map<std::string, bool> seen_targets;
      for (const auto& target : item.second) {
        const auto name = reader.scalar(target.first, "targets", "a key");
        if (!seen_targets.emplace(name, true).second)
          fail(reader.at(target.first), "targets: duplicate key \"" + name + "\"");
        if (filter_field(out.targets, name) == nullptr)
          fail(reader.at(target.first), "targets: unknown key \"" + name + "\"; expected torch, cuda, arch or os");
        reader.filter(target.first, target.second, out.targets, "targets: ");
      }
    } else {
      fail(reader.at(item.first),
           "unknown top-level key \"" + key + "\"" + did_you_mean(key) + "; expected \"kernels\" or \"targets\"");
    }
  }
  if (!kernels_node) fail(std::string(source), "missing the \"kernels\" key (the kernels to lock)");
  const YAML::Node& kernels = *kernels_node;
  std::map<std::string, YAML::Mark> first_seen;
  auto add = [&](KernelRequirement req, const YAML::Node& node) {
    auto [it, inserted] = first_seen.emplace(req.repo_id, node.Mark());
    if (!inserted)
      fail(reader.at(node), "kernel \"" + req.repo_id + "\" is listed twice (first at line " +
                                std::to_string(it->second.line + 1) + ", column " + std::to_string(it->second.column + 1) +
                                ")");
    out.kernels.push_back(std::move(req));
  };
  if (kernels.IsMap()) {
    for (const auto& item : kernels) add(reader.kernel_from_map_entry(item.first, item.second), item.first);
  } else if (kernels.IsSequence()) {
    for (const auto& item : kernels) add(reader.kernel_from_list_item(item), item);
  } else if (!kernels.IsNull()) {
    fail(reader.at(kernels), "kernels: expected a map of repo id -> requirement, or a list of maps with \"repo-id\"");
  }
  if (out.kernels.empty()) fail(reader.at(kernels), "kernels: no kernels listed; add at least one");
  return out;
}

// ---- pyproject.toml ---------------------------------------------------------

std::string toml_at(std::string_view source, const toml::node& node) {
  const auto& begin = node.source().begin;
  return location(source, begin.line, begin.column);
}

KernelRequirement toml_kernel(std::string_view source, std::string_view repo_id, const toml::node& value) {
  KernelRequirement req;
  req.repo_id = std::string(repo_id);
  const auto where = toml_at(source, value);
  if (!is_valid_repo_id(req.repo_id))
    fail(where, "tool.kernels.dependencies: expected a Hub repo id \"org/name\" as key, got \"" + req.repo_id + "\"");
  if (auto integer = value.as_integer()) {
    // Python kernels 0.17: `"org/name" = N` locks the branch vN.
    if (integer->get() < 0 || integer->get() > 1000000)
      fail(where, req.repo_id + ": expected a non-negative version number");
    req.version = static_cast<int>(integer->get());
    return req;
  }
  if (auto text = value.as_string()) {
    // Older Python kernels: a version specifier over v<semver> tags.
    req.tag_range =
        tag_range_at(where, req.repo_id + ": expected an integer version, or a tag range like \">=0.1.0,<0.2.0\"", text->get());
    return req;
  }
  const auto* table = value.as_table();
  if (table == nullptr)
    fail(where, req.repo_id + ": expected an integer version, a tag range string or a table of fields (" +
                    known_kernel_keys() + ")");
  for (const auto& entry : *table) {
    const toml::node& field_value = entry.second;  // named, not a structured binding: lambdas capture it
    const std::string key(entry.first.str());
    const auto field_where = toml_at(source, field_value);
    const auto field = req.repo_id + ": " + key;
    auto string_value = [&](const char* expected) {
      auto s = field_value.as_string();
      if (s == nullptr) fail(field_where, field + ": expected " + std::string(expected));
      return s->get();
    };
    if (key == "version") {
      auto integer = field_value.as_integer();
      if (integer == nullptr || integer->get() < 0 || integer->get() > 1000000)
        fail(field_where, field + ": expected a non-negative integer (the branch v<N>)");
      req.version = static_cast<int>(integer->get());
    } else if (key == "revision") {
      auto text = string_value("a branch, tag or commit sha");
      if (!is_revision(text)) fail(field_where, field + ": expected a branch, tag or commit sha, got \"" + text + "\"");
      req.revision = text;
    } else if (key == "tags") {
      auto text = string_value("a tag range such as \">=0.1.0,<0.2.0\"");
      req.tag_range = tag_range_at(field_where, field + ": expected a tag range like \">=0.1.0,<0.2.0\"", text);
    } else if (key == "repo-type") {
      auto text = string_value("\"kernel\" or \"model\"");
      if (text != "kernel" && text != "model")
        fail(field_where, field + ": expected \"kernel\" or \"model\", got \"" + text + "\"");
      req.repo_type = text;
    } else if (auto* list = filter_field(req.filter, key)) {
      auto add = [&](const toml::node& item) {
        auto s = item.as_string();
        if (s == nullptr) fail(toml_at(source, item), field + ": expected a string");
        if (auto problem = filter_value_problem(key, s->get()))
          fail(toml_at(source, item), field + ": " + *problem + ", got \"" + s->get() + "\"");
        if (std::find(list->begin(), list->end(), s->get()) == list->end()) list->push_back(s->get());
      };
      if (auto array = field_value.as_array()) {
        for (const auto& item : *array) add(item);
      } else {
        add(field_value);
      }
    } else {
      fail(field_where, req.repo_id + ": unknown field \"" + key + "\"" + did_you_mean(key) + "; expected one of " +
                            known_kernel_keys());
    }
  }
  check_requirement_complete(req, where);
  return req;
}

}  // namespace

LockedRequirement KernelRequirement::locked() const {
  LockedRequirement out;
  if (version) out.version = static_cast<std::uint64_t>(*version);
  out.revision = revision;
  if (tag_range) out.tags = tag_range->text();
  out.repo_type = repo_type;
  out.filter = filter;
  out.signing = signing;
  return out;
}

nlohmann::ordered_json KernelRequirement::to_json() const { return locked().to_json(); }

Requirements parse_kernels_yaml(std::string_view text, std::string_view source) {
  if (text.size() > kMaxRequirementsBytes) fail(std::string(source), "file larger than 1 MiB; not a requirements file");
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    fail(e.mark.is_null() ? std::string(source)
                          : location(source, static_cast<std::size_t>(e.mark.line) + 1,
                                     static_cast<std::size_t>(e.mark.column) + 1),
         "invalid YAML: " + e.msg);
  }
  try {
    return parse_yaml_document(root, source);
  } catch (const YAML::Exception& e) {
    fail(std::string(source), "invalid YAML: " + e.msg);
  }
}

Requirements parse_pyproject_toml(std::string_view text, std::string_view source) {
  if (text.size() > kMaxRequirementsBytes) fail(std::string(source), "file larger than 1 MiB; not a requirements file");
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    fail(location(source, begin.line, begin.column), "invalid TOML: " + std::string(e.description()));
  }
  const auto* dependencies = root["tool"]["kernels"]["dependencies"].node();
  if (dependencies == nullptr)
    fail(std::string(source), "no [tool.kernels.dependencies] table; add one with lines like "
                              "\"kernels-community/activation\" = 1");
  const auto* table = dependencies->as_table();
  if (table == nullptr) fail(toml_at(source, *dependencies), "tool.kernels.dependencies: expected a table");
  Requirements out;
  out.source = std::string(source);
  // toml++ iterates keys sorted; keep the file's order (Python keeps insertion order).
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (const auto& [key, value] : *table) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.first->source().begin;
    const auto& pb = b.first->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  for (const auto& [key, value] : entries) out.kernels.push_back(toml_kernel(source, key->str(), *value));
  if (out.kernels.empty())
    fail(toml_at(source, *dependencies), "tool.kernels.dependencies: no kernels listed; add at least one");
  return out;
}

Requirements read_requirements(const std::filesystem::path& file_or_dir) {
  std::error_code ec;
  std::filesystem::path file = file_or_dir;
  if (std::filesystem::is_directory(file_or_dir, ec)) {
    auto yaml = file_or_dir / "kernels.yaml";
    auto toml_file = file_or_dir / "pyproject.toml";
    if (std::filesystem::is_regular_file(yaml, ec)) {
      file = yaml;
    } else if (std::filesystem::is_regular_file(toml_file, ec)) {
      file = toml_file;
    } else {
      throw Error(ErrorCode::not_found, "no kernels.yaml or pyproject.toml in " + file_or_dir.string(),
                  "create kernels.yaml listing the kernels to lock (docs/formats.md)");
    }
  }
  const auto text = read_file(file);
  auto requirements = file.extension() == ".toml" ? parse_pyproject_toml(text, file.string())
                                                  : parse_kernels_yaml(text, file.string());
  requirements.source = file;
  return requirements;
}

}  // namespace kernel_lock
