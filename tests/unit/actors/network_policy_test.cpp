// The pure network-state policy: probe rounds in, state + reason + next delay out.
#include <gtest/gtest.h>

#include "actors/network_policy.hpp"

using namespace roamd;
using namespace roamd::actors;
using namespace std::chrono_literals;

namespace {

network_settings with_probes(bool fail_closed = false) {
  network_settings s;
  s.fail_closed = fail_closed;
  s.trusted_domain = "corp.example";
  s.probe_name = "probe.test";
  s.probe_address = "203.0.113.7";
  return s;
}

probe_round cloud_answers(const std::string& resolver = "198.51.100.1:53") {
  probe_round r;
  r.cloud_probed = 1;
  r.cloud_answered = resolver;
  return r;
}

probe_round cloud_silent() {
  probe_round r;
  r.cloud_probed = 2;
  r.cloud_error = "198.51.100.1:53: no answer";
  return r;
}

lookup_outcome resolved(std::vector<std::string> addresses) {
  return lookup_outcome{true, std::move(addresses), ""};
}

} // namespace

TEST(network_policy, private_addresses_are_rfc1918_rfc4193_and_shared_address_space) {
  for (auto a : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.254",
                 "fd00::1", "fc12::5", "::ffff:10.0.0.1"})
    EXPECT_TRUE(is_private_address(a)) << a;
  for (auto a : {"172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255", "8.8.8.8", "198.51.100.1",
                 "fe80::1", "2001:db8::1", "127.0.0.1", "not an address", ""})
    EXPECT_FALSE(is_private_address(a)) << a;
}

TEST(network_policy, encrypted_transports_are_tls_and_https) {
  EXPECT_TRUE(is_encrypted("tls://198.51.100.1:853#dns.test"));
  EXPECT_TRUE(is_encrypted("https://dns.test/dns-query"));
  EXPECT_FALSE(is_encrypted("198.51.100.1:53"));
}

TEST(network_policy, the_cloud_answering_is_protected_and_says_the_transport) {
  network_policy p{with_probes()};
  EXPECT_EQ(p.state(), net_state::probing);
  auto v = p.on_round(cloud_answers());
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(v.state, net_state::protected_);
  EXPECT_FALSE(v.encrypted);
  EXPECT_NE(v.reason.find("plain DNS (198.51.100.1:53)"), std::string::npos) << v.reason;
  v = p.on_round(cloud_answers("tls://198.51.100.1:853#dns.test"));
  EXPECT_TRUE(v.changed) << "the transport changed";
  EXPECT_TRUE(v.encrypted);
  EXPECT_NE(v.reason.find("encrypted"), std::string::npos);
}

