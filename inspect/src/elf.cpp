// ElfFile over Debian's libelf (elf.hpp). libelf reads through its own
// bounds checks; we additionally check every section against the file size
// before asking libelf for data, and cap the counts we iterate.
#include "kernel_lock/inspect/elf.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::inspect {

// Owns the Elf* and what it reads from: an fd or a byte buffer (never both).
struct ElfFile::Handle {
  UniqueFd fd;
  std::string bytes;
  Elf* elf = nullptr;
  std::uint64_t file_size = 0;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (elf != nullptr) elf_end(elf);
  }
};

namespace {

[[noreturn]] void malformed(const std::string& name, const std::string& what) {
  throw Error(ErrorCode::invalid_input, name + ": " + what, "is this a Linux shared library (.so)?");
}

void init_libelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  if (!ok) throw Error(ErrorCode::generic, "libelf: version mismatch");
}

// Checks the ELF header: 64- or 32-bit, and a section table inside the file.
void check_header(Elf* elf, const std::string& name, std::uint64_t file_size) {
  if (elf_kind(elf) != ELF_K_ELF) malformed(name, "not an ELF file");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) malformed(name, std::string("bad ELF header: ") + elf_errmsg(-1));
  std::size_t count = 0;
  if (elf_getshdrnum(elf, &count) != 0) malformed(name, std::string("bad section count: ") + elf_errmsg(-1));
  if (count > kMaxElfSections) malformed(name, std::to_string(count) + " sections (limit " + std::to_string(kMaxElfSections) + ")");
  // From the header itself: libelf reports 0 sections when the table lies past the end of a short file.
  const std::uint64_t declared = std::max<std::uint64_t>({count, ehdr.e_shnum, ehdr.e_shoff != 0 ? 1u : 0u});
  if (declared > 0 && (ehdr.e_shoff > file_size || static_cast<std::uint64_t>(ehdr.e_shentsize) * declared > file_size - ehdr.e_shoff))
    malformed(name, "section table outside the file (truncated?)");
}

}  // namespace

ElfFile::ElfFile(std::unique_ptr<Handle> handle, std::string name) : handle_(std::move(handle)), name_(std::move(name)) {}
ElfFile::ElfFile(ElfFile&& other) noexcept = default;
ElfFile& ElfFile::operator=(ElfFile&& other) noexcept = default;
ElfFile::~ElfFile() = default;

ElfFile ElfFile::open(const std::filesystem::path& path) {
  init_libelf();
  auto handle = std::make_unique<Handle>();
  const std::string name = path.string();
  handle->fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!handle->fd.valid()) {
    const int err = errno;
    throw Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io, name + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(handle->fd.get(), &st) != 0) throw Error(ErrorCode::io, name + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) malformed(name, "not a regular file");
  handle->file_size = static_cast<std::uint64_t>(st.st_size);
  if (handle->file_size > kMaxElfBytes) malformed(name, "larger than 4 GiB");
  handle->elf = elf_begin(handle->fd.get(), ELF_C_READ_MMAP, nullptr);
  if (handle->elf == nullptr) malformed(name, std::string("not an ELF file: ") + elf_errmsg(-1));
  check_header(handle->elf, name, handle->file_size);
  return ElfFile(std::move(handle), name);
}

ElfFile ElfFile::from_bytes(std::string bytes, std::string name) {
  init_libelf();
  if (bytes.size() > kMaxElfBytes) malformed(name, "larger than 4 GiB");
  auto handle = std::make_unique<Handle>();
  handle->bytes = std::move(bytes);
  handle->file_size = handle->bytes.size();
  handle->elf = elf_memory(handle->bytes.data(), handle->bytes.size());
  if (handle->elf == nullptr) malformed(name, std::string("not an ELF file: ") + elf_errmsg(-1));
  check_header(handle->elf, name, handle->file_size);
  return ElfFile(std::move(handle), std::move(name));
}

namespace {

struct SectionRef {
  Elf_Scn* scn = nullptr;
  GElf_Shdr shdr{};
};

std::vector<SectionRef> sections(Elf* elf, const std::string& name, std::uint64_t file_size) {
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) malformed(name, "no section name table");
  std::vector<SectionRef> out;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    if (out.size() >= kMaxElfSections) malformed(name, "too many sections");
    SectionRef ref;
    ref.scn = scn;
    if (gelf_getshdr(scn, &ref.shdr) == nullptr) malformed(name, "bad section header");
    if (ref.shdr.sh_type != SHT_NOBITS &&
        (ref.shdr.sh_offset > file_size || ref.shdr.sh_size > file_size - ref.shdr.sh_offset))
      malformed(name, "section " + std::to_string(out.size() + 1) + " lies outside the file");
    out.push_back(ref);
  }
  return out;
}

