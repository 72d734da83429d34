// hearth: runs one microVM, configured by a Firecracker-style config file and/or REST API.
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/config_checks.h"
#include "api/config_json.h"
#include "api/http_server.h"
#include "api/migration_json.h"
#include "api/mmds_json.h"
#include "api/request_queue.h"
#include "api/router.h"
#include "vmm/base/error.h"
#include "vmm/base/fd.h"
#include "vmm/base/host_file.h"
#include "vmm/config/limits.h"
#include "vmm/base/event_loop.h"
#include "vmm/main/logging.h"
#include "vmm/main/version.h"
#include "vmm/main/vm_controller.h"
#include "vmm/metrics/registry.h"
#include "vmm/seccomp/precompiled.h"
#include "vmm/seccomp/seccomp.h"
#include "vmm/snapshot/state_file.h"
#include "virtio/net/mmds/service.h"

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
  api::HttpServer::Options http;  // API socket limits
  // --restore-from: PUT /snapshot/load at start, from the command line.
  std::string restore_from;
  std::string mem_file;
  std::string mem_uffd_socket;
  bool restore_paused = false;
  bool track_dirty_pages = false;
  std::string migrate_from;  // PUT /migration/receive at start
  // Firecracker's and its jailer's flags.
  bool show_level = false;
  bool show_log_origin = false;
  std::string module;
  bool no_seccomp = false;
  std::string seccomp_filter;
  uint64_t start_time_us = 0;  // wall clock when the jailer started us; 0: not given
  uint64_t start_time_cpu_us = 0;
  uint64_t parent_cpu_time_us = 0;
  size_t mmds_size_limit = 0;
  std::string metadata;
  bool enable_pci = false;
  std::string describe_snapshot;
  bool snapshot_version = false;
};

constexpr int kMetricsFlushSeconds = 60;  // as Firecracker

std::string read_config_file(const std::string& path) {
  // A pipe works too (`--config-file <(...)`, `/dev/stdin`); a device node or a directory does not.
  const auto bytes = read_host_stream(path, "--config-file", kMaxConfigFileBytes, 10000);
  if (bytes.empty()) throw Error(fmt::format("--config-file: '{}' is empty", path));
  return std::string(bytes.begin(), bytes.end());
}

// With fd 0, 1 or 2 closed, the next open (an epoll fd, a disk) would take its number and console
// output or error messages would land there. Fill any gap with /dev/null first.
void ensure_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    const int null_fd = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null_fd < 0) std::abort();  // nowhere to report it
    if (null_fd != fd) {
      ::dup2(null_fd, fd);
      ::close(null_fd);
    }
  }
}

// SIGTERM/SIGINT/SIGHUP end the VM cleanly through the event loop.
UniqueFd block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw Error("cannot block stop signals");
  ::signal(SIGPIPE, SIG_IGN);  // a closed API client or console reader must not kill the VMM
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) throw_errno("signalfd");
  return fd;
}

UniqueFd periodic_timer(int seconds) {
  UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd) throw_errno("timerfd_create");
  itimerspec spec{};
  spec.it_interval.tv_sec = spec.it_value.tv_sec = seconds;
  if (::timerfd_settime(fd.get(), 0, &spec, nullptr) < 0) throw_errno("timerfd_settime");
  return fd;
}

