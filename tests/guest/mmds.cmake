# Included by tests/guest/CMakeLists.txt: the MMDS hostile-guest self-test (net-mmds-flood). It targets
# Hearth's in-VMM MMDS (integration_mmds); on QEMU the same frames would only reach the host kernel, so it
# has no QEMU run of its own (net-mmds's QEMU run is in net.cmake).
list(APPEND TESTGUEST_SOURCES tests/net_mmds_flood.c)
