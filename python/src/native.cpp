// kernel_lock._native: the C++ loader (kernel_lock::loader) for Python.
//
// Each load function verifies the variant into sealed memory and dlopens the
// sealed .so (its TORCH_LIBRARY ops are registered when it returns), exactly as
// in C++; it returns a Kernel whose `files()` are the verified bytes of every
// other file of the variant (the .py files the Python package executes, never
// re-read from disk). A Python-only variant (noarch / universal) has no .so:
// `library_file` is "". The GIL is released while hashing and loading.
//
// Errors: every kernel_lock::Error becomes `kernel_lock._native.Error` with
// args (message, code name, exit code, hint); kernel_lock/_errors.py maps it to
// the Python exception types `kernels` raises (one home for that mapping).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/hub/hub_fetcher.hpp"
#include "kernel_lock/loader/loader.hpp"

namespace nb = nanobind;
namespace fs = std::filesystem;

namespace {

PyObject* g_error_type = nullptr;  // kernel_lock._native.Error (owned by the module)

// A machine-readable refinement of an Error for the Python mapping (_errors.py):
// "not_locked" when the repo is absent from the lock (kernels raises ValueError there).
using ReasonOf = std::function<std::string(const kernel_lock::Error&)>;

// Runs `fn` without the GIL; a kernel_lock::Error (or any std::exception, as
// Error(generic)) is raised as kernel_lock._native.Error(message, code, exit code,
// hint, reason) once the GIL is back; `reason_of` runs only on that error path.
template <class Fn>
auto guarded(Fn&& fn, const ReasonOf& reason_of = {}) -> decltype(fn()) {
  std::optional<kernel_lock::Error> failure;
  std::string reason;
  {
    nb::gil_scoped_release release;
    try {
      return fn();
    } catch (const kernel_lock::Error& e) {
      failure = e;
      if (reason_of) reason = reason_of(e);
    } catch (const std::exception& e) {
      failure = kernel_lock::error_from_exception(e);
    }
  }
  const kernel_lock::Error& e = *failure;
  nb::object args = nb::make_tuple(std::string(e.what()), std::string(kernel_lock::to_string(e.code())),
                                   kernel_lock::exit_code_for(e.code()), e.hint(), reason);
  PyErr_SetObject(g_error_type, args.ptr());
  throw nb::python_error();
}

// "not_locked" when a not_found failure of a locked load is the repo missing from
// the lock that `lockfile` (or the search of locate_lockfile) names; "" otherwise,
// also when the lock cannot be read again. Error path only: no cost on a load.
ReasonOf not_locked_reason(const std::string& repo_id, const std::optional<fs::path>& lockfile) {
  return [repo_id, lockfile](const kernel_lock::Error& e) -> std::string {
    if (e.code() != kernel_lock::ErrorCode::not_found) return "";
    try {
      const auto lock = kernel_lock::read_lockfile(kernel_lock::locate_lockfile(lockfile));
      return lock.find_all(repo_id).empty() ? "not_locked" : "";
    } catch (const std::exception&) {
      return "";
    }
  };
}

template <class T>
std::optional<T> opt(const nb::dict& d, const char* key) {
  if (!d.contains(key)) return std::nullopt;
  nb::object v = d[key];
  if (v.is_none()) return std::nullopt;
  return nb::cast<T>(v);
}

// LoadOptions from the keyword options of the Python functions (None = default).
// Unknown keys: Error(usage), raised as ValueError.
kernel_lock::LoadOptions options_from(const nb::dict& d) {
  static const char* const known[] = {"backend",      "cache_dir",          "variant",           "lockfile",
                                      "offline",      "trusted_root",       "trust_max_age_days", "require_signature",
                                      "version",      "revision"};
  for (auto [key, _] : d) {
    const std::string k = nb::cast<std::string>(key);
    bool ok = false;
    for (const char* name : known) ok = ok || k == name;
    if (!ok) {
      kernel_lock::Error e(kernel_lock::ErrorCode::usage, "unknown option '" + k + "'");
      PyErr_SetObject(g_error_type, nb::make_tuple(std::string(e.what()), "usage", 2, "", "").ptr());
      throw nb::python_error();
    }
  }
  kernel_lock::LoadOptions o;
  o.backend = opt<std::string>(d, "backend");
  if (auto v = opt<std::string>(d, "cache_dir")) o.cache_dir = fs::path(*v);
  o.variant = opt<std::string>(d, "variant");
  if (auto v = opt<std::string>(d, "lockfile")) o.lockfile = fs::path(*v);
  o.offline = opt<bool>(d, "offline");
  if (auto v = opt<std::string>(d, "trusted_root")) o.trusted_root = fs::path(*v);
  o.trust_max_age_days = opt<std::int64_t>(d, "trust_max_age_days");
  o.require_signature = opt<bool>(d, "require_signature");
  // A kernel-depends entry of a dependent (load_kernel / get_locked_kernel): the
  // lock entry of that version or revision.
  o.version = opt<std::uint64_t>(d, "version");
  o.revision = opt<std::string>(d, "revision");
  o.python_package = true;  // this package executes the Python files: Python-only variants load
  return o;
}

kernel_lock::KernelRef ref_from(const std::optional<std::string>& revision, const std::optional<int>& version) {
  kernel_lock::KernelRef ref;
  ref.revision = revision;
  ref.version = version;
  return ref;
}

// The Python view of a loaded kernel (kernel_lock::Kernel is cheap to copy).
struct PyKernel {
  kernel_lock::Kernel k;

