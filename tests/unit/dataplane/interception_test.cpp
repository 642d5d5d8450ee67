// Intercepted queries in the data plane, against scripted servers on loopback: the interception listener honours
// the server a client chose for internal names (and only there), and the loop guard stops a query that comes round
// again, through a local proxy forwarding back to roamd or through another agent redirecting roamd's queries back.
// Both loop tests run once without the guard to show that the scripted setup really loops.
#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <thread>

#include "fake_dns.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"

using namespace roamd;
using namespace roamd::test;
using udp = boost::asio::ip::udp;

namespace {

const std::array<uint8_t, 8> device_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
constexpr uint16_t identity_code = 0x6942;

/// The query without its additional section (a forwarder that builds its own queries, as unbound and resolved do,
/// passes no EDNS option on).
bytes without_additional(const bytes& q) {
  size_t end = 12;
  while (end < q.size() && q[end] != 0)
    end += 1 + q[end];
  bytes out(q.begin(), q.begin() + std::min(q.size(), end + 5));
  out[10] = out[11] = 0;
  return out;
}

/// Forwards every query it gets to `to` (as a local proxy forwarding to roamd, or another agent whose own upstream
/// queries roamd's rules redirect) and relays the answer, passing EDNS options on (dnsmasq) or not (`strip`); after
/// `cap` queries it stops answering, so that a loop ends with the test instead of running on.
class bouncer {
public:
  bouncer(size_t cap, bool strip = false) : cap_(cap), strip_(strip) {
  }
  ~bouncer() {
    std::lock_guard<std::mutex> g{mtx_};
    for (auto& t : threads_)
      t.join();
  }

  void target(std::string to) {
    std::lock_guard<std::mutex> g{mtx_};
    to_ = std::move(to);
  }

  fake_server::udp_handler handler() {
    return [this](fake_server& s, const bytes& q, const sockaddr_in& from) {
      std::lock_guard<std::mutex> g{mtx_};
      if (++seen_ > cap_)
        return;
      threads_.emplace_back([&s, q = strip_ ? without_additional(q) : q, from, to = to_] {
        auto a = udp_exchange(to, q, 1500);
        if (!a.empty())
          s.send_to(a, from);
      });
    };
  }

private:
  size_t cap_;
  bool strip_;
  std::mutex mtx_;
  std::string to_;
  size_t seen_ = 0;
  std::vector<std::thread> threads_;
};

class interception_test : public ::testing::Test {
protected:
  struct totals {
    uint64_t intercepted = 0, original_kept = 0, loops_broken = 0, servfail_sent = 0;
  };

  /// A data plane with a listener and an interception listener on 127.0.0.1; intercepted clients "meant" `chosen_`.
  void open(uint32_t loop_limit = 4) {
    net::dataplane_options opts;
    opts.listen = {udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.intercept_listen = {udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.stats_interval_ms = 20;
    opts.timeout_ms = 300;
    opts.attempts = 1;
    opts.loop_limit = loop_limit;
    opts.original_destination = [this]() -> net::original_destination_fn {
      return [this](bool tcp, const udp::endpoint& local, const udp::endpoint&) -> std::optional<udp::endpoint> {
        std::lock_guard<std::mutex> g{mtx_};
        ++lookups_;
        last_tcp_ = tcp;
        last_local_ = local;
        return chosen_;
      };
    };
    dp_ = std::make_unique<net::dataplane>(opts, registry_, [this](net::worker_stats&& s) {
      sums_.add([&](totals& t) {
        t.intercepted += s.intercepted;
        t.original_kept += s.original_kept;
        t.loops_broken += s.loops_broken;
        t.servfail_sent += s.servfail_sent;
      });
    });
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    addr_ = net::to_string(dp_->bound_endpoints().at(0));
    ASSERT_EQ(dp_->bound_intercept().size(), 1u);
    redirected_ = net::to_string(dp_->bound_intercept().at(0));
    ASSERT_NE(addr_, redirected_);
  }

  /// Everything to `cloud` (tagged), corp.test to `corp`.
  void route(const std::string& cloud, const std::string& corp) {
    net::route def;
    def.tag_identity = true;
    def.resolvers = {registry_->get(*net::parse_endpoint(cloud))};
    net::route r;
    r.domain = "corp.test";
    r.resolvers = {registry_->get(*net::parse_endpoint(corp))};
    dp_->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{r}, def, device_id, 1));
  }

