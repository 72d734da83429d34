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
  // Both hold bytes, whatever the older name says.
  bool contains(uint64_t addr) const { return addr >= base_host_virt_addr && addr - base_host_virt_addr < size; }
};

std::string uffd_mappings_json(const std::vector<UffdRegionMapping>& mappings);
// Parses what uffd_mappings_json wrote (and Firecracker's form); throws Error naming the field.
std::vector<UffdRegionMapping> parse_uffd_mappings_json(const std::string& text);

// A new userfaultfd (O_CLOEXEC | O_NONBLOCK, kernel faults included so KVM's accesses are handled too):
// the userfaultfd syscall, or /dev/userfaultfd when the syscall is refused. Not yet initialised
// (UFFDIO_API). Throws Error saying why neither works; tests use it to decide whether to skip.
UniqueFd create_userfaultfd();

// A userfaultfd (UFFDIO_API done) with every region of `memory` registered in MISSING mode: from now
// on a first touch of a page not present waits for the fd's owner to fill it.
UniqueFd register_guest_memory(const GuestMemory& memory);

// What the VMM holds for a VM whose memory a handler serves. The handler serves the uffd; it learns that
// the VM is gone when `connection` closes (a uffd reports no hang-up of its own), so both live as long
// as the guest memory does.
struct UffdBackend {
  UniqueFd uffd;
  UniqueFd connection;
};

// Creates a userfaultfd, registers every region of `memory` (MISSING mode), connects to `socket_path`
// and sends the mappings (file offsets `file_offsets[i]` for region i) with the uffd.
// Throws Error naming `what` ("mem_backend.backend_path").
UffdBackend connect_uffd_backend(const GuestMemory& memory, const std::vector<uint64_t>& file_offsets,
                                 const std::string& socket_path, const std::string& what);

}  // namespace hearth
