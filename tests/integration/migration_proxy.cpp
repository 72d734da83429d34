#include "tests/integration/migration_proxy.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace hearth::test {
namespace {

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

bool read_exact(int fd, void* data, size_t len) {
  auto* p = static_cast<char*>(data);
  while (len > 0) {
    const ssize_t n = ::recv(fd, p, len, 0);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const void* data, size_t len) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

MigrationProxy::MigrationProxy(std::string listen_path, std::string target_path, ProxyFault fault)
    : listen_path_(std::move(listen_path)), target_path_(std::move(target_path)), fault_(fault), pid_(fault.pid) {
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un a = address(listen_path_);
  ::unlink(listen_path_.c_str());
  ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  ::listen(listen_fd_, 1);
  thread_ = std::thread([this] { run(); });
}

MigrationProxy::~MigrationProxy() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

bool MigrationProxy::matches(migration::MsgType type, const std::string& payload) {
  if (fault_.after && type == *fault_.after) after_seen_ = true;
  if (fault_.action == ProxyFault::Action::kNone || fired_ || type != fault_.type) return false;
  if (fault_.after && !after_seen_) return false;
  if (fault_.round) {
    uint32_t round = 0;
    if (payload.size() != sizeof(round)) return false;
    std::memcpy(&round, payload.data(), sizeof(round));
    if (round != *fault_.round) return false;
  }
  return ++seen_ == fault_.occurrence;
}

void MigrationProxy::run() {
  pollfd p{listen_fd_, POLLIN, 0};
  while (!stop_ && ::poll(&p, 1, 100) == 0) {
  }
  if (stop_) return;
  const int from = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (from < 0) return;
  const int to = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un a = address(target_path_);
  if (::connect(to, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(from);
    ::close(to);
    return;
  }
  // Destination to source: bytes as they come.
  std::thread back([from, to] {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(to, buf, sizeof(buf), 0);
      if (n <= 0 || !write_all(from, buf, static_cast<size_t>(n))) break;
    }
    ::shutdown(from, SHUT_RDWR);
  });
  char preamble[16];
  bool ok = read_exact(from, preamble, sizeof(preamble)) && write_all(to, preamble, sizeof(preamble));
  while (ok && !stop_) {
    struct {
      uint32_t type, flags;
      uint64_t length;
      uint32_t payload_crc, header_crc;
    } header{};
    static_assert(sizeof(header) == 24);
    if (!read_exact(from, &header, sizeof(header)) || header.length > migration::kMaxPayloadBytes) break;
    std::string payload(header.length, '\0');
    if (!read_exact(from, payload.data(), payload.size())) break;
    const auto type = static_cast<migration::MsgType>(header.type);
    if (matches(type, payload)) {
      fired_ = true;
      if (fault_.action == ProxyFault::Action::kKill) {
        if (pid_ > 0) ::kill(pid_, SIGKILL);
        break;
      }
      if (!payload.empty()) payload[payload.size() / 2] ^= 0x01;
    }
    ok = write_all(to, &header, sizeof(header)) && write_all(to, payload.data(), payload.size());
  }
  ::shutdown(to, SHUT_RDWR);
  ::shutdown(from, SHUT_RDWR);
  back.join();
  ::close(from);
  ::close(to);
}

}  // namespace hearth::test
