#include "tests/fakes/fake_file_system.hpp"

#include <cerrno>

#include <gtest/gtest.h>

#include "tests/unit/os/temp_dir.hpp"

namespace roamd::test {
namespace {

// -- The contract, run against the real file system (in a temp dir) and the fake: they must agree. ---------------

class file_system_contract : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    if (GetParam() == "linux") {
      ASSERT_FALSE(dir_.path.empty());
      root_ = dir_.path;
      fs_ = os::make_linux_file_system();
    } else {
      root_ = "/tmp/contract";
      auto fake = std::make_unique<fake_file_system>();
      ASSERT_FALSE(fake->make_dirs(root_, 0755));
      fs_ = std::move(fake);
    }
  }

  std::string at(const std::string& name) const {
    return root_ + "/" + name;
  }

  std::string content(const std::string& name) {
    std::string out;
    return fs_->read(at(name), out) ? "<unreadable>" : out;
  }

  temp_dir dir_{"contract"};
  std::string root_;
  std::unique_ptr<os::file_system> fs_;
};

TEST_P(file_system_contract, write_atomic_creates_and_replaces_keeping_the_mode) {
  ASSERT_FALSE(fs_->write_atomic(at("f"), "one", 0600, 0, 0));
  EXPECT_EQ(fs_->inspect(at("f")).mode, 0600u);
  ASSERT_FALSE(fs_->write_atomic(at("f"), "two", 0644, 0, 0));
  auto st = fs_->inspect(at("f"));
  EXPECT_EQ(st.content, "two");
  EXPECT_EQ(st.mode, 0644u);
  EXPECT_TRUE(st.exists && st.readable && !st.is_symlink);
}

TEST_P(file_system_contract, write_atomic_replaces_the_symlink_not_its_target) {
  ASSERT_FALSE(fs_->write_atomic(at("target"), "theirs", 0644, 0, 0));
  ASSERT_FALSE(fs_->symlink_atomic(at("link"), "target"));
  ASSERT_FALSE(fs_->write_atomic(at("link"), "ours", 0644, 0, 0));
  EXPECT_FALSE(fs_->inspect(at("link")).is_symlink);
  EXPECT_EQ(content("link"), "ours");
  EXPECT_EQ(content("target"), "theirs");
}

TEST_P(file_system_contract, write_in_place_refuses_symlinks_and_missing_files) {
  ASSERT_FALSE(fs_->write_atomic(at("target"), "theirs", 0644, 0, 0));
  ASSERT_FALSE(fs_->symlink_atomic(at("link"), at("target")));
  auto err = fs_->write_in_place(at("link"), "ours");
  EXPECT_EQ(err.code, ELOOP);
  EXPECT_NE(err.message.find(at("link")), std::string::npos);
  EXPECT_EQ(content("target"), "theirs");
  EXPECT_EQ(fs_->write_in_place(at("missing"), "x").code, ENOENT);
  ASSERT_FALSE(fs_->write_in_place(at("target"), "rewritten"));
  EXPECT_EQ(content("target"), "rewritten");
}

TEST_P(file_system_contract, symlinks_resolve_relative_and_absolute_and_may_dangle) {
  ASSERT_FALSE(fs_->make_dirs(at("run/sub"), 0755));
  ASSERT_FALSE(fs_->write_atomic(at("run/sub/stub"), "stub", 0640, 0, 0));
  ASSERT_FALSE(fs_->symlink_atomic(at("rel"), "run/sub/../sub/stub"));
  ASSERT_FALSE(fs_->symlink_atomic(at("abs"), at("rel")));  // a chain
  auto st = fs_->inspect(at("abs"));
  EXPECT_TRUE(st.is_symlink && st.readable);
  EXPECT_EQ(st.link_target, at("rel"));
  EXPECT_EQ(st.content, "stub");
  EXPECT_EQ(st.mode, 0640u);

  ASSERT_FALSE(fs_->symlink_atomic(at("abs"), "nowhere"));  // swapped
  st = fs_->inspect(at("abs"));
  EXPECT_TRUE(st.exists && st.is_symlink && !st.readable);
  EXPECT_EQ(st.link_target, "nowhere");

  ASSERT_FALSE(fs_->symlink_atomic(at("loop1"), "loop2"));
  ASSERT_FALSE(fs_->symlink_atomic(at("loop2"), "loop1"));
  std::string out;
  EXPECT_EQ(fs_->read(at("loop1"), out).code, ELOOP);
}

