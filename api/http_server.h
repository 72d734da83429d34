#pragma once
// The API thread: serves HTTP/1.1 on a Unix socket, one request at a time across all
// connections (like Firecracker), with keep-alive, pipelining and bounded sizes. Clients are
// untrusted: every resource a connection can make the server hold (a slot, buffered input and
// output, time) is bounded, and no client can make the thread spin or starve the others.
#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
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
    // At the limit a new client evicts the connection that has gone longest without starting or
    // completing a request, among those the server owes no response; when there is none, new
    // clients wait in the listen backlog.
    size_t max_connections = 256;
    // A request must arrive within this time of its first byte (slow headers or body), and a
    // client with a response pending must take some of it within this time, or it is closed.
    int request_timeout_ms = 10000;
    // An idle keep-alive connection is closed after this long; 0: never (SDKs hold them).
    int idle_timeout_ms = 0;
    // While a connection has this much output its client has not read, its requests are not
    // read or parsed (back-pressure); output stays below this plus one response.
    size_t max_output_bytes = 65536;
  };
  // A snapshot of the API thread's counters, for tests and diagnostics.
  struct Stats {
    size_t connections = 0;             // open now
    size_t buffered_output_bytes = 0;   // response bytes not yet taken, all connections
    size_t peak_connection_output = 0;  // the most one connection ever had buffered
    uint64_t accepted = 0;
    uint64_t evicted = 0;    // closed to make room for a new client
    uint64_t timed_out = 0;  // closed by the request, write or idle timeout
    size_t deferred_pending = 0;  // connections waiting for a deferred response
  };

  // Validates `options` and binds now (so the caller learns of a busy socket or a bad limit at
  // startup; throws Error), then serves on a new thread.
  HttpServer(const std::string& socket_path, Handler handler, Options options);
  HttpServer(const std::string& socket_path, Handler handler)
      : HttpServer(socket_path, std::move(handler), Options{}) {}
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stops the thread, closes every connection and removes the socket file.
  ~HttpServer();

  const std::string& socket_path() const { return listener_.path(); }
  Stats stats() const;
  // Waits (up to `timeout`) until no deferred response is pending and all output is written: the last
  // answers of a process about to exit reach their clients.
  void wait_until_answered(std::chrono::milliseconds timeout) const;

 private:
  class Loop;
  struct Counters {
    std::atomic<size_t> connections{0};
    std::atomic<size_t> buffered_output_bytes{0};
    std::atomic<size_t> peak_connection_output{0};
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> evicted{0};
    std::atomic<uint64_t> timed_out{0};
    std::atomic<size_t> deferred_pending{0};
  };

  Options options_;
  UnixListener listener_;
  Handler handler_;
  Counters counters_;
  EventFd stop_;
  std::shared_ptr<EventFd> deferred_wake_ = std::make_shared<EventFd>();
  std::thread thread_;
};

}  // namespace hearth::api
