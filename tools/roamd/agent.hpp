#pragma once

#include "proto/config.pb.h"

namespace roamd {

/// Runs the agent in the foreground until SIGINT or SIGTERM: opens the data plane, spawns the actors, serves.
/// Returns the process exit status: 0 after a clean stop, 1 when the data plane cannot start.
int run_agent(const proto::Config& cfg);

/// `roamd --restore`: puts back the system's resolver settings recorded in the takeover journal (state_dir), if any.
/// Returns 0 after restoring or when there is nothing to restore, 1 when the journal is damaged or a file could not
/// be put back (the journal then stays).
int run_restore(const proto::Config& cfg);

} // namespace roamd
