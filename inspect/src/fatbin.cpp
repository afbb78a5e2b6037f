// The fatbinary reader and the CUDA run rules (fatbin.hpp).
#include "kernel_lock/inspect/fatbin.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/inspect/elf.hpp"

namespace kernel_lock::inspect {
namespace {

constexpr std::uint32_t kFatbinMagic = 0xBA55ED50u;
constexpr std::uint32_t kRelocatableFatbinMagic = 0x466243B1u;  // __nv_relfatbin (nvcc -rdc)
constexpr std::size_t kContainerHeader = 16;
constexpr std::size_t kEntryHeaderMin = 64;
constexpr std::uint16_t kKindPtx = 1;
constexpr std::uint16_t kKindElf = 2;
constexpr std::uint64_t kFlagArchSpecific = 0x100000;
constexpr std::uint64_t kFlagFamilySpecific = 0x200000;

template <class T>
T load(std::string_view bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof value);  // little-endian hosts only (x86_64, aarch64)
  return value;
}

[[noreturn]] void bad(std::string_view source, std::size_t offset, const std::string& what) {
  throw Error(ErrorCode::invalid_input,
              std::string(source) + ": fatbinary at offset " + std::to_string(offset) + ": " + what,
              "the CUDA object is damaged or not built by nvcc");
}

// Parses the entries of one container [begin, end); appends to `out`.
void parse_entries(std::string_view bytes, std::size_t begin, std::size_t end, std::string_view source,
                   std::vector<FatbinEntry>& out) {
  std::size_t at = begin;
  while (at < end) {
    if (end - at < kEntryHeaderMin) bad(source, at, "truncated entry header");
    const auto kind = load<std::uint16_t>(bytes, at);
    const auto header_size = load<std::uint32_t>(bytes, at + 4);
    const auto payload = load<std::uint64_t>(bytes, at + 8);
    if (header_size < kEntryHeaderMin || header_size > end - at) bad(source, at, "bad entry header size " + std::to_string(header_size));
    if (payload > end - at - header_size) bad(source, at, "entry payload runs past the container");
    if (out.size() >= kMaxFatbinEntries) bad(source, at, "more than " + std::to_string(kMaxFatbinEntries) + " entries");
    if (kind == kKindPtx || kind == kKindElf) {
      const auto flags = load<std::uint64_t>(bytes, at + 40);
      FatbinEntry e;
      e.kind = kind == kKindPtx ? FatbinKind::ptx : FatbinKind::sass;
      e.arch = static_cast<int>(load<std::uint32_t>(bytes, at + 28));
      e.arch_specific = (flags & kFlagArchSpecific) != 0;
      e.family_specific = (flags & kFlagFamilySpecific) != 0;
      if (e.arch <= 0 || e.arch > 10000) bad(source, at, "bad sm arch " + std::to_string(e.arch));
      out.push_back(e);
    }
    at += header_size + payload;
  }
}

}  // namespace

std::string FatbinEntry::to_string() const {
  return std::string(kind == FatbinKind::sass ? "sm_" : "compute_") + std::to_string(arch) +
         (arch_specific ? "a" : family_specific ? "f" : "");
}

std::vector<FatbinEntry> parse_fatbin(std::string_view bytes, std::string_view source) {
  std::vector<FatbinEntry> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    // Containers are 8-aligned in the section; zero padding may sit between them.
    if (bytes.size() - at < kContainerHeader) {
      if (std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end(), [](char c) { return c == 0; })) break;
      bad(source, at, "truncated container header");
    }
    const auto magic = load<std::uint32_t>(bytes, at);
    if (magic == 0) { at += 8; continue; }
    if (magic != kFatbinMagic && magic != kRelocatableFatbinMagic) bad(source, at, "bad magic");
    const auto header_size = load<std::uint16_t>(bytes, at + 6);
    const auto size = load<std::uint64_t>(bytes, at + 8);
    if (header_size < kContainerHeader || header_size > bytes.size() - at) bad(source, at, "bad container header size");
    if (size > bytes.size() - at - header_size) bad(source, at, "container runs past the section");
    parse_entries(bytes, at + header_size, at + header_size + size, source, out);
    at += header_size + size;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<FatbinEntry> read_fatbin(const ElfFile& elf) {
  std::vector<FatbinEntry> out;
  for (const char* name : {".nv_fatbin", "__nv_relfatbin"}) {
    auto bytes = elf.section(name);
    if (!bytes) continue;
    auto entries = parse_fatbin(*bytes, elf.name() + " " + name);
    out.insert(out.end(), entries.begin(), entries.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Capability parse_capability(std::string_view text, std::string_view what) {
  const auto dot = text.find('.');
  Capability cap;
  const auto fail = [&] {
    throw Error(ErrorCode::invalid_input, std::string(what) + " \"" + std::string(text) + "\" is not MAJOR.MINOR",
                "e.g. 8.0, 9.0, 12.0");
  };
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= text.size() || text.size() > 8) fail();
  auto r1 = std::from_chars(text.data(), text.data() + dot, cap.major);
  auto r2 = std::from_chars(text.data() + dot + 1, text.data() + text.size(), cap.minor);
  if (r1.ec != std::errc() || r1.ptr != text.data() + dot || r2.ec != std::errc() ||
      r2.ptr != text.data() + text.size() || cap.major < 1 || cap.minor < 0 || cap.minor > 9)
    fail();
  return cap;
}

std::string to_string(Capability cap) { return std::to_string(cap.major) + "." + std::to_string(cap.minor); }

bool runs_on(const FatbinEntry& entry, Capability cap) noexcept {
  const Capability target{entry.arch / 10, entry.arch % 10};
  if (entry.arch_specific) return cap == target;
  if (entry.kind == FatbinKind::sass || entry.family_specific) return cap.major == target.major && cap.minor >= target.minor;
  return cap >= target;  // plain PTX: JIT on any newer capability
}

RunVerdict check_capability(const std::vector<FatbinEntry>& entries, Capability cap) {
  RunVerdict v;
  for (const auto& e : entries) {
    if (!runs_on(e, cap)) continue;
    const bool better = !v.via || (v.via->kind == FatbinKind::ptx && e.kind == FatbinKind::sass) ||
                        (v.via->kind == e.kind && e.arch >= v.via->arch);
    if (better) v.via = e;
  }
  if (v.via) {
    v.runs = true;
    v.jit = v.via->kind == FatbinKind::ptx;
    return v;
  }
  std::string held;
  for (const auto& e : entries) held += (held.empty() ? "" : ", ") + e.to_string();
  v.reason = "no SASS or PTX for " + to_string(cap) + " (fatbinary holds: " + (held.empty() ? "nothing" : held) + ")";
  return v;
}

}  // namespace kernel_lock::inspect
