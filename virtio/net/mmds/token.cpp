#include "virtio/net/mmds/token.h"

#include <sys/random.h>

#include <cerrno>

#include "vmm/base/error.h"

namespace hearth::virtio::net::mmds {
namespace {

std::string base64(const uint8_t* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    uint32_t v = uint32_t(data[i]) << 16;
    if (i + 1 < size) v |= uint32_t(data[i + 1]) << 8;
    if (i + 2 < size) v |= data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[v & 63] : '=';
  }
  return out;
}

}  // namespace

void TokenAuthority::expire(Clock::time_point now) {
  // Tokens expire in issue order only when TTLs match, so sweep the map rather than the queue.
  for (auto it = expiry_.begin(); it != expiry_.end();) {
    if (it->second <= now) it = expiry_.erase(it);
    else ++it;
  }
  while (!order_.empty() && !expiry_.contains(order_.front())) order_.pop_front();
}

std::string TokenAuthority::generate(uint32_t ttl_seconds, Clock::time_point now) {
  uint8_t bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("MMDS token: getrandom");
    }
    got += size_t(n);
  }
  if (expiry_.size() >= kMaxTokens) expire(now);
  while (expiry_.size() >= kMaxTokens && !order_.empty()) {
    expiry_.erase(order_.front());
    order_.pop_front();
  }
  std::string token = base64(bytes, sizeof bytes);
  expiry_[token] = now + std::chrono::seconds(ttl_seconds);
  order_.push_back(token);
  // Keep the queue from holding more stale names than live tokens.
  if (order_.size() > 2 * kMaxTokens) expire(now);
  return token;
}

bool TokenAuthority::is_valid(std::string_view token, Clock::time_point now) const {
  auto it = expiry_.find(std::string(token));
  return it != expiry_.end() && now < it->second;
}

}  // namespace hearth::virtio::net::mmds
