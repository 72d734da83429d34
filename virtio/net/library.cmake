# virtio-net on a host TAP (paths relative to virtio/). Its MMDS stack is hearth_mmds (net/mmds/library.cmake).
hearth_library(hearth_virtio_net
  SOURCES net/device.cpp net/state.cpp net/kind.cpp net/tap.cpp net/mac.cpp
  DEPS hearth_virtio_queue hearth_rate_limiter hearth_event_loop hearth_device_model hearth_config hearth_mmds
       spdlog::spdlog)
