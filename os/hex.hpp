#pragma once

#include <optional>
#include <string>
#include <string_view>

// Hex text, header-only so that small tools (roamctl) use it without linking roamd_os.
namespace roamd::os {

/// Lower-case hex of raw bytes.
inline std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

/// Raw bytes of hex digits (either case); nullopt for an odd length or anything that is not a hex digit.
inline std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int high = value(hex[2 * i]), low = value(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return std::nullopt;
    out[i] = static_cast<char>(high << 4 | low);
  }
  return out;
}

} // namespace roamd::os
