#include "vmm/main/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "vmm/base/error.h"

namespace hearth {
namespace {

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
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (config.log_path) {
    try {
      // Append, like Firecracker: a FIFO or an existing log keeps what it had.
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(*config.log_path, false);
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(fmt::format("logger.log_path: cannot open {}: {}", *config.log_path, e.what()));
    }
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("hearth", sink);
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
