# virtio fuzz targets (libFuzzer, clang only). Included from tests/fuzz/CMakeLists.txt.
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Coverage feedback from the code under test, not just the harness.
  foreach(lib hearth_virtio_queue hearth_virtio_blk)
    target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
  endforeach()
  add_executable(fuzz_virtio_blk ${CMAKE_CURRENT_LIST_DIR}/virtio_blk_fuzz.cpp)
  target_compile_options(fuzz_virtio_blk PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_virtio_blk PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_virtio_blk PRIVATE hearth_flags hearth_virtio_blk spdlog::spdlog)
endif()
