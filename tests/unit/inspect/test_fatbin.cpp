// The fatbinary reader (crafted buffers, hostile ones, real nvcc output) and the CUDA run rules.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>

#include "../temp_dir.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/inspect/elf.hpp"
#include "kernel_lock/inspect/fatbin.hpp"

using namespace kernel_lock;
using namespace kernel_lock::inspect;

namespace {

template <class T>
void put(std::string& s, std::size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof v);
}

// One 64-byte entry header + payload.
std::string entry(std::uint16_t kind, std::uint32_t arch, std::uint64_t flags, std::size_t payload = 8) {
  std::string e(64 + payload, '\0');
  put<std::uint16_t>(e, 0, kind);
  put<std::uint16_t>(e, 2, 0x0101);
  put<std::uint32_t>(e, 4, 64);
  put<std::uint64_t>(e, 8, payload);
  put<std::uint32_t>(e, 28, arch);
  put<std::uint64_t>(e, 40, flags);
  return e;
}

std::string container(const std::string& entries) {
  std::string h(16, '\0');
  put<std::uint32_t>(h, 0, 0xBA55ED50u);
  put<std::uint16_t>(h, 4, 1);
  put<std::uint16_t>(h, 6, 16);
  put<std::uint64_t>(h, 8, entries.size());
  return h + entries;
}

FatbinEntry sass(int arch, bool a = false) { return FatbinEntry{FatbinKind::sass, arch, a, false}; }
FatbinEntry ptx(int arch, bool a = false) { return FatbinEntry{FatbinKind::ptx, arch, a, false}; }

}  // namespace

TEST_CASE("crafted fatbin containers list their entries with kind, arch and the arch-specific flag") {
  const auto bytes = container(entry(2, 80, 0x11) + entry(2, 90, 0x100011) + entry(1, 120, 0x8011)) +
                     std::string(8, '\0') + container(entry(2, 100, 0x1200011));
  const auto entries = parse_fatbin(bytes, "x.so");
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].to_string() == "sm_80");
  CHECK(entries[1].to_string() == "sm_90a");
  CHECK(entries[2].to_string() == "sm_100f");
  CHECK(entries[3].to_string() == "compute_120");
}

TEST_CASE("truncated and hostile fatbins are refused naming the source") {
  const auto good = container(entry(2, 80, 0x11));
  for (std::size_t cut : {std::size_t{5}, std::size_t{20}, good.size() - 1}) {
    CHECK_THROWS_WITH_AS(parse_fatbin(good.substr(0, cut), "t.so .nv_fatbin"), doctest::Contains("t.so .nv_fatbin"), Error);
  }
  auto bad_magic = good;
  put<std::uint32_t>(bad_magic, 0, 0x12345678u);
  CHECK_THROWS_WITH_AS(parse_fatbin(bad_magic, "m.so"), doctest::Contains("bad magic"), Error);
  auto huge = good;
  put<std::uint64_t>(huge, 8, ~std::uint64_t{0});  // container size past the end
  CHECK_THROWS_AS(parse_fatbin(huge, "h.so"), Error);
  auto huge_payload = good;
  put<std::uint64_t>(huge_payload, 16 + 8, ~std::uint64_t{0} - 10);  // entry payload wraps
  CHECK_THROWS_AS(parse_fatbin(huge_payload, "p.so"), Error);
  auto small_header = good;
  put<std::uint32_t>(small_header, 16 + 4, 0);  // zero entry header: would loop forever
  CHECK_THROWS_WITH_AS(parse_fatbin(small_header, "z.so"), doctest::Contains("entry header size"), Error);
  CHECK(parse_fatbin(std::string(32, '\0'), "pad.so").empty());
  auto relocatable = good;  // the __nv_relfatbin container magic
  put<std::uint32_t>(relocatable, 0, 0x466243B1u);
  CHECK(parse_fatbin(relocatable, "r.so").size() == 1);
}

