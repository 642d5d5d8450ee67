#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/network_policy.hpp"
#include "actors/peers.hpp"
#include "actors/proto_inspect.hpp"
#include "actors/upstream_io.hpp"
#include "net/upstream.hpp"
#include "proto/cloud.pb.h"
#include "proto/control.pb.h"
#include "proto/network.pb.h"

namespace roamd::actors {

/// The network-state actor detects where the device is: it probes the cloud's resolvers (the data plane's ". NS"
/// probes) and looks the trusted domain and the protected-network probe name up through the network's own
/// resolvers, lets network_policy decide, and carries each change out: fail-open or fail-closed through the
/// router (proto::CloudReachability), standing down or taking over again through the arbiter
/// (proto::NetworkVerdict, also recorded there as an event).
using network_state_actor = caf::typed_actor<
  caf::reacts_to<proto::Policy>,                                           // the cloud's policy in force
  caf::reacts_to<proto::AdapterSnapshot>,                                  // the set of links changed: probe now
  caf::reacts_to<proto::RouteUpdate>,                                      // learned routes changed (peers)
  caf::reacts_to<health_atom, std::string, bool>,                          // an upstream went down / came back
  caf::reacts_to<round_atom, uint64_t>,                                    // timer: start a round (generation)
  caf::reacts_to<result_atom, uint64_t, proto::NetworkProbe>,              // one probe of round N came back
  caf::reacts_to<decide_atom, uint64_t>,                                   // round N's deadline
  caf::replies_to<caf::get_atom, status_atom>::with<proto::NetworkStatus>  // for roamctl status and metrics
  >;

/// Looks `name` up through the network's own `resolvers`; `done` runs once, on any thread.
using local_lookup_fn = std::function<void(const std::string& name, const std::vector<std::string>& resolvers,
                                           std::function<void(lookup_outcome)> done)>;

struct network_state_deps {
  std::shared_ptr<peers> directory;
  std::shared_ptr<net::upstream_registry> registry;  // the cloud resolvers' upstream ids (shared with the routes)
  probe_fn probe;                                    // a data-plane probe of one upstream
  local_lookup_fn lookup;
  std::function<int64_t()> now_ms;                   // Unix time for the status
};

struct network_state_options {
  network_settings settings;                       // from the configuration; a policy goes on top
  std::chrono::milliseconds round_deadline{5000};  // a round's probes that have not come back by then failed
  // A round started because the data plane marked one cloud resolver down while another was not: the others must
  // answer within this, or the cloud counts as gone (real queries failed, and no other resolver answers quickly).
  std::chrono::milliseconds quick_deadline{500};
  std::chrono::milliseconds router_timeout{2000};  // asking the router where to probe
};

struct network_state_state {
  network_state_options opts;
  network_state_deps deps;
  std::optional<network_policy> policy;
  uint64_t timer = 0;      // generation of the armed round timer
  uint64_t round = 0;      // the latest round started
  bool in_flight = false;
  bool again = false;      // a round was asked for while one ran
  bool quick = false;      // the round in flight (or the next one) has the quick deadline
  size_t expected = 0;
  std::vector<proto::NetworkProbe> results;
  proto::NetworkTargets targets;
  std::vector<std::string> locals;   // the network's own resolvers, as last known
  std::set<std::string> cloud_down;  // cloud resolvers the data plane's counters say are down
  // NXDOMAIN rewriting: the local resolvers the last conclusive "nxdomain" probe asked (empty: probe them, the
  // network changed), and what it found. A probe in flight asks `locals` (they change only when a round starts).
  std::vector<std::string> nx_probed;
  bool rewriting = false;
  proto::NetworkStatus status;

  static inline const char* name = "network_state";
};

using network_state_ptr = network_state_actor::stateful_pointer<network_state_state>;

network_state_actor::behavior_type network_state(network_state_ptr self, network_state_options opts,
                                                 network_state_deps deps);

} // namespace roamd::actors
