#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

/// Small helpers every layer above the data plane uses for messages and records.
namespace roamd::os {

/// The strings of `items` separated by `sep` ("a b c"): nameserver lists, argv, search domains in log lines.
template <class Range>
std::string join(const Range& items, std::string_view sep = " ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty())
      out += sep;
    out += item;
  }
  return out;
}

/// Wall-clock milliseconds since the epoch, for records (never for timing).
inline int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace roamd::os
