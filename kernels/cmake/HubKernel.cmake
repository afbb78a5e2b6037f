# HubKernel.cmake: build a kernel-builder style kernel (a folder with an
# edition-5 build.toml, torch-ext/ and sources) for the local torch (and CUDA)
# into the Hub's current flat layout:
#
#   <OUTPUT_DIR>/build/<variant>/__init__.py, *.py   (from torch-ext/<pyname>/)
#                               _ops.py              (generated)
#                               _<pyname>_<backend>_<rev7>.abi3.so
#                               metadata.json        (generated)
#
# The op namespace `_<pyname>_<backend>_<rev7>` is at once the .so stem,
# TORCH_EXTENSION_NAME, the TORCH_LIBRARY namespace, `ops` in _ops.py and the
# metadata.json id. <rev7> is the first 7 hex characters of the git tree id of
# the kernel folder as it is on disk (equal to `git rev-parse HEAD:<folder>`
# when the folder is clean; computed without git). A build whose VERSION
# overrides build.toml's uses sha1("<tree id>:v<VERSION>")[:7] instead, so
# that both versions can be loaded into one process.
#
# The variant name is computed, never configured:
#   torch<MAJ><MIN>-<cxx11|cxx98>-<cpu|cu<MAJ><MIN>>-<arch>-linux
# from the Torch package version, torch's C++ ABI (cxx98 only when torch's
# flags define _GLIBCXX_USE_CXX11_ABI=0), the CUDA compiler version,
# CMAKE_SYSTEM_PROCESSOR and CMAKE_SYSTEM_NAME (no ABI tag on macOS).
#
# Link contract (like Hub builds): -Wl,-z,now; -fno-gnu-unique; no RPATH; no
# libpython (Python.h is used with Py_LIMITED_API, so PyModule_Create2 stays
# an undefined symbol); links only torch libraries (+ cudart for CUDA).
#
# Requires before inclusion: find_package(Torch); find_package(Python3
# COMPONENTS Interpreter OPTIONAL_COMPONENTS Development.Module) (without
# Python headers, registration.h declares the abi3 bits itself); for CUDA,
# enable_language(CUDA) and find_package(CUDAToolkit).

set(KERNEL_LOCK_HUB_KERNEL_DIR ${CMAKE_CURRENT_LIST_DIR})

# A kernel links the shared libstdc++ that torch uses. A GCC whose search path
# holds only libstdc++.a (seen on a GPU image's /opt/gcc) links a private copy
# into every kernel, with its own, never initialised C++ locale: the first
# TORCH_CHECK message that formats a number (a shape, an eps) then segfaults
# inside the op call. Refused here, before anything is built.
function(_kernel_lock_require_shared_libstdcxx)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    return()
  endif()
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so
    OUTPUT_VARIABLE so OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND NOT IS_ABSOLUTE "${so}")
    message(FATAL_ERROR "HubKernel: ${CMAKE_CXX_COMPILER} finds no shared libstdc++ (libstdc++.so is not in "
      "its search path; only the static libstdc++.a): every kernel would carry its own copy of libstdc++, "
      "whose uninitialised C++ locale crashes the first error message that formats a number. "
      "Build with a GCC that has the shared library, e.g. CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ "
      "(after removing the build directory's CMakeCache.txt).")
  endif()
endfunction()
_kernel_lock_require_shared_libstdcxx()
set(KERNEL_LOCK_CUDA_CAPABILITIES "" CACHE STRING
  "CUDA capabilities for our CUDA kernels (e.g. \"9.0a;8.0\"), overriding build.toml's cuda-capabilities")

