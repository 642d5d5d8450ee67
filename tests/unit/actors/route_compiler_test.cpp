#include <algorithm>

#include <gtest/gtest.h>

#include "actors/route_compiler.hpp"
#include "net/routing_table.hpp"

using namespace roamd;

namespace {

proto::Config sample_config() {
  proto::Config cfg;
  cfg.mutable_cloud()->add_resolvers("208.67.222.222:53");
  cfg.mutable_cloud()->add_resolvers("208.67.220.220:53");
  cfg.mutable_cloud()->set_device_id(std::string("\x01\x23\x45\x67\x89\xab\xcd\xef", 8));
  auto* z = cfg.add_internal();
  z->set_domain("corp.test");
  z->add_resolvers("127.0.0.3:53");
  return cfg;
}

TEST(route_compiler, default_route_goes_to_the_cloud_with_identity) {
  auto snap = actors::compile_routes(sample_config(), {}, 7);
  EXPECT_EQ(snap.generation(), 7u);
  EXPECT_EQ(snap.device_id_hex(), "0123456789abcdef");
  ASSERT_EQ(snap.routes_size(), 2);
  EXPECT_EQ(snap.routes(0).domain(), "");
  EXPECT_TRUE(snap.routes(0).tag_identity());
  EXPECT_EQ(snap.routes(0).resolvers_size(), 2);
  EXPECT_EQ(snap.routes(1).domain(), "corp.test");
  EXPECT_FALSE(snap.routes(1).tag_identity());
}

TEST(route_compiler, configured_domains_win_over_learned_ones_and_learned_are_never_tagged) {
  std::map<std::string, proto::RouteUpdate> learned;
  proto::RouteUpdate vpn;
  vpn.set_source("vpn");
  auto* r = vpn.add_routes();
  r->set_domain("corp.test");
  r->add_resolvers("10.0.0.1:53");
  auto* r2 = vpn.add_routes();
  r2->set_domain("vpn.example");
  r2->add_resolvers("192.0.2.53:53");
  r2->set_interface("tun0");
  r2->set_tag_identity(true);
  learned["vpn"] = vpn;
  auto snap = actors::compile_routes(sample_config(), learned, 1);
  ASSERT_EQ(snap.routes_size(), 3);
  EXPECT_EQ(snap.routes(1).resolvers(0), "127.0.0.3:53");
  EXPECT_EQ(snap.routes(2).domain(), "vpn.example");
  EXPECT_EQ(snap.routes(2).interface(), "tun0");
  EXPECT_EQ(snap.routes(2).source(), "vpn");
  EXPECT_FALSE(snap.routes(2).tag_identity());
}

TEST(route_compiler, table_routes_names_and_shares_upstreams_through_the_registry) {
  net::upstream_registry reg;
  auto cfg = sample_config();
  auto t1 = actors::to_table(actors::compile_routes(cfg, {}, 1), cfg, reg);
  auto t2 = actors::to_table(actors::compile_routes(cfg, {}, 2), cfg, reg);
  EXPECT_EQ(reg.size(), 3u);
  auto host = net::routing_table::to_wire("a.corp.test");
  auto other = net::routing_table::to_wire("example.com");
  ASSERT_TRUE(host && other);
  EXPECT_EQ(t1->lookup(*host).domain, "corp.test");
  EXPECT_EQ(t1->lookup(*other).domain, "");
  EXPECT_NE(t1->identity_for(t1->lookup(*other)), nullptr);
  EXPECT_EQ(t1->identity_for(t1->lookup(*host)), nullptr);
  EXPECT_EQ(t1->lookup(*host).resolvers[0], t2->lookup(*host).resolvers[0]);
}

TEST(route_compiler, no_device_id_means_nothing_is_tagged) {
  net::upstream_registry reg;
  auto cfg = sample_config();
  cfg.mutable_cloud()->clear_device_id();
  auto t = actors::to_table(actors::compile_routes(cfg, {}, 1), cfg, reg);
  auto other = net::routing_table::to_wire("example.com");
  EXPECT_EQ(t->identity_for(t->lookup(*other)), nullptr);
}

TEST(route_compiler, fallback_resolvers_become_the_routes_fallback_upstreams) {
  net::upstream_registry reg;
  auto cfg = sample_config();
  proto::RoutingSnapshot snap = actors::compile_routes(cfg, {}, 3);
  snap.mutable_routes(0)->add_fallback_resolvers("192.168.1.1:53");
  snap.mutable_routes(0)->add_fallback_resolvers("not an endpoint");  // skipped, like a bad resolver
  snap.mutable_routes(0)->add_fallback_resolvers("[fd00::1]:5353");
  auto* vpn = snap.add_routes();
  vpn->set_domain("vpn.example");
  vpn->add_resolvers("10.8.0.1:53");
  vpn->add_fallback_resolvers("10.8.0.2:53");
  vpn->set_interface("tun0");
  auto t = actors::to_table(snap, cfg, reg);

  const auto& def = t->lookup(*net::routing_table::to_wire("www.example.com"));
  ASSERT_EQ(def.fallback.size(), 2u);
  EXPECT_EQ(def.fallback[0]->name, "192.168.1.1:53");
  EXPECT_EQ(def.fallback[1]->name, "[fd00::1]:5353");
  EXPECT_EQ(def.resolvers.size(), 2u) << "the cloud resolvers stay the route's resolvers";
  EXPECT_TRUE(t->lookup(*net::routing_table::to_wire("a.corp.test")).fallback.empty());
  const auto& v = t->lookup(*net::routing_table::to_wire("host.vpn.example"));
  ASSERT_EQ(v.fallback.size(), 1u);
  EXPECT_EQ(v.fallback[0]->interface, "tun0") << "fallback queries leave through the route's link too";
  EXPECT_EQ(v.fallback[0]->name, "10.8.0.2:53%tun0");
  // Shared through the registry like every upstream: the same object in the next snapshot.
  auto t2 = actors::to_table(snap, cfg, reg);
  EXPECT_EQ(t2->lookup(*net::routing_table::to_wire("www.example.com")).fallback[0], def.fallback[0]);
}

TEST(route_compiler, the_networks_own_resolvers_fall_back_for_local_names_only_a_vpns_for_any) {
  std::map<std::string, proto::RouteUpdate> learned;
  auto& system = learned["system"];
  system.set_source("system");
  auto* home = system.add_routes();
  home->set_domain("home.test");
  home->add_resolvers("192.0.2.53:53");
  auto* sys_def = system.add_routes();
  sys_def->set_domain("");
  sys_def->add_fallback_resolvers("192.0.2.53:53");
  sys_def->add_fallback_resolvers("192.0.2.54:53");
  auto& adopted = learned["adopted"];
  adopted.set_source("adopted");
  auto* vpn_def = adopted.add_routes();
  vpn_def->set_domain("");
  vpn_def->add_fallback_resolvers("10.8.0.1:53");
  vpn_def->add_fallback_resolvers("192.0.2.54:53");  // learned from a VPN as well: asked for any name
  auto cfg = sample_config();
  auto snap = actors::compile_routes(cfg, learned, 1);
  const auto& def = snap.routes(0);
  ASSERT_EQ(def.domain(), "");
  EXPECT_EQ(def.fallback_resolvers_size(), 3);
  ASSERT_EQ(def.local_only_fallback_size(), 1);
  EXPECT_EQ(def.local_only_fallback(0), "192.0.2.53:53");
  EXPECT_EQ(snap.nxdomain_fallback(), "local-names");
  for (auto name : {"home.test", "local", "home.arpa", "lan", "168.192.in-addr.arpa", "d.f.ip6.arpa"})
    EXPECT_NE(std::find(snap.local_names().begin(), snap.local_names().end(), name), snap.local_names().end()) << name;
  net::upstream_registry reg;
  auto t = actors::to_table(snap, cfg, reg);
  const auto& d = t->fallback();
  auto count = [&](const char* q) { return t->fallback_for(d, *net::routing_table::to_wire(q)).size(); };
  EXPECT_EQ(count("www.example"), 2u) << "the VPN's resolvers only";
  EXPECT_EQ(count("printer"), 3u);
  EXPECT_EQ(count("nas.home.test"), 3u);
  EXPECT_EQ(count("20.1.168.192.in-addr.arpa"), 3u);
  EXPECT_EQ(count("www.home.test.example"), 2u) << "a suffix match, not a substring one";
  cfg.mutable_upstream()->set_nxdomain_fallback("any");
  t = actors::to_table(actors::compile_routes(cfg, learned, 2), cfg, reg);
  EXPECT_EQ(t->fallback_for(t->fallback(), *net::routing_table::to_wire("www.example")).size(), 3u);
  cfg.mutable_upstream()->set_nxdomain_fallback("off");
  t = actors::to_table(actors::compile_routes(cfg, learned, 3), cfg, reg);
  EXPECT_TRUE(t->fallback_for(t->fallback(), *net::routing_table::to_wire("printer")).empty());
  EXPECT_EQ(t->fallback().resolvers.size(), 2u) << "the cloud route itself is untouched";
}

TEST(route_compiler, learned_fallback_resolvers_are_kept_in_the_snapshot) {
  std::map<std::string, proto::RouteUpdate> learned;
  proto::RouteUpdate vpn;
  auto* r = vpn.add_routes();
  r->set_domain("vpn.example");
  r->add_resolvers("10.8.0.1:53");
  r->add_fallback_resolvers("10.8.0.2:53");
  learned["vpn"] = vpn;
  auto snap = actors::compile_routes(sample_config(), learned, 1);
  ASSERT_EQ(snap.routes_size(), 3);
  ASSERT_EQ(snap.routes(2).fallback_resolvers_size(), 1);
  EXPECT_EQ(snap.routes(2).fallback_resolvers(0), "10.8.0.2:53");
}

/// The cloud's route set as the registration actor sends it: its identity, its resolvers, internal domains.
proto::RouteUpdate cloud_policy() {
  proto::RouteUpdate cloud;
  cloud.set_source("cloud");
  cloud.set_device_id(std::string("\xfe\xdc\xba\x98\x76\x54\x32\x10", 8));
  auto* def = cloud.add_routes();
  def->add_resolvers("192.0.2.1:53");
  for (auto domain : {"intranet.example", "corp.test"}) {
    auto* r = cloud.add_routes();
    r->set_domain(domain);
    r->set_local(true);
  }
  return cloud;
}

/// The enforcer's route set: the recorded original resolvers as the default route's NXDOMAIN fallback.
proto::RouteUpdate local_dns() {
  proto::RouteUpdate sys;
  sys.set_source("system");
  sys.add_routes()->add_fallback_resolvers("10.1.1.1:53");
  return sys;
}

TEST(route_compiler, the_clouds_identity_resolvers_and_internal_domains_replace_the_configured_ones) {
  std::map<std::string, proto::RouteUpdate> learned{{"cloud", cloud_policy()}, {"system", local_dns()}};
  auto cfg = sample_config();
  auto snap = actors::compile_routes(cfg, learned, 3);
  EXPECT_EQ(snap.device_id_hex(), "fedcba9876543210") << "the cloud's identity wins over cloud.device_id";
  const auto& def = snap.routes(0);
  EXPECT_EQ(def.source(), "cloud");
  ASSERT_EQ(def.resolvers_size(), 1);
  EXPECT_EQ(def.resolvers(0), "192.0.2.1:53");
  EXPECT_TRUE(def.tag_identity());
  ASSERT_EQ(def.fallback_resolvers_size(), 1);
  ASSERT_EQ(snap.routes_size(), 3) << "corp.test stays configured; intranet.example is added";
  EXPECT_EQ(snap.routes(1).domain(), "corp.test");
  EXPECT_EQ(snap.routes(1).source(), "config") << "a configured domain wins over the policy's";
  const auto& intranet = snap.routes(2);
  EXPECT_EQ(intranet.domain(), "intranet.example");
  EXPECT_EQ(intranet.source(), "cloud");
  EXPECT_FALSE(intranet.tag_identity());
  ASSERT_EQ(intranet.resolvers_size(), 1);
  EXPECT_EQ(intranet.resolvers(0), "10.1.1.1:53") << "internal domains go to the local resolvers";

  net::upstream_registry reg;
  auto table = actors::to_table(snap, cfg, reg);
  auto* id = table->identity_for(table->lookup(*net::routing_table::to_wire("www.example.com")));
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(table->lookup(*net::routing_table::to_wire("a.intranet.example")).resolvers[0]->name, "10.1.1.1:53");
}

TEST(route_compiler, a_local_resolver_learned_from_two_sources_is_listed_once_in_first_seen_order) {
  // After adoption the arbiter's "adopted" set and the enforcer's "system" set both name the LAN's resolver.
  proto::RouteUpdate adopted;
  adopted.set_source("adopted");
  auto* def = adopted.add_routes();
  def->add_fallback_resolvers("10.2.2.2:53");
  def->add_fallback_resolvers("10.1.1.1:53");
  def->add_fallback_resolvers("10.2.2.2:53");
  std::map<std::string, proto::RouteUpdate> learned{{"adopted", adopted}, {"cloud", cloud_policy()}, {"system", local_dns()}};
  auto cfg = sample_config();
  auto snap = actors::compile_routes(cfg, learned, 1);
  const std::vector<std::string> expected{"10.2.2.2:53", "10.1.1.1:53"};
  const auto& fallback = snap.routes(0).fallback_resolvers();
  EXPECT_EQ(std::vector<std::string>(fallback.begin(), fallback.end()), expected);
  ASSERT_EQ(snap.routes_size(), 3);
  const auto& local = snap.routes(2).resolvers();
  EXPECT_EQ(std::vector<std::string>(local.begin(), local.end()), expected) << "the local routes use the same list";
  net::upstream_registry reg;
  auto table = actors::to_table(snap, cfg, reg);
  EXPECT_EQ(table->fallback().fallback.size(), 2u) << "the NXDOMAIN fallback asks each resolver once";
}

TEST(route_compiler, without_local_resolvers_internal_domains_stay_with_the_cloud) {
  std::map<std::string, proto::RouteUpdate> learned{{"cloud", cloud_policy()}};
  auto snap = actors::compile_routes(sample_config(), learned, 1);
  ASSERT_EQ(snap.routes_size(), 2) << "no route without resolvers: intranet.example is answered by the cloud";
  EXPECT_EQ(snap.routes(1).domain(), "corp.test");
}

TEST(route_compiler, a_cloud_set_with_only_an_identity_keeps_the_configured_resolvers) {
  proto::RouteUpdate cloud;
  cloud.set_source("cloud");
  cloud.set_device_id(std::string(8, '\x11'));
  std::map<std::string, proto::RouteUpdate> learned{{"cloud", cloud}};
  auto snap = actors::compile_routes(sample_config(), learned, 1);
  EXPECT_EQ(snap.device_id_hex(), "1111111111111111");
  EXPECT_EQ(snap.routes(0).source(), "config");
  EXPECT_EQ(snap.routes(0).resolvers_size(), 2);
  // A bad identity from the cloud is ignored, never half-used.
  cloud.set_device_id("short");
  learned["cloud"] = cloud;
  EXPECT_EQ(actors::compile_routes(sample_config(), learned, 2).device_id_hex(), "0123456789abcdef");
}

} // namespace

