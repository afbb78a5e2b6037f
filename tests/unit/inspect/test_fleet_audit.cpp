// fleet.yaml parsing, the per-class verdict on generated cases, and the audit rules.
#include <doctest/doctest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/inspect/audit.hpp"
#include "kernel_lock/inspect/elf.hpp"
#include "kernel_lock/inspect/fleet.hpp"

#include "../temp_dir.hpp"

using namespace kernel_lock;
using namespace kernel_lock::inspect;

namespace {

FatbinEntry sass(int arch, bool a = false) { return FatbinEntry{FatbinKind::sass, arch, a, false}; }

NodeClass cuda_class(std::vector<Capability> gpus) {
  auto c = parse_fleet_yaml("classes:\n  - {name: c, torch: \"2.11\", cuda: \"13.0\", glibc: \"2.31\", kernels: \"0.16\"}\n",
                            "f.yaml")[0];
  c.gpus = std::move(gpus);
  return c;
}

const std::vector<std::string> kVariants{"torch211-cxx11-cu130-x86_64-linux", "torch211-cxx11-cu126-x86_64-linux",
                                         "torch211-cxx11-cpu-x86_64-linux", "torch210-cxx11-cu130-x86_64-linux"};

}  // namespace

TEST_CASE("fleet.yaml: classes with their environment; bad fields named with their path") {
  const auto fleet = parse_fleet_yaml(
      "classes:\n"
      "  - name: h100\n    torch: \"2.11\"\n    cxx11-abi: false\n    cuda: \"12.8\"\n    arch: aarch64\n    gpus: [\"9.0\"]\n"
      "  - {name: cpu, torch: \"2.10\"}\n",
      "fleet.yaml");
  REQUIRE(fleet.size() == 2);
  CHECK(fleet[0].env.backend == "cuda");
  CHECK(fleet[0].env.backend_version == Version2{12, 8});
  CHECK_FALSE(fleet[0].env.cxx11_abi);
  CHECK(fleet[0].env.arch == "aarch64");
  CHECK(fleet[0].gpus == std::vector<Capability>{{9, 0}});
  CHECK(fleet[1].env.backend == "cpu");
  CHECK_THROWS_WITH_AS(parse_fleet_yaml("classes:\n  - {name: x, torch: \"2.11\", gpu: [\"9.0\"]}\n", "f.yaml"),
                       doctest::Contains("classes[0].gpu: unknown field"), Error);
  CHECK_THROWS_WITH_AS(parse_fleet_yaml("classes:\n  - {name: x, gpus: [\"9.0\"], cuda: \"13.0\"}\n", "f.yaml"),
                       doctest::Contains("missing `torch`"), Error);
  CHECK_THROWS_WITH_AS(parse_fleet_yaml("classes:\n  - {name: x, torch: \"2.11\"}\n  - {name: x, torch: \"2.11\"}\n", "f.yaml"),
                       doctest::Contains("listed twice"), Error);
  CHECK_THROWS_WITH_AS(parse_fleet_yaml(std::string(kMaxFleetBytes + 1, ' '), "big.yaml"), doctest::Contains("1 MiB"), Error);
  CHECK_THROWS_AS(parse_fleet_yaml("classes: [", "bad.yaml"), Error);
}

TEST_CASE("backend.archs as entries and dotted version compare") {
  const auto e = archs_as_entries({"8.0", "9.0a", "12.0+PTX"});
  REQUIRE(e.size() == 4);
  CHECK(e[0].to_string() == "sm_80");
  CHECK(e[1].to_string() == "sm_90a");
  CHECK(e[2].to_string() == "sm_120");
  CHECK(e[3].to_string() == "compute_120");
  CHECK_THROWS_AS(archs_as_entries({"sm80"}), Error);
  CHECK(compare_versions("2.28", "2.31") < 0);
  CHECK(compare_versions("0.17.2", "0.17") > 0);
  CHECK(compare_versions("3.4.24", "3.4.24") == 0);
}

TEST_CASE("the verdict of a class: the pick, gaps per GPU, archs, kernels-minver and glibc") {
  const auto facts = [](const std::string& v) {
    CHECK(v == "torch211-cxx11-cu130-x86_64-linux");
    VariantFacts f;
    f.metadata = KernelMetadata{"cuda", {"8.0", "9.0a"}, std::string("0.17"), false};
    f.objects.push_back({"_k.abi3.so", {sass(80), sass(90, true)}, {{"libc.so.6", "GLIBC_2.34"}}});
    return f;
  };
  auto v = check_kernel(cuda_class({{8, 6}, {9, 0}}), "org/k", kVariants, facts);
  CHECK(v.variant == "torch211-cxx11-cu130-x86_64-linux");
  CHECK(v.gpu_notes == std::vector<std::string>{"8.6: sm_80", "9.0: sm_90a"});
  REQUIRE(v.gaps.size() == 2);  // kernels 0.16 < 0.17, glibc 2.31 < 2.34
  CHECK(v.gaps[0].what == "kernels");
  CHECK(v.gaps[1].what == "glibc");
  v = check_kernel(cuda_class({{10, 0}}), "org/k", kVariants, facts);
  CHECK(v.gaps[0].what == "gpu");
  CHECK(v.gaps[1].what == "archs");
  auto old = cuda_class({});
  old.env.torch = {2, 9};
  v = check_kernel(old, "org/k", kVariants, [](const std::string&) -> VariantFacts { FAIL("not read"); return {}; });
  CHECK_FALSE(v.variant);
  REQUIRE(v.gaps.size() == 1);
  CHECK(v.gaps[0].what == "variant");
}

