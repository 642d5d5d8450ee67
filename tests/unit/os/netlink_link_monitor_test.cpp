// The rtnetlink link monitor against the real kernel, in the current network namespace, which it only reads.
#include "os/link_monitor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

namespace roamd::os {
namespace {

using namespace std::chrono_literals;

/// Collects snapshots from the monitor thread; waits on a condition variable with a bound.
struct snapshot_sink {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<proto::AdapterSnapshot> received;

  link_monitor::snapshot_fn fn() {
    return [this](proto::AdapterSnapshot s) {
      std::lock_guard<std::mutex> guard(mutex);
      received.push_back(std::move(s));
      cv.notify_all();
    };
  }

  std::optional<proto::AdapterSnapshot> first(std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock(mutex);
    if (!cv.wait_for(lock, bound, [&] { return !received.empty(); }))
      return std::nullopt;
    return received.front();
  }
};

TEST(netlink_link_monitor, the_initial_snapshot_shows_loopback) {
  snapshot_sink sink;
  auto monitor = make_netlink_link_monitor();
  ASSERT_EQ(monitor->start(sink.fn()), "");
  auto s = sink.first(10s);
  ASSERT_TRUE(s.has_value()) << "no snapshot within 10 s";
  EXPECT_EQ(s->sequence(), 1u);
  EXPECT_GT(s->unix_ms(), 0);
  auto lo = std::find_if(s->links().begin(), s->links().end(), [](const auto& l) { return l.name() == "lo"; });
  ASSERT_NE(lo, s->links().end());
  EXPECT_EQ(lo->index(), 1u);
  EXPECT_TRUE(lo->loopback());
  EXPECT_EQ(lo->kind(), "loopback");
  EXPECT_NE(std::find(lo->addresses().begin(), lo->addresses().end(), "127.0.0.1/8"), lo->addresses().end())
      << "lo must carry 127.0.0.1/8 in this namespace";
  EXPECT_TRUE(std::is_sorted(s->links().begin(), s->links().end(),
                             [](const auto& a, const auto& b) { return a.index() < b.index(); }));
  for (const auto& r : s->routes())
    EXPECT_FALSE(r.destination().empty());
  monitor->stop();
  auto count = [&] {
    std::lock_guard<std::mutex> guard(sink.mutex);
    return sink.received.size();
  };
  auto after_stop = count();
  monitor->stop();  // idempotent
  EXPECT_EQ(count(), after_stop);
}

TEST(netlink_link_monitor, starts_once_and_stops_without_ever_starting) {
  auto idle = make_netlink_link_monitor();
  idle->stop();
  idle->stop();
  snapshot_sink sink;
  auto monitor = make_netlink_link_monitor();
  ASSERT_EQ(monitor->start(sink.fn()), "");
  EXPECT_NE(monitor->start(sink.fn()), "");
  monitor->stop();
}

TEST(netlink_link_monitor, stop_from_the_callback_does_not_deadlock) {
  auto monitor = make_netlink_link_monitor();
  std::mutex mutex;
  std::condition_variable cv;
  bool called = false;
  ASSERT_EQ(monitor->start([&](proto::AdapterSnapshot) {
    monitor->stop();
    std::lock_guard<std::mutex> guard(mutex);
    called = true;
    cv.notify_all();
  }),
            "");
  std::unique_lock<std::mutex> lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return called; }));
  lock.unlock();
  monitor->stop();  // joins the thread the callback stopped
}

} // namespace
} // namespace roamd::os
