#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "os/file_system.hpp"

namespace roamd::os {

/// A change of the resolver-settings file seen from outside: the state before and after (content read through a
/// symlink, the link itself, existence).
struct settings_event {
  std::string path;
  file_state before;
  file_state after;
  std::string seen_by;  // "inotify" or "poll"
};

/// Sees someone else change DNS settings: inotify on the file's directory (rename-overs, symlink swaps), on the file's
/// own inode (in-place writes, bind mounts) and on a symlink target's directory (re-armed after every event), plus a
/// periodic content poll as a safety net. Reports each distinct new state once (`file_state::same_as`), including
/// roamd's own writes: telling those apart is the caller's job.
class settings_watcher {
public:
  using change_fn = std::function<void(settings_event)>;

  virtual ~settings_watcher() = default;

  /// Starts watching `path`; `on_change` runs on the watcher's own thread. Returns "" or what failed.
  virtual std::string start(const std::string& path, change_fn on_change) = 0;

  /// Stops and joins; no callback runs after it returns. Idempotent.
  virtual void stop() = 0;
};

/// inotify + poll (Boost.Asio on a thread of its own), reading through `fs`.
std::unique_ptr<settings_watcher> make_inotify_settings_watcher(std::shared_ptr<file_system> fs,
                                                                std::chrono::milliseconds poll_interval);

} // namespace roamd::os
