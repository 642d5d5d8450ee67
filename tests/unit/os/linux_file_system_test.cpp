#include "os/file_system.hpp"

#include <cerrno>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/unit/os/temp_dir.hpp"

namespace roamd::os {
namespace {

using test::slurp;
using test::temp_dir;

class linux_file_system_test : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path.empty()) << "mkdtemp failed";
  }

  ino_t inode(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  /// Everything in the directory, to prove that no temporary is left behind.
  std::vector<std::string> listing() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  temp_dir dir_{"fs"};
  std::unique_ptr<file_system> fs_ = make_linux_file_system();
  uint32_t uid_ = ::getuid();
  uint32_t gid_ = ::getgid();
};

TEST(os_error, from_errno_names_the_step_and_the_reason) {
  auto err = from_errno(EBUSY, "rename /etc/.x -> /etc/resolv.conf");
  EXPECT_EQ(err.code, EBUSY);
  EXPECT_EQ(err.message, "rename /etc/.x -> /etc/resolv.conf: Device or resource busy");
  EXPECT_TRUE(err);
  EXPECT_FALSE(os_error{});
}

TEST_F(linux_file_system_test, write_atomic_creates_and_replaces_with_the_mode_asked_for) {
  auto path = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->write_atomic(path, "nameserver 192.0.2.1\n", 0600, uid_, gid_));
  auto first = inode(path);
  auto st = fs_->inspect(path);
  EXPECT_EQ(st.content, "nameserver 192.0.2.1\n");
  EXPECT_EQ(st.mode, 0600u);

  ASSERT_FALSE(fs_->write_atomic(path, "nameserver 127.0.2.53\n", 0644, uid_, gid_));
  st = fs_->inspect(path);
  EXPECT_EQ(st.content, "nameserver 127.0.2.53\n");
  EXPECT_EQ(st.mode, 0644u);
  EXPECT_EQ(st.uid, uid_);
  EXPECT_NE(inode(path), first) << "a rename, not an in-place write";
  EXPECT_EQ(listing(), std::vector<std::string>{"resolv.conf"});
}

TEST_F(linux_file_system_test, write_atomic_replaces_a_symlink_and_leaves_its_target_alone) {
  auto target = dir_ / "stub-resolv.conf";
  auto link = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->write_atomic(target, "nameserver 127.0.0.53\n", 0644, uid_, gid_));
  ASSERT_EQ(::symlink("stub-resolv.conf", link.c_str()), 0);
  ASSERT_FALSE(fs_->write_atomic(link, "ours\n", 0644, uid_, gid_));
  auto st = fs_->inspect(link);
  EXPECT_FALSE(st.is_symlink);
  EXPECT_EQ(st.content, "ours\n");
  EXPECT_EQ(slurp(target), "nameserver 127.0.0.53\n");
}

TEST_F(linux_file_system_test, failed_write_atomic_names_the_step_and_leaves_no_temporary) {
  auto path = dir_ / "resolv.conf";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);  // renaming a file over a directory fails
  auto err = fs_->write_atomic(path, "x", 0644, uid_, gid_);
  EXPECT_EQ(err.code, EISDIR);
  EXPECT_EQ(err.message.rfind("rename " + dir_.path + "/.resolv.conf.roamd-tmp-", 0), 0u) << err.message;
  EXPECT_NE(err.message.find(" -> " + path + ": "), std::string::npos) << err.message;
  EXPECT_EQ(listing(), std::vector<std::string>{"resolv.conf"});

  err = fs_->write_atomic(dir_ / "missing/resolv.conf", "x", 0644, uid_, gid_);
  EXPECT_EQ(err.code, ENOENT);
  EXPECT_EQ(err.message.rfind("open " + dir_.path + "/missing/.resolv.conf.roamd-tmp-", 0), 0u) << err.message;
}

