// The DNS-enforcement actor on CAF's test coordinator with the fake file system, a fake command runner and a
// scripted canary lookup: takeover verified or rolled back, recovery after a crash, damaged journals, conflicts.
#include <gtest/gtest.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actor_test_util.hpp"
#include "scripted_lookup.hpp"
#include "actors/adapter_monitor.hpp"
#include "actors/dns_enforcer.hpp"
#include "tests/fakes/fake_command_runner.hpp"
#include "tests/fakes/fake_file_system.hpp"

using namespace roamd;
using namespace std::chrono_literals;

namespace {

constexpr const char* original_text = "nameserver 192.0.2.53\nsearch corp.test\n";

struct enforcer_fixture : ::testing::Test {
  test::test_system t;
  std::shared_ptr<test::fake_file_system> fs = std::make_shared<test::fake_file_system>();
  std::shared_ptr<test::fake_command_runner> cmd = std::make_shared<test::fake_command_runner>();
  test::scripted_lookup lookup;
  std::vector<proto::RouteUpdate> routes;  // what reached the router
  actors::query_router_actor router;
  std::shared_ptr<actors::peers> directory = std::make_shared<actors::peers>();
  std::vector<std::shared_ptr<const net::routing_table>> tables;

  void SetUp() override {
    fs->put_file("/etc/resolv.conf", original_text);
    fs->set_boot_id("boot-1");
    proto::Config cfg;
    cfg.mutable_cloud()->add_resolvers("192.0.2.1:53");
    router = t.sys.spawn(actors::query_router, cfg, std::make_shared<net::upstream_registry>(),
                         [this](std::shared_ptr<const net::routing_table> tb) { tables.push_back(tb); });
  }

  actors::dns_enforcer_actor spawn(std::string mode = "auto") {
    actors::dns_enforcer_options o;
    o.mode = mode;
    o.listen = "127.0.2.53";
    o.own_addresses = {"127.0.2.53:53"};
    directory->set(actors::peers::role::router, router);
    actors::dns_enforcer_deps d{fs, cmd, lookup.fn(), [] { return int64_t{42}; }, directory, nullptr};
    return t.sys.spawn(actors::dns_enforcer, o, d);
  }

  /// Sends `atom` and returns the reply once the coordinator has run everything it can (nullopt while the enforcer
  /// still waits, e.g. for the canary). A late reply lands in a slot the fixture owns, never on a dead stack frame.
  template <class Atom>
  std::optional<proto::EnforcerStatus> ask(const actors::dns_enforcer_actor& e, Atom atom) {
    auto slot = std::make_shared<std::optional<proto::EnforcerStatus>>();
    replies.push_back(slot);
    // The target is a spawn argument: CAF 0.17 binds a null reference when a function actor has none (UBSan).
    t.sys.spawn(
      [slot, atom](caf::event_based_actor* self, actors::dns_enforcer_actor target) {
        self->request(target, caf::infinite, atom).then([slot](const proto::EnforcerStatus& s) { *slot = s; });
      },
      e);
    t.sched.run();
    return *slot;
  }

  std::vector<std::shared_ptr<std::optional<proto::EnforcerStatus>>> replies;

  /// Takes over with a canary answered like roamd would; returns the enforcer.
  actors::dns_enforcer_actor take_verified(std::string mode = "auto") {
    auto e = spawn(mode);
    ask(e, actors::take_atom::value);
    lookup.answer(true);
    t.sched.run();
    return e;
  }

  /// Takes over, then kills the enforcer like kill -9 would (nothing restored).
  void take_and_crash() {
    auto e = take_verified();
    caf::anon_send_exit(e, caf::exit_reason::kill);
    t.sched.run();
  }

  proto::RoutingSnapshot snapshot() {
    return t.state_of<actors::query_router_state>(router).current;
  }

