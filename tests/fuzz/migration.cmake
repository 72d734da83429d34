# libFuzzer target for the incoming migration stream (framing, page batches, VM state JSON). Included from
# tests/fuzz/CMakeLists.txt (built only with HEARTH_FUZZ=ON and clang).
# Run: build/tests/fuzz/fuzz_migration_stream -max_len=65536 -max_total_time=60 tests/fuzz/migration_corpus
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  foreach(lib hearth_migration hearth_snapshot_format)
    target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link)
  endforeach()
  add_executable(fuzz_migration_stream ${CMAKE_CURRENT_LIST_DIR}/migration_stream_fuzz.cpp)
  target_compile_options(fuzz_migration_stream PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_migration_stream PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_migration_stream PRIVATE hearth_flags hearth_migration)
endif()
