// The data plane's own answers and second phases, against scripted upstreams on loopback: canary names (answered
// by roamd itself, never cached or forwarded) and the NXDOMAIN fallback to a route's fallback resolvers.
#include <gtest/gtest.h>

#include <mutex>

#include "fake_dns.hpp"
#include "net/canary.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"
#include "net/query_ring.hpp"

using namespace roamd;
using namespace roamd::test;

namespace {

const std::array<uint8_t, 8> device_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
constexpr uint16_t identity_code = 0x6942;

/// A data plane on 127.0.0.1 whose counters are summed up for the test.
class local_answers_test : public ::testing::Test {
protected:
  struct totals {
    uint64_t local_answers = 0, answers = 0, cache_hits = 0, fallback_sent = 0, fallback_used = 0, sent = 0,
             tcp_fallbacks = 0;
    std::array<uint64_t, net::drop_reason_count> drops{};
  };

  /// Starts the data plane; no routing table yet.
  void open(net::dataplane_options opts = {}) {
    opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.stats_interval_ms = 20;
    if (opts.timeout_ms == 1000)
      opts.timeout_ms = 200;
    dp_ = std::make_unique<net::dataplane>(opts, registry_, [this](net::worker_stats&& s) {
      sums_.add([&](totals& t_) {
        t_.local_answers += s.local_answers;
        t_.answers += s.answers;
        t_.cache_hits += s.cache_hits;
        t_.fallback_sent += s.fallback_sent;
        t_.fallback_used += s.fallback_used;
        for (size_t i = 0; i < s.drops.size(); ++i)
          t_.drops[i] += s.drops[i];
        for (auto& u : s.upstreams) {
          t_.sent += u.sent;
          t_.tcp_fallbacks += u.tcp_fallbacks;
        }
      });
    });
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    addr_ = net::to_string(dp_->bound_endpoints().at(0));
  }

  std::vector<std::shared_ptr<net::upstream>> upstreams(const std::vector<std::string>& addresses) {
    std::vector<std::shared_ptr<net::upstream>> out;
    for (auto& a : addresses)
      out.push_back(registry_->get(*net::parse_endpoint(a)));
    return out;
  }

  /// Everything to `cloud` (tagged with the identity), falling back to `fallback` on NXDOMAIN; corp.test to `corp`
  /// (untagged) with the same fallback.
  void route(const std::vector<std::string>& cloud, const std::vector<std::string>& fallback,
             const std::vector<std::string>& corp = {}) {
    net::route def;
    def.tag_identity = true;
    def.resolvers = upstreams(cloud);
    def.fallback = upstreams(fallback);
    std::vector<net::route> routes;
    if (!corp.empty()) {
      net::route r;
      r.domain = "corp.test";
      r.resolvers = upstreams(corp);
      r.fallback = upstreams(fallback);
      routes.push_back(r);
    }
    dp_->set_routing(std::make_shared<net::routing_table>(routes, def, device_id, ++generation_));
  }

  void TearDown() override {
    if (dp_)
      dp_->stop();
  }

  /// Waits (bounded) until the summed counters satisfy `pred`.
  bool wait_totals(const std::function<bool(const totals&)>& pred) {
    return sums_.wait(pred);
  }
  totals snapshot() {
    return sums_.snapshot();
  }

