#include "vmm/acpi/sdt.h"

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::acpi {
namespace {
constexpr size_t kLengthOffset = 4;
constexpr size_t kChecksumOffset = 9;
}  // namespace

Bytes sdt_header(std::string_view signature, uint8_t revision, std::string_view oem_table_id) {
  if (signature.size() != 4 || oem_table_id.size() != 8) {
    throw Error(fmt::format("ACPI: bad table header ids '{}' '{}'", signature, oem_table_id));
  }
  Bytes out(signature.begin(), signature.end());
  put_u32(out, 0);  // length
  put_u8(out, revision);
  put_u8(out, 0);  // checksum
  append(out, kOemId);
  out.insert(out.end(), oem_table_id.begin(), oem_table_id.end());
  put_u32(out, kOemRevision);
  append(out, kCreatorId);
  put_u32(out, kCreatorRevision);
  return out;
}

void sdt_finish(Bytes& table) {
  if (table.size() < kSdtHeaderSize || table.size() > UINT32_MAX) {
    throw Error(fmt::format("ACPI: table of {} bytes cannot carry a header", table.size()));
  }
  poke_u32(table, kLengthOffset, static_cast<uint32_t>(table.size()));
  table[kChecksumOffset] = 0;
  table[kChecksumOffset] = checksum(table);
}

}  // namespace hearth::acpi
