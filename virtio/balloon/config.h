#pragma once
// Configuration of the virtio-balloon device (PUT /balloon, config-file "balloon"), Firecracker's fields.
#include <cstdint>

namespace hearth::virtio::balloon {

struct BalloonConfig {
  uint32_t amount_mib = 0;               // target balloon size
  bool deflate_on_oom = false;           // offers VIRTIO_BALLOON_F_DEFLATE_ON_OOM
  uint16_t stats_polling_interval_s = 0;  // 0: no statistics queue
  bool free_page_reporting = false;       // offers VIRTIO_BALLOON_F_FREE_PAGE_REPORTING
};

}  // namespace hearth::virtio::balloon
