// Data-plane robustness: each test reproduces a defect found in review (send errors, TCP accounting, routing
// swaps, TCP framing) and must keep passing.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "fake_dns.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"

using namespace roamd;
using namespace roamd::test;
namespace asio = boost::asio;

namespace {

const std::array<uint8_t, 8> device_id = {1, 2, 3, 4, 5, 6, 7, 8};

struct rig {
  std::shared_ptr<net::upstream_registry> registry = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp;
  std::string addr;
  std::mutex mtx;
  std::array<uint64_t, net::drop_reason_count> drops{};

  void start(net::dataplane_options o = {}) {
    o.listen = {asio::ip::udp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
    o.stats_interval_ms = 20;
    if (o.timeout_ms == 1000)
      o.timeout_ms = 300;
    dp = std::make_unique<net::dataplane>(o, registry, [this](net::worker_stats&& s) {
      std::lock_guard<std::mutex> g{mtx};
      for (size_t i = 0; i < s.drops.size(); ++i)
        drops[i] += s.drops[i];
    });
    ASSERT_EQ(dp->open(), "");
    dp->start();
    addr = net::to_string(dp->bound_endpoints().at(0));
  }
  void route_all_to(const asio::ip::udp::endpoint& ep, uint64_t gen) {
    net::route fb;
    fb.resolvers.push_back(registry->get(ep));
    dp->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, fb, std::nullopt, gen));
  }
  ~rig() {
    if (dp)
      dp->stop();
  }
};

// every attempt fails in sendmmsg -> give_up() runs inside flush() after the listeners were flushed; the
// SERVFAIL is queued but nothing schedules another flush.
TEST(dataplane_robustness, servfail_after_send_errors_is_delivered) {
  rig r;
  net::dataplane_options o;
  o.timeout_ms = 2000;
  r.start(o);
  // Port 0: udp_sendmsg returns EINVAL for every datagram (stand-in for ENETUNREACH/EPERM/EACCES).
  r.route_all_to(asio::ip::udp::endpoint{asio::ip::make_address("127.0.0.1"), 0}, 1);
  auto t0 = std::chrono::steady_clock::now();
  auto a = udp_exchange(r.addr, make_query(0x1234, "unreachable.example", 1), 5000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 100) << "SERVFAIL after send errors took " << ms << " ms";
  ASSERT_FALSE(a.empty()) << "client got no SERVFAIL (stuck in the listener send queue)";
  EXPECT_EQ(rcode_of(a), 2);
}

// a TCP frame with QR set is dropped without reply, but in_flight was incremented: 32 of them stop reading.
TEST(dataplane_robustness, tcp_client_keeps_reading_after_frames_with_qr_set) {
  fake_server up{answer_with({"192.0.2.30"})};
  rig r;
  r.start();
  r.route_all_to(*net::parse_endpoint(up.address()), 1);
  std::vector<bytes> qs;
  for (int i = 0; i < 32; ++i)
    qs.push_back(make_answer(make_query(static_cast<uint16_t>(i), "x.example", 1), {"192.0.2.1"}));
  qs.push_back(make_query(999, "ok.example", 1));
  auto answers = tcp_exchange(r.addr, qs, 1, 3000);
  ASSERT_EQ(answers.size(), 1u) << "the query after 32 QR-set frames was never read";
  EXPECT_EQ(id_of(answers[0]), 999);
}

// one QR-set frame makes a connection permanently non-idle, so it can never be evicted at the limit.
TEST(dataplane_robustness, connection_that_sent_a_qr_frame_is_still_evictable) {
  fake_server up{answer_with({"192.0.2.31"})};
  net::dataplane_options o;
  o.tcp_max_connections = 1;
  rig r;
  r.start(o);
  r.route_all_to(*net::parse_endpoint(up.address()), 1);
  int a = tcp_connect(r.addr);
  ASSERT_GE(a, 0);
  tcp_send(a, make_answer(make_query(1, "x.example", 1), {"192.0.2.1"}));
  // Prove A's frame was processed: a real query on A gets answered.
  tcp_send(a, make_query(2, "y.example", 1));
  auto ra = tcp_read(a);
  ASSERT_FALSE(ra.empty());
  int b = tcp_connect(r.addr);
  ASSERT_GE(b, 0);
  tcp_send(b, make_query(3, "z.example", 1));
  auto rb = tcp_read(b);
  EXPECT_FALSE(rb.empty()) << "B was refused: idle A (no query outstanding) was not evictable";
  ::close(a);
  ::close(b);
}

