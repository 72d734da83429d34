hearth_unit_test(unit_virtio_balloon SOURCES balloon/balloon_test.cpp balloon/pages_test.cpp
  DEPS hearth_virtio_balloon hearth_virtio_mmio)