TEST_P(file_system_contract, remove_takes_the_link_and_missing_is_success) {
  ASSERT_FALSE(fs_->write_atomic(at("target"), "t", 0644, 0, 0));
  ASSERT_FALSE(fs_->symlink_atomic(at("link"), "target"));
  EXPECT_FALSE(fs_->remove(at("link")));
  EXPECT_FALSE(fs_->inspect(at("link")).exists);
  EXPECT_EQ(content("target"), "t");
  EXPECT_FALSE(fs_->remove(at("never-was")));
}

TEST_P(file_system_contract, read_limit_and_errors_naming_the_path) {
  ASSERT_FALSE(fs_->write_atomic(at("big"), std::string(100, 'x'), 0644, 0, 0));
  std::string out;
  EXPECT_EQ(fs_->read(at("big"), out, 99).code, EFBIG);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(fs_->read(at("big"), out, 100));
  auto err = fs_->read(at("missing"), out);
  EXPECT_EQ(err.message, "open " + at("missing") + ": No such file or directory");
  err = fs_->write_atomic(at("no/such/dir/f"), "x", 0644, 0, 0);
  EXPECT_EQ(err.code, ENOENT);
  EXPECT_EQ(err.message.rfind("open " + at("no/such/dir/.f.roamd-tmp-"), 0), 0u) << err.message;
  ASSERT_FALSE(fs_->make_dirs(at("no/such/dir"), 0755));
  EXPECT_FALSE(fs_->write_atomic(at("no/such/dir/f"), "x", 0644, 0, 0));
  EXPECT_EQ(fs_->make_dirs(at("no/such/dir/f/g"), 0755).code, ENOTDIR);
}

TEST_P(file_system_contract, boot_id_is_known) {
  EXPECT_FALSE(fs_->boot_id().empty());
}

INSTANTIATE_TEST_SUITE_P(both, file_system_contract, ::testing::Values("linux", "fake"),
                         [](const auto& info) { return info.param; });

// -- The fake's failure knobs ---------------------------------------------------------------------------------------

class fake_file_system_test : public ::testing::Test {
protected:
  void SetUp() override {
    fs_.put_file("/etc/resolv.conf", "nameserver 192.0.2.1\n");
  }

  std::string content(const std::string& path) {
    std::string out;
    return fs_.read(path, out) ? "<unreadable>" : out;
  }

  fake_file_system fs_;
};

TEST_F(fake_file_system_test, bind_mounted_file_refuses_rename_over_but_takes_an_in_place_write) {
  fs_.set_bind_mounted("/etc/resolv.conf");
  EXPECT_TRUE(fs_.inspect("/etc/resolv.conf").bind_mounted);
  auto err = fs_.write_atomic("/etc/resolv.conf", "ours\n", 0644, 0, 0);
  EXPECT_EQ(err.code, EBUSY);
  EXPECT_EQ(err.message, "rename /etc/.resolv.conf.roamd-tmp-fake -> /etc/resolv.conf: Device or resource busy");
  EXPECT_EQ(fs_.symlink_atomic("/etc/resolv.conf", "/run/x").code, EBUSY);
  EXPECT_EQ(fs_.remove("/etc/resolv.conf").code, EBUSY);
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  EXPECT_FALSE(fs_.write_in_place("/etc/resolv.conf", "ours\n"));
  EXPECT_EQ(content("/etc/resolv.conf"), "ours\n");
}

TEST_F(fake_file_system_test, immutable_file_refuses_every_change) {
  fs_.set_immutable("/etc/resolv.conf");
  EXPECT_TRUE(fs_.inspect("/etc/resolv.conf").immutable);
  EXPECT_EQ(fs_.write_atomic("/etc/resolv.conf", "x", 0644, 0, 0).code, EPERM);
  EXPECT_EQ(fs_.write_in_place("/etc/resolv.conf", "x").code, EPERM);
  EXPECT_EQ(fs_.symlink_atomic("/etc/resolv.conf", "/run/x").code, EPERM);
  EXPECT_EQ(fs_.remove("/etc/resolv.conf").code, EPERM);
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  EXPECT_EQ(fs_.mutations(), 4u);
}

