// A tiny kernel in the shape of a Hub build (kernel-builder registration.h):
// ops registered with TORCH_LIBRARY in a static initialiser under the namespace
// TORCH_EXTENSION_NAME, plus PyInit_<ns> that calls PyModule_Create2. It is
// linked with -z now and without libpython, so a plain dlopen fails with
// "undefined symbol: PyModule_Create2" unless the process provides the symbol.
// KL_TEST_KERNEL_VERSION (1 or 2) changes what `version` returns and how
// `scale_add` scales, so side-by-side loading can be observed.
#include <torch/library.h>
#include <ATen/ATen.h>

#define KL_STRINGIFY_(x) #x
#define KL_STRINGIFY(x) KL_STRINGIFY_(x)
#define KL_CONCAT_(a, b) a##b
#define KL_CONCAT(a, b) KL_CONCAT_(a, b)

namespace {

// out = 0.5 x (1 + tanh(0.7978845608 x (1 + 0.044715 x^2))), like activation's gelu_fast.
void gelu_fast(at::Tensor& out, const at::Tensor& input) {
  TORCH_CHECK(out.sizes() == input.sizes(), "gelu_fast: out and input shapes differ");
  auto x = input.to(at::kFloat);
  auto y = 0.5 * x * (1.0 + at::tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)));
  out.copy_(y.to(out.scalar_type()));
}

at::Tensor scale_add(const at::Tensor& a, const at::Tensor& b, double alpha) {
  return a + b * (alpha * KL_TEST_KERNEL_VERSION);
}

int64_t version() { return KL_TEST_KERNEL_VERSION; }

}  // namespace

// KL_TEST_KERNEL_FRAGMENT: the ops come from a TORCH_LIBRARY_FRAGMENT only (no
// TORCH_LIBRARY of the namespace), which the loader refuses after dlopen.
#if defined(KL_TEST_KERNEL_FRAGMENT)
TORCH_LIBRARY_FRAGMENT(TORCH_EXTENSION_NAME, ops) {
#else
TORCH_LIBRARY(TORCH_EXTENSION_NAME, ops) {
#endif
  ops.def("gelu_fast(Tensor! out, Tensor input) -> ()");
  ops.impl("gelu_fast", c10::kCPU, &gelu_fast);
  ops.def("scale_add(Tensor a, Tensor b, float alpha) -> Tensor");
  ops.impl("scale_add", c10::kCPU, &scale_add);
  ops.def("version() -> int", &version);
}

// What REGISTER_EXTENSION expands to. With Python.h (limited API) the module
// object is real, so Python `kernels` can import this kernel too; without it
// only the symbol reference matters (nothing in a C++ process calls PyInit_).
#if defined(KL_HAVE_PYTHON_H)
#include <Python.h>
extern "C" __attribute__((visibility("default"))) PyObject* KL_CONCAT(PyInit_, TORCH_EXTENSION_NAME)() {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, KL_STRINGIFY(TORCH_EXTENSION_NAME), nullptr, 0, nullptr,
                                      nullptr, nullptr, nullptr, nullptr};
  return PyModule_Create(&module);
}
#else
extern "C" void* PyModule_Create2(void* definition, int api_version);
extern "C" __attribute__((visibility("default"))) void* KL_CONCAT(PyInit_, TORCH_EXTENSION_NAME)() {
  static char module_def[128] = {};
  return PyModule_Create2(module_def, 3);
}
#endif
