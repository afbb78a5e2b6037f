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
//   * Without Python headers (KERNEL_LOCK_NO_PYTHON_H, set by the builder when
//     none are found), the few stable-ABI (abi3) declarations needed are
//     spelled out below; their layout is fixed by CPython's stable ABI.
#pragma once

#if !defined(KERNEL_LOCK_NO_PYTHON_H)
#include <Python.h>
#else
#include <cstddef>
extern "C" {
typedef std::ptrdiff_t Py_ssize_t;
typedef struct _object {
  Py_ssize_t ob_refcnt;
  void* ob_type;
} PyObject;
typedef struct PyModuleDef_Base {
  PyObject ob_base;
  PyObject* (*m_init)(void);
  Py_ssize_t m_index;
  PyObject* m_copy;
} PyModuleDef_Base;
typedef struct PyModuleDef {
  PyModuleDef_Base m_base;
  const char* m_name;
  const char* m_doc;
  Py_ssize_t m_size;
  void* m_methods;
  void* m_slots;
  void* m_traverse;
  void* m_clear;
  void* m_free;
} PyModuleDef;
PyObject* PyModule_Create2(PyModuleDef* def, int apiver);
}
#define PyModuleDef_HEAD_INIT {{1, nullptr}, nullptr, 0, nullptr}
#define PyModule_Create(def) PyModule_Create2(def, 3)
#define PyMODINIT_FUNC extern "C" __attribute__((visibility("default"))) PyObject*
#endif

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
