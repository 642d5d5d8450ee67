// Interception rules as text, and the guard that journals them, on the fake file system and the fake firewall:
// the journal is on disk before any rule is installed, a failure leaves neither, and whatever a crash leaves
// behind (a journal, a damaged journal, a table) is removed by the next run's recover.
#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include "os/firewall.hpp"
#include "os/journal.hpp"
#include "tests/fakes/fake_file_system.hpp"
#include "tests/fakes/fake_firewall.hpp"

using namespace roamd;

namespace {

constexpr const char* state_dir = "/var/lib/roamd";
constexpr const char* v4_target = "127.0.2.53:53";
constexpr const char* v6_target = "[::1]:53";

os::interception_plan plan_for(std::string v4, std::string v6, uint32_t mark = 0x524f4d44) {
  os::interception_plan p;
  p.to_v4 = std::move(v4);
  p.to_v6 = std::move(v6);
  p.exempt_mark = mark;
  return p;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    auto first = line.find_first_not_of(' ');
    out.push_back(first == std::string::npos ? "" : line.substr(first));
  }
  return out;
}

size_t index_of(const std::vector<std::string>& lines, const std::string& line) {
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i] == line)
      return i;
  return std::string::npos;
}

bool has_line(const std::string& text, const std::string& line) {
  return index_of(lines_of(text), line) != std::string::npos;
}

const std::string v4_udp = "meta nfproto ipv4 udp dport 53 dnat ip to 127.0.2.53:53";
const std::string v4_tcp = "meta nfproto ipv4 tcp dport 53 dnat ip to 127.0.2.53:53";
const std::string v4_own = "ip daddr 127.0.0.0/8 return";  // the target is on loopback: covered by the range
const std::string v6_udp = "meta nfproto ipv6 udp dport 53 dnat ip6 to [::1]:53";
const std::string v6_tcp = "meta nfproto ipv6 tcp dport 53 dnat ip6 to [::1]:53";
const std::string v6_own = "ip6 daddr ::1 return";
const std::string mark_line = "meta mark 0x524f4d44 return";

// ---- render ----

TEST(render_interception, one_owned_table_with_a_nat_output_chain) {
  auto text = render_interception(plan_for(v4_target, v6_target), true);
  auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 4u) << text;
  EXPECT_EQ(lines[0], "table inet roamd {");
  EXPECT_EQ(lines[1], "flags owner");
  // The conntrack-zone chain (raw priority, before conntrack) first, then the nat chain.
  EXPECT_EQ(lines[2], "chain zone {");
  EXPECT_EQ(lines[3], "type filter hook output priority -300; policy accept;");
  auto nat = index_of(lines, "chain out {");
  ASSERT_NE(nat, std::string::npos) << text;
  EXPECT_EQ(lines[nat + 1], "type nat hook output priority -100; policy accept;");
  EXPECT_EQ(lines.back(), "}");
  // Newlines, not ';', between the statements of the chain bodies (only the chain headers use them).
  for (size_t i = 4; i < lines.size(); ++i)
    if (i != nat + 1)
      EXPECT_EQ(lines[i].find(';'), std::string::npos) << lines[i];
  auto custom = plan_for(v4_target, "");
  custom.table = "roamd_lab";
  EXPECT_EQ(lines_of(render_interception(custom, true))[0], "table inet roamd_lab {");
}

