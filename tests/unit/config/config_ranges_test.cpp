// Every integer key: both limits are accepted and stored, one past either limit is refused with the range.
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/config/load_helpers.hpp"

namespace roamd::config {
namespace {

using test::contains_all;
using test::load;

struct integer_key {
  const char* section;
  const char* key;
  int64_t min;
  int64_t max;
};

std::ostream& operator<<(std::ostream& out, const integer_key& k) {
  return out << k.section << '.' << k.key;
}

/// Reads `section.key` out of the proto by reflection, so the test also checks which field a key lands in.
uint64_t stored(const proto::Config& config, const integer_key& k) {
  const auto* section_field = config.GetDescriptor()->FindFieldByName(k.section);
  const auto& section = config.GetReflection()->GetMessage(config, section_field);
  const auto* field = section.GetDescriptor()->FindFieldByName(k.key);
  const auto* reflection = section.GetReflection();
  if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_UINT64)
    return reflection->GetUInt64(section, field);
  return reflection->GetUInt32(section, field);
}

std::string document(const integer_key& k, int64_t value) {
  return std::string("[") + k.section + "]\n" + k.key + " = " + std::to_string(value) + "\n";
}

class config_integer_range : public ::testing::TestWithParam<integer_key> {};

TEST_P(config_integer_range, limits_are_accepted_and_stored) {
  const auto& k = GetParam();
  for (auto value : {k.min, k.max}) {
    auto r = load(document(k, value));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(stored(r.config, k), static_cast<uint64_t>(value));
  }
}

TEST_P(config_integer_range, one_past_a_limit_is_refused_with_the_range) {
  const auto& k = GetParam();
  auto range = "expected an integer from " + std::to_string(k.min) + " to " + std::to_string(k.max);
  auto column = ":2:" + std::to_string(std::string(k.key).size() + 4) + ": ";
  auto path = std::string(k.section) + "." + k.key + ": ";
  for (auto value : {k.min - 1, k.max + 1}) {
    auto r = load(document(k, value));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "roamd.toml" + column + path + range + ", got " + std::to_string(value));
  }
}

TEST_P(config_integer_range, other_types_are_refused_naming_the_type) {
  const auto& k = GetParam();
  auto base = std::string("[") + k.section + "]\n" + k.key + " = ";
  auto path = std::string(k.section) + "." + k.key;
  EXPECT_TRUE(contains_all(load(base + "\"5\"\n").error, {":2:", path, "expected an integer", "got string \"5\""}));
  EXPECT_TRUE(contains_all(load(base + "5.0\n").error, {":2:", path, "got floating-point 5"}));
  EXPECT_TRUE(contains_all(load(base + "true\n").error, {":2:", path, "got boolean true"}));
  EXPECT_TRUE(contains_all(load(base + "[5]\n").error, {":2:", path, "got an array"}));
}

INSTANTIATE_TEST_SUITE_P(all_keys, config_integer_range,
                         ::testing::Values(integer_key{"cache", "size", 0, 10'000'000},
                                           integer_key{"cache", "max_ttl", 1, 604'800},
                                           integer_key{"cache", "negative_max_ttl", 0, 86'400},
                                           integer_key{"upstream", "timeout_ms", 50, 30'000},
                                           integer_key{"upstream", "attempts", 1, 10},
                                           integer_key{"upstream", "source_ports", 1, 1024},
                                           integer_key{"upstream", "down_after", 1, 100},
                                           integer_key{"upstream", "probe_interval_ms", 100, 600'000},
                                           integer_key{"upstream", "port_rotation_ms", 0, 3'600'000},
                                           integer_key{"tcp", "max_connections", 1, 65'535},
                                           integer_key{"tcp", "idle_timeout_ms", 100, 600'000},
                                           integer_key{"daemon", "workers", 1, 64}),
                         [](const auto& info) { return std::string(info.param.section) + "_" + info.param.key; });

TEST(config_integer, negative_number_is_refused) {
  auto r = load("[cache]\nsize = -1\n");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "roamd.toml:2:8: cache.size: expected an integer from 0 to 10000000, got -1");
}

TEST(config_integer, huge_number_is_refused_not_wrapped) {
  auto r = load("[upstream]\nattempts = 4294967299\n");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(contains_all(r.error, {":2:12:", "upstream.attempts", "got 4294967299"}));
}

} // namespace
} // namespace roamd::config