  std::shared_ptr<net::upstream_registry> registry_ = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp_;
  std::string addr_;
  uint64_t generation_ = 0;
  summed<totals> sums_;
};

std::string dotted(const std::array<uint8_t, 4>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
}

std::string expected_canary(const std::string& label) {
  auto a = net::canary_address(label);
  return a ? dotted(*a) : "";
}

/// NXDOMAIN with an SOA in the authority section (negative TTL 60), so that it may be cached (RFC 2308).
bytes nxdomain_with_soa(const bytes& q) {
  bytes a = make_answer(q, {}, 3);
  a[9] = 1;  // NSCOUNT
  const uint8_t soa[] = {0xC0, 0x0C, 0, 6, 0, 1, 0, 0, 0, 60, 0, 26,  // owner, SOA, IN, TTL 60, RDLENGTH
                         1,    'n',  0, 1, 'h', 0,                      // MNAME n., RNAME h.
                         0,    0,    0, 1, 0,   0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60};
  a.insert(a.end(), std::begin(soa), std::end(soa));
  return a;
}

/// An answer with `rcode` and one A record `marker`, so a test can tell which server's answer the client got.
fake_server::udp_handler reply_rcode(uint8_t rcode, std::string marker) {
  return [rcode, marker](fake_server& s, const bytes& q, const sockaddr_in& from) {
    s.send_to(make_answer(q, marker.empty() ? std::vector<std::string>{} : std::vector<std::string>{marker}, rcode),
              from);
  };
}

// ---- canary names ----

TEST_F(local_answers_test, canary_names_are_answered_locally_over_udp_never_forwarded_or_cached) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  open();
  route({cloud.address()}, {});
  std::string name = net::canary_name(0x0123456789abcdefull);
  for (uint16_t id : {0x1001, 0x1002}) {
    auto a = udp_exchange(addr_, make_query(id, name, 1));
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(id_of(a), id);
    EXPECT_EQ(rcode_of(a), 0);
    EXPECT_EQ(answer_addresses(a), std::vector<std::string>{expected_canary("0123456789abcdef")});
    EXPECT_EQ(arcount_of(a), 0);
  }
  auto upper = udp_exchange(addr_, make_query(0x1003, "0123456789ABCDEF.CANARY.roamd.ARPA", 1));
  EXPECT_EQ(answer_addresses(upper), std::vector<std::string>{expected_canary("0123456789abcdef")});
  EXPECT_EQ(upper[12 + 1], '0');
  EXPECT_EQ(upper[12 + 1 + 16 + 1], 'C') << "the question comes back as the client spelled it";

  auto edns = udp_exchange(addr_, make_query(0x1004, name, 1, true, true));
  EXPECT_EQ(answer_addresses(edns), std::vector<std::string>{expected_canary("0123456789abcdef")});
  EXPECT_EQ(arcount_of(edns), 1) << "an EDNS client gets an OPT back";

  auto aaaa = udp_exchange(addr_, make_query(0x1005, name, 28));
  ASSERT_FALSE(aaaa.empty());
  EXPECT_EQ(rcode_of(aaaa), 0);
  EXPECT_TRUE(answer_addresses(aaaa).empty());
  auto deeper = udp_exchange(addr_, make_query(0x1006, "x." + name, 1));
  ASSERT_FALSE(deeper.empty());
  EXPECT_EQ(rcode_of(deeper), 3);

  EXPECT_EQ(cloud.query_count(), 0u) << "nothing under canary.roamd.arpa goes upstream";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.local_answers >= 6; }));
  EXPECT_EQ(snapshot().cache_hits, 0u);
}

TEST_F(local_answers_test, canary_names_are_answered_over_tcp_between_forwarded_queries) {
  fake_server cloud{answer_with({"192.0.2.2"})};
  open();
  route({cloud.address()}, {});
  auto answers = tcp_exchange(addr_,
                              {make_query(1, "aa.canary.roamd.arpa", 1), make_query(2, "www.example", 1),
                               make_query(3, "bb.canary.roamd.arpa", 1)},
                              3);
  ASSERT_EQ(answers.size(), 3u);
  for (auto& a : answers) {
    if (id_of(a) == 1)
      EXPECT_EQ(answer_addresses(a), std::vector<std::string>{expected_canary("aa")});
    else if (id_of(a) == 3)
      EXPECT_EQ(answer_addresses(a), std::vector<std::string>{expected_canary("bb")});
    else
      EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.2"});
  }
  EXPECT_EQ(cloud.query_count(), 1u);
}

