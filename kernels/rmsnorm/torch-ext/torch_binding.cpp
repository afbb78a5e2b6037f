// Registers the rmsnorm ops in the namespace TORCH_EXTENSION_NAME
// (`_rmsnorm_<backend>_<rev7>`), with the implementation of the backend this
// variant is built for (CPU_KERNEL or CUDA_KERNEL). KERNEL_API_VERSION
// (build.toml `version`) selects the op set.
#include "registration.h"
#include "torch_binding.h"

TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def("rms_norm(Tensor! out, Tensor input, Tensor weight, float eps) -> ()");
#if KERNEL_API_VERSION >= 2
  ops.def("fused_add_rms_norm(Tensor! input, Tensor! residual, Tensor weight, float eps) -> ()");
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
  ops.impl("rms_norm", &rms_norm);
#if KERNEL_API_VERSION >= 2
  ops.impl("fused_add_rms_norm", &fused_add_rms_norm);
#endif
}

REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
