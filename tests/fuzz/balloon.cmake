# virtio-balloon fuzz target (libFuzzer, clang only): page arrays, statistics and reported ranges.
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(hearth_virtio_balloon PRIVATE -fsanitize=fuzzer-no-link)
  add_executable(fuzz_virtio_balloon ${CMAKE_CURRENT_LIST_DIR}/balloon_fuzz.cpp)
  target_compile_options(fuzz_virtio_balloon PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_virtio_balloon PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_virtio_balloon PRIVATE hearth_flags hearth_virtio_balloon spdlog::spdlog)
endif()
