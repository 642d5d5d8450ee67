// The takeover under the journal, on the fake file system: every backend restores byte for byte, every failure
// leaves the original untouched, and a crash at any step is recovered from the journal.
#include <gtest/gtest.h>

#include <unistd.h>

#include "tests/fakes/fake_command_runner.hpp"
#include "tests/fakes/fake_file_system.hpp"
#include "os/sha256.hpp"
#include "os/takeover.hpp"

using namespace roamd;

namespace {

constexpr const char* original_text = "# from DHCP\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.test "
                                      "lab.test\noptions edns0 timeout:2\n";

struct takeover_fixture : ::testing::Test {
  std::shared_ptr<test::fake_file_system> fs = std::make_shared<test::fake_file_system>();
  std::shared_ptr<test::fake_command_runner> cmd = std::make_shared<test::fake_command_runner>();
  std::shared_ptr<os::journal_store> store = std::make_shared<os::journal_store>(fs, "/var/lib/roamd");
  os::system_paths paths;

  os::takeover_engine engine() {
    return os::takeover_engine{fs, cmd, store};
  }

  os::takeover_plan plan(std::string_view mode = "auto") {
    return os::plan_takeover(mode, paths, *fs, "127.0.2.53");
  }

  /// Everything on the fake disk except the journal, for before/after comparisons.
  std::map<std::string, test::fake_file_system::node> files() const {
    auto all = fs->nodes();
    all.erase(store->path());
    all.erase(store->record_path());
    return all;
  }

