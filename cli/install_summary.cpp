#include "install_summary.hpp"

#include <iostream>

namespace kernel_lock::cli {

void print_install_summary(const std::string& what, const InstallSummary& s) {
  std::cout << "installed " << what << ": " << s.kernels << " kernel(s), " << s.variants << " variant(s) ("
            << s.variants_changed << " new or replaced), " << s.blobs << " blob(s), " << s.bytes << " bytes verified\n";
  for (const auto& r : s.refs) std::cout << "  ref " << r << "\n";
  for (const auto& p : s.provenance) std::cout << "  " << p.repo_id << " " << p.variant << ": " << p.describe() << "\n";
  if (s.trust_store)
    std::cout << "  trusted root "
              << (*s.trust_store == trust::TrustStoreWrite::kept_newer ? "kept (the cache holds a newer one)"
                                                                       : "stored in the cache's trust store")
              << "\n";
}

}  // namespace kernel_lock::cli
