#pragma once
// Turns one HTTP request into a typed Controller call and its result into Firecracker's response:
// 204 for a successful PUT/PATCH, 200 + JSON for a GET, 400 {"fault_message": ...} otherwise.
// Bodies are parsed and validated here, on the API thread, before anything reaches the VMM.
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "api/http_parser.h"
#include "api/request_queue.h"
#include "vmm/config/device_kind.h"
#include "vmm/metrics/registry.h"

namespace hearth::api {

class Router {
 public:
  // Runs a task against the controller and waits; false when it could not run (shutting down).
  using Dispatch = std::function<bool(const RequestQueue::Task&)>;

  explicit Router(Dispatch dispatch, metrics::Registry& registry = metrics::global());

  // Through the VMM thread (production).
  static Dispatch through(RequestQueue& queue);
  // On the calling thread (tests, fuzzing).
  static Dispatch direct(Controller& controller);

  HttpResponse handle(const HttpRequest& request);

 private:
  template <typename F>
  auto call(F f) -> std::invoke_result_t<F, Controller&>;
  HttpResponse route(const HttpRequest& request, std::string_view resource);
  std::optional<HttpResponse> route_device(const DeviceConfigKind& kind, const HttpRequest& request,
                                          const std::vector<std::string_view>& parts);
  HttpResponse route_migration(const HttpRequest& request, const std::vector<std::string_view>& parts);

  Dispatch dispatch_;
  metrics::Registry& registry_;
};

// The JSON of GET / (Firecracker's InstanceInfo).
nlohmann::json to_json(const InstanceInfo& info);

}  // namespace hearth::api
