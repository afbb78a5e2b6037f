// Variant names and selection. Names come from the locks the Python `kernels`
// wrote (shared fixtures); expected rankings follow variants.py's documented rules
// (tests/e2e/test_hash_variants_python.py compares with the real Python code).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/variant.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

std::set<std::string> fixture_variant_names() {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(fs::path(KERNEL_LOCK_SHARED_FIXTURES) / "python-kernels")) {
    const auto lock = entry.path() / "kernels.lock";
    if (!fs::exists(lock)) continue;
    std::ifstream in(lock);
    const auto doc = nlohmann::json::parse(in);
    for (const auto& kernel : doc)
      for (const auto& [name, _] : kernel.at("variants").items()) names.insert(name);
  }
  return names;
}

Environment linux_env(Version2 torch, std::string backend, std::optional<Version2> version, std::string arch = "x86_64") {
  Environment env;
  env.torch = torch;
  env.backend = std::move(backend);
  env.backend_version = version;
  env.arch = std::move(arch);
  env.os = "linux";
  env.cxx11_abi = true;
  return env;
}

}  // namespace

TEST_CASE("every variant name in the Python fixture locks round-trips") {
  const auto names = fixture_variant_names();
  REQUIRE(names.size() > 40);
  for (const auto& name : names) {
    CAPTURE(name);
    const auto v = try_parse_variant(name);
    REQUIRE(v.has_value());
    CHECK(v->name == name);
    CHECK(to_string(*v) == name);
    CHECK(to_string(parse_variant(name)) == name);
  }
}

TEST_CASE("parsing every form") {
  auto v = parse_variant("torch211-cxx11-cu130-x86_64-linux");
  CHECK(v.kind == VariantKind::torch);
  CHECK(v.framework == Version2{2, 11});
  CHECK(v.cxx_abi == std::optional<std::string>("cxx11"));
  CHECK(v.backend == "cu");
  CHECK(v.backend_version == "130");
  CHECK(backend_version2(v) == Version2{13, 0});
  CHECK(v.arch == "x86_64");
  CHECK(v.os == "linux");

  v = parse_variant("torch211-cu126-x86_64-linux");  // ABI-tagless
  CHECK(v.kind == VariantKind::torch);
  CHECK_FALSE(v.cxx_abi.has_value());
  CHECK(backend_version2(v) == Version2{12, 6});

  v = parse_variant("torch26-cxx98-cu118-x86_64-linux");
  CHECK(v.framework == Version2{2, 6});
  CHECK(v.cxx_abi == std::optional<std::string>("cxx98"));
  CHECK(backend_version2(v) == Version2{11, 8});

  v = parse_variant("torch212-cxx11-xpu20253-x86_64-linux");
  CHECK(v.backend == "xpu");
  CHECK(backend_version2(v) == Version2{2025, 3});

  v = parse_variant("torch213-cxx11-rocm72-x86_64-linux");
  CHECK(v.backend == "rocm");
  CHECK(backend_version2(v) == Version2{7, 2});

  v = parse_variant("torch210-cxx11-cann80-aarch64-linux");
  CHECK(v.backend == "cann");
  CHECK(backend_version2(v) == Version2{8, 0});

  for (const char* plain : {"cpu", "metal", "tpu", "neuron"}) {
    v = parse_variant(std::string("torch212-") + plain + "-aarch64-darwin");
    CHECK(v.backend == plain);
    CHECK(v.backend_version.empty());
    CHECK_FALSE(backend_version2(v).has_value());
  }

  v = parse_variant("torch-stable-abi210-cu130-x86_64-linux");
  CHECK(v.kind == VariantKind::stable_abi);
  CHECK(v.framework == Version2{2, 10});
  CHECK(to_string(v) == "torch-stable-abi210-cu130-x86_64-linux");

  v = parse_variant("tvm-ffi01-cu130-x86_64-linux");
  CHECK(v.kind == VariantKind::tvm_ffi);
  CHECK(v.framework == Version2{0, 1});
  CHECK(to_string(v) == "tvm-ffi01-cu130-x86_64-linux");
  CHECK(parse_variant("tvm-ffi012-cpu-x86_64-linux").framework == Version2{0, 12});  // lazy major

  for (const char* noarch : {"torch-cpu", "torch-cuda", "torch-rocm", "torch-xpu", "torch-npu", "torch-metal",
                             "torch-universal", "torch-neuron"}) {
    v = parse_variant(noarch);
    CHECK(v.kind == VariantKind::noarch);
    CHECK(v.backend == std::string(noarch).substr(6));
    CHECK_FALSE(v.framework.has_value());
    CHECK(to_string(v) == noarch);
  }

  // Greedy CUDA split: everything but the last digit is the major.
  CHECK(backend_version2(parse_variant("torch211-cu1210-x86_64-linux")) == Version2{121, 0});
  // Python's Version drops leading zeros: the canonical name differs from the given one.
  v = parse_variant("torch2011-cu130-x86_64-linux");
  CHECK(v.framework == Version2{2, 11});
  CHECK(v.name == "torch2011-cu130-x86_64-linux");
  CHECK(to_string(v) == "torch211-cu130-x86_64-linux");
}

