#pragma once

// Deterministic actor tests: an actor system on CAF's test coordinator (no threads, virtual time).

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

namespace roamd::test {

struct test_system {
  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      c.set("scheduler.policy", caf::atom("testing"));
      c.set("logger.verbosity", caf::atom("quiet"));
      return c;
    }();
    return cfg;
  }

  caf::actor_system sys{config()};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  /// The state of a stateful typed actor, for assertions.
  template <class State, class Handle>
  State& state_of(const Handle& h) {
    using impl = caf::stateful_actor<State, typename Handle::base>;
    return dynamic_cast<impl&>(*caf::actor_cast<caf::abstract_actor*>(h)).state;
  }
};

} // namespace roamd::test
