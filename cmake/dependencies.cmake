# Third-party libraries, all from Debian packages, under the target names the CMakeLists use
# (fmt::fmt, spdlog::spdlog, PkgConfig::URING, PkgConfig::SECCOMP, PkgConfig::LZMA).
#
# HEARTH_STATIC (off by default, and with sanitizers): every binary carries its libraries and the C++
# runtime, leaving only libc, libm and the loader shared. Loading and relocating eight shared libraries
# costs ~2.5 ms of CPU per exec and file-backed RSS (docs/benchmarks.md, "Lifecycle"). Debian ships no
# static fmt or spdlog, so those two are used header-only, which makes every file that includes them
# compile ~2.5x slower: hence an option for deployment builds, not the default of the test build.
# liburing, libseccomp and liblzma come from their Debian .a files.
find_package(Threads REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)

option(HEARTH_STATIC "Link libraries and the C++ runtime into each binary (libc stays shared)" OFF)
set(HEARTH_STATIC_LINK ${HEARTH_STATIC})
if(HEARTH_SANITIZE)
  # ASan/UBSan replace operator new and friends from their own shared runtime.
  set(HEARTH_STATIC_LINK OFF)
endif()

function(hearth_static_archive target archive)
  find_library(HEARTH_${target}_ARCHIVE NAMES ${archive} REQUIRED)
  add_library(PkgConfig::${target} INTERFACE IMPORTED GLOBAL)
  set_target_properties(PkgConfig::${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${HEARTH_${target}_ARCHIVE}")
endfunction()

if(HEARTH_STATIC_LINK)
  find_path(HEARTH_FMT_INCLUDE fmt/format.h REQUIRED)
  find_path(HEARTH_SPDLOG_INCLUDE spdlog/spdlog.h REQUIRED)
  add_library(fmt::fmt INTERFACE IMPORTED GLOBAL)
  set_target_properties(fmt::fmt PROPERTIES
    INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1
    INTERFACE_INCLUDE_DIRECTORIES "${HEARTH_FMT_INCLUDE}")
  add_library(spdlog::spdlog INTERFACE IMPORTED GLOBAL)
  set_target_properties(spdlog::spdlog PROPERTIES
    INTERFACE_COMPILE_DEFINITIONS SPDLOG_FMT_EXTERNAL
    INTERFACE_INCLUDE_DIRECTORIES "${HEARTH_SPDLOG_INCLUDE}"
    INTERFACE_LINK_LIBRARIES "fmt::fmt;Threads::Threads")
  hearth_static_archive(URING liburing.a)
  hearth_static_archive(SECCOMP libseccomp.a)
  hearth_static_archive(LZMA liblzma.a)
  target_link_options(hearth_flags INTERFACE -static-libstdc++ -static-libgcc)
else()
  find_package(fmt REQUIRED)
  find_package(spdlog REQUIRED)
  pkg_check_modules(URING REQUIRED IMPORTED_TARGET GLOBAL liburing)
  pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET GLOBAL libseccomp)
  pkg_check_modules(LZMA REQUIRED IMPORTED_TARGET GLOBAL liblzma)
endif()
