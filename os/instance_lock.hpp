#pragma once

#include <memory>
#include <string>

/// One roamd per state directory: an exclusive flock on `<state_dir>/roamd.lock`, taken before anything else is
/// opened or written and held until the process ends (the kernel drops it on any exit, kill -9 included).
namespace roamd::os {

class instance_lock {
public:
  /// Why the lock was not taken.
  enum class refusal {
    none,
    held,         // another process holds it: `holder_pid` (0 when it had not written its pid yet)
    unavailable,  // the lock file cannot be created or opened (read-only state directory, ...)
  };

  struct outcome {
    std::unique_ptr<instance_lock> lock;  // null when refused
    refusal why = refusal::none;
    long holder_pid = 0;
    std::string message;  // names the lock file, and the holder or the system error
  };

  /// Takes the lock without waiting (creating the state directory 0700 and the lock file 0644 when missing) and
  /// writes this process's pid into the file.
  static outcome acquire(const std::string& state_dir);

  ~instance_lock();
  instance_lock(const instance_lock&) = delete;
  instance_lock& operator=(const instance_lock&) = delete;

  const std::string& path() const {
    return path_;
  }

private:
  instance_lock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  }
  int fd_;
  std::string path_;
};

} // namespace roamd::os
