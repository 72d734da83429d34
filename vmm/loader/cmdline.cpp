#include "vmm/loader/cmdline.h"

#include <algorithm>
#include <vector>

#include "vmm/base/error.h"

namespace hearth::loader {

void write_cmdline(const GuestMemory& mem, const std::string& cmdline, uint64_t kernel_max) {
  const uint64_t limit = std::min(kernel_max, kCmdlineBufferMax);
  if (cmdline.size() > limit) {
    throw Error(fmt::format("kernel command line is {} bytes; the kernel accepts at most {}", cmdline.size(), limit));
  }
  // A NUL would silently cut the line the guest sees.
  if (cmdline.find('\0') != std::string::npos) throw Error("kernel command line contains a NUL byte");
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  mem.write(layout::kCmdlineAddr, bytes);
}

}  // namespace hearth::loader