  /// After a crash anywhere, a fresh engine restoring the journal left behind brings the original back.
  void recover_and_expect(const std::map<std::string, test::fake_file_system::node>& before) {
    auto loaded = store->load();
    if (loaded.state == os::journal_store::status::ok) {
      auto r = engine().restore(loaded.journal);
      ASSERT_TRUE(r.ok) << r.reason;
    } else {
      ASSERT_EQ(loaded.state, os::journal_store::status::absent) << loaded.problem;
    }
    auto after = files();
    ASSERT_EQ(after.size(), before.size());
    for (const auto& [path, n] : before) {
      ASSERT_TRUE(after.count(path)) << path;
      EXPECT_EQ(after[path].is_symlink, n.is_symlink) << path;
      EXPECT_EQ(after[path].content, n.content) << path;
      EXPECT_EQ(after[path].target, n.target) << path;
      EXPECT_EQ(after[path].mode, n.mode) << path;
    }
    EXPECT_FALSE(fs->at(store->path())) << "the journal outlived the restore";
  }
};

// ---- the journal ----

TEST(journal, round_trip_and_every_truncation_is_told_apart) {
  proto::Journal j;
  j.set_version(1);
  j.set_boot_id("b00t");
  j.add_files()->set_original(original_text);
  auto bytes = os::encode_journal(j);
  std::string why;
  auto back = os::decode_journal(bytes, why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(back->SerializeAsString(), j.SerializeAsString());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(os::decode_journal(std::string_view{bytes}.substr(0, n), why)) << n;
    EXPECT_FALSE(why.empty());
  }
  EXPECT_FALSE(os::decode_journal(bytes + "x", why));
  EXPECT_NE(why.find("trailing"), std::string::npos) << why;
  auto flipped = bytes;
  flipped.back() ^= 1;
  EXPECT_FALSE(os::decode_journal(flipped, why));
  EXPECT_EQ(why, "checksum mismatch");
  EXPECT_FALSE(os::decode_journal("not a journal at all, really", why));
  EXPECT_NE(why.find("bad magic"), std::string::npos);
  j.set_version(2);
  EXPECT_FALSE(os::decode_journal(os::encode_journal(j), why));
  EXPECT_NE(why.find("version 2"), std::string::npos);
}

TEST_F(takeover_fixture, a_damaged_journal_is_reported_with_its_path) {
  fs->put_file(store->path(), "ROAMDJ1\n\x00\x00");
  auto loaded = store->load();
  EXPECT_EQ(loaded.state, os::journal_store::status::damaged);
  EXPECT_NE(loaded.problem.find("/var/lib/roamd/takeover.journal: truncated header"), std::string::npos)
    << loaded.problem;
}

// ---- plans ----

TEST_F(takeover_fixture, a_plain_file_gets_roamds_file_with_the_search_list_and_options_kept) {
  fs->put_file(paths.resolv_conf, original_text);
  auto p = plan();
  ASSERT_TRUE(p.refusal.empty()) << p.refusal;
  EXPECT_EQ(p.backend, os::backend_kind::file);
  EXPECT_EQ(p.owner, os::resolv_owner::plain_file);
  ASSERT_EQ(p.edits.size(), 1u);
  const auto& text = p.edits[0].content;
  EXPECT_EQ(text.rfind(std::string{os::roamd_marker}, 0), 0u) << text;
  auto s = os::parse_resolv_conf(text);
  EXPECT_EQ(s.nameservers, std::vector<std::string>{"127.0.2.53"});
  EXPECT_EQ(s.search, (std::vector<std::string>{"corp.test", "lab.test"}));
  EXPECT_EQ(s.options, (std::vector<std::string>{"edns0", "timeout:2"}));
  EXPECT_EQ(p.original.nameservers, (std::vector<std::string>{"192.0.2.53", "192.0.2.54"}));
  EXPECT_TRUE(p.apply_command.empty());
}

TEST_F(takeover_fixture, the_backend_follows_the_owner_and_whether_its_service_runs) {
  fs->put_file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  fs->put_file(paths.resolved_upstream, "nameserver 192.0.2.1\nsearch home.test\n");
  fs->put_symlink(paths.resolv_conf, "../run/systemd/resolve/stub-resolv.conf");
  EXPECT_EQ(plan().owner, os::resolv_owner::systemd_resolved);
  EXPECT_EQ(plan().backend, os::backend_kind::file) << "resolved is not running: the stub symlink is just a file";
  fs->put_file(paths.resolved_socket, "");
  auto p = plan();
  EXPECT_EQ(p.backend, os::backend_kind::resolved);
  ASSERT_EQ(p.edits.size(), 1u);
  EXPECT_EQ(p.edits[0].path, paths.resolved_dropin);
  EXPECT_NE(p.edits[0].content.find("DNS=127.0.2.53\nDomains=~.\n"), std::string::npos);
  EXPECT_EQ(p.original.nameservers, std::vector<std::string>{"192.0.2.1"}) << "resolved's uplink servers";
  EXPECT_EQ(p.apply_command, (std::vector<std::string>{"systemctl", "restart", "systemd-resolved.service"}));
  EXPECT_EQ(p.restore_command,
            (std::vector<std::string>{"systemctl", "--no-block", "restart", "systemd-resolved.service"}))
    << "roamd's unit is ordered after resolved: a blocking restart during roamd's stop job would deadlock";

  fs->put_file("/run/NetworkManager/resolv.conf", "# Generated by NetworkManager\nnameserver 192.0.2.9\nsearch w.test\n");
  fs->put_symlink(paths.resolv_conf, "/run/NetworkManager/resolv.conf");
  EXPECT_EQ(plan().backend, os::backend_kind::file);
  fs->put_file(paths.nm_runtime, "nameserver 192.0.2.9\nsearch w.test\n");  // Debian: --no-daemon, no pid file
  p = plan();
  EXPECT_EQ(p.backend, os::backend_kind::networkmanager);
  EXPECT_NE(p.edits[0].content.find("[global-dns]\nsearches=w.test\n[global-dns-domain-*]\nservers=127.0.2.53\n"),
            std::string::npos)
    << p.edits[0].content;

  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  p = plan();
  EXPECT_EQ(p.backend, os::backend_kind::resolvconf);
  EXPECT_EQ(p.edits[0].path, paths.resolvconf_conf);
  EXPECT_NE(p.edits[0].content.find("name_servers=\"127.0.2.53\"\n"), std::string::npos);
  EXPECT_EQ(plan("file").backend, os::backend_kind::file) << "an explicit mode wins";
}

TEST_F(takeover_fixture, refusals_say_why) {
  fs->put_file(paths.resolv_conf, std::string{os::roamd_marker} + "\nnameserver 127.0.2.53\n");
  EXPECT_NE(plan().refusal.find("carries roamd's marker but no journal"), std::string::npos);
  fs->put_file(paths.resolv_conf, original_text);
  fs->set_immutable(paths.resolv_conf);
  EXPECT_NE(plan().refusal.find("immutable"), std::string::npos);
  fs->set_immutable(paths.resolv_conf, false);
  fs->set_unreadable(paths.resolv_conf);
  EXPECT_NE(plan().refusal.find("cannot be read"), std::string::npos);
}

// ---- take and restore, per backend ----

TEST_F(takeover_fixture, plain_file_take_then_restore_is_byte_identical_with_mode_and_owner) {
  fs->put_file(paths.resolv_conf, original_text, 0640, 7, 8);
  auto before = files();
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(os::sha256(fs->at(paths.resolv_conf)->content), r.journal.files(0).written_sha256());
  EXPECT_EQ(fs->at(paths.resolv_conf)->mode, 0640u);
  EXPECT_TRUE(engine().all_ours(r.journal));
  EXPECT_EQ(store->load().state, os::journal_store::status::ok);
  auto back = engine().restore(r.journal);
  ASSERT_TRUE(back.ok) << back.reason;
  recover_and_expect(before);
  EXPECT_EQ(fs->at(paths.resolv_conf)->uid, 7u);
}

TEST_F(takeover_fixture, a_symlink_is_replaced_by_a_file_and_comes_back_as_the_same_symlink) {
  fs->put_file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\nsearch x.test\n");
  fs->put_symlink(paths.resolv_conf, "../run/systemd/resolve/stub-resolv.conf");
  auto before = files();
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_FALSE(fs->at(paths.resolv_conf)->is_symlink);
  EXPECT_EQ(fs->at("/run/systemd/resolve/stub-resolv.conf")->content, "nameserver 127.0.0.53\nsearch x.test\n")
    << "never written through the symlink";
  ASSERT_TRUE(engine().restore(r.journal).ok);
  recover_and_expect(before);
}

TEST_F(takeover_fixture, a_bind_mounted_file_is_written_in_place) {
  fs->put_file(paths.resolv_conf, original_text);
  fs->set_bind_mounted(paths.resolv_conf);
  auto before = files();
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(r.journal.files(0).in_place());
  EXPECT_TRUE(engine().all_ours(r.journal));
  ASSERT_TRUE(engine().restore(r.journal).ok);
  recover_and_expect(before);
}

TEST_F(takeover_fixture, openresolv_is_told_through_resolvconf_conf_and_resolvconf_u) {
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\nresolv_conf=/etc/resolv.conf\n");
  auto before = files();
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.journal.backend(), "resolvconf");
  ASSERT_EQ(cmd->calls().size(), 1u);
  EXPECT_EQ(cmd->calls()[0], (std::vector<std::string>{"resolvconf", "-u"}));
  ASSERT_TRUE(engine().restore(r.journal).ok);
  EXPECT_EQ(cmd->calls().size(), 2u);
  recover_and_expect(before);
}

