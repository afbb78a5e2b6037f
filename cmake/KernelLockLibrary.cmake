# kernel_lock_add_library(<name> [SHARED] [PUBLIC deps...] [PRIVATE deps...])
# One product library per folder <name>/: sources in <name>/src/*.cpp, public
# headers in <name>/include/kernel_lock/<name>/. Creates kernel_lock_<name>
# (alias kernel_lock::<name>, exported as <name>) and installs it with its
# headers into the component export set kernel_lock-<name>-targets, so that
# find_package(kernel_lock COMPONENTS <name>) loads only what <name> needs.
function(kernel_lock_add_library name)
  cmake_parse_arguments(arg "SHARED;NO_INSTALL" "" "PUBLIC;PRIVATE;SOURCES" ${ARGN})
  set(target kernel_lock_${name})
  if(arg_SHARED)
    add_library(${target} SHARED)
  else()
    add_library(${target} STATIC)
  endif()
  add_library(kernel_lock::${name} ALIAS ${target})
  if(arg_SOURCES)
    target_sources(${target} PRIVATE ${arg_SOURCES})
  else()
    file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
    target_sources(${target} PRIVATE ${sources})
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE})
  kernel_lock_set_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY KERNEL_LOCK_LIBRARIES ${name})
  if(NOT arg_NO_INSTALL)
    install(TARGETS ${target} EXPORT kernel_lock-${name}-targets
      ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
    install(EXPORT kernel_lock-${name}-targets NAMESPACE kernel_lock::
      DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kernel_lock)
    install(DIRECTORY include/kernel_lock/${name} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kernel_lock)
  endif()
endfunction()
