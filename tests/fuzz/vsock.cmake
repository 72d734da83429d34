# virtio-vsock fuzz target (libFuzzer, clang only). Included from tests/fuzz/CMakeLists.txt.
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(hearth_virtio_vsock PRIVATE -fsanitize=fuzzer-no-link)
  add_executable(fuzz_virtio_vsock ${CMAKE_CURRENT_LIST_DIR}/vsock_fuzz.cpp)
  target_compile_options(fuzz_virtio_vsock PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_virtio_vsock PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_virtio_vsock PRIVATE hearth_flags hearth_virtio_vsock spdlog::spdlog)
endif()
