#include "virtio/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "virtio/net/defs.h"
#include "virtio/virtio_defs.h"
#include "vmm/base/error.h"

namespace hearth::virtio::net {

Tap Tap::open(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error(fmt::format("TAP name '{}' is not 1 to {} bytes", name, IFNAMSIZ - 1));
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw Error(fmt::format("cannot open /dev/net/tun: {}", std::strerror(errno)));
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int e = errno;
    throw Error(fmt::format("cannot open TAP '{}': {}{}", name, std::strerror(e),
                            e == EBUSY ? " (another process holds it)" : e == EPERM ? " (no permission)" : ""));
  }
  int hdr = static_cast<int>(kVnetHdrLen);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0) {
    throw Error(fmt::format("TAP '{}': cannot set the vnet header size: {}", name, std::strerror(errno)));
  }
  // No offloads until the guest says which it takes.
  if (::ioctl(fd.get(), TUNSETOFFLOAD, 0u) < 0) {
    throw Error(fmt::format("TAP '{}': cannot clear offloads: {}", name, std::strerror(errno)));
  }
  return Tap(std::move(fd), std::string(name));
}

unsigned tap_offload_flags(uint64_t f) {
  unsigned flags = 0;
  if (f & feature_bit(kFeatureGuestCsum)) {
    flags |= TUN_F_CSUM;
    // Segmentation offloads need checksum offload (the kernel refuses them without it).
    if (f & feature_bit(kFeatureGuestTso4)) flags |= TUN_F_TSO4;
    if (f & feature_bit(kFeatureGuestTso6)) flags |= TUN_F_TSO6;
    if (f & feature_bit(kFeatureGuestUfo)) flags |= TUN_F_UFO;
  }
  return flags;
}

void Tap::set_offload(uint64_t guest_features) {
  const unsigned flags = tap_offload_flags(guest_features);
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, flags) == 0) return;
  // Kernels without UFO on TAPs: keep the rest.
  if ((flags & TUN_F_UFO) && ::ioctl(fd_.get(), TUNSETOFFLOAD, flags & ~TUN_F_UFO) == 0) return;
  throw Error(fmt::format("TAP '{}': TUNSETOFFLOAD {:#x} failed: {}", name_, flags, std::strerror(errno)));
}

}  // namespace hearth::virtio::net
