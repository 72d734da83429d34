#pragma once
// The VM's metadata service: the data store, its configuration (PUT /mmds/config), the V2 session
// tokens, and the HTTP semantics shared by every MMDS-enabled interface. One per VM, owned by the VMM
// and shared with the net devices' stacks. Thread-safe: the API thread edits the store while the VMM
// thread answers the guest.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "virtio/net/mmds/data_store.h"
#include "virtio/net/mmds/http.h"
#include "virtio/net/mmds/stack.h"
#include "virtio/net/mmds/token.h"
#include "vmm/config/mmds.h"
#include "vmm/metrics/registry.h"

namespace hearth::virtio::net::mmds {

enum class Version { V1, V2 };

struct MmdsConfig {
  Version version = Version::V1;
  std::vector<std::string> network_interfaces;
  Ipv4 ipv4_address{169, 254, 169, 254};
  bool imds_compat = false;  // text/plain whatever the Accept header says
};

// The validated API form (vmm/config/mmds.h) as the service runs it.
MmdsConfig mmds_config_from(const MmdsConfigSpec& spec);

// Firecracker's "mmds" metrics group, shared by every interface's stack.
struct MmdsCounters {
  explicit MmdsCounters(metrics::Registry& registry);
  metrics::Counter& rx_accepted;          // frames for MMDS taken from the guest
  metrics::Counter& rx_accepted_err;      // of those, malformed (dropped)
  metrics::Counter& rx_count;             // HTTP requests answered
  metrics::Counter& rx_invalid_token;     // V2 GETs with a wrong or expired token
  metrics::Counter& rx_no_token;          // V2 GETs without one
  metrics::Counter& tx_frames;            // frames queued for the guest
  metrics::Counter& tx_errors;            // frames dropped: the guest was not reading
  metrics::Counter& connections_created;
  metrics::Counter& connections_destroyed;
};

class Service : public std::enable_shared_from_this<Service> {
 public:
  static constexpr size_t kDefaultSizeLimit = 51200;  // Firecracker's --mmds-size-limit default

  explicit Service(size_t size_limit = kDefaultSizeLimit, metrics::Registry& registry = metrics::global());
  MmdsCounters& counters() { return counters_; }

  // The configuration (pre-boot); the interface ids are checked by the caller.
  void set_config(MmdsConfig config);
  MmdsConfig config() const;
  bool configured() const;  // PUT /mmds/config happened

  // A stack for one interface, or null when the interface is not in network_interfaces.
  // The Service must be owned by a shared_ptr.
  std::unique_ptr<Stack> make_stack(std::string_view iface_id, Mac guest_mac);

  // The data store (API side). put/patch throw DataStoreError (too large, not an object).
  void put(nlohmann::json data);
  void patch(const nlohmann::json& merge_patch);  // RFC 7396
  nlohmann::json get() const;
  size_t size_limit() const { return store_.size_limit(); }

  // One complete HTTP request from the guest, answered (the stack's job ends at bytes).
  HttpResponse handle(const HttpRequest& request, Clock::time_point now);

 private:
  mutable std::mutex mutex_;
  MmdsConfig config_;
  bool configured_ = false;
  DataStore store_;
  TokenAuthority tokens_;
  MmdsCounters counters_;
};

}  // namespace hearth::virtio::net::mmds
