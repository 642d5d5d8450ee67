#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/peers.hpp"
#include "net/query_ring.hpp"
#include "proto/config.pb.h"

namespace roamd {

/// The inspection port ([debug]) and the debug actor behind it, for as long as the object lives. The port runs on
/// its own thread; the actor is not supervised (it holds no state worth restoring: a dead one answers UNAVAILABLE).
class inspection {
public:
  virtual ~inspection() = default;
};

/// Starts the debug actor and the port when [debug] enabled; null when disabled or when the port cannot open (the
/// reason is logged: DNS service does not depend on inspection). Destroy it before the actor system.
std::unique_ptr<inspection> start_inspection(caf::actor_system& sys, const proto::Config& cfg,
                                             std::shared_ptr<actors::peers> directory, int64_t started_unix_ms,
                                             std::shared_ptr<const net::query_ring> recent);

} // namespace roamd
