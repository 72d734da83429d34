#include "api/router.h"

#include "api/cpu_config.h"
#include "api/deferred_response.h"
#include "api/migration_json.h"
#include "api/mmds_json.h"

#include "vmm/config/device_kind.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "api/config_json.h"
#include "vmm/config/json_reader.h"
#include "vmm/base/error.h"

namespace hearth::api {
namespace {

// Host-supplied strings (paths from the command line) need not be UTF-8; never throw on them.
std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse fault_response(const Fault& f) {
  return HttpResponse{f.status, fault_body(f.message)};
}

HttpResponse respond(const Result<>& r) {
  return r.ok() ? HttpResponse{204, ""} : fault_response(r.fault());
}

template <typename T>
HttpResponse respond_json(const Result<T>& r) {
  return r.ok() ? HttpResponse{200, json_text(to_json(r.value()))} : fault_response(r.fault());
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    size_t start = path.find_first_not_of('/');
    if (start == std::string_view::npos) break;
    path.remove_prefix(start);
    size_t end = path.find('/');
    parts.push_back(path.substr(0, end));
    path.remove_prefix(end == std::string_view::npos ? path.size() : end);
  }
  return parts;
}

// Resources Firecracker has and Hearth does not serve yet.
constexpr std::string_view kNotYet[] = {"network-interfaces", "balloon", "vsock", "hotplug", "pmem"};

// Resources we serve, for per-resource metric names (user paths never become names).
constexpr std::string_view kKnown[] = {"",       "version", "boot-source", "machine-config",
                                       "drives", "actions", "vm",          "logger",
                                       "metrics", "serial",        "entropy", "snapshot", "migration",
                                       "cpu-config", "mmds"};

std::string metric_name(std::string_view method, std::string_view resource) {
  std::string name = fmt::format("api.{}_{}", method, resource.empty() ? "instance" : resource);
  for (char& c : name) {
    if (c == '-') c = '_';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return name;
}

}  // namespace

nlohmann::json to_json(const InstanceInfo& info) {
  return {{"id", info.id},
          {"state", info.state},
          {"vmm_version", info.vmm_version},
          {"app_name", info.app_name}};
}

Router::Router(Dispatch dispatch, metrics::Registry& registry)
    : dispatch_(std::move(dispatch)), registry_(registry) {}

Router::Dispatch Router::through(RequestQueue& queue) {
  return [&queue](const RequestQueue::Task& task) { return queue.run(task); };
}

Router::Dispatch Router::direct(Controller& controller) {
  return [&controller](const RequestQueue::Task& task) {
    task(controller);
    return true;
  };
}

template <typename F>
auto Router::call(F f) -> std::invoke_result_t<F, Controller&> {
  std::optional<std::invoke_result_t<F, Controller&>> result;
  if (!dispatch_([&](Controller& c) { result.emplace(f(c)); })) {
    return Fault{503, "the VMM is shutting down"};
  }
  return std::move(*result);
}

HttpResponse Router::handle(const HttpRequest& request) {
  std::vector<std::string_view> parts = split_path(request.path);
  std::string_view resource = parts.empty() ? std::string_view() : parts[0];
  // Method and path are untrusted: only known pairs become metric names.
  const std::string& m = request.method;
  bool known = (m == "GET" || m == "PUT" || m == "PATCH") &&
               (std::find(std::begin(kKnown), std::end(kKnown), resource) != std::end(kKnown) ||
                find_device_config_kind(resource) != nullptr);
  std::string name = known ? metric_name(request.method, resource) : "api.invalid";
  registry_.counter(name + ".count").add();
  HttpResponse response;
  try {
    response = route(request, resource);
  } catch (const Error& e) {
    response = fault_response(bad_request(e.what()));
  }
  if (response.status >= 400) registry_.counter(name + ".fails").add();
  return response;
}

namespace {

bool serves(std::span<const std::string_view> paths, std::string_view sub) {
  return std::find(paths.begin(), paths.end(), sub) != paths.end();
}

// /<name>[/<id>][/<sub>] of a registry kind: the sub-resource, or nullopt when the path is not one.
std::optional<std::string_view> device_sub(const DeviceConfigKind& kind, const std::vector<std::string_view>& parts) {
  const size_t base = kind.multi_instance() ? 2 : 1;
  if (parts.size() == base) return std::string_view();
  if (parts.size() == base + 1) return parts[base];
  // Deeper sub-resources ("hinting/start") are one view over the path's remaining segments.
  if (parts.size() > base + 1) {
    return std::string_view(parts[base].data(), static_cast<size_t>(parts.back().data() + parts.back().size() - parts[base].data()));
  }
  return std::nullopt;
}

std::vector<std::string_view> device_methods(const DeviceConfigKind& kind, const std::vector<std::string_view>& parts) {
  const auto sub = device_sub(kind, parts);
  if (!sub) return {};
  std::vector<std::string_view> methods;
  if (serves(kind.get_paths, *sub)) methods.push_back("GET");
  if (sub->empty()) methods.push_back("PUT");
  if (serves(kind.patch_paths, *sub)) methods.push_back("PATCH");
  return methods;
}

}  // namespace

// Methods served on a path; empty when there is no such resource (404 rather than 405).
std::vector<std::string_view> methods_for(const std::vector<std::string_view>& parts) {
  if (parts.empty()) return {"GET"};
  const std::string_view r = parts[0];
  if (parts.size() == 1) {
    if (r == "version") return {"GET"};
    if (r == "boot-source" || r == "actions" || r == "logger" || r == "serial" || r == "cpu-config") return {"PUT"};
    if (r == "machine-config") return {"GET", "PUT", "PATCH"};
    if (r == "vm") return {"PATCH"};
    if (r == "metrics") return {"GET", "PUT"};
    if (r == "mmds") return {"GET", "PUT", "PATCH"};
  }
  if (parts.size() == 2 && r == "mmds" && parts[1] == "config") return {"PUT"};
  if (const DeviceConfigKind* kind = find_device_config_kind(r)) return device_methods(*kind, parts);
  if (parts.size() == 2 && r == "drives") return {"PUT", "PATCH"};
  if (parts.size() == 2 && r == "vm" && parts[1] == "config") return {"GET"};
  if (parts.size() == 2 && r == "snapshot" && (parts[1] == "create" || parts[1] == "load")) return {"PUT"};
  if (parts.size() == 1 && r == "migration") return {"GET"};
  if (parts.size() == 2 && r == "migration" && (parts[1] == "send" || parts[1] == "receive")) return {"PUT"};
  return {};
}

// GET /migration, PUT /migration/receive, and PUT /migration/send, which answers when the migration ends.
HttpResponse Router::route_migration(const HttpRequest& request, const std::vector<std::string_view>& parts) {
  const std::string& method = request.method;
  if (parts.size() == 1 && method == "GET") {
    return respond_json(call([](Controller& c) { return c.migration_status(); }));
  }
  if (parts.size() == 2 && method == "PUT" && parts[1] == "receive") {
    MigrationReceiveRequest req = parse_migration_receive(parse_json(*request.body, "migration/receive"));
    return respond(call([&](Controller& c) { return c.migrate_receive(req); }));
  }
  if (parts.size() == 2 && method == "PUT" && parts[1] == "send") {
    MigrationSendRequest req = parse_migration_send(parse_json(*request.body, "migration/send"));
    auto deferred = std::make_shared<DeferredResponse>();
    Result<> started = call([&](Controller& c) {
      return c.migrate_send(req, [deferred](Result<> r) { deferred->complete(respond(r)); });
    });
    if (!started.ok()) return fault_response(started.fault());
    HttpResponse pending;
    pending.deferred = deferred;
    return pending;
  }
  const auto allowed = methods_for(parts);
  return fault_response(Fault{allowed.empty() ? 404 : 405,
                              fmt::format("Invalid request method and/or path: {} {}.{}", method, request.path,
                                          allowed.empty() ? "" : fmt::format(" Allowed methods: {}.", fmt::join(allowed, ", ")))});
}

// PUT, PATCH and GET of a registry kind; nullopt when the method and path are not served.
std::optional<HttpResponse> Router::route_device(const DeviceConfigKind& kind, const HttpRequest& request,
                                                 const std::vector<std::string_view>& parts) {
  const std::string& method = request.method;
  const auto sub = device_sub(kind, parts);
  if (!sub) return std::nullopt;
  const std::string_view id = kind.multi_instance() ? parts[1] : std::string_view();
  // Validated here, as every other body is, so a bad one is a 400 without a trip to the VMM thread.
  auto checked_body = [&](const nlohmann::json& body, std::string_view context) {
    if (kind.multi_instance() && body.is_object() && body.contains(std::string(kind.id_field)) &&
        device_instance_id(kind, body) != id) {
      throw Error(fmt::format("{}: {} '{}' in the body does not match '{}' in the path", context, kind.id_field,
                              device_instance_id(kind, body), id));
    }
  };
  if (method == "PUT" && sub->empty()) {
    const nlohmann::json body = parse_json(*request.body, kind.name);
    nlohmann::json section = kind.validate(body, kind.name);
    checked_body(section, kind.name);
    return respond(call([&](Controller& c) { return c.put_device_section(kind.name, section); }));
  }
  if (method == "PATCH" && serves(kind.patch_paths, *sub) && kind.validate_patch != nullptr) {
    const std::string context = sub->empty() ? std::string(kind.name) : fmt::format("{}/{}", kind.name, *sub);
    const nlohmann::json body = parse_json(*request.body, context);
    checked_body(body, context);
    nlohmann::json patch = kind.validate_patch(*sub, body, context);
    return respond(call([&](Controller& c) { return c.patch_device(kind.name, id, *sub, patch); }));
  }
  if (method == "GET" && serves(kind.get_paths, *sub)) {
    Result<nlohmann::json> r = call([&](Controller& c) { return c.get_device(kind.name, id, *sub); });
    if (!r.ok()) return fault_response(r.fault());
    return HttpResponse{200, json_text(r.value())};
  }
  return std::nullopt;
}

HttpResponse Router::route(const HttpRequest& request, std::string_view resource) {
  const std::string& method = request.method;
  std::vector<std::string_view> parts = split_path(request.path);
  // Firecracker's wording; the status tells a missing resource (404) from a wrong method (405).
  auto invalid = [&] {
    const auto allowed = methods_for(parts);
    std::string message = fmt::format("Invalid request method and/or path: {} {}.", method, request.path);
    if (!allowed.empty()) message += fmt::format(" Allowed methods: {}.", fmt::join(allowed, ", "));
    return fault_response(Fault{allowed.empty() ? 404 : 405, message});
  };
  for (std::string_view r : kNotYet) {
    if (resource == r && find_device_config_kind(r) == nullptr) return fault_response(bad_request(fmt::format("{} is not supported yet", r)));
  }
  if (method == "GET" && request.body) {
    return fault_response(bad_request("GET request cannot have a body."));
  }
  if ((method == "PUT" || method == "PATCH") && !request.body) {
    return fault_response(bad_request(fmt::format("Empty {} request.", method)));
  }
  size_t depth = parts.size();
  auto body = [&](std::string_view context) {
    return parse_json(*request.body, context);
  };

  if (depth <= 1 && method == "GET" && (resource.empty() || resource == "version")) {
    auto info = call([](Controller& c) { return c.describe_instance(); });
    if (!info.ok()) return fault_response(info.fault());
    if (resource.empty()) return respond_json(info);
    return HttpResponse{200, json_text({{"firecracker_version", info.value().vmm_version}})};
  }
  if (resource == "boot-source" && depth == 1 && method == "PUT") {
    BootSourceConfig b = parse_boot_source(body("boot-source"));
    return respond(call([&](Controller& c) { return c.put_boot_source(b); }));
  }
  if (resource == "mmds" && depth == 1) {
    if (method == "GET") {
      Result<nlohmann::json> r = call([](Controller& c) { return c.get_mmds(); });
      return r.ok() ? HttpResponse{200, json_text(r.value())} : fault_response(r.fault());
    }
    if (method == "PUT" || method == "PATCH") {
      nlohmann::json data = parse_mmds_contents(*request.body, "mmds");
      if (method == "PUT") return respond(call([&](Controller& c) { return c.put_mmds(data); }));
      return respond(call([&](Controller& c) { return c.patch_mmds(data); }));
    }
  }
  if (resource == "mmds" && depth == 2 && parts[1] == "config" && method == "PUT") {
    MmdsConfigSpec config = parse_mmds_config(body("mmds/config"), "mmds/config");
    return respond(call([&](Controller& c) { return c.put_mmds_config(config); }));
  }
  if (resource == "cpu-config" && depth == 1 && method == "PUT") {
    CustomCpuTemplate t = parse_cpu_config(body("cpu-config"));
    return respond(call([&](Controller& c) { return c.put_cpu_config(t); }));
  }
  if (resource == "machine-config" && depth == 1) {
    if (method == "GET") return respond_json(call([](Controller& c) { return c.get_machine_config(); }));
    if (method == "PUT") {
      MachineConfig m = parse_machine_config(body("machine-config"));
      return respond(call([&](Controller& c) { return c.put_machine_config(m); }));
    }
    if (method == "PATCH") {
      MachineConfigPatch p = parse_machine_config_patch(body("machine-config"));
      return respond(call([&](Controller& c) { return c.patch_machine_config(p); }));
    }
  }
  if (resource == "drives" && depth == 2 && (method == "PUT" || method == "PATCH")) {
    std::string_view id = parts[1];
    validate_drive_id(id, "drive: the drive_id in the path");
    auto check_id = [&](const std::string& body_id) {
      if (body_id != id) {
        throw Error(fmt::format("drive: drive_id '{}' in the body does not match '{}' in the path",
                                body_id, id));
      }
    };
    if (method == "PUT") {
      DriveConfig d = parse_drive(body("drive"));
      check_id(d.drive_id);
      return respond(call([&](Controller& c) { return c.put_drive(d); }));
    }
    DrivePatch p = parse_drive_patch(body("drive"));
    check_id(p.drive_id);
    return respond(call([&](Controller& c) { return c.patch_drive(p); }));
  }
  if (resource == "actions" && depth == 1 && method == "PUT") {
    nlohmann::json j = body("actions");
    ObjectReader r(j, "actions", {"action_type"});
    std::string action = r.string("action_type");
    if (action == "InstanceStart") return respond(call([](Controller& c) { return c.instance_start(); }));
    if (action == "SendCtrlAltDel") return respond(call([](Controller& c) { return c.send_ctrl_alt_del(); }));
    if (action == "FlushMetrics") return respond(call([](Controller& c) { return c.flush_metrics(); }));
    r.fail("action_type", fmt::format("must be one of \"InstanceStart\", \"SendCtrlAltDel\", "
                                      "\"FlushMetrics\", got \"{}\"", action));
  }
  if (resource == "vm" && depth == 1 && method == "PATCH") {
    nlohmann::json j = body("vm");
    ObjectReader r(j, "vm", {"state"});
    std::string state = r.string("state");
    if (state == "Paused") return respond(call([](Controller& c) { return c.pause(); }));
    if (state == "Resumed") return respond(call([](Controller& c) { return c.resume(); }));
    r.fail("state", fmt::format("must be one of \"Paused\", \"Resumed\", got \"{}\"", state));
  }
  if (resource == "vm" && depth == 2 && parts[1] == "config" && method == "GET") {
    return respond_json(call([](Controller& c) { return c.get_vm_config(); }));
  }
  if (resource == "snapshot" && depth == 2 && method == "PUT") {
    if (parts[1] == "create") {
      SnapshotCreateRequest req = parse_snapshot_create(body("snapshot/create"));
      return respond(call([&](Controller& c) { return c.create_snapshot(req); }));
    }
    if (parts[1] == "load") {
      SnapshotLoadRequest req = parse_snapshot_load(body("snapshot/load"));
      return respond(call([&](Controller& c) { return c.load_snapshot(req); }));
    }
  }
  if (resource == "migration") return route_migration(request, parts);
  if (resource == "logger" && depth == 1 && method == "PUT") {
    LoggerConfig l = parse_logger(body("logger"));
    return respond(call([&](Controller& c) { return c.put_logger(l); }));
  }
  if (resource == "metrics" && depth == 1) {
    if (method == "PUT") {
      MetricsConfig m = parse_metrics(body("metrics"));
      return respond(call([&](Controller& c) { return c.put_metrics(m); }));
    }
    // Counters are atomics: rendering them needs nothing from the VMM thread.
    if (method == "GET") {
      return HttpResponse{200, registry_.render_prometheus(), "text/plain; version=0.0.4"};
    }
  }
  if (const DeviceConfigKind* kind = find_device_config_kind(resource)) {
    if (auto response = route_device(*kind, request, parts)) return std::move(*response);
  }
  if (resource == "serial" && depth == 1 && method == "PUT") {
    nlohmann::json j = body("serial");
    ObjectReader r(j, "serial", {"serial_out_path", "rate_limiter"});
    // As Firecracker: without serial_out_path the output stays on stdout.
    SerialConfig s{r.opt_nonempty_string("serial_out_path").value_or("")};
    if (const auto* rl = r.get("rate_limiter")) {
      // As in Firecracker, a bucket with size or refill_time 0 limits nothing; a real limit is refused.
      const TokenBucketConfig bucket = parse_token_bucket(*rl, r.path("rate_limiter"));
      if (bucket.size != 0 && bucket.refill_time_ms != 0) {
        r.fail("rate_limiter", "rate-limiting serial output is not supported yet");
      }
    }
    return respond(call([&](Controller& c) { return c.put_serial(s); }));
  }
  return invalid();
}

}  // namespace hearth::api