namespace {

/// The recorded local resolvers, as the enforcer's learned "system" set carries them.
std::map<std::string, proto::RouteUpdate> with_local_resolvers() {
  proto::RouteUpdate system;
  system.set_source("system");
  auto* d = system.add_routes();
  d->set_domain("");
  d->add_fallback_resolvers("192.0.2.53:53");
  auto* home = system.add_routes();
  home->set_domain("home.test");
  home->add_resolvers("192.0.2.53:53");
  return {{"system", system}};
}

proto::CloudReachability reach(proto::CloudReachability::Mode mode) {
  proto::CloudReachability r;
  r.set_mode(mode);
  return r;
}

} // namespace

TEST(route_compiler, fail_open_sends_the_default_route_to_the_local_resolvers_untagged_and_keeps_the_rest) {
  auto snap = actors::compile_routes(sample_config(), with_local_resolvers(), 3, reach(proto::CloudReachability::FAIL_OPEN));
  ASSERT_EQ(snap.routes(0).domain(), "");
  EXPECT_EQ(snap.routes(0).source(), "network");
  EXPECT_FALSE(snap.routes(0).tag_identity());
  ASSERT_EQ(snap.routes(0).resolvers_size(), 1);
  EXPECT_EQ(snap.routes(0).resolvers(0), "192.0.2.53:53");
  EXPECT_EQ(snap.routes(0).fallback_resolvers_size(), 0) << "no NXDOMAIN fallback to the same resolvers";
  EXPECT_EQ(snap.routes(1).domain(), "corp.test") << "internal domains keep their resolvers";
  EXPECT_EQ(snap.routes(1).resolvers(0), "127.0.0.3:53");
  net::upstream_registry reg;
  auto table = actors::to_table(snap, sample_config(), reg);
  EXPECT_EQ(table->identity_for(table->fallback()), nullptr) << "nothing tagged while unprotected";
}