TEST(render_interception, clients_and_roamds_answers_get_their_own_conntrack_zone_roamds_upstream_flows_do_not) {
  auto text = render_interception(plan_for(v4_target, v6_target), true);
  auto lines = lines_of(text);
  auto zone = index_of(lines, "chain zone {");
  auto nat = index_of(lines, "chain out {");
  ASSERT_LT(zone, nat) << text;
  auto in_zone_chain = [&](const std::string& l) {
    auto i = index_of(lines, l);
    return i > zone && i < nat;
  };
  EXPECT_TRUE(in_zone_chain(mark_line)) << "roamd's own flows leave the zone chain first\n" << text;
  for (const auto& l : {"udp dport 53 ct zone set 1", "tcp dport 53 ct zone set 1",
                        "ip saddr 127.0.2.53 udp sport 53 ct zone set 1", "ip saddr 127.0.2.53 tcp sport 53 ct zone set 1",
                        "ip6 saddr ::1 udp sport 53 ct zone set 1", "ip6 saddr ::1 tcp sport 53 ct zone set 1"})
    EXPECT_TRUE(in_zone_chain(l)) << l << "\n" << text;
  EXPECT_LT(index_of(lines, mark_line), index_of(lines, "udp dport 53 ct zone set 1"));
  // Without a mark nothing tells roamd's flows apart: no zones.
  auto unmarked = plan_for(v4_target, "");
  unmarked.exempt_mark = 0;
  EXPECT_EQ(render_interception(unmarked, true).find("zone"), std::string::npos);
}

TEST(render_interception, local_proxies_on_loopback_are_left_alone) {
  auto lines = lines_of(render_interception(plan_for(v4_target, v6_target), true));
  auto v4_loop = index_of(lines, "ip daddr 127.0.0.0/8 return");
  ASSERT_NE(v4_loop, std::string::npos);
  EXPECT_LT(v4_loop, index_of(lines, v4_udp));
  EXPECT_LT(index_of(lines, "ip6 daddr ::1 return"), index_of(lines, v6_udp));
}

TEST(render_interception, owned_or_not) {
  auto p = plan_for(v4_target, v6_target);
  EXPECT_TRUE(has_line(render_interception(p, true), "flags owner"));
  auto unowned = render_interception(p, false);
  EXPECT_EQ(unowned.find("owner"), std::string::npos) << unowned;
  EXPECT_TRUE(has_line(unowned, v4_udp)) << unowned;
}

TEST(render_interception, ipv4_only) {
  auto text = render_interception(plan_for(v4_target, ""), true);
  for (const auto& l : {v4_udp, v4_tcp, v4_own, mark_line})
    EXPECT_TRUE(has_line(text, l)) << l << "\n" << text;
  EXPECT_EQ(text.find("ip6"), std::string::npos) << text;
  EXPECT_EQ(text.find("ipv6"), std::string::npos) << text;
}

TEST(render_interception, ipv6_only) {
  auto text = render_interception(plan_for("", v6_target), true);
  for (const auto& l : {v6_udp, v6_tcp, v6_own, mark_line})
    EXPECT_TRUE(has_line(text, l)) << l << "\n" << text;
  EXPECT_EQ(text.find("ipv4"), std::string::npos) << text;
  EXPECT_EQ(text.find("ip daddr"), std::string::npos) << text;
}

TEST(render_interception, both_families_exempt_mark_and_own_address_come_before_any_dnat) {
  auto lines = lines_of(render_interception(plan_for(v4_target, v6_target), true));
  for (const auto& l : {v4_udp, v4_tcp, v4_own, v6_udp, v6_tcp, v6_own, mark_line})
    EXPECT_NE(index_of(lines, l), std::string::npos) << l;
  EXPECT_LT(index_of(lines, mark_line), index_of(lines, v4_udp));
  EXPECT_LT(index_of(lines, mark_line), index_of(lines, v6_udp));
  EXPECT_LT(index_of(lines, v4_own), index_of(lines, v4_udp));
  EXPECT_LT(index_of(lines, v4_own), index_of(lines, v4_tcp));
  EXPECT_LT(index_of(lines, v6_own), index_of(lines, v6_udp));
  EXPECT_LT(index_of(lines, v6_own), index_of(lines, v6_tcp));
}

TEST(render_interception, a_target_off_loopback_is_left_alone_by_its_own_rule) {
  auto text = render_interception(plan_for("192.0.2.10:5300", "[2001:db8::10]:5300"), true);
  EXPECT_TRUE(has_line(text, "ip daddr 192.0.2.10 return")) << text;
  EXPECT_TRUE(has_line(text, "ip6 daddr 2001:db8::10 return")) << text;
  auto loopback = render_interception(plan_for(v4_target, v6_target), true);
  EXPECT_FALSE(has_line(loopback, "ip daddr 127.0.2.53 return")) << "covered by 127.0.0.0/8\n" << loopback;
  EXPECT_EQ(lines_of(loopback).size(), lines_of(text).size() - 2) << "no line twice";
}

