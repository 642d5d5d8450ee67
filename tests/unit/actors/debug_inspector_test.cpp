// The debug actor on CAF's test coordinator, in front of the real supervisor and its real children (router,
// upstream I/O, adapter monitor, enforcer over a fake file system): every query answered from the right actor,
// an actor that is not running reported as UNAVAILABLE, a silent one as TIMEOUT after its bound (virtual time).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actor_test_util.hpp"
#include "actors/adapter_monitor.hpp"
#include "actors/conflict_arbiter.hpp"
#include "actors/debug_inspector.hpp"
#include "actors/dns_enforcer.hpp"
#include "actors/query_router.hpp"
#include "actors/upstream_io.hpp"
#include "scripted_lookup.hpp"
#include "snapshots.hpp"
#include "tests/fakes/fake_command_runner.hpp"
#include "tests/fakes/fake_file_system.hpp"
#include "tests/fakes/fake_firewall.hpp"

using namespace roamd;
using namespace roamd::test;
using namespace std::chrono_literals;

namespace {

using code = proto::InspectError;

struct inspector_fixture : ::testing::Test {
  test_system t;
  std::shared_ptr<fake_file_system> fs = std::make_shared<fake_file_system>();
  std::shared_ptr<fake_command_runner> cmd = std::make_shared<fake_command_runner>();
  scripted_lookup lookup;
  std::shared_ptr<actors::peers> directory = std::make_shared<actors::peers>();
  actors::debug_inspector_actor inspector;
  actors::conflict_arbiter_actor arbiter;
  std::vector<std::shared_ptr<std::optional<proto::InspectResponse>>> replies;
  int64_t now = 1'000'000;

  void SetUp() override {
    fs->put_file("/etc/resolv.conf", "nameserver 192.0.2.53\nsearch home.test\n");
    fs->set_boot_id("boot-1");
    proto::Config cfg;
    cfg.set_source("/etc/roamd/roamd.toml");
    cfg.mutable_listen()->add_addresses("127.0.2.53:53");
    cfg.mutable_cloud()->add_resolvers("192.0.2.1:53");
    auto* corp = cfg.add_internal();
    corp->set_domain("corp.test");
    corp->add_resolvers("10.0.0.53:53");
    actors::debug_inspector_options io;
    io.version = "9.9.9";
    io.started_unix_ms = now - 65'000;
    io.config = actors::config_summary(cfg);
    inspector = t.sys.spawn(actors::debug_inspector, io, directory, std::function<int64_t()>{[this] { return now; }});
    std::vector<actors::child_spec> children;
    children.push_back({actors::peers::role::router, [cfg](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(
                            s.spawn(actors::query_router, cfg, std::make_shared<net::upstream_registry>(),
                                    actors::publish_fn{}));
                        }});
    children.push_back({actors::peers::role::upstream_io, [](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(
                            s.spawn(actors::upstream_io, actors::upstream_io_options{},
                                    std::make_shared<net::upstream_registry>(), actors::probe_fn{}));
                        }});
    children.push_back({actors::peers::role::adapters, [dir = directory](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(
                            s.spawn(actors::adapter_monitor, std::shared_ptr<os::link_monitor>{},
                                    std::shared_ptr<os::settings_watcher>{}, "/etc/resolv.conf", dir));
                        }});
    actors::dns_enforcer_options eo;
    eo.listen = "127.0.2.53";
    eo.own_addresses = {"127.0.2.53:53"};
    eo.interception_unavailable = "not in this test";
    actors::dns_enforcer_deps deps{fs, cmd, lookup.fn(),
                                   [] { return int64_t{42}; }, directory, nullptr};
    children.push_back({actors::peers::role::enforcer, [eo, deps](caf::actor_system& s) {
                          return caf::actor_cast<caf::strong_actor_ptr>(s.spawn(actors::dns_enforcer, eo, deps));
                        }});
    actors::conflict_arbiter_options ao;
    ao.listen = "127.0.2.53";
    ao.own_addresses = {"127.0.2.53:53"};
    arbiter = t.sys.spawn(actors::conflict_arbiter, ao, directory, std::move(children),
                          std::function<int64_t()>{[] { return int64_t{42}; }});
    t.sched.run();
  }

