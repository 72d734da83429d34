#include "vmm/migration/endpoint.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::migration {
namespace {

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    throw Error(fmt::format("migration: socket path '{}' is longer than {} bytes", path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

AddrInfo resolve(const Endpoint& e, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  AddrInfo info;
  const int rc = ::getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &info.list);
  if (rc != 0) throw Error(fmt::format("migration: {}: {}", e.url, ::gai_strerror(rc)));
  return info;
}

void tune_tcp(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // small control messages go at once
}

void set_buffers(int fd) {
  const int bytes = 4 << 20;  // a page batch in flight while the next is copied
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

}  // namespace

Endpoint parse_endpoint(const std::string& url) {
  Endpoint e;
  e.url = url;
  if (url.rfind("unix:", 0) == 0 && url.size() > 5) {
    e.path = url.substr(5);
    return e;
  }
  if (url.rfind("tcp:", 0) == 0) {
    const std::string rest = url.substr(4);
    const auto colon = rest.rfind(':');
    if (colon != std::string::npos && colon > 0 && colon + 1 < rest.size()) {
      e.is_unix = false;
      e.host = rest.substr(0, colon);
      if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
      e.port = rest.substr(colon + 1);
      return e;
    }
  }
  throw Error(fmt::format("migration: url '{}' must be unix:/path or tcp:HOST:PORT", url));
}

UniqueFd listen_on(const Endpoint& e) {
  if (e.is_unix) {
    const sockaddr_un addr = unix_address(e.path);
    struct stat st {};
    if (::lstat(e.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw Error(fmt::format("migration: '{}' exists and is not a socket", e.path));
      ::unlink(e.path.c_str());
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("migration: socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw Error(fmt::format("migration: cannot listen on '{}': {}", e.path, std::strerror(errno)));
    }
    if (::listen(fd.get(), 1) != 0) throw_errno("migration: listen");
    return fd;
  }
  AddrInfo info = resolve(e, true);
  std::string last_error = "no address";
  for (addrinfo* a = info.list; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) continue;
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    set_buffers(fd.get());
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd.get(), 1) == 0) return fd;
    last_error = std::strerror(errno);
  }
  throw Error(fmt::format("migration: cannot listen on {}: {}", e.url, last_error));
}

UniqueFd accept_one(int listen_fd, int cancel_fd) {
  for (;;) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("migration: poll");
    }
    if (fds[1].revents) return {};
    UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      throw_errno("migration: accept");
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0 && local.ss_family != AF_UNIX) {
      tune_tcp(fd.get());
    }
    return fd;
  }
}

UniqueFd connect_to(const Endpoint& e, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error;
  // A destination just told to listen may not be there yet: retry until the deadline.
  do {
    if (e.is_unix) {
      const sockaddr_un addr = unix_address(e.path);
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) throw_errno("migration: socket");
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
      last_error = std::strerror(errno);
    } else {
      AddrInfo info = resolve(e, false);
      for (addrinfo* a = info.list; a; a = a->ai_next) {
        UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd) continue;
        set_buffers(fd.get());
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) {
          tune_tcp(fd.get());
          return fd;
        }
        last_error = std::strerror(errno);
      }
    }
    ::usleep(20000);
  } while (std::chrono::steady_clock::now() < deadline);
  throw Error(fmt::format("migration: cannot connect to {}: {}", e.url, last_error));
}

}  // namespace hearth::migration
