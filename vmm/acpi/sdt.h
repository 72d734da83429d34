#pragma once
// The 36-byte header every ACPI system description table starts with.
#include <array>
#include <cstdint>
#include <string_view>

#include "vmm/acpi/bytes.h"

namespace hearth::acpi {

inline constexpr size_t kSdtHeaderSize = 36;
inline constexpr std::array<uint8_t, 6> kOemId = {'H', 'E', 'A', 'R', 'T', 'H'};
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::array<uint8_t, 4> kCreatorId = {'H', 'R', 'T', 'H'};
inline constexpr uint32_t kCreatorRevision = 1;

// A header with length and checksum left zero: signature is 4 characters, oem_table_id 8.
Bytes sdt_header(std::string_view signature, uint8_t revision, std::string_view oem_table_id);
// Fills in length and checksum once the body has been appended.
void sdt_finish(Bytes& table);

}  // namespace hearth::acpi
