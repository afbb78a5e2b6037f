// The one ELF reader of kernel-lock: a move-only owner of a libelf handle (and
// the fd or the bytes under it), with bounded reads of sections and of the
// dynamic symbol tables. Every size is checked against the file size before
// anything is allocated; malformed ELF throws Error(invalid_input) naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock::inspect {

// Limits on what one ELF may make us read (hostile input).
inline constexpr std::uint64_t kMaxElfBytes = 4ull << 30;      // 4 GiB
inline constexpr std::size_t kMaxElfSections = 1u << 16;
inline constexpr std::size_t kMaxDynamicSymbols = 1u << 21;    // 2 Mi symbols
inline constexpr std::size_t kMaxVersionNeeds = 1u << 12;

// One symbol version a file needs from a library (.gnu.version_r).
struct VersionNeed {
  std::string file;     // "libc.so.6"
  std::string version;  // "GLIBC_2.28"
  friend auto operator<=>(const VersionNeed&, const VersionNeed&) = default;
};

// A dynamic symbol, undefined (imported) or defined (exported).
struct DynamicSymbol {
  std::string name;
  std::string version;       // "GLIBC_2.2.5", "" when unversioned
  std::string version_file;  // for undefined symbols: the library the version is needed from
  bool weak = false;
  friend auto operator<=>(const DynamicSymbol&, const DynamicSymbol&) = default;
};

struct DynamicInfo {
  std::string soname;
  std::vector<std::string> needed;            // DT_NEEDED, in file order
  std::vector<VersionNeed> version_needs;     // sorted
  std::vector<DynamicSymbol> undefined;       // sorted by name
  std::vector<DynamicSymbol> defined;         // sorted by name (exported, non-local)
};

class ElfFile {
 public:
  // Opens `path` read-only. Throws Error(not_found) when missing, Error(io)
  // when it cannot be read, Error(invalid_input) "<path>: not an ELF file ..."
  // when libelf refuses it or it is larger than kMaxElfBytes.
  static ElfFile open(const std::filesystem::path& path);
  // Over bytes held in memory (a blob read from a cache or bundle); `name`
  // names it in errors. Throws Error(invalid_input) like open.
  static ElfFile from_bytes(std::string bytes, std::string name);

  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&& other) noexcept;
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ~ElfFile();

  const std::string& name() const noexcept { return name_; }
  // The bytes of section `section` (SHT_NOBITS: none), std::nullopt when the
  // file has no such section. Throws Error(invalid_input) when the section
  // lies outside the file.
  std::optional<std::string> section(std::string_view section) const;
  // The dynamic section, version needs and dynamic symbols. Throws
  // Error(invalid_input) for a malformed table or one over the limits.
  DynamicInfo dynamic() const;

 private:
  struct Handle;
  ElfFile(std::unique_ptr<Handle> handle, std::string name);
  std::unique_ptr<Handle> handle_;
  std::string name_;
};

}  // namespace kernel_lock::inspect