TEST_F(takeover_fixture, the_backend_is_told_even_when_a_killed_restore_had_put_the_file_back_already) {
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\n");
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  fs->put_file(paths.resolvconf_conf, "# openresolv\n");  // put back, then killed before `resolvconf -u`
  auto back = engine().restore(r.journal);
  ASSERT_TRUE(back.ok) << back.reason;
  ASSERT_EQ(cmd->calls().size(), 2u);
  EXPECT_EQ(cmd->calls()[1], (std::vector<std::string>{"resolvconf", "-u"}));
}

TEST_F(takeover_fixture, a_failing_restore_command_keeps_the_journal_for_the_next_try) {
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\n");
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  cmd->set_result("resolvconf", {1, "resolvconf: something went wrong\n"});
  auto back = engine().restore(r.journal);
  EXPECT_FALSE(back.ok);
  EXPECT_NE(back.reason.find("journal kept"), std::string::npos) << back.reason;
  EXPECT_EQ(store->load().state, os::journal_store::status::ok);
  cmd->set_result("resolvconf", {0, ""});
  EXPECT_TRUE(engine().restore(store->load().journal).ok);
  EXPECT_FALSE(fs->at(store->path()));
}

TEST_F(takeover_fixture, a_file_replacing_a_symlink_is_roamds_not_the_targets_owner) {
  fs->put_file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n", 0644, 991, 991);
  fs->put_symlink(paths.resolv_conf, "/run/systemd/resolve/stub-resolv.conf");
  ASSERT_TRUE(engine().take(plan("file"), 1000).ok);
  EXPECT_EQ(fs->at(paths.resolv_conf)->uid, ::geteuid());
  EXPECT_EQ(fs->at(paths.resolv_conf)->mode, 0644u);
}

