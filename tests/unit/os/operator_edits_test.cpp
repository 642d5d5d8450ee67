// What someone's edit to roamd's files means (README, "Operator edits"), and the repair of a copy of roamd's file
// found naming a roamd that is not running: on the fake file system, byte for byte.
#include <gtest/gtest.h>

#include <unistd.h>

#include "os/instance_lock.hpp"
#include "os/operator_edits.hpp"
#include "os/resolv_conf.hpp"
#include "os/takeover.hpp"
#include "tests/fakes/fake_command_runner.hpp"
#include "tests/fakes/fake_file_system.hpp"
#include "tests/unit/os/temp_dir.hpp"

using namespace roamd;

namespace {

constexpr const char* original_text = "# from DHCP\nnameserver 192.0.2.53\nnameserver 192.0.2.54\ndomain old.test\n"
                                      "options edns0\n; a comment\n";

/// `text` with the first line that starts with `prefix` replaced by `with` (sed -i 's/^prefix.*/with/').
std::string sed(std::string text, const std::string& prefix, const std::string& with) {
  auto at = text.rfind("\n" + prefix);
  EXPECT_NE(at, std::string::npos) << prefix;
  auto end = text.find('\n', at + 1);
  return text.replace(at + 1, end - at - 1, with);
}

// ---- the pure merge ----

TEST(with_search_and_options, unchanged_settings_keep_every_byte) {
  auto same = os::parse_resolv_conf(original_text);
  EXPECT_EQ(os::with_search_and_options(original_text, same), original_text);
}

TEST(with_search_and_options, a_new_search_list_takes_the_place_of_the_old_lines_and_nothing_else_moves) {
  auto edited = os::parse_resolv_conf("nameserver 127.0.2.53\nsearch new.test old.test\noptions edns0\n");
  EXPECT_EQ(os::with_search_and_options(original_text, edited),
            "# from DHCP\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch new.test old.test\n"
            "options edns0\n; a comment\n");
}

TEST(with_search_and_options, added_options_are_appended_and_removed_ones_go) {
  auto more = os::parse_resolv_conf("search old.test\noptions edns0 timeout:1\n");
  EXPECT_EQ(os::with_search_and_options("nameserver 192.0.2.1\nsearch old.test\n", more),
            "nameserver 192.0.2.1\nsearch old.test\noptions edns0 timeout:1\n");
  auto none = os::parse_resolv_conf("nameserver 127.0.2.53\noptions edns0\n");
  EXPECT_EQ(os::with_search_and_options(original_text, none),
            "# from DHCP\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n; a comment\n");
}

TEST(original_nameservers_noted, reads_roamds_notes_only) {
  EXPECT_EQ(os::original_nameservers_noted("# original nameserver 192.0.2.1\n#original nameserver 9.9.9.9\n"
                                           "nameserver 127.0.2.53\n# original nameserver fe80::1%eth0\n"),
            (std::vector<std::string>{"192.0.2.1", "fe80::1%eth0"}));
}

// ---- the takeover engine ----

struct edits_fixture : ::testing::Test {
  std::shared_ptr<test::fake_file_system> fs = std::make_shared<test::fake_file_system>();
  std::shared_ptr<test::fake_command_runner> cmd = std::make_shared<test::fake_command_runner>();
  std::shared_ptr<os::journal_store> store = std::make_shared<os::journal_store>(fs, "/var/lib/roamd");
  os::system_paths paths;
  os::takeover_engine engine{fs, cmd, store};