TEST(render_interception, mark_zero_exempts_nothing_and_other_marks_are_hex) {
  auto none = render_interception(plan_for(v4_target, v6_target, 0), true);
  EXPECT_EQ(none.find("meta mark"), std::string::npos) << none;
  EXPECT_TRUE(has_line(none, v4_udp)) << none;
  EXPECT_TRUE(has_line(render_interception(plan_for(v4_target, "", 7), true), "meta mark 0x00000007 return"));
}

TEST(check_interception_plan, accepts_addresses_and_refuses_everything_else) {
  EXPECT_EQ(os::check_interception_plan(plan_for(v4_target, v6_target)), "");
  EXPECT_EQ(os::check_interception_plan(plan_for("", "[fd00::53]:5353")), "");
  EXPECT_NE(os::check_interception_plan(plan_for("", "")), "");
  for (std::string bad : {"127.0.2.53", "127.0.2.53:", "127.0.2.53:99999", "127.0.2.353:53", "[127.0.2.53]:53",
                          "127.0.2.53:53; flush ruleset", "localhost:53", "::1:53"})
    EXPECT_NE(os::check_interception_plan(plan_for(bad, "")), "") << bad;
  for (std::string bad : {"::1:53", "[::1]", "[::1]:x", "[::g]:53", "[::1]:53 } table", "[]:53"})
    EXPECT_NE(os::check_interception_plan(plan_for("", bad)), "") << bad;
  for (const std::string& bad : std::vector<std::string>{"", "1roamd", "roamd; flush ruleset", "roamd-x", "r o", std::string(33, 'r')}) {
    auto p = plan_for(v4_target, "");
    p.table = bad;
    EXPECT_NE(os::check_interception_plan(p), "") << bad;
  }
}

// ---- the guard ----

struct guard_fixture : ::testing::Test {
  std::shared_ptr<test::fake_file_system> fs = std::make_shared<test::fake_file_system>();
  std::shared_ptr<test::fake_firewall> fw = std::make_shared<test::fake_firewall>();

  os::interception_guard guard() {
    return os::interception_guard{fs, fw, state_dir};
  }

  std::string journal_path() {
    return guard().journal_path();
  }

  /// The journal on the fake disk, decoded; fails the test when it is not there or not whole.
  proto::Interception journal_on_disk() {
    proto::Interception record;
    auto node = fs->at(journal_path());
    EXPECT_TRUE(node) << "no journal at " << journal_path();
    std::string why;
    EXPECT_TRUE(node && os::decode_framed(node->content, "ROAMDI1\n", record, why)) << why;
    return record;
  }
};

TEST_F(guard_fixture, the_journal_is_written_before_the_rules_are_installed) {
  bool journal_at_install = false;
  proto::Interception seen;
  fw->on_install([&](const os::interception_plan&) {
    journal_at_install = fs->at(journal_path()).has_value();
    if (journal_at_install)
      seen = journal_on_disk();
  });
  auto g = guard();
  auto p = plan_for(v4_target, v6_target);
  ASSERT_FALSE(g.engage(p)) << "engage failed";
  EXPECT_TRUE(g.engaged());
  EXPECT_TRUE(journal_at_install);
  EXPECT_EQ(seen.table(), "roamd");
  EXPECT_EQ(seen.to_v4(), v4_target);
  EXPECT_EQ(seen.to_v6(), v6_target);
  EXPECT_EQ(seen.exempt_mark(), 0x524f4d44u);
  EXPECT_EQ(seen.rules(), render_interception(p, true));
  EXPECT_EQ(seen.boot_id(), fs->boot_id());
  EXPECT_GT(seen.created_unix_ms(), 0);
  EXPECT_EQ(fs->at(journal_path())->mode, 0600u);
  ASSERT_EQ(fw->tables().count("roamd"), 1u);
  EXPECT_EQ(fw->tables().at("roamd").to_v4, v4_target);
}

