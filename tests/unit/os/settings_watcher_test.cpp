#include "os/settings_watcher.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/fakes/fake_file_system.hpp"
#include "tests/unit/os/temp_dir.hpp"

namespace roamd::os {
namespace {

using namespace std::chrono_literals;
using test::temp_dir;
using test::write_plain;

constexpr auto no_poll = std::chrono::milliseconds{std::chrono::hours{1}};  // inotify cases: a poll cannot help

/// Collects reported events; waits for them with a bound, never by sleeping.
class recorder {
public:
  settings_watcher::change_fn fn() {
    return [this](settings_event ev) {
      {
        std::lock_guard<std::mutex> l{mtx_};
        events_.push_back(std::move(ev));
      }
      cv_.notify_all();
    };
  }

  /// Waits up to 5 s for `pred` over everything reported so far.
  bool wait_for(const std::function<bool(const std::vector<settings_event>&)>& pred) {
    std::unique_lock<std::mutex> l{mtx_};
    return cv_.wait_for(l, 5s, [&] { return pred(events_); });
  }

  /// Waits until the last state reported has this content.
  bool wait_content(const std::string& content) {
    return wait_for([&](const auto& evs) { return !evs.empty() && evs.back().after.content == content; });
  }

  std::vector<settings_event> events() {
    std::lock_guard<std::mutex> l{mtx_};
    return events_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<settings_event> events_;
};

class settings_watcher_test : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path.empty());
    ASSERT_FALSE(real_->make_dirs(dir_ / "etc", 0755));
    ASSERT_FALSE(real_->make_dirs(dir_ / "run", 0755));
    ASSERT_FALSE(real_->make_dirs(dir_ / "other", 0755));
  }

  void TearDown() override {
    watcher_->stop();
  }

  /// Every reported event came from inotify (the poll is an hour away).
  void expect_all_by_inotify() {
    for (const auto& ev : rec_.events())
      EXPECT_EQ(ev.seen_by, "inotify");
  }

  void put(const std::string& path, const std::string& content) {
    ASSERT_FALSE(real_->write_atomic(path, content, 0644, ::getuid(), ::getgid()));
  }

  temp_dir dir_{"watch"};
  std::shared_ptr<file_system> real_ = make_linux_file_system();
  std::string path_ = dir_ / "etc/resolv.conf";
  recorder rec_;
  std::unique_ptr<settings_watcher> watcher_ = make_inotify_settings_watcher(real_, no_poll);
};

TEST_F(settings_watcher_test, in_place_write_is_reported) {
  put(path_, "nameserver 192.0.2.1\n");
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  write_plain(path_, "nameserver 198.51.100.1\n");
  ASSERT_TRUE(rec_.wait_content("nameserver 198.51.100.1\n"));
  auto evs = rec_.events();
  EXPECT_EQ(evs.front().before.content, "nameserver 192.0.2.1\n") << "the start state is the first 'before'";
  EXPECT_EQ(evs.front().path, path_);
  expect_all_by_inotify();
}

TEST_F(settings_watcher_test, rename_over_is_reported) {
  put(path_, "one\n");
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  put(path_, "two\n");
  ASSERT_TRUE(rec_.wait_content("two\n"));
  EXPECT_EQ(rec_.events().size(), 1u) << "a rename-over is one new state";
  expect_all_by_inotify();
}

TEST_F(settings_watcher_test, symlink_swap_is_reported_with_its_new_target) {
  put(dir_ / "run/one", "one\n");
  put(dir_ / "run/two", "two\n");
  ASSERT_FALSE(real_->symlink_atomic(path_, "../run/one"));
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  ASSERT_FALSE(real_->symlink_atomic(path_, "../run/two"));
  ASSERT_TRUE(rec_.wait_content("two\n"));
  auto last = rec_.events().back();
  EXPECT_EQ(last.before.link_target, "../run/one");
  EXPECT_EQ(last.after.link_target, "../run/two");
  EXPECT_TRUE(last.after.is_symlink);
  expect_all_by_inotify();
}

