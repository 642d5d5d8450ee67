// The key list behind unknown-key errors and their suggestions.
#include "tools/config/schema.hpp"

#include <gtest/gtest.h>

namespace roamd::config::detail {
namespace {

TEST(config_schema, edit_distance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("cache", "cache"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("adresses", "addresses"), 1u);
  EXPECT_EQ(edit_distance("cahce", "cache"), 1u);  // a swap of neighbours is one edit
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(config_schema, known_sections_and_keys) {
  EXPECT_TRUE(is_section("internal"));
  EXPECT_FALSE(is_section("source"));
  EXPECT_TRUE(is_key("upstream", "probe_interval_ms"));
  EXPECT_FALSE(is_key("upstream", "size"));
  EXPECT_FALSE(is_key("", "listen"));
}

TEST(config_schema, suggestions) {
  auto typo = suggest("tcp", "max_conections");
  ASSERT_TRUE(typo);
  EXPECT_EQ(typo->section, "tcp");
  EXPECT_EQ(typo->key, "max_connections");
  auto elsewhere = suggest("cache", "timeout_ms");
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->section, "upstream");
  EXPECT_EQ(elsewhere->key, "timeout_ms");
  auto section = suggest("", "Daemon");
  ASSERT_TRUE(section);
  EXPECT_EQ(section->section, "daemon");
  EXPECT_EQ(section->key, "");
  EXPECT_FALSE(suggest("cache", "zzz"));
  EXPECT_FALSE(suggest("", "x"));
}

} // namespace
} // namespace roamd::config::detail