TEST(network_policy, an_unreachable_cloud_is_open_by_default_and_closed_when_so_configured) {
  network_policy open{with_probes()};
  open.on_round(cloud_silent());  // the first failed round only makes it probe again (see the next test)
  auto v = open.on_round(cloud_silent());
  EXPECT_EQ(v.state, net_state::open);
  EXPECT_NE(v.reason.find("fail-open"), std::string::npos);
  EXPECT_NE(v.reason.find("198.51.100.1:53: no answer"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("twice in a row"), std::string::npos) << v.reason;
  network_policy closed{with_probes(true)};
  auto evident = cloud_silent();
  evident.evidence = true;
  v = closed.on_round(evident);
  EXPECT_EQ(v.state, net_state::closed) << "with the data plane's evidence one round is enough";
  EXPECT_NE(v.reason.find("SERVFAIL"), std::string::npos);
  EXPECT_NE(v.reason.find("real queries to it failed"), std::string::npos) << v.reason;
  // It answers again: protected.
  EXPECT_EQ(closed.on_round(cloud_answers()).state, net_state::protected_);
}

TEST(network_policy, one_failed_probe_round_without_failed_queries_is_no_fail_open) {
  // A VPN connecting: the round its new link started fails, the cloud answering all along.
  network_policy p{with_probes()};
  ASSERT_EQ(p.on_round(cloud_answers()).state, net_state::protected_);
  auto v = p.on_round(cloud_silent());
  EXPECT_EQ(v.state, net_state::protected_);
  EXPECT_FALSE(v.changed);
  EXPECT_TRUE(p.confirming());
  EXPECT_EQ(v.next, 1s) << "probed again once the routes have settled";
  EXPECT_NE(v.reason.find("probing again in 1000 ms"), std::string::npos) << v.reason;
  v = p.on_round(cloud_answers());
  EXPECT_EQ(v.state, net_state::protected_);
  EXPECT_FALSE(p.confirming());
  // Failed rounds separated by a good one never add up.
  EXPECT_EQ(p.on_round(cloud_silent()).state, net_state::protected_);
  EXPECT_EQ(p.on_round(cloud_answers()).state, net_state::protected_);
  EXPECT_EQ(p.on_round(cloud_silent()).state, net_state::protected_);
}

TEST(network_policy, a_trusted_domain_resolving_to_a_private_address_stands_down_whatever_the_cloud_says) {
  network_policy p{with_probes()};
  auto r = cloud_answers();
  r.trusted = resolved({"198.51.100.9", "10.1.2.3"});
  auto v = p.on_round(r);
  EXPECT_EQ(v.state, net_state::trusted);
  EXPECT_TRUE(stands_down(v.state));
  EXPECT_EQ(v.reason, "trusted network (corp.example \u2192 10.1.2.3)");
  // A public address is no trusted network.
  r.trusted = resolved({"198.51.100.9"});
  EXPECT_EQ(p.on_round(r).state, net_state::protected_);
  // Neither is a failed lookup.
  r.trusted = lookup_outcome{false, {}, "NXDOMAIN"};
  EXPECT_EQ(p.on_round(r).state, net_state::protected_);
}

TEST(network_policy, the_probe_name_answering_the_expected_address_is_a_protected_network) {
  network_policy p{with_probes()};
  auto r = cloud_silent();
  r.protected_probe = resolved({"203.0.113.7"});
  auto v = p.on_round(r);
  EXPECT_EQ(v.state, net_state::behind_protected);
  EXPECT_EQ(v.reason, "behind a protected network (probe.test \u2192 203.0.113.7)");
  r.protected_probe = resolved({"203.0.113.8"});
  r.evidence = true;
  EXPECT_EQ(p.on_round(r).state, net_state::open) << "another address: not protected by the cloud";
  // Trusted comes first when both hold.
  r.protected_probe = resolved({"203.0.113.7"});
  r.trusted = resolved({"192.168.7.1"});
  EXPECT_EQ(p.on_round(r).state, net_state::trusted);
}

TEST(network_policy, cadence_is_unsettled_then_stable_and_fast_while_the_cloud_is_silent) {
  auto s = with_probes();
  s.unsettled = 10s;
  s.stable = 60s;
  s.open = 2s;
  s.settle_rounds = 3;
  network_policy p{s};
  EXPECT_EQ(p.on_round(cloud_answers()).next, 10s) << "just changed";
  EXPECT_EQ(p.on_round(cloud_answers()).next, 10s);
  EXPECT_EQ(p.on_round(cloud_answers()).next, 10s);
  EXPECT_EQ(p.on_round(cloud_answers()).next, 60s) << "three rounds in the same state: stable";
  p.on_links_changed();
  EXPECT_EQ(p.next_delay(), 10s) << "a link-set change unsettles";
  EXPECT_EQ(p.on_round(cloud_answers()).next, 10s);
  for (int i = 0; i < 5; ++i)
    p.on_round(cloud_answers());
  EXPECT_EQ(p.next_delay(), 60s);
  EXPECT_EQ(p.on_round(cloud_silent()).next, 1s) << "a first failed round: confirmed soon";
  auto v = p.on_round(cloud_silent());
  EXPECT_EQ(v.state, net_state::open);
  EXPECT_EQ(v.next, 2s) << "open: the cloud is probed often, to come back quickly";
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(p.on_round(cloud_silent()).next, 2s) << "never backs off while open";
  EXPECT_EQ(p.on_round(cloud_answers()).next, 10s) << "back to protected: unsettled again";
}

TEST(network_policy, the_data_planes_evidence_opens_at_once_but_never_overrides_a_stand_down) {
  network_policy p{with_probes()};
  p.on_round(cloud_answers());
  auto v = p.on_cloud_down("every cloud resolver stopped answering queries");
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(v.state, net_state::open);
  EXPECT_FALSE(p.on_cloud_down("again").changed);
  auto r = cloud_silent();
  r.trusted = resolved({"10.0.0.1"});
  p.on_round(r);
  v = p.on_cloud_down("down");
  EXPECT_FALSE(v.changed);
  EXPECT_EQ(v.state, net_state::trusted);
}

TEST(network_policy, policy_values_override_the_configuration_and_zero_values_keep_it) {
  auto configured = with_probes();
  proto::Policy pol;
  auto s = with_policy(configured, pol);
  EXPECT_FALSE(s.fail_closed);
  EXPECT_EQ(s.trusted_domain, "corp.example");
  EXPECT_EQ(s.probe_name, "probe.test");
  pol.set_fail_mode(proto::Policy::FAIL_CLOSED);
  pol.set_trusted_network_domain("trusted.example");
  pol.mutable_protected_probe()->set_name("check.example");
  pol.mutable_protected_probe()->set_expect_address("198.51.100.77");
  s = with_policy(configured, pol);
  EXPECT_TRUE(s.fail_closed);
  EXPECT_EQ(s.trusted_domain, "trusted.example");
  EXPECT_EQ(s.probe_name, "check.example");
  EXPECT_EQ(s.probe_address, "198.51.100.77");
  configured.fail_closed = true;
  pol.set_fail_mode(proto::Policy::FAIL_OPEN);
  EXPECT_FALSE(with_policy(configured, pol).fail_closed);
}

TEST(network_policy, detection_off_is_its_own_state_and_switching_it_on_probes_again) {
  auto s = with_probes();
  s.detection = false;
  network_policy p{s};
  EXPECT_EQ(p.state(), net_state::off);
  auto r = cloud_silent();
  EXPECT_EQ(p.on_round(r).state, net_state::off);
  EXPECT_EQ(p.on_cloud_down("x").state, net_state::off);
  s.detection = true;
  auto v = p.configure(s);
  EXPECT_EQ(v.state, net_state::probing);
  EXPECT_TRUE(v.changed);
  s.detection = false;
  EXPECT_EQ(p.configure(s).state, net_state::off);
}

TEST(network_policy, settings_from_the_configuration_fill_unset_intervals) {
  proto::Config::Network n;
  n.set_detection(true);
  n.set_fail_mode("closed");
  n.set_probe_interval_ms(5000);
  auto s = settings_from(n);
  EXPECT_TRUE(s.detection);
  EXPECT_TRUE(s.fail_closed);
  EXPECT_EQ(s.unsettled, 5s);
  EXPECT_EQ(s.stable, 60s);
  EXPECT_EQ(s.open, 2s);
}
