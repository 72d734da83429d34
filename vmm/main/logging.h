#pragma once
// Hearth's own log (never the guest console): spdlog to stderr or a file/FIFO, from the command
// line or PUT /logger.
#include <string>

#include "vmm/config/vm_config.h"

namespace hearth {

// Replaces the default logger. Throws Error when the log path cannot be opened.
void configure_logging(const LoggerConfig& config, const std::string& instance_id);

}  // namespace hearth
