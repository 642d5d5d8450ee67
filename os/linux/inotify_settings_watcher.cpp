// The settings watcher: inotify (directory, the file's own inode, the directories of a symlink's targets) plus a poll,
// both on one Boost.Asio thread; every wake-up re-reads the file through `fs` and reports a state that differs from
// the last one reported. See ../../shared/notes/linux-dns.md, "Seeing someone else change DNS".

#include "os/settings_watcher.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace roamd::os {

namespace {

constexpr uint32_t dir_mask =
  IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB;
constexpr uint32_t file_mask = IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

/// strerror's text, without its shared buffer (this runs on the watcher's thread).
std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string name_of(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

/// Every hop of the symlink chain starting at `path`: the path each link points to (absolute), in order, up to and
/// including a target that does not exist yet. Empty when `path` is not a symlink.
std::vector<std::string> symlink_chain(const std::string& path) {
  std::vector<std::string> hops;
  std::string cur = path;
  struct stat st {};
  while (hops.size() < 16 && ::lstat(cur.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink(cur.c_str(), buf.data(), buf.size());
    if (n <= 0)
      break;
    buf.resize(static_cast<size_t>(n));
    cur = buf[0] == '/' ? buf : dir_of(cur) + "/" + buf;
    hops.push_back(cur);
  }
  return hops;
}

class inotify_settings_watcher final : public settings_watcher {
public:
  inotify_settings_watcher(std::shared_ptr<file_system> fs, std::chrono::milliseconds poll_interval)
    : fs_(std::move(fs)), poll_interval_(poll_interval) {
  }

  ~inotify_settings_watcher() override {
    stop();
  }

  std::string start(const std::string& path, change_fn on_change) override {
    if (started_)
      return "settings_watcher: already started";
    if (path.empty() || path[0] != '/')
      return "settings_watcher: not an absolute path: '" + path + "'";
    path_ = path;
    dir_ = dir_of(path);
    name_ = name_of(path);
    on_change_ = std::move(on_change);
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      return from_errno(err, "settings_watcher: inotify_init1").message;
    }
    inotify_.assign(fd);
    dir_wd_ = ::inotify_add_watch(fd, dir_.c_str(), dir_mask);
    if (dir_wd_ < 0) {
      int err = errno;
      inotify_.close();
      return from_errno(err, "settings_watcher: cannot watch directory " + dir_).message;
    }
    arm();
    last_ = fs_->inspect(path_);  // the starting point, not reported
    started_ = true;
    wait_for_events();
    schedule_poll();
    try {
      thread_ = std::thread([this] { io_.run(); });
    } catch (const std::system_error& e) {
      return std::string{"settings_watcher: cannot start its thread: "} + e.what();
    }
    return {};
  }

  void stop() override {
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
    boost::system::error_code ignored;
    timer_.cancel();
    inotify_.close(ignored);  // drops every watch
  }

private:
  /// (Re-)adds the watches: the directory if it was lost, the file's current inode (dropping the old one), and the
  /// directory of every symlink target on the way to the file (none when the path is no longer a symlink).
  void arm() {
    int fd = inotify_.native_handle();
    if (dir_wd_ < 0)
      dir_wd_ = add_watch(dir_, dir_mask, dir_warned_);
    int old = file_wd_;
    file_wd_ = ::inotify_add_watch(fd, path_.c_str(), file_mask);  // follows a symlink: watches the target inode
    int err = file_wd_ < 0 ? errno : 0;
    bool lost = err != 0 && err != ENOENT;  // a missing file is normal, a full watch table is not
    if (lost && !file_warned_)
      spdlog::warn("settings_watcher: cannot watch {}: {} (the poll still runs)", path_, errno_text(err));
    file_warned_ = lost;
    release(old);
    std::vector<std::pair<int, std::string>> chain;
    for (const auto& hop : symlink_chain(path_)) {
      int wd = add_watch(dir_of(hop), dir_mask, target_warned_);
      if (wd >= 0)
        chain.emplace_back(wd, name_of(hop));
    }
    chain.swap(targets_);
    for (const auto& [wd, name] : chain)
      release(wd);
  }

  int add_watch(const std::string& dir, uint32_t mask, bool& warned) {
    int wd = ::inotify_add_watch(inotify_.native_handle(), dir.c_str(), mask);
    int err = wd < 0 ? errno : 0;
    if (wd < 0 && !warned)
      spdlog::warn("settings_watcher: cannot watch {}: {} (the poll still runs)", dir, errno_text(err));
    warned = wd < 0;
    return wd;
  }

  /// Removes a watch no role uses any more (the same inode can serve two roles: one wd).
  void release(int wd) {
    if (wd >= 0 && wd != dir_wd_ && wd != file_wd_ && !is_target_dir(wd))
      ::inotify_rm_watch(inotify_.native_handle(), wd);
  }

  bool is_target_dir(int wd, const std::string* name = nullptr) const {
    for (const auto& t : targets_)
      if (t.first == wd && (name == nullptr || t.second == *name))
        return true;
    return false;
  }

  void wait_for_events() {
    inotify_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec)
        return;
      bool relevant = false;
      if (drain(relevant))
        wait_for_events();
      if (!relevant)
        return;
      arm();
      check("inotify");
    });
  }

  /// Reads every pending event and tells whether one concerns the file: any event on its inode, a directory event
  /// naming it or a symlink target on the way, a lost watch or a queue overflow. False once the descriptor is unusable.
  bool drain(bool& relevant) {
    alignas(inotify_event) std::array<char, 16384> buf;
    for (;;) {
      ssize_t n = ::read(inotify_.native_handle(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true;
      if (n <= 0) {
        spdlog::warn("settings_watcher: reading inotify failed: {}; only the poll remains",
                     n < 0 ? errno_text(errno) : std::string{"end of file"});
        relevant = true;
        return false;
      }
      for (size_t pos = 0; pos + sizeof(inotify_event) <= static_cast<size_t>(n);) {
        inotify_event ev;
        std::memcpy(&ev, buf.data() + pos, sizeof(ev));
        const char* name_start = buf.data() + pos + sizeof(inotify_event);
        pos += sizeof(inotify_event) + ev.len;
        std::string name{name_start, ev.len > 0 ? ::strnlen(name_start, ev.len) : 0};
        if (ev.mask & IN_Q_OVERFLOW)
          relevant = true;
        else if (ev.mask & IN_IGNORED)
          relevant = forget(ev.wd) || relevant;
        else if (ev.wd == file_wd_ || (ev.wd == dir_wd_ && name == name_) || is_target_dir(ev.wd, &name))
          relevant = true;
      }
    }
  }

  /// Drops a watch the kernel removed (its inode is gone); true when one of ours was.
  bool forget(int wd) {
    bool ours = wd == dir_wd_ || wd == file_wd_ || is_target_dir(wd);
    dir_wd_ = wd == dir_wd_ ? -1 : dir_wd_;
    file_wd_ = wd == file_wd_ ? -1 : file_wd_;
    targets_.erase(std::remove_if(targets_.begin(), targets_.end(), [wd](const auto& t) { return t.first == wd; }),
                   targets_.end());
    return ours;
  }

  void schedule_poll() {
    if (poll_interval_.count() <= 0)
      return;
    timer_.expires_after(poll_interval_);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec)
        return;
      arm();
      check("poll");
      schedule_poll();
    });
  }

  /// Re-reads the file and reports it when it differs from the last state reported.
  void check(const char* seen_by) {
    auto now = fs_->inspect(path_);
    if (now.same_as(last_))
      return;
    settings_event ev{path_, last_, now, seen_by};
    last_ = std::move(now);
    try {
      on_change_(std::move(ev));
    } catch (const std::exception& e) {
      spdlog::error("settings_watcher: change handler for {} threw: {}", path_, e.what());
    }
  }

  std::shared_ptr<file_system> fs_;
  std::chrono::milliseconds poll_interval_;
  boost::asio::io_context io_;
  boost::asio::posix::stream_descriptor inotify_{io_};
  boost::asio::steady_timer timer_{io_};
  std::thread thread_;
  bool started_ = false;
  std::string path_;
  std::string dir_;
  std::string name_;
  change_fn on_change_;
  file_state last_;
  int dir_wd_ = -1;
  int file_wd_ = -1;
  std::vector<std::pair<int, std::string>> targets_;  // (directory watch, entry name) of each symlink hop
  bool dir_warned_ = false;
  bool file_warned_ = false;
  bool target_warned_ = false;
};

} // namespace

std::unique_ptr<settings_watcher> make_inotify_settings_watcher(std::shared_ptr<file_system> fs,
                                                                std::chrono::milliseconds poll_interval) {
  return std::make_unique<inotify_settings_watcher>(std::move(fs), poll_interval);
}

} // namespace roamd::os
