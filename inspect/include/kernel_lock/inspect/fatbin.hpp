// CUDA fatbinaries inside a kernel .so (the `.nv_fatbin` and `__nv_relfatbin`
// sections) and the rules for which GPU can run which entry.
//
// Container layout (little-endian; public reverse-engineering notes, checked
// against nvcc 13.0 output in tests/unit/inspect):
//   header, 16 bytes: u32 magic 0xBA55ED50 (0x466243B1 in __nv_relfatbin) | u16 version (1) | u16 header size
//                     (16) | u64 size of the entries that follow
//   entry header (>= 64 bytes): u16 kind (1 PTX, 2 ELF/SASS) | u16 (0x0101) |
//     u32 header size | u64 payload size | u32 compressed size | u32 | u16
//     minor | u16 major (code version) | u32 sm arch (80, 90, 100, 120, ...) |
//     u32 name offset | u32 name size | u64 flags (0x100000 arch-specific
//     "a", 0x200000 family-specific "f", 0x8000 compressed) | ...
//   the next entry starts at entry + header size + payload size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kernel_lock::inspect {

class ElfFile;

inline constexpr std::size_t kMaxFatbinEntries = 1u << 16;

enum class FatbinKind { sass, ptx };

struct FatbinEntry {
  FatbinKind kind = FatbinKind::sass;
  int arch = 0;                  // 80 for sm_80 / compute_80: major = arch / 10, minor = arch % 10
  bool arch_specific = false;    // sm_90a / compute_90a
  bool family_specific = false;  // sm_100f / compute_100f
  // "sm_90a", "compute_120", ... (the cuobjdump spelling).
  std::string to_string() const;
  friend auto operator<=>(const FatbinEntry&, const FatbinEntry&) = default;
};

// Parses every fatbin container in `bytes` (one section's contents). Entries
// are returned sorted and unique. Throws Error(invalid_input) naming `source`
// for a bad magic, a header or entry running past the end, a zero-sized entry
// header, or more than kMaxFatbinEntries entries.
std::vector<FatbinEntry> parse_fatbin(std::string_view bytes, std::string_view source);

// The entries of `.nv_fatbin` and `__nv_relfatbin` of `elf` (empty when it has
// neither: not a CUDA object). Throws like parse_fatbin and ElfFile::section.
std::vector<FatbinEntry> read_fatbin(const ElfFile& elf);

struct Capability {
  int major = 0;
  int minor = 0;
  friend auto operator<=>(const Capability&, const Capability&) = default;
};
// "9.0" -> {9, 0}; throws Error(invalid_input) naming `what` otherwise.
Capability parse_capability(std::string_view text, std::string_view what = "GPU capability");
std::string to_string(Capability cap);

// The CUDA run rules (CUDA C++ Programming Guide, "Binary Compatibility",
// "PTX Compatibility", "Feature Set Compiler Targets"):
//  - SASS sm_XY runs on capability X.Z with Z >= Y (same major: binary
//    compatibility holds across minor revisions only): sm_80 runs on 8.0, 8.6,
//    8.9, not on 9.0.
//  - SASS sm_XYa (arch-specific) runs only on exactly X.Y.
//  - SASS sm_XYf (family-specific) runs on the family: X.Z with Z >= Y.
//  - PTX compute_XY is JIT-compiled by the driver on any capability >= X.Y.
//  - PTX compute_XYa only on exactly X.Y; compute_XYf on X.Z with Z >= Y.
bool runs_on(const FatbinEntry& entry, Capability cap) noexcept;

struct RunVerdict {
  bool runs = false;
  std::optional<FatbinEntry> via;  // the entry the driver uses: SASS preferred, then PTX (jit)
  bool jit = false;
  std::string reason;  // when it does not run: what the fatbinary holds
};
// Which entry of `entries` a GPU of `cap` runs (the best SASS: highest arch
// that runs; else the highest PTX), or why none does.
RunVerdict check_capability(const std::vector<FatbinEntry>& entries, Capability cap);

}  // namespace kernel_lock::inspect
