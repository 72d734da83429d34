// hearth: runs one microVM. See README.md for the command line.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/config_json.h"
#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/core/event_loop.h"
#include "vmm/core/vmm.h"
#include "vmm/main/version.h"

namespace hearth {
namespace {

struct Options {
  std::string config_file;
  bool no_api = false;
  std::string api_sock = "/run/firecracker.socket";
  std::string id = "anonymous-instance";
  std::string level = "Warning";
  std::string log_path;
  std::string metrics_path;
  bool boot_timer = false;
  std::string kvm_path = "/dev/kvm";
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void setup_logging(const Options& opts) {
  // stdout is the guest's console, so our own log goes to stderr or a file.
  std::shared_ptr<spdlog::logger> logger;
  if (opts.log_path.empty()) {
    logger = spdlog::stderr_logger_mt("hearth");
  } else {
    logger = spdlog::basic_logger_mt("hearth", opts.log_path);
  }
  auto level = api::parse_log_level(opts.level);
  if (!level) throw Error(fmt::format("--level: unknown log level '{}'", opts.level));
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::trace, spdlog::level::debug,
                                                          spdlog::level::info,  spdlog::level::warn,
                                                          spdlog::level::err,   spdlog::level::off};
  logger->set_level(kLevels[static_cast<int>(*level)]);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e [" + opts.id + ":%l] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// SIGTERM/SIGINT/SIGHUP end the VM cleanly through the event loop.
UniqueFd block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw Error("cannot block stop signals");
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw_errno("signalfd");
  return fd;
}

int run_config_file(const Options& opts) {
  VmConfig config = api::parse_config_file(read_file(opts.config_file, "--config-file"));
  EventLoop loop;
  UniqueFd signals = block_stop_signals();
  VmmOptions vmm_options;
  vmm_options.kvm_path = opts.kvm_path;
  vmm_options.boot_timer = opts.boot_timer;
  Vmm vmm(config, vmm_options, loop);
  loop.add(signals.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info{};
    if (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
      spdlog::info("received signal {}, stopping the microVM", info.ssi_signo);
      vmm.stop(0);
    }
  });
  vmm.start();
  loop.run();
  return vmm.exit_code().value_or(0);
}

int run(int argc, char** argv) {
  Options opts;
  CLI::App app{"hearth: a KVM microVM monitor with a Firecracker-compatible API"};
  app.set_version_flag("--version", std::string(kVersion));
  app.add_option("--config-file", opts.config_file, "Start the microVM described by this JSON file");
  app.add_flag("--no-api", opts.no_api, "Serve no API socket (requires --config-file)");
  app.add_option("--api-sock", opts.api_sock, "Path of the API Unix socket")->capture_default_str();
  app.add_option("--id", opts.id, "MicroVM identifier")->capture_default_str();
  app.add_option("--level", opts.level, "Log level: Error, Warning, Info, Debug, Trace, Off")->capture_default_str();
  app.add_option("--log-path", opts.log_path, "Write the log to this file or FIFO instead of stderr");
  app.add_option("--metrics-path", opts.metrics_path, "Write metrics to this file or FIFO");
  app.add_flag("--boot-timer", opts.boot_timer, "Log the time until the guest signals boot completion");
  app.add_option("--kvm-device", opts.kvm_path, "KVM device node")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  setup_logging(opts);
  if (opts.no_api && opts.config_file.empty()) throw Error("--no-api requires --config-file");
  if (opts.config_file.empty()) throw Error("the API server is not available in this build yet; use --config-file with --no-api");
  return run_config_file(opts);
}

}  // namespace
}  // namespace hearth

int main(int argc, char** argv) {
  try {
    return hearth::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  }
}
