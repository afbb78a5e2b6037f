// The libtorch side of the loader: environment detection, dlopen of the sealed
// kernel, op discovery and calls through the dispatcher (see loader.hpp).
#include "kernel_lock/loader/loader.hpp"

#include <dlfcn.h>
#include <fcntl.h>

#include <ATen/Context.h>
#include <caffe2/core/common.h>
#include <ATen/core/function_schema.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/headeronly/version.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <tuple>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/env.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/parallel.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "trust_root.hpp"

namespace fs = std::filesystem;

namespace kernel_lock {

// ---------------------------------------------------------------------------
// Environment

namespace {

struct TorchFacts {
  Version2 torch;
  std::string torch_source;  // "runtime" or "compile-time"
  bool cxx11_abi = true;
  std::optional<Version2> cuda;  // torch's CUDA runtime version, when built with CUDA
};

// The <major>.<minor> a torch version string starts with ("2.11.0a0+git1" ->
// {2, 11}) through the public parse_version2; nullopt when it starts otherwise.
std::optional<Version2> leading_version2(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  try {
    return parse_version2(text.substr(0, text.find_first_not_of("0123456789", dot + 1)), "TORCH_VERSION");
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Cheap facts: the loaded libtorch's build options ("TORCH_VERSION", "CXX_FLAGS")
// and its CUDA runtime version; no device is touched.
const TorchFacts& torch_facts() {
  static const TorchFacts facts = [] {
    TorchFacts f;
    f.torch = Version2{TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR};
    f.torch_source = "compile-time";
#if defined(_GLIBCXX_USE_CXX11_ABI)
    f.cxx11_abi = _GLIBCXX_USE_CXX11_ABI != 0;
#endif
    try {
      const auto& options = caffe2::GetBuildOptions();
      if (auto it = options.find("TORCH_VERSION"); it != options.end()) {
        if (auto v = leading_version2(it->second)) {
          f.torch = *v;
          f.torch_source = "runtime";
        }
      }
      if (auto it = options.find("CXX_FLAGS"); it != options.end()) {
        if (it->second.find("_GLIBCXX_USE_CXX11_ABI=0") != std::string::npos) f.cxx11_abi = false;
        if (it->second.find("_GLIBCXX_USE_CXX11_ABI=1") != std::string::npos) f.cxx11_abi = true;
      }
    } catch (const std::exception&) {
    }
    try {
      const auto& hooks = at::detail::getCUDAHooks();
      if (hooks.hasCUDART()) {
        long v = hooks.versionCUDART();  // e.g. 13000 for 13.0
        if (v > 0) f.cuda = Version2{static_cast<int>(v / 1000), static_cast<int>((v % 1000) / 10)};
      }
    } catch (const std::exception&) {
      // No CUDA in this libtorch: CPU only.
    }
    return f;
  }();
  return facts;
}

// Whether a CUDA device and driver are usable: probed once, and only when a
// decision needs it (it initialises the CUDA driver).
bool cuda_usable() {
  static const bool usable = [] {
    if (!torch_facts().cuda) return false;
    try {
      return at::globalContext().hasCUDA();
    } catch (const std::exception&) {
      return false;
    }
  }();
  return usable;
}

std::string version_text(const Version2& v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

std::string facts_note() {
  const auto& f = torch_facts();
  std::string note = "libtorch " + version_text(f.torch) + " (" + f.torch_source + ")";
  if (f.cuda) {
    note += ", built with CUDA " + version_text(*f.cuda);
    note += cuda_usable() ? " (device available)" : " (no usable CUDA device/driver: CPU variants only)";
  } else {
    note += ", CPU-only build";
  }
  return note;
}

}  // namespace

Environment detect_environment() {
  const auto& f = torch_facts();
  const bool gpu = cuda_usable();
  Environment env = Environment::host(f.torch, gpu ? "cuda" : "cpu", gpu ? f.cuda : std::nullopt);
  env.cxx11_abi = f.cxx11_abi;
  return env;
}

Environment environment_for(const LoadOptions& options) {
  Environment env;
  if (options.environment) {
    env = *options.environment;
  } else if (options.backend && (*options.backend == "cpu" || *options.backend == "cuda")) {
    // The backend is given: no device probe needed.
    env = Environment::host(torch_facts().torch, "cpu", std::nullopt);
    env.cxx11_abi = torch_facts().cxx11_abi;
  } else {
    env = detect_environment();
  }
  if (options.backend) {
    const auto& f = torch_facts();
    if (*options.backend == "cpu") {
      env.backend = "cpu";
      env.backend_version.reset();
    } else if (*options.backend == "cuda" && (options.environment ? env.backend == "cuda" : f.cuda.has_value())) {
      env.backend = "cuda";
      if (!options.environment) env.backend_version = f.cuda;
    } else if (options.environment && *options.backend == env.backend) {
      // already that backend
    } else {
      throw Error(ErrorCode::usage,
                  "backend '" + *options.backend + "' is not supported by this process (" + facts_note() +
                      "); supported: cpu" + (f.cuda ? std::string(", cuda") : std::string()));
    }
  }
  return env;
}

std::vector<std::string> select_variants_for(const std::vector<std::string>& names, const LoadOptions& options,
                                             std::string_view what) {
  Environment env = environment_for(options);
  if (options.variant) {
    if (std::find(names.begin(), names.end(), *options.variant) == names.end()) {
      std::string list;
      for (const auto& n : names) list += "\n  " + n;
      throw Error(ErrorCode::not_found,
                  std::string(what) + ": requested variant " + *options.variant + " is not available; variants:" + list);
    }
    if (!options.ignore_fit) {
      auto parsed = try_parse_variant(*options.variant);
      auto fit = parsed ? check_fit(*parsed, env) : VariantFit{false, "not a variant name"};
      if (!fit.fits)
        throw Error(ErrorCode::unsupported, std::string(what) + ": requested variant " + *options.variant +
                                                " does not fit this process (" + describe(env) + "): " + fit.reason);
    }
    return {*options.variant};
  }
  auto selection = select_variants(names, env);
  if (selection.ranked.empty()) {
    std::string detail = selection.explain_no_match(env);
    if (!options.environment) detail += "\n(detected: " + facts_note() + ")";
    throw Error(ErrorCode::unsupported,
                std::string(what) + ": no variant fits this process (" + describe(env) + "):\n" + detail,
                "lock a variant for this torch/CUDA/arch (`kernel-lock resolve --torch/--cuda`), or pass "
                "LoadOptions::backend = \"cpu\" to use a CPU variant");
  }
  return selection.ranked;
}

// ---------------------------------------------------------------------------
// Loaded libraries (process-wide; never unloaded)

namespace detail {

struct LoadedLibrary {
  std::string ns;
  std::string so_path;    // relative path of the .so in its variant
  std::string so_sha256;  // sha256 of the loaded bytes (identity of the binary)
  SealedFile so;          // kept open: /proc/self/fd/N must not be reused while loaded
  void* handle = nullptr;
  std::once_flag ops_once;  // ops is filled on first use (ops_of)
  std::vector<OpInfo> ops;
};

}  // namespace detail

namespace {

using detail::LoadedLibrary;

std::mutex& load_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<LoadedLibrary>>& loaded_by_ns() {
  static auto* m = new std::map<std::string, std::shared_ptr<LoadedLibrary>>();  // never destroyed
  return *m;
}
// Libraries dlopened but refused afterwards (no TORCH_LIBRARY of their namespace:
// a fragment-only or op-less library), with the refusal. Kept, like the loaded
// ones: their static initialisers ran (a second dlopen would register the same
// fragments again, and c10 aborts on that), and their sealed fd must stay open
// (a reused /proc/self/fd/N path would make dlopen return the old handle).
std::map<std::string, std::pair<std::shared_ptr<LoadedLibrary>, Error>>& refused_by_ns() {
  static auto* m = new std::map<std::string, std::pair<std::shared_ptr<LoadedLibrary>, Error>>();  // never destroyed
  return *m;
}

bool valid_ns(std::string_view ns) {
  if (ns.empty() || (std::isdigit(static_cast<unsigned char>(ns[0])) != 0)) return false;
  return std::all_of(ns.begin(), ns.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

std::string so_stem(std::string_view file) {
  auto slash = file.rfind('/');
  std::string name(slash == std::string_view::npos ? file : file.substr(slash + 1));
  for (std::string_view suffix : {".abi3.so", ".so"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      name.resize(name.size() - suffix.size());
      // "_x.cpython-311-x86_64-linux-gnu" style: keep the part before the first dot
      if (auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
      return name;
    }
  }
  return {};
}

struct KernelFiles {
  std::string ns;
  const SealedVariantFile* so = nullptr;
};

// Finds the namespace (metadata.json id, else `torch.ops.<ns>` in _ops.py, else
// the .so stem) and the .so to load, in the flat or the older nested layout.
// python_package: a variant without a .so is returned with `so` null (see LoadOptions).
KernelFiles identify(const SealedVariant& v, bool python_package) {
  KernelFiles out;
  std::vector<const SealedVariantFile*> sos;
  const SealedVariantFile* ops_py = nullptr;
  const SealedVariantFile* metadata = nullptr;
  for (const auto& f : v.files) {
    auto depth = std::count(f.path.begin(), f.path.end(), '/');
    if (depth > 1) continue;
    std::string_view name = f.path;
    if (auto s = name.rfind('/'); s != std::string_view::npos) name = name.substr(s + 1);
    if (!so_stem(f.path).empty()) sos.push_back(&f);
    if (name == "_ops.py" && (ops_py == nullptr || depth == 0)) ops_py = &f;
    if (name == "metadata.json" && (metadata == nullptr || depth == 0)) metadata = &f;
  }
  if (metadata) {
    try {
      auto j = nlohmann::json::parse(metadata->content.read());
      if (j.is_object() && j.contains("id") && j["id"].is_string()) out.ns = j["id"].get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::invalid_input, "variant " + v.variant + ": metadata.json is not valid JSON: " + e.what());
    }
  }
  if (out.ns.empty() && ops_py) {
    static const std::regex ops_re("torch\\.ops\\.([A-Za-z_][A-Za-z0-9_]*)");
    std::string text = ops_py->content.read();
    std::smatch m;
    if (std::regex_search(text, m, ops_re)) out.ns = m[1].str();
  }
  if (sos.empty() && !python_package)
    throw Error(ErrorCode::unsupported,
                "variant " + v.variant + " has no shared object (.so): noarch/Python-only kernels cannot be "
                "loaded without Python",
                "load it from Python with the kernel_lock package (docs/python.md)");
  if (sos.empty()) {
    if (!valid_ns(out.ns))
      throw Error(ErrorCode::invalid_input, "variant " + v.variant + ": Python-only, and neither metadata.json's id "
                                            "nor _ops.py names its module ('" + out.ns + "')");
    return out;
  }
  if (!out.ns.empty()) {
    for (const auto* f : sos)
      if (so_stem(f->path) == out.ns) out.so = f;
  }
  if (!out.so) {
    if (sos.size() != 1) {
      std::string list;
      for (const auto* f : sos) list += " " + f->path;
      throw Error(ErrorCode::invalid_input, "variant " + v.variant + ": cannot tell which shared object to load (namespace '" +
                                                out.ns + "'):" + list);
    }
    out.so = sos.front();
  }
  if (out.ns.empty()) out.ns = so_stem(out.so->path);
  if (!valid_ns(out.ns))
    throw Error(ErrorCode::invalid_input, "variant " + v.variant + ": op namespace '" + out.ns + "' is not an identifier");
  return out;
}

std::string self_library_dir() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&detect_environment), &info) != 0 && info.dli_fname != nullptr)
    return fs::path(info.dli_fname).parent_path().string();
  return {};
}

// Makes PyModule_Create2 resolvable for the kernel's -z now binding: present
// already when libpython is loaded; otherwise the shim library is loaded with
// RTLD_GLOBAL (once, for the life of the process).
void ensure_python_stub(const LoadOptions& options) {
  if (::dlsym(RTLD_DEFAULT, "PyModule_Create2") != nullptr) return;
  fs::path shim;
  if (options.pyshim) {
    shim = *options.pyshim;
  } else if (const char* env = std::getenv("KERNEL_LOCK_PYSHIM"); env != nullptr && *env != '\0') {
    shim = env;
  } else {
    shim = fs::path(self_library_dir()) / KERNEL_LOCK_PYSHIM_NAME;
  }
  void* handle = ::dlopen(shim.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    throw Error(ErrorCode::io,
                "cannot load the PyModule_Create2 shim " + shim.string() + ": " + (err ? err : "unknown error"),
                "install " KERNEL_LOCK_PYSHIM_NAME " next to the loader library, or set KERNEL_LOCK_PYSHIM");
  }
  if (::dlsym(RTLD_DEFAULT, "PyModule_Create2") == nullptr)
    throw Error(ErrorCode::generic, "the shim " + shim.string() + " does not export PyModule_Create2");
}

// Whether a TORCH_LIBRARY of `ns` is registered in this process. The
// dispatcher holds one library per namespace and refuses a second
// (c10::Error), so a probe registration tells; it is removed again at once.
// O(1), where a registration listener costs a replay of every operator of the
// process first (3561 in libtorch 2.11: about 1 ms per load).
bool ns_has_library(const std::string& ns) {
  try {
    c10::RegistrationHandleRAII probe = c10::Dispatcher::singleton().registerLibrary(ns, "kernel-lock namespace probe");
    return false;
  } catch (const c10::Error&) {
    return true;
  }
}

// The ops defined under `lib`'s namespace, sorted by (name, overload); listed
// on first use (one pass over the dispatcher's operator names) and kept.
const std::vector<OpInfo>& ops_of(LoadedLibrary& lib) {
  std::call_once(lib.ops_once, [&lib] {
    const std::string prefix = lib.ns + "::";
    auto& dispatcher = c10::Dispatcher::singleton();
    for (const auto& n : dispatcher.getAllOpNames()) {
      if (!n.name.starts_with(prefix)) continue;
      auto handle = dispatcher.findSchema(n);
      if (!handle) continue;  // implementations only, no definition
      OpInfo info;
      info.qualified_name = n.name;
      info.name = n.name.substr(prefix.size());
      info.overload = n.overload_name;
      info.schema = c10::toString(handle->schema());
      lib.ops.push_back(std::move(info));
    }
    std::sort(lib.ops.begin(), lib.ops.end(), [](const OpInfo& x, const OpInfo& y) {
      return std::tie(x.name, x.overload) < std::tie(y.name, y.overload);
    });
  });
  return lib.ops;
}

std::shared_ptr<LoadedLibrary> load_library(const KernelFiles& k, const LoadOptions& options) {
  std::lock_guard<std::mutex> guard(load_mutex());
  auto& registry = loaded_by_ns();
  const std::string so_sha256 =
      k.so->kind == DigestKind::lfs_sha256 ? k.so->digest : sha256_hex(k.so->content.read());
  if (auto it = registry.find(k.ns); it != registry.end()) {
    if (it->second->so_sha256 == so_sha256) return it->second;  // same bytes: already loaded
    throw Error(ErrorCode::unsupported,
                "op namespace " + k.ns + " is already loaded in this process from different bytes (sha256 " +
                    it->second->so_sha256 + ", now " + so_sha256 + "); one process cannot hold both",
                "two versions of a kernel load side by side only when their namespaces differ");
  }
  if (auto it = refused_by_ns().find(k.ns); it != refused_by_ns().end()) throw it->second.second;
  if (ns_has_library(k.ns))
    throw Error(ErrorCode::unsupported, "op namespace " + k.ns + " already has a TORCH_LIBRARY in this process "
                                            "(another loader, or Python); refusing to load a second copy");
  ensure_python_stub(options);

  auto lib = std::make_shared<LoadedLibrary>();
  lib->ns = k.ns;
  lib->so_path = k.so->path;
  lib->so_sha256 = so_sha256;
  // Our own sealed copy of the .so: the loader keeps it alive with the library.
  lib->so = SealedFile(::fcntl(k.so->content.fd(), F_DUPFD_CLOEXEC, 0), k.so->content.size());
  if (!lib->so.valid()) throw Error(ErrorCode::io, "dup of the sealed " + k.so->path + " failed");
  std::string path = lib->so.proc_path();
  ::dlerror();
  lib->handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  const char* dl_error = lib->handle == nullptr ? ::dlerror() : nullptr;
  std::string text = dl_error != nullptr ? dl_error : "unknown error";
  if (lib->handle == nullptr) {
    std::string hint;
    if (text.find("undefined symbol: Py") != std::string::npos || text.find("undefined symbol: _Py") != std::string::npos)
      hint = "the kernel uses Python C-API functions beyond PyModule_Create2; it needs Python to load";
    else if (text.find("undefined symbol") != std::string::npos)
      hint = "the kernel was built against a different libtorch; lock a variant for this torch version";
    throw Error(ErrorCode::unsupported, "dlopen of " + k.so->path + " (sealed copy of " + k.so->source.string() +
                                            ") failed: " + text, hint);
  }
  if (!ns_has_library(k.ns)) {
    Error refusal(ErrorCode::not_found,
                  "loaded " + k.so->path + " but it registered no TORCH_LIBRARY (no ops, or TORCH_LIBRARY_FRAGMENT "
                  "only) under namespace " + k.ns + "; it stays refused in this process",
                  "stable-ABI, tvm-ffi and noarch kernels are not dispatcher op libraries");
    refused_by_ns().emplace(k.ns, std::make_pair(lib, refusal));
    throw refusal;
  }
  registry.emplace(k.ns, lib);
  return lib;
}

}  // namespace

// ---------------------------------------------------------------------------
// Kernel

struct Kernel::State {
  std::string repo_id;
  std::string sha;
  std::string variant;
  std::string variant_hash;
  Trust trust = Trust::local;
  std::optional<LockedSignature> signer;
  fs::path directory;
  std::shared_ptr<const SealedVariant> sealed;
  std::shared_ptr<detail::LoadedLibrary> lib;
};

const std::string& Kernel::repo_id() const noexcept { return state_->repo_id; }
const std::string& Kernel::sha() const noexcept { return state_->sha; }
const std::string& Kernel::variant() const noexcept { return state_->variant; }
const std::string& Kernel::ns() const noexcept { return state_->lib->ns; }
const std::string& Kernel::variant_hash() const noexcept { return state_->variant_hash; }
Trust Kernel::trust() const noexcept { return state_->trust; }
const std::optional<LockedSignature>& Kernel::signer() const noexcept { return state_->signer; }

std::string Kernel::provenance() const {
  if (state_->signer) return "signed by " + state_->signer->describe();
  switch (state_->trust) {
    case Trust::locked: return "pinned by the lock only";
    case Trust::cache_blobs: return "cache blobs only (unpinned)";
    case Trust::local: return "local, not verified";
  }
  return "unknown";
}
const fs::path& Kernel::directory() const noexcept { return state_->directory; }
const std::vector<OpInfo>& Kernel::ops() const noexcept { return ops_of(*state_->lib); }
const SealedVariant& Kernel::sealed() const noexcept { return *state_->sealed; }
const std::string& Kernel::library_file() const noexcept { return state_->lib->so_path; }
std::string Kernel::library_path() const { return state_->lib->so.valid() ? state_->lib->so.proc_path() : ""; }

bool Kernel::has_op(std::string_view name, std::string_view overload) const {
  return std::any_of(ops().begin(), ops().end(),
                     [&](const OpInfo& o) { return o.name == name && o.overload == overload; });
}

c10::OperatorHandle Kernel::op(std::string_view name, std::string_view overload) const {
  c10::OperatorName full(ns() + "::" + std::string(name), std::string(overload));
  if (auto h = c10::Dispatcher::singleton().findSchema(full)) return *h;
  std::string list;
  for (const auto& o : ops()) list += "\n  " + (o.schema.empty() ? o.qualified_name : o.schema);
  throw Error(ErrorCode::not_found, "kernel " + (repo_id().empty() ? directory().string() : repo_id()) + " (" + ns() +
                                        ") has no op " + std::string(name) +
                                        (overload.empty() ? "" : "." + std::string(overload)) + "; its ops:" + list);
}

std::vector<c10::IValue> Kernel::call_boxed(std::string_view name, std::vector<c10::IValue> args,
                                            std::string_view overload) const {
  auto handle = op(name, overload);
  const auto& arguments = handle.schema().arguments();
  if (args.size() > arguments.size())
    throw Error(ErrorCode::usage, ns() + "::" + std::string(name) + " takes " + std::to_string(arguments.size()) +
                                      " arguments, " + std::to_string(args.size()) + " given");
  for (std::size_t i = args.size(); i < arguments.size(); ++i) {
    if (!arguments[i].default_value())
      throw Error(ErrorCode::usage, ns() + "::" + std::string(name) + ": missing argument '" + arguments[i].name() +
                                        "' (" + c10::toString(handle.schema()) + ")");
    args.push_back(*arguments[i].default_value());
  }
  torch::jit::Stack stack(std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  handle.callBoxed(&stack);
  return std::vector<c10::IValue>(std::make_move_iterator(stack.begin()), std::make_move_iterator(stack.end()));
}

// ---------------------------------------------------------------------------
// Load functions

namespace {

Kernel load_sealed(SealedVariant sealed, std::string repo_id, std::string sha, const LoadOptions& options) {
  auto files = identify(sealed, options.python_package);
  std::shared_ptr<LoadedLibrary> lib;
  if (files.so != nullptr) {
    lib = load_library(files, options);
  } else {  // Python only: nothing to dlopen; the namespace names the module
    lib = std::make_shared<LoadedLibrary>();
    lib->ns = files.ns;
  }
  auto state = std::make_shared<Kernel::State>();
  state->repo_id = std::move(repo_id);
  state->sha = std::move(sha);
  state->variant = sealed.variant;
  state->variant_hash = sealed.variant_hash;
  state->trust = sealed.trust;
  state->signer = sealed.signer;
  state->directory = sealed.directory;
  state->sealed = std::make_shared<const SealedVariant>(std::move(sealed));
  state->lib = std::move(lib);
  return Kernel(std::move(state));
}

fs::path cache_dir_for(const LoadOptions& options) { return options.cache_dir ? *options.cache_dir : kernels_cache_dir(); }

bool require_signature_for(const LoadOptions& options) {
  if (options.require_signature) return *options.require_signature;
  return env_true("KERNEL_LOCK_REQUIRE_SIGNATURE");
}

// Loads with no signature to verify (no lock record for it): refused when one is required.
void refuse_unsigned(const LoadOptions& options, std::string_view what) {
  if (require_signature_for(options))
    throw Error(ErrorCode::integrity, "a signature is required, but " + std::string(what) + " has none to verify",
                "load it with load_kernel from a lock with signatures (`kernel-lock resolve --trusted-root FILE`), "
                "or drop the requirement (LoadOptions::require_signature / KERNEL_LOCK_REQUIRE_SIGNATURE)");
}

bool offline_for(const LoadOptions& options) {
  if (options.offline) return *options.offline;
  return env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE");
}

const LockedKernel& find_locked(const Lockfile& lock, std::string_view repo_id, const LoadOptions& options,
                                const fs::path& path) {
  if (options.version && options.revision)
    throw Error(ErrorCode::usage, "LoadOptions: give at most one of version and revision");
  if (options.version || options.revision) {
    if (const auto* k = lock.find_pinned(repo_id, options.version, options.revision)) return *k;
    const std::string asked = options.version ? "version " + std::to_string(*options.version) : "revision " + *options.revision;
    std::string list;
    for (const auto* k : lock.find_all(repo_id))
      list += "\n  " + k->repo_id + " " + (k->requirement ? k->requirement->to_json().dump() : std::string("(no requirement)"));
    throw Error(ErrorCode::not_found,
                std::string(repo_id) + " is not locked at " + asked + " in " + path.string() +
                    (list.empty() ? std::string() : "; it locks:" + list),
                "add the kernel that depends on it to the requirements and run `kernel-lock resolve`");
  }
  if (const auto* k = lock.find(repo_id)) return *k;
  std::string list;
  for (const auto& k : lock.kernels) list += "\n  " + k.repo_id;
  throw Error(ErrorCode::not_found,
              std::string(repo_id) + " is not in " + path.string() + (list.empty() ? " (it is empty)" : "; it locks:" + list),
              "add it to kernels.yaml and run `kernel-lock resolve`");
}

Kernel load_from_lock(std::string_view repo_id, const fs::path& lock_path, const LoadOptions& options, bool may_fetch) {
  return with_context("loading " + std::string(repo_id) + " (lock " + lock_path.string() + ")", [&] {
    Lockfile lock = read_lockfile(lock_path);
    const LockedKernel& locked = find_locked(lock, repo_id, options, lock_path);
    if (locked.variants.empty()) {
      // Python kernels 0.17.2 lock ({"dependency", "lock": {"commit"}}): it pins
      // the commit only, no content hashes. Load that commit's best cached
      // variant with the blob-name check; trust() says it is not hash-pinned.
      const auto repo = cache_repo_paths(cache_dir_for(options), locked.repo_type.value_or("kernel"), locked.repo_id);
      auto names = list_variant_dirs(repo.snapshot(locked.sha) / "build");
      if (names.empty())
        throw Error(ErrorCode::not_found,
                    locked.repo_id + " at " + locked.sha + " is not in the cache (" + repo.snapshot(locked.sha).string() +
                        "); the lock (Python kernels 0.17.2 shape) pins the commit only",
                    "run `kernel-lock resolve` for a hash-pinned kernel.lock, then `kernel-lock install`");
      refuse_unsigned(options, "a lock in the Python kernels 0.17.2 shape (commit only)");
      auto ranked = select_variants_for(names, options, locked.repo_id + " at " + locked.sha);
      auto sealed = read_cached_variant(repo, locked.sha, ranked.front());
      return load_sealed(std::move(sealed), locked.repo_id, locked.sha, options);
    }
    std::vector<std::string> names;
    for (const auto& [name, _] : locked.variants) names.push_back(name);
    auto ranked = select_variants_for(names, options, "locked variants of " + locked.repo_id);
    const std::string& variant = ranked.front();
    const LockedVariant& locked_variant = locked.variants.at(variant);
    const std::string repo_type = locked.repo_type.value_or("kernel");
    const fs::path cache = cache_dir_for(options);
    const auto repo = cache_repo_paths(cache, repo_type, locked.repo_id);
    const fs::path dir = repo.snapshot(locked.sha) / "build" / variant;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dir, ec))) {
      std::string install_hint =
          "run `kernel-lock install <bundle>` (bundle made with `kernel-lock bundle` from the same lock), or "
          "`kernel-lock install` on a connected node; the cache is " + cache.string();
      if (!may_fetch)
        throw Error(ErrorCode::not_found,
                    "variant " + variant + " of " + locked.repo_id + " at " + locked.sha + " is not in the cache (" +
                        dir.string() + "); load_kernel never downloads",
                    install_hint);
      if (offline_for(options))
        throw Error(ErrorCode::not_found,
                    "variant " + variant + " of " + locked.repo_id + " at " + locked.sha +
                        " is not in the cache and offline mode is on (HF_HUB_OFFLINE)",
                    install_hint);
      if (!options.fetcher)
        throw Error(ErrorCode::not_found,
                    "variant " + variant + " of " + locked.repo_id + " at " + locked.sha +
                        " is not in the cache and no Fetcher was given to download it",
                    install_hint);
      FetchRequest request{locked.repo_id, repo_type, locked.sha, variant, &locked_variant, cache};
      with_context("fetching " + variant, [&] { options.fetcher->fetch(request); }, ErrorCode::network);
    }
    std::shared_ptr<const trust::Verifier> verifier;
    if (locked_variant.signature) verifier = verifier_for({cache, options.trusted_root, options.trust_max_age_days});
    const SignatureCheck check{verifier.get(), require_signature_for(options)};
    auto sealed = read_locked_variant(repo, locked.sha, variant, locked_variant, check);
    return load_sealed(std::move(sealed), locked.repo_id, locked.sha, options);
  });
}

struct CachedRevision {
  CacheRepoPaths repo;
  std::string sha;
  std::vector<std::string> variants;
};

std::string ref_name(const KernelRef& ref) {
  if (ref.version.has_value() == ref.revision.has_value())
    throw Error(ErrorCode::usage, "give exactly one of version or revision");
  return ref.version ? "v" + std::to_string(*ref.version) : *ref.revision;
}

// kernels--org--name first, then the older models--org--name (as Python does offline).
CachedRevision find_cached(std::string_view repo_id, const KernelRef& ref, const LoadOptions& options) {
  const std::string name = ref_name(ref);
  const fs::path cache = cache_dir_for(options);
  for (std::string_view type : {"kernel", "model"}) {
    auto repo = cache_repo_paths(cache, type, repo_id);
    if (auto sha = resolve_cached_revision(repo, name))
      return CachedRevision{repo, *sha, list_variant_dirs(repo.snapshot(*sha) / "build")};
  }
  throw Error(ErrorCode::not_found,
              std::string(repo_id) + " at " + name + " is not in the cache " + cache.string() +
                  " (no refs/" + name + " or snapshot)",
              "this C++ loader reads the cache only: install the kernel with `kernel-lock install`, then prefer "
              "load_kernel with a lock");
}

}  // namespace

