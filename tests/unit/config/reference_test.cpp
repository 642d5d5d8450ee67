// The configuration example in README.md must load and show the real defaults.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/config/load_helpers.hpp"

namespace roamd::config {
namespace {

/// The text of the first ```toml block of the reference.
std::string reference_example() {
  std::ifstream file{ROAMD_CONFIG_REFERENCE};
  std::stringstream text;
  text << file.rdbuf();
  auto doc = text.str();
  auto begin = doc.find("```toml\n");
  if (begin == std::string::npos)
    return {};
  begin += 8;
  auto end = doc.find("```", begin);
  return end == std::string::npos ? std::string{} : doc.substr(begin, end - begin);
}

TEST(config_reference, example_loads_with_the_documented_defaults) {
  auto example = reference_example();
  ASSERT_FALSE(example.empty()) << "no ```toml block in " << ROAMD_CONFIG_REFERENCE;
  auto r = test::load(example);
  ASSERT_TRUE(r.ok) << r.error;
  // The example sets every key: to its default, except the identity and the [[internal]] entries.
  EXPECT_EQ(r.config.cloud().device_id().size(), 8u);
  EXPECT_EQ(r.config.internal_size(), 2);
  auto expected = defaults();
  expected.set_source("roamd.toml");
  *expected.mutable_cloud()->mutable_device_id() = r.config.cloud().device_id();
  *expected.mutable_internal() = r.config.internal();
  EXPECT_EQ(r.config.DebugString(), expected.DebugString());
}

} // namespace
} // namespace roamd::config
