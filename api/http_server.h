#pragma once
// The API thread: serves HTTP/1.1 on a Unix socket, one request at a time across all
// connections (like Firecracker), with keep-alive, pipelining and bounded sizes.
#include <functional>
#include <string>
#include <thread>

#include "api/http_parser.h"
#include "api/unix_listener.h"
#include "vmm/base/eventfd.h"

namespace hearth::api {

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  struct Options {
    size_t max_body_bytes = 51200;  // Firecracker's default http_api_max_payload_size
    size_t max_connections = 256;  // beyond this, new connections wait in the listen backlog
    // A connection that starts a request and does not finish it in time is closed; idle
    // keep-alive connections between requests are kept (SDKs hold them for the VM's life).
    int request_timeout_ms = 10000;
  };

  // Binds now (so the caller learns of a busy socket at startup) and serves on a new thread.
  HttpServer(const std::string& socket_path, Handler handler, Options options);
  HttpServer(const std::string& socket_path, Handler handler)
      : HttpServer(socket_path, std::move(handler), Options{}) {}
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stops the thread, closes every connection and removes the socket file.
  ~HttpServer();

  const std::string& socket_path() const { return listener_.path(); }

 private:
  void run();

  UnixListener listener_;
  Handler handler_;
  Options options_;
  EventFd stop_;
  std::thread thread_;
};

}  // namespace hearth::api
