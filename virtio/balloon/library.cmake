# virtio-balloon (paths relative to virtio/).
hearth_library(hearth_virtio_balloon
  SOURCES balloon/device.cpp balloon/pages.cpp balloon/state.cpp balloon/kind.cpp
  DEPS hearth_virtio_queue hearth_event_loop hearth_device_model hearth_config spdlog::spdlog)