// The target rewritten (rename-over, in place), then the link moved to a target in another directory: the watches
// must move with it.
TEST_F(settings_watcher_test, changes_of_the_symlink_target_are_reported_and_the_watch_follows_the_target) {
  put(dir_ / "run/real", "v0\n");
  ASSERT_FALSE(real_->symlink_atomic(path_, dir_ / "run/real"));
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  put(dir_ / "run/real", "v1\n");
  ASSERT_TRUE(rec_.wait_content("v1\n"));
  write_plain(dir_ / "run/real", "v2\n");
  ASSERT_TRUE(rec_.wait_content("v2\n"));
  ASSERT_FALSE(real_->make_dirs(dir_ / "run2", 0755));
  put(dir_ / "run2/real", "w0\n");
  ASSERT_FALSE(real_->symlink_atomic(path_, dir_ / "run2/real"));
  ASSERT_TRUE(rec_.wait_content("w0\n"));
  put(dir_ / "run2/real", "w1\n");
  ASSERT_TRUE(rec_.wait_content("w1\n"));
  write_plain(dir_ / "run2/real", "w2\n");
  ASSERT_TRUE(rec_.wait_content("w2\n"));
  expect_all_by_inotify();
}

// resolv.conf -> run/current -> run/a, and run/current swapped to run/b: neither the file's directory nor the inode
// it was reading changes; only a watch on the intermediate link's directory sees it.
TEST_F(settings_watcher_test, a_swap_of_an_intermediate_link_is_reported) {
  put(dir_ / "run/a", "A\n");
  put(dir_ / "run/b", "B\n");
  ASSERT_FALSE(real_->symlink_atomic(dir_ / "run/current", "a"));
  ASSERT_FALSE(real_->symlink_atomic(path_, "../run/current"));
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  ASSERT_FALSE(real_->symlink_atomic(dir_ / "run/current", "b"));
  ASSERT_TRUE(rec_.wait_content("B\n"));
  ASSERT_FALSE(real_->symlink_atomic(dir_ / "run/current", "a"));
  ASSERT_TRUE(rec_.wait_content("A\n"));
  EXPECT_EQ(rec_.events().back().after.link_target, "../run/current");
  expect_all_by_inotify();
}

TEST_F(settings_watcher_test, a_dangling_symlink_whose_target_appears_is_reported) {
  ASSERT_FALSE(real_->symlink_atomic(path_, "../run/later"));
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  put(dir_ / "run/later", "here now\n");
  ASSERT_TRUE(rec_.wait_content("here now\n"));
  EXPECT_FALSE(rec_.events().back().before.readable);
  expect_all_by_inotify();
}

TEST_F(settings_watcher_test, delete_and_recreate_are_reported) {
  put(path_, "first\n");
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  ASSERT_FALSE(real_->remove(path_));
  ASSERT_TRUE(rec_.wait_for([](const auto& evs) { return !evs.empty() && !evs.back().after.exists; }));
  write_plain(path_, "again\n");
  ASSERT_TRUE(rec_.wait_content("again\n"));
  expect_all_by_inotify();
}

// A write through a second name of the same inode (like a bind mount) shows only on the file's own watch; after the
// file is replaced by a new inode, the watch must move to it.
TEST_F(settings_watcher_test, the_inode_watch_sees_writes_through_another_name_and_follows_a_new_inode) {
  put(path_, "a\n");
  ASSERT_EQ(::link(path_.c_str(), (dir_ / "other/alias1").c_str()), 0);
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  write_plain(dir_ / "other/alias1", "b\n");
  ASSERT_TRUE(rec_.wait_content("b\n"));
  put(path_, "c\n");
  ASSERT_TRUE(rec_.wait_content("c\n"));
  ASSERT_EQ(::link(path_.c_str(), (dir_ / "other/alias2").c_str()), 0);
  write_plain(dir_ / "other/alias2", "d\n");
  ASSERT_TRUE(rec_.wait_content("d\n"));
  expect_all_by_inotify();
}

