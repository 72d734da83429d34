#pragma once
// One constant per configuration rule, shared by the API layer (checked at PUT time and when a config
// file is read) and the VMM (checked again at boot), so both always agree.
#include <cstdint>

namespace hearth {

inline constexpr uint32_t kMaxVcpus = 32;
inline constexpr uint32_t kMinMemSizeMib = 2;  // the zero page, page tables and ACPI tables need the first MiB
// virtio-mmio devices of all kinds together: one IOAPIC pin each, from IRQ 5 to 23.
inline constexpr uint32_t kMaxVirtioDevices = 19;
// A config file is a few KiB; this bounds what --config-file reads.
inline constexpr uint64_t kMaxConfigFileBytes = 1 << 20;

}  // namespace hearth