  void TearDown() override {
    caf::anon_send_exit(arbiter, caf::exit_reason::user_shutdown);  // its children go with it
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
    t.sched.run();
  }

  /// The agent's take, its canary answered like roamd: the arbiter's reply.
  std::shared_ptr<std::optional<proto::EnforcerStatus>> take() {
    auto slot = std::make_shared<std::optional<proto::EnforcerStatus>>();
    t.sys.spawn(
      [slot](caf::event_based_actor* self, actors::conflict_arbiter_actor a) {
        self->request(a, caf::infinite, actors::take_atom::value).then([slot](const proto::EnforcerStatus& s) {
          *slot = s;
        });
      },
      arbiter);
    t.sched.run();
    lookup.answer(true);
    t.sched.run();
    return slot;
  }

  /// Sends `query` to the debug actor as request `id`; the answer lands in a slot the fixture owns.
  std::shared_ptr<std::optional<proto::InspectResponse>> send(proto::Query query, uint64_t id = 7,
                                                              uint32_t limit = 0) {
    auto slot = std::make_shared<std::optional<proto::InspectResponse>>();
    replies.push_back(slot);
    proto::InspectRequest req;
    req.set_id(id);
    req.set_query(query);
    req.set_limit(limit);
    t.sys.spawn(
      [slot, req](caf::event_based_actor* self, actors::debug_inspector_actor target) {
        self->request(target, caf::infinite, req).then([slot](const proto::InspectResponse& r) { *slot = r; });
      },
      inspector);
    return slot;
  }

