# Kernel loader fuzz target (libFuzzer, clang only). Included from tests/fuzz/CMakeLists.txt.
if(HEARTH_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(hearth_loader PRIVATE -fsanitize=fuzzer-no-link)
  add_executable(fuzz_loader ${CMAKE_CURRENT_LIST_DIR}/loader_fuzz.cpp)
  target_compile_options(fuzz_loader PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_loader PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_loader PRIVATE hearth_flags hearth_loader hearth_base)
endif()