std::string section_name(Elf* elf, const GElf_Shdr& shdr) {
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return {};
  const char* s = elf_strptr(elf, shstrndx, shdr.sh_name);
  return s == nullptr ? std::string() : std::string(s);
}

// The data of a section, checked: libelf's translated size equals sh_size.
Elf_Data* section_data(Elf_Scn* scn, const std::string& name) {
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) malformed(name, std::string("unreadable section: ") + elf_errmsg(-1));
  return data;
}

}  // namespace

std::optional<std::string> ElfFile::section(std::string_view wanted) const {
  for (const auto& ref : sections(handle_->elf, name_, handle_->file_size)) {
    if (section_name(handle_->elf, ref.shdr) != wanted) continue;
    if (ref.shdr.sh_type == SHT_NOBITS) return std::string();
    Elf_Data* data = elf_rawdata(ref.scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return std::string();
    return std::string(static_cast<const char*>(data->d_buf), data->d_size);
  }
  return std::nullopt;
}

namespace {

struct DynamicTables {
  std::map<unsigned, VersionNeed> needs_by_index;  // version index -> (file, version)
  std::map<unsigned, std::string> defs_by_index;   // version index -> version (verdef)
};

std::string str_at(Elf* elf, std::size_t strtab, std::size_t offset) {
  const char* s = elf_strptr(elf, strtab, offset);
  return s == nullptr ? std::string() : std::string(s);
}

void read_dynamic_entries(Elf* elf, const SectionRef& ref, const std::string& name, DynamicInfo& out) {
  Elf_Data* data = section_data(ref.scn, name);
  const std::size_t count = ref.shdr.sh_entsize == 0 ? 0 : data->d_size / ref.shdr.sh_entsize;
  for (std::size_t i = 0; i < count && i < kMaxDynamicSymbols; ++i) {
    GElf_Dyn dyn;
    if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) malformed(name, "bad dynamic entry");
    if (dyn.d_tag == DT_NULL) break;
    if (dyn.d_tag == DT_NEEDED) out.needed.push_back(str_at(elf, ref.shdr.sh_link, dyn.d_un.d_val));
    if (dyn.d_tag == DT_SONAME) out.soname = str_at(elf, ref.shdr.sh_link, dyn.d_un.d_val);
  }
}

// One version record at `offset` through libelf's typed getter (gelf_getverneed,
// gelf_getvernaux, gelf_getverdef, gelf_getverdaux), which refuses a record that
// does not fit in the section; throws Error(invalid_input) "<what>" then.
template <typename Record, typename Getter>
Record version_record(Elf_Data* data, std::size_t offset, Getter get, const std::string& name, const char* what) {
  Record record;
  if (offset > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      get(data, static_cast<int>(offset), &record) == nullptr)
    malformed(name, what);
  return record;
}

// .gnu.version_r: Elf_Verneed records, each with a chain of Elf_Vernaux. Every
// record is bounds-checked by libelf; the chains are capped.
void read_version_needs(Elf* elf, const SectionRef& ref, const std::string& name, DynamicTables& tables) {
  Elf_Data* data = section_data(ref.scn, name);
  std::size_t offset = 0;
  for (std::size_t n = 0; n < kMaxVersionNeeds; ++n) {
    const auto need = version_record<GElf_Verneed>(data, offset, gelf_getverneed, name, "truncated .gnu.version_r");
    const std::string file = str_at(elf, ref.shdr.sh_link, need.vn_file);
    std::size_t aux = offset + need.vn_aux;
    for (unsigned a = 0; a < need.vn_cnt && a < kMaxVersionNeeds; ++a) {
      const auto vna = version_record<GElf_Vernaux>(data, aux, gelf_getvernaux, name, "truncated .gnu.version_r entry");
      tables.needs_by_index[vna.vna_other & 0x7fff] = VersionNeed{file, str_at(elf, ref.shdr.sh_link, vna.vna_name)};
      if (vna.vna_next == 0) break;
      aux += vna.vna_next;
    }
    if (need.vn_next == 0) return;
    offset += need.vn_next;
  }
  malformed(name, ".gnu.version_r has more than " + std::to_string(kMaxVersionNeeds) + " entries");
}

// .gnu.version_d: Elf_Verdef records with their first Elf_Verdaux (the name).
void read_version_defs(Elf* elf, const SectionRef& ref, const std::string& name, DynamicTables& tables) {
  Elf_Data* data = section_data(ref.scn, name);
  std::size_t offset = 0;
  for (std::size_t n = 0; n < kMaxVersionNeeds; ++n) {
    const auto def = version_record<GElf_Verdef>(data, offset, gelf_getverdef, name, "truncated .gnu.version_d");
    const auto vda = version_record<GElf_Verdaux>(data, offset + def.vd_aux, gelf_getverdaux, name,
                                                  "truncated .gnu.version_d entry");
    if ((def.vd_flags & VER_FLG_BASE) == 0) tables.defs_by_index[def.vd_ndx & 0x7fff] = str_at(elf, ref.shdr.sh_link, vda.vda_name);
    if (def.vd_next == 0) return;
    offset += def.vd_next;
  }
  malformed(name, ".gnu.version_d has more than " + std::to_string(kMaxVersionNeeds) + " entries");
}

void read_symbols(Elf* elf, const SectionRef& dynsym, const SectionRef* versym, const DynamicTables& tables,
                  const std::string& name, DynamicInfo& out) {
  Elf_Data* data = section_data(dynsym.scn, name);
  const std::size_t count = dynsym.shdr.sh_entsize == 0 ? 0 : data->d_size / dynsym.shdr.sh_entsize;
  if (count > kMaxDynamicSymbols) malformed(name, std::to_string(count) + " dynamic symbols (limit " + std::to_string(kMaxDynamicSymbols) + ")");
  Elf_Data* vdata = versym == nullptr ? nullptr : section_data(versym->scn, name);
  for (std::size_t i = 1; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) malformed(name, "bad dynamic symbol");
    const int bind = GELF_ST_BIND(sym.st_info);
    if (bind == STB_LOCAL) continue;
    DynamicSymbol s;
    s.name = str_at(elf, dynsym.shdr.sh_link, sym.st_name);
    if (s.name.empty()) continue;
    s.weak = bind == STB_WEAK;
    GElf_Versym ver = 0;
    if (vdata != nullptr && gelf_getversym(vdata, static_cast<int>(i), &ver) != nullptr) {
      const unsigned index = ver & 0x7fff;
      if (auto it = tables.needs_by_index.find(index); it != tables.needs_by_index.end()) {
        s.version = it->second.version;
        s.version_file = it->second.file;
      } else if (auto d = tables.defs_by_index.find(index); d != tables.defs_by_index.end()) {
        s.version = d->second;
      }
    }
    (sym.st_shndx == SHN_UNDEF ? out.undefined : out.defined).push_back(std::move(s));
  }
}

}  // namespace

