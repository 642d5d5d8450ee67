// The network-state actor on CAF's test coordinator (virtual time, no threads, no sleeping), with the real router,
// a recording stand-in for the arbiter, and probes and lookups the test answers: transitions, what reaches the
// router and the arbiter, and the probing cadence.
#include <gtest/gtest.h>

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actor_test_util.hpp"
#include "actors/network_state.hpp"
#include "actors/query_router.hpp"
#include "snapshots.hpp"

using namespace roamd;
using namespace roamd::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* cloud = "198.51.100.1:53";
constexpr const char* local = "192.0.2.53:53";

struct network_fixture : ::testing::Test {
  test_system t;
  std::shared_ptr<actors::peers> directory = std::make_shared<actors::peers>();
  std::shared_ptr<net::upstream_registry> registry = std::make_shared<net::upstream_registry>();
  actors::query_router_actor router;
  caf::actor arbiter;
  actors::network_state_actor net;
  std::shared_ptr<std::vector<proto::NetworkVerdict>> verdicts = std::make_shared<std::vector<proto::NetworkVerdict>>();
  std::vector<std::pair<uint32_t, std::function<void(proto::ProbeResult)>>> probes;
  struct lookup_call {
    std::string name;
    std::vector<std::string> resolvers;
    std::function<void(actors::lookup_outcome)> done;
  };
  std::vector<lookup_call> lookups;
  // The "nxdomain" probes (random .com names), answered NXDOMAIN at once unless the test answers them itself.
  std::vector<lookup_call> nx_lookups;
  bool nx_auto = true;
  int64_t now = 1'000'000;
  actors::network_state_options opts;

  void SetUp() override {
    opts.settings.trusted_domain = "corp.example";
    opts.settings.probe_name = "probe.test";
    opts.settings.probe_address = "203.0.113.7";
  }

  void start(bool local_known = true) {
    proto::Config cfg;
    cfg.mutable_cloud()->add_resolvers(cloud);
    router = t.sys.spawn(actors::query_router, cfg, registry, actors::publish_fn{});
    directory->set(actors::peers::role::router, router);
    if (local_known) {
      proto::RouteUpdate system;
      system.set_source("system");
      auto* d = system.add_routes();
      d->set_domain("");
      d->add_fallback_resolvers(local);
      directory->send_routes(system);
    }
    // With an argument: CAF 0.17 binds a null reference spawning a function actor without any (tests/ubsan.supp).
    arbiter = t.sys.spawn(
      [](caf::event_based_actor*, std::shared_ptr<std::vector<proto::NetworkVerdict>> v) -> caf::behavior {
        return {[v](const proto::NetworkVerdict& x) { v->push_back(x); }};
      },
      verdicts);
    directory->set(actors::peers::role::arbiter, arbiter);
    actors::network_state_deps deps;
    deps.directory = directory;
    deps.registry = registry;
    deps.probe = [this](uint32_t id, std::function<void(proto::ProbeResult)> done) {
      probes.emplace_back(id, std::move(done));
    };
    deps.lookup = [this](const std::string& name, const std::vector<std::string>& resolvers,
                         std::function<void(actors::lookup_outcome)> done) {
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".com") == 0) {
        if (nx_auto)
          done(actors::lookup_outcome{false, {}, "NXDOMAIN from " + resolvers.at(0), true});
        else
          nx_lookups.push_back({name, resolvers, std::move(done)});
        return;
      }
      lookups.push_back({name, resolvers, std::move(done)});
    };
    deps.now_ms = [this] { return now; };
    net = t.sys.spawn(actors::network_state, opts, deps);
    directory->set(actors::peers::role::network, net);
    t.sched.run();
  }

  void answer_probe(size_t i, bool ok) {
    proto::ProbeResult r;
    r.set_id(probes.at(i).first);
    r.set_ok(ok);
    r.set_rtt_us(3000);
    probes.at(i).second(r);
    t.sched.run();
  }

  void answer_lookup(size_t i, bool ok, std::vector<std::string> addresses = {}) {
    lookups.at(i).done(actors::lookup_outcome{ok, std::move(addresses), ok ? "" : "NXDOMAIN"});
    t.sched.run();
  }

  /// Answers the latest round: the cloud as `cloud_ok`, both lookups failing unless given.
  void answer_round(bool cloud_ok, std::vector<std::string> trusted = {}, std::vector<std::string> probe = {}) {
    answer_probe(probes.size() - 1, cloud_ok);
    for (size_t i = lookups.size() - 2; i < lookups.size(); ++i) {
      auto& l = lookups[i];
      auto& as = l.name == "corp.example" ? trusted : probe;
      answer_lookup(i, !as.empty(), as);
    }
  }

  void advance(std::chrono::milliseconds d) {
    t.sched.advance_time(d);
    t.sched.run();
  }

  const proto::NetworkStatus& status() {
    return t.state_of<actors::network_state_state>(net).status;
  }

  const proto::Route& default_route() {
    return t.state_of<actors::query_router_state>(router).current.routes(0);
  }

  void TearDown() override {
    caf::anon_send_exit(net, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(arbiter, caf::exit_reason::user_shutdown);
    t.sched.run();
  }
};

} // namespace

