// Registers the activation ops in the namespace TORCH_EXTENSION_NAME
// (`_activation_<backend>_<rev7>`), with the implementation of the backend
// this variant is built for (CPU_KERNEL or CUDA_KERNEL is defined by the
// builder). KERNEL_API_VERSION (build.toml `version`) selects the op set.
#include "registration.h"
#include "torch_binding.h"

TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def("gelu_fast(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_new(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_tanh(Tensor! out, Tensor input) -> ()");
  ops.def("silu_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_and_mul(Tensor! out, Tensor input) -> ()");
#if KERNEL_API_VERSION >= 2
  ops.def("silu(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_tanh_and_mul(Tensor! out, Tensor input) -> ()");
#endif
}

#if defined(CPU_KERNEL)
#define KERNEL_LOCK_DISPATCH_KEY CPU
#elif defined(CUDA_KERNEL)
#define KERNEL_LOCK_DISPATCH_KEY CUDA
#else
#error "define CPU_KERNEL or CUDA_KERNEL"
#endif

TORCH_LIBRARY_IMPL_EXPAND(TORCH_EXTENSION_NAME, KERNEL_LOCK_DISPATCH_KEY, ops) {
  ops.impl("gelu_fast", &gelu_fast);
  ops.impl("gelu_new", &gelu_new);
  ops.impl("gelu_tanh", &gelu_tanh);
  ops.impl("silu_and_mul", &silu_and_mul);
  ops.impl("gelu_and_mul", &gelu_and_mul);
#if KERNEL_API_VERSION >= 2
  ops.impl("silu", &silu);
  ops.impl("gelu_tanh_and_mul", &gelu_tanh_and_mul);
#endif
}

REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
