hearth_unit_test(unit_virtio_vsock SOURCES vsock/vsock_test.cpp vsock/muxer_test.cpp
  DEPS hearth_virtio_vsock hearth_virtio_mmio)
