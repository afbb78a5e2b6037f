// load_kernel_example: load a Hub kernel pinned by kernel.lock into a plain C++
// libtorch process (no Python), list its ops, call them and compare each with
// the PyTorch reference.
//
//   load_kernel_example [--backend cpu|cuda] [--variant NAME] [--fetch] [--trusted-root FILE]
//                       [--require-signature] [LOCKFILE [REPO_ID...]]
//
// LOCKFILE defaults to the documented search (KERNEL_LOCK_FILE, next to the
// executable, current directory); REPO_ID to kernels-community/activation.
// Several REPO_IDs are loaded side by side into this one process. The
// cache is the HF cache (HF_HUB_CACHE / KERNELS_CACHE ...). Without --fetch
// nothing is downloaded (load_kernel); with --fetch, get_locked_kernel downloads
// a locked variant missing from the cache from HF_ENDPOINT (verified against
// the lock) unless HF_HUB_OFFLINE is set. A variant the lock pins a signer for
// is verified against its Sigstore signature (trusted root: --trusted-root, else
// the cache's trust store); each kernel's provenance line says what was proven.
// --require-signature refuses variants without one (or KERNEL_LOCK_REQUIRE_SIGNATURE=1).
// Exit status: 0 when every known op matches PyTorch, 1 on a mismatch,
// otherwise the kernel-lock error code.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <kernel_lock/core/error.hpp>
#include <kernel_lock/hub/hub_fetcher.hpp>
#include <kernel_lock/loader/loader.hpp>

namespace {

using Ref = std::function<at::Tensor(const at::Tensor&)>;

// The activation kernel's "(Tensor! out, Tensor input) -> ()" ops and their
// PyTorch references. `gated` ops take [..., 2d] and write [..., d].
struct Check {
  bool gated;
  Ref reference;
};

at::Tensor first_half(const at::Tensor& x) { return x.narrow(-1, 0, x.size(-1) / 2); }
at::Tensor second_half(const at::Tensor& x) { return x.narrow(-1, x.size(-1) / 2, x.size(-1) / 2); }

const std::map<std::string, Check>& known_ops() {
  static const std::map<std::string, Check> ops = {
      {"gelu_fast", {false, [](const at::Tensor& x) {
         return 0.5 * x * (1.0 + at::tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)));
       }}},
      {"gelu_new", {false, [](const at::Tensor& x) {
         return 0.5 * x * (1.0 + at::tanh(0.7978845608 * (x + 0.044715 * at::pow(x, 3.0))));
       }}},
      {"gelu_tanh", {false, [](const at::Tensor& x) { return at::gelu(x, "tanh"); }}},
      {"gelu", {false, [](const at::Tensor& x) { return at::gelu(x); }}},
      {"silu", {false, [](const at::Tensor& x) { return at::silu(x); }}},
      {"gelu_quick", {false, [](const at::Tensor& x) { return x * at::sigmoid(1.702 * x); }}},
      {"silu_and_mul", {true, [](const at::Tensor& x) { return at::silu(first_half(x)) * second_half(x); }}},
      {"mul_and_silu", {true, [](const at::Tensor& x) { return first_half(x) * at::silu(second_half(x)); }}},
      {"gelu_and_mul", {true, [](const at::Tensor& x) { return at::gelu(first_half(x)) * second_half(x); }}},
      {"gelu_tanh_and_mul",
       {true, [](const at::Tensor& x) { return at::gelu(first_half(x), "tanh") * second_half(x); }}},
  };
  return ops;
}

int usage() {
  std::fprintf(stderr,
               "usage: load_kernel_example [--backend cpu|cuda] [--variant NAME] [--fetch] [--trusted-root FILE]\n"
               "                           [--require-signature] [LOCKFILE [REPO_ID...]]\n"
               "  --fetch              get_locked_kernel: download a locked variant missing from the cache from HF_ENDPOINT\n"
               "  --trusted-root FILE  Sigstore trusted_root.json for signed variants (default: the cache's trust store)\n"
               "  --require-signature  refuse a variant whose signature the lock does not pin\n");
  return 2;
}

void report(const char* name, at::ScalarType dtype, const at::Tensor& out, const at::Tensor& expected, int& checked,
            int& failures) {
  const double atol = dtype == at::kFloat ? 1e-5 : (dtype == at::kHalf ? 1e-3 : 1.6e-2);
  const double rtol = dtype == at::kFloat ? 1.3e-6 : (dtype == at::kHalf ? 1e-3 : 1.6e-2);
  bool ok = at::allclose(out.to(at::kFloat), expected.to(at::kFloat), rtol, atol);
  double max_diff = (out.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>();
  std::printf("  %-18s %-9s max|diff| %.3g  %s\n", name, c10::toString(dtype), max_diff, ok ? "ok" : "MISMATCH");
  ++checked;
  if (!ok) ++failures;
}

// rms_norm(Tensor! out, Tensor input, Tensor weight, float eps) against
// x * rsqrt(mean(x^2) + eps) * weight computed in float32.
void check_rms_norm(const kernel_lock::Kernel& kernel, const at::Device& device, bool cuda, int& checked,
                    int& failures) {
  for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    if (!cuda && dtype != at::kFloat) continue;
    auto options = at::TensorOptions().dtype(at::kFloat).device(device);
    auto x = at::randn({16, 1024}, options).to(dtype);
    auto weight = at::randn({1024}, options).to(dtype);
    auto out = at::empty_like(x);
    const double eps = 1e-6;
    kernel.call<void(at::Tensor&, const at::Tensor&, const at::Tensor&, double)>("rms_norm", out, x, weight, eps);
    auto xf = x.to(at::kFloat);
    auto expected = (xf * at::rsqrt(xf.pow(2).mean({-1}, true) + eps) * weight.to(at::kFloat)).to(dtype);
    report("rms_norm", dtype, out, expected, checked, failures);
  }
}

