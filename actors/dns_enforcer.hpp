#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/atoms.hpp"
#include "actors/proto_inspect.hpp"
#include "actors/peers.hpp"
#include "os/firewall.hpp"
#include "os/takeover.hpp"
#include "os/system_lookup.hpp"
#include "proto/control.pb.h"
#include "proto/journal.pb.h"

namespace roamd::actors {

/// The DNS-enforcement actor executes what the arbiter decides, through the os backends and the journals: takeover,
/// restore and re-assert of the system's resolver settings, and port-53 interception with nftables. It verifies each
/// takeover and each interception with a canary lookup through the system resolver, and reports what it did and
/// what the settings are now. It decides nothing about conflicts.
using dns_enforcer_actor = caf::typed_actor<
  caf::replies_to<take_atom>::with<proto::EnforcerStatus>,                 // recover a journal, then take over
  caf::replies_to<restore_atom>::with<proto::EnforcerStatus>,              // interception off, originals back
  caf::replies_to<reassert_atom>::with<proto::EnforcerStatus>,             // write roamd's settings again
  caf::replies_to<rebase_atom>::with<proto::EnforcerStatus>,               // theirs are the new original; retake
  caf::replies_to<rebase_atom, bool>::with<proto::EnforcerStatus>,         // ... false: only record it
  caf::replies_to<intercept_atom>::with<proto::EnforcerStatus>,            // redirect port 53 (verified)
  caf::replies_to<release_atom>::with<proto::EnforcerStatus>,              // interception off
  caf::reacts_to<proto::SettingsChanged>,                                  // the watcher saw the file change
  caf::reacts_to<canary_atom, uint64_t, bool, std::string>,                // a canary lookup finished
  caf::replies_to<caf::get_atom, status_atom>::with<proto::EnforcerStatus>, // what is in force now
  caf::replies_to<caf::get_atom, settings_atom>::with<proto::EnforcerStatus> // ... plus the settings as they are
  >;

struct dns_enforcer_options {
  std::string mode = "auto";   // config system.mode
  os::system_paths paths;
  std::string state_dir = "/var/lib/roamd";
  std::string listen;          // the IP address written as the nameserver ("" = cannot take over)
  std::vector<std::string> own_addresses;  // roamd's listen endpoints: never learnt as resolvers (a loop)
  std::chrono::milliseconds canary_timeout{5000};
  os::interception_plan interception;  // where intercepted port-53 traffic goes (empty targets: none possible)
  std::string interception_unavailable;  // why interception cannot work here ("" when it can)
};

/// The enforcer's collaborators, given at spawn (real ones in the agent, fakes in tests).
struct dns_enforcer_deps {
  std::shared_ptr<os::file_system> fs;
  std::shared_ptr<os::command_runner> cmd;
  os::system_lookup_fn lookup;
  std::function<int64_t()> now_ms;
  std::shared_ptr<peers> directory;  // the router gets the recorded original settings as routes (may be null)
  std::shared_ptr<os::interception_guard> interception;  // null: interception impossible
};

struct dns_enforcer_state {
  dns_enforcer_options opts;
  dns_enforcer_deps deps;
  std::shared_ptr<os::journal_store> store;
  std::unique_ptr<os::takeover_engine> engine;
  std::optional<proto::Journal> active;     // the takeover in force
  proto::EnforcerStatus status;
  uint64_t canary_nonce = 0;
  std::optional<caf::typed_response_promise<proto::EnforcerStatus>> pending;  // a take waiting for its canary
  bool canary_for_interception = false;     // the pending canary verifies interception, not a takeover

  static inline const char* name = "dns_enforcer";
};

using dns_enforcer_ptr = dns_enforcer_actor::stateful_pointer<dns_enforcer_state>;

/// The routes the recorded original settings give: each search domain to the original nameservers, and the
/// original nameservers as NXDOMAIN fallback of the cloud route. roamd's own addresses are left out.
proto::RouteUpdate original_routes(const proto::ResolverSettings& original,
                                   const std::vector<std::string>& own_addresses);

dns_enforcer_actor::behavior_type dns_enforcer(dns_enforcer_ptr self, dns_enforcer_options opts,
                                               dns_enforcer_deps deps);

} // namespace roamd::actors
