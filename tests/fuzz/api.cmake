# libFuzzer target for the API: HTTP parser, router/JSON bodies, config file. Include from
# tests/fuzz/CMakeLists.txt (built only with HEARTH_FUZZ=ON and CMAKE_CXX_COMPILER=clang++).
# Run: build/tests/fuzz/fuzz_api -max_total_time=60 tests/fuzz/api_corpus
foreach(lib hearth_api hearth_api_config hearth_metrics)
  target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
endforeach()
add_executable(fuzz_api ${CMAKE_CURRENT_LIST_DIR}/api_fuzz.cpp)
target_link_libraries(fuzz_api PRIVATE hearth_flags hearth_api)
target_compile_options(fuzz_api PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(fuzz_api PRIVATE -fsanitize=fuzzer,address,undefined)
