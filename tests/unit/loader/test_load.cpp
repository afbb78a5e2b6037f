// Loading the test kernel (TORCH_LIBRARY ops, PyInit_ -> PyModule_Create2,
// -z now, no libpython) from a hand-made HF cache, and calling its ops.
#include <doctest/doctest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/headeronly/version.h>

#include <cstdio>
#include <functional>
#include <memory>

#include "cache_builder.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/loader/loader.hpp"

// c10 (through ATen and loader.hpp) defines a glog-style CHECK that aborts uncounted; use doctest's.
#undef CHECK
#define CHECK DOCTEST_CHECK

using namespace kernel_lock;
using namespace kl_test;

namespace {

const std::string kSha1 = "1111111111111111111111111111111111111111";
const std::string kSha2 = "2222222222222222222222222222222222222222";
const std::string kNs1 = "_kl_test_cpu_a1b2c3d";
const std::string kNs2 = "_kl_test_cpu_e4f5a6b";
const std::string kNsFragment = "_kl_test_cpu_c9d0e1f";  // test kernel "3": TORCH_LIBRARY_FRAGMENT only

const std::string& test_kernel_ns(int version) { return version == 1 ? kNs1 : version == 2 ? kNs2 : kNsFragment; }

fs::path test_kernel_so(int version) {
  return fs::path(KERNEL_LOCK_BINARY_DIR) / "loader" / "testkernels" / ("v" + std::to_string(version)) /
         (test_kernel_ns(version) + ".abi3.so");
}

// The CPU variant name that fits this process.
std::string cpu_variant() {
  auto env = detect_environment();
  return "torch" + std::to_string(env.torch.major) + std::to_string(env.torch.minor) + "-cxx11-cpu-" + env.arch +
         "-linux";
}

std::vector<FakeFile> test_kernel_files(int version) {
  const std::string& ns = test_kernel_ns(version);
  return {
      {"__init__.py", "from ._ops import ops\n\ndef version():\n    return ops.version()\n"},
      {"_ops.py", "import torch\nfrom . import " + ns + "\nops = torch.ops." + ns +
                      "\n\ndef add_op_namespace_prefix(op_name: str):\n    return f\"" + ns + "::{op_name}\"\n"},
      {ns + ".abi3.so", slurp(test_kernel_so(version)), true},
      {"metadata.json", "{\n  \"name\": \"kl-test\",\n  \"id\": \"" + ns +
                            "\",\n  \"version\": 1,\n  \"license\": \"Apache-2.0\",\n  \"python-depends\": [],\n"
                            "  \"kernel-depends\": [],\n  \"backend\": {\n    \"type\": \"cpu\"\n  }\n}"},
  };
}

struct Installed {
  TempDir tmp;
  fs::path cache = tmp.path() / "hub";
  fs::path lock = tmp.path() / "kernel.lock";
  LoadOptions options() const {
    LoadOptions o;
    o.cache_dir = cache;
    return o;
  }
};

// org/kl-test at `sha` with the test kernel `version` as the CPU variant, plus
// a CUDA variant this process cannot use; refs/v1 -> sha.
std::unique_ptr<CacheBuilder> install(const Installed& where, int version, const std::string& sha,
                                      const std::string& repo = "org/kl-test") {
  auto cb = std::make_unique<CacheBuilder>(where.cache, repo, sha);
  cb->add_variant(cpu_variant(), test_kernel_files(version));
  cb->add_variant("torch29-cxx11-cu126-x86_64-linux", {{"__init__.py", "cuda build\n"}});
  cb->write_ref("v1", sha);
  return cb;
}

bool dispatcher_has_ns(const std::string& ns) {
  for (const auto& n : c10::Dispatcher::singleton().getAllOpNames())
    if (n.name.rfind(ns + "::", 0) == 0) return true;
  return false;
}

std::string run(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  REQUIRE(p != nullptr);
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return out;
}

at::Tensor gelu_fast_reference(const at::Tensor& x) {
  return 0.5 * x * (1.0 + at::tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("the test kernel is the hard case: BIND_NOW, undefined PyModule_Create2, no libpython") {
  auto so = test_kernel_so(1).string();
  auto dynamic = run("readelf -d '" + so + "'");
  CHECK(contains(dynamic, "NOW"));
  CHECK_FALSE(contains(dynamic, "libpython"));
  auto undefined = run("nm -D --undefined-only '" + so + "'");
  CHECK(contains(undefined, "PyModule_Create2"));
  auto shim = fs::path(KERNEL_LOCK_BINARY_DIR) / "loader" / "libkernel_lock_pyshim.so";
  auto exported = run("nm -D --defined-only '" + shim.string() + "'");
  CHECK(contains(exported, "T PyModule_Create2"));
}

TEST_CASE("environment detection matches the running libtorch") {
  auto env = detect_environment();
  CHECK(env.torch.major == TORCH_VERSION_MAJOR);
  CHECK(env.torch.minor == TORCH_VERSION_MINOR);
  CHECK(env.cxx11_abi == (_GLIBCXX_USE_CXX11_ABI != 0));
  CHECK(env.os == "linux");
#if defined(__x86_64__)
  CHECK(env.arch == "x86_64");
#endif
  if (!at::globalContext().hasCUDA()) {
    CHECK(env.backend == "cpu");
    CHECK_FALSE(env.backend_version.has_value());
  } else {
    CHECK(env.backend == "cuda");
    CHECK(env.backend_version.has_value());
  }
  LoadOptions cpu;
  cpu.backend = "cpu";
  CHECK(environment_for(cpu).backend == "cpu");
  LoadOptions bogus;
  bogus.backend = "metal";
  CHECK_THROWS_AS(environment_for(bogus), Error);
  LoadOptions fleet;
  fleet.environment = Environment::host({2, 9}, "cuda", Version2{12, 8});
  CHECK((environment_for(fleet).torch == Version2{2, 9}));
  CHECK(environment_for(fleet).backend == "cuda");
}

TEST_CASE("selection: the CPU variant is chosen among the lock's; the override environment picks CUDA") {
  std::vector<std::string> names = {"torch29-cxx11-cu126-x86_64-linux", cpu_variant()};
  LoadOptions cpu;
  cpu.backend = "cpu";
  CHECK(select_variants_for(names, cpu, "test").front() == cpu_variant());
  LoadOptions fleet;
  fleet.environment = Environment::host({2, 9}, "cuda", Version2{12, 8});
  CHECK(select_variants_for(names, fleet, "test").front() == "torch29-cxx11-cu126-x86_64-linux");
}

TEST_CASE("no fitting variant: the error lists the environment, the variants and why") {
  Installed where;
  CacheBuilder cb(where.cache, "org/cuda-only", kSha1);
  cb.add_variant("torch29-cxx11-cu126-x86_64-linux", {{"__init__.py", "x"}});
  cb.add_variant("torch211-cxx11-cpu-aarch64-linux", {{"__init__.py", "y"}});
  cb.write_lock(where.lock);
  LoadOptions o = where.options();
  o.backend = "cpu";
  try {
    load_kernel("org/cuda-only", where.lock, o);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    std::string what = e.what();
    CHECK(contains(what, "torch29-cxx11-cu126-x86_64-linux"));
    CHECK(contains(what, "torch211-cxx11-cpu-aarch64-linux"));
    CHECK(contains(what, "org/cuda-only"));
    CHECK(contains(what, describe(environment_for(o))));
  }
}

TEST_CASE("a repo missing from the lock, and a lock missing, are clear errors") {
  Installed where;
  auto cb = install(where, 1, kSha1);
  cb->write_lock(where.lock);
  try {
    load_kernel("org/other", where.lock, where.options());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(contains(e.what(), "org/kl-test"));
  }
  CHECK_THROWS_AS(load_kernel("org/kl-test", where.tmp.path() / "nope.lock", where.options()), Error);
}

TEST_CASE("tampered kernels refuse and nothing is loaded; then two versions load side by side") {
  REQUIRE_FALSE(dispatcher_has_ns(kNs2));
  {
    Installed where;
    auto cb = install(where, 2, kSha2);
    cb->write_lock(where.lock);
    auto so = test_kernel_files(2)[2];
    auto blob = cb->repo().blob(digest_of(so));
    auto bytes = slurp(blob);
    bytes[bytes.size() / 2] ^= 0x20;
    spit(blob, bytes);
    try {
      load_kernel("org/kl-test", where.lock, where.options());
      FAIL("tampered kernel loaded");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::integrity);
      CHECK(contains(e.what(), so.path));
      CHECK(contains(e.what(), digest_of(so)));
    }
    CHECK_FALSE(dispatcher_has_ns(kNs2));
  }

  Installed a, b;
  auto cb1 = install(a, 1, kSha1);
  cb1->write_lock(a.lock);
  auto cb2 = install(b, 2, kSha2, "org/kl-test-next");
  cb2->write_lock(b.lock);
  auto k1 = load_kernel("org/kl-test", a.lock, a.options());
  auto k2 = load_kernel("org/kl-test-next", b.lock, b.options());
  CHECK(k1.ns() == kNs1);
  CHECK(k2.ns() == kNs2);
  CHECK(k1.call<int64_t()>("version") == 1);
  CHECK(k2.call<int64_t()>("version") == 2);
  auto x = at::ones({3});
  auto y = at::full({3}, 2.0);
  CHECK(at::allclose(k1.call<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("scale_add", x, y, 1.0),
                     at::full({3}, 3.0)));
  CHECK(at::allclose(k2.call<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("scale_add", x, y, 1.0),
                     at::full({3}, 5.0)));
}

TEST_CASE("load_kernels: several kernels of one lock, read and verified in parallel, in the order asked") {
  Installed where;
  auto cb1 = install(where, 1, kSha1);
  auto cb2 = install(where, 2, kSha2, "org/kl-test-next");
  Lockfile lock;
  lock.kernels = {cb1->locked_kernel(), cb2->locked_kernel()};
  write_lockfile(where.lock, lock);
  auto kernels = load_kernels({"org/kl-test-next", "org/kl-test"}, where.lock, where.options());
  REQUIRE(kernels.size() == 2);
  CHECK(kernels[0].repo_id() == "org/kl-test-next");
  CHECK(kernels[0].ns() == kNs2);
  CHECK(kernels[0].pinned());
  CHECK(kernels[1].ns() == kNs1);
  CHECK(kernels[0].call<int64_t()>("version") == 2);
  CHECK(kernels[1].call<int64_t()>("version") == 1);
  CHECK(load_kernels({}, where.lock, where.options()).empty());

  // A tampered kernel among them: the error names it, as load_kernel's would.
  auto so = test_kernel_files(2)[2];
  auto blob = cb2->repo().blob(digest_of(so));
  auto bytes = slurp(blob);
  bytes[bytes.size() / 3] ^= 0x01;
  fs::remove(blob);
  spit(blob, bytes);
  try {
    load_kernels({"org/kl-test", "org/kl-test-next"}, where.lock, where.options());
    FAIL("tampered kernel loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    CHECK(contains(e.what(), "org/kl-test-next"));
    CHECK(contains(e.what(), digest_of(so)));
  }
}

TEST_CASE("load_kernel: locked, verified, ops listed with schemas, typed and boxed calls") {
  Installed where;
  auto cb = install(where, 1, kSha1);
  cb->write_lock(where.lock);
  auto k = load_kernel("org/kl-test", where.lock, where.options());
  CHECK(k.repo_id() == "org/kl-test");
  CHECK(k.sha() == kSha1);
  CHECK(k.variant() == cpu_variant());
  CHECK(k.ns() == kNs1);
  CHECK(k.pinned());
  CHECK_FALSE(k.signer().has_value());  // the lock pins no signature for it
  CHECK(k.provenance() == "pinned by the lock only");
  CHECK(k.variant_hash() == cb->locked_kernel().variants.at(cpu_variant()).hash);
  REQUIRE(k.ops().size() == 3);
  CHECK(k.has_op("gelu_fast"));
  CHECK(k.has_op("scale_add"));
  CHECK(k.has_op("version"));
  CHECK_FALSE(k.has_op("silu"));
  for (const auto& op : k.ops()) {
    CHECK(op.qualified_name == kNs1 + "::" + op.name);
    CHECK(contains(op.schema, op.qualified_name + "("));
  }

  auto x = at::randn({4, 8});
  auto out = at::empty_like(x);
  k.call<void(at::Tensor&, const at::Tensor&)>("gelu_fast", out, x);
  CHECK(at::allclose(out, gelu_fast_reference(x), 1e-5, 1e-6));

  auto result = k.call_boxed("scale_add", {x, at::ones_like(x), 0.5});
  REQUIRE(result.size() == 1);
  CHECK(at::allclose(result[0].toTensor(), x + 0.5));
  CHECK(k.call_boxed("version", {})[0].toInt() == 1);

  CHECK_THROWS_AS(k.op("silu"), Error);
  CHECK_THROWS_AS(k.call_boxed("scale_add", {x}), Error);

  SUBCASE("loading the same kernel again returns the same library") {
    auto again = load_kernel("org/kl-test", where.lock, where.options());
    CHECK(again.ns() == k.ns());
    CHECK(again.ops().size() == 3);
  }
  SUBCASE("a Python-written lock (no per-file data) verifies through blob names") {
    cb->write_python_lock(where.tmp.path() / "kernels.lock");
    auto py = load_kernel("org/kl-test", where.tmp.path() / "kernels.lock", where.options());
    CHECK(py.variant_hash() == k.variant_hash());
    fs::remove(where.lock);  // directory lookup then falls back to kernels.lock
    CHECK(load_kernel("org/kl-test", where.tmp.path(), where.options()).ns() == kNs1);
  }
  SUBCASE("a Python kernels 0.17.2 lock (commit only) loads that commit, not hash-pinned") {
    auto lock = where.tmp.path() / "py017.lock";
    spit(lock, "[\n  {\n    \"dependency\": {\n      \"repo-id\": \"org/kl-test\",\n      \"version\": 1\n    },\n"
               "    \"lock\": {\n      \"commit\": \"" + kSha1 + "\"\n    }\n  }\n]");
    auto py = load_kernel("org/kl-test", lock, where.options());
    CHECK(py.sha() == kSha1);
    CHECK(py.trust() == Trust::cache_blobs);
    CHECK(py.provenance() == "cache blobs only (unpinned)");
    CHECK_FALSE(py.pinned());
    CHECK(py.variant_hash() == k.variant_hash());
    // A corrupt blob is still refused by its name.
    auto init = test_kernel_files(1)[0];
    spit(cb->repo().blob(digest_of(init)), "tampered");
    try {
      load_kernel("org/kl-test", lock, where.options());
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::integrity);
    }
  }
}

TEST_CASE("get_kernel is unpinned and cache-only; has_kernel reports what the cache can serve") {
  Installed where;
  auto cb = install(where, 1, kSha1);
  auto k = get_kernel("org/kl-test", KernelRef::of_version(1), where.options());
  CHECK(k.trust() == Trust::cache_blobs);
  CHECK(k.provenance() == "cache blobs only (unpinned)");
  CHECK_FALSE(k.pinned());
  CHECK(k.sha() == kSha1);
  CHECK(k.call<int64_t()>("version") == 1);
  CHECK(has_kernel("org/kl-test", KernelRef::of_version(1), where.options()));
  CHECK(has_kernel("org/kl-test", KernelRef::of_revision(kSha1), where.options()));
  CHECK_FALSE(has_kernel("org/kl-test", KernelRef::of_version(9), where.options()));
  CHECK_FALSE(has_kernel("org/absent", KernelRef::of_version(1), where.options()));
  try {
    get_kernel("org/kl-test", KernelRef::of_version(9), where.options());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(contains(e.what(), "UNPINNED"));
  }
}

TEST_CASE("get_local_kernel: repo root with build/, or a variant directory") {
  TempDir tmp;
  for (const auto& f : test_kernel_files(1)) spit(tmp.path() / "build" / cpu_variant() / f.path, f.content);
  spit(tmp.path() / "build" / "torch29-cxx11-cu126-x86_64-linux" / "__init__.py", "cuda\n");
  LoadOptions cpu;
  cpu.backend = "cpu";
  auto k = get_local_kernel(tmp.path(), cpu);
  CHECK(k.trust() == Trust::local);
  CHECK(k.provenance() == "local, not verified");
  CHECK_FALSE(k.signer().has_value());
  CHECK(k.variant() == cpu_variant());
  CHECK(k.call<int64_t()>("version") == 1);
  auto direct = get_local_kernel(tmp.path() / "build" / cpu_variant(), cpu);
  CHECK(direct.ns() == kNs1);
  CHECK_THROWS_AS(get_local_kernel(tmp.path() / "nothing", cpu), Error);
}

TEST_CASE("a Python-only variant: refused from C++ with the way out, loaded as files for the Python package") {
  TempDir tmp;
  const fs::path dir = tmp.path() / "build" / "torch-universal";
  spit(dir / "__init__.py", "from ._ops import ops\n");
  spit(dir / "_ops.py", "import torch\nops = torch.ops._noarch_demo_0a1b2c3\n");
  spit(dir / "metadata.json", "{\"name\": \"noarch-demo\", \"id\": \"_noarch_demo_0a1b2c3\", \"kernel-depends\": []}");
  LoadOptions cpu;
  cpu.backend = "cpu";
  try {
    (void)get_local_kernel(dir, cpu);
    FAIL("loaded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(contains(e.what(), "no shared object"));
    CHECK(contains(e.hint(), "kernel_lock package"));
  }
  cpu.python_package = true;
  auto k = get_local_kernel(dir, cpu);
  CHECK(k.ns() == "_noarch_demo_0a1b2c3");
  CHECK(k.library_file().empty());
  CHECK(k.library_path().empty());
  CHECK(k.ops().empty());
  CHECK(k.sealed().files.size() == 3);
  CHECK_THROWS_WITH_AS((void)k.op("anything"), doctest::Contains("has no op anything"), Error);
  // Without a module name (no metadata.json id, no torch.ops.<ns> in _ops.py) there is nothing to import.
  TempDir bare;
  spit(bare.path() / "build" / "torch-universal" / "__init__.py", "X = 1\n");
  spit(bare.path() / "build" / "torch-universal" / "metadata.json", "{\"name\": \"bare\", \"kernel-depends\": []}");
  CHECK_THROWS_WITH_AS((void)get_local_kernel(bare.path() / "build" / "torch-universal", cpu),
                       doctest::Contains("names its module"), Error);
}

TEST_CASE("a library with only a TORCH_LIBRARY_FRAGMENT is refused, and stays refused without a second dlopen") {
  TempDir tmp;
  for (const auto& f : test_kernel_files(3)) spit(tmp.path() / "build" / cpu_variant() / f.path, f.content);
  LoadOptions cpu;
  cpu.backend = "cpu";
  std::string first;
  try {
    (void)get_local_kernel(tmp.path(), cpu);
    FAIL("loaded");
  } catch (const Error& e) {
    first = e.what();
    CHECK(e.code() == ErrorCode::not_found);
  }
  CHECK(contains(first, "TORCH_LIBRARY_FRAGMENT"));
  CHECK(contains(first, kNsFragment));
  // Its fragment registered the ops once; a second dlopen would register them again (c10 aborts on that).
  CHECK(dispatcher_has_ns(kNsFragment));
  CHECK_THROWS_WITH_AS((void)get_local_kernel(tmp.path(), cpu), doctest::Contains("stays refused"), Error);
  // Another kernel loads afterwards (the refused library's sealed fd is kept: no stale /proc/self/fd path).
  TempDir other;
  for (const auto& f : test_kernel_files(1)) spit(other.path() / "build" / cpu_variant() / f.path, f.content);
  CHECK(get_local_kernel(other.path(), cpu).call<int64_t()>("version") == 1);
}

namespace {
// Installs the variant into the cache when asked, like the resolver's fetcher.
struct FakeFetcher : Fetcher {
  std::function<void()> install;
  int calls = 0;
  std::string variant;
  void fetch(const FetchRequest& r) override {
    ++calls;
    variant = r.variant;
    install();
  }
};
}  // namespace

TEST_CASE("get_locked_kernel: lock search, fetch of missing variants unless offline") {
  Installed where;
  // The lock knows the variant; the cache does not have it yet.
  Installed staging;
  auto cb = install(staging, 1, kSha1);
  cb->write_lock(where.lock);

  LoadOptions o = where.options();
  o.lockfile = where.lock;
  o.offline = false;
  try {
    get_locked_kernel("org/kl-test", o);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(contains(e.hint(), "kernel-lock install"));
  }

  auto fetcher = std::make_shared<FakeFetcher>();
  fetcher->install = [&] { install(where, 1, kSha1); };
  o.fetcher = fetcher;
  o.offline = true;
  CHECK_THROWS_AS(get_locked_kernel("org/kl-test", o), Error);
  CHECK(fetcher->calls == 0);

  o.offline = false;
  auto k = get_locked_kernel("org/kl-test", o);
  CHECK(fetcher->calls == 1);
  CHECK(fetcher->variant == cpu_variant());
  CHECK(k.pinned());
  CHECK(k.call<int64_t()>("version") == 1);

  // Found through KERNEL_LOCK_FILE when no path is given.
  LoadOptions env_opts = where.options();
  ::setenv("KERNEL_LOCK_FILE", where.lock.c_str(), 1);
  CHECK(get_locked_kernel("org/kl-test", env_opts).ns() == kNs1);
  ::unsetenv("KERNEL_LOCK_FILE");
}

TEST_CASE("remove_tree works in a process linked with libtorch (whose exported remove_all crashes)") {
  TempDir tmp;
  const auto tree = tmp.path() / "staging";
  fs::create_directories(tree / "a" / "b");
  std::ofstream(tree / "a" / "b" / "blob") << "bytes";
  fs::create_symlink("a/b/blob", tree / "link");
  std::error_code ec;
  CHECK(kernel_lock::remove_tree(tree, ec) == 5);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(tree));
}