TEST_F(guard_fixture, a_failed_install_leaves_no_journal_and_says_why) {
  fw->fail_install(os::os_error{0, "Could not process rule: Operation not permitted"});
  auto g = guard();
  auto err = g.engage(plan_for(v4_target, ""));
  ASSERT_TRUE(err);
  EXPECT_NE(err.message.find("Operation not permitted"), std::string::npos) << err.message;
  EXPECT_FALSE(g.engaged());
  EXPECT_FALSE(fs->at(journal_path()));
  EXPECT_TRUE(fw->tables().empty());
  EXPECT_FALSE(g.release());
  EXPECT_EQ(fw->calls(), std::vector<std::string>{"install roamd"});
}

TEST_F(guard_fixture, a_full_disk_means_no_install_is_attempted) {
  fs->set_full_disk_prefix(state_dir);
  auto g = guard();
  auto err = g.engage(plan_for(v4_target, v6_target));
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code, ENOSPC) << err.message;
  EXPECT_NE(err.message.find("interception.journal"), std::string::npos) << err.message;
  EXPECT_FALSE(g.engaged());
  EXPECT_TRUE(fw->calls().empty());
  EXPECT_FALSE(fs->at(journal_path()));
}

TEST_F(guard_fixture, an_unsafe_plan_is_refused_before_anything_is_written) {
  auto g = guard();
  auto err = g.engage(plan_for("127.0.2.53:53 flush ruleset", ""));
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code, EINVAL);
  EXPECT_EQ(fs->mutations(), 0u);
  EXPECT_TRUE(fw->calls().empty());
}

TEST_F(guard_fixture, release_removes_the_table_then_the_journal_and_is_idempotent) {
  auto g = guard();
  ASSERT_FALSE(g.engage(plan_for(v4_target, v6_target)));
  // The journal must still be there while the table goes: observed through a failing first remove.
  fw->fail_remove(os::os_error{EBUSY, "Device or resource busy"});
  EXPECT_TRUE(g.release());
  EXPECT_TRUE(fs->at(journal_path())) << "the journal went before the rules";
  EXPECT_TRUE(g.engaged());
  fw->fail_remove(std::nullopt);
  EXPECT_FALSE(g.release());
  EXPECT_FALSE(g.engaged());
  EXPECT_TRUE(fw->tables().empty());
  EXPECT_FALSE(fs->at(journal_path()));
  auto calls = fw->calls().size();
  EXPECT_FALSE(g.release());
  EXPECT_EQ(fw->calls().size(), calls);
}

TEST_F(guard_fixture, engaging_again_replaces_the_table_and_a_new_name_drops_the_old_one) {
  auto g = guard();
  ASSERT_FALSE(g.engage(plan_for(v4_target, "")));
  ASSERT_FALSE(g.engage(plan_for(v4_target, v6_target)));
  EXPECT_EQ(fw->tables().at("roamd").to_v6, v6_target);
  auto other = plan_for(v4_target, "");
  other.table = "roamd_other";
  ASSERT_FALSE(g.engage(other));
  EXPECT_EQ(fw->tables().size(), 1u);
  EXPECT_EQ(fw->tables().count("roamd_other"), 1u);
  EXPECT_EQ(journal_on_disk().table(), "roamd_other");
  // A failed re-install keeps the earlier table (one transaction), and with it a journal naming it.
  fw->fail_install(os::os_error{0, "Could not process rule: No buffer space available"});
  EXPECT_TRUE(g.engage(other));
  EXPECT_TRUE(g.engaged());
  EXPECT_EQ(journal_on_disk().table(), "roamd_other");
}