TEST_F(takeover_fixture, runtime_drop_ins_are_created_and_removed) {
  fs->put_file("/run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  fs->put_symlink(paths.resolv_conf, "/run/systemd/resolve/stub-resolv.conf");
  fs->put_file(paths.resolved_socket, "");
  auto before = files();
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_TRUE(fs->at(paths.resolved_dropin));
  EXPECT_FALSE(r.journal.files(0).existed());
  ASSERT_TRUE(engine().restore(r.journal).ok);
  EXPECT_FALSE(fs->at(paths.resolved_dropin));
  EXPECT_EQ(cmd->calls().size(), 2u);
  recover_and_expect(before);
}

// ---- failures leave the original untouched ----

TEST_F(takeover_fixture, read_only_etc_full_state_disk_and_failing_helpers_change_nothing) {
  fs->put_file(paths.resolv_conf, original_text);
  auto before = files();
  fs->set_read_only_prefix("/etc");
  auto r = engine().take(plan(), 1000);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("Read-only file system"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("nothing changed"), std::string::npos) << r.reason;
  recover_and_expect(before);

  fs->set_read_only_prefix("");
  fs->set_full_disk_prefix("/var/lib/roamd");
  r = engine().take(plan(), 1000);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("cannot write the journal"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("No space left on device"), std::string::npos) << r.reason;
  recover_and_expect(before);

  fs->set_full_disk_prefix("");
  fs->put_file(paths.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
  fs->put_file(paths.resolvconf_conf, "# openresolv\n");
  before = files();
  cmd->set_result("resolvconf", {1, "signature mismatch: /etc/resolv.conf\n"});
  r = engine().take(plan(), 1000);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("`resolvconf -u` exited 1: signature mismatch"), std::string::npos) << r.reason;
  recover_and_expect(before);
}

TEST_F(takeover_fixture, a_file_changed_by_someone_else_is_left_to_them) {
  fs->put_file(paths.resolv_conf, original_text);
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok);
  fs->put_file(paths.resolv_conf, "#@VPNC_GENERATED@\nnameserver 10.8.0.1\n");
  EXPECT_FALSE(engine().all_ours(r.journal));
  auto back = engine().restore(r.journal);
  ASSERT_TRUE(back.ok) << back.reason;
  EXPECT_EQ(back.adopted, std::vector<std::string>{paths.resolv_conf});
  EXPECT_EQ(fs->at(paths.resolv_conf)->content, "#@VPNC_GENERATED@\nnameserver 10.8.0.1\n");
  EXPECT_FALSE(fs->at(store->path()));
}