TEST_F(settings_watcher_test, a_storm_ends_on_the_final_state_and_never_reports_a_state_twice_in_a_row) {
  put(path_, "v-start\n");
  ASSERT_EQ(watcher_->start(path_, rec_.fn()), "");
  for (int i = 0; i < 20; ++i) {
    auto content = "v" + std::to_string(100 + i) + "\n";
    if (i % 2 == 0)
      put(path_, content);
    else
      write_plain(path_, content);  // in place: an empty file may be seen in between
  }
  ASSERT_TRUE(rec_.wait_content("v119\n"));
  auto evs = rec_.events();
  EXPECT_LE(evs.size(), 40u);
  int last_version = 0;
  for (size_t k = 0; k < evs.size(); ++k) {
    EXPECT_FALSE(evs[k].before.same_as(evs[k].after)) << k;
    if (k > 0) {
      EXPECT_TRUE(evs[k].before.same_as(evs[k - 1].after)) << "each 'before' is the previous 'after': " << k;
    }
    if (evs[k].after.content.empty())
      continue;
    int version = std::stoi(evs[k].after.content.substr(1));
    EXPECT_GT(version, last_version) << "states only move forward: " << k;
    last_version = version;
  }
}

TEST_F(settings_watcher_test, the_poll_catches_what_inotify_cannot_see) {
  auto fake = std::make_shared<test::fake_file_system>();
  fake->put_file(path_, "before\n");  // the real directory exists; the file lives only in the fake
  auto watcher = make_inotify_settings_watcher(fake, 10ms);
  ASSERT_EQ(watcher->start(path_, rec_.fn()), "");
  fake->put_file(path_, "after\n");
  ASSERT_TRUE(rec_.wait_content("after\n"));
  auto evs = rec_.events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].seen_by, "poll");
  EXPECT_EQ(evs[0].before.content, "before\n");
  watcher->stop();
}

/// Counts inspect() calls of a fake and wakes a waiter on each.
class counting_fs : public test::fake_file_system {
public:
  file_state inspect(const std::string& path) override {
    auto st = fake_file_system::inspect(path);
    { std::lock_guard<std::mutex> l{mtx_}; }  // a waiter is either before its check or asleep: no lost wake-up
    cv_.notify_all();
    return st;
  }
  bool wait_inspections(size_t n) {
    std::unique_lock<std::mutex> l{mtx_};
    return cv_.wait_for(l, 5s, [&] { return inspections() >= n; });
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
};

TEST_F(settings_watcher_test, the_start_state_is_not_reported) {
  auto fs = std::make_shared<counting_fs>();
  fs->put_file(path_, "ours\n");
  auto watcher = make_inotify_settings_watcher(fs, 2ms);
  ASSERT_EQ(watcher->start(path_, rec_.fn()), "");
  ASSERT_TRUE(fs->wait_inspections(10));  // the start plus several polls
  EXPECT_TRUE(rec_.events().empty());
  watcher->stop();
}

TEST_F(settings_watcher_test, stop_is_idempotent_and_start_reports_what_failed) {
  watcher_->stop();  // before start
  auto missing = dir_ / "no-such-dir/resolv.conf";
  auto why = watcher_->start(missing, rec_.fn());
  EXPECT_NE(why.find(dir_ / "no-such-dir"), std::string::npos) << why;
  EXPECT_NE(why.find("No such file or directory"), std::string::npos) << why;
  EXPECT_NE(make_inotify_settings_watcher(real_, no_poll)->start("relative/path", rec_.fn()), "");

  auto watcher = make_inotify_settings_watcher(real_, 5ms);
  put(path_, "x\n");
  ASSERT_EQ(watcher->start(path_, rec_.fn()), "");
  EXPECT_NE(watcher->start(path_, rec_.fn()), "") << "one path per watcher";
  watcher->stop();
  watcher->stop();
  auto seen = rec_.events().size();
  put(path_, "after stop\n");
  watcher.reset();
  EXPECT_EQ(rec_.events().size(), seen);
}

} // namespace
} // namespace roamd::os