TEST_CASE("malformed names are refused with a reason") {
  for (const char* bad : {"", "torch", "torch-", "torch211", "torch211-cxx11", "torch211-cu130-x86_64",
                          "torch211-cu130-x86_64-linux-extra", "torch211-cuda-x86_64-linux", "torch211-cu1-x86_64-linux",
                          "torch211-rocm-x86_64-linux", "torch211-gpu-x86_64-linux", "torchX11-cpu-x86_64-linux",
                          "torch2-cpu-x86_64-linux", "tvm-ffi1-cpu-x86_64-linux", "tvm-ffi-cpu-x86_64-linux",
                          "tvm-01-cpu-x86_64-linux", "torch-stable-abi-cu130-x86_64-linux",
                          "torch-stable-abi210-x86_64-linux", "foo-cpu", "cpu", "torch-../evil", "torch-a/b",
                          "torch211-cu130--linux", "torch-cuda-", "torch211-cu123456789012-x86_64-linux",
                          "torch211-cxx11-cu130-x86_64-linux\n"}) {
    const std::string name = bad;
    CAPTURE(name);
    CHECK_FALSE(try_parse_variant(bad).has_value());
    try {
      parse_variant(bad);
      FAIL("expected throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK_FALSE(e.hint().empty());
    }
  }
}

TEST_CASE("check_fit follows the Python rules") {
  const auto env = linux_env({2, 11}, "cuda", Version2{13, 2});
  auto fit = [&](const char* name, const Environment& e) { return check_fit(parse_variant(name), e); };
  CHECK(fit("torch211-cxx11-cu130-x86_64-linux", env).fits);
  CHECK(fit("torch211-cu132-x86_64-linux", env).fits);
  CHECK_FALSE(fit("torch211-cxx11-cu126-x86_64-linux", env).fits);  // other CUDA major
  CHECK_FALSE(fit("torch211-cxx11-cu133-x86_64-linux", env).fits);  // newer minor
  CHECK_FALSE(fit("torch211-cxx98-cu130-x86_64-linux", env).fits);
  CHECK_FALSE(fit("torch212-cxx11-cu130-x86_64-linux", env).fits);
  CHECK_FALSE(fit("torch211-cxx11-cu130-aarch64-linux", env).fits);
  CHECK_FALSE(fit("torch211-cxx11-cpu-x86_64-linux", env).fits);  // backend must match
  CHECK(fit("torch-stable-abi210-cu130-x86_64-linux", env).fits);
  CHECK(fit("torch-stable-abi211-cu130-x86_64-linux", env).fits);
  CHECK_FALSE(fit("torch-stable-abi212-cu130-x86_64-linux", env).fits);
  CHECK_FALSE(fit("tvm-ffi01-cu130-x86_64-linux", env).fits);  // no tvm-ffi here
  auto with_tvm = env;
  with_tvm.tvm_ffi = Version2{0, 1};
  CHECK(fit("tvm-ffi01-cu130-x86_64-linux", with_tvm).fits);
  CHECK_FALSE(fit("tvm-ffi02-cu130-x86_64-linux", with_tvm).fits);
  CHECK(fit("torch-cuda", env).fits);
  CHECK(fit("torch-universal", env).fits);
  CHECK_FALSE(fit("torch-cpu", env).fits);

  // Reasons are the Python ones.
  CHECK(fit("torch211-cxx11-cu130-aarch64-linux", env).reason ==
        "CPU (aarch64) does not match system CPU (x86_64)");
  CHECK(fit("torch211-cxx11-cu126-x86_64-linux", env).reason ==
        "CUDA version (12.6) is not compatible with system CUDA version (13.2)");
  CHECK(fit("torch212-cxx11-cu130-x86_64-linux", env).reason ==
        "Torch version (2.12) does not match environment Torch version (2.11)");
  CHECK(fit("torch211-cxx98-cu130-x86_64-linux", env).reason ==
        "Torch CXX11 ABI (False) does not match environment Torch CXX11 ABI (True)");
  CHECK(fit("torch-cpu", env).reason == "backend (cpu) does not match system backend (cuda) and is not universal");
  CHECK(fit("torch211-cxx11-cpu-x86_64-linux", env).reason == "backend (cpu) does not match selected backend (cu132)");

  // Other backends match exactly, version included.
  const auto rocm = linux_env({2, 11}, "rocm", Version2{7, 1});
  CHECK(fit("torch211-cxx11-rocm71-x86_64-linux", rocm).fits);
  CHECK_FALSE(fit("torch211-cxx11-rocm70-x86_64-linux", rocm).fits);
  CHECK(fit("torch-rocm", rocm).fits);
  // CANN systems take torch-npu noarch variants.
  const auto npu = linux_env({2, 11}, "cann", Version2{8, 0}, "aarch64");
  CHECK(fit("torch211-cxx11-cann80-aarch64-linux", npu).fits);
  CHECK(fit("torch-npu", npu).fits);
  CHECK_FALSE(fit("torch-cann", npu).fits);

  // Off Linux the ABI is unknown: tagged variants never fit, untagged do.
  Environment mac;
  mac.torch = {2, 11};
  mac.backend = "metal";
  mac.arch = "aarch64";
  mac.os = "darwin";
  mac.macos = Version2{26, 1};
  CHECK(fit("torch211-metal-aarch64-darwin", mac).fits);
  CHECK_FALSE(fit("torch211-cxx11-metal-aarch64-darwin", mac).fits);
  mac.macos = Version2{15, 5};
  CHECK_FALSE(fit("torch211-metal-aarch64-darwin", mac).fits);
  CHECK(fit("torch-metal", mac).fits);
}

TEST_CASE("ranking: stable ABI, torch (untagged first), tvm-ffi, noarch, universal") {
  auto env = linux_env({2, 11}, "cuda", Version2{13, 2});
  env.tvm_ffi = Version2{0, 1};
  const std::vector<std::string> names{
      "torch-universal",
      "torch-cuda",
      "tvm-ffi01-cu130-x86_64-linux",
      "torch211-cxx11-cu130-x86_64-linux",
      "torch211-cxx11-cu132-x86_64-linux",
      "torch211-cu130-x86_64-linux",
      "torch-stable-abi29-cu132-x86_64-linux",
      "torch-stable-abi210-cu130-x86_64-linux",
      "torch211-cxx11-cu126-x86_64-linux",
      "not-a-variant",
      "torch211-cxx11-cu130-x86_64-linux",  // duplicate: counted once
  };
  const auto sel = select_variants(names, env);
  // tvm-ffi with cu130 and torch-cuda have equal keys in Python's sort (minor 0 vs
  // noarch 0): the stable sort keeps the input order, torch-cuda first here.
  const std::vector<std::string> expected{
      "torch-stable-abi210-cu130-x86_64-linux", "torch-stable-abi29-cu132-x86_64-linux",
      "torch211-cu130-x86_64-linux",            "torch211-cxx11-cu132-x86_64-linux",
      "torch211-cxx11-cu130-x86_64-linux",      "torch-cuda",
      "tvm-ffi01-cu130-x86_64-linux",           "torch-universal"};
  CHECK(sel.ranked == expected);
  REQUIRE(sel.rejected.size() == 2);
  CHECK(sel.rejected[0].name == "torch211-cxx11-cu126-x86_64-linux");
  CHECK(sel.rejected[1].name == "not-a-variant");
  CHECK(sel.rejected[1].reason.find("not a variant name") != std::string::npos);
}

TEST_CASE("explain_no_match lists the environment, what was there and the nearest miss") {
  const auto env = linux_env({2, 11}, "cuda", Version2{12, 8});
  const auto sel = select_variants({"torch211-cxx11-cu130-x86_64-linux", "torch212-cxx11-cu128-x86_64-linux",
                                    "torch211-cxx11-cu128-aarch64-linux", "torch-cpu"},
                                   env);
  CHECK(sel.ranked.empty());
  const auto text = sel.explain_no_match(env);
  CAPTURE(text);
  CHECK(text.find("torch 2.11") != std::string::npos);
  CHECK(text.find("12.8") != std::string::npos);
  CHECK(text.find("x86_64-linux") != std::string::npos);
  for (const char* name : {"torch211-cxx11-cu130-x86_64-linux", "torch212-cxx11-cu128-x86_64-linux",
                           "torch211-cxx11-cu128-aarch64-linux", "torch-cpu"})
    CHECK(text.find(name) != std::string::npos);
  // cu130 passed CPU, OS and torch checks and failed only on CUDA: the nearest.
  CHECK(text.find("nearest miss: torch211-cxx11-cu130-x86_64-linux") != std::string::npos);
  CHECK(select_variants({}, env).explain_no_match(env).find("none") != std::string::npos);
}

TEST_CASE("matches_filter") {
  VariantFilter f;
  auto m = [&](const char* name) { return matches_filter(parse_variant(name), f); };
  CHECK(m("torch211-cxx11-cu130-x86_64-linux"));
  f.torch = {"2.11"};
  CHECK(m("torch211-cxx11-cu130-x86_64-linux"));
  CHECK_FALSE(m("torch212-cxx11-cu130-x86_64-linux"));
  CHECK(m("torch-stable-abi210-cu130-x86_64-linux"));
  CHECK_FALSE(m("torch-stable-abi212-cu130-x86_64-linux"));
  CHECK(m("tvm-ffi01-cu130-x86_64-linux"));
  CHECK(m("torch-universal"));
  f.cuda = {"13.0"};
  CHECK(m("torch211-cxx11-cu130-x86_64-linux"));
  CHECK_FALSE(m("torch211-cxx11-cu132-x86_64-linux"));
  CHECK_FALSE(m("torch211-cxx11-cu126-x86_64-linux"));
  CHECK(m("torch211-cxx11-cpu-x86_64-linux"));
  CHECK_FALSE(m("torch211-cxx11-rocm71-x86_64-linux"));
  CHECK(m("torch-cuda"));
  CHECK_FALSE(m("torch-rocm"));
  f.arch = {"aarch64"};
  CHECK_FALSE(m("torch211-cxx11-cu130-x86_64-linux"));
  CHECK(m("torch211-cxx11-cu130-aarch64-linux"));
  CHECK(m("torch-cuda"));
  f.os = {"darwin"};
  CHECK_FALSE(m("torch211-cxx11-cu130-aarch64-linux"));
  f = VariantFilter{};
  f.torch = {"2.x"};
  CHECK_THROWS_AS(m("torch211-cpu-x86_64-linux"), Error);
  CHECK(parse_version2("13.0") == Version2{13, 0});
  CHECK_THROWS_AS(parse_version2("13"), Error);
  CHECK_THROWS_AS(parse_version2("13.0.1"), Error);
}
