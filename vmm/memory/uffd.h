#pragma once
// Userfaultfd restore backend: guest memory whose pages are filled on first touch by another process,
// Firecracker's page-fault-handler protocol. The VMM connects to the handler's Unix socket and sends one
// message: the JSON array of GuestRegionUffdMapping and, as SCM_RIGHTS, the userfaultfd.
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/base/fd.h"
#include "vmm/memory/guest_memory.h"

namespace hearth {

// Firecracker's GuestRegionUffdMapping.
struct UffdRegionMapping {
  uint64_t base_host_virt_addr = 0;
  uint64_t size = 0;
  uint64_t offset = 0;  // in the memory file
  uint64_t page_size = 4096;
  // In Firecracker's JSON the page size field is "page_size" (older: "page_size_kib"); we write both.
};

std::string uffd_mappings_json(const std::vector<UffdRegionMapping>& mappings);
// Parses what uffd_mappings_json wrote (and Firecracker's form); throws Error naming the field.
std::vector<UffdRegionMapping> parse_uffd_mappings_json(const std::string& text);

// Creates a userfaultfd, registers every region of `memory` (MISSING mode), connects to `socket_path`
// and sends the mappings (file offsets `file_offsets[i]` for region i) with the uffd. The returned fd is
// kept open by the VMM for the VM's lifetime. Throws Error naming `what` ("mem_backend.backend_path").
UniqueFd hand_memory_to_uffd_handler(const GuestMemory& memory, const std::vector<uint64_t>& file_offsets,
                                     const std::string& socket_path, const std::string& what);

}  // namespace hearth
