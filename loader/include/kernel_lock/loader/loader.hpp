// kernel_lock::loader: load Hugging Face Hub kernels into a plain C++ libtorch
// process (no Python), verified against kernel.lock, and call their ops through
// the PyTorch dispatcher.
//
//   auto lock = kernel_lock::locate_lockfile();              // or a path
//   auto act = kernel_lock::load_kernel("kernels-community/activation", lock);
//   act.call<void(at::Tensor&, const at::Tensor&)>("gelu_fast", out, x);
//
// Functions mirror Python `kernels`: load_kernel (lock + cache only, never the
// network), get_locked_kernel (lock found the documented way; missing files
// fetched through a Fetcher unless offline), get_kernel (unpinned, from cache
// refs), has_kernel, get_local_kernel. All throw kernel_lock::Error.
//
// Kernels stay loaded for the life of the process (op registrations cannot be
// undone safely); loading the same kernel again returns the same handle.
// Two versions of one kernel load side by side: each has its own op namespace.
// A library that registers no TORCH_LIBRARY of its namespace (no ops, or a
// TORCH_LIBRARY_FRAGMENT only) is refused after its dlopen (Error(not_found)) and
// stays refused for the life of the process, without a second dlopen.
// Thread-safe: loads are serialised by one process-wide mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include "kernel_lock/cache/fetcher.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/loader/sealed_variant.hpp"
#include "kernel_lock/core/variant.hpp"

namespace kernel_lock {

// The running process as a variant must fit it: libtorch version (runtime, from
// the loaded libtorch's build settings; compile-time TORCH_VERSION_* if those
// cannot be read), C++ ABI, backend (cuda only when torch has CUDA and a device
// is usable, else cpu), CUDA version (torch's CUDA runtime), arch and OS.
Environment detect_environment();

struct LoadOptions {
  // Like Python's backend=: "cpu" or the backend torch was built for ("cuda").
  std::optional<std::string> backend;
  // Replaces detection entirely (tests, or targeting another fleet member).
  std::optional<Environment> environment;
  // Load exactly this variant (it must be in the lock / cache and fit unless
  // `ignore_fit`); normally the best fitting one is chosen.
  std::optional<std::string> variant;
  bool ignore_fit = false;
  // A repo the lock holds at several versions (a kernel-depends on another
  // version than the requirements name; docs/formats.md "One entry per (repo,
  // version)"): load the entry locked for "version" N or "revision" R, as the
  // dependent's metadata.json declares it (at most one of the two). Default:
  // the entry the requirements name directly (Lockfile::find).
  std::optional<std::uint64_t> version;
  std::optional<std::string> revision;
  // Cache root; default kernels_cache_dir() (KERNELS_CACHE, HF_HUB_CACHE, ...).
  std::optional<std::filesystem::path> cache_dir;
  // get_locked_kernel: lockfile path (file or directory), else the search of locate_lockfile.
  std::optional<std::filesystem::path> lockfile;
  // get_locked_kernel: used for variants missing from the cache unless offline.
  std::shared_ptr<Fetcher> fetcher;
  // Offline: never fetch. Default: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE.
  std::optional<bool> offline;
  // The caller executes the variant's Python package itself (the kernel_lock Python
  // package does): a variant without a shared object (noarch / universal, Python
  // only) then loads as its verified files, with no library (library_file() and
  // library_path() empty) and the namespace of its metadata.json id or _ops.py.
  // Default: such a variant is Error(unsupported), nothing in it can run from C++.
  bool python_package = false;
  // Path of the PyModule_Create2 shim library; default: next to the loader library.
  std::optional<std::filesystem::path> pyshim;

  // Signed variants (docs/trust.md). When the lock pins a signature for the
  // variant, load_kernel / get_locked_kernel verify it on the sealed bytes (see
  // read_locked_variant) with this Sigstore trusted_root.json, taken as captured
  // at its modification time. Default: the trust store of the cache in use
  // (<cache>/.kernel-lock-trust, from `kernel-lock trust import` or an installed
  // bundle). None available: Error(not_found). Decoded once per process.
  std::optional<std::filesystem::path> trusted_root;
  // Refuse a trusted root captured more than this many days ago
  // (Error(stale_trust)). Default: KERNEL_LOCK_TRUST_MAX_AGE_DAYS, else 180.
  std::optional<std::int64_t> trust_max_age_days;
  // Refuse any variant whose signature is not verified at load: a locked
  // variant the lock pins no signature for, and every get_kernel /
  // get_local_kernel load (Error(integrity)). Default: KERNEL_LOCK_REQUIRE_SIGNATURE.
  std::optional<bool> require_signature;
};

// get_kernel / has_kernel: which version of the kernel (exactly one of them).
struct KernelRef {
  std::optional<int> version;           // branch v<N>
  std::optional<std::string> revision;  // branch, tag or 40-hex sha
  static KernelRef of_version(int v) { return KernelRef{v, std::nullopt}; }
  static KernelRef of_revision(std::string r) { return KernelRef{std::nullopt, std::move(r)}; }
};

struct OpInfo {
  std::string name;            // "gelu_fast"
  std::string overload;        // "" for the default overload
  std::string qualified_name;  // "<ns>::gelu_fast"
  std::string schema;          // "<ns>::gelu_fast(Tensor(a!) out, Tensor input) -> ()"
};

// A loaded kernel. Cheap to copy (shared state).
class Kernel {
 public:
  struct State;
  explicit Kernel(std::shared_ptr<const State> state) : state_(std::move(state)) {}

