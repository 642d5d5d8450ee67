// The query-routing and upstream-I/O actors on CAF's test coordinator: virtual time, no threads, no sleeping.
#include <gtest/gtest.h>

#include <caf/send.hpp>

#include "actor_test_util.hpp"
#include "actors/query_router.hpp"
#include "actors/upstream_io.hpp"
#include "net/endpoint.hpp"

using namespace roamd;
using namespace std::chrono_literals;

namespace {

proto::Config config() {
  proto::Config cfg;
  cfg.mutable_cloud()->add_resolvers("192.0.2.1:53");
  return cfg;
}

TEST(query_router, publishes_a_new_snapshot_for_each_route_update) {
  test::test_system t;
  std::vector<std::shared_ptr<const net::routing_table>> published;
  auto registry = std::make_shared<net::upstream_registry>();
  auto router = t.sys.spawn(actors::query_router, config(), registry,
                            [&](std::shared_ptr<const net::routing_table> table) { published.push_back(table); });
  t.sched.run();
  ASSERT_EQ(published.size(), 1u);
  auto name = net::routing_table::to_wire("intranet.vpn.example");
  EXPECT_EQ(published.back()->lookup(*name).domain, "");

  proto::RouteUpdate vpn;
  vpn.set_source("vpn");
  auto* r = vpn.add_routes();
  r->set_domain("vpn.example");
  r->add_resolvers("198.51.100.53:53");
  r->set_interface("tun0");
  caf::anon_send(router, vpn);
  t.sched.run();
  ASSERT_EQ(published.size(), 2u);
  const auto& route = published.back()->lookup(*name);
  EXPECT_EQ(route.domain, "vpn.example");
  ASSERT_EQ(route.resolvers.size(), 1u);
  EXPECT_EQ(route.resolvers[0]->interface, "tun0");
  EXPECT_GT(published.back()->generation(), published.front()->generation());

  vpn.clear_routes();  // the VPN went away
  caf::anon_send(router, vpn);
  t.sched.run();
  ASSERT_EQ(published.size(), 3u);
  EXPECT_EQ(published.back()->lookup(*name).domain, "");
  EXPECT_EQ(t.state_of<actors::query_router_state>(router).current.routes_size(), 1);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  t.sched.run();
}

TEST(query_router, an_identity_from_the_cloud_alone_is_a_new_snapshot_and_stays_until_withdrawn) {
  test::test_system t;
  std::vector<std::shared_ptr<const net::routing_table>> published;
  auto router = t.sys.spawn(actors::query_router, config(), std::make_shared<net::upstream_registry>(),
                            [&](std::shared_ptr<const net::routing_table> table) { published.push_back(table); });
  t.sched.run();
  auto name = net::routing_table::to_wire("www.example.com");
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published.back()->identity_for(published.back()->lookup(*name)), nullptr) << "none configured";

  proto::RouteUpdate cloud;  // no routes: only the device id the cloud registered
  cloud.set_source("cloud");
  cloud.set_device_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  caf::anon_send(router, cloud);
  t.sched.run();
  ASSERT_EQ(published.size(), 2u) << "the routes are the same, but the identity is new";
  auto* id = published.back()->identity_for(published.back()->lookup(*name));
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(t.state_of<actors::query_router_state>(router).current.device_id_hex(), "0102030405060708");

  caf::anon_send(router, cloud);  // the same again: nothing to publish
  t.sched.run();
  EXPECT_EQ(published.size(), 2u);

  cloud.clear_device_id();  // withdrawn (e.g. the device was deleted in the cloud)
  caf::anon_send(router, cloud);
  t.sched.run();
  ASSERT_EQ(published.size(), 3u);
  EXPECT_EQ(published.back()->identity_for(published.back()->lookup(*name)), nullptr);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  t.sched.run();
}

TEST(upstream_io, marks_a_failing_upstream_down_probes_it_and_brings_it_back) {
  test::test_system t;
  auto registry = std::make_shared<net::upstream_registry>();
  auto up = registry->get(*net::parse_endpoint("192.0.2.9:53"));
  std::vector<uint32_t> probed;
  std::function<void(proto::ProbeResult)> pending_done;
  actors::upstream_io_options opts{2, 1000, {}};
  auto io = t.sys.spawn(actors::upstream_io, opts, registry,
                        [&](uint32_t id, std::function<void(proto::ProbeResult)> done) {
                          probed.push_back(id);
                          pending_done = std::move(done);
                        });
  t.sched.run();
  proto::StatsBatch batch;
  auto* c = batch.add_upstreams();
  c->set_id(up->id);
  c->set_sent(2);
  c->set_timeouts(2);
  caf::anon_send(io, batch);
  t.sched.run();
  EXPECT_FALSE(up->up.load());
  EXPECT_TRUE(probed.empty());

  t.sched.advance_time(1000ms);
  t.sched.run();
  t.sched.advance_time(250ms);
  t.sched.run();
  ASSERT_EQ(probed, std::vector<uint32_t>{up->id});
  proto::ProbeResult ok;
  ok.set_id(up->id);
  ok.set_ok(true);
  pending_done(ok);
  t.sched.run();
  EXPECT_TRUE(up->up.load());
  auto& st = t.state_of<actors::upstream_io_state>(io);
  EXPECT_EQ(st.totals.upstreams_size(), 0);
  EXPECT_TRUE(st.health->is_up(up->id));
  caf::anon_send_exit(io, caf::exit_reason::user_shutdown);
  t.sched.run();
}

TEST(upstream_io, totals_add_up_local_answers_and_fallbacks_from_every_worker) {
  net::worker_stats s;
  s.local_answers = 2;
  s.fallback_sent = 3;
  s.fallback_used = 1;
  auto b = actors::to_proto(s);
  EXPECT_EQ(b.local_answers(), 2u);
  EXPECT_EQ(b.fallback_sent(), 3u);
  EXPECT_EQ(b.fallback_used(), 1u);
  test::test_system t;
  auto io = t.sys.spawn(actors::upstream_io, actors::upstream_io_options{}, std::make_shared<net::upstream_registry>(),
                        [](uint32_t, std::function<void(proto::ProbeResult)>) {});
  caf::anon_send(io, b);
  caf::anon_send(io, b);
  t.sched.run();
  auto& totals = t.state_of<actors::upstream_io_state>(io).totals;
  EXPECT_EQ(totals.local_answers(), 4u);
  EXPECT_EQ(totals.fallback_sent(), 6u);
  EXPECT_EQ(totals.fallback_used(), 2u);
  caf::anon_send_exit(io, caf::exit_reason::user_shutdown);
  t.sched.run();
}

} // namespace