  void chosen(std::optional<std::string> server) {
    std::lock_guard<std::mutex> g{mtx_};
    chosen_ = server ? net::parse_endpoint(*server) : std::nullopt;
  }

  bool wait_totals(const std::function<bool(const totals&)>& pred) {
    return sums_.wait(pred);
  }
  totals snapshot() {
    return sums_.snapshot();
  }
  int lookups() {
    std::lock_guard<std::mutex> g{mtx_};
    return lookups_;
  }

  void TearDown() override {
    if (dp_)
      dp_->stop();
  }

  std::shared_ptr<net::upstream_registry> registry_ = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp_;
  std::string addr_, redirected_;
  std::mutex mtx_;
  std::optional<udp::endpoint> chosen_;
  int lookups_ = 0;
  bool last_tcp_ = false;
  udp::endpoint last_local_;
  summed<totals> sums_;  // its waits re-check with every stats batch (20 ms), conditions on the servers too
};

TEST_F(interception_test, internal_names_go_to_the_server_the_client_chose_everything_else_to_the_cloud) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  fake_server proxy{answer_with({"192.0.2.2"})};   // the route's resolver for corp.test (say, an adopted proxy)
  fake_server vpn{answer_with({"192.0.2.3"})};     // the server the intercepted client chose
  open();
  route(cloud.address(), proxy.address());
  chosen(vpn.address());

  auto internal = udp_exchange(redirected_, make_query(1, "a.corp.test", 1));
  EXPECT_EQ(answer_addresses(internal), std::vector<std::string>{"192.0.2.3"}) << "the chosen server answered";
  auto external = udp_exchange(redirected_, make_query(2, "www.example", 1));
  EXPECT_EQ(answer_addresses(external), std::vector<std::string>{"192.0.2.1"});
  ASSERT_EQ(cloud.query_count(), 1u);
  EXPECT_TRUE(has_option(cloud.queries().at(0), identity_code)) << "the cloud gets the identity, as for any client";
  EXPECT_TRUE(has_option(cloud.queries().at(0), net::dns::loop_mark_code)) << "and roamd's loop mark (intercepted)";
  EXPECT_EQ(vpn.query_count(), 1u);
  EXPECT_FALSE(has_option(vpn.queries().at(0), identity_code));
  EXPECT_EQ(proxy.query_count(), 0u);
  EXPECT_EQ(lookups(), 1) << "only the internal name needs to know where it was going";
  EXPECT_EQ(net::to_string(last_local_), redirected_) << "looked up by the interception listener's own address";

  // Over TCP too.
  auto tcp = tcp_exchange(redirected_, {make_query(3, "b.corp.test", 1)}, 1);
  ASSERT_EQ(tcp.size(), 1u);
  EXPECT_EQ(answer_addresses(tcp[0]), std::vector<std::string>{"192.0.2.3"});
  EXPECT_TRUE(last_tcp_);

  // A query to the ordinary listener is routed by name, and never looked up.
  auto plain = udp_exchange(addr_, make_query(4, "c.corp.test", 1));
  EXPECT_EQ(answer_addresses(plain), std::vector<std::string>{"192.0.2.2"});
  EXPECT_EQ(lookups(), 2);

  // Unknown original destination (the flow expired): routed by name.
  chosen(std::nullopt);
  auto unknown = udp_exchange(redirected_, make_query(5, "d.corp.test", 1));
  EXPECT_EQ(answer_addresses(unknown), std::vector<std::string>{"192.0.2.2"});

