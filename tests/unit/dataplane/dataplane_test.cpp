// The data plane against scripted upstreams on loopback: routing, identity, answer validation, failover, TCP.
#include <future>

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include <sys/socket.h>
#include <unistd.h>

#include "fake_dns.hpp"
#include "net/dataplane.hpp"
#include "net/dns_codec.hpp"
#include "net/endpoint.hpp"
#include "net/query_ring.hpp"
#include "net/upstream.hpp"

using namespace roamd;
using namespace roamd::test;

namespace {

const std::array<uint8_t, 8> device_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
const bytes identity_bytes = {0x69, 0x42, 0x00, 0x0F, 0x4F, 0x70, 0x65, 0x6E, 0x44, 0x4E,
                              0x53, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

class dataplane_test : public ::testing::Test {
protected:
  void start(std::vector<std::string> cloud, std::vector<std::pair<std::string, std::vector<std::string>>> internal = {},
             net::dataplane_options opts = {}) {
    opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.stats_interval_ms = 20;
    if (opts.timeout_ms == 1000)
      opts.timeout_ms = 300;
    auto sink = [this](net::worker_stats&& s) {
      {
        std::lock_guard<std::mutex> g{mtx_};
        for (size_t i = 0; i < s.drops.size(); ++i)
          drops_[i] += s.drops[i];
        servfail_ += s.servfail_sent;
        hits_ += s.cache_hits;
        for (auto& u : s.upstreams) {
          timeouts_ += u.timeouts;
          fallbacks_ += u.tcp_fallbacks;
        }
        latency_count_ += s.latency.count();
        upstream_latency_count_ += s.upstream_latency.count();
        for (auto& [route, n] : s.route_answers)
          route_answers_[route] += n;
      }
      waiter_.notify();
    };
    dp_ = std::make_unique<net::dataplane>(opts, registry_, sink);
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    net::route fallback;
    fallback.tag_identity = true;
    for (auto& c : cloud)
      fallback.resolvers.push_back(registry_->get(*net::parse_endpoint(c)));
    std::vector<net::route> routes;
    for (auto& [domain, resolvers] : internal) {
      net::route r;
      r.domain = domain;
      for (auto& res : resolvers)
        r.resolvers.push_back(registry_->get(*net::parse_endpoint(res)));
      routes.push_back(r);
    }
    dp_->set_routing(std::make_shared<net::routing_table>(routes, fallback, device_id, 1));
    addr_ = net::to_string(dp_->bound_endpoints().at(0));
  }

  void TearDown() override {
    if (dp_)
      dp_->stop();
  }

  uint64_t drops(net::drop_reason r) {
    std::lock_guard<std::mutex> g{mtx_};
    return drops_[static_cast<size_t>(r)];
  }
  bool wait_counter(const std::function<bool()>& pred) {
    return waiter_.wait_for(
      [&] {
        std::lock_guard<std::mutex> g{mtx_};
        return pred();
      },
      3000);
  }

  std::shared_ptr<net::upstream_registry> registry_ = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp_;
  std::string addr_;
  std::mutex mtx_;
  std::array<uint64_t, net::drop_reason_count> drops_{};
  uint64_t servfail_ = 0, hits_ = 0, timeouts_ = 0, fallbacks_ = 0;
  uint64_t latency_count_ = 0, upstream_latency_count_ = 0;
  std::map<std::string, uint64_t> route_answers_;
  waiter waiter_;
};

/// A query observer that keeps what it was shown (copied: the event's pointers die with the call).
class recording_observer : public net::query_observer {
public:
  struct seen {
    net::query_event::kind_t kind;
    net::answer_source source;
    bool tcp;
    std::string client, server, route, resolver, name;
    int rcode;
    bytes message;
  };
  void observe(const net::query_event& e) noexcept override {
    seen s{e.kind, e.source, e.tcp, net::address_text(e.client, e.client_len), net::address_text(e.server, e.server_len),
           std::string{e.route}, e.resolver ? e.resolver->name : "", e.question ? e.question->qname.to_text() : "?",
           e.size >= 12 ? e.message[3] & 0x0F : -1, bytes(e.message, e.message + e.size)};
    std::lock_guard<std::mutex> g{mtx};
    events.push_back(std::move(s));
  }
  std::vector<seen> take() {
    std::lock_guard<std::mutex> g{mtx};
    return events;
  }
  std::mutex mtx;
  std::vector<seen> events;
};

TEST_F(dataplane_test, cloud_queries_carry_the_identity_and_internal_ones_never_do) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  fake_server corp{answer_with({"198.51.100.7"})};
  start({cloud.address()}, {{"corp.test", {corp.address()}}});

  auto a = udp_exchange(addr_, make_query(0x1111, "www.example.com", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(id_of(a), 0x1111);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.1"});
  ASSERT_EQ(cloud.query_count(), 1u);
  EXPECT_EQ(option_bytes(cloud.queries()[0], 0x6942), identity_bytes);
  EXPECT_EQ(arcount_of(a), 0) << "the client sent no EDNS, so the answer must carry no OPT";

  // A client that forges an identity option: internal resolvers get none, the cloud gets only ours.
  bytes forged = {0x69, 0x42, 0x00, 0x02, 0xAA, 0xBB};
  auto b = udp_exchange(addr_, make_query(0x2222, "Host.CORP.test", 1, true, true, forged));
  EXPECT_EQ(answer_addresses(b), std::vector<std::string>{"198.51.100.7"});
  ASSERT_EQ(corp.query_count(), 1u);
  EXPECT_FALSE(has_option(corp.queries()[0], 0x6942));
  auto c = udp_exchange(addr_, make_query(0x3333, "other.example", 1, true, true, forged));
  ASSERT_EQ(cloud.query_count(), 2u);
  EXPECT_EQ(option_bytes(cloud.queries()[1], 0x6942), identity_bytes);
}

TEST_F(dataplane_test, observers_see_each_query_and_answer_and_latency_and_routes_are_counted) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  fake_server corp{answer_with({"198.51.100.7"})};
  auto rec = std::make_shared<recording_observer>();
  auto ring = std::make_shared<net::query_ring>(3, 1);
  net::dataplane_options o;
  o.observers = {rec, ring};
  start({cloud.address()}, {{"corp.test", {corp.address()}}}, o);

  auto q1 = make_query(1, "a.corp.test", 1);
  ASSERT_FALSE(udp_exchange(addr_, q1).empty());
  ASSERT_FALSE(udp_exchange(addr_, make_query(2, "a.corp.test", 1)).empty());  // from the cache
  auto over_tcp = tcp_exchange(addr_, {make_query(3, "www.example.com", 28)}, 1);
  ASSERT_EQ(over_tcp.size(), 1u);
  auto two = make_query(4, "x.example", 1);
  two[5] = 2;  // qdcount 2: FORMERR made here
  ASSERT_EQ(rcode_of(udp_exchange(addr_, two)), 1);

  auto ev = rec->take();
  ASSERT_EQ(ev.size(), 8u) << "a query and an answer event for each of the 4 queries";
  using K = net::query_event;
  EXPECT_EQ(ev[0].kind, K::query);
  EXPECT_EQ(ev[0].message, q1) << "the query event carries the client's bytes";
  EXPECT_EQ(ev[1].kind, K::response);
  EXPECT_EQ(ev[1].source, net::answer_source::upstream);
  EXPECT_EQ(ev[1].route, "corp.test");
  EXPECT_EQ(ev[1].resolver, corp.address());
  EXPECT_EQ(ev[1].name, "a.corp.test");
  EXPECT_EQ(ev[1].rcode, 0);
  EXPECT_EQ(ev[1].server, addr_);
  EXPECT_EQ(ev[1].client.rfind("127.0.0.1:", 0), 0u) << ev[1].client;
  EXPECT_EQ(ev[3].source, net::answer_source::cache);
  EXPECT_EQ(ev[3].route, "") << "a cache hit names no route";
  EXPECT_TRUE(ev[4].tcp && ev[5].tcp);
  EXPECT_EQ(ev[5].source, net::answer_source::upstream);
  EXPECT_EQ(ev[5].route, "") << "the default route";
  EXPECT_EQ(ev[5].resolver, cloud.address());
  EXPECT_NE(ev[5].client, "") << "TCP clients have their address too";
  EXPECT_EQ(ev[7].source, net::answer_source::error);
  EXPECT_EQ(ev[7].rcode, 1);

  auto kept = ring->snapshot(0);
  ASSERT_EQ(kept.size(), 3u) << "the ring keeps its capacity, the newest";
  EXPECT_EQ(kept[0].source, net::answer_source::cache);
  EXPECT_EQ(kept[1].qtype, 28);
  EXPECT_STREQ(kept[1].route, ".");
  EXPECT_TRUE(kept[1].tcp);
  EXPECT_EQ(kept[2].rcode, 1);
  EXPECT_LE(kept[0].unix_us, kept[1].unix_us);
  ASSERT_EQ(ring->snapshot(1).size(), 1u);
  EXPECT_EQ(ring->snapshot(1)[0].rcode, 1) << "a limit keeps the newest";

  EXPECT_TRUE(wait_counter([&] { return latency_count_ >= 4; }));
  std::lock_guard<std::mutex> g{mtx_};
  EXPECT_EQ(latency_count_, 4u);
  EXPECT_EQ(upstream_latency_count_, 2u) << "the two cache misses";
  EXPECT_EQ(route_answers_, (std::map<std::string, uint64_t>{{".", 1}, {"corp.test", 1}}));
}

TEST_F(dataplane_test, client_edns_passes_through_unchanged) {
  fake_server corp{answer_with({"198.51.100.9"})};
  // The fake resolver is on loopback, where roamd adds its loop mark (interception_test): this is about the client's
  // own EDNS, so the guard is off here.
  net::dataplane_options o;
  o.loop_limit = 0;
  start({corp.address()}, {{"corp.test", {corp.address()}}}, o);
  bytes cookie = {0x00, 0x0A, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
  auto q = make_query(0x4444, "a.corp.test", 1, true, true, cookie);
  auto a = udp_exchange(addr_, q);
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(corp.query_count(), 1u);
  auto seen = corp.queries()[0];
  // Everything but the ID is byte-identical: DO bit, buffer size, the cookie option.
  ASSERT_EQ(seen.size(), q.size());
  EXPECT_TRUE(std::equal(seen.begin() + 2, seen.end(), q.begin() + 2));
}

TEST_F(dataplane_test, forged_answers_are_dropped_and_the_real_one_accepted) {
  fake_server cloud{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
    bytes wrong_id = make_answer(q, {"203.0.113.66"});
    wrong_id[0] ^= 0xFF;
    s.send_to(wrong_id, from);
    bytes wrong_name = make_answer(make_query(id_of(q), "evil.example", 1), {"203.0.113.67"});
    s.send_to(wrong_name, from);
    bytes wrong_type = make_answer(make_query(id_of(q), "victim.example", 28), {"203.0.113.68"});
    s.send_to(wrong_type, from);
    s.send_from_other_port(make_answer(q, {"203.0.113.69"}), from);
    s.send_to(make_answer(q, {"192.0.2.10"}), from);
  }};
  start({cloud.address()});
  auto a = udp_exchange(addr_, make_query(0x5555, "victim.example", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.10"});
  EXPECT_TRUE(wait_counter([&] {
    return drops_[static_cast<size_t>(net::drop_reason::answer_unmatched)] >= 1
           && drops_[static_cast<size_t>(net::drop_reason::answer_mismatch)] >= 2
           && drops_[static_cast<size_t>(net::drop_reason::answer_wrong_source)] >= 1;
  }));
}

TEST_F(dataplane_test, fails_over_to_the_next_resolver_after_a_timeout) {
  fake_server dead{nullptr};
  fake_server live{answer_with({"192.0.2.20"})};
  start({dead.address(), live.address()});
  auto a = udp_exchange(addr_, make_query(0x6666, "failover.example", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.20"});
  EXPECT_EQ(dead.query_count(), 1u);
  EXPECT_EQ(live.query_count(), 1u);
  EXPECT_TRUE(wait_counter([&] { return timeouts_ >= 1; }));
}

TEST_F(dataplane_test, a_retry_never_repeats_the_resolver_that_was_marked_down_while_it_timed_out) {
  fake_server dead{nullptr};
  fake_server live{answer_with({"192.0.2.21"})};
  net::dataplane_options o;
  o.timeout_ms = 1000;  // the stats batches (every 100 ms) wake the wait below well within it
  o.attempts = 2;
  start({dead.address(), live.address()}, {}, o);
  auto pending = std::async(std::launch::async, [&] {
    return udp_exchange(addr_, make_query(0x6767, "reordered.example", 1), 4000);
  });
  // The first attempt is at the dead resolver; upstream health marks it down before it times out, which moves it to
  // the back of the order: the second attempt must still go to the live one.
  ASSERT_TRUE(waiter_.wait_for([&] { return dead.query_count() == 1; }, 3000));
  registry_->get(*net::parse_endpoint(dead.address()))->up.store(false);
  auto a = pending.get();
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.21"});
  EXPECT_EQ(dead.query_count(), 1u);
  EXPECT_EQ(live.query_count(), 1u);
}

TEST_F(dataplane_test, servfail_when_every_resolver_fails) {
  fake_server dead1{nullptr};
  fake_server dead2{nullptr};
  net::dataplane_options o;
  o.timeout_ms = 100;
  o.attempts = 3;
  start({dead1.address(), dead2.address()}, {}, o);
  auto a = udp_exchange(addr_, make_query(0x7777, "nowhere.example", 1), 3000);
  ASSERT_FALSE(a.empty()) << "the client must get SERVFAIL, not a timeout";
  EXPECT_EQ(rcode_of(a), 2);
  EXPECT_EQ(id_of(a), 0x7777);
  EXPECT_EQ(dead1.query_count() + dead2.query_count(), 3u);
}

TEST_F(dataplane_test, truncated_udp_answer_is_retried_over_tcp) {
  fake_server up{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
                   bytes tc = make_answer(q, {});
                   tc[2] |= 0x02;
                   s.send_to(tc, from);
                 },
                 [](const bytes& q) { return make_txt_answer(q, 3000); }};
  start({up.address()});
  auto big = make_query(0x8888, "big.example", 16, true);
  big[big.size() - 8] = 0x10;  // OPT class field: the client takes 4096-byte answers
  big[big.size() - 7] = 0x00;
  auto a = udp_exchange(addr_, big);
  ASSERT_GT(a.size(), 3000u);
  EXPECT_FALSE(tc_of(a));
  EXPECT_EQ(id_of(a), 0x8888);
  EXPECT_TRUE(wait_counter([&] { return fallbacks_ >= 1; }));
  // A classic client (512 bytes) gets TC and comes back over TCP, where the cached answer is served.
  auto small = udp_exchange(addr_, make_query(0x8889, "big.example", 16));
  ASSERT_FALSE(small.empty());
  EXPECT_TRUE(tc_of(small));
  EXPECT_LE(small.size(), 512u);
}

TEST_F(dataplane_test, the_socket_mark_is_reported_and_marked_queries_work_over_udp_and_tcp) {
  // Whether this process may set SO_MARK (root, CAP_NET_ADMIN): the data plane must report the same.
  int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(probe, 0);
  uint32_t mark = 0x524f4d44;
  bool may_mark = ::setsockopt(probe, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == 0;
  ::close(probe);
  fake_server up{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
                   bytes tc = make_answer(q, {});
                   tc[2] |= 0x02;
                   s.send_to(tc, from);
                 },
                 [](const bytes& q) { return make_txt_answer(q, 1000); }};
  net::dataplane_options o;
  o.socket_mark = mark;
  start({up.address()}, {}, o);
  EXPECT_EQ(dp_->socket_mark_ok(), may_mark);
  // Marked or not (the mark refused), upstream queries go out and come back, also the TCP retry.
  auto a = udp_exchange(addr_, make_query(0x7777, "big.example", 16, true));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(id_of(a), 0x7777);
  EXPECT_TRUE(wait_counter([&] { return fallbacks_ >= 1; }));
}

TEST_F(dataplane_test, without_a_socket_mark_marking_is_never_reported_broken) {
  fake_server up{[](fake_server& s, const bytes& q, const sockaddr_in& from) { s.send_to(make_answer(q, {}), from); }};
  start({up.address()});
  EXPECT_TRUE(dp_->socket_mark_ok());
}

TEST_F(dataplane_test, tcp_clients_can_pipeline_queries) {
  fake_server up{answer_with({"192.0.2.30"})};
  start({up.address()});
  std::vector<bytes> qs = {make_query(1, "a.example", 1), make_query(2, "b.example", 1), make_query(3, "c.example", 1)};
  auto answers = tcp_exchange(addr_, qs, 3);
  ASSERT_EQ(answers.size(), 3u);
  std::set<uint16_t> ids;
  for (auto& a : answers) {
    ids.insert(id_of(a));
    EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.30"});
  }
  EXPECT_EQ(ids, (std::set<uint16_t>{1, 2, 3}));
}

TEST_F(dataplane_test, repeated_queries_are_served_from_the_cache) {
  fake_server up{answer_with({"192.0.2.40"})};
  start({up.address()});
  auto a = udp_exchange(addr_, make_query(10, "cached.example", 1));
  auto b = udp_exchange(addr_, make_query(11, "CACHED.example", 1));
  EXPECT_EQ(answer_addresses(b), std::vector<std::string>{"192.0.2.40"});
  EXPECT_EQ(id_of(b), 11);
  EXPECT_EQ(up.query_count(), 1u);
  // The client's own spelling of the name comes back in the question.
  EXPECT_EQ(b[13], 'C');
}

TEST_F(dataplane_test, malformed_queries_get_the_documented_reply_and_service_continues) {
  fake_server up{answer_with({"192.0.2.50"})};
  start({up.address()});
  EXPECT_TRUE(udp_exchange(addr_, bytes{1, 2, 3, 4, 5}, 200).empty());  // too short: nothing
  auto two = make_query(20, "x.example", 1);
  two[5] = 2;  // qdcount 2
  auto formerr = udp_exchange(addr_, two);
  ASSERT_FALSE(formerr.empty());
  EXPECT_EQ(rcode_of(formerr), 1);
  auto update = make_query(21, "x.example", 1);
  update[2] = 0x29;  // opcode 5 (UPDATE), RD
  update[3] = 0x30;  // AD, CD
  auto notimp = udp_exchange(addr_, update);
  ASSERT_FALSE(notimp.empty());
  EXPECT_EQ(rcode_of(notimp), 4);
  EXPECT_EQ(notimp[2], 0xA9) << "QR, the opcode and RD echoed";
  EXPECT_EQ(notimp[3], 0x14) << "CD echoed, RA and AD clear";
  auto response = make_answer(make_query(22, "x.example", 1), {"192.0.2.1"});
  EXPECT_TRUE(udp_exchange(addr_, response, 200).empty());  // QR set: nothing
  auto ok = udp_exchange(addr_, make_query(23, "x.example", 1));
  EXPECT_EQ(answer_addresses(ok), std::vector<std::string>{"192.0.2.50"});
  EXPECT_TRUE(wait_counter([&] {
    return drops_[static_cast<size_t>(net::drop_reason::too_short)] >= 1
           && drops_[static_cast<size_t>(net::drop_reason::not_a_query)] >= 1;
  }));
}

TEST_F(dataplane_test, edns_version_above_zero_gets_badvers) {
  fake_server up{answer_with({"192.0.2.60"})};
  start({up.address()});
  auto q = make_query(30, "v.example", 1, true);
  q[q.size() - 5] = 1;  // OPT version byte
  auto a = udp_exchange(addr_, q);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(up.query_count(), 0u);
  EXPECT_EQ(arcount_of(a), 1);
}

} // namespace

namespace {

TEST_F(dataplane_test, source_ports_rotate_while_queries_keep_being_answered) {
  fake_server up{answer_with({"192.0.2.70"})};
  net::dataplane_options o;
  o.source_ports = 1;
  o.port_rotation_ms = 50;
  o.cache.capacity = 0;
  start({up.address()}, {}, o);
  // Keep asking until the upstream has seen three different source ports (bounded by a query count).
  std::set<uint16_t> ports;
  for (int i = 0; i < 20000 && ports.size() < 3; ++i) {
    auto a = udp_exchange(addr_, make_query(static_cast<uint16_t>(100 + i), "rotate.example", 1));
    ASSERT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.70"}) << "query " << i;
    ports.insert(up.source_ports().back());
  }
  EXPECT_GE(ports.size(), 3u);
}

} // namespace
