// What `install` and `pull` / `install oci://` print once an install succeeded:
// the one format of an install summary (stdout).
#pragma once

#include <string>

#include "kernel_lock/bundle/install.hpp"

namespace kernel_lock::cli {

// "installed WHAT: N kernel(s), ...", then each ref written, each variant's
// provenance ("signed by ..." / "pinned by the lock only") and the trust store.
void print_install_summary(const std::string& what, const InstallSummary& summary);

}  // namespace kernel_lock::cli
