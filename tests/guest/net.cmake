# Included by tests/guest/CMakeLists.txt: the virtio-net driver, the guest's network stack and the net-*
# self-tests, and their QEMU runs (virtio-net-device on a TAP inside a network namespace).
list(APPEND TESTGUEST_SOURCES
  src/virtio_net.c
  src/net/eth_arp.c
  src/net/http.c
  src/net/ipv4.c
  src/net/options.c
  src/net/tcp.c
  src/net/udp.c
  src/net/util.c
  tests/net_echo.c
  tests/net_bench.c
  tests/net_mmds.c
  tests/net_hostile.c
)

add_test(NAME testguest_qemu_net
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run_qemu_net.sh $<TARGET_FILE:testguest>)
set_tests_properties(testguest_qemu_net PROPERTIES
  LABELS "integration;qemu;net"
  SKIP_RETURN_CODE 77
  TIMEOUT 600)