  const std::string& repo_id() const noexcept;    // "" for get_local_kernel
  const std::string& sha() const noexcept;        // commit ("" for local)
  const std::string& variant() const noexcept;    // build/<variant> name
  const std::string& ns() const noexcept;         // op namespace ("_activation_cpu_2f7c452")
  const std::string& variant_hash() const noexcept;  // git_lfs_concat of the loaded bytes
  Trust trust() const noexcept;                   // locked / cache_blobs (unpinned) / local
  bool pinned() const noexcept { return trust() == Trust::locked; }
  // The signer whose signature over metadata.json and kernel digest were verified
  // on the loaded bytes (the lock's record); nullopt when no signature was checked.
  const std::optional<LockedSignature>& signer() const noexcept;
  // What was proven, in one line: "signed by <build signer URI> (issuer <issuer>)",
  // "pinned by the lock only", "cache blobs only (unpinned)" or "local, not verified".
  std::string provenance() const;
  const std::filesystem::path& directory() const noexcept;  // the variant directory read
  const std::vector<OpInfo>& ops() const noexcept;
  // The verified files of the variant, sealed (read_locked_variant & co.): the
  // bytes the Python package (python/) executes the kernel's .py files from,
  // never re-read from disk. Kept while any copy of this Kernel lives.
  const SealedVariant& sealed() const noexcept;
  // The shared object the process mapped: its path in the variant ("_x.abi3.so")
  // and "/proc/self/fd/N" of the sealed copy, open for the life of the process
  // (a second dlopen of that path returns the same mapping). Both empty for a
  // Python-only variant (LoadOptions::python_package).
  const std::string& library_file() const noexcept;
  std::string library_path() const;
  bool has_op(std::string_view name, std::string_view overload = "") const;

  // Dispatcher handle of "<ns>::<name>[.<overload>]"; Error(not_found) listing the ops.
  c10::OperatorHandle op(std::string_view name, std::string_view overload = "") const;

  // Typed call: kernel.call<void(at::Tensor&, const at::Tensor&)>("gelu_fast", out, x).
  // The signature is checked against the schema by the dispatcher (c10::Error on mismatch).
  template <class Signature, class... Args>
  decltype(auto) call(std::string_view name, Args&&... args) const {
    return op(name).template typed<Signature>().call(std::forward<Args>(args)...);
  }
  // Boxed call: the arguments in schema order (defaults filled in for missing
  // trailing ones); returns the outputs.
  std::vector<c10::IValue> call_boxed(std::string_view name, std::vector<c10::IValue> args,
                                      std::string_view overload = "") const;

 private:
  std::shared_ptr<const State> state_;
};

// Loads `repo_id` as locked in `lockfile` (a file, or a directory with
// kernel.lock / kernels.lock): the locked sha, the best variant for this process
// among the lock's variants, files from the cache only (never the network),
// verified (see read_locked_variant) into sealed memory, then loaded from there.
Kernel load_kernel(std::string_view repo_id, const std::filesystem::path& lockfile, const LoadOptions& options = {});

// Loads several kernels of one lock, each exactly as load_kernel does, with
// their files read, hashed and sealed in parallel (one thread per kernel, up to
// the core count); the libraries are then dlopened one at a time. The result
// follows the order of `repo_ids`. Once one fails no further load starts, and
// the error of the first failing repo_id (lowest index) is thrown after the
// running ones finished; kernels loaded by then stay loaded in the process.
std::vector<Kernel> load_kernels(const std::vector<std::string>& repo_ids, const std::filesystem::path& lockfile,
                                 const LoadOptions& options = {});

// Like load_kernel, with the lock found by locate_lockfile(options.lockfile).
// A variant missing from the cache is fetched with options.fetcher unless
// offline; without a fetcher it is Error(not_found) telling to run
// `kernel-lock install` (or `kernel-lock bundle` + `install` for air-gapped nodes).
Kernel get_locked_kernel(std::string_view repo_id, const LoadOptions& options = {});

// UNPINNED: loads the version (branch v<N>) or revision of `repo_id` that the
// cache's refs/ point at now. Nothing ties the bytes to a lock; the kernel's
// trust() is Trust::cache_blobs (blob contents match their names, nothing more).
// Use load_kernel for reproducible deployments. Cache only.
Kernel get_kernel(std::string_view repo_id, const KernelRef& ref, const LoadOptions& options = {});

// True when the cache holds `repo_id` at `ref` with a variant that fits this
// process (or options). Loads nothing; never throws for "not there".
bool has_kernel(std::string_view repo_id, const KernelRef& ref, const LoadOptions& options = {});

// Loads a kernel from a local directory: a repo root (with build/), a build/
// directory, or a variant directory holding metadata.json (Python's rules).
// Not verified against anything (Trust::local).
Kernel get_local_kernel(const std::filesystem::path& path, const LoadOptions& options = {});

// The variants of `names` that fit the environment of `options`, best first;
// Error(unsupported) with the environment, the variants available and the
// nearest miss when none does. Used by every load function above.
std::vector<std::string> select_variants_for(const std::vector<std::string>& names, const LoadOptions& options,
                                             std::string_view what);

// The environment load functions use for `options` (override, backend, or detection).
Environment environment_for(const LoadOptions& options);

}  // namespace kernel_lock
