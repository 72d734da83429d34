#pragma once
// virtio-net constants (spec 5.1) and the 12-byte virtio 1.0 header that precedes every frame on both
// queues and on the TAP (TUNSETVNETHDRSZ 12).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hearth::virtio::net {

inline constexpr uint32_t kFeatureCsum = 0;
inline constexpr uint32_t kFeatureGuestCsum = 1;
inline constexpr uint32_t kFeatureMtu = 3;
inline constexpr uint32_t kFeatureMac = 5;
inline constexpr uint32_t kFeatureGuestTso4 = 7;
inline constexpr uint32_t kFeatureGuestTso6 = 8;
inline constexpr uint32_t kFeatureGuestUfo = 10;
inline constexpr uint32_t kFeatureHostTso4 = 11;
inline constexpr uint32_t kFeatureHostTso6 = 12;
inline constexpr uint32_t kFeatureHostUfo = 14;
inline constexpr uint32_t kFeatureMrgRxbuf = 15;
inline constexpr uint32_t kFeatureStatus = 16;

inline constexpr uint16_t kStatusLinkUp = 1;

inline constexpr uint16_t kRxQueue = 0;
inline constexpr uint16_t kTxQueue = 1;
inline constexpr uint16_t kQueueSize = 256;

struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(VirtioNetHdr) == 12);
inline constexpr size_t kVnetHdrLen = sizeof(VirtioNetHdr);
inline constexpr size_t kNumBuffersOffset = offsetof(VirtioNetHdr, num_buffers);

// Largest frame either way: a 64 KiB GSO super-frame plus Ethernet header (Firecracker's 65562 with header).
inline constexpr size_t kMaxFrameLen = 65550;
inline constexpr size_t kMaxBufferLen = kMaxFrameLen + kVnetHdrLen;

// Configuration space: mac[6], status, max_virtqueue_pairs, mtu.
inline constexpr size_t kConfigSpaceLen = 12;

inline constexpr std::string_view kKind = "virtio-net";

}  // namespace hearth::virtio::net
