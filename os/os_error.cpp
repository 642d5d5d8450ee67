#include "os/os_error.hpp"

#include <system_error>

namespace roamd::os {

os_error from_errno(int err, const std::string& what) {
  // std::generic_category() gives strerror's text without strerror's shared buffer.
  return os_error{err, what + ": " + std::error_code(err, std::generic_category()).message()};
}

} // namespace roamd::os