// Calls every op with a known reference and compares; counts checks and mismatches.
void check_ops(const kernel_lock::Kernel& kernel, int& checked, int& failures) {
  const bool cuda = kernel.variant().find("-cu") != std::string::npos || kernel.variant() == "torch-cuda";
  const auto device = cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  at::manual_seed(0);
  for (const auto& op : kernel.ops()) {
    if (op.name == "rms_norm" && op.overload.empty()) {
      check_rms_norm(kernel, device, cuda, checked, failures);
      continue;
    }
    auto it = known_ops().find(op.name);
    if (it == known_ops().end() || !op.overload.empty()) continue;
    for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
      if (!cuda && dtype != at::kFloat) continue;  // CPU checks in fp32
      auto x = at::randn({16, 1024}, at::TensorOptions().dtype(at::kFloat).device(device)).to(dtype);
      auto out = it->second.gated ? at::empty({16, 512}, x.options()) : at::empty_like(x);
      try {
        kernel.call<void(at::Tensor&, const at::Tensor&)>(op.name, out, x);
      } catch (const c10::Error& e) {
        // Registered but without a kernel for this device (e.g. a CUDA-only op on CPU).
        std::string msg = e.what_without_backtrace();
        std::printf("  %-18s %-9s skipped: %s\n", op.name.c_str(), c10::toString(dtype),
                    msg.substr(0, msg.find('\n')).c_str());
        break;
      }
      auto expected = it->second.reference(x.to(at::kFloat)).to(dtype);
      report(op.name.c_str(), dtype, out, expected, checked, failures);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  kernel_lock::LoadOptions options;
  std::vector<std::string> positional;
  bool fetch = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--backend" || a == "--variant") && i + 1 < argc) {
      (a == "--backend" ? options.backend : options.variant) = std::string(argv[++i]);
    } else if (a == "--fetch") {
      fetch = true;
    } else if (a == "--trusted-root" && i + 1 < argc) {
      options.trusted_root = std::string(argv[++i]);
    } else if (a == "--require-signature") {
      options.require_signature = true;
    } else if (a == "-h" || a == "--help" || a.starts_with("--")) {
      return usage();
    } else {
      positional.push_back(a);
    }
  }
  std::vector<std::string> repo_ids;
  if (positional.size() > 1) repo_ids.assign(positional.begin() + 1, positional.end());
  if (repo_ids.empty()) repo_ids.push_back("kernels-community/activation");

  try {
    if (fetch) {
      options.fetcher = std::make_shared<kernel_lock::HubFetcher>();
      if (!positional.empty()) options.lockfile = positional[0];
    }
    std::printf("process: %s\n", kernel_lock::describe(kernel_lock::environment_for(options)).c_str());
    int checked = 0, failures = 0;
    std::vector<kernel_lock::Kernel> loaded;  // several kernels side by side in this process
    for (const auto& repo_id : repo_ids) {
      auto t0 = std::chrono::steady_clock::now();
      auto kernel = positional.empty() || fetch ? kernel_lock::get_locked_kernel(repo_id, options)
                                       : kernel_lock::load_kernel(repo_id, positional[0], options);
      auto t1 = std::chrono::steady_clock::now();
      std::printf("loaded %s @ %s\n  variant   %s\n  namespace %s\n  hash      %s (%s)\n  provenance %s\n"
                  "  load time %.1f ms\n",
                  kernel.repo_id().c_str(), kernel.sha().c_str(), kernel.variant().c_str(), kernel.ns().c_str(),
                  kernel.variant_hash().c_str(), std::string(kernel_lock::to_string(kernel.trust())).c_str(),
                  kernel.provenance().c_str(), std::chrono::duration<double, std::milli>(t1 - t0).count());
      std::printf("ops:\n");
      for (const auto& op : kernel.ops()) std::printf("  %s\n", op.schema.c_str());
      loaded.push_back(kernel);
    }
    for (const auto& kernel : loaded) {
      std::printf("checking %s (%s) against PyTorch:\n", kernel.repo_id().c_str(), kernel.ns().c_str());
      check_ops(kernel, checked, failures);
    }
    if (checked == 0) std::printf("(no op with a known PyTorch reference; nothing compared)\n");
    std::printf("%d checks, %d mismatches\n", checked, failures);
    return failures == 0 ? 0 : 1;
  } catch (const kernel_lock::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return kernel_lock::exit_code_for(e.code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