  proto::Journal take(std::string_view mode = "auto") {
    auto r = engine.take(os::plan_takeover(mode, paths, *fs, "127.0.2.53"), 1);
    EXPECT_TRUE(r.ok) << r.reason;
    return r.journal;
  }
  std::string resolv() const {
    return fs->at(paths.resolv_conf)->content;
  }
  /// roamd takes over from `original_text` and stops; returns its file as a VPN's backup of it at connect holds it.
  /// Without `keep_record` the state directory is purged after the stop.
  std::string roamds_file_after_a_stop(bool keep_record = true) {
    fs->put_file(paths.resolv_conf, original_text);
    auto j = take();
    auto copy = resolv();
    EXPECT_TRUE(engine.restore(j).ok);
    if (!keep_record) {
      EXPECT_FALSE(fs->remove(store->record_path()));
    }
    return copy;
  }
};

TEST_F(edits_fixture, roamds_file_notes_the_original_nameservers_and_says_what_edits_mean) {
  fs->put_file(paths.resolv_conf, original_text);
  take();
  auto now = resolv();
  EXPECT_EQ(os::original_nameservers_noted(now), (std::vector<std::string>{"192.0.2.53", "192.0.2.54"}));
  EXPECT_EQ(os::parse_resolv_conf(now).nameservers, (std::vector<std::string>{"127.0.2.53"}));
  EXPECT_NE(now.find("Edits to the search and options lines here are kept"), std::string::npos) << now;
  EXPECT_EQ(now.find("Edits to this file are kept as the new original"), std::string::npos) << "the old, untrue header";
}

TEST_F(edits_fixture, a_search_line_edited_with_sed_comes_back_in_the_original_on_restore) {
  // The second reproduction: `sed -i` on roamd's search line, then a stop.
  fs->put_file(paths.resolv_conf, original_text, 0640, 7, 8);
  auto j = take();
  fs->put_file(paths.resolv_conf, sed(resolv(), "search", "search old.test added.test"), 0640, 7, 8);
  EXPECT_EQ(os::classify(j.files(0), fs->inspect(paths.resolv_conf), j.listen()), os::file_verdict::edited);
  auto r = engine.restore(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.adopted.empty()) << "the edit is the user's, the file is not someone else's now";
  EXPECT_EQ(resolv(), "# from DHCP\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch old.test added.test\n"
                      "options edns0\n; a comment\n");
  EXPECT_EQ(fs->at(paths.resolv_conf)->mode, 0640u);
  EXPECT_FALSE(fs->at(store->path())) << "journal gone";
  auto rec = store->load_record();
  ASSERT_EQ(rec.state, os::journal_store::status::ok) << rec.problem;
  EXPECT_EQ(rec.journal.files(0).original(), resolv()) << "the record holds the settings as restored";
}

TEST_F(edits_fixture, absorbed_edits_make_the_file_roamds_again_and_survive_a_crash) {
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  fs->put_file(paths.resolv_conf, sed(resolv(), "options", "options edns0 rotate"));
  EXPECT_FALSE(engine.all_ours(j));
  auto kept = engine.absorb_edits(j);
  EXPECT_NE(kept.find("kept the edits"), std::string::npos) << kept;
  EXPECT_TRUE(engine.all_ours(j));
  EXPECT_EQ(j.original_settings().options_size(), 2);
  // kill -9 here: the journal on disk already holds the edit.
  auto loaded = store->load();
  ASSERT_EQ(loaded.state, os::journal_store::status::ok);
  EXPECT_TRUE(engine.all_ours(loaded.journal));
  ASSERT_TRUE(engine.restore(loaded.journal).ok);
  EXPECT_EQ(resolv(), sed(original_text, "options", "options edns0 rotate"));
  EXPECT_EQ(engine.absorb_edits(j), "") << "nothing left to take in";
}

TEST_F(edits_fixture, reassert_keeps_an_edit_instead_of_writing_over_it) {
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  auto edited = sed(resolv(), "search", "search mine.test");
  fs->put_file(paths.resolv_conf, edited);
  auto r = engine.reassert(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.writes, 0u);
  EXPECT_EQ(resolv(), edited);
}

TEST_F(edits_fixture, a_new_nameserver_that_is_not_a_vpns_is_rebased_as_the_original) {
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  const std::string theirs = "# new network\nnameserver 198.51.100.1\nsearch cafe.test\n";
  fs->put_file(paths.resolv_conf, theirs, 0600, 3, 4);
  auto r = engine.rebase(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.writes, 1u);
  EXPECT_EQ(os::parse_resolv_conf(resolv()).nameservers, (std::vector<std::string>{"127.0.2.53"}));
  EXPECT_EQ(os::parse_resolv_conf(resolv()).search, (std::vector<std::string>{"cafe.test"}));
  EXPECT_EQ(os::original_nameservers_noted(resolv()), (std::vector<std::string>{"198.51.100.1"}));
  EXPECT_EQ(j.original_settings().nameservers(0), "198.51.100.1");
  EXPECT_TRUE(engine.all_ours(j));
  auto loaded = store->load();  // the journal on disk was saved before the write
  ASSERT_EQ(loaded.state, os::journal_store::status::ok);
  ASSERT_TRUE(engine.restore(loaded.journal).ok);
  EXPECT_EQ(resolv(), theirs);
  EXPECT_EQ(fs->at(paths.resolv_conf)->mode, 0600u);
}

TEST_F(edits_fixture, an_emptied_file_is_not_rebased) {
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  fs->put_file(paths.resolv_conf, "");
  auto r = engine.rebase(j);
  ASSERT_TRUE(r.ok) << r.reason;
  ASSERT_TRUE(engine.restore(store->load().journal).ok);
  EXPECT_EQ(resolv(), original_text);
}

TEST_F(edits_fixture, an_edited_resolvconf_conf_keeps_the_edit_and_loses_roamds_lines) {
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\nresolv_conf=/etc/resolv.conf\n");
  auto j = take();
  ASSERT_EQ(j.backend(), "resolvconf");
  fs->put_file(paths.resolvconf_conf, fs->at(paths.resolvconf_conf)->content + "search_domains=mine.test\n");
  ASSERT_TRUE(engine.restore(j).ok);
  EXPECT_EQ(fs->at(paths.resolvconf_conf)->content,
            "# openresolv\nresolv_conf=/etc/resolv.conf\nsearch_domains=mine.test\n");
}

TEST_F(edits_fixture, a_resolvconf_conf_without_roamds_line_is_someone_elses) {
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\n");
  auto j = take();
  fs->put_file(paths.resolvconf_conf, "# rewritten by the admin\nname_servers=192.0.2.9\n");
  auto r = engine.restore(j);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.adopted.size(), 1u);
  EXPECT_EQ(fs->at(paths.resolvconf_conf)->content, "# rewritten by the admin\nname_servers=192.0.2.9\n");
}