TEST_F(takeover_fixture, temporaries_left_by_a_killed_run_are_swept_by_restore_and_take) {
  fs->put_file(paths.resolv_conf, original_text);
  auto r = engine().take(plan(), 1000);
  ASSERT_TRUE(r.ok);
  // What a kill -9 between writing a temporary and renaming it leaves behind (the real names carry pid and random).
  fs->put_file("/etc/.resolv.conf.roamd-tmp-4242-deadbeef", "half of something");
  fs->put_file("/var/lib/roamd/.takeover.journal.roamd-tmp-4242-0badf00d", "ROAMDJ1\n");
  fs->put_file("/etc/.resolv.conf.other-tool", "not ours");
  ASSERT_TRUE(engine().restore(r.journal).ok);
  EXPECT_FALSE(fs->at("/etc/.resolv.conf.roamd-tmp-4242-deadbeef"));
  EXPECT_FALSE(fs->at("/var/lib/roamd/.takeover.journal.roamd-tmp-4242-0badf00d"));
  EXPECT_TRUE(fs->at("/etc/.resolv.conf.other-tool")) << "only roamd's own temporaries go";
  fs->put_file("/etc/.resolv.conf.roamd-tmp-1-1", "x");
  ASSERT_TRUE(engine().take(plan(), 1000).ok);
  EXPECT_FALSE(fs->at("/etc/.resolv.conf.roamd-tmp-1-1"));
}

// ---- a crash at every step ----

struct crash_case {
  const char* name;
  std::function<void(test::fake_file_system&, const os::system_paths&)> setup;
  bool torn;
};

TEST_F(takeover_fixture, a_crash_at_any_step_of_take_or_restore_is_recovered_byte_identical) {
  std::vector<crash_case> cases = {
    {"plain", [](auto& f, auto& p) { f.put_file(p.resolv_conf, original_text, 0600); }, false},
    {"symlink",
     [](auto& f, auto& p) {
       f.put_file("/run/stub.conf", "nameserver 127.0.0.53\n");
       f.put_symlink(p.resolv_conf, "/run/stub.conf");
     },
     false},
    {"bind mount",
     [](auto& f, auto& p) {
       f.put_file(p.resolv_conf, original_text);
       f.set_bind_mounted(p.resolv_conf);
     },
     true},
    {"openresolv",
     [](auto& f, auto& p) {
       f.put_file(p.resolv_conf, "# Generated by resolvconf\nnameserver 192.0.2.7\n");
       f.put_file(p.resolvconf_conf, "# openresolv\n");
     },
     false},
  };
  size_t crashes = 0;
  for (const auto& c : cases) {
    for (bool during_restore : {false, true}) {
      for (size_t k = 0;; ++k) {
        SCOPED_TRACE(std::string{c.name} + (during_restore ? ", restore" : ", take") + ", crash after " +
                     std::to_string(k) + " mutations");
        fs = std::make_shared<test::fake_file_system>();
        store = std::make_shared<os::journal_store>(fs, "/var/lib/roamd");
        c.setup(*fs, paths);
        auto before = files();
        bool crashed = false;
        try {
          if (!during_restore) {
            c.torn ? fs->crash_mid_write(k) : fs->crash_after(k);
            engine().take(plan(), 1000);
          } else {
            auto r = engine().take(plan(), 1000);
            ASSERT_TRUE(r.ok) << r.reason;
            c.torn ? fs->crash_mid_write(k) : fs->crash_after(k);
            engine().restore(r.journal);
          }
        } catch (const test::fake_crash&) {
          crashed = true;
        }
        fs->crash_after(1000000);  // disarm
        recover_and_expect(before);
        if (!crashed)
          break;  // k is past the last step
        ++crashes;
        ASSERT_LT(k, 20u);
      }
    }
  }
  EXPECT_GE(crashes, 16u) << "every case has at least two crash points in take and two in restore";
}

// ---- taking the settings back ----