TEST_F(linux_file_system_test, write_in_place_keeps_the_inode_and_truncates) {
  auto path = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->write_atomic(path, "a much longer first version\n", 0644, uid_, gid_));
  auto before = inode(path);
  ASSERT_FALSE(fs_->write_in_place(path, "short\n"));
  EXPECT_EQ(slurp(path), "short\n");
  EXPECT_EQ(inode(path), before);
}

TEST_F(linux_file_system_test, write_in_place_refuses_a_symlink) {
  auto target = dir_ / "target";
  auto link = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->write_atomic(target, "theirs\n", 0644, uid_, gid_));
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto err = fs_->write_in_place(link, "ours\n");
  EXPECT_EQ(err.code, ELOOP);
  EXPECT_NE(err.message.find(link), std::string::npos) << err.message;
  EXPECT_EQ(slurp(target), "theirs\n");

  err = fs_->write_in_place(dir_ / "missing", "x");
  EXPECT_EQ(err.code, ENOENT);
  EXPECT_EQ(err.message, "open " + dir_ / "missing" + ": No such file or directory");
}

TEST_F(linux_file_system_test, symlink_atomic_creates_and_swaps_links_and_files) {
  auto path = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->symlink_atomic(path, "/run/systemd/resolve/stub-resolv.conf"));
  EXPECT_EQ(fs_->inspect(path).link_target, "/run/systemd/resolve/stub-resolv.conf");
  ASSERT_FALSE(fs_->symlink_atomic(path, "other"));
  EXPECT_EQ(fs_->inspect(path).link_target, "other");
  ASSERT_FALSE(fs_->remove(path));
  ASSERT_FALSE(fs_->write_atomic(path, "file\n", 0644, uid_, gid_));
  ASSERT_FALSE(fs_->symlink_atomic(path, "other"));
  EXPECT_TRUE(fs_->inspect(path).is_symlink);
  EXPECT_EQ(listing(), std::vector<std::string>{"resolv.conf"});
}

TEST_F(linux_file_system_test, remove_takes_the_link_not_the_target_and_a_missing_file_is_fine) {
  auto target = dir_ / "target";
  auto link = dir_ / "link";
  ASSERT_FALSE(fs_->write_atomic(target, "t", 0644, uid_, gid_));
  ASSERT_EQ(::symlink("target", link.c_str()), 0);
  EXPECT_FALSE(fs_->remove(link));
  EXPECT_FALSE(fs_->inspect(link).exists);
  EXPECT_EQ(slurp(target), "t");
  EXPECT_FALSE(fs_->remove(link));
  EXPECT_FALSE(fs_->remove(dir_ / "never-was"));
}

TEST_F(linux_file_system_test, read_refuses_more_than_the_limit) {
  auto path = dir_ / "big";
  ASSERT_FALSE(fs_->write_atomic(path, std::string(100, 'x'), 0644, uid_, gid_));
  std::string out = "stale";
  auto err = fs_->read(path, out, 99);
  EXPECT_EQ(err.code, EFBIG);
  EXPECT_NE(err.message.find(path), std::string::npos);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(fs_->read(path, out, 100));
  EXPECT_EQ(out.size(), 100u);

  err = fs_->read(dir_ / "missing", out);
  EXPECT_EQ(err.message, "open " + dir_ / "missing" + ": No such file or directory");
}

TEST_F(linux_file_system_test, inspect_describes_files_links_and_dangling_links) {
  auto target = dir_ / "target";
  ASSERT_FALSE(fs_->write_atomic(target, "nameserver 192.0.2.9\n", 0640, uid_, gid_));
  auto st = fs_->inspect(target);
  EXPECT_TRUE(st.exists && st.readable && !st.is_symlink && !st.bind_mounted && !st.immutable);
  EXPECT_EQ(st.mode, 0640u);

  ASSERT_EQ(::symlink("target", (dir_ / "link").c_str()), 0);
  st = fs_->inspect(dir_ / "link");
  EXPECT_TRUE(st.exists && st.is_symlink && st.readable);
  EXPECT_EQ(st.link_target, "target");
  EXPECT_EQ(st.content, "nameserver 192.0.2.9\n");
  EXPECT_EQ(st.mode, 0640u) << "the target's mode";

  ASSERT_EQ(::symlink("/nonexistent/resolv.conf", (dir_ / "dangling").c_str()), 0);
  st = fs_->inspect(dir_ / "dangling");
  EXPECT_TRUE(st.exists && st.is_symlink);
  EXPECT_FALSE(st.readable);
  EXPECT_EQ(st.link_target, "/nonexistent/resolv.conf");

  st = fs_->inspect(dir_ / "missing");
  EXPECT_FALSE(st.exists || st.readable);
}

