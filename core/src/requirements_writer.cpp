#include "kernel_lock/core/requirements_writer.hpp"

#include <array>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kernel_lock {
namespace {

using FilterField = std::vector<std::string> VariantFilter::*;
constexpr std::array<std::pair<std::string_view, FilterField>, 4> kFields{{
    {"torch", &VariantFilter::torch},
    {"cuda", &VariantFilter::cuda},
    {"arch", &VariantFilter::arch},
    {"os", &VariantFilter::os},
}};

std::string quoted(const std::string& text) { return nlohmann::json(text).dump(); }

std::string flow_list(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + quoted(values[i]);
  return out + "]";
}

const VariantFilter& effective(const LockedRequirement& req) { return req.targets ? *req.targets : req.filter; }

// Per field, the value every top-level kernel without its own value records as
// effective; nullopt when they disagree (the kernel then carries its own).
VariantFilter rebuild_targets(const std::vector<const LockedRequirement*>& reqs) {
  VariantFilter targets;
  for (const auto& [name, field] : kFields) {
    for (const auto* req : reqs)
      if ((req->filter.*field).empty()) {
        targets.*field = effective(*req).*field;
        break;
      }
  }
  return targets;
}

bool fits_targets(const LockedRequirement& req, const VariantFilter& targets) {
  for (const auto& [name, field] : kFields)
    if ((req.filter.*field).empty() && effective(req).*field != targets.*field) return false;
  return true;
}

void write_signing(std::string& out, const SigningRequirement& signing) {
  if (!signing.signers.empty()) {
    out += "    signers:\n";
    for (const auto& rule : signing.signers) {
      out += "      - issuer: " + quoted(rule.issuer) + "\n";
      out += "        source-repository: " + quoted(rule.source_repository) + "\n";
      if (!rule.build_signer_uris.empty()) out += "        build-signer-uri: " + flow_list(rule.build_signer_uris) + "\n";
    }
  }
  if (signing.allow_unsigned) out += "    allow-unsigned: true\n";
  if (signing.require_signature) out += "    require-signature: true\n";
}

void write_kernel(std::string& out, const LockedKernel& kernel, const VariantFilter& targets) {
  out += "  " + quoted(kernel.repo_id) + ":\n";
  if (!kernel.requirement) {
    out += "    revision: " + quoted(kernel.sha) + "\n";
    if (kernel.repo_type) out += "    repo-type: " + quoted(*kernel.repo_type) + "\n";
    return;
  }
  const auto& req = *kernel.requirement;
  if (req.version) out += "    version: " + std::to_string(*req.version) + "\n";
  if (req.revision) out += "    revision: " + quoted(*req.revision) + "\n";
  if (req.tags) out += "    tags: " + quoted(*req.tags) + "\n";
  if (!req.version && !req.revision && !req.tags) out += "    revision: " + quoted(kernel.sha) + "\n";
  if (req.repo_type) out += "    repo-type: " + quoted(*req.repo_type) + "\n";
  const bool own = !fits_targets(req, targets);
  for (const auto& [name, field] : kFields) {
    const auto& values = own ? effective(req).*field : req.filter.*field;
    if (!values.empty()) out += "    " + std::string(name) + ": " + flow_list(values) + "\n";
  }
  write_signing(out, req.signing);
}

}  // namespace

std::string format_kernels_yaml(const Lockfile& lock) {
  std::vector<const LockedRequirement*> top;
  std::vector<const LockedKernel*> dependencies;
  for (const auto& kernel : lock.kernels) {
    if (kernel.requirement && kernel.requirement->required_by) {
      dependencies.push_back(&kernel);
    } else if (kernel.requirement) {
      top.push_back(&*kernel.requirement);
    }
  }
  const auto targets = rebuild_targets(top);
  std::string out = "# Requirements that reproduce the lock (kernel-lock export --format requirements).\n";
  for (const auto* dep : dependencies)
    out += "# " + dep->repo_id + ": pulled in by " + *dep->requirement->required_by + " (kernel-depends)\n";
  if (!targets.empty()) {
    out += "targets:\n";
    for (const auto& [name, field] : kFields)
      if (!(targets.*field).empty()) out += "  " + std::string(name) + ": " + flow_list(targets.*field) + "\n";
  }
  std::string kernels;
  for (const auto& kernel : lock.kernels)
    if (!(kernel.requirement && kernel.requirement->required_by)) write_kernel(kernels, kernel, targets);
  return out + (kernels.empty() ? "kernels: {}\n" : "kernels:\n" + kernels);
}

}  // namespace kernel_lock
