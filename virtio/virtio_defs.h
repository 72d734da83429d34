#pragma once
// Constants from the virtio 1.2 specification shared by the transport and the devices.
#include <cstdint>

namespace hearth::virtio {

// Device status bits (spec 2.1).
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 64;
inline constexpr uint32_t kStatusFailed = 128;

// Feature bits independent of the device type (spec 6).
inline constexpr uint32_t kFeatureRingIndirectDesc = 28;
inline constexpr uint32_t kFeatureRingEventIdx = 29;
inline constexpr uint32_t kFeatureVersion1 = 32;

inline constexpr uint64_t feature_bit(uint32_t bit) { return uint64_t{1} << bit; }

// Device IDs (spec 5).
inline constexpr uint32_t kDeviceIdNet = 1;
inline constexpr uint32_t kDeviceIdBlock = 2;
inline constexpr uint32_t kDeviceIdRng = 4;
inline constexpr uint32_t kDeviceIdVsock = 19;

// Interrupt status bits reported to the driver (virtio-mmio InterruptStatus).
inline constexpr uint32_t kInterruptUsedRing = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;

}  // namespace hearth::virtio
