// The debounce policy: one decision per burst, after a quiet period, capped for endless storms.
#include <gtest/gtest.h>

#include "actors/debounce.hpp"

using namespace roamd::actors;
using namespace std::chrono_literals;

namespace {

const debounce::time_point t0{};

TEST(debounce, a_single_event_is_decided_after_the_quiet_period) {
  debounce d{300ms, 3s};
  EXPECT_FALSE(d.deadline());
  EXPECT_EQ(d.on_event(t0), t0 + 300ms);
  EXPECT_FALSE(d.fire(t0 + 299ms)) << "too early";
  EXPECT_TRUE(d.fire(t0 + 300ms));
  EXPECT_EQ(d.last_burst(), 1u);
  EXPECT_FALSE(d.deadline()) << "the burst is closed";
  EXPECT_FALSE(d.fire(t0 + 400ms)) << "a stale timer decides nothing";
}

TEST(debounce, a_burst_is_one_decision_after_its_last_event) {
  debounce d{300ms, 3s};
  // A VPN connect: link, addresses, routes, two resolv.conf writes within 250 ms.
  for (auto at : {0ms, 20ms, 40ms, 120ms, 250ms})
    d.on_event(t0 + at);
  EXPECT_FALSE(d.fire(t0 + 300ms)) << "the timer armed by the first event is stale";
  EXPECT_EQ(*d.deadline(), t0 + 550ms);
  EXPECT_TRUE(d.fire(t0 + 550ms));
  EXPECT_EQ(d.last_burst(), 5u);
}

TEST(debounce, an_endless_storm_is_decided_at_the_cap) {
  debounce d{300ms, 2s};
  bool decided = false;
  auto at = t0;
  for (int i = 0; i < 100 && !decided; ++i, at += 50ms) {  // a write every 50 ms, forever
    d.on_event(at);
    decided = d.fire(at);
  }
  EXPECT_TRUE(decided);
  EXPECT_LE(at - t0, 2s + 50ms) << "decided no later than the cap after the first event";
  EXPECT_GE(d.last_burst(), 40u);
  // The storm goes on: the next burst starts afresh.
  EXPECT_EQ(d.on_event(at), at + 300ms);
}

TEST(debounce, events_out_of_order_never_move_the_deadline_back) {
  debounce d{300ms, 3s};
  d.on_event(t0 + 100ms);
  d.on_event(t0 + 50ms);  // a late-delivered earlier event
  EXPECT_EQ(*d.deadline(), t0 + 400ms);
}

TEST(debounce, a_cap_shorter_than_the_quiet_period_is_the_quiet_period) {
  debounce d{500ms, 100ms};
  EXPECT_EQ(d.on_event(t0), t0 + 500ms);
}

} // namespace