TEST(route_compiler, fail_open_without_known_local_resolvers_stays_with_the_cloud) {
  auto snap = actors::compile_routes(sample_config(), {}, 3, reach(proto::CloudReachability::FAIL_OPEN));
  EXPECT_EQ(snap.routes(0).resolvers(0), "208.67.222.222:53");
  EXPECT_TRUE(snap.routes(0).tag_identity());
  EXPECT_EQ(snap.routes(0).source(), "config");
}

TEST(route_compiler, fail_closed_leaves_the_default_route_without_resolvers_so_its_names_get_servfail) {
  auto snap = actors::compile_routes(sample_config(), with_local_resolvers(), 3, reach(proto::CloudReachability::FAIL_CLOSED));
  EXPECT_EQ(snap.routes(0).source(), "network");
  EXPECT_EQ(snap.routes(0).resolvers_size(), 0);
  EXPECT_EQ(snap.routes(0).fallback_resolvers_size(), 0);
  net::upstream_registry reg;
  auto table = actors::to_table(snap, sample_config(), reg);
  auto name = net::routing_table::to_wire("www.example.com");
  ASSERT_TRUE(name);
  EXPECT_TRUE(table->lookup(*name).resolvers.empty()) << "the data plane answers SERVFAIL at once";
  auto corp = net::routing_table::to_wire("a.corp.test");
  EXPECT_EQ(table->lookup(*corp).resolvers.size(), 1u) << "internal names still resolve";
}

