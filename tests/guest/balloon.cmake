# virtio-balloon driver and self-tests, and their QEMU run.
list(APPEND TESTGUEST_SOURCES src/virtio_balloon.c tests/balloon.c tests/balloon_hostile.c)
add_test(NAME testguest_qemu_balloon
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run_qemu_balloon.sh $<TARGET_FILE:testguest>)
set_tests_properties(testguest_qemu_balloon PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "integration;qemu")
