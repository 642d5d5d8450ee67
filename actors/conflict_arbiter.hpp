#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/arbitration_policy.hpp"
#include "actors/atoms.hpp"
#include "actors/debounce.hpp"
#include "actors/peers.hpp"
#include "actors/proto_inspect.hpp"
#include "proto/control.pb.h"
#include "proto/network.pb.h"

namespace roamd::actors {

/// The conflict-arbitration actor is the supervisor of the agent's other actors and the one place where conflicts
/// over the DNS settings are decided. As supervisor it spawns the children, monitors them and restarts a crashed one
/// with backoff (the data plane keeps answering meanwhile: it runs on a snapshot, not on actors). As arbiter it
/// coalesces adapter and settings events (debounce), asks the enforcer how the settings are now, lets the pure
/// arbitration_policy decide, carries the decision out through the enforcer and the router, and records it.
using conflict_arbiter_actor = caf::typed_actor<
  caf::reacts_to<proto::AdapterSnapshot>,                                  // from the adapter monitor
  caf::reacts_to<proto::SettingsChanged>,                                  // from the adapter monitor
  caf::reacts_to<decide_atom, uint64_t>,                                   // the debounce timer (generation)
  caf::reacts_to<retry_atom, uint64_t>,                                    // the yield backoff timer (generation)
  caf::reacts_to<bridge_atom, uint64_t>,                                   // a held bridge's end (generation)
  caf::reacts_to<links_atom>,                                              // the per-link settings poll
  caf::reacts_to<respawn_atom, uint32_t>,                                  // restart child N after its backoff
  caf::reacts_to<health_atom, std::string, bool>,                          // an upstream went down / came back
  caf::reacts_to<proto::NetworkVerdict>,                                   // network state: stand down / take over
  caf::replies_to<take_atom>::with<proto::EnforcerStatus>,                 // agent start: take over
  caf::replies_to<restore_atom>::with<proto::EnforcerStatus>,              // agent stop: everything back
  caf::replies_to<caf::get_atom, status_atom>::with<proto::ArbiterStatus>  // state, history, restarts
  >;

/// One supervised child: its role (where its handle is published) and how to spawn it afresh.
struct child_spec {
  peers::role role;
  std::function<caf::strong_actor_ptr(caf::actor_system&)> spawn;
};

struct conflict_arbiter_options {
  arbitration_options policy;
  std::chrono::milliseconds quiet{300};     // debounce: decide this long after a burst's last event ...
  std::chrono::milliseconds cap{3000};      // ... but at most this long after its first
  std::chrono::milliseconds restart_backoff{100};      // first restart delay, doubling per recent restart ...
  std::chrono::milliseconds restart_backoff_max{5000}; // ... up to this
  std::chrono::milliseconds restart_window{60000};     // restarts older than this no longer count
  std::chrono::milliseconds enforcer_timeout{30000};   // bound on each request to the enforcer
  size_t history = 64;                      // decisions kept for the inspection port
  bool bridge = true;                       // interception while a contest is being decided (if available)
  bool intercept_always = false;            // interception from takeover to restore, whatever the settings say
  // Re-read the per-link settings the backend's manager holds this often while protecting (0: only when deciding).
  // resolved signals no change of a link's domains and NetworkManager none of a device's DNS, and a VPN client sets
  // them after its link appeared, often after the burst was decided.
  std::chrono::milliseconds link_settings_poll{0};
  std::string listen;                       // the address roamd writes as the nameserver
  std::vector<std::string> own_addresses;   // roamd's endpoints ("IP:PORT"): never adopted
};

struct supervised_child {
  child_spec spec;
  caf::actor_addr addr;                     // of the running instance (null while waiting for a restart)
  uint32_t restarts = 0;
  std::deque<caf::actor_clock::time_point> recent;  // restart times within the window
};

struct conflict_arbiter_state {
  conflict_arbiter_options opts;
  std::shared_ptr<peers> directory;
  std::function<int64_t()> now_ms;
  std::vector<supervised_child> children;
  bool stopping = false;

  std::optional<arbitration_policy> policy;
  std::optional<debounce> burst;
  uint64_t decide_generation = 0;
  uint64_t retry_generation = 0;
  bool busy = false;        // a decision is being carried out
  bool again = false;       // a burst settled meanwhile: decide once more afterwards
  bool taken = false;       // the agent asked for protection (take) and has not asked for restore
  bool wanted = false;      // between the agent's take and its restore, whether taken or stood down
  bool stood_down = false;
  bool taking = false;      // a take is being carried out  // the network already protects (or is trusted): the user's settings are back
  std::string stand_down_reason;
  std::optional<proto::NetworkVerdict> pending_verdict;  // came while a decision was being carried out
  proto::AdapterSnapshot adapters;
  uint64_t links_signature = 0;
  std::string adopted_link;  // the link the adopted routes are bound to ("" when none or unbound)
  std::string learned_links;  // the per-link route set last sent (serialized), so an unchanged one is not sent again
  std::string learned_source;  // its name (the backend's)
  std::string claim;           // what a link claiming every name claimed at the last decision ("" when none)
  bool backend_has_links = false;  // the backend in force keeps per-link settings (as the enforcer last said)
  std::string backend;             // ... and its name
  std::vector<std::string> adopted_servers;  // the servers of the adopted routes
  std::set<std::string> dead_proxies;  // loopback resolvers upstream health marked down (a local proxy that stopped)
  bool bridging = false;     // interception is up only until the pending contest is decided ...
  bool bridge_proxy = false;      // ... or, put up for a competing local proxy, while its contests count
  uint64_t bridge_generation = 0;  // of the timer that ends a held bridge
  bool interception_available = false;     // as the enforcer last said
  proto::ResolverSettings original;        // the user's settings (their search domains are never adopted)
  proto::ArbiterStatus status;  // its state and reason are the headline: see publish_headline()
  std::string protection_state;   // what the arbiter holds: "protected by settings", "yielded", "stood down: ..."
  std::string protection_reason;
  std::string network_mode;       // "open" or "closed" while the network-state actor says the cloud does not answer
  std::string network_reason;

  static inline const char* name = "conflict_arbiter";
};

using conflict_arbiter_ptr = conflict_arbiter_actor::stateful_pointer<conflict_arbiter_state>;

/// A hash of the set of links (name, index, carrier): changes whenever a link appears, goes or loses carrier.
uint64_t links_signature(const proto::AdapterSnapshot& snap);

/// The routes learnt from foreign settings: each search domain to `servers`, and `servers` as NXDOMAIN fallback
/// of the default route, bound to `link` (when not ""), as source `source`.
proto::RouteUpdate adopted_routes(const std::string& source, const std::vector<std::string>& servers,
                                  const std::vector<std::string>& domains, const std::string& link);

/// Spawns `children` in order (publishing each in `directory`) and supervises them.
conflict_arbiter_actor::behavior_type conflict_arbiter(conflict_arbiter_ptr self, conflict_arbiter_options opts,
                                                       std::shared_ptr<peers> directory,
                                                       std::vector<child_spec> children,
                                                       std::function<int64_t()> now_ms);

} // namespace roamd::actors