TEST_F(edits_fixture, an_edited_drop_in_is_still_removed) {
  fs->put_file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  fs->put_file(paths.resolved_socket, "");
  fs->put_symlink(paths.resolv_conf, "/run/systemd/resolve/stub-resolv.conf");
  auto j = take();
  ASSERT_EQ(j.backend(), "resolved");
  fs->put_file(paths.resolved_dropin, fs->at(paths.resolved_dropin)->content + "DNSSEC=no\n");
  ASSERT_TRUE(engine.restore(j).ok);
  EXPECT_FALSE(fs->at(paths.resolved_dropin)) << "a drop-in naming roamd must not outlive it";
}

TEST_F(edits_fixture, an_edit_over_a_symlink_original_puts_the_symlink_back) {
  fs->put_file("/run/x/resolv.conf", "nameserver 192.0.2.8\n");
  fs->put_symlink(paths.resolv_conf, "/run/x/resolv.conf");
  auto j = take("file");
  fs->put_file(paths.resolv_conf, resolv() + "search mine.test\n");
  ASSERT_TRUE(engine.restore(j).ok);
  ASSERT_TRUE(fs->at(paths.resolv_conf)->is_symlink);
  EXPECT_EQ(fs->at(paths.resolv_conf)->target, "/run/x/resolv.conf");
}

// ---- a copy of roamd's file after roamd stopped ----

TEST_F(edits_fixture, a_vpns_backup_of_roamds_file_put_back_after_the_stop_is_repaired_from_the_record) {
  auto backup = roamds_file_after_a_stop();  // vpnc-script backs the file up at connect ...
  fs->put_file(paths.resolv_conf, backup);  // ... and puts it back at disconnect, after roamd stopped
  auto r = engine.repair(paths.resolv_conf);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_NE(r.reason.find("recorded by the last restore"), std::string::npos) << r.reason;
  EXPECT_EQ(resolv(), original_text);
  auto again = engine.repair(paths.resolv_conf);
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.reason, "") << "the user's own file is never touched";
}

