# virtio-net unit tests (paths relative to tests/unit/virtio/).
hearth_unit_test(unit_virtio_net SOURCES net/net_test.cpp net/kind_test.cpp net/tap_test.cpp
  DEPS hearth_virtio_net hearth_virtio_mmio)