TEST_F(local_answers_test, canary_is_answered_before_any_routing_table_exists) {
  open();
  auto a = udp_exchange(addr_, make_query(7, "boot.canary.roamd.arpa", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{expected_canary("boot")});
  auto other = udp_exchange(addr_, make_query(8, "www.example", 1));
  ASSERT_FALSE(other.empty());
  EXPECT_EQ(rcode_of(other), 2) << "everything else still needs routes";
}

TEST_F(local_answers_test, a_label_ending_in_the_suffix_bytes_is_an_ordinary_name) {
  fake_server cloud{answer_with({"192.0.2.3"})};
  open();
  route({cloud.address()}, {});
  auto a = udp_exchange(addr_, make_query(9, "xcanary.roamd.arpa", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.3"});
  EXPECT_EQ(cloud.query_count(), 1u);
}

// ---- NXDOMAIN fallback ----

TEST_F(local_answers_test, nxdomain_from_the_cloud_is_replaced_by_the_fallback_answer_without_identity) {
  fake_server cloud{reply_rcode(3, "")};
  fake_server local{answer_with({"192.168.1.20"})};
  open();
  route({cloud.address()}, {local.address()});
  auto a = udp_exchange(addr_, make_query(0x2001, "printer.home.arpa", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(id_of(a), 0x2001);
  EXPECT_EQ(rcode_of(a), 0);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.168.1.20"});
  EXPECT_EQ(arcount_of(a), 0) << "the client sent no EDNS";
  ASSERT_EQ(cloud.query_count(), 1u);
  ASSERT_EQ(local.query_count(), 1u);
  EXPECT_TRUE(has_option(cloud.queries()[0], identity_code));
  EXPECT_FALSE(has_option(local.queries()[0], identity_code)) << "local resolvers never see the identity";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.fallback_sent == 1 && t.fallback_used == 1; }));
  // What the client got is cached.
  auto again = udp_exchange(addr_, make_query(0x2002, "printer.home.arpa", 1));
  EXPECT_EQ(answer_addresses(again), std::vector<std::string>{"192.168.1.20"});
  EXPECT_EQ(cloud.query_count() + local.query_count(), 2u);
}

TEST_F(local_answers_test, the_networks_resolvers_are_asked_for_local_names_only_a_vpns_for_any) {
  fake_server cloud{reply_rcode(3, "")};
  fake_server lan{answer_with({"192.168.1.20"})};
  fake_server vpn{answer_with({"10.8.0.20"})};
  open();
  net::route def;
  def.tag_identity = true;
  def.resolvers = upstreams({cloud.address()});
  def.local_fallback = upstreams({lan.address()});
  dp_->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, def, device_id, ++generation_,
                                                        std::vector<std::string>{"home.test", "home.arpa"}));
  // A name that cannot be local: the cloud's NXDOMAIN is final and the LAN's resolver never sees the name.
  auto a = udp_exchange(addr_, make_query(0x2101, "www.example", 28));
  EXPECT_EQ(rcode_of(a), 3);
  EXPECT_EQ(lan.query_count(), 0u) << "a hotel's resolver never learns the name (nor rewrites it)";
  // Single labels and names under the local names do fall back.
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(0x2102, "printer", 1))), std::vector<std::string>{"192.168.1.20"});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(0x2103, "nas.home.test", 1))),
            std::vector<std::string>{"192.168.1.20"});
  EXPECT_EQ(lan.query_count(), 2u);
  // A VPN's resolver (any name) is asked for everything, the LAN's still only for local names.
  def.fallback = upstreams({vpn.address()});
  dp_->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, def, device_id, ++generation_,
                                                        std::vector<std::string>{"home.test"}));
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(0x2104, "intranet.corp.example", 1))),
            std::vector<std::string>{"10.8.0.20"});
  EXPECT_EQ(lan.query_count(), 2u);
  EXPECT_EQ(vpn.query_count(), 1u);
}

TEST_F(local_answers_test, fallback_nodata_counts_as_an_answer) {
  fake_server cloud{reply_rcode(3, "")};
  fake_server local{reply_rcode(0, "")};
  open();
  route({cloud.address()}, {local.address()});
  auto a = udp_exchange(addr_, make_query(0x2101, "nas.home.arpa", 28, true));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(rcode_of(a), 0);
  EXPECT_TRUE(answer_addresses(a).empty());
  EXPECT_EQ(arcount_of(a), 0) << "the fallback's answer carried no OPT, and roamd adds none to a relayed answer";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.fallback_used == 1; }));
}

TEST_F(local_answers_test, fallback_is_not_asked_unless_the_answer_is_nxdomain) {
  fake_server cloud{answer_with({"192.0.2.4"})};
  fake_server servfail{reply_rcode(2, "")};
  fake_server local{answer_with({"192.168.1.21"})};
  open();
  route({cloud.address()}, {local.address()}, {servfail.address()});
  auto a = udp_exchange(addr_, make_query(0x2201, "www.example", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.4"});
  auto b = udp_exchange(addr_, make_query(0x2202, "db.corp.test", 1));
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(rcode_of(b), 2) << "a SERVFAIL is relayed as it is";
  EXPECT_EQ(local.query_count(), 0u);
}

TEST_F(local_answers_test, fallback_nxdomain_servfail_or_refused_keeps_the_first_nxdomain) {
  fake_server cloud{reply_rcode(3, "203.0.113.3")};  // a marker record: the cloud's NXDOMAIN
  for (uint8_t rc : {3, 2, 5}) {
    SCOPED_TRACE("fallback rcode " + std::to_string(rc));
    fake_server local{reply_rcode(rc, "203.0.113.4")};
    net::dataplane_options o;
    o.cache.capacity = 0;
    open(o);
    route({cloud.address()}, {local.address()});
    auto a = udp_exchange(addr_, make_query(0x2300, "unknown.example", 1));
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(rcode_of(a), 3);
    EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"203.0.113.3"});
    EXPECT_EQ(local.query_count(), 1u);
    EXPECT_TRUE(wait_totals([](const totals& t) { return t.fallback_sent >= 1; }));
    dp_->stop();
    dp_.reset();
    sums_.add([](totals& t) { t = totals{}; });
  }
}