  nb::dict files() const {
    nb::dict out;
    for (const auto& f : k.sealed().files) {
      if (f.path.ends_with(".so")) continue;  // loaded by the C++ loader, from the sealed copy
      std::string bytes = f.content.read();
      out[nb::str(f.path.c_str(), f.path.size())] = nb::bytes(bytes.data(), bytes.size());
    }
    return out;
  }
  nb::object signer() const {
    if (!k.signer()) return nb::none();
    const auto& s = *k.signer();
    nb::dict d;
    d["issuer"] = s.issuer;
    d["source_repository"] = s.source_repository;
    d["build_signer_uri"] = s.build_signer_uri;
    d["log_index"] = s.log_index;
    d["signing_time"] = s.signing_time;
    return d;
  }
  nb::list ops() const {
    nb::list out;
    for (const auto& op : k.ops()) {
      nb::dict d;
      d["name"] = op.name;
      d["overload"] = op.overload;
      d["qualified_name"] = op.qualified_name;
      d["schema"] = op.schema;
      out.append(d);
    }
    return out;
  }
};

// Stable identifiers for Python code to compare with ("locked", "cache_blobs", "local").
std::string trust_name(kernel_lock::Trust trust) {
  switch (trust) {
    case kernel_lock::Trust::locked: return "locked";
    case kernel_lock::Trust::cache_blobs: return "cache_blobs";
    case kernel_lock::Trust::local: return "local";
  }
  return "unknown";
}

PyKernel load_kernel(const std::string& repo_id, const std::optional<std::string>& lockfile, const nb::dict& opts) {
  auto o = options_from(opts);
  fs::path lock = lockfile ? fs::path(*lockfile) : fs::path();
  return guarded(
      [&] {
        // load_kernel(repo, "") would search nothing: an empty path means "search".
        return PyKernel{lockfile ? kernel_lock::load_kernel(repo_id, lock, o)
                                 : kernel_lock::load_kernel(repo_id, kernel_lock::locate_lockfile(std::nullopt), o)};
      },
      not_locked_reason(repo_id, lockfile ? std::optional<fs::path>(lock) : std::nullopt));
}

// fetch=True: a locked variant missing from the cache is downloaded from
// HF_ENDPOINT through HubFetcher (verified against the lock) unless offline.
PyKernel get_locked_kernel(const std::string& repo_id, bool fetch, const nb::dict& opts) {
  auto o = options_from(opts);
  return guarded(
      [&] {
        if (fetch) o.fetcher = std::make_shared<kernel_lock::HubFetcher>();
        return PyKernel{kernel_lock::get_locked_kernel(repo_id, o)};
      },
      not_locked_reason(repo_id, o.lockfile));
}

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "kernel-lock's verified loader (C++), for the kernel_lock Python package";
  g_error_type = PyErr_NewException("kernel_lock._native.Error", PyExc_RuntimeError, nullptr);
  m.attr("Error") = nb::steal(g_error_type);