  void TearDown() override {
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    t.sched.run();
  }
};

TEST_F(enforcer_fixture, a_takeover_is_verified_by_the_canary_and_feeds_the_original_to_routing) {
  auto e = spawn();
  auto status = ask(e, actors::take_atom::value);
  EXPECT_FALSE(status) << "the reply waits for the canary";
  ASSERT_EQ(lookup.names.size(), 1u);
  EXPECT_NE(lookup.names[0].find(".canary.roamd.arpa."), std::string::npos);
  EXPECT_EQ(t.state_of<actors::dns_enforcer_state>(e).status.state(), "verifying");
  EXPECT_NE(fs->at("/etc/resolv.conf")->content.find("nameserver 127.0.2.53"), std::string::npos);
  lookup.answer(true);
  t.sched.run();
  ASSERT_TRUE(*replies.back()) << "the take is answered once the canary is back";
  EXPECT_EQ((*replies.back())->state(), "protecting");
  auto& st = t.state_of<actors::dns_enforcer_state>(e).status;
  EXPECT_EQ(st.state(), "protecting");
  EXPECT_EQ(st.backend(), "file");
  EXPECT_EQ(st.writes(), 1u);
  ASSERT_EQ(st.original().nameservers_size(), 1);
  EXPECT_EQ(st.original().nameservers(0), "192.0.2.53");
  // corp.test (the recorded search domain) -> the recorded server; the cloud route falls back to it on NXDOMAIN.
  auto snap = snapshot();
  bool corp = false;
  for (const auto& r : snap.routes()) {
    if (r.domain() == "corp.test") {
      corp = true;
      EXPECT_EQ(r.resolvers(0), "192.0.2.53:53");
      EXPECT_EQ(r.source(), "system");
    }
    if (r.domain().empty()) {
      EXPECT_EQ(r.fallback_resolvers_size(), 1);
    }
  }
  EXPECT_TRUE(corp);
  // Stop: the original comes back and the learned routes go.
  auto back = ask(e, actors::restore_atom::value);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state(), "restored");
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text);
  EXPECT_EQ(snapshot().routes_size(), 1);
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, a_failed_canary_rolls_back_and_says_why) {
  auto e = spawn();
  ask(e, actors::take_atom::value);
  lookup.answer(false);
  t.sched.run();
  auto& st = t.state_of<actors::dns_enforcer_state>(e).status;
  EXPECT_EQ(st.state(), "not_taken");
  EXPECT_NE(st.reason().find("another resolver answers"), std::string::npos) << st.reason();
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text);
  EXPECT_FALSE(fs->at("/var/lib/roamd/takeover.journal"));
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, after_a_crash_the_next_start_retakes_without_writing_or_recovers_a_changed_file) {
  take_and_crash();
  auto ours = fs->at("/etc/resolv.conf")->content;
  auto writes = fs->mutations();
  auto e = spawn();
  ask(e, actors::take_atom::value);
  EXPECT_EQ(fs->mutations(), writes) << "the file is still roamd's: re-taken without a write";
  lookup.answer(true);
  t.sched.run();
  EXPECT_EQ(t.state_of<actors::dns_enforcer_state>(e).status.state(), "protecting");
  ASSERT_TRUE(ask(e, actors::restore_atom::value));
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text) << "the original of the first run comes back";
  caf::anon_send_exit(e, caf::exit_reason::kill);
  t.sched.run();

  // A crash, then someone else rewrites the file: that becomes the new original.
  take_and_crash();
  fs->put_file("/etc/resolv.conf", "nameserver 198.51.100.1\n");
  auto e3 = take_verified();
  ASSERT_TRUE(ask(e3, actors::restore_atom::value));
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, "nameserver 198.51.100.1\n");
  caf::anon_send_exit(e3, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, a_journal_from_an_earlier_boot_is_honoured_and_said_so) {
  take_and_crash();
  fs->set_boot_id("boot-2");  // a reboot: /etc/resolv.conf (on disk) is still roamd's file
  auto writes = fs->mutations();
  auto e = spawn();
  ask(e, actors::take_atom::value);
  EXPECT_EQ(fs->mutations(), writes);
  EXPECT_NE(t.state_of<actors::dns_enforcer_state>(e).status.reason().find("earlier boot"), std::string::npos);
  lookup.answer(true);
  t.sched.run();
  ASSERT_TRUE(ask(e, actors::restore_atom::value));
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text);
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, a_damaged_journal_stops_the_takeover_and_touches_nothing) {
  fs->put_file("/var/lib/roamd/takeover.journal", "ROAMDJ1\ngarbage");
  auto e = spawn();
  auto status = ask(e, actors::take_atom::value);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state(), "failed");
  EXPECT_NE(status->reason().find("takeover.journal"), std::string::npos) << status->reason();
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text);
  EXPECT_TRUE(lookup.names.empty());
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, mode_none_touches_nothing_but_restores_a_leftover_journal) {
  take_and_crash();
  auto e = spawn("none");
  auto status = ask(e, actors::take_atom::value);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state(), "off");
  EXPECT_EQ(fs->at("/etc/resolv.conf")->content, original_text);
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

TEST_F(enforcer_fixture, someone_elses_change_is_recorded_as_contested_and_not_fought) {
  auto e = take_verified();
  auto writes = fs->mutations();
  fs->put_file("/etc/resolv.conf", "#@VPNC_GENERATED@\nnameserver 10.8.0.1\n");
  os::settings_event ev;
  ev.path = "/etc/resolv.conf";
  ev.after = fs->inspect("/etc/resolv.conf");
  caf::anon_send(e, actors::to_proto(ev, 7));
  t.sched.run();
  auto& st = t.state_of<actors::dns_enforcer_state>(e).status;
  EXPECT_EQ(st.state(), "contested");
  EXPECT_NE(st.reason().find("VPN script"), std::string::npos) << st.reason();
  EXPECT_NE(st.reason().find("10.8.0.1"), std::string::npos) << st.reason();
  EXPECT_EQ(fs->mutations(), writes) << "roamd did not write the file back";
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

} // namespace
