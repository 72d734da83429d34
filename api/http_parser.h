#pragma once
// Incremental HTTP/1.1 request parser for the API socket: Content-Length bodies only (as
// Firecracker's micro_http), bounded header and body sizes, pipelining. Input is untrusted.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::api {

struct HttpRequest {
  std::string method;  // as sent, e.g. "PUT"
  std::string path;    // absolute path without query, e.g. "/drives/rootfs"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::optional<std::string> body;  // absent when there was no Content-Length (or it was 0)
  bool keep_alive = true;
  bool expects_continue = false;

  const std::string* header(std::string_view lower_name) const;
};

class DeferredResponse;

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Set by a handler whose answer comes later: the server sends that one instead (deferred_response.h).
  std::shared_ptr<DeferredResponse> deferred = nullptr;
};

// Serialises `r`; "Connection: close" when !keep_alive. 1xx/204 carry no body.
std::string serialize(const HttpResponse& r, bool keep_alive);
std::string_view status_text(int status);
// {"fault_message": message}; bytes that are not UTF-8 (echoed from the request) become U+FFFD.
std::string fault_body(std::string_view message);

class HttpRequestParser {
 public:
  static constexpr size_t kMaxHeaderBytes = 8192;

  explicit HttpRequestParser(size_t max_body_bytes) : max_body_(max_body_bytes) {}

  enum class State { kNeedMore, kComplete, kError };
  // Appends received bytes and parses as far as possible.
  State feed(std::string_view data);
  // After kComplete: the request; any pipelined bytes stay buffered (call feed("") again).
  HttpRequest take();
  // After kError: the response to send before closing (400, 413, 505, ...).
  const HttpResponse& error() const { return error_; }
  // True once per request whose headers asked for "100-continue" and were accepted.
  bool take_continue();
  // Bytes of an unfinished request are buffered.
  bool mid_request() const { return pending_.has_value() || !buffer_.empty(); }

 private:
  State fail(int status, std::string message);
  State parse_head(std::string_view head);

  size_t max_body_;
  std::string buffer_;
  std::optional<HttpRequest> pending_;  // headers parsed, waiting for the body
  size_t body_length_ = 0;
  bool send_continue_ = false;
  State state_ = State::kNeedMore;
  HttpResponse error_;
};

}  // namespace hearth::api
