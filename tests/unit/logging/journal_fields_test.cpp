// The fields of a journal entry, built from one log line without any socket.
#include "tools/logging/journal_fields.hpp"

#include <gtest/gtest.h>

namespace roamd::logging {
namespace {

using fields = std::vector<std::string>;

TEST(journal_fields, syslog_priorities) {
  EXPECT_EQ(syslog_priority(spdlog::level::trace), 7);
  EXPECT_EQ(syslog_priority(spdlog::level::debug), 7);
  EXPECT_EQ(syslog_priority(spdlog::level::info), 6);
  EXPECT_EQ(syslog_priority(spdlog::level::warn), 4);
  EXPECT_EQ(syslog_priority(spdlog::level::err), 3);
  EXPECT_EQ(syslog_priority(spdlog::level::critical), 2);
}

TEST(journal_fields, component_is_the_identifier_before_the_first_colon) {
  EXPECT_EQ(component_of("conflict_arbiter: taken over: settings [x]"), "conflict_arbiter");
  EXPECT_EQ(component_of("roamd: worker 0: cannot set socket mark"), "roamd");
  EXPECT_EQ(component_of("_x9: y"), "_x9");
  EXPECT_EQ(component_of("inspection port on /run/roamd/debug.sock"), "");
  EXPECT_EQ(component_of("a b: c"), "");          // not an identifier
  EXPECT_EQ(component_of("9lives: c"), "");       // starts with a digit
  EXPECT_EQ(component_of(": c"), "");             // empty
  EXPECT_EQ(component_of("a:b c"), "");           // ':' without the space
  EXPECT_EQ(component_of("127.0.0.1: up"), "");
  EXPECT_EQ(component_of(std::string(64, 'a') + ": x"), std::string(64, 'a'));
  EXPECT_EQ(component_of(std::string(65, 'a') + ": x"), "");
}

TEST(journal_fields, an_actor_line) {
  auto f = journal_fields(spdlog::level::warn, "conflict_arbiter: yielded: contested [3 contests]", {});
  EXPECT_EQ(f, (fields{"MESSAGE=conflict_arbiter: yielded: contested [3 contests]", "PRIORITY=4",
                       "SYSLOG_IDENTIFIER=roamd", "ROAMD_COMPONENT=conflict_arbiter"}));
}

TEST(journal_fields, a_line_without_component) {
  auto f = journal_fields(spdlog::level::info, "something happened", {});
  EXPECT_EQ(f, (fields{"MESSAGE=something happened", "PRIORITY=6", "SYSLOG_IDENTIFIER=roamd"}));
}

TEST(journal_fields, source_location_when_spdlog_has_one) {
  auto f = journal_fields(spdlog::level::err, "upstream_io: down", {"net/upstream.cpp", 42, "probe"});
  EXPECT_EQ(f, (fields{"MESSAGE=upstream_io: down", "PRIORITY=3", "SYSLOG_IDENTIFIER=roamd",
                       "ROAMD_COMPONENT=upstream_io", "CODE_FILE=net/upstream.cpp", "CODE_LINE=42",
                       "CODE_FUNC=probe"}));
}

TEST(journal_fields, message_bytes_pass_unchanged) {
  // Newlines and NULs are the sender's business (sd_journal_sendv switches to the binary form): kept as they are.
  std::string text{"a: line one\nline two\0three", 27};
  auto f = journal_fields(spdlog::level::debug, text, {});
  ASSERT_GE(f.size(), 1u);
  EXPECT_EQ(f[0], "MESSAGE=" + text);
}

} // namespace
} // namespace roamd::logging
