#pragma once
// Firecracker's "balloon" section and /balloon API: PUT pre-boot, PATCH /balloon {amount_mib} and
// PATCH /balloon/statistics {stats_polling_interval_s} before or after boot, GET of both.
#include "virtio/balloon/config.h"
#include "virtio/device_kind.h"

namespace hearth::virtio::balloon {

const VirtioDeviceKind& balloon_kind();
// The validated section as the device's config (exposed for tests).
BalloonConfig balloon_config(const nlohmann::json& body, std::string_view context);

}  // namespace hearth::virtio::balloon