TEST(route_compiler, a_network_that_rewrites_nxdomain_is_no_fallback_but_a_vpns_resolver_stays) {
  auto learned = with_local_resolvers();
  proto::RouteUpdate vpn;
  vpn.set_source("vpn:tun0");
  vpn.add_routes()->add_fallback_resolvers("10.8.0.1:53");
  learned["vpn:tun0"] = vpn;
  auto rewriting = reach(proto::CloudReachability::NORMAL);
  rewriting.set_local_rewrites_nxdomain(true);
  rewriting.set_rewriting("qzvhkwmrptxa.com \u2192 198.51.100.7");
  for (const char* mode : {"local-names", "any"}) {
    SCOPED_TRACE(mode);
    auto cfg = sample_config();
    cfg.mutable_upstream()->set_nxdomain_fallback(mode);
    auto honest = actors::compile_routes(cfg, learned, 3);
    ASSERT_EQ(honest.routes(0).fallback_resolvers_size(), 2);
    EXPECT_EQ(honest.nxdomain_rewriting(), "");
    auto snap = actors::compile_routes(cfg, learned, 3, rewriting);
    const auto& def = snap.routes(0);
    ASSERT_EQ(def.fallback_resolvers_size(), 1);
    EXPECT_EQ(def.fallback_resolvers(0), "10.8.0.1:53") << "the VPN's (an organisation's own) server stays";
    EXPECT_EQ(def.local_only_fallback_size(), 0);
    EXPECT_EQ(snap.nxdomain_rewriting(), rewriting.rewriting()) << "roamctl routes says why";
    EXPECT_TRUE(def.tag_identity()) << "the cloud route itself is unchanged";
    net::upstream_registry reg;
    auto table = actors::to_table(snap, cfg, reg);
    EXPECT_EQ(table->fallback().fallback.size(), 1u);
    EXPECT_EQ(table->fallback().local_fallback.size(), 0u);
    for (const auto& r : snap.routes())
      if (r.domain() == "home.test")
        EXPECT_EQ(r.resolvers(0), "192.0.2.53:53") << "the network's search domain is still asked of it directly";
  }
}

TEST(route_compiler, network_targets_are_the_cloud_and_the_recorded_local_resolvers) {
  auto t = actors::network_targets(sample_config(), with_local_resolvers());
  ASSERT_EQ(t.cloud_resolvers_size(), 2);
  EXPECT_EQ(t.cloud_resolvers(0), "208.67.222.222:53");
  ASSERT_EQ(t.local_resolvers_size(), 1);
  EXPECT_EQ(t.local_resolvers(0), "192.0.2.53:53");
}
