# virtio-vsock: device, packet parsing, Unix-socket muxer (Firecracker's hybrid model), kind.
hearth_library(hearth_virtio_vsock
  SOURCES vsock/device.cpp vsock/packet.cpp vsock/muxer.cpp vsock/state.cpp vsock/kind.cpp
  DEPS hearth_virtio_queue hearth_event_loop hearth_device_model hearth_config spdlog::spdlog)
