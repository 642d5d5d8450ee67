#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tools/config/config_loader.hpp"

namespace roamd::config::test {

/// The outcome of one load_string call on "roamd.toml".
struct loaded {
  bool ok = false;
  proto::Config config;
  std::string error;
};

inline loaded load(std::string_view text, std::string_view source = "roamd.toml") {
  loaded result;
  result.ok = load_string(text, source, result.config, result.error);
  return result;
}

/// Passes when `text` contains every one of `parts`, naming the first missing part otherwise.
inline ::testing::AssertionResult contains_all(const std::string& text, std::initializer_list<std::string_view> parts) {
  for (auto part : parts)
    if (text.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
  return ::testing::AssertionSuccess();
}

/// Loads `text`, expects it to fail with a one-line message containing every one of `parts`, and returns the message.
inline std::string load_error(std::string_view text, std::initializer_list<std::string_view> parts) {
  auto result = load(text);
  EXPECT_FALSE(result.ok) << "loaded without error:\n" << text;
  EXPECT_TRUE(contains_all(result.error, parts)) << "for:\n" << text;
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << result.error;
  return result.error;
}

} // namespace roamd::config::test