TEST_CASE("CUDA run rules: SASS same major and minor >=, 'a' exact, PTX any newer") {
  CHECK(runs_on(sass(80), {8, 0}));
  CHECK(runs_on(sass(80), {8, 6}));
  CHECK(runs_on(sass(80), {8, 9}));
  CHECK_FALSE(runs_on(sass(80), {9, 0}));
  CHECK_FALSE(runs_on(sass(86), {8, 0}));
  CHECK(runs_on(sass(90, true), {9, 0}));
  CHECK_FALSE(runs_on(sass(90, true), {10, 0}));
  CHECK(runs_on(ptx(90), {10, 0}));
  CHECK(runs_on(ptx(90), {12, 0}));
  CHECK_FALSE(runs_on(ptx(90), {8, 9}));
  CHECK_FALSE(runs_on(ptx(90, true), {10, 0}));
  CHECK(runs_on(FatbinEntry{FatbinKind::sass, 100, false, true}, {10, 3}));
  CHECK_FALSE(runs_on(FatbinEntry{FatbinKind::sass, 100, false, true}, {12, 0}));

  const std::vector<FatbinEntry> built{sass(75), sass(80), sass(89), sass(90, true), sass(100), sass(120), ptx(120)};
  auto v = check_capability(built, {8, 6});
  CHECK(v.runs);
  CHECK(v.via->to_string() == "sm_80");
  v = check_capability(built, {12, 1});
  CHECK(v.via->to_string() == "sm_120");
  CHECK_FALSE(v.jit);
  v = check_capability(built, {13, 0});
  CHECK(v.jit);
  CHECK(v.via->to_string() == "compute_120");
  v = check_capability({sass(80)}, {9, 0});
  CHECK_FALSE(v.runs);
  CHECK(v.reason.find("sm_80") != std::string::npos);
  CHECK(parse_capability("10.0") == Capability{10, 0});
  CHECK_THROWS_AS(parse_capability("9"), Error);
  CHECK_THROWS_AS(parse_capability("9.x"), Error);
}

TEST_CASE("a non-ELF file and a truncated ELF are refused as invalid input naming the file") {
  kltest::TempDir dir;
  write_file_atomic(dir.path() / "text.so", "not an elf");
  CHECK_THROWS_WITH_AS(ElfFile::open(dir.path() / "text.so"), doctest::Contains("text.so"), Error);
  CHECK_THROWS_AS(ElfFile::from_bytes(std::string("\x7f" "ELF\x02\x01\x01", 7), "cut.so"), Error);
  try {
    ElfFile::open(dir.path() / "missing.so");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
}

TEST_CASE("a real ELF cut short is refused before any section is read") {
  const auto self = read_file("/proc/self/exe");
  REQUIRE(self.size() > 8192);
  CHECK_NOTHROW(ElfFile::from_bytes(self, "self").dynamic());
  CHECK_THROWS_WITH_AS(ElfFile::from_bytes(self.substr(0, 4096), "cut.so").dynamic(), doctest::Contains("cut.so"), Error);
}

// The distinct entries `cuobjdump --list-elf --list-ptx` names ("ELF file 1: k.1.sm_90a.cubin", "PTX file
// 1: k.1.sm_90.ptx"). It lists every container of the section (`nvcc -shared` adds a device-link one
// holding the same archs again); read_fatbin answers the set.
std::set<std::string> cuobjdump_listing(const std::filesystem::path& so) {
  const std::string cmd = "cuobjdump --list-elf --list-ptx " + so.string() + " 2>/dev/null";
  std::set<std::string> out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
      const std::string line(buf);
      const auto sm = line.find("sm_");
      if (sm == std::string::npos) continue;
      const auto end = line.find('.', sm);
      const std::string arch = line.substr(sm + 3, end - sm - 3);
      out.insert((line.starts_with("PTX") ? "compute_" : "sm_") + arch);
    }
    ::pclose(p);
  }
  return out;
}

TEST_CASE("real nvcc output: the entries match the -gencode list (and cuobjdump when installed)") {
  const char* nvcc = "/usr/local/cuda/bin/nvcc";
  if (!std::filesystem::exists(nvcc)) {
    MESSAGE("nvcc not installed: skipped");
    return;
  }
  kltest::TempDir dir;
  write_file_atomic(dir.path() / "k.cu", "__global__ void k(float* x) { x[threadIdx.x] += 1.0f; }\n");
  const auto so = dir.path() / "k.so";
  const std::string cmd = std::string(nvcc) + " -shared -Xcompiler -fPIC -gencode arch=compute_80,code=sm_80 " +
                          "-gencode arch=compute_90a,code=sm_90a -gencode arch=compute_90,code=compute_90 -o " +
                          so.string() + " " + (dir.path() / "k.cu").string() + " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const auto elf = ElfFile::open(so);
  const auto entries = read_fatbin(elf);
  std::string listed;
  for (const auto& e : entries) listed += e.to_string() + " ";
  CHECK(listed == "sm_80 sm_90a compute_90 ");
  if (std::system("command -v cuobjdump >/dev/null 2>&1") == 0) {
    CHECK(cuobjdump_listing(so) == std::set<std::string>{"sm_80", "sm_90a", "compute_90"});
  } else {
    MESSAGE("cuobjdump not installed: cross-check against the -gencode list only");
  }
  CHECK_FALSE(check_capability(entries, {8, 9}).jit);
  CHECK(check_capability(entries, {10, 0}).jit);
  const auto dyn = elf.dynamic();
  CHECK(std::find(dyn.needed.begin(), dyn.needed.end(), "libc.so.6") != dyn.needed.end());
  CHECK_FALSE(dyn.version_needs.empty());
}
