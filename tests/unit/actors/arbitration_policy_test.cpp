// The arbitration policy: adopt once, intercept a fighter instead of a rewrite war, yield only without
// interception (with backoff and on link changes), return to settings when the VPN goes away.
#include <gtest/gtest.h>

#include "actors/arbitration_policy.hpp"
#include "actors/debounce.hpp"

using namespace roamd::actors;
using namespace std::chrono_literals;

namespace {

const std::chrono::steady_clock::time_point t0{};

situation vpn_wrote(std::chrono::steady_clock::duration at, uint64_t links = 2) {
  situation s;
  s.now = t0 + at;
  s.settings_ours = false;
  s.nameservers = {"10.8.0.1"};
  s.search = {"corp.example"};
  s.owner = "VPN script";
  s.link = "tun0";
  s.link_present = true;
  s.links_signature = links;
  return s;
}

situation ours(std::chrono::steady_clock::duration at, uint64_t links = 2) {
  situation s;
  s.now = t0 + at;
  s.links_signature = links;
  return s;
}

bool writes(action a) {
  return a == action::adopt_and_retake || a == action::retake || a == action::return_to_settings;
}

TEST(arbitration_policy, a_vpn_connect_is_adopted_and_the_settings_taken_back_once) {
  arbitration_policy p{{}};
  auto d = p.decide(vpn_wrote(0s));
  EXPECT_EQ(d.what, action::adopt_and_retake);
  EXPECT_EQ(d.next, protection::settings);
  EXPECT_NE(d.reason.find("VPN script (tun0) set 10.8.0.1 for corp.example"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("bound to tun0"), std::string::npos) << d.reason;
  EXPECT_EQ(p.decide(ours(1s)).what, action::none) << "roamd's own write settles it";
}

TEST(arbitration_policy, a_fighter_is_intercepted_after_the_limit_and_never_fought) {
  arbitration_policy p{{}};
  int roamd_writes = 1;  // the takeover itself
  std::vector<action> seen;
  for (auto at : {0s, 2s, 4s, 6s, 8s}) {  // the fighter rewrites after each of roamd's writes
    auto d = p.decide(vpn_wrote(at));
    seen.push_back(d.what);
    roamd_writes += writes(d.what);
  }
  EXPECT_EQ(seen[0], action::adopt_and_retake);
  EXPECT_EQ(seen[1], action::adopt_and_retake);
  EXPECT_EQ(seen[2], action::intercept);
  EXPECT_EQ(seen[3], action::adopt) << "while intercepting, later rewrites are learnt, not fought";
  EXPECT_EQ(p.state(), protection::interception);
  EXPECT_LE(roamd_writes, 3) << "the issue's target: at most 3 writes by roamd in any scenario";
}

TEST(arbitration_policy, a_debounced_50_ms_fighter_costs_at_most_three_writes) {
  // The fighter restores its file 50 ms after any change; every burst is one decision (300 ms quiet, 2 s cap).
  arbitration_policy p{{}};
  debounce d{300ms, 2s};
  int roamd_writes = 1;
  auto now = t0;
  bool fighter_pending = true;
  for (int step = 0; step < 200; ++step, now += 10ms) {
    if (fighter_pending) {
      d.on_event(now + 50ms);
      fighter_pending = false;
    }
    if (d.fire(now)) {
      auto dec = p.decide(vpn_wrote(now - t0));
      if (writes(dec.what)) {
        ++roamd_writes;
        fighter_pending = true;  // the fighter answers roamd's write
      }
    }
  }
  EXPECT_EQ(p.state(), protection::interception);
  EXPECT_LE(roamd_writes, 3);
}

TEST(arbitration_policy, contests_spread_wider_than_the_window_are_each_adopted) {
  arbitration_policy p{{}};
  for (auto at : {0s, 30s, 60s, 90s})
    EXPECT_EQ(p.decide(vpn_wrote(at)).what, action::adopt_and_retake);
  EXPECT_EQ(p.state(), protection::settings);
}

TEST(arbitration_policy, interception_ends_when_the_vpn_link_goes_or_the_settings_come_back) {
  arbitration_policy p{{}};
  for (auto at : {0s, 1s, 2s})
    p.decide(vpn_wrote(at));
  ASSERT_EQ(p.state(), protection::interception);
  auto gone = vpn_wrote(5s, 3);
  gone.link_present = false;
  auto d = p.decide(gone);
  EXPECT_EQ(d.what, action::return_to_settings);
  EXPECT_NE(d.reason.find("tun0 is gone"), std::string::npos) << d.reason;
  EXPECT_EQ(p.state(), protection::settings);
  EXPECT_EQ(p.contests(), 0u) << "a fresh start after the VPN";

  for (auto at : {10s, 11s, 12s})
    p.decide(vpn_wrote(at));
  ASSERT_EQ(p.state(), protection::interception);
  d = p.decide(ours(13s));  // the VPN's disconnect restored roamd's file
  EXPECT_EQ(d.what, action::return_to_settings);
}

TEST(arbitration_policy, without_interception_roamd_yields_with_backoff_and_retries_when_links_change) {
  arbitration_options o;
  o.interception_enabled = false;
  arbitration_policy p{o};
  p.decide(vpn_wrote(0s));
  p.decide(vpn_wrote(1s));
  auto d = p.decide(vpn_wrote(2s));
  EXPECT_EQ(d.what, action::yield);
  EXPECT_EQ(d.retry_at, t0 + 2s + 5s);
  EXPECT_NE(d.reason.find("disabled"), std::string::npos) << d.reason;
  EXPECT_EQ(p.decide(vpn_wrote(3s)).what, action::none) << "no retry before the backoff, links unchanged";
  d = p.decide(vpn_wrote(4s, 7));  // a link came or went
  EXPECT_EQ(d.what, action::adopt_and_retake);
  EXPECT_NE(d.reason.find("links changed"), std::string::npos) << d.reason;
  p.decide(vpn_wrote(5s, 7));
  d = p.decide(vpn_wrote(6s, 7));
  ASSERT_EQ(d.what, action::yield);
  EXPECT_EQ(d.retry_at, t0 + 6s + 10s) << "the backoff doubles";
  EXPECT_EQ(p.decide(vpn_wrote(16s, 7)).what, action::adopt_and_retake) << "the backoff expired";
}

TEST(arbitration_policy, interception_unavailable_yields_even_when_enabled) {
  arbitration_policy p{{}};
  auto s = vpn_wrote(0s);
  s.interception_available = false;
  p.decide(s);
  s.now = t0 + 1s;
  p.decide(s);
  s.now = t0 + 2s;
  auto d = p.decide(s);
  EXPECT_EQ(d.what, action::yield);
  EXPECT_NE(d.reason.find("not available"), std::string::npos) << d.reason;
}

TEST(arbitration_policy, removed_settings_are_retaken_and_a_local_proxy_is_named) {
  arbitration_policy p{{}};
  auto s = vpn_wrote(0s);
  s.nameservers.clear();
  EXPECT_EQ(p.decide(s).what, action::retake);
  auto proxy = vpn_wrote(30s);
  proxy.nameservers = {"127.0.0.53"};
  proxy.link.clear();
  proxy.owner = "systemd-resolved";
  auto d = p.decide(proxy);
  EXPECT_EQ(d.what, action::adopt_and_retake);
  EXPECT_NE(d.reason.find("a competing local DNS proxy"), std::string::npos) << d.reason;
}

situation claimed(std::chrono::steady_clock::duration at, bool present = true) {
  auto s = ours(at);
  s.link = "tun0";
  s.link_present = present;
  s.owner = "systemd-resolved";
  s.claims_all = "tun0 claims every name in systemd-resolved (~.) for 10.8.0.1:53";
  return s;
}

} // namespace

TEST(arbitration_policy, a_link_claiming_every_name_is_intercepted_at_once_and_released_when_the_claim_goes) {
  arbitration_policy p{{}};
  auto d = p.decide(claimed(0s));
  EXPECT_EQ(d.what, action::intercept) << "roamd's settings are in force: nothing to write back, nothing to count";
  EXPECT_NE(d.reason.find("tun0 claims every name"), std::string::npos) << d.reason;
  EXPECT_EQ(p.decide(claimed(5s)).what, action::none) << "the claim holds: keep intercepting";
  auto back = p.decide(ours(6s));
  EXPECT_EQ(back.what, action::return_to_settings);
  EXPECT_NE(back.reason.find("no link claims every name any more"), std::string::npos) << back.reason;
  EXPECT_EQ(p.decide(claimed(7s)).what, action::intercept) << "claimed again";
  auto gone = p.decide(claimed(8s, false));
  EXPECT_EQ(gone.what, action::return_to_settings);
  EXPECT_NE(gone.reason.find("the VPN link tun0 is gone"), std::string::npos) << gone.reason;
}

TEST(arbitration_policy, a_claim_without_interception_yields_and_is_tried_again_after_the_backoff) {
  arbitration_policy p{{}};
  auto s = claimed(0s);
  s.interception_available = false;
  auto d = p.decide(s);
  EXPECT_EQ(d.what, action::yield);
  EXPECT_NE(d.reason.find("not available"), std::string::npos) << d.reason;
  auto later = claimed(6s);
  later.interception_available = false;
  EXPECT_EQ(p.decide(later).what, action::none) << "the retry finds roamd's settings in force";
  EXPECT_EQ(p.decide(later).what, action::yield) << "and the claim still there";
}