TEST_F(local_answers_test, fallback_timeouts_keep_the_first_nxdomain_after_the_attempts) {
  fake_server cloud{reply_rcode(3, "203.0.113.5")};
  fake_server dead{nullptr};
  net::dataplane_options o;
  o.timeout_ms = 100;
  o.attempts = 2;
  open(o);
  route({cloud.address()}, {dead.address()});
  auto t0 = std::chrono::steady_clock::now();
  auto a = udp_exchange(addr_, make_query(0x2401, "gone.example", 1));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(rcode_of(a), 3);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"203.0.113.5"});
  EXPECT_EQ(dead.query_count(), 2u) << "the fallback phase gets its own attempts";
  EXPECT_GE(ms, 200);
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.fallback_sent == 1 && t.fallback_used == 0; }));
}

TEST_F(local_answers_test, recent_queries_name_the_resolver_whose_answer_the_client_got_and_what_the_fallback_did) {
  fake_server cloud{reply_rcode(3, "203.0.113.6")};
  // The local resolver knows A records only: AAAA is NXDOMAIN there too.
  fake_server local{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
    size_t name_end = 12;
    while (name_end < q.size() && q[name_end] != 0)
      name_end += q[name_end] + 1u;
    bool a = name_end + 2 < q.size() && q[name_end + 2] == 1;  // QTYPE's low byte
    s.send_to(make_answer(q, a ? std::vector<std::string>{"192.168.1.22"} : std::vector<std::string>{}, a ? 0 : 3),
              from);
  }};
  fake_server dead{nullptr};
  auto ring = std::make_shared<net::query_ring>(10, 1);
  net::dataplane_options o;
  o.observers = {ring};
  o.cache.capacity = 0;
  o.timeout_ms = 100;
  o.attempts = 1;
  open(o);
  route({cloud.address()}, {local.address()});
  ASSERT_EQ(rcode_of(udp_exchange(addr_, make_query(0x2501, "printer.home.arpa", 1))), 0);
  ASSERT_EQ(rcode_of(udp_exchange(addr_, make_query(0x2502, "printer.home.arpa", 28))), 3);
  route({cloud.address()}, {dead.address()});
  ASSERT_EQ(rcode_of(udp_exchange(addr_, make_query(0x2503, "printer.home.arpa", 1))), 3);
  auto seen = ring->snapshot(0);  // recorded before each answer left
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_STREQ(seen[0].resolver, local.address().c_str()) << "the fallback's answer";
  EXPECT_STREQ(seen[1].resolver, cloud.address().c_str()) << "the cloud's NXDOMAIN, kept: not the fallback's";
  EXPECT_STREQ(seen[2].resolver, cloud.address().c_str()) << "kept after the fallback timed out";
  for (const auto& q : seen)
    EXPECT_STREQ(q.route, ".");
  EXPECT_EQ(seen[0].fallback, net::fallback_result::used);
  EXPECT_EQ(seen[1].fallback, net::fallback_result::kept);
  EXPECT_EQ(seen[2].fallback, net::fallback_result::kept);
  route({cloud.address()}, {});
  ASSERT_EQ(rcode_of(udp_exchange(addr_, make_query(0x2504, "printer.home.arpa", 1))), 3);
  EXPECT_EQ(ring->snapshot(1).at(0).fallback, net::fallback_result::not_run) << "no fallback resolvers: none ran";
}