TEST_F(takeover_fixture, reassert_writes_roamds_file_again_and_keeps_the_users_original_for_restore) {
  fs->put_file(paths.resolv_conf, original_text);
  auto e = engine();
  auto taken = e.take(plan(), 1);
  ASSERT_TRUE(taken.ok) << taken.reason;
  auto ours = fs->at(paths.resolv_conf)->content;
  // A VPN replaces the file (by rename, as vpnc's in-place fallback would not keep roamd's bytes either).
  fs->put_file(paths.resolv_conf, "#@VPNC_GENERATED@\nnameserver 10.8.0.1\n");
  EXPECT_FALSE(e.all_ours(taken.journal));
  auto r = e.reassert(taken.journal);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.writes, 1u);
  EXPECT_NE(r.reason.find("changed by someone else"), std::string::npos) << r.reason;
  EXPECT_EQ(fs->at(paths.resolv_conf)->content, ours);
  EXPECT_TRUE(e.all_ours(taken.journal));
  // Nothing to do when it is still roamd's.
  auto again = e.reassert(taken.journal);
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.writes, 0u);
  // Restore puts back the user's settings, not the VPN's.
  auto loaded = store->load();
  ASSERT_EQ(loaded.state, os::journal_store::status::ok);
  ASSERT_TRUE(e.restore(loaded.journal).ok);
  EXPECT_EQ(fs->at(paths.resolv_conf)->content, original_text);
}

TEST_F(takeover_fixture, reassert_over_a_competing_stub_symlink_replaces_the_link_not_its_target) {
  fs->put_file(paths.resolv_conf, original_text);
  auto e = engine();
  auto taken = e.take(plan(), 1);
  ASSERT_TRUE(taken.ok) << taken.reason;
  fs->put_file("/run/stub/resolv.conf", "nameserver 127.0.0.53\n");
  fs->put_symlink(paths.resolv_conf, "/run/stub/resolv.conf");
  auto r = e.reassert(taken.journal);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_FALSE(fs->at(paths.resolv_conf)->is_symlink);
  EXPECT_EQ(fs->at("/run/stub/resolv.conf")->content, "nameserver 127.0.0.53\n") << "the stub's file is not touched";
  EXPECT_TRUE(e.all_ours(taken.journal));
}

TEST_F(takeover_fixture, reassert_that_cannot_write_says_why_and_changes_nothing) {
  fs->put_file(paths.resolv_conf, original_text);
  auto e = engine();
  auto taken = e.take(plan(), 1);
  ASSERT_TRUE(taken.ok) << taken.reason;
  fs->put_file(paths.resolv_conf, "nameserver 10.8.0.1\n");
  fs->set_read_only_prefix("/etc");
  auto r = e.reassert(taken.journal);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find(paths.resolv_conf), std::string::npos) << r.reason;
  EXPECT_EQ(fs->at(paths.resolv_conf)->content, "nameserver 10.8.0.1\n");
  EXPECT_EQ(r.writes, 0u);
}

TEST_F(takeover_fixture, reassert_crashing_mid_write_still_restores_the_original) {
  // The write that takes the file back is the one that dies: by rename, and torn in place on a bind mount.
  for (bool bind : {false, true}) {
    SCOPED_TRACE(bind ? "bind mount" : "rename");
    fs = std::make_shared<test::fake_file_system>();
    store = std::make_shared<os::journal_store>(fs, "/var/lib/roamd");
    fs->put_file(paths.resolv_conf, original_text);
    fs->set_bind_mounted(paths.resolv_conf, bind);
    auto taken = engine().take(plan(), 1);
    ASSERT_TRUE(taken.ok) << taken.reason;
    fs->put_file(paths.resolv_conf, "nameserver 10.8.0.1\n");
    fs->set_bind_mounted(paths.resolv_conf, bind);
    if (bind)
      fs->crash_mid_write(0);
    else
      fs->crash_after(0);
    EXPECT_THROW(engine().reassert(taken.journal), test::fake_crash);
    auto loaded = store->load();
    ASSERT_EQ(loaded.state, os::journal_store::status::ok);
    auto r = engine().restore(loaded.journal);
    ASSERT_TRUE(r.ok) << r.reason;
    auto now = fs->at(paths.resolv_conf)->content;
    // A torn in-place write is roamd's to finish: the original comes back; an intact foreign file stays theirs.
    EXPECT_EQ(now, bind ? std::string{original_text} : std::string{"nameserver 10.8.0.1\n"});
  }
}

} // namespace
