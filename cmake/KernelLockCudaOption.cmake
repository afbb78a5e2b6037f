# KERNEL_LOCK_BUILD_CUDA_KERNELS: ON by default when a working nvcc is found
# (no GPU needed to build the CUDA variants). Shared by the top-level project
# and the standalone kernels build (kernels/build_standalone.sh).
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_kernel_lock_cuda_default ON)
else()
  set(_kernel_lock_cuda_default OFF)
endif()
option(KERNEL_LOCK_BUILD_CUDA_KERNELS "Also build the CUDA variants of our kernels (needs nvcc)" ${_kernel_lock_cuda_default})