TEST_F(local_answers_test, fallback_resolvers_fail_over_like_any_others) {
  fake_server cloud{reply_rcode(3, "")};
  fake_server dead{nullptr};
  fake_server local{answer_with({"192.168.1.22"})};
  open();
  route({cloud.address()}, {dead.address(), local.address()});
  auto a = udp_exchange(addr_, make_query(0x2501, "tv.home.arpa", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.168.1.22"});
  EXPECT_EQ(dead.query_count(), 1u);
  EXPECT_EQ(local.query_count(), 1u);
}

TEST_F(local_answers_test, without_fallback_resolvers_nxdomain_is_final) {
  fake_server cloud{reply_rcode(3, "")};
  open();
  route({cloud.address()}, {});
  auto a = udp_exchange(addr_, make_query(0x2601, "nothing.example", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(rcode_of(a), 3);
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.answers >= 1; }));
  EXPECT_EQ(snapshot().fallback_sent, 0u);
}

TEST_F(local_answers_test, untagged_route_sends_the_same_query_to_its_fallback) {
  fake_server corp{reply_rcode(3, "")};
  fake_server local{answer_with({"192.168.1.23"})};
  fake_server cloud{answer_with({"192.0.2.5"})};
  open();
  route({cloud.address()}, {local.address()}, {corp.address()});
  bytes cookie = {0x00, 0x0A, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};
  auto q = make_query(0x2701, "old.corp.test", 1, true, true, cookie);
  auto a = udp_exchange(addr_, q);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.168.1.23"});
  ASSERT_EQ(corp.query_count(), 1u);
  ASSERT_EQ(local.query_count(), 1u);
  auto first = corp.queries()[0];
  auto second = local.queries()[0];
  ASSERT_EQ(first.size(), second.size());
  EXPECT_TRUE(std::equal(first.begin() + 2, first.end(), second.begin() + 2)) << "all but the ID";
  EXPECT_EQ(cloud.query_count(), 0u);
}

TEST_F(local_answers_test, truncated_fallback_answer_is_retried_over_tcp_to_that_fallback) {
  fake_server cloud{reply_rcode(3, "")};
  fake_server local{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
                      bytes tc = make_answer(q, {});
                      tc[2] |= 0x02;
                      s.send_to(tc, from);
                    },
                    [](const bytes& q) { return make_answer(q, {"192.168.1.24", "192.168.1.25"}); }};
  open();
  route({cloud.address()}, {local.address()});
  auto a = udp_exchange(addr_, make_query(0x2801, "big.home.arpa", 1));
  EXPECT_EQ(answer_addresses(a), (std::vector<std::string>{"192.168.1.24", "192.168.1.25"}));
  EXPECT_EQ(local.query_count(), 2u) << "one over UDP, one over TCP";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.tcp_fallbacks == 1 && t.fallback_used == 1; }));
}

TEST_F(local_answers_test, forged_answers_in_the_fallback_phase_are_dropped) {
  fake_server cloud{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
    s.send_to(make_answer(q, {}, 3), from);
    s.send_to(make_answer(q, {}, 3), from);  // a duplicate, arriving during the fallback phase
  }};
  fake_server local{[](fake_server& s, const bytes& q, const sockaddr_in& from) {
    bytes wrong_id = make_answer(q, {"203.0.113.66"});
    wrong_id[0] ^= 0xFF;
    s.send_to(wrong_id, from);
    s.send_from_other_port(make_answer(q, {"203.0.113.67"}), from);
    s.send_to(make_answer(make_query(id_of(q), "evil.example", 1), {"203.0.113.68"}), from);
    s.send_to(make_answer(q, {"192.168.1.26"}), from);
  }};
  open();
  route({cloud.address()}, {local.address()});
  auto a = udp_exchange(addr_, make_query(0x2901, "victim.home.arpa", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.168.1.26"});
  EXPECT_TRUE(wait_totals([](const totals& t) {
    return t.drops[static_cast<size_t>(net::drop_reason::answer_unmatched)] >= 2
           && t.drops[static_cast<size_t>(net::drop_reason::answer_wrong_source)] >= 1
           && t.drops[static_cast<size_t>(net::drop_reason::answer_mismatch)] >= 1;
  }));
}

TEST_F(local_answers_test, kept_nxdomain_is_cached_like_any_answer) {
  fake_server cloud{[](fake_server& s, const bytes& q, const sockaddr_in& from) { s.send_to(nxdomain_with_soa(q), from); }};
  fake_server local{reply_rcode(3, "")};
  open();
  route({cloud.address()}, {local.address()});
  for (uint16_t id : {0x2a01, 0x2a02}) {
    auto a = udp_exchange(addr_, make_query(id, "missing.example", 1));
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(rcode_of(a), 3);
    EXPECT_EQ(id_of(a), id);
  }
  EXPECT_EQ(cloud.query_count(), 1u);
  EXPECT_EQ(local.query_count(), 1u) << "the second client was answered from the cache";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.cache_hits == 1; }));
}

} // namespace
