#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace roamd::actors {

/// Coalesces a burst of events (a VPN connect is a new link, addresses, routes and one or two resolv.conf writes;
/// a storm is dozens of rewrites) into one decision: the decision is due `quiet` after the latest event, but never
/// later than `cap` after the first event of the burst, so a never-ending storm still gets decided. Pure: the owner
/// feeds events and timer ticks with the time, and arms its own timer for `deadline()`.
class debounce {
public:
  using clock = std::chrono::steady_clock;
  using duration = clock::duration;
  using time_point = clock::time_point;

  debounce(duration quiet, duration cap) : quiet_(quiet), cap_(cap < quiet ? quiet : cap) {
  }

  /// An event at `now`. Returns the (possibly moved) deadline of the decision.
  time_point on_event(time_point now);

  /// A timer fired at `now`: true (and the burst is closed) when the decision is due; false for a stale timer.
  bool fire(time_point now);

  /// When the pending decision is due; nullopt when no burst is open.
  std::optional<time_point> deadline() const;

  /// Events in the open burst (0 when none), and in the last closed one.
  uint32_t events() const {
    return events_;
  }
  uint32_t last_burst() const {
    return last_burst_;
  }

private:
  duration quiet_;
  duration cap_;
  std::optional<time_point> first_;
  time_point last_{};
  uint32_t events_ = 0;
  uint32_t last_burst_ = 0;
};

} // namespace roamd::actors
