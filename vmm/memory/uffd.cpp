#include "vmm/memory/uffd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/base/error.h"
#include "vmm/config/json_reader.h"

namespace hearth {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// UFFDIO_API with `features`; false when the kernel refuses them (EINVAL), leaving the fd uninitialised
// so the call can be repeated with fewer.
bool uffd_api(int fd, uint64_t features, uffdio_api& api) {
  api = {};
  api.api = UFFD_API;
  api.features = features;
  if (::ioctl(fd, UFFDIO_API, &api) == 0) return true;
  if (errno == EINVAL && features != 0) return false;
  throw_errno("userfaultfd: UFFDIO_API");
}

UniqueFd connect_unix(const std::string& path, const std::string& what) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error(fmt::format("{}: socket path '{}' must be 1 to {} bytes long", what, path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno(fmt::format("{}: socket for {}", what, path));
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == ENOENT) {
      throw Error(fmt::format("{}: no page-fault handler socket at {} (is the handler running?)", what, path));
    }
    if (err == ECONNREFUSED) {
      throw Error(fmt::format("{}: the page-fault handler socket {} refused the connection (nothing listens)",
                              what, path));
    }
    errno = err;
    throw_errno(fmt::format("{}: connecting to the page-fault handler socket {}", what, path));
  }
  return sock;
}

