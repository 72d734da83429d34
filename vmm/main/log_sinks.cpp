#include "vmm/main/log_sinks.h"

#include <algorithm>

#include "vmm/metrics/registry.h"

namespace hearth {

void LineLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  std::string_view line(formatted.data(), formatted.size());
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (!out_.write_line(line)) metrics::global().counter("logger.lost_log_count").add();
}

RateLimitedSink::RateLimitedSink(std::shared_ptr<spdlog::sinks::sink> inner, double burst, double per_second,
                                 std::string module)
    : inner_(std::move(inner)),
      burst_(burst),
      per_second_(per_second),
      tokens_(burst),
      last_(std::chrono::steady_clock::now()),
      module_(std::move(module)) {
  while (!module_.empty() && module_.back() == '/') module_.pop_back();
}

bool RateLimitedSink::in_module(std::string_view file, std::string_view module) {
  if (module.empty()) return true;
  if (file.substr(0, module.size()) == module && file.size() > module.size() && file[module.size()] == '/') return true;
  const std::string inner = "/" + std::string(module) + "/";
  return file.find(inner) != std::string_view::npos;
}

void RateLimitedSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!module_.empty() && !in_module(msg.source.filename ? msg.source.filename : "", module_)) return;
  const auto now = std::chrono::steady_clock::now();
  tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * per_second_);
  last_ = now;
  if (tokens_ < 1) {
    ++dropped_since_last_;
    metrics::global().counter("logger.missed_log_count").add();
    return;
  }
  tokens_ -= 1;
  if (dropped_since_last_) {
    const std::string note = fmt::format("{} log messages were dropped by the rate limit", dropped_since_last_);
    inner_->log(spdlog::details::log_msg(msg.logger_name, spdlog::level::warn, note));
    dropped_since_last_ = 0;
  }
  inner_->log(msg);
}

}  // namespace hearth
