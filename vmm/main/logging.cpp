#include "vmm/main/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"
#include "vmm/main/log_sinks.h"

namespace hearth {
namespace {

// Enough for a busy boot; a guest provoking messages in a loop is cut to a trickle.
constexpr double kLogBurst = 1000;
constexpr double kLogPerSecond = 200;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarning: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void configure_logging(const LoggerConfig& config, const std::string& instance_id) {
  std::shared_ptr<spdlog::sinks::sink> out;
  if (config.log_path) {
    // Appends, never blocks: a FIFO without room loses lines (counted) instead of stalling the VMM.
    out = std::make_shared<LineLogSink>(*config.log_path);
  } else {
    out = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto limited = std::make_shared<RateLimitedSink>(out, kLogBurst, kLogPerSecond, config.module.value_or(""));
  auto logger = std::make_shared<spdlog::logger>("hearth", limited);
  logger->set_level(to_spdlog(config.level));
  std::string pattern = "%Y-%m-%dT%H:%M:%S.%e [" + instance_id;
  if (config.show_level) pattern += ":%l";
  if (config.show_log_origin) pattern += ":%s:%#";
  pattern += "] %v";
  logger->set_pattern(pattern);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace hearth