  EXPECT_TRUE(wait_totals([](const totals& t) { return t.intercepted == 4 && t.original_kept == 2; }))
    << snapshot().intercepted << " " << snapshot().original_kept;
  EXPECT_EQ(snapshot().loops_broken, 0u);
}

TEST_F(interception_test, a_local_proxy_forwarding_back_is_caught_by_the_mark_at_the_first_turn) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  bouncer b{50};
  fake_server proxy{b.handler()};
  open(4);
  route(cloud.address(), proxy.address());
  b.target(addr_);
  auto a = udp_exchange(addr_, make_query(9, "loop.corp.test", 1, true), 2000);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.1"}) << "answered by the default route";
  EXPECT_EQ(proxy.query_count(), 1u) << "its own mark came back with the proxy's query: one turn";
  EXPECT_EQ(cloud.query_count(), 1u);
  EXPECT_TRUE(has_option(proxy.queries()[0], net::dns::loop_mark_code)) << "what roamd sent the proxy carried it";
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.loops_broken == 1; }));
}

TEST_F(interception_test, a_proxys_upstream_query_redirected_back_with_roamds_mark_is_no_loop) {
  // roamd routes corp.test to a local proxy; the proxy forwards to the VPN's server, and roamd's rules redirect that
  // back to roamd, roamd's mark (the one for proxies) and all: it goes on to the server the proxy chose.
  fake_server cloud{answer_with({"192.0.2.1"})};
  fake_server vpn{answer_with({"192.0.2.3"})};
  bouncer b{50};
  fake_server proxy{b.handler()};
  open(4);
  route(cloud.address(), proxy.address());
  chosen(vpn.address());
  b.target(redirected_);
  auto a = udp_exchange(addr_, make_query(11, "host.corp.test", 1, true), 2000);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.3"}) << "the VPN's answer, through the proxy";
  EXPECT_EQ(proxy.query_count(), 1u);
  EXPECT_EQ(vpn.query_count(), 1u);
  EXPECT_EQ(cloud.query_count(), 0u);
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.original_kept == 1; }));
  EXPECT_EQ(snapshot().loops_broken, 0u);
}

TEST_F(interception_test, a_local_proxy_forwarding_back_without_the_mark_is_caught_by_the_count) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  bouncer b{50, true};
  fake_server proxy{b.handler()};
  open(4);
  route(cloud.address(), proxy.address());
  b.target(addr_);
  auto a = udp_exchange(addr_, make_query(9, "loop.corp.test", 1, true), 2000);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.1"}) << "answered by the default route";
  EXPECT_EQ(proxy.query_count(), 4u) << "the proxy was asked `limit` times, then the loop was cut";
  EXPECT_EQ(cloud.query_count(), 1u);
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.loops_broken == 1; }));
}

TEST_F(interception_test, without_the_guard_a_local_proxy_forwarding_back_loops) {
  fake_server cloud{answer_with({"192.0.2.1"})};
  bouncer b{50};
  fake_server proxy{b.handler()};
  open(0);
  route(cloud.address(), proxy.address());
  b.target(addr_);
  udp_exchange(addr_, make_query(9, "loop.corp.test", 1, true), 1000);
  EXPECT_TRUE(sums_.wait([&](const totals&) { return proxy.query_count() >= 50; }))
    << "the query went round " << proxy.query_count() << " times";
  EXPECT_EQ(cloud.query_count(), 0u);
}

