#include <gtest/gtest.h>

#include "actors/upstream_health.hpp"

using namespace roamd;

namespace {

proto::UpstreamCounters counters(uint32_t id, uint64_t answered, uint64_t timeouts) {
  proto::UpstreamCounters c;
  c.set_id(id);
  c.set_sent(answered + timeouts);
  c.set_answered(answered);
  c.set_timeouts(timeouts);
  return c;
}

TEST(upstream_health, marked_down_after_consecutive_failures_only) {
  actors::upstream_health h{3, 1000};
  EXPECT_FALSE(h.on_counters(counters(1, 0, 2), 0));
  EXPECT_FALSE(h.on_counters(counters(1, 5, 0), 10));  // an answer resets the streak
  EXPECT_FALSE(h.on_counters(counters(1, 0, 2), 20));
  auto change = h.on_counters(counters(1, 0, 1), 30);
  ASSERT_TRUE(change);
  EXPECT_FALSE(change->up);
  EXPECT_FALSE(h.is_up(1));
  EXPECT_NE(change->reason.find("3 consecutive"), std::string::npos);
}

TEST(upstream_health, probes_are_scheduled_and_back_off_while_failing) {
  actors::upstream_health h{1, 1000};
  ASSERT_TRUE(h.on_counters(counters(4, 0, 1), 0));
  EXPECT_TRUE(h.probes_due(999).empty());
  auto due = h.probes_due(1000);
  ASSERT_EQ(due, std::vector<uint32_t>{4});
  EXPECT_TRUE(h.probes_due(1500).empty()) << "one probe at a time";
  proto::ProbeResult failed;
  failed.set_id(4);
  EXPECT_FALSE(h.on_probe(failed, 1100));
  EXPECT_TRUE(h.probes_due(2000).empty()) << "backed off to 2 s";
  EXPECT_EQ(h.probes_due(3100), std::vector<uint32_t>{4});
  proto::ProbeResult ok;
  ok.set_id(4);
  ok.set_ok(true);
  ok.set_rtt_us(250);
  auto change = h.on_probe(ok, 3200);
  ASSERT_TRUE(change);
  EXPECT_TRUE(change->up);
  EXPECT_TRUE(h.is_up(4));
}

TEST(upstream_health, an_answered_query_also_brings_it_back) {
  actors::upstream_health h{1, 1000};
  ASSERT_TRUE(h.on_counters(counters(2, 0, 1), 0));
  auto change = h.on_counters(counters(2, 1, 0), 50);
  ASSERT_TRUE(change);
  EXPECT_TRUE(change->up);
  auto snap = h.snapshot();
  ASSERT_EQ(snap.upstreams_size(), 1);
  EXPECT_EQ(snap.upstreams(0).answered(), 1u);
  EXPECT_EQ(snap.upstreams(0).timeouts(), 1u);
}

} // namespace
