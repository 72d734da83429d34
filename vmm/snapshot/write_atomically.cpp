// write_file_atomically: the whole file through an AtomicFile (temporary beside the target, renamed over it).
#include "vmm/snapshot/atomic_file.h"
#include "vmm/snapshot/state_file.h"

namespace hearth::snapshot {

void write_file_atomically(const std::string& path, std::span<const uint8_t> bytes, std::string_view what) {
  AtomicFile file(path, what);
  file.write_all(bytes);
  file.commit();
}

}  // namespace hearth::snapshot
