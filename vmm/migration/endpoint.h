#pragma once
// Where a migration stream goes: "unix:/path" or "tcp:HOST:PORT". The destination listens, the
// source connects; both get a plain stream socket.
#include <chrono>
#include <cstdint>
#include <string>

#include "vmm/base/fd.h"

namespace hearth::migration {

struct Endpoint {
  bool is_unix = true;
  std::string path;  // unix
  std::string host;  // tcp
  std::string port;
  std::string url;
};

// Throws Error naming the URL.
Endpoint parse_endpoint(const std::string& url);
// Binds and listens (a stale unix socket file is replaced; any other file in the way is an error).
UniqueFd listen_on(const Endpoint& endpoint);
// Waits for one connection; an empty fd when `cancel_fd` became readable first.
UniqueFd accept_one(int listen_fd, int cancel_fd);
UniqueFd connect_to(const Endpoint& endpoint, std::chrono::milliseconds timeout);

}  // namespace hearth::migration