TEST_F(linux_file_system_test, inspect_finds_mount_points_in_mountinfo) {
  EXPECT_TRUE(fs_->inspect("/proc").bind_mounted);
  EXPECT_TRUE(fs_->inspect("/").bind_mounted);
  EXPECT_FALSE(fs_->inspect("/proc/self/mountinfo").bind_mounted);
}

TEST_F(linux_file_system_test, inspect_sees_the_immutable_flag) {
  auto path = dir_ / "locked";
  ASSERT_FALSE(fs_->write_atomic(path, "x", 0644, uid_, gid_));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  int flags = 0;
  bool got = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags |= FS_IMMUTABLE_FL;
  if (!got || ::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) {
    ::close(fd);
    GTEST_SKIP() << "cannot set the immutable flag here (not root, or the file system has no flags)";
  }
  auto st = fs_->inspect(path);
  auto err = fs_->write_atomic(path, "y", 0644, uid_, gid_);
  flags &= ~FS_IMMUTABLE_FL;
  EXPECT_EQ(::ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);  // undo before any assertion can return
  ::close(fd);
  EXPECT_TRUE(st.immutable);
  EXPECT_EQ(err.code, EPERM) << err.message;
  EXPECT_EQ(listing(), std::vector<std::string>{"locked"});
}

TEST_F(linux_file_system_test, make_dirs_creates_parents_and_reports_a_file_in_the_way) {
  ASSERT_FALSE(fs_->make_dirs(dir_ / "a/b/c", 0750));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_FALSE(fs_->make_dirs(dir_ / "a/b/c", 0750));
  ASSERT_FALSE(fs_->write_atomic(dir_ / "f", "", 0644, uid_, gid_));
  auto err = fs_->make_dirs(dir_ / "f/g", 0750);
  EXPECT_EQ(err.code, ENOTDIR);
  EXPECT_EQ(err.message.rfind("mkdir " + dir_ / "f", 0), 0u) << err.message;
}

TEST_F(linux_file_system_test, boot_id_is_this_boots_uuid) {
  auto id = fs_->boot_id();
  EXPECT_EQ(id.size(), 36u) << id;
  EXPECT_EQ(id, fs_->boot_id());
}

} // namespace
} // namespace roamd::os

namespace roamd::os {
namespace {

TEST_F(linux_file_system_test, stale_temporaries_of_one_file_are_removed_and_nothing_else) {
  auto path = dir_ / "resolv.conf";
  ASSERT_FALSE(fs_->write_atomic(path, "nameserver 192.0.2.1\n", 0644, uid_, gid_));
  for (auto name : {".resolv.conf.roamd-tmp-99-0000abcd", ".resolv.conf.roamd-tmp-7-1", ".resolv.conf.bak",
                    ".other.roamd-tmp-1-1"})
    std::ofstream(dir_ / name) << "x";
  EXPECT_EQ(fs_->remove_stale_temporaries(path), 2u);
  EXPECT_EQ(listing(), (std::vector<std::string>{".other.roamd-tmp-1-1", ".resolv.conf.bak", "resolv.conf"}));
  EXPECT_EQ(fs_->remove_stale_temporaries(dir_ / "missing-dir/x"), 0u);
}

} // namespace
} // namespace roamd::os
