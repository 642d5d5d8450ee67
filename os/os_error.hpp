#pragma once

#include <string>

namespace roamd::os {

/// The outcome of an operation on the system: empty on success, else the errno (0 when not from a system call) and
/// a message that names the object and the reason, ready for a log line ("rename /etc/resolv.conf: Device or
/// resource busy").
struct os_error {
  int code = 0;
  std::string message;

  explicit operator bool() const {
    return code != 0 || !message.empty();
  }
};

/// An error from errno after a failed call: "<what>: <strerror(err)>".
os_error from_errno(int err, const std::string& what);

} // namespace roamd::os
