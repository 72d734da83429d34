#pragma once
// The HTTP/1.1 subset MMDS speaks to the guest: request parsing from a byte stream with hard bounds
// (request line, header count and size, no request bodies beyond a small limit) and response
// serialization.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::virtio::net::mmds {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // absolute path; an absolute-form URI is reduced to its path
  std::string version;  // "HTTP/1.0" or "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  // The first header with this name (case-insensitive), or null.
  const std::string* header(std::string_view name) const;
  bool keep_alive() const;
};

struct HttpResponse {
  int status = 200;
  std::string version = "HTTP/1.1";
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // Allow header for 405; empty: none
  bool close = false;  // Connection: close
  std::string serialize() const;
};

std::string_view reason_phrase(int status);

// Parses requests from a connection's bytes as they arrive.
class HttpRequestParser {
 public:
  static constexpr size_t kMaxRequestBytes = 4096;  // head plus body
  static constexpr size_t kMaxHeaders = 32;

  enum class Result { NeedMore, Request, Error };

  // Appends `data`; bytes beyond the bound make the result Error.
  void feed(std::span<const uint8_t> data);
  // Takes the next complete request from the buffer. On Error, `error` holds a 400 response body, and
  // the parser discards everything from then on.
  Result next(HttpRequest& out, std::string& error);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  bool overflow_ = false;
};

}  // namespace hearth::virtio::net::mmds