DynamicInfo ElfFile::dynamic() const {
  Elf* elf = handle_->elf;
  DynamicInfo out;
  DynamicTables tables;
  const auto refs = sections(elf, name_, handle_->file_size);
  const SectionRef* dynsym = nullptr;
  const SectionRef* versym = nullptr;
  for (const auto& ref : refs) {
    switch (ref.shdr.sh_type) {
      case SHT_DYNAMIC: read_dynamic_entries(elf, ref, name_, out); break;
      case SHT_GNU_verneed: read_version_needs(elf, ref, name_, tables); break;
      case SHT_GNU_verdef: read_version_defs(elf, ref, name_, tables); break;
      case SHT_DYNSYM: dynsym = &ref; break;
      case SHT_GNU_versym: versym = &ref; break;
      default: break;
    }
  }
  if (dynsym != nullptr) read_symbols(elf, *dynsym, versym, tables, name_, out);
  for (const auto& [_, need] : tables.needs_by_index) out.version_needs.push_back(need);
  std::sort(out.version_needs.begin(), out.version_needs.end());
  out.version_needs.erase(std::unique(out.version_needs.begin(), out.version_needs.end()), out.version_needs.end());
  std::sort(out.undefined.begin(), out.undefined.end());
  std::sort(out.defined.begin(), out.defined.end());
  return out;
}

}  // namespace kernel_lock::inspect
