#pragma once
// spdlog sinks for Hearth's own log: a non-blocking file/FIFO sink that counts lost lines, and a rate
// limiter in front of any sink so a guest that provokes messages cannot fill the disk or stall the VMM.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/sinks/base_sink.h>

#include "vmm/metrics/sink.h"

namespace hearth {

// Writes formatted lines through metrics::LineSink (O_NONBLOCK; a full FIFO loses the line, counted
// as "logger.lost_log_count").
class LineLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LineLogSink(const std::string& path) : out_(path, "logger.log_path") {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  metrics::LineSink out_;
};

// Passes at most `burst` messages at once and `per_second` on average; the rest are dropped and
// counted as "logger.missed_log_count", with one summary line when messages flow again.
// With a `module` (a source folder such as "virtio" or "vmm/core"), only messages logged from
// files under that folder pass, like Firecracker's module filter.
class RateLimitedSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RateLimitedSink(std::shared_ptr<spdlog::sinks::sink> inner, double burst, double per_second,
                  std::string module = {});
  // Whether a message logged from `file` (as __FILE__ names it) belongs to `module`.
  static bool in_module(std::string_view file, std::string_view module);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
  double burst_, per_second_, tokens_;
  std::chrono::steady_clock::time_point last_;
  uint64_t dropped_since_last_ = 0;
  std::string module_;
};

}  // namespace hearth
