// registration.h: generated next to each kernel's torch-ext/ sources by
// kernels/cmake/HubKernel.cmake, with the same contract as kernel-builder's:
//   * TORCH_LIBRARY_EXPAND(NAME, m) / TORCH_LIBRARY_IMPL_EXPAND(NAME, KEY, m)
//     expand their NAME argument first, so NAME can be the macro
//     TORCH_EXTENSION_NAME (the op namespace `_<pyname>_<backend>_<rev7>`).
//   * REGISTER_EXTENSION(NAME) defines `PyInit_<NAME>`, which Python's import
//     system calls when `_ops.py` does `from . import <NAME>`. It only creates an
//     empty module: the ops are registered by static initialisers when the
//     shared object is loaded. Built with Py_LIMITED_API, PyModule_Create is
//     PyModule_Create2(def, 3): the only libpython symbol the .so needs, left
//     undefined (the .so never links libpython).
#pragma once

#include <Python.h>

#include <torch/library.h>

#define KERNEL_LOCK_CONCAT_(a, b) a##b
#define KERNEL_LOCK_CONCAT(a, b) KERNEL_LOCK_CONCAT_(a, b)
#define KERNEL_LOCK_STRINGIFY_(x) #x
#define KERNEL_LOCK_STRINGIFY(x) KERNEL_LOCK_STRINGIFY_(x)

#define TORCH_LIBRARY_EXPAND(NAME, MODULE) TORCH_LIBRARY(NAME, MODULE)
#define TORCH_LIBRARY_IMPL_EXPAND(NAME, DEVICE, MODULE) TORCH_LIBRARY_IMPL(NAME, DEVICE, MODULE)

#define REGISTER_EXTENSION(NAME)                                                            \
  PyMODINIT_FUNC KERNEL_LOCK_CONCAT(PyInit_, NAME)() {                                      \
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, KERNEL_LOCK_STRINGIFY(NAME), \
                                        nullptr, 0, nullptr, nullptr, nullptr, nullptr,     \
                                        nullptr};                                           \
    return PyModule_Create(&module);                                                        \
  }
