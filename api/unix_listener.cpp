#include "api/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/base/error.h"

namespace hearth::api {
namespace {

sockaddr_un make_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error(fmt::format("api socket '{}': path must be 1 to {} bytes long", path,
                            sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A socket file nobody accepts on is left over from a dead process and may be replaced.
void remove_if_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) {
    throw Error(fmt::format("api socket '{}': the path exists and is not a socket", path));
  }
  // Non-blocking: a listener whose backlog is full would otherwise hold us here forever.
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe) throw_errno(fmt::format("api socket '{}': socket", path));
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 || errno == EAGAIN) {
    throw Error(fmt::format("api socket '{}': another process is listening on it", path));
  }
  if (errno != ECONNREFUSED) throw_errno(fmt::format("api socket '{}': probing", path));
  if (::unlink(path.c_str()) != 0) throw_errno(fmt::format("api socket '{}': removing stale socket", path));
}

}  // namespace

UnixListener::UnixListener(std::string path, int backlog) : path_(std::move(path)) {
  sockaddr_un addr = make_address(path_);
  remove_if_stale(path_, addr);
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) throw_errno(fmt::format("api socket '{}': socket", path_));
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw_errno(fmt::format("api socket '{}': bind", path_));
  }
  if (::listen(fd_.get(), backlog) != 0) {
    int saved = errno;
    ::unlink(path_.c_str());
    errno = saved;
    throw_errno(fmt::format("api socket '{}': listen", path_));
  }
}

UnixListener::~UnixListener() {
  if (fd_) ::unlink(path_.c_str());
}

}  // namespace hearth::api