void drain_fd(int fd) {
  uint64_t buf[16];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

int run_vmm(const Options& opts) {
  VmConfig initial;
  if (!opts.config_file.empty()) {
    initial = api::parse_config_file(read_config_file(opts.config_file));
    api::check_host_paths(initial);
  }
  // Firecracker: the data store limit defaults to the API's body limit.
  auto mmds = std::make_shared<virtio::net::mmds::Service>(
      opts.mmds_size_limit != 0 ? opts.mmds_size_limit : opts.http.max_body_bytes);
  if (!opts.metadata.empty()) {
    const auto bytes = read_host_stream(opts.metadata, "--metadata", std::max<uint64_t>(uint64_t(mmds->size_limit()) * 4, 1 << 20), 10000);
    try {
      mmds->put(api::parse_mmds_contents(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                                     "--metadata"));
    } catch (const virtio::net::mmds::DataStoreError& e) {
      throw Error(fmt::format("--metadata: {}", e.what()));
    }
  }
  EventLoop loop;
  UniqueFd signals = block_stop_signals();
  // The VMM thread's filter goes on before the VM, the API or any device exists; threads started
  // from here on inherit it and add their own.
  seccomp::install_thread_filter(seccomp::ThreadKind::kVmm);
  VmmOptions vmm_options;
  vmm_options.kvm_path = opts.kvm_path;
  vmm_options.boot_timer = opts.boot_timer;
  vmm_options.mmds = mmds;
  VmController controller(loop, vmm_options, initial, opts.id);

  // A config file's logger/metrics sections apply as if PUT before boot.
  if (initial.logger) {
    if (auto r = controller.put_logger(*initial.logger); !r.ok()) throw Error(r.fault().message);
  }
  MetricsConfig metrics;
  if (initial.metrics) {
    metrics = *initial.metrics;
  } else {
    metrics.metrics_path = opts.metrics_path;
  }
  if (!metrics.metrics_path.empty()) {
    if (auto r = controller.put_metrics(metrics); !r.ok()) throw Error(r.fault().message);
  }

  api::RequestQueue queue;
  loop.add(queue.eventfd(), EPOLLIN, [&](uint32_t) { queue.drain(controller); });
  std::unique_ptr<api::Router> router;
  // Declared after `server`, so it is destroyed first on every exit path (exceptions included):
  // API callers waiting in the queue are released before ~HttpServer joins the API thread.
  struct QueueShutdown {
    api::RequestQueue& queue;
    ~QueueShutdown() { queue.shutdown(); }
  };
  std::unique_ptr<api::HttpServer> server;
  QueueShutdown release_callers{queue};
  if (!opts.no_api) {
    router = std::make_unique<api::Router>(api::Router::through(queue));
    server = std::make_unique<api::HttpServer>(
        opts.api_sock, [&](const api::HttpRequest& r) { return router->handle(r); }, opts.http);
    SPDLOG_INFO("API server listening on {}", opts.api_sock);
  }
  if (opts.start_time_us != 0) {
    // Firecracker's api_server.process_startup_time_us: from the jailer's fork to a ready API.
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    const auto start = static_cast<int64_t>(opts.start_time_us);
    SPDLOG_INFO("Process startup time: {} us (since --start-time-us)", now_us > start ? now_us - start : 0);
  }

  loop.add(signals.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info{};
    if (::read(signals.get(), &info, sizeof(info)) != sizeof(info)) return;
    SPDLOG_INFO("received signal {}, stopping", info.ssi_signo);
    if (controller.vmm()) controller.vmm()->stop(0);
    loop.stop();
  });
  // Device counters are copied into the registry every second, so GET /metrics is never stale for long.
  UniqueFd collect_timer = periodic_timer(1);
  loop.add(collect_timer.get(), EPOLLIN, [&](uint32_t) {
    drain_fd(collect_timer.get());
    controller.collect_metrics();
  });
  UniqueFd flush_timer = periodic_timer(kMetricsFlushSeconds);
  loop.add(flush_timer.get(), EPOLLIN, [&](uint32_t) {
    drain_fd(flush_timer.get());
    if (controller.config().metrics) {
      controller.collect_metrics();
      controller.flush_metrics();
    }
  });

  if (!opts.config_file.empty()) {
    if (auto r = controller.instance_start(); !r.ok()) throw Error(r.fault().message);
  }
  if (!opts.restore_from.empty()) {
    api::SnapshotLoadRequest load;
    load.snapshot_path = opts.restore_from;
    load.uffd = !opts.mem_uffd_socket.empty();
    load.backend_path = load.uffd ? opts.mem_uffd_socket : opts.mem_file;
    load.track_dirty_pages = opts.track_dirty_pages;
    load.resume_vm = !opts.restore_paused;
    if (auto r = controller.load_snapshot(load); !r.ok()) throw Error("--restore-from: " + r.fault().message);
  }
  if (!opts.migrate_from.empty()) {
    MigrationReceiveRequest receive;
    receive.url = opts.migrate_from;
    if (auto r = controller.migrate_receive(receive); !r.ok()) throw Error("--migrate-from: " + r.fault().message);
  }
  loop.run();

  // Release API callers before the server goes away, so none waits on a VMM that stopped; a migrated
  // source answers its PUT /migration/send first.
  queue.shutdown();
  if (server && controller.migration_exit()) server->wait_until_answered(std::chrono::seconds(2));
  server.reset();
  controller.collect_metrics();
  if (controller.config().metrics) controller.flush_metrics();
  if (controller.vmm()) controller.vmm()->leave_vm_to_process_exit();
  if (controller.migration_exit()) return *controller.migration_exit();
  return controller.vmm() ? controller.vmm()->exit_code().value_or(0) : 0;
}

