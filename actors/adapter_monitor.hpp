#pragma once

#include <memory>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/peers.hpp"
#include "actors/proto_inspect.hpp"
#include "actors/query_router.hpp"
#include "os/link_monitor.hpp"
#include "os/resolv_conf.hpp"
#include "os/settings_watcher.hpp"
#include "proto/control.pb.h"

namespace roamd::actors {

/// The adapter-monitoring actor turns the link monitor's kernel view and the settings watcher's file events into
/// protobuf messages: every adapter snapshot goes to the query router (routes follow links), every change of the
/// resolver settings goes to the enforcer.
using adapter_monitor_actor = caf::typed_actor<
  caf::reacts_to<proto::AdapterSnapshot>,                                   // from the link monitor's thread
  caf::reacts_to<proto::SettingsChanged>,                                   // from the watcher's thread
  caf::replies_to<caf::get_atom, adapters_atom>::with<proto::AdapterSnapshot> // the latest snapshot
  >;

/// What the adapter monitor sends the conflict arbiter (a subset of its interface).
using arbiter_inbox = caf::typed_actor<caf::reacts_to<proto::AdapterSnapshot>, caf::reacts_to<proto::SettingsChanged>>;

struct adapter_monitor_state {
  std::shared_ptr<os::link_monitor> links;
  std::shared_ptr<os::settings_watcher> watcher;
  std::shared_ptr<peers> directory;
  proto::AdapterSnapshot latest;
  uint64_t settings_changes = 0;

  static inline const char* name = "adapter_monitor";
};

using adapter_monitor_ptr = adapter_monitor_actor::stateful_pointer<adapter_monitor_state>;

/// The message for a settings event: parsed before/after, the owner now, whether it carries roamd's marker, hashes.
proto::SettingsChanged to_proto(const os::settings_event& e, int64_t unix_ms);

/// Starts `links` and, when given, `watcher` on `resolv_conf`; both stop when the actor ends. Snapshots go to the
/// router and the arbiter, settings changes to the enforcer and the arbiter, whichever `directory` names now.
adapter_monitor_actor::behavior_type adapter_monitor(adapter_monitor_ptr self, std::shared_ptr<os::link_monitor> links,
                                                     std::shared_ptr<os::settings_watcher> watcher,
                                                     std::string resolv_conf, std::shared_ptr<peers> directory);

} // namespace roamd::actors