TEST_F(edits_fixture, without_a_record_the_files_own_notes_give_the_servers_back) {
  auto copy = roamds_file_after_a_stop(false);  // and a purged state directory
  fs->put_file(paths.resolv_conf, copy);
  auto r = engine.repair(paths.resolv_conf);
  ASSERT_TRUE(r.ok) << r.reason;
  auto s = os::parse_resolv_conf(resolv());
  EXPECT_EQ(s.nameservers, (std::vector<std::string>{"192.0.2.53", "192.0.2.54"}));
  EXPECT_EQ(s.search, (std::vector<std::string>{"old.test"}));
  EXPECT_EQ(s.options, (std::vector<std::string>{"edns0"}));
}

TEST_F(edits_fixture, a_marker_file_with_no_servers_known_is_reported_and_left) {
  const std::string bare = "# Generated by roamd: old\nnameserver 127.0.2.53\n";
  fs->put_file(paths.resolv_conf, bare);
  auto r = engine.repair(paths.resolv_conf);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("write the system's settings"), std::string::npos) << r.reason;
  EXPECT_EQ(resolv(), bare);
}

// ---- one instance ----

TEST(instance_lock, a_second_instance_is_refused_naming_the_holder_and_the_file) {
  test::temp_dir dir{"lock"};
  auto state = dir / "state/sub";
  auto first = os::instance_lock::acquire(state);
  ASSERT_TRUE(first.lock) << first.message;
  auto second = os::instance_lock::acquire(state);
  EXPECT_FALSE(second.lock);
  EXPECT_EQ(second.why, os::instance_lock::refusal::held);
  EXPECT_EQ(second.holder_pid, ::getpid());
  EXPECT_NE(second.message.find(state + "/roamd.lock"), std::string::npos) << second.message;
  EXPECT_NE(second.message.find("pid " + std::to_string(::getpid())), std::string::npos) << second.message;
  first.lock.reset();
  auto third = os::instance_lock::acquire(state);
  EXPECT_TRUE(third.lock) << third.message;
}

TEST(instance_lock, an_unusable_state_directory_is_named) {
  test::temp_dir dir{"lock"};
  std::ofstream{dir / "file"} << "x";
  auto r = os::instance_lock::acquire(dir / "file/state");
  EXPECT_FALSE(r.lock);
  EXPECT_EQ(r.why, os::instance_lock::refusal::unavailable);
  EXPECT_NE(r.message.find(dir / "file/state"), std::string::npos) << r.message;
}

} // namespace

namespace {

TEST_F(edits_fixture, roamds_nameserver_edited_in_place_becomes_the_original_without_roamds_comments) {
  // The other reproduction: the nameserver line of roamd's own file changed by hand.
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  fs->put_file(paths.resolv_conf, sed(resolv(), "nameserver", "nameserver 198.51.100.77"));
  auto r = engine.rebase(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(os::parse_resolv_conf(resolv()).nameservers, (std::vector<std::string>{"127.0.2.53"}));
  ASSERT_TRUE(engine.restore(store->load().journal).ok);
  EXPECT_EQ(resolv(), "nameserver 198.51.100.77\nsearch old.test\noptions edns0\n");
  EXPECT_EQ(engine.repair(paths.resolv_conf).reason, "") << "not roamd's file: no marker left in it";
}

} // namespace

namespace {

TEST_F(edits_fixture, the_record_keeps_a_foreign_file_left_in_force_but_never_a_vpns) {
  for (bool vpn : {false, true}) {
    SCOPED_TRACE(vpn ? "a VPN's file" : "an operator's file");
    fs->put_file(paths.resolv_conf, original_text);
    auto j = take();
    auto copy = resolv();
    const std::string theirs = vpn ? "#@VPNC_GENERATED@\nnameserver 10.8.0.1\n" : "nameserver 198.51.100.9\n";
    fs->put_file(paths.resolv_conf, theirs);  // roamd intercepting: the file stays theirs
    ASSERT_TRUE(engine.restore(j).ok);
    EXPECT_EQ(resolv(), theirs);
    fs->put_file(paths.resolv_conf, copy);  // later, a copy of roamd's file comes back
    ASSERT_TRUE(engine.repair(paths.resolv_conf).ok);
    EXPECT_EQ(resolv(), vpn ? std::string{original_text} : theirs);
  }
}

} // namespace

namespace {

TEST_F(edits_fixture, resolvconf_conf_edited_twice_with_a_restart_between_keeps_both_edits) {
  // Found by lab.invariant (seed 92): an edit taken in, then another, then a stop.
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "resolv_conf=/etc/resolv.conf\n");
  auto j = take();
  fs->put_file(paths.resolvconf_conf, fs->at(paths.resolvconf_conf)->content + "search_domains_append=\"c1.test\"\n");
  EXPECT_NE(engine.absorb_edits(j), "");
  EXPECT_TRUE(engine.all_ours(j));
  fs->put_file(paths.resolvconf_conf, fs->at(paths.resolvconf_conf)->content + "search_domains_append=\"c2.test\"\n");
  EXPECT_EQ(os::classify(j.files(0), fs->inspect(paths.resolvconf_conf), j.listen()), os::file_verdict::edited);
  auto r = engine.restore(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.adopted.empty()) << r.reason;
  EXPECT_EQ(fs->at(paths.resolvconf_conf)->content,
            "resolv_conf=/etc/resolv.conf\nsearch_domains_append=\"c1.test\"\nsearch_domains_append=\"c2.test\"\n");
}

} // namespace