TEST_F(fake_file_system_test, read_only_prefix_refuses_every_mutation_under_it) {
  fs_.set_read_only_prefix("/etc");
  EXPECT_EQ(fs_.write_atomic("/etc/resolv.conf", "x", 0644, 0, 0).code, EROFS);
  EXPECT_EQ(fs_.write_in_place("/etc/resolv.conf", "x").code, EROFS);
  EXPECT_EQ(fs_.symlink_atomic("/etc/resolv.conf", "/run/x").code, EROFS);
  EXPECT_EQ(fs_.remove("/etc/resolv.conf").code, EROFS);
  EXPECT_EQ(fs_.remove("/etc/missing").code, EROFS);
  EXPECT_EQ(fs_.make_dirs("/etc/roamd", 0755).code, EROFS);
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  EXPECT_FALSE(fs_.make_dirs("/etcetera", 0755)) << "a prefix is a directory, not a string prefix";
  EXPECT_FALSE(fs_.write_atomic("/etcetera/f", "x", 0644, 0, 0));
}

TEST_F(fake_file_system_test, full_disk_fails_writes_and_a_torn_in_place_write_leaves_an_empty_file) {
  fs_.set_full_disk_prefix("/etc");
  auto err = fs_.write_atomic("/etc/resolv.conf", "x", 0644, 0, 0);
  EXPECT_EQ(err.code, ENOSPC);
  EXPECT_EQ(err.message, "write /etc/.resolv.conf.roamd-tmp-fake: No space left on device");
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  EXPECT_EQ(fs_.write_in_place("/etc/resolv.conf", "x").code, ENOSPC);
  EXPECT_EQ(content("/etc/resolv.conf"), "") << "ftruncate happened before the write failed";
}

TEST_F(fake_file_system_test, unreadable_file_is_unreadable_directly_and_through_a_link) {
  fs_.put_symlink("/etc/link", "resolv.conf");
  fs_.set_unreadable("/etc/resolv.conf");
  std::string out;
  EXPECT_EQ(fs_.read("/etc/resolv.conf", out).code, EACCES);
  EXPECT_EQ(fs_.read("/etc/link", out).code, EACCES);
  auto st = fs_.inspect("/etc/link");
  EXPECT_TRUE(st.exists && st.is_symlink && !st.readable && st.content.empty());
}

TEST_F(fake_file_system_test, crash_after_n_throws_before_the_next_change_once) {
  fs_.crash_after(1);
  EXPECT_FALSE(fs_.write_atomic("/etc/resolv.conf.bak", "backup", 0644, 0, 0));
  EXPECT_THROW(fs_.write_atomic("/etc/resolv.conf", "ours", 0644, 0, 0), fake_crash);
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  EXPECT_EQ(fs_.mutations(), 2u);
  EXPECT_FALSE(fs_.write_atomic("/etc/resolv.conf", "ours", 0644, 0, 0)) << "the crash fires once";
  EXPECT_EQ(content("/etc/resolv.conf"), "ours");

  fs_.crash_after(0);
  EXPECT_THROW(fs_.remove("/etc/resolv.conf.bak"), fake_crash);
  EXPECT_TRUE(fs_.at("/etc/resolv.conf.bak").has_value());
}

TEST_F(fake_file_system_test, crash_mid_write_tears_an_in_place_write_only) {
  fs_.crash_mid_write(0);
  EXPECT_THROW(fs_.write_atomic("/etc/resolv.conf", "ours", 0644, 0, 0), fake_crash);
  EXPECT_EQ(content("/etc/resolv.conf"), "nameserver 192.0.2.1\n");
  fs_.crash_mid_write(0);
  EXPECT_THROW(fs_.write_in_place("/etc/resolv.conf", "ours"), fake_crash);
  EXPECT_EQ(content("/etc/resolv.conf"), "");
}

TEST_F(fake_file_system_test, lists_nodes_and_counts_only_mutations) {
  fs_.put_symlink("/etc/link", "/run/target");
  fs_.set_boot_id("1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  EXPECT_EQ(fs_.boot_id(), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  auto nodes = fs_.nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_TRUE(nodes.at("/etc/link").is_symlink);
  EXPECT_EQ(nodes.at("/etc/link").target, "/run/target");
  EXPECT_EQ(nodes.at("/etc/resolv.conf").content, "nameserver 192.0.2.1\n");
  fs_.inspect("/etc/link");
  EXPECT_EQ(fs_.mutations(), 0u);
  EXPECT_EQ(fs_.inspections(), 1u);
}

} // namespace
} // namespace roamd::test