// roamd's upstream query goes to the "cloud", which is another agent: it sends the query on, and roamd's own rules
// redirect that back to roamd's interception listener (original destination: that agent's cloud).
TEST_F(interception_test, two_agents_redirecting_each_others_queries_get_servfail_instead_of_a_loop) {
  for (bool strip : {false, true}) {
    SCOPED_TRACE(strip ? "the other agent passes no option on" : "the other agent passes options on");
    bouncer b{50, strip};
    fake_server other{b.handler()};
    fake_server corp{answer_with({"192.0.2.2"})};
    open(4);
    route(other.address(), corp.address());
    chosen(other.address());
    b.target(redirected_);
    auto a = udp_exchange(redirected_, make_query(7, "www.example", 1), 2000);
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(rcode_of(a), 2) << "SERVFAIL: nothing roamd sends can leave";
    // The count cuts it either way: the "cloud" here is on loopback, so roamd treats it as a local proxy, whose mark
    // may rightly come back redirected (previous test); a cloud off loopback gets the other mark, which would end
    // the loop at the first turn when passed on.
    EXPECT_EQ(other.query_count(), 4u);
    EXPECT_TRUE(wait_totals([](const totals& t) { return t.loops_broken >= 1; }));
    dp_->stop();
    dp_.reset();
  }
}

TEST_F(interception_test, two_agents_looping_a_query_for_a_chosen_server_are_caught_by_the_mark_at_the_first_turn) {
  // An internal name goes to the server the client chose; another agent redirects that to itself and on, and roamd's
  // rules bring it back: roamd's mark for queries not sent to a proxy is back, the loop ends at its first turn.
  bouncer b{50};
  fake_server other{b.handler()};
  fake_server cloud{answer_with({"192.0.2.1"})};
  fake_server corp{answer_with({"192.0.2.2"})};
  open(4);
  route(cloud.address(), corp.address());
  chosen(other.address());
  b.target(redirected_);
  auto a = udp_exchange(redirected_, make_query(8, "db.corp.test", 1), 2000);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(rcode_of(a), 2);
  EXPECT_EQ(other.query_count(), 1u) << "one turn";
  EXPECT_TRUE(has_option(other.queries()[0], net::dns::loop_mark_code));
  EXPECT_TRUE(wait_totals([](const totals& t) { return t.loops_broken == 1; }));
}

TEST_F(interception_test, without_the_guard_two_agents_redirecting_each_other_loop) {
  bouncer b{50};
  fake_server other{b.handler()};
  fake_server corp{answer_with({"192.0.2.2"})};
  open(0);
  route(other.address(), corp.address());
  chosen(other.address());
  b.target(redirected_);
  udp_exchange(redirected_, make_query(7, "www.example", 1), 1000);
  EXPECT_TRUE(sums_.wait([&](const totals&) { return other.query_count() >= 50; }))
    << "the query went round " << other.query_count() << " times";
}

TEST(loop_guard, counts_a_question_in_flight_until_it_leaves_and_tells_questions_apart) {
  net::loop_guard g{2};
  auto parse = [](const bytes& m) {
    net::dns::query_info q;
    EXPECT_EQ(net::dns::parse_query(m.data(), m.size(), q), net::dns::parse_error::none);
    return q;
  };
  auto a = parse(make_query(1, "a.example", 1));
  auto aaaa = parse(make_query(2, "a.example", 28));
  uint32_t turns = 9;
  auto k1 = g.enter(a, turns);
  EXPECT_EQ(turns, 0u);
  auto k2 = g.enter(a, turns);
  EXPECT_EQ(turns, 1u);
  auto k3 = g.enter(a, turns);
  EXPECT_EQ(turns, 2u) << "the third at once has come round again (limit 2)";
  EXPECT_NE(k3, 0u) << "still counted: it may be sent elsewhere, and must not loop there either";
  EXPECT_NE(g.enter(a, turns), 0u);
  EXPECT_EQ(g.enter(a, turns), 0u) << "at twice the limit nothing is counted";
  EXPECT_EQ(turns, 4u);
  EXPECT_NE(g.enter(aaaa, turns), 0u);
  EXPECT_EQ(turns, 0u) << "another type is another question";
  g.leave(k1);
  g.leave(k2);
  g.enter(a, turns);
  EXPECT_EQ(turns, 2u) << "two left, so two fewer in flight";
  EXPECT_EQ(g.in_flight(), 4u);
  net::loop_guard off{0};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(off.enter(a, turns), 0u);
  EXPECT_EQ(turns, 0u);
  EXPECT_EQ(off.in_flight(), 0u);
}

} // namespace