  proto::InspectResponse ask(proto::Query query, uint64_t id = 7, uint32_t limit = 0) {
    auto slot = send(query, id, limit);
    t.sched.run();
    EXPECT_TRUE(*slot) << "no answer";
    return slot->value_or(proto::InspectResponse{});
  }
};

TEST_F(inspector_fixture, status_combines_the_arbiter_the_enforcer_version_uptime_and_configuration) {
  auto r = ask(proto::QUERY_STATUS, 11);
  EXPECT_EQ(r.id(), 11u);
  ASSERT_TRUE(r.has_status()) << r.ShortDebugString();
  const auto& s = r.status();
  EXPECT_EQ(s.version(), "9.9.9");
  EXPECT_EQ(s.uptime_ms(), 65'000u);
  EXPECT_EQ(s.state(), "starting");
  EXPECT_EQ(s.reason(), "not yet protecting");
  EXPECT_EQ(s.enforcer().interception_reason(), "not in this test");
  EXPECT_EQ(s.config().source(), "/etc/roamd/roamd.toml");
  ASSERT_EQ(s.config().internal_domains_size(), 1);
  EXPECT_EQ(s.config().internal_domains(0), "corp.test");
  EXPECT_EQ(s.config().cloud_resolvers(0), "192.0.2.1:53");
}

TEST_F(inspector_fixture, each_query_is_answered_by_the_actor_that_knows) {
  caf::anon_send(directory->get<actors::adapter_monitor_actor>(actors::peers::role::adapters), lan_only());
  proto::StatsBatch batch;
  batch.set_queries_udp(5);
  batch.set_cache_hits(2);
  (*batch.mutable_drops())["too_short"] = 3;
  caf::anon_send(directory->get<actors::upstream_io_actor>(actors::peers::role::upstream_io), batch);
  t.sched.run();

  auto adapters = ask(proto::QUERY_ADAPTERS);
  ASSERT_TRUE(adapters.has_adapters()) << adapters.ShortDebugString();
  EXPECT_EQ(adapters.adapters().links_size(), lan_only().links_size());

  auto routes = ask(proto::QUERY_ROUTES);
  ASSERT_TRUE(routes.has_routes()) << routes.ShortDebugString();
  bool cloud = false, corp = false;
  for (const auto& route : routes.routes().routes()) {
    cloud |= route.domain().empty() && route.resolvers(0) == "192.0.2.1:53";
    corp |= route.domain() == "corp.test" && route.resolvers(0) == "10.0.0.53:53";
  }
  EXPECT_TRUE(cloud && corp) << routes.ShortDebugString();

  auto stats = ask(proto::QUERY_STATS);
  ASSERT_TRUE(stats.has_stats()) << stats.ShortDebugString();
  EXPECT_EQ(stats.stats().queries_udp(), 5u);
  EXPECT_EQ(stats.stats().cache_hits(), 2u);
  EXPECT_EQ(stats.stats().drops().at("too_short"), 3u);

  EXPECT_TRUE(ask(proto::QUERY_UPSTREAMS).has_upstreams());

  auto settings = ask(proto::QUERY_SETTINGS);
  ASSERT_TRUE(settings.has_settings()) << settings.ShortDebugString();
  ASSERT_EQ(settings.settings().current().nameservers_size(), 1);
  EXPECT_EQ(settings.settings().current().nameservers(0), "192.0.2.53");

  auto events = ask(proto::QUERY_EVENTS);
  ASSERT_TRUE(events.has_events()) << events.ShortDebugString();
  EXPECT_EQ(events.events().state(), "starting");
}

TEST_F(inspector_fixture, adapters_carry_each_links_dns_as_the_backends_manager_holds_it) {
  caf::anon_send(directory->get<actors::adapter_monitor_actor>(actors::peers::role::adapters), lan_only());
  t.sched.run();
  EXPECT_EQ(ask(proto::QUERY_ADAPTERS).adapters().dns_size(), 0) << "no takeover, no backend to ask";
  // openresolv owns resolv.conf: the takeover uses the resolvconf backend, whose manager lists each interface.
  fs->put_file("/etc/resolv.conf", "# Generated by resolvconf\nnameserver 192.0.2.53\n");
  fs->put_file("/etc/resolvconf.conf", "resolv_conf=/etc/resolv.conf\n");
  cmd->set_result("resolvconf", {0, "# resolv.conf from eth0.dhcp\nnameserver 192.0.2.53\nsearch home.test\n"});
  auto slot = take();
  ASSERT_TRUE(*slot);
  ASSERT_EQ((*slot)->backend(), "resolvconf");
  auto adapters = ask(proto::QUERY_ADAPTERS);
  EXPECT_EQ(adapters.adapters().links_size(), lan_only().links_size()) << "the link monitor's part is all there";
  ASSERT_EQ(adapters.adapters().dns_size(), 1) << adapters.ShortDebugString();
  EXPECT_EQ(adapters.adapters().dns(0).link(), "eth0");
  EXPECT_EQ(adapters.adapters().dns(0).settings().search(0), "home.test");
}

TEST_F(inspector_fixture, the_event_history_shows_the_arbiters_decisions) {
  auto slot = take();
  ASSERT_TRUE(*slot);
  auto events = ask(proto::QUERY_EVENTS);
  ASSERT_TRUE(events.has_events());
  ASSERT_GE(events.events().events_size(), 1);
  EXPECT_EQ(events.events().events(events.events().events_size() - 1).action(), "take");
  EXPECT_EQ(ask(proto::QUERY_STATUS).status().enforcer().state(), "protecting");
}

TEST_F(inspector_fixture, an_actor_that_is_not_running_is_unavailable_and_a_silent_one_times_out) {
  auto router = directory->get<caf::actor>(actors::peers::role::router);
  directory->clear(actors::peers::role::router);  // as between a crash and the restart
  auto r = ask(proto::QUERY_ROUTES);
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), code::UNAVAILABLE);
  EXPECT_NE(r.error().message().find("query_router is not running"), std::string::npos) << r.error().message();

  // A router that never answers (a promise never delivered): TIMEOUT after the 2 s bound, in virtual time.
  // (Spawned with an argument: CAF 0.17 binds a null reference for a function actor without one, which UBSan flags.)
  auto silent = t.sys.spawn(
    [](caf::event_based_actor* self, int) -> caf::behavior {
      return {[self](caf::get_atom, actors::routes_atom) { return self->make_response_promise(); }};
    },
    0);
  directory->set(actors::peers::role::router, silent);
  auto slot = send(proto::QUERY_ROUTES);
  t.sched.run();
  EXPECT_FALSE(*slot);
  t.sched.advance_time(2001ms);
  t.sched.run();
  ASSERT_TRUE(*slot);
  ASSERT_TRUE((*slot)->has_error());
  EXPECT_EQ((*slot)->error().code(), code::TIMEOUT);
  EXPECT_NE((*slot)->error().message().find("query_router did not answer within 2000 ms"), std::string::npos);
  caf::anon_send_exit(silent, caf::exit_reason::kill);
  directory->set(actors::peers::role::router, router);
}