  nb::class_<PyKernel>(m, "Kernel")
      .def_prop_ro("repo_id", [](const PyKernel& p) { return p.k.repo_id(); })
      .def_prop_ro("sha", [](const PyKernel& p) { return p.k.sha(); })
      .def_prop_ro("variant", [](const PyKernel& p) { return p.k.variant(); })
      .def_prop_ro("namespace", [](const PyKernel& p) { return p.k.ns(); })
      .def_prop_ro("variant_hash", [](const PyKernel& p) { return p.k.variant_hash(); })
      .def_prop_ro("trust", [](const PyKernel& p) { return trust_name(p.k.trust()); })
      .def_prop_ro("provenance", [](const PyKernel& p) { return p.k.provenance(); })
      .def_prop_ro("directory", [](const PyKernel& p) { return p.k.directory().string(); })
      .def_prop_ro("library_file", [](const PyKernel& p) { return p.k.library_file(); })
      .def_prop_ro("library_path", [](const PyKernel& p) { return p.k.library_path(); })
      .def_prop_ro("signer", &PyKernel::signer)
      .def_prop_ro("ops", &PyKernel::ops)
      .def("files", &PyKernel::files, "relative path -> verified bytes, for every file but the shared objects");

  m.def("load_kernel", &load_kernel, nb::arg("repo_id"), nb::arg("lockfile").none(), nb::arg("options"));
  m.def("get_locked_kernel", &get_locked_kernel, nb::arg("repo_id"), nb::arg("fetch"), nb::arg("options"));
  m.def(
      "get_kernel",
      [](const std::string& repo_id, std::optional<std::string> revision, std::optional<int> version,
         const nb::dict& opts) {
        auto o = options_from(opts);
        auto ref = ref_from(revision, version);
        return guarded([&] { return PyKernel{kernel_lock::get_kernel(repo_id, ref, o)}; });
      },
      nb::arg("repo_id"), nb::arg("revision").none(), nb::arg("version").none(), nb::arg("options"));
  m.def(
      "has_kernel",
      [](const std::string& repo_id, std::optional<std::string> revision, std::optional<int> version,
         const nb::dict& opts) {
        auto o = options_from(opts);
        auto ref = ref_from(revision, version);
        return guarded([&] { return kernel_lock::has_kernel(repo_id, ref, o); });
      },
      nb::arg("repo_id"), nb::arg("revision").none(), nb::arg("version").none(), nb::arg("options"));
  m.def(
      "get_local_kernel",
      [](const std::string& path, const nb::dict& opts) {
        auto o = options_from(opts);
        return guarded([&] { return PyKernel{kernel_lock::get_local_kernel(fs::path(path), o)}; });
      },
      nb::arg("path"), nb::arg("options"));
  m.def(
      "locate_lockfile",
      [](std::optional<std::string> path) {
        return guarded([&] {
          return kernel_lock::locate_lockfile(path ? std::optional<fs::path>(*path) : std::nullopt).string();
        });
      },
      nb::arg("path").none());
  m.def("describe_environment", [] { return guarded([] { return kernel_lock::describe(kernel_lock::detect_environment()); }); });
}
