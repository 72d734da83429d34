# virtio-net fuzz target (libFuzzer, clang only). Included from tests/fuzz/CMakeLists.txt.
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(hearth_virtio_net PRIVATE -fsanitize=fuzzer-no-link)
  add_executable(fuzz_virtio_net ${CMAKE_CURRENT_LIST_DIR}/virtio_net_fuzz.cpp)
  target_compile_options(fuzz_virtio_net PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_virtio_net PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_virtio_net PRIVATE hearth_flags hearth_virtio_net spdlog::spdlog)
endif()