namespace {

TEST_F(edits_fixture, while_roamd_does_not_write_a_new_original_is_recorded_only) {
  // Found by lab.invariant (seed 172): a fighter's file while roamd had yielded, then a take-back, then a stop.
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  const std::string theirs = "# a fighting writer\nnameserver 192.0.2.201\n";
  fs->put_file(paths.resolv_conf, theirs);
  auto r = engine.rebase(j, false);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.writes, 0u);
  EXPECT_NE(r.reason.find("does not write it now"), std::string::npos) << r.reason;
  EXPECT_EQ(resolv(), theirs) << "nothing written";
  EXPECT_EQ(store->load().journal.files(0).original(), theirs) << "the journal on disk has it";
  ASSERT_TRUE(engine.reassert(j).ok);  // later roamd takes the settings back ...
  EXPECT_EQ(os::parse_resolv_conf(resolv()).nameservers, (std::vector<std::string>{"127.0.2.53"}));
  ASSERT_TRUE(engine.restore(j).ok);  // ... and stops: theirs come back, not the pre-fight original
  EXPECT_EQ(resolv(), theirs);
}

} // namespace

namespace {

TEST_F(edits_fixture, roamds_file_with_someone_elses_nameserver_is_kept_without_roamds_comments) {
  // Found by the long lab.invariant run (seed 1036): roamd's nameserver line edited in place while roamd did not
  // write, then kill -9 and --restore: the file kept roamd's marker, the record too, and the next start refused.
  fs->put_file(paths.resolv_conf, original_text);
  auto j = take();
  fs->put_file(paths.resolv_conf, sed(resolv(), "nameserver", "nameserver 198.51.100.77"));
  auto r = engine.restore(j);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_NE(r.reason.find("kept without roamd's comments"), std::string::npos) << r.reason;
  EXPECT_EQ(resolv(), "nameserver 198.51.100.77\nsearch old.test\noptions edns0\n");
  EXPECT_EQ(engine.repair(paths.resolv_conf).reason, "") << "no marker left: nothing to repair";
  auto rec = store->load_record();
  ASSERT_EQ(rec.state, os::journal_store::status::ok);
  EXPECT_EQ(rec.journal.files(0).original(), resolv()) << "the record holds it the same way";
  // The next takeover records it as the original: no refusal.
  auto again = engine.take(os::plan_takeover("auto", paths, *fs, "127.0.2.53"), 2);
  EXPECT_TRUE(again.ok) << again.reason;
}

} // namespace

