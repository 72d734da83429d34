# MMDS frame path fuzz target (libFuzzer, clang only). Included from tests/fuzz/CMakeLists.txt.
# Run: build/tests/fuzz/fuzz_mmds -max_total_time=60 tests/fuzz/mmds_corpus
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(hearth_mmds PRIVATE -fsanitize=fuzzer-no-link)
  add_executable(fuzz_mmds ${CMAKE_CURRENT_LIST_DIR}/mmds_fuzz.cpp)
  target_compile_options(fuzz_mmds PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_mmds PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_mmds PRIVATE hearth_flags hearth_mmds)
endif()
