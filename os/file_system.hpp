#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "os/os_error.hpp"

namespace roamd::os {

/// What is at a path, as the takeover and the settings watcher need to know it. `content` is read through symlinks.
struct file_state {
  bool exists = false;       // lstat succeeded (a dangling symlink exists)
  bool is_symlink = false;
  std::string link_target;   // readlink(), one level, as written
  bool readable = false;     // the content could be read
  std::string content;
  uint32_t mode = 0644;      // permission bits (of the target when a symlink)
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool bind_mounted = false; // a mount point of its own (containers): rename over it fails with EBUSY
  bool immutable = false;    // chattr +i: every write fails, for root too

  /// Same kind, target and bytes: what "someone changed it" compares.
  bool same_as(const file_state& o) const {
    return exists == o.exists && is_symlink == o.is_symlink && link_target == o.link_target &&
           readable == o.readable && content == o.content;
  }
};

/// The narrow file-system interface the takeover, the journal and the settings watcher use, so that every failure
/// (EROFS, ENOSPC, EBUSY, EPERM) and every crash point can be driven by a fake in unit tests. Paths are absolute.
class file_system {
public:
  virtual ~file_system() = default;

  /// lstat + readlink + read (through symlinks) + mount and immutable checks. Never fails: what cannot be learnt
  /// stays at its default.
  virtual file_state inspect(const std::string& path) = 0;

  /// Reads a whole file (through symlinks), at most `limit` bytes (more is an error: EFBIG).
  virtual os_error read(const std::string& path, std::string& out, size_t limit = 1 << 20) = 0;

  /// Writes a temporary file in the same directory, fsyncs it, renames it over `path` (replacing a symlink itself,
  /// never writing through it) and fsyncs the directory. On failure the temporary is removed and `path` is as before.
  virtual os_error write_atomic(const std::string& path, const std::string& content, uint32_t mode, uint32_t uid,
                                uint32_t gid) = 0;

  /// Truncates and rewrites `path` in place (for bind-mounted files), then fsyncs. Refuses symlinks (O_NOFOLLOW).
  virtual os_error write_in_place(const std::string& path, const std::string& content) = 0;

  /// Makes `path` a symlink to `target` atomically (a temporary symlink renamed over it), then fsyncs the directory.
  virtual os_error symlink_atomic(const std::string& path, const std::string& target) = 0;

  /// Removes `path` (not what a symlink points to) and fsyncs the directory. A missing file is success.
  virtual os_error remove(const std::string& path) = 0;

  /// Removes the temporaries a write_atomic or symlink_atomic killed half-way may have left next to `path`
  /// (`.<name>.roamd-tmp-*`); returns how many went. Best effort: failures are ignored.
  virtual size_t remove_stale_temporaries(const std::string& path) = 0;

  /// mkdir -p with `mode` for the directories it creates.
  virtual os_error make_dirs(const std::string& path, uint32_t mode) = 0;

  /// This boot's id (/proc/sys/kernel/random/boot_id), "" when unknown.
  virtual std::string boot_id() = 0;
};

/// The directory part of an absolute path ("/etc/resolv.conf" -> "/etc", "/x" -> "/").
inline std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? std::string{"/"} : path.substr(0, slash);
}

/// The real one (POSIX calls, /proc/self/mountinfo, FS_IOC_GETFLAGS).
std::unique_ptr<file_system> make_linux_file_system();

} // namespace roamd::os