TEST_F(inspector_fixture, recent_queries_are_disabled_unless_configured_and_shown_newest_last) {
  auto off = ask(proto::QUERY_QUERIES, 5);
  ASSERT_TRUE(off.has_error());
  EXPECT_EQ(off.error().code(), proto::InspectError::DISABLED);
  EXPECT_NE(off.error().message().find("debug.recent_queries"), std::string::npos) << off.error().message();

  auto ring = std::make_shared<net::query_ring>(10, 1);
  sockaddr_in client{};
  client.sin_family = AF_INET;
  client.sin_port = htons(40001);
  client.sin_addr.s_addr = htonl(0xC000020A);  // 192.0.2.10
  net::dns::query_info q;
  const uint8_t name[] = {3, 'w', 'w', 'w', 4, 'c', 'o', 'r', 'p', 4, 't', 'e', 's', 't', 0};
  std::copy(std::begin(name), std::end(name), q.qname.bytes.begin());
  q.qname.size = sizeof(name);
  q.qtype = 28;
  uint8_t answer[12] = {0, 1, 0x81, 0x83};  // NXDOMAIN
  for (int i = 0; i < 3; ++i) {
    net::query_event e;
    e.kind = net::query_event::response;
    e.source = i == 1 ? net::answer_source::cache : net::answer_source::upstream;
    e.client = reinterpret_cast<const sockaddr*>(&client);
    e.client_len = sizeof(client);
    e.message = answer;
    e.size = sizeof(answer);
    e.question = &q;
    e.query_time = std::chrono::system_clock::time_point{std::chrono::seconds(1700000000 + i)};
    e.response_time = e.query_time + std::chrono::microseconds(1500);
    e.route = "corp.test";
    e.fallback = net::fallback_result::kept;  // for upstream answers only
    ring->observe(e);
  }
  actors::debug_inspector_options io;
  io.recent = ring;
  auto with_ring = t.sys.spawn(actors::debug_inspector, io, directory, std::function<int64_t()>{[this] { return now; }});
  std::swap(inspector, with_ring);
  auto r = ask(proto::QUERY_QUERIES, 6, 2);
  std::swap(inspector, with_ring);
  caf::anon_send_exit(with_ring, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(r.has_queries()) << r.ShortDebugString();
  EXPECT_EQ(r.id(), 6u);
  EXPECT_EQ(r.queries().capacity(), 10u);
  ASSERT_EQ(r.queries().queries_size(), 2) << "the limit keeps the two newest";
  const auto& last = r.queries().queries(1);
  EXPECT_EQ(last.time_unix_us(), 1700000002000000);
  EXPECT_EQ(last.client(), "192.0.2.10:40001");
  EXPECT_EQ(last.transport(), "udp");
  EXPECT_EQ(last.name(), "www.corp.test");
  EXPECT_EQ(last.qtype(), 28u);
  EXPECT_EQ(last.rcode(), 3u);
  EXPECT_EQ(last.source(), "upstream");
  EXPECT_EQ(last.route(), "corp.test");
  EXPECT_EQ(last.latency_us(), 1500u);
  EXPECT_EQ(last.nxdomain_fallback(), "kept_nxdomain");
  EXPECT_EQ(r.queries().queries(0).source(), "cache");
  EXPECT_EQ(r.queries().queries(0).route(), "") << "only upstream answers name a route";
  EXPECT_EQ(r.queries().queries(0).nxdomain_fallback(), "") << "and tell what the NXDOMAIN fallback did";
}

TEST_F(inspector_fixture, an_unknown_query_or_no_query_is_a_bad_request) {
  auto r = ask(static_cast<proto::Query>(99));
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), code::BAD_REQUEST);
  r = ask(proto::QUERY_UNSPECIFIED);
  EXPECT_EQ(r.error().code(), code::BAD_REQUEST);
}

} // namespace