TEST_F(guard_fixture, a_crash_after_the_journal_is_recovered_by_the_next_run) {
  auto p = plan_for(v4_target, v6_target);
  p.table = "roamd_lab";
  // The "process" dies inside install, after the kernel took the table (an unowned one survives the crash).
  fw->on_install([&](const os::interception_plan& plan) {
    fw->put_table(plan);
    throw test::fake_crash{"killed during install"};
  });
  EXPECT_THROW(guard().engage(p), test::fake_crash);
  ASSERT_TRUE(fs->at(journal_path()));
  ASSERT_EQ(fw->tables().count("roamd_lab"), 1u);

  os::os_error err;
  auto done = guard().recover(err);
  EXPECT_FALSE(err) << err.message;
  EXPECT_NE(done.find("removed table inet roamd_lab"), std::string::npos) << done;
  EXPECT_EQ(done.find("earlier boot"), std::string::npos) << done;
  EXPECT_TRUE(fw->tables().empty());
  EXPECT_FALSE(fs->at(journal_path()));
  EXPECT_EQ(guard().recover(err), "") << "a second recover found something";
  EXPECT_FALSE(err);
}

TEST_F(guard_fixture, a_crash_before_the_journal_is_removed_is_recovered_too) {
  auto g = guard();
  ASSERT_FALSE(g.engage(plan_for(v4_target, "")));
  fs->crash_after(0);  // the next file-system change, the journal's removal, never happens
  EXPECT_THROW(g.release(), test::fake_crash);
  EXPECT_TRUE(fw->tables().empty());
  ASSERT_TRUE(fs->at(journal_path()));
  os::os_error err;
  auto done = guard().recover(err);
  EXPECT_FALSE(err) << err.message;
  EXPECT_FALSE(done.empty());
  EXPECT_FALSE(fs->at(journal_path()));
}

TEST_F(guard_fixture, a_journal_from_an_earlier_boot_is_said_so) {
  ASSERT_FALSE(guard().engage(plan_for(v4_target, "")));
  fs->set_boot_id("11111111-1111-4111-8111-111111111111");
  os::os_error err;
  auto done = guard().recover(err);
  EXPECT_NE(done.find("earlier boot"), std::string::npos) << done;
  EXPECT_FALSE(fs->at(journal_path()));
}

TEST_F(guard_fixture, a_damaged_journal_still_removes_table_roamd) {
  std::string good;
  {
    auto p = plan_for(v4_target, "");
    p.table = "roamd_custom";
    ASSERT_FALSE(guard().engage(p));
    good = fs->at(journal_path())->content;
  }
  for (const std::string& bytes : {std::string{}, good.substr(0, good.size() - 1), std::string{"ROAMDJ1\n"} + good.substr(8),
                                   std::string{"garbage"}}) {
    fs->put_file(journal_path(), bytes, 0600);
    fw->put_table(plan_for(v4_target, ""));
    os::os_error err;
    auto done = guard().recover(err);
    EXPECT_FALSE(err) << err.message;
    EXPECT_NE(done.find("damaged"), std::string::npos) << done;
    EXPECT_NE(done.find("table inet roamd "), std::string::npos) << done;
    EXPECT_EQ(fw->tables().count("roamd"), 0u) << done;
    EXPECT_FALSE(fs->at(journal_path())) << done;
  }
}

TEST_F(guard_fixture, a_table_that_cannot_be_removed_keeps_its_journal) {
  ASSERT_FALSE(guard().engage(plan_for(v4_target, "")));
  fw->fail_remove(os::os_error{EPERM, "Operation not permitted"});
  os::os_error err;
  auto done = guard().recover(err);
  ASSERT_TRUE(err);
  EXPECT_NE(err.message.find("Operation not permitted"), std::string::npos) << err.message;
  EXPECT_NE(done.find("kept"), std::string::npos) << done;
  EXPECT_TRUE(fs->at(journal_path()));
  EXPECT_EQ(fw->tables().count("roamd"), 1u);
}

TEST(framed_file, frames_of_another_kind_are_refused) {
  proto::Interception record;
  record.set_table("roamd");
  auto bytes = os::encode_framed("ROAMDI1\n", record);
  proto::Interception back;
  std::string why;
  ASSERT_TRUE(os::decode_framed(bytes, "ROAMDI1\n", back, why)) << why;
  EXPECT_EQ(back.table(), "roamd");
  EXPECT_FALSE(os::decode_framed(bytes, "ROAMDJ1\n", back, why));
  EXPECT_NE(why.find("magic"), std::string::npos) << why;
}

} // namespace
