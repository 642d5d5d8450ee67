#include "os/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace roamd::os {

namespace {

/// mkdir -p with mode 0700 for what it creates.
int make_dirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/')
      continue;
    auto part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return errno;
  }
  return 0;
}

long read_pid(int fd) {
  char buf[32] = {};
  auto n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::strtol(buf, nullptr, 10) : 0;
}

} // namespace

instance_lock::outcome instance_lock::acquire(const std::string& state_dir) {
  outcome out;
  auto path = state_dir + "/roamd.lock";
  if (int err = make_dirs(state_dir)) {
    out.why = refusal::unavailable;
    out.message = "cannot create " + state_dir + " for the lock file " + path + ": " + std::strerror(err);
    return out;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    out.why = refusal::unavailable;
    out.message = "cannot open the lock file " + path + ": " + std::strerror(errno);
    return out;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    out.holder_pid = read_pid(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      out.why = refusal::held;
      out.message = "another roamd (" + (out.holder_pid > 0 ? "pid " + std::to_string(out.holder_pid)
                                                             : std::string{"its pid not written yet"}) +
                    ") holds " + path;
    } else {
      out.why = refusal::unavailable;
      out.message = "cannot lock " + path + ": " + std::strerror(err);
    }
    return out;
  }
  // The pid, written over the last holder's in a fixed width (no truncate: every record is as long).
  char pid[16];
  int n = std::snprintf(pid, sizeof pid, "%-10ld\n", static_cast<long>(::getpid()));
  if (::pwrite(fd, pid, static_cast<size_t>(n), 0) != n) {
    // The lock holds all the same; only the pid shown to a second instance is missing.
  }
  out.lock.reset(new instance_lock{fd, path});
  return out;
}

instance_lock::~instance_lock() {
  // The pid is left in the file: a later reader takes the lock, not the pid, as the truth.
  ::close(fd_);
}

} // namespace roamd::os