// One sendmsg: the JSON as the body, the uffd as SCM_RIGHTS (Firecracker's send_with_fd).
void send_with_fd(int sock, const std::string& body, int fd, const std::string& what, const std::string& path) {
  iovec iov{const_cast<char*>(body.data()), body.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  ssize_t sent;
  do {
    sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) throw_errno(fmt::format("{}: sending the memory mappings to {}", what, path));
  // A stream socket may take part of the body; the fd went with the first byte, the rest follows plain.
  for (size_t done = static_cast<size_t>(sent); done < body.size();) {
    ssize_t n = ::send(sock, body.data() + done, body.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(fmt::format("{}: sending the memory mappings to {}", what, path));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::string uffd_mappings_json(const std::vector<UffdRegionMapping>& mappings) {
  // ordered_json keeps Firecracker's field order; serde_json::to_string writes it compact, as dump() does.
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const UffdRegionMapping& m : mappings) {
    nlohmann::ordered_json entry;
    entry["base_host_virt_addr"] = m.base_host_virt_addr;
    entry["size"] = m.size;
    entry["offset"] = m.offset;
    entry["page_size"] = m.page_size;
    entry["page_size_kib"] = m.page_size;  // deprecated in Firecracker, still sent; bytes despite the name
    array.push_back(std::move(entry));
  }
  return array.dump();
}

std::vector<UffdRegionMapping> parse_uffd_mappings_json(const std::string& text) {
  nlohmann::json doc = parse_json(text, "uffd mappings");
  if (!doc.is_array()) throw_type_error("uffd mappings", "an array", doc);
  if (doc.empty()) throw Error("uffd mappings: no regions");
  std::vector<UffdRegionMapping> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    // Firecracker <= 1.6 sent no page size, 1.7 "page_size_kib", later both (all in bytes).
    ObjectReader r(doc[i], fmt::format("uffd mappings[{}]", i),
                   {"base_host_virt_addr", "size", "offset", "page_size", "page_size_kib"});
    UffdRegionMapping m;
    m.base_host_virt_addr = r.unsigned_int("base_host_virt_addr", 0, kMax);
    m.size = r.unsigned_int("size", 1, kMax);
    m.offset = r.unsigned_int("offset", 0, kMax);
    auto page_size = r.opt_unsigned_int("page_size", 1, kMax);
    auto page_size_kib = r.opt_unsigned_int("page_size_kib", 1, kMax);
    if (page_size && page_size_kib && *page_size != *page_size_kib) {
      r.fail("page_size", fmt::format("{} differs from page_size_kib {} (both are bytes)", *page_size, *page_size_kib));
    }
    m.page_size = page_size ? *page_size : page_size_kib ? *page_size_kib : 4096;
    if (!std::has_single_bit(m.page_size) || m.page_size < 4096) {
      r.fail(page_size ? "page_size" : "page_size_kib",
             fmt::format("must be a power of two of at least 4096 (bytes), got {}", m.page_size));
    }
    if (m.base_host_virt_addr % m.page_size || m.size % m.page_size) {
      r.fail("base_host_virt_addr",
             fmt::format("region {:#x}+{:#x} is not aligned to its page size {:#x}", m.base_host_virt_addr, m.size,
                         m.page_size));
    }
    if (m.base_host_virt_addr + m.size < m.base_host_virt_addr) r.fail("size", "region wraps the address space");
    if (m.offset + m.size < m.offset) r.fail("offset", "offset + size overflows");
    out.push_back(m);
  }
  return out;
}

UniqueFd create_userfaultfd() {
  // No UFFD_USER_MODE_ONLY: KVM and the VMM's own syscalls (read into guest memory) fault in kernel mode.
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return UniqueFd(fd);
  int syscall_err = errno;
  if (syscall_err != EPERM && syscall_err != ENOSYS) throw_errno("userfaultfd syscall");
  // Kernels >= 6.1 let /dev/userfaultfd's permissions decide where vm.unprivileged_userfaultfd says no.
  UniqueFd dev(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  if (!dev) {
    throw Error(fmt::format("userfaultfd: the syscall was refused ({}) and /dev/userfaultfd cannot be opened ({})",
                            std::strerror(syscall_err), std::strerror(errno)));
  }
  fd = ::ioctl(dev.get(), USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw_errno("userfaultfd: USERFAULTFD_IOC_NEW on /dev/userfaultfd");
  return UniqueFd(fd);
}

UniqueFd register_guest_memory(const GuestMemory& memory) {
  UniqueFd uffd = create_userfaultfd();
  // EVENT_REMOVE: a balloon's MADV_DONTNEED later tells the handler to serve zeros there, not the file.
  uffdio_api api;
  if (!uffd_api(uffd.get(), UFFD_FEATURE_EVENT_REMOVE, api)) uffd_api(uffd.get(), 0, api);
  if (!(api.ioctls & (1ULL << _UFFDIO_REGISTER))) throw Error("userfaultfd: the kernel offers no UFFDIO_REGISTER");
  for (const auto& region : memory.regions()) {
    const Mapping& map = region.mapping;
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(map.data());
    reg.range.len = map.size();
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(uffd.get(), UFFDIO_REGISTER, &reg) != 0) {
      throw_errno(fmt::format("userfaultfd: UFFDIO_REGISTER of guest memory {:#x}+{:#x}", region.range.start,
                              region.range.size));
    }
    if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
      throw Error(fmt::format("userfaultfd: guest memory {:#x}+{:#x} cannot be filled with UFFDIO_COPY",
                              region.range.start, region.range.size));
    }
  }
  return uffd;
}

UffdBackend connect_uffd_backend(const GuestMemory& memory, const std::vector<uint64_t>& file_offsets,
                                 const std::string& socket_path, const std::string& what) {
  const auto& regions = memory.regions();
  if (file_offsets.size() != regions.size()) {
    throw Error(fmt::format("{}: {} file offsets for {} memory regions", what, file_offsets.size(), regions.size()));
  }
  UffdBackend backend;
  try {
    backend.uffd = register_guest_memory(memory);
    std::vector<UffdRegionMapping> mappings;
    for (size_t i = 0; i < regions.size(); ++i) {
      const Mapping& map = regions[i].mapping;
      // hugetlb memory is filled only in whole huge pages (UFFDIO_COPY of 2 MiB), as Firecracker tells its handler.
      mappings.push_back({reinterpret_cast<uint64_t>(map.data()), map.size(), file_offsets[i], regions[i].host_page_size});
    }
    backend.connection = connect_unix(socket_path, what);
    send_with_fd(backend.connection.get(), uffd_mappings_json(mappings), backend.uffd.get(), what, socket_path);
  } catch (const Error& e) {
    std::string_view msg = e.what();
    if (msg.starts_with(what + ":")) throw;
    throw Error(fmt::format("{}: {}", what, msg));
  }
  return backend;
}

}  // namespace hearth