namespace {

TEST_F(edits_fixture, a_vpns_file_taken_over_as_the_original_never_becomes_the_record) {
  // Found by the long lab.invariant run (seed 1291): roamd started while a VPN's file was in force, stopped (the
  // VPN's file back, rightly), then the VPN disconnected and put back its backup, a copy of roamd's file.
  auto backup = roamds_file_after_a_stop();  // the VPN backs up roamd's file; roamd stops (the record: the user's)
  const std::string vpn = "#@VPNC_GENERATED@ -- this file is generated by vpnc\nnameserver 10.8.0.1\n";
  fs->put_file(paths.resolv_conf, vpn);             // the VPN's file is in force ...
  auto j2 = take();                                 // ... when roamd starts again: it is the original now
  ASSERT_TRUE(engine.restore(j2).ok);
  EXPECT_EQ(resolv(), vpn) << "the stop puts back what was in force";
  fs->put_file(paths.resolv_conf, backup);          // the VPN disconnects
  ASSERT_TRUE(engine.repair(paths.resolv_conf).ok);
  EXPECT_EQ(resolv(), original_text) << "the user's settings, not the VPN's dead ones";
}

TEST_F(edits_fixture, a_vpns_backup_of_an_earlier_roamd_file_while_roamd_runs_brings_the_users_settings_back) {
  // Seed 6677 of lab.invariant: roamd killed while a VPN's file was in force, started again over it (the VPN's file
  // is the original now), then the VPN disconnected and put back its backup, roamd's file of the first takeover.
  // It names roamd, so roamd runs on; on stop the user's settings must come back, not the VPN's dead ones.
  for (bool running : {true, false}) {
    SCOPED_TRACE(running ? "absorbed while running, then stopped" : "found by the stop");
    auto backup = roamds_file_after_a_stop();  // the VPN backs up roamd's file; the record: the user's settings
    const std::string vpn = "#@VPNC_GENERATED@ -- this file is generated by vpnc\nnameserver 10.8.0.1\n";
    fs->put_file(paths.resolv_conf, vpn);
    auto j2 = take();                              // roamd again, over the VPN's file
    fs->put_file(paths.resolv_conf, backup);       // the VPN disconnects
    EXPECT_EQ(os::classify(j2.files(0), fs->inspect(paths.resolv_conf), j2.listen()), os::file_verdict::edited);
    if (running) {
      EXPECT_NE(engine.absorb_edits(j2), "");
      EXPECT_EQ(j2.files(0).original(), original_text);
      EXPECT_EQ(j2.original_settings().nameservers(0), "192.0.2.53") << "routes use the user's servers again";
      EXPECT_EQ(j2.owner(), "plain file") << "no longer the VPN script's";
      EXPECT_EQ(store->load().journal.files(0).original(), original_text) << "saved before it is relied on";
    }
    ASSERT_TRUE(engine.restore(j2).ok);
    EXPECT_EQ(resolv(), original_text) << "the user's settings, not the VPN's";
    EXPECT_EQ(store->load_record().journal.files(0).original(), original_text);
  }
}

TEST_F(edits_fixture, a_vpns_backup_with_no_record_is_rebuilt_from_its_notes) {
  auto backup = roamds_file_after_a_stop(false);
  fs->put_file(paths.resolv_conf, "#@VPNC_GENERATED@ -- this file is generated by vpnc\nnameserver 10.8.0.1\n");
  auto j2 = take();
  fs->put_file(paths.resolv_conf, backup);
  ASSERT_TRUE(engine.restore(j2).ok);
  auto now = os::parse_resolv_conf(resolv());
  EXPECT_EQ(now.nameservers, (std::vector<std::string>{"192.0.2.53", "192.0.2.54"})) << resolv();
  EXPECT_EQ(now.search, (std::vector<std::string>{"old.test"}));
}

TEST_F(edits_fixture, a_search_edit_to_roamds_file_over_a_vpns_original_is_only_an_edit) {
  // roamd's own file of this takeover, edited: its notes name the VPN's server, so it is no earlier backup.
  fs->put_file(paths.resolv_conf,
               "#@VPNC_GENERATED@ -- this file is generated by vpnc\nnameserver 10.8.0.1\nsearch vpn.test\n");
  auto j = take();
  fs->put_file(paths.resolv_conf, sed(resolv(), "search", "search corp.test"));
  ASSERT_TRUE(engine.restore(j).ok);
  auto now = os::parse_resolv_conf(resolv());
  EXPECT_EQ(now.nameservers, (std::vector<std::string>{"10.8.0.1"}));
  EXPECT_EQ(now.search, (std::vector<std::string>{"corp.test"}));
}

} // namespace