Kernel load_kernel(std::string_view repo_id, const fs::path& lockfile, const LoadOptions& options) {
  fs::path path = locate_lockfile(lockfile);
  return load_from_lock(repo_id, path, options, false);
}

std::vector<Kernel> load_kernels(const std::vector<std::string>& repo_ids, const fs::path& lockfile,
                                 const LoadOptions& options) {
  const fs::path path = locate_lockfile(lockfile);
  std::vector<std::optional<Kernel>> loaded(repo_ids.size());
  parallel_for(repo_ids.size(), 0, [&](std::size_t i) { loaded[i] = load_from_lock(repo_ids[i], path, options, false); });
  std::vector<Kernel> kernels;
  kernels.reserve(loaded.size());
  for (auto& k : loaded) kernels.push_back(std::move(*k));
  return kernels;
}

Kernel get_locked_kernel(std::string_view repo_id, const LoadOptions& options) {
  fs::path path = locate_lockfile(options.lockfile);
  return load_from_lock(repo_id, path, options, true);
}

Kernel get_kernel(std::string_view repo_id, const KernelRef& ref, const LoadOptions& options) {
  return with_context("loading " + std::string(repo_id) + " (UNPINNED: cache refs, no lock)", [&] {
    refuse_unsigned(options, "get_kernel (unpinned, no lock)");
    auto cached = find_cached(repo_id, ref, options);
    auto ranked = select_variants_for(cached.variants, options, std::string(repo_id) + " at " + cached.sha);
    auto sealed = read_cached_variant(cached.repo, cached.sha, ranked.front());
    return load_sealed(std::move(sealed), std::string(repo_id), cached.sha, options);
  });
}