// cache_->clear() in set_routing() is not ordered with queries still in flight under the old table.
TEST(dataplane_robustness, answer_from_the_old_route_is_not_cached_across_a_routing_swap) {
  std::mutex m;
  std::condition_variable cv;
  bool got = false;
  bytes held;
  sockaddr_in held_from{};
  fake_server old_up{[&](fake_server&, const bytes& q, const sockaddr_in& from) {
    std::lock_guard<std::mutex> g{m};
    held = q;
    held_from = from;
    got = true;
    cv.notify_all();
  }};
  fake_server new_up{answer_with({"198.51.100.1"})};
  rig r;
  r.start();
  r.route_all_to(*net::parse_endpoint(old_up.address()), 1);
  bytes first;
  std::thread t{[&] { first = udp_exchange(r.addr, make_query(1, "intranet.corp.example", 1), 2000); }};
  {
    std::unique_lock<std::mutex> lk{m};
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(2), [&] { return got; }));
  }
  r.route_all_to(*net::parse_endpoint(new_up.address()), 2);  // clears the cache, posts the table
  old_up.send_to(make_answer(held, {"192.0.2.99"}), held_from);
  t.join();
  EXPECT_EQ(answer_addresses(first), std::vector<std::string>{"192.0.2.99"});
  auto second = udp_exchange(r.addr, make_query(2, "intranet.corp.example", 1), 2000);
  EXPECT_EQ(answer_addresses(second), std::vector<std::string>{"198.51.100.1"})
    << "served the old route's answer from the cache after the swap";
  EXPECT_EQ(new_up.query_count(), 1u);
}

// a cached answer near 64 KiB plus the OPT added for an EDNS client overflows the 16-bit TCP length prefix.
TEST(dataplane_robustness, tcp_length_prefix_of_large_cached_answer) {
  fake_server up{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
                   bytes tc = make_answer(q, {});
                   tc[2] |= 0x02;
                   s.send_to(tc, from);
                 },
                 [](const bytes& q) { return make_txt_answer(q, 65233); }};
  rig r;
  r.start();
  r.route_all_to(*net::parse_endpoint(up.address()), 1);
  int a = tcp_connect(r.addr);
  ASSERT_GE(a, 0);
  tcp_send(a, make_query(1, "big.example", 16));  // no EDNS
  auto ra = tcp_read(a);
  ASSERT_EQ(ra.size(), 65530u);
  ::close(a);
  int b = tcp_connect(r.addr);
  ASSERT_GE(b, 0);
  tcp_send(b, make_query(2, "big.example", 16, true));  // EDNS: served from the cache + 11-byte OPT
  auto rb = tcp_read(b);
  EXPECT_GE(rb.size(), 12u) << "length prefix was " << rb.size();
  if (rb.size() >= 12) {
    EXPECT_EQ(id_of(rb), 2);
  }
  ::close(b);
}

// A truncated answer cut in the middle of a record (as some servers send it) still leads to the TCP retry.
TEST(dataplane_robustness, truncated_answer_cut_mid_record_falls_back_to_tcp) {
  fake_server up{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
                   bytes full = make_answer(q, {"192.0.2.1", "192.0.2.2"});
                   full[2] |= 0x02;  // TC
                   full.resize(full.size() - 7);  // the last record is cut off
                   s.send_to(full, from);
                 },
                 [](const bytes& q) { return make_answer(q, {"192.0.2.1", "192.0.2.2"}); }};
  rig r;
  r.start();
  r.route_all_to(*net::parse_endpoint(up.address()), 1);
  auto a = udp_exchange(r.addr, make_query(7, "cut.example", 1), 3000);
  EXPECT_EQ(answer_addresses(a), (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_FALSE(tc_of(a));
}

// A resolver that rejects the query with a question-less REFUSED is left for the next one at once, not after the
// timeout.
TEST(dataplane_robustness, question_less_error_answer_fails_over_at_once) {
  fake_server refuser{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
    bytes refused(q.begin(), q.begin() + 12);
    refused[2] = 0x81;
    refused[3] = 0x85;  // QR, RD, RA, REFUSED
    for (int i = 4; i < 12; ++i)
      refused[i] = 0;
    s.send_to(refused, from);
  }};
  fake_server good{answer_with({"192.0.2.80"})};
  net::dataplane_options o;
  o.timeout_ms = 2000;
  o.cache.capacity = 0;
  rig r;
  r.start(o);
  net::route fb;
  fb.resolvers.push_back(r.registry->get(*net::parse_endpoint(refuser.address())));
  fb.resolvers.push_back(r.registry->get(*net::parse_endpoint(good.address())));
  r.dp->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, fb, std::nullopt, 1));
  auto t0 = std::chrono::steady_clock::now();
  auto a = udp_exchange(r.addr, make_query(8, "refused.example", 1), 5000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.80"});
  EXPECT_LT(ms, 1000) << "waited for the timeout instead of failing over";
}

} // namespace
