#pragma once

#include "proto/config.pb.h"

namespace roamd {

/// Runs the agent in the foreground until SIGINT or SIGTERM: opens the data plane, spawns the actors, serves.
/// Returns the process exit status: 0 after a clean stop, 1 when the data plane cannot start.
int run_agent(const proto::Config& cfg);

} // namespace roamd