// --describe-snapshot: Firecracker prints the state file's data-format version ("vN"); we add who wrote it.
int describe_snapshot(const std::string& path) {
  const snapshot::StateFile state = snapshot::read_state_file(path, "--describe-snapshot");
  std::printf("v%u\nHearth v%s\n", state.format_version, state.hearth_version.c_str());
  return 0;
}

int run(int argc, char** argv) {
  Options opts;
  CLI::App app{"hearth: a KVM microVM monitor with a Firecracker-compatible API"};
  // Firecracker prints "Firecracker v1.x.y"; ours has the same shape with our name and version.
  app.set_version_flag("--version", fmt::format("Hearth v{}", kVersion));
  app.add_option("--config-file", opts.config_file, "Start the microVM described by this JSON file");
  app.add_flag("--no-api", opts.no_api, "Serve no API socket (requires --config-file)");
  app.add_option("--api-sock", opts.api_sock, "Path of the API Unix socket")->capture_default_str();
  app.add_option("--id", opts.id, "MicroVM identifier")->capture_default_str();
  app.add_option("--level", opts.level, "Log level: Error, Warning, Info, Debug, Trace, Off")->capture_default_str();
  app.add_option("--log-path", opts.log_path, "Write the log to this file or FIFO instead of stderr");
  app.add_option("--metrics-path", opts.metrics_path, "Write metrics (JSON lines) to this file or FIFO");
  app.add_flag("--boot-timer", opts.boot_timer, "Log the time until the guest signals boot completion");
  app.add_option("--kvm-device", opts.kvm_path, "KVM device node")->capture_default_str();
  constexpr int kDayMs = 86400000;
  app.add_option("--http-api-max-payload-size", opts.http.max_body_bytes, "Largest API request body, in bytes")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 30));
  app.add_option("--api-max-connections", opts.http.max_connections,
                 "API connections held at once; at the limit a new client evicts the longest idle one")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{65536}));
  app.add_option("--api-request-timeout-ms", opts.http.request_timeout_ms,
                 "Close an API client that takes longer to send a request, or to take any of a response")
      ->capture_default_str()->check(CLI::Range(1, kDayMs));
  app.add_option("--api-idle-timeout-ms", opts.http.idle_timeout_ms, "Close idle API connections after this; 0: never")
      ->capture_default_str()->check(CLI::Range(0, kDayMs));
  app.add_option("--api-max-output-bytes", opts.http.max_output_bytes,
                 "Unread API response bytes per connection before its requests wait")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 30));
  auto* restore = app.add_option("--restore-from", opts.restore_from,
                                 "Start from this snapshot state file instead of booting (with --mem-file or "
                                 "--mem-uffd-socket); the VM runs unless --restore-paused");
  auto* mem_file = app.add_option("--mem-file", opts.mem_file, "The snapshot's memory file (File backend)");
  auto* uffd = app.add_option("--mem-uffd-socket", opts.mem_uffd_socket,
                              "Socket of the page-fault handler serving the snapshot's memory (Uffd backend)");
  mem_file->needs(restore)->excludes(uffd);
  uffd->needs(restore);
  app.add_flag("--restore-paused", opts.restore_paused, "Leave the restored VM paused")->needs(restore);
  app.add_flag("--track-dirty-pages", opts.track_dirty_pages, "Track dirty pages in the restored VM (Diff snapshots)")
      ->needs(restore);
  app.add_option("--migrate-from", opts.migrate_from,
                 "Receive the microVM by live migration from unix:/path or tcp:HOST:PORT (listens there)")
      ->excludes(restore);
  app.add_flag("--show-level", opts.show_level, "Show the level in log lines");
  app.add_flag("--show-log-origin", opts.show_log_origin, "Show the source file and line in log lines");
  app.add_option("--module", opts.module, "Log only messages from this module (path prefix)");
  auto* no_seccomp = app.add_flag("--no-seccomp", opts.no_seccomp, "Run without the per-thread seccomp filters");
  app.add_option("--seccomp-filter", opts.seccomp_filter, "JSON seccomp policy to use instead of the built-in one")
      ->excludes(no_seccomp);
  app.add_option("--start-time-us", opts.start_time_us, "Process start time (wall clock, us), as the jailer passes it");
  app.add_option("--start-time-cpu-us", opts.start_time_cpu_us, "Process start CPU time (us); accepted, unused");
  app.add_option("--parent-cpu-time-us", opts.parent_cpu_time_us, "Parent process CPU time (us); accepted, unused");
  app.add_option("--mmds-size-limit", opts.mmds_size_limit,
                 "MMDS data store limit, in bytes (default: --http-api-max-payload-size)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 30));
  app.add_option("--metadata", opts.metadata, "A JSON file: the MMDS data store's initial contents");
  app.add_flag("--enable-pci", opts.enable_pci, "PCIe transport (not supported yet: refused)");
  app.add_option("--describe-snapshot", opts.describe_snapshot,
                 "Print a snapshot state file's format version and the Hearth version that wrote it");
  app.add_flag("--snapshot-version", opts.snapshot_version, "Print the snapshot format version this build writes");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (opts.snapshot_version) {
    std::printf("v%u\n", snapshot::kFormatVersion);
    return 0;
  }
  if (!opts.describe_snapshot.empty()) return describe_snapshot(opts.describe_snapshot);
  // A security or device request we cannot honour is refused, never silently dropped.
  if (opts.enable_pci) throw Error("--enable-pci: PCI devices are not supported yet");
  LoggerConfig logger;
  auto level = api::parse_log_level(opts.level);
  if (!level) throw Error(fmt::format("--level: unknown log level '{}'", opts.level));
  logger.level = *level;
  logger.show_level = opts.show_level;  // off by default, as Firecracker's
  logger.show_log_origin = opts.show_log_origin;
  if (!opts.module.empty()) logger.module = opts.module;
  if (!opts.log_path.empty()) logger.log_path = opts.log_path;
  configure_logging(logger, opts.id);
  seccomp::Settings seccomp_settings = seccomp::settings_from_flags(opts.no_seccomp, opts.seccomp_filter);
  seccomp_settings.builtin = &seccomp::precompiled_builtin_policy();
  seccomp::set_policy(seccomp_settings);
  metrics::global().counter("seccomp.num_faults");  // 0 in every line; the SIGSYS handler writes the 1
  if (!opts.migrate_from.empty()) {
    if (!opts.config_file.empty()) throw Error("--migrate-from and --config-file exclude each other");
    api::check_migration_url(opts.migrate_from, "--migrate-from");
  }
  if (!opts.restore_from.empty()) {
    if (!opts.config_file.empty()) throw Error("--restore-from and --config-file exclude each other");
    if (opts.mem_file.empty() && opts.mem_uffd_socket.empty()) {
      throw Error("--restore-from needs --mem-file or --mem-uffd-socket");
    }
  } else if (opts.no_api && opts.config_file.empty() && opts.migrate_from.empty()) {
    throw Error("--no-api requires --config-file, --restore-from or --migrate-from");
  }
  return run_vmm(opts);
}

}  // namespace
}  // namespace hearth

int main(int argc, char** argv) {
  hearth::ensure_standard_fds();
  ::pthread_setname_np(::pthread_self(), "fc_vmm");
  try {
    return hearth::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  }
}
