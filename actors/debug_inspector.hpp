#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/peers.hpp"
#include "actors/proto_inspect.hpp"
#include "net/query_ring.hpp"
#include "proto/config.pb.h"
#include "proto/inspect.pb.h"

namespace roamd::actors {

/// The debug actor answers the inspection port's read-only requests by asking the actor that knows (through the
/// peers directory, so a restarted actor is found under its new handle), each question bounded in time. It never
/// changes anything and holds no history itself: the arbiter keeps the event ring.
using debug_inspector_actor =
  caf::typed_actor<caf::replies_to<proto::InspectRequest>::with<proto::InspectResponse>>;

struct debug_inspector_options {
  std::string version;
  int64_t started_unix_ms = 0;
  proto::ConfigSummary config;
  std::chrono::milliseconds timeout{2000};            // bound on each question to another actor ...
  std::chrono::milliseconds settings_timeout{10000};  // ... but the enforcer's fresh look may run resolvconf -l
  std::shared_ptr<const net::query_ring> recent;      // the recent-queries ring (null: debug.recent_queries = 0)
  std::function<proto::DnstapStatus()> dnstap;         // the dnstap log's counters (empty: no dnstap log)
  std::function<std::optional<proto::DebugPortStatus>()> debug_port;  // the inspection port's counters (none: no port)
};

struct debug_inspector_state {
  debug_inspector_options opts;
  std::shared_ptr<peers> directory;
  std::function<int64_t()> now_ms;

  static inline const char* name = "debug_inspector";
};

using debug_inspector_ptr = debug_inspector_actor::stateful_pointer<debug_inspector_state>;

/// What the status answer shows of the configuration.
proto::ConfigSummary config_summary(const proto::Config& cfg);

/// The recent-queries answer: the newest `limit` entries of `ring` (0 = all), oldest first.
proto::RecentQueries to_proto(const net::query_ring& ring, uint32_t limit);

/// The error answer to request `id`.
proto::InspectResponse inspect_error(uint64_t id, proto::InspectError::Code code, std::string message);

debug_inspector_actor::behavior_type debug_inspector(debug_inspector_ptr self, debug_inspector_options opts,
                                                     std::shared_ptr<peers> directory,
                                                     std::function<int64_t()> now_ms);

/// Answers one request through `inspector` from a short-lived actor; `done` gets the answer, or an error after
/// `bound`, on a CAF thread. This is the debug port's request handler (the port itself knows no CAF).
using inspect_fn = std::function<void(const proto::InspectRequest&, std::function<void(proto::InspectResponse)>)>;
inspect_fn inspect_through(caf::actor_system& sys, debug_inspector_actor inspector, std::chrono::milliseconds bound);

} // namespace roamd::actors
