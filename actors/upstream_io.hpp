#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/proto_inspect.hpp"
#include "actors/upstream_health.hpp"
#include "net/stats.hpp"
#include "net/upstream.hpp"
#include "proto/control.pb.h"

namespace roamd::actors {

/// The upstream-I/O actor owns upstream health: it reads the data plane's counter batches and probe results, marks
/// upstreams up or down (the data plane then tries the healthy ones first), schedules probes, and keeps totals.
using upstream_io_actor = caf::typed_actor<
  caf::reacts_to<proto::StatsBatch>,                                            // a data-plane counter batch
  caf::reacts_to<proto::ProbeResult>,                                           // a probe came back
  caf::reacts_to<probe_atom>,                                                   // timer: send due probes
  caf::replies_to<caf::get_atom, health_atom>::with<proto::UpstreamHealthList>, // health of every upstream
  caf::replies_to<caf::get_atom, totals_atom>::with<proto::StatsBatch>          // counters since start
  >;

/// Asks the data plane to probe one upstream; the callback may run on any thread.
using probe_fn = std::function<void(uint32_t id, std::function<void(proto::ProbeResult)> done)>;

struct upstream_io_options {
  uint32_t down_after = 3;
  uint32_t probe_interval_ms = 2000;
  /// Told whenever an upstream goes down or comes back ("IP:PORT" without the link, up or not), e.g. so that the
  /// arbiter can forget a local proxy that stopped answering. May be empty.
  std::function<void(const std::string& address, bool up)> on_change;
};

struct upstream_io_state {
  std::shared_ptr<net::upstream_registry> registry;
  probe_fn probe;
  std::unique_ptr<upstream_health> health;
  std::chrono::milliseconds tick{2000};
  proto::StatsBatch totals;
  std::function<void(const std::string&, bool)> on_change;

  static inline const char* name = "upstream_io";
};

using upstream_io_ptr = upstream_io_actor::stateful_pointer<upstream_io_state>;

/// Converts one data-plane counter batch into its message form (runs on the data-plane thread, every ~100 ms).
proto::StatsBatch to_proto(const net::worker_stats& s);

upstream_io_actor::behavior_type upstream_io(upstream_io_ptr self, upstream_io_options opts,
                                             std::shared_ptr<net::upstream_registry> registry, probe_fn probe);

} // namespace roamd::actors
