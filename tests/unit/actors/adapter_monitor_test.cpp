// The adapter monitor and the query router together: kernel snapshots and settings events become messages, a tun
// link appearing or leaving shows in the routing snapshot (egress, and routes bound to a link that is gone).
#include <gtest/gtest.h>

#include <caf/send.hpp>

#include "actor_test_util.hpp"
#include "actors/adapter_monitor.hpp"
#include "actors/egress.hpp"

using namespace roamd;

namespace {

/// Hands the test the callback the actor registered, like the real monitor's thread would call it.
struct fake_link_monitor : os::link_monitor {
  snapshot_fn callback;
  bool stopped = false;
  std::string start(snapshot_fn f) override {
    callback = std::move(f);
    return {};
  }
  void stop() override {
    stopped = true;
  }
};

struct fake_watcher : os::settings_watcher {
  change_fn callback;
  std::string path;
  bool stopped = false;
  std::string start(const std::string& p, change_fn f) override {
    path = p;
    callback = std::move(f);
    return {};
  }
  void stop() override {
    stopped = true;
  }
};

proto::Link* add_link(proto::AdapterSnapshot& s, uint32_t index, const std::string& name, const std::string& kind) {
  auto* l = s.add_links();
  l->set_index(index);
  l->set_name(name);
  l->set_kind(kind);
  l->set_up(true);
  l->set_carrier(true);
  return l;
}

void add_route(proto::AdapterSnapshot& s, const std::string& dst, uint32_t index, const std::string& name,
               uint32_t metric = 0) {
  auto* r = s.add_routes();
  r->set_destination(dst);
  r->set_index(index);
  r->set_interface(name);
  r->set_table(254);
  r->set_metric(metric);
}

proto::AdapterSnapshot lan_only() {
  proto::AdapterSnapshot s;
  add_link(s, 1, "lo", "loopback")->set_loopback(true);
  add_link(s, 2, "eth0", "veth");
  add_route(s, "0.0.0.0/0", 2, "eth0", 100);
  add_route(s, "192.0.2.0/24", 2, "eth0");
  return s;
}

proto::AdapterSnapshot with_tunnel() {
  auto s = lan_only();
  add_link(s, 7, "tun0", "tun")->set_point_to_point(true);
  add_route(s, "10.8.0.0/16", 7, "tun0");
  return s;
}

TEST(egress, longest_prefix_over_links_with_carrier) {
  auto s = with_tunnel();
  EXPECT_EQ(actors::egress_for("10.8.0.1:53", s), "tun0");
  EXPECT_EQ(actors::egress_for("10.9.0.1:53", s), "eth0") << "default route";
  EXPECT_EQ(actors::egress_for("192.0.2.53", s), "eth0");
  EXPECT_EQ(actors::egress_for("127.0.10.1:53", s), "lo");
  s.mutable_links(2)->set_carrier(false);
  EXPECT_EQ(actors::egress_for("10.8.0.1:53", s), "eth0") << "a tunnel without carrier carries nothing";
  EXPECT_EQ(actors::egress_for("[2001:db8::1]:53", s), "") << "no IPv6 route";
  EXPECT_EQ(actors::egress_for("not an address", s), "");
}

TEST(adapter_monitor, a_tunnel_appearing_and_leaving_is_reflected_in_the_routing_snapshot) {
  test::test_system t;
  proto::Config cfg;
  cfg.mutable_cloud()->add_resolvers("192.0.2.1:53");
  int published = 0;
  auto router = t.sys.spawn(actors::query_router, cfg, std::make_shared<net::upstream_registry>(),
                            [&](std::shared_ptr<const net::routing_table>) { ++published; });
  auto links = std::make_shared<fake_link_monitor>();
  auto watcher = std::make_shared<fake_watcher>();
  auto mon = t.sys.spawn(actors::adapter_monitor, std::shared_ptr<os::link_monitor>{links},
                         std::shared_ptr<os::settings_watcher>{watcher}, std::string{"/etc/resolv.conf"}, router,
                         actors::dns_enforcer_actor{});
  t.sched.run();
  ASSERT_TRUE(links->callback);
  EXPECT_EQ(watcher->path, "/etc/resolv.conf");

  // Corp routes learnt from the VPN: one reached by address (10.8.0.1), one bound to the tunnel.
  proto::RouteUpdate vpn;
  vpn.set_source("vpn");
  auto* a = vpn.add_routes();
  a->set_domain("corp.test");
  a->add_resolvers("10.8.0.1:53");
  auto* b = vpn.add_routes();
  b->set_domain("bound.test");
  b->add_resolvers("10.8.0.2:53");
  b->set_interface("tun0");
  caf::anon_send(router, vpn);
  links->callback(lan_only());
  t.sched.run();
  auto route = [&](const std::string& domain) -> const proto::Route* {
    for (const auto& r : t.state_of<actors::query_router_state>(router).current.routes())
      if (r.domain() == domain)
        return &r;
    return nullptr;
  };
  ASSERT_TRUE(route("corp.test"));
  EXPECT_EQ(route("corp.test")->egress(), "eth0");
  EXPECT_FALSE(route("bound.test")) << "tun0 does not exist yet";

  links->callback(with_tunnel());
  t.sched.run();
  EXPECT_EQ(route("corp.test")->egress(), "tun0");
  ASSERT_TRUE(route("bound.test"));
  EXPECT_EQ(route("bound.test")->interface(), "tun0");
  int before = published;
  links->callback(with_tunnel());  // the same picture again: no new table, the cache stays
  t.sched.run();
  EXPECT_EQ(published, before);

  links->callback(lan_only());  // the VPN went away
  t.sched.run();
  EXPECT_EQ(route("corp.test")->egress(), "eth0");
  EXPECT_FALSE(route("bound.test"));

  os::settings_event ev;
  ev.path = "/etc/resolv.conf";
  ev.after.exists = ev.after.readable = true;
  ev.after.content = "# Generated by roamd\nnameserver 127.0.2.53\n";
  auto msg = actors::to_proto(ev, 5);
  EXPECT_TRUE(msg.ours());
  EXPECT_EQ(msg.owner(), "roamd");
  EXPECT_EQ(msg.new_settings().nameservers(0), "127.0.2.53");
  EXPECT_EQ(msg.old_sha256(), "");
  EXPECT_EQ(msg.new_sha256().size(), 64u);
  watcher->callback(ev);
  t.sched.run();
  EXPECT_EQ(t.state_of<actors::adapter_monitor_state>(mon).settings_changes, 1u);

  caf::anon_send_exit(mon, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  t.sched.run();
  EXPECT_TRUE(links->stopped);
  EXPECT_TRUE(watcher->stopped);
}

} // namespace
