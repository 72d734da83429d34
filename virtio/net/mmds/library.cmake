# MMDS: data store, tokens, HTTP and the guest-facing frame stack (paths relative to virtio/).
hearth_library(hearth_mmds
  SOURCES net/mmds/data_store.cpp net/mmds/token.cpp net/mmds/http.cpp net/mmds/service.cpp
          net/mmds/stack.cpp net/mmds/tcp.cpp net/mmds/frames.cpp
  DEPS hearth_base hearth_metrics nlohmann_json::nlohmann_json fmt::fmt)