TEST_CASE("the verdict of a class: a .so carrying its own libstdc++ is a gap on a class that fits otherwise") {
  const auto facts = [](bool private_libstdcxx) {
    return [private_libstdcxx](const std::string&) {
      VariantFacts f;
      f.objects.push_back({"_k.abi3.so", {sass(90, true)}, {}, private_libstdcxx});
      return f;
    };
  };
  CHECK(check_kernel(cuda_class({{9, 0}}), "org/k", kVariants, facts(false)).ok());
  const auto v = check_kernel(cuda_class({{9, 0}}), "org/k", kVariants, facts(true));
  REQUIRE(v.gaps.size() == 1);
  CHECK(v.gaps[0].what == "libstdcxx");
  CHECK(v.gaps[0].detail.find("_k.abi3.so") != std::string::npos);
}

TEST_CASE("audit rules on a synthetic dynamic section") {
  DynamicInfo dyn;
  dyn.needed = {"libc.so.6", "libc10.so", "libfoo.so.1"};
  dyn.undefined = {{"PyModule_Create2", "", "", false},
                   {"PyUnicode_AsUTF8", "", "", false},
                   {"PyObject_GenericGetDict", "", "", false},
                   {"PyLong_FromLong", "", "", false},
                   {"_ZN3c104warnEv", "", "", false},
                   {"memcpy", "GLIBC_2.14", "libc.so.6", false},
                   {"pthread_create", "GLIBC_2.34", "libc.so.6", false},
                   {"_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE10_M_replaceEmmPKcm", "GLIBCXX_3.4.21",
                    "libstdc++.so.6", false},
                   {"_ZSt28__throw_bad_array_new_lengthv", "GLIBCXX_3.4.29", "libstdc++.so.6", false}};
  AuditOptions o;
  o.policy = &manylinux_policy("manylinux_2_28");
  o.abi3 = true;
  o.libtorch_symbols = std::set<std::string>{};
  o.libtorch_libraries = {"libc10.so"};
  const auto f = audit_object(dyn, "k.so", o);
  std::vector<std::string> got;
  for (const auto& x : f) got.push_back(x.rule + ": " + x.message.substr(0, x.message.find(' ')));
  CHECK(got == std::vector<std::string>{
                   "abi3: PyObject_GenericGetDict", "abi3: PyUnicode_AsUTF8",
                   "manylinux-symbol: _ZSt28__throw_bad_array_new_lengthv@GLIBCXX_3.4.29",
                   "manylinux-symbol: pthread_create@GLIBC_2.34", "needed-unresolved: DT_NEEDED",
                   "python-symbol: PyLong_FromLong", "python-symbol: PyModule_Create2",
                   "python-symbol: PyObject_GenericGetDict", "python-symbol: PyUnicode_AsUTF8",
                   "torch-symbol: _ZN3c104warnEv"});
  CHECK(abi3_added("PyLong_FromLong") == 2);
  CHECK_FALSE(abi3_added("_PyObject_GetDictPtr"));
  CHECK_THROWS_WITH_AS(manylinux_policy("manylinux_9_99"), doctest::Contains("unknown target"), Error);
  const auto sarif = to_sarif(f);
  CHECK(sarif.find("\"version\": \"2.1.0\"") != std::string::npos);
  CHECK(sarif == to_sarif(f));
}

TEST_CASE("audit: a kernel carrying its own libstdc++ (std::locale::classic defined) is an error") {
  DynamicInfo dyn;
  dyn.needed = {"libc.so.6"};
  dyn.defined = {{"PyInit__k", "", "", false}, {"_ZNSt6locale7classicEv", "", "", false}};
  const auto f = audit_object(dyn, "k.so", AuditOptions{});
  REQUIRE(f.size() == 1);
  CHECK(f[0].rule == "private-libstdcxx");
  CHECK(f[0].level == Level::error);
  dyn.defined = {{"PyInit__k", "", "", false}};
  CHECK(audit_object(dyn, "k.so", AuditOptions{}).empty());
}

TEST_CASE("audit: real g++ output, -static-libstdc++ against the shared libstdc++") {
  if (std::system("command -v g++ >/dev/null 2>&1") != 0) {
    MESSAGE("g++ not installed: skipped");
    return;
  }
  kltest::TempDir dir;
  write_file_atomic(dir.path() / "k.cpp",
                    "#include <sstream>\nextern \"C\" int f() { std::ostringstream s; s << 42L; return (int)s.str().size(); }\n");
  const auto rules_of = [&](const std::string& flags, const std::string& name) {
    const auto so = dir.path() / name;
    const std::string cmd = "g++ -O2 -fPIC -shared " + flags + " -o " + so.string() + " " + (dir.path() / "k.cpp").string() + " 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::set<std::string> rules;
    for (const auto& finding : audit_object(ElfFile::open(so).dynamic(), name, AuditOptions{})) rules.insert(finding.rule);
    return rules;
  };
  CHECK(rules_of("-static-libstdc++", "static.so").contains("private-libstdcxx"));
  CHECK_FALSE(rules_of("", "shared.so").contains("private-libstdcxx"));
  CHECK(carries_private_libstdcxx(ElfFile::open(dir.path() / "static.so").dynamic()));
  CHECK_FALSE(carries_private_libstdcxx(ElfFile::open(dir.path() / "shared.so").dynamic()));
}