TEST_F(network_fixture, the_first_round_probes_the_cloud_and_looks_both_names_up_at_the_local_resolvers) {
  start();
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(registry->find(probes[0].first)->name, cloud);
  ASSERT_EQ(lookups.size(), 2u);
  EXPECT_EQ(lookups[0].name, "corp.example");
  EXPECT_EQ(lookups[1].name, "probe.test");
  EXPECT_EQ(lookups[0].resolvers, std::vector<std::string>{local});
  EXPECT_EQ(status().state(), "probing");
  answer_round(true);
  EXPECT_EQ(status().state(), "protected");
  EXPECT_NE(status().reason().find("plain DNS (198.51.100.1:53)"), std::string::npos);
  EXPECT_FALSE(status().encrypted());
  EXPECT_EQ(status().probes_size(), 4) << "the cloud, both names, and whether the network rewrites NXDOMAIN";
  EXPECT_EQ(status().rounds(), 1u);
  ASSERT_EQ(verdicts->size(), 1u);
  EXPECT_FALSE(verdicts->back().stand_down());
  EXPECT_EQ(verdicts->back().state(), "protected");
  EXPECT_EQ(default_route().source(), "config") << "protected: the routes are the configured ones";
}

TEST_F(network_fixture, rounds_come_every_10s_while_unsettled_then_every_60s) {
  start();
  answer_round(true);  // probing -> protected: unsettled
  for (int i = 0; i < 3; ++i) {
    auto before = probes.size();
    advance(9'999ms);
    EXPECT_EQ(probes.size(), before) << "not before 10 s";
    advance(1ms);
    ASSERT_EQ(probes.size(), before + 1) << "round " << i + 2;
    answer_round(true);
  }
  auto before = probes.size();
  advance(59'999ms);
  EXPECT_EQ(probes.size(), before) << "stable: every 60 s";
  advance(1ms);
  EXPECT_EQ(probes.size(), before + 1);
  EXPECT_EQ(verdicts->size(), 1u) << "no transition, no verdict";
  // A link-set change probes at once and unsettles.
  answer_round(true);
  caf::anon_send(net, lan_only());
  t.sched.run();
  EXPECT_EQ(probes.size(), before + 2) << "at once after a link-set change";
  answer_round(true);
  before = probes.size();
  advance(10s);
  EXPECT_EQ(probes.size(), before + 1) << "unsettled again";
}

TEST_F(network_fixture, an_unreachable_cloud_fails_open_to_the_local_resolvers_and_protection_returns) {
  start();
  answer_round(true);
  advance(10s);
  answer_round(false);
  EXPECT_EQ(status().state(), "protected") << "one failed round, no failed queries: probed again first";
  advance(1s);
  answer_round(false);
  EXPECT_EQ(status().state(), "open");
  EXPECT_EQ(status().transitions(), 2u);
  EXPECT_EQ(default_route().source(), "network");
  ASSERT_EQ(default_route().resolvers_size(), 1);
  EXPECT_EQ(default_route().resolvers(0), local);
  EXPECT_FALSE(default_route().tag_identity());
  EXPECT_EQ(verdicts->back().state(), "open");
  EXPECT_FALSE(verdicts->back().stand_down());
  // While open the cloud is probed every 2 s.
  auto before = probes.size();
  advance(2s);
  ASSERT_EQ(probes.size(), before + 1);
  answer_round(false);
  advance(2s);
  ASSERT_EQ(probes.size(), before + 2);
  answer_round(true);
  EXPECT_EQ(status().state(), "protected");
  EXPECT_EQ(default_route().source(), "config");
  EXPECT_EQ(default_route().resolvers(0), cloud);
  EXPECT_TRUE(directory->reachability().mode() == proto::CloudReachability::NORMAL);
}

TEST_F(network_fixture, the_data_planes_health_opens_at_once_and_a_recovery_probes_at_once) {
  start();
  answer_round(true);
  auto before = probes.size();
  caf::anon_send(net, actors::health_atom::value, std::string{"192.0.2.99:53"}, false);
  t.sched.run();
  EXPECT_EQ(status().state(), "protected") << "not a cloud resolver";
  caf::anon_send(net, actors::health_atom::value, std::string{cloud}, false);
  t.sched.run();
  EXPECT_EQ(status().state(), "open") << "without waiting for a round";
  EXPECT_NE(status().reason().find("stopped answering"), std::string::npos);
  EXPECT_EQ(default_route().resolvers(0), local);
  EXPECT_EQ(probes.size(), before);
  caf::anon_send(net, actors::health_atom::value, std::string{cloud}, true);
  t.sched.run();
  ASSERT_EQ(probes.size(), before + 1) << "the cloud came back: a round at once";
  answer_round(true);
  EXPECT_EQ(status().state(), "protected");
}

TEST_F(network_fixture, fail_closed_from_the_policy_leaves_the_cloud_route_without_resolvers) {
  start();
  answer_round(true);
  proto::Policy p;
  p.set_fail_mode(proto::Policy::FAIL_CLOSED);
  caf::anon_send(net, p);
  t.sched.run();
  ASSERT_EQ(probes.size(), 2u) << "a new policy probes at once";
  answer_round(false);
  advance(1s);
  answer_round(false);
  EXPECT_EQ(status().state(), "closed");
  EXPECT_EQ(status().fail_mode(), "closed");
  EXPECT_EQ(default_route().resolvers_size(), 0);
  EXPECT_EQ(default_route().source(), "network");
}

TEST_F(network_fixture, a_trusted_network_stands_down_and_a_link_change_that_ends_it_takes_over_again) {
  start();
  answer_round(true, {"10.1.2.3"});
  EXPECT_EQ(status().state(), "trusted network");
  ASSERT_EQ(verdicts->size(), 1u);
  EXPECT_TRUE(verdicts->back().stand_down());
  EXPECT_EQ(verdicts->back().reason(), "trusted network (corp.example \u2192 10.1.2.3)");
  EXPECT_EQ(default_route().source(), "config") << "routes unchanged while stood down";
  // Standing down restores the settings, which withdraws the recorded local resolvers from the routes: the
  // lookups still go to the last ones known (else roamd would take over again at once, and flap).
  proto::RouteUpdate withdrawn;
  withdrawn.set_source("system");
  directory->send_routes(withdrawn);
  t.sched.run();
  advance(10s);
  ASSERT_EQ(lookups.size(), 4u);
  EXPECT_EQ(lookups.back().resolvers, std::vector<std::string>{local});
  answer_round(true, {"10.1.2.3"});
  EXPECT_EQ(verdicts->size(), 1u) << "still trusted: no verdict";
  caf::anon_send(net, with_tunnel());
  t.sched.run();
  answer_round(true);
  EXPECT_EQ(status().state(), "protected");
  ASSERT_EQ(verdicts->size(), 2u);
  EXPECT_FALSE(verdicts->back().stand_down());
}

TEST_F(network_fixture, behind_a_protected_network_stands_down) {
  start();
  answer_round(false, {}, {"203.0.113.7"});
  EXPECT_EQ(status().state(), "behind a protected network");
  EXPECT_TRUE(verdicts->back().stand_down());
  EXPECT_EQ(default_route().source(), "config") << "not fail-open while stood down";
}

TEST_F(network_fixture, probes_that_never_come_back_fail_at_the_rounds_deadline) {
  start();
  EXPECT_EQ(status().state(), "probing");
  advance(opts.round_deadline);
  EXPECT_EQ(status().state(), "probing") << "one failed round: probed again";
  EXPECT_NE(status().reason().find("deadline"), std::string::npos);
  advance(1s);
  advance(opts.round_deadline);
  EXPECT_EQ(status().state(), "open");
  // Late answers of that round are ignored.
  answer_probe(0, true);
  EXPECT_EQ(status().state(), "open");
}

TEST_F(network_fixture, without_known_local_resolvers_only_the_cloud_is_probed_and_the_next_round_comes_soon) {
  start(false);
  EXPECT_EQ(lookups.size(), 0u);
  answer_probe(0, true);
  EXPECT_EQ(status().state(), "protected");
  advance(2s);
  EXPECT_EQ(probes.size(), 2u) << "the lookups wait for the local resolvers: retried after 2 s";
}

TEST_F(network_fixture, detection_off_never_probes) {
  opts.settings.detection = false;
  start();
  EXPECT_TRUE(probes.empty());
  EXPECT_EQ(status().state(), "off");
  advance(120s);
  EXPECT_TRUE(probes.empty());
  EXPECT_TRUE(verdicts->empty());
}

namespace {

TEST_F(network_fixture, a_round_failing_during_a_vpn_connect_is_probed_again_and_never_fails_open) {
  start();
  answer_round(true);
  caf::anon_send(net, with_tunnel());  // the tunnel appears: a round at once, in the middle of the churn
  t.sched.run();
  answer_round(false);
  EXPECT_EQ(status().state(), "protected");
  EXPECT_EQ(default_route().source(), "config") << "the cloud route stays";
  auto before = probes.size();
  advance(1s);
  ASSERT_EQ(probes.size(), before + 1) << "probed again once the routes settled";
  answer_round(true);
  EXPECT_EQ(status().state(), "protected");
  EXPECT_EQ(verdicts->size(), 1u) << "no transition at all";
}

/// Protected with two cloud resolvers (the second from a cloud route update, as the policy gives it), after a
/// round that probed both; then the data plane marks the first down. Returns the number of probes before that.
size_t two_cloud_resolvers_then_one_down(network_fixture& f) {
  f.start();
  f.answer_round(true);
  proto::RouteUpdate extra;
  extra.set_source("cloud");
  auto* d = extra.add_routes();
  d->set_domain("");
  d->add_resolvers(cloud);
  d->add_resolvers("198.51.100.2:53");
  f.directory->send_routes(extra);
  f.t.sched.run();
  f.advance(10s);
  f.answer_probe(f.probes.size() - 2, true);  // a round probes both
  f.answer_round(true);
  auto before = f.probes.size();
  caf::anon_send(f.net, actors::health_atom::value, std::string{cloud}, false);  // 3 real queries to it failed
  f.t.sched.run();
  return before;
}

TEST_F(network_fixture, one_cloud_resolver_down_asks_the_others_at_once_and_opens_if_they_stay_silent) {
  auto before = two_cloud_resolvers_then_one_down(*this);
  EXPECT_EQ(status().state(), "protected") << "the other one may still answer";
  ASSERT_EQ(probes.size(), before + 2) << "both cloud resolvers probed at once";
  advance(499ms);
  EXPECT_EQ(status().state(), "protected");
  advance(1ms);
  EXPECT_EQ(status().state(), "open") << "the other did not answer within 500 ms";
  EXPECT_NE(status().reason().find("real queries to it failed"), std::string::npos) << status().reason();
}

TEST_F(network_fixture, one_cloud_resolver_down_while_another_answers_stays_protected) {
  auto before = two_cloud_resolvers_then_one_down(*this);
  ASSERT_EQ(probes.size(), before + 2);
  answer_probe(before + 1, true);  // the second answers
  answer_probe(before, false);
  for (auto& l : lookups)
    if (l.done) {
      auto done = std::move(l.done);
      l.done = nullptr;
      done(actors::lookup_outcome{false, {}, "NXDOMAIN"});
    }
  t.sched.run();
  advance(500ms);
  EXPECT_EQ(status().state(), "protected");
}

} // namespace

TEST_F(network_fixture, a_random_name_that_cannot_exist_is_asked_of_the_networks_resolvers_once_per_network) {
  nx_auto = false;
  start();
  ASSERT_EQ(nx_lookups.size(), 1u);
  const auto& name = nx_lookups[0].name;
  ASSERT_EQ(name.size(), 16u) << name;
  EXPECT_TRUE(std::all_of(name.begin(), name.begin() + 12, [](char c) { return c >= 'a' && c <= 'z'; })) << name;
  EXPECT_EQ(nx_lookups[0].resolvers, std::vector<std::string>{local});
  nx_lookups[0].done(actors::lookup_outcome{false, {}, "NXDOMAIN from 192.0.2.53:53", true});
  answer_round(true);
  EXPECT_FALSE(status().rewrites_nxdomain());
  EXPECT_NE(status().nxdomain_probe().find("NXDOMAIN"), std::string::npos) << status().nxdomain_probe();
  advance(10s);
  answer_round(true);
  EXPECT_EQ(nx_lookups.size(), 1u) << "the same network: not asked again";
  caf::anon_send(net, lan_only());
  t.sched.run();
  ASSERT_EQ(nx_lookups.size(), 2u) << "asked again when the links change";
  EXPECT_NE(nx_lookups[1].name, name) << "a fresh random name (a cached answer proves nothing)";
}

TEST_F(network_fixture, a_network_that_rewrites_nxdomain_is_dropped_from_the_fallback_until_one_that_does_not) {
  nx_auto = false;
  start();
  ASSERT_EQ(default_route().fallback_resolvers_size(), 1) << "the network's resolver is the NXDOMAIN fallback";
  nx_lookups[0].done(actors::lookup_outcome{true, {"198.51.100.7"}, "", false});  // an ISP's search page
  answer_round(true);
  EXPECT_TRUE(status().rewrites_nxdomain());
  EXPECT_NE(status().nxdomain_probe().find("198.51.100.7"), std::string::npos) << status().nxdomain_probe();
  EXPECT_EQ(default_route().fallback_resolvers_size(), 0) << "no fallback to a resolver that invents answers";
  const auto& snap = t.state_of<actors::query_router_state>(router).current;
  EXPECT_NE(snap.nxdomain_rewriting().find("198.51.100.7"), std::string::npos) << snap.nxdomain_rewriting();
  EXPECT_EQ(status().state(), "protected") << "protection is not affected";
  EXPECT_TRUE(directory->reachability().local_rewrites_nxdomain()) << "remembered for a restarted router";
  // A probe that proves nothing (a timeout) on the next network keeps the verdict and asks again next round.
  caf::anon_send(net, lan_only());
  t.sched.run();
  ASSERT_EQ(nx_lookups.size(), 2u);
  nx_lookups[1].done(actors::lookup_outcome{false, {}, "192.0.2.53:53 timed out after 1000 ms", false});
  answer_round(true);
  EXPECT_TRUE(status().rewrites_nxdomain());
  advance(10s);
  ASSERT_EQ(nx_lookups.size(), 3u) << "inconclusive: asked again";
  nx_lookups[2].done(actors::lookup_outcome{false, {}, "NXDOMAIN from 192.0.2.53:53", true});
  answer_round(true);
  EXPECT_FALSE(status().rewrites_nxdomain());
  EXPECT_EQ(default_route().fallback_resolvers_size(), 1) << "an honest network is a fallback again";
  EXPECT_EQ(t.state_of<actors::query_router_state>(router).current.nxdomain_rewriting(), "");
}

TEST_F(network_fixture, local_resolvers_learned_after_the_first_round_are_probed_at_once_not_at_the_next_tick) {
  nx_auto = false;
  start(false);  // roamd has not recorded the network's resolvers yet
  answer_probe(0, true);
  EXPECT_EQ(nx_lookups.size(), 0u);
  proto::RouteUpdate system;  // the takeover records them
  system.set_source("system");
  auto* d = system.add_routes();
  d->set_domain("");
  d->add_fallback_resolvers(local);
  directory->send_routes(system);
  t.sched.run();
  ASSERT_EQ(nx_lookups.size(), 1u) << "a round at once: the nxdomain probe needs the network's resolvers";
  EXPECT_EQ(nx_lookups[0].resolvers, std::vector<std::string>{local});
  directory->send_routes(system);  // the same resolvers again: no round
  t.sched.run();
  EXPECT_EQ(probes.size(), 2u);
}