bool has_kernel(std::string_view repo_id, const KernelRef& ref, const LoadOptions& options) {
  try {
    auto cached = find_cached(repo_id, ref, options);
    return !select_variants_for(cached.variants, options, repo_id).empty();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found || e.code() == ErrorCode::unsupported) return false;
    throw;
  }
}

Kernel get_local_kernel(const fs::path& path, const LoadOptions& options) {
  return with_context("loading local kernel " + path.string(), [&] {
    refuse_unsigned(options, "get_local_kernel (a local directory)");
    std::optional<fs::path> variant_dir;
    std::string tried;
    for (const fs::path& base : {path, path / "build"}) {
      std::vector<std::string> names;
      for (auto& n : list_variant_dirs(base))
        if (try_parse_variant(n)) names.push_back(n);
      if (names.empty()) continue;
      try {
        variant_dir = base / select_variants_for(names, options, base.string()).front();
        break;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::unsupported) throw;
        tried += std::string("\n") + e.message();
      }
    }
    std::error_code ec;
    if (!variant_dir && fs::is_regular_file(path / "metadata.json", ec)) variant_dir = path;
    if (!variant_dir)
      throw Error(ErrorCode::not_found,
                  "no build variant for this process in " + path.string() + " or its build/ directory, and no "
                  "metadata.json there" + tried);
    auto sealed = read_local_variant(*variant_dir);
    return load_sealed(std::move(sealed), "", "", options);
  });
}

}  // namespace kernel_lock
