#pragma once

#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "actors/peers.hpp"
#include "net/query_ring.hpp"
#include "proto/config.pb.h"
#include "proto/inspect.pb.h"

namespace roamd {

/// The inspection port and the metrics endpoint ([debug]) and the debug actor behind them, for as long as the
/// object lives. Each runs on its own thread; the actor is not supervised (it holds no state worth restoring: a
/// dead one answers UNAVAILABLE, and the metrics leave its part out).
class inspection {
public:
  virtual ~inspection() = default;
};

/// Starts the debug actor with the port when [debug] enabled and with the metrics endpoint when [debug] metrics is
/// set (independently); null when neither is configured or neither can open (the reason is logged: DNS service does
/// not depend on inspection). Destroy it before the actor system.
std::unique_ptr<inspection> start_inspection(caf::actor_system& sys, const proto::Config& cfg,
                                             std::shared_ptr<actors::peers> directory, int64_t started_unix_ms,
                                             std::shared_ptr<const net::query_ring> recent,
                                             std::function<proto::DnstapStatus()> dnstap);

} // namespace roamd
