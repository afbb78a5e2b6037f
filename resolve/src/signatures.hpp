// Internal to resolve: the signature stage. For each newly locked kernel, the
// signed variants' metadata.json and metadata.json.sigstore are read through the
// source (nothing else is downloaded), verified offline against the trusted root
// and the kernel's signer policy, and the signer recorded in the lock
// (LockedVariant::signature). docs/trust.md "Policy".
#pragma once

#include <string>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/resolve/resolve.hpp"
#include "kernel_lock/resolve/source.hpp"

namespace kernel_lock {

struct SignatureTarget {
  LockedKernel* kernel = nullptr;           // newly locked (not kept from the lock)
  const KernelRequirement* requirement = nullptr;
};

// Verifies and records. Throws Error(integrity) for a rejected signature (naming
// the kernel, variant and failed step) or a missing required one, Error(not_found)
// when a policy needs a trusted root and options.verifier is null; appends the
// warnings (allowed unsigned variants, signers pinned on first use, signatures
// left unchecked for want of a trusted root).
void record_signatures(ResolveSource& source, const ResolveOptions& options, const std::vector<SignatureTarget>& targets,
                       std::vector<std::string>& warnings);

}  // namespace kernel_lock