# kernel_lock_hub_variant_name(<out-var> <backend>): the variant directory name
# for this build's torch, C++ ABI, backend (cpu|cuda), CPU and OS.
function(kernel_lock_hub_variant_name out backend)
  if(NOT Torch_VERSION MATCHES "^([0-9]+)\\.([0-9]+)")
    message(FATAL_ERROR "HubKernel: cannot read the torch version (Torch_VERSION='${Torch_VERSION}')")
  endif()
  set(torch_tag "torch${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
  # C++ ABI: torch >= 2.7 only ships the cxx11 ABI; older packages state it
  # in TORCH_CXX_FLAGS / the torch target's compile options.
  set(abi_flags "${TORCH_CXX_FLAGS}")
  foreach(t torch torch_cpu)
    if(TARGET ${t})
      get_target_property(opts ${t} INTERFACE_COMPILE_OPTIONS)
      get_target_property(defs ${t} INTERFACE_COMPILE_DEFINITIONS)
      string(APPEND abi_flags " ${opts} ${defs}")
    endif()
  endforeach()
  if(abi_flags MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
    set(abi_tag "cxx98")
  else()
    set(abi_tag "cxx11")
  endif()
  if(backend STREQUAL "cpu")
    set(backend_tag "cpu")
  elseif(backend STREQUAL "cuda")
    if(NOT CMAKE_CUDA_COMPILER_VERSION MATCHES "^([0-9]+)\\.([0-9]+)")
      message(FATAL_ERROR "HubKernel: CUDA compiler version unknown (enable_language(CUDA) first)")
    endif()
    set(backend_tag "cu${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
  else()
    message(FATAL_ERROR "HubKernel: backend '${backend}' is not supported (cpu, cuda)")
  endif()
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" cpu)
  if(cpu STREQUAL "amd64" OR cpu STREQUAL "x64")
    set(cpu "x86_64")
  elseif(cpu STREQUAL "arm64")
    set(cpu "aarch64")
  endif()
  string(TOLOWER "${CMAKE_SYSTEM_NAME}" os)
  if(os STREQUAL "linux")
    set(name "${torch_tag}-${abi_tag}-${backend_tag}-${cpu}-linux")
  else()
    set(name "${torch_tag}-${backend_tag}-${cpu}-${os}")
  endif()
  set(${out} "${name}" PARENT_SCOPE)
endfunction()

# _kernel_lock_cuda_gencode(<flags-var> <archs-var> caps...): nvcc -gencode
# flags for capabilities such as 8.0, 9.0a, 10.0f, 12.0+PTX.
function(_kernel_lock_cuda_gencode flags_out archs_out)
  set(flags "")
  set(archs "")
  foreach(cap ${ARGN})
    if(NOT cap MATCHES "^([0-9]+)\\.([0-9]+)([af]?)(\\+PTX)?$")
      message(FATAL_ERROR "HubKernel: invalid CUDA capability '${cap}'")
    endif()
    set(num "${CMAKE_MATCH_1}${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
    if(CMAKE_MATCH_4)
      list(APPEND flags "-gencode=arch=compute_${num},code=[sm_${num},compute_${num}]")
    else()
      list(APPEND flags "-gencode=arch=compute_${num},code=sm_${num}")
    endif()
    list(APPEND archs "${cap}")
  endforeach()
  set(${flags_out} "${flags}" PARENT_SCOPE)
  set(${archs_out} "${archs}" PARENT_SCOPE)
endfunction()

# kernel_lock_add_hub_kernel(SOURCE_DIR <dir> OUTPUT_DIR <dir>
#                            [VERSION <n>] [BACKENDS <cpu|cuda>...] [TARGETS <out-var>])
#   Builds every requested backend that build.toml lists in [general] backends
#   (default: cpu, plus cuda when the CUDA language is enabled) into
#   <OUTPUT_DIR>/build/<variant>/. VERSION overrides build.toml's `version`
#   (metadata.json, KERNEL_API_VERSION, and the rev7 salt). TARGETS receives the
#   names of the targets that complete the variant directories.
function(kernel_lock_add_hub_kernel)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "SOURCE_DIR;OUTPUT_DIR;VERSION;TARGETS" "BACKENDS")
  if(NOT ARG_SOURCE_DIR OR NOT ARG_OUTPUT_DIR)
    message(FATAL_ERROR "kernel_lock_add_hub_kernel: SOURCE_DIR and OUTPUT_DIR are required")
  endif()
  get_filename_component(src "${ARG_SOURCE_DIR}" ABSOLUTE)
  string(MD5 key "${src};${ARG_VERSION}")
  string(SUBSTRING "${key}" 0 12 key)
  set(stage "${CMAKE_CURRENT_BINARY_DIR}/hub-kernel-${key}")
  file(MAKE_DIRECTORY "${stage}")

  # Parse build.toml and hash the folder; re-run when anything in it changes.
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${KERNEL_LOCK_HUB_KERNEL_DIR}/hub_kernel.py" info "${src}" "${stage}/info.cmake"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kernel_lock_add_hub_kernel: cannot read ${src}/build.toml")
  endif()
  file(GLOB_RECURSE kernel_files CONFIGURE_DEPENDS "${src}/*")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    "${src}/build.toml" "${KERNEL_LOCK_HUB_KERNEL_DIR}/hub_kernel.py" ${kernel_files})
  include("${stage}/info.cmake")

  set(version "${HK_VERSION}")
  set(salt "")
  if(NOT "${ARG_VERSION}" STREQUAL "" AND NOT ARG_VERSION STREQUAL HK_VERSION)
    set(version "${ARG_VERSION}")
    set(salt "v${ARG_VERSION}")
  endif()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${KERNEL_LOCK_HUB_KERNEL_DIR}/hub_kernel.py" uid "${HK_TREE_ID}" "${salt}"
    OUTPUT_VARIABLE rev7 OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kernel_lock_add_hub_kernel: cannot compute the build id")
  endif()

  set(backends ${ARG_BACKENDS})
  if(NOT backends)
    set(backends cpu)
    get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
    if("CUDA" IN_LIST languages)
      list(APPEND backends cuda)
    endif()
  endif()
  set(requested ${backends})
  set(done_targets "")

  configure_file("${KERNEL_LOCK_HUB_KERNEL_DIR}/registration.h" "${stage}/include/registration.h" COPYONLY)
  file(GLOB_RECURSE pyfiles RELATIVE "${src}/torch-ext/${HK_PYNAME}" CONFIGURE_DEPENDS "${src}/torch-ext/${HK_PYNAME}/*")
  set(pyext_files "")
  foreach(f ${pyfiles})
    get_filename_component(ext "${f}" LAST_EXT)
    string(SUBSTRING "${ext}" 1 -1 ext)
    if(ext IN_LIST HK_TORCH_PYEXT AND NOT f MATCHES "(^|/)__pycache__/")
      list(APPEND pyext_files "${f}")
    endif()
  endforeach()
  if(NOT "__init__.py" IN_LIST pyext_files)
    message(FATAL_ERROR "kernel_lock_add_hub_kernel: ${src}/torch-ext/${HK_PYNAME}/__init__.py is missing")
  endif()

  foreach(backend ${requested})
    if(NOT backend IN_LIST HK_BACKENDS)
      continue()
    endif()
    set(ns "_${HK_PYNAME}_${backend}_${rev7}")
    kernel_lock_hub_variant_name(variant ${backend})
    set(vdir "${ARG_OUTPUT_DIR}/build/${variant}")
    set(target "kernel_lock_hub_${HK_PYNAME}_v${version}_${backend}")

    set(sources "")
    foreach(f ${HK_TORCH_SRC})
      list(APPEND sources "${src}/${f}")
    endforeach()
    set(includes "${stage}/include" "${src}" "${src}/torch-ext")
    foreach(d ${HK_TORCH_INCLUDE})
      list(APPEND includes "${src}/${d}")
    endforeach()
    set(cxx_flags ${HK_TORCH_CXX_FLAGS})
    set(cuda_flags "")
    set(caps "")
    foreach(k ${HK_KERNELS})
      if(NOT HK_KERNEL_${k}_BACKEND STREQUAL backend)
        continue()
      endif()
      foreach(f ${HK_KERNEL_${k}_SRC})
        list(APPEND sources "${src}/${f}")
      endforeach()
      foreach(d ${HK_KERNEL_${k}_INCLUDE})
        list(APPEND includes "${src}/${d}")
      endforeach()
      list(APPEND cxx_flags ${HK_KERNEL_${k}_CXX_FLAGS})
      list(APPEND cuda_flags ${HK_KERNEL_${k}_CUDA_FLAGS})
      list(APPEND caps ${HK_KERNEL_${k}_CUDA_CAPABILITIES})
    endforeach()

    add_library(${target} MODULE ${sources})
    if(Torch_VERSION VERSION_LESS 2.12)
      set(std 17)
    else()
      set(std 20)
    endif()
    set_target_properties(${target} PROPERTIES
      PREFIX "" OUTPUT_NAME "${ns}" SUFFIX ".abi3.so"
      LIBRARY_OUTPUT_DIRECTORY "${vdir}"
      CXX_STANDARD ${std} CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF
      POSITION_INDEPENDENT_CODE ON
      SKIP_BUILD_RPATH ON INSTALL_RPATH "")
    target_compile_definitions(${target} PRIVATE
      TORCH_EXTENSION_NAME=${ns} KERNEL_API_VERSION=${version} Py_LIMITED_API=0x03090000)
    target_include_directories(${target} PRIVATE ${includes})
    if(Python3_Development.Module_FOUND)
      target_include_directories(${target} SYSTEM PRIVATE ${Python3_INCLUDE_DIRS})
    else()
      target_compile_definitions(${target} PRIVATE KERNEL_LOCK_NO_PYTHON_H)
    endif()
    # -g0 and the prefix maps keep host paths out of the binary (TORCH_CHECK
    # embeds __FILE__, also in torch's inline headers), so the bytes do not
    # depend on where the tree, the build or torch live.
    set(prefix_maps "-ffile-prefix-map=${src}/=${HK_NAME}/" "-ffile-prefix-map=${CMAKE_BINARY_DIR}/=build/")
    if(TORCH_INSTALL_PREFIX)
      list(APPEND prefix_maps "-ffile-prefix-map=${TORCH_INSTALL_PREFIX}/=torch/")
    endif()
    list(TRANSFORM prefix_maps PREPEND "-Xcompiler=" OUTPUT_VARIABLE cuda_prefix_maps)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>
      $<$<COMPILE_LANGUAGE:CXX>:-g0 ${prefix_maps} ${cxx_flags}>)
    target_link_options(${target} PRIVATE -Wl,-z,now -Wl,--as-needed)
    if(COMMAND kernel_lock_set_warnings)
      kernel_lock_set_warnings(${target})
    endif()
    set(meta_args --name "${HK_NAME}" --id "${ns}" --version "${version}" --license "${HK_LICENSE}" --backend "${backend}")
    if(backend STREQUAL "cpu")
      target_compile_definitions(${target} PRIVATE CPU_KERNEL)
      target_link_libraries(${target} PRIVATE torch_cpu c10)
    else()
      if(KERNEL_LOCK_CUDA_CAPABILITIES)
        set(caps ${KERNEL_LOCK_CUDA_CAPABILITIES})
      elseif(NOT caps)
        set(caps 7.5 8.0 8.6 8.9 9.0 10.0 12.0+PTX)
      endif()
      list(REMOVE_DUPLICATES caps)
      _kernel_lock_cuda_gencode(gencode archs ${caps})
      set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD ${std}
        CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
      target_compile_definitions(${target} PRIVATE CUDA_KERNEL USE_CUDA=1)
      target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CUDA>:${gencode} -Xcompiler=-fno-gnu-unique -g0 ${cuda_prefix_maps} ${cuda_flags}>)
      target_link_libraries(${target} PRIVATE torch_cuda torch_cpu c10_cuda c10 CUDA::cudart)
      foreach(a ${archs})
        list(APPEND meta_args --arch "${a}")
      endforeach()
    endif()

    # Generated files, staged at configure time, synchronised into the
    # variant directory after the .so is linked (stale files are removed).
    set(vstage "${stage}/${backend}")
    file(MAKE_DIRECTORY "${vstage}")
    execute_process(COMMAND "${Python3_EXECUTABLE}" "${KERNEL_LOCK_HUB_KERNEL_DIR}/hub_kernel.py"
      metadata "${vstage}/metadata.json" ${meta_args} RESULT_VARIABLE rc1)
    execute_process(COMMAND "${Python3_EXECUTABLE}" "${KERNEL_LOCK_HUB_KERNEL_DIR}/hub_kernel.py"
      ops "${vstage}/_ops.py" "${ns}" RESULT_VARIABLE rc2)
    if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
      message(FATAL_ERROR "kernel_lock_add_hub_kernel: cannot generate metadata.json/_ops.py")
    endif()
    set(copies "")
    foreach(f ${pyext_files})
      list(APPEND copies "${src}/torch-ext/${HK_PYNAME}/${f}=${f}")
    endforeach()
    list(APPEND copies "${vstage}/metadata.json=metadata.json" "${vstage}/_ops.py=_ops.py")
    string(REPLACE ";" "|" copies_arg "${copies}")
    add_custom_target(${target}_layout ALL
      COMMAND ${CMAKE_COMMAND} "-DVARIANT_DIR=${vdir}" "-DCOPIES=${copies_arg}" "-DKEEP=${ns}.abi3.so"
              -P "${KERNEL_LOCK_HUB_KERNEL_DIR}/sync_variant.cmake"
      DEPENDS ${target}
      COMMENT "Hub layout: ${HK_NAME} v${version} -> ${vdir}"
      VERBATIM)
    list(APPEND done_targets ${target}_layout)
    message(STATUS "Hub kernel ${HK_NAME} v${version} (${backend}): ${vdir}/${ns}.abi3.so")
  endforeach()
  if(ARG_TARGETS)
    set(${ARG_TARGETS} ${done_targets} PARENT_SCOPE)
  endif()
endfunction()
