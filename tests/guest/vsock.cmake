# virtio-vsock driver and the vsock-echo self-test; its QEMU run needs /dev/vhost-vsock (else it skips).
list(APPEND TESTGUEST_SOURCES src/virtio_vsock.c tests/vsock_echo.c)
add_test(NAME testguest_qemu_vsock
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run_qemu_vsock.sh $<TARGET_FILE:testguest>)
set_tests_properties(testguest_qemu_vsock PROPERTIES
  LABELS "integration;qemu"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)
