// kernels.yaml from a lock: the requirements that reproduce the lock's
// requirement records (`kernel-lock export --format requirements`, docs/export.md).
#pragma once

#include <string>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {

// kernels.yaml text (docs/formats.md) that parse_kernels_yaml reads back into the
// requirements the lock was resolved from:
//  - each kernel's `requirement` (version / revision / tags, repo-type, per-kernel
//    torch/cuda/arch/os, signers, allow-unsigned, require-signature);
//  - a kernel without a requirement is pinned by `revision: <sha>` (its repo type kept);
//  - a kernel whose requirement has `required-by` is left out (resolve pulls it in
//    again through that kernel's kernel-depends) and named in a comment;
//  - `targets` is rebuilt from the recorded effective filters: per field, the value
//    the kernels without their own value share; a kernel whose effective filter does
//    not fit that (a hand-edited lock) gets its effective filter as its own.
// Unknown requirement keys (`extra`) have no kernels.yaml spelling and are left out.
// Strings are written double-quoted (JSON escapes, valid YAML). Deterministic:
// kernels in lock order (sorted by repo id). Never throws for a parsed lock.
std::string format_kernels_yaml(const Lockfile& lock);

}  // namespace kernel_lock
