// The configuration reference in README.md: a table row and an example line for every key the loader accepts; the
// example loads and shows the real defaults.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "tests/unit/config/load_helpers.hpp"
#include "tools/config/schema.hpp"

namespace roamd::config {
namespace {

std::string reference() {
  std::ifstream file{ROAMD_CONFIG_REFERENCE};
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// The text of the first ```toml block of the reference.
std::string reference_example() {
  auto doc = reference();
  auto begin = doc.find("```toml\n");
  if (begin == std::string::npos)
    return {};
  begin += 8;
  auto end = doc.find("```", begin);
  return end == std::string::npos ? std::string{} : doc.substr(begin, end - begin);
}

/// The table of `[section]` (or `[[section]]`) in the reference: from its heading to the next heading.
std::string reference_table(const std::string& doc, std::string_view section) {
  for (auto heading : {"### `[" + std::string{section} + "]`", "### `[[" + std::string{section} + "]]`"}) {
    auto begin = doc.find(heading);
    if (begin != std::string::npos)
      return doc.substr(begin, doc.find("\n#", begin + 1) - begin);
  }
  return {};
}

TEST(config_reference, every_key_has_a_table_row_and_an_example_line) {
  auto doc = reference();
  // {section, key} of each `key = ...` line of the example, under the [section] or [[section]] before it.
  std::set<std::pair<std::string, std::string>> example;
  std::istringstream lines{reference_example()};
  std::string line, section;
  std::smatch m;
  while (std::getline(lines, line)) {
    if (std::regex_match(line, m, std::regex{R"(\[\[?(\w+)\]\]?\s*)"}))
      section = m[1];
    else if (std::regex_search(line, m, std::regex{R"(^(\w+) = )"}))
      example.insert({section, m[1]});
  }
  for (const auto& k : detail::all_keys()) {
    std::string section{k.section}, key{k.key};
    EXPECT_NE(reference_table(doc, section).find("| `" + key + "` |"), std::string::npos)
        << section << "." << key << " has no row in the README's configuration reference";
    EXPECT_EQ(example.count({section, key}), 1u) << section << "." << key << " is not in the README's example";
  }
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
