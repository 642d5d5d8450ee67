#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

/// Calls `f(line)` for each line of `text` (without its newline); `f` returns false to stop.
template <class F>
void each_line(std::string_view text, F f) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    if (!f(text.substr(pos, end - pos)))
      return;
    pos = end + 1;
  }
}

/// The lines of `text`, without their newlines.
inline std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  each_line(text, [&](std::string_view line) {
    out.emplace_back(line);
    return true;
  });
  return out;
}

/// Wall-clock milliseconds since the epoch, for records (never for timing).
inline int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace roamd::os
