# libFuzzer target for the snapshot state file parser. Included from tests/fuzz/CMakeLists.txt (built only
# with HEARTH_FUZZ=ON and clang). Run: build/tests/fuzz/fuzz_snapshot_state -max_total_time=60 tests/fuzz/snapshot_corpus
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # Coverage feedback from the parser and the shared JSON reader, not just the harness.
  foreach(lib hearth_snapshot_format hearth_config hearth_device_model)
    target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
  endforeach()
  add_executable(fuzz_snapshot_state ${CMAKE_CURRENT_LIST_DIR}/snapshot_state_fuzz.cpp)
  target_compile_options(fuzz_snapshot_state PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_snapshot_state PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_snapshot_state PRIVATE hearth_flags hearth_snapshot_format)
endif()
