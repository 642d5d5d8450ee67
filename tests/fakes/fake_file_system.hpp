#pragma once

// An in-memory os::file_system for unit tests of the takeover, the journal and the settings watcher's poll: the same
// contract as the Linux one (write_atomic replaces a symlink itself, write_in_place refuses one, remove of a missing
// file succeeds, errors name the step and the path), plus knobs that inject the failures real systems produce
// (EBUSY on a bind mount, EPERM on chattr +i, EROFS, ENOSPC, EACCES) and crash points (kill -9 between two steps).

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "os/file_system.hpp"

namespace roamd::test {

/// Thrown by fake_file_system at an armed crash point: the "process" died there; nothing after it ran.
struct fake_crash : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// In-memory files and symlinks; directories are implicit (the ancestors of every node put or written, plus those
/// made with make_dirs) and only the last path component may be a symlink. Thread-safe.
class fake_file_system : public os::file_system {
public:
  /// A regular file or a symlink.
  struct node {
    bool is_symlink = false;
    std::string content;  // regular file bytes
    std::string target;   // symlink target as written
    uint32_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
  };

  /// The temporary names write_atomic and symlink_atomic report in their errors: `.<name>.roamd-tmp-fake`.
  static std::string temp_name_for(const std::string& path);

  // -- setup: not counted as mutations, never fail, never crash --------------------------------------------------

  /// Puts a regular file (its directories appear implicitly).
  void put_file(const std::string& path, const std::string& content, uint32_t mode = 0644, uint32_t uid = 0,
                uint32_t gid = 0);
  /// Puts a symlink to `target` (absolute, or relative to the link's directory).
  void put_symlink(const std::string& path, const std::string& target);
  /// Drops whatever is at `path`.
  void erase(const std::string& path);

  // -- failure knobs ---------------------------------------------------------------------------------------------

  /// A mount point of its own: renaming over it or unlinking it fails with EBUSY; write_in_place works.
  void set_bind_mounted(const std::string& path, bool on = true);
  /// chattr +i on a regular file: every write, rename over and remove fails with EPERM.
  void set_immutable(const std::string& path, bool on = true);
  /// Every mutation at or under `prefix` fails with EROFS ("" turns it off).
  void set_read_only_prefix(const std::string& prefix);
  /// Writing file content at or under `prefix` fails with ENOSPC ("" turns it off). write_in_place truncates first,
  /// as the real one does, and so leaves an empty file.
  void set_full_disk_prefix(const std::string& prefix);
  /// Reading `path` (or through a symlink resolving to it) fails with EACCES.
  void set_unreadable(const std::string& path, bool on = true);
  void set_boot_id(const std::string& id);

  /// After `n` more mutating operations (write_atomic, write_in_place, symlink_atomic, remove, make_dirs: every
  /// attempt counts, failed or not), the next one throws fake_crash before changing anything. Fires once.
  void crash_after(size_t n);
  /// Like crash_after, but when the crashing operation is a write_in_place it truncates the file first: a torn
  /// in-place write (the file is left empty).
  void crash_mid_write(size_t n);

  // -- for assertions --------------------------------------------------------------------------------------------

  /// Every file and symlink, by path.
  std::map<std::string, node> nodes() const;
  /// What is at `path` (not following a symlink).
  std::optional<node> at(const std::string& path) const;
  /// Mutating operations attempted so far.
  size_t mutations() const;
  /// inspect() calls so far (the settings watcher's poll reads through it).
  size_t inspections() const;

  // -- os::file_system -------------------------------------------------------------------------------------------

  os::file_state inspect(const std::string& path) override;
  os::os_error read(const std::string& path, std::string& out, size_t limit = 1 << 20) override;
  os::os_error write_atomic(const std::string& path, const std::string& content, uint32_t mode, uint32_t uid,
                            uint32_t gid) override;
  os::os_error write_in_place(const std::string& path, const std::string& content) override;
  os::os_error symlink_atomic(const std::string& path, const std::string& target) override;
  os::os_error remove(const std::string& path) override;
  size_t remove_stale_temporaries(const std::string& path) override;
  os::os_error make_dirs(const std::string& path, uint32_t mode) override;
  std::string boot_id() override;

private:
  enum class crash_kind { none, before, mid_write };

  /// Counts a mutation and throws if this one is the armed crash point (`in_place` for the torn-write variant).
  void mutation_point(const std::string& in_place_path = {});
  /// Follows symlinks from `path` to a regular file's path, or returns an errno (ENOENT, ELOOP, EISDIR).
  int resolve(const std::string& path, std::string& out) const;
  bool is_dir(const std::string& path) const;
  void add_parents(const std::string& path);
  os::os_error read_locked(const std::string& path, std::string& out, size_t limit) const;
  /// The EROFS / ENOENT / EISDIR / EPERM / EBUSY checks for replacing `path` by a rename from a temporary.
  os::os_error check_rename_over(const std::string& path, const std::string& tmp) const;

  mutable std::mutex mtx_;
  std::map<std::string, node> nodes_;
  std::set<std::string> dirs_{"/"};
  std::set<std::string> bind_mounted_;
  std::set<std::string> immutable_;
  std::set<std::string> unreadable_;
  std::string read_only_prefix_;
  std::string full_disk_prefix_;
  std::string boot_id_ = "00000000-0000-4000-8000-000000000000";
  size_t mutations_ = 0;
  size_t inspections_ = 0;
  size_t crash_at_ = 0;  // the mutation number that crashes (1-based), when armed
  crash_kind crash_ = crash_kind::none;
};

} // namespace roamd::test
