// The journal sink with a recording sender in place of sd_journal_sendv, and its fallback when the journal refuses.
#include "tools/logging/journal_sink.hpp"

#include <cerrno>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace roamd::logging {
namespace {

struct recorded {
  std::vector<std::vector<std::string>> entries;
  int result = 0;

  journal_sender sender() {
    return [this](const struct iovec* iov, int count) {
      std::vector<std::string> entry;
      for (int i = 0; i < count; ++i)
        entry.emplace_back(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      entries.push_back(entry);
      return result;
    };
  }
};

struct sink_test : ::testing::Test {
  recorded journal;
  std::ostringstream fallback_text;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> fallback =
      std::make_shared<spdlog::sinks::ostream_sink_st>(fallback_text);
  std::shared_ptr<journal_sink> sink;
  std::shared_ptr<spdlog::logger> logger;

  void SetUp() override {
    fallback->set_pattern("%l %v");
    sink = std::make_shared<journal_sink>(journal.sender(), fallback);
    logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::trace);
  }
};

TEST_F(sink_test, each_line_is_one_entry_with_its_fields) {
  logger->info("debug_port: {} inspection connections open", 3);
  SPDLOG_LOGGER_ERROR(logger, "dns_enforcer: restore failed");
  ASSERT_EQ(journal.entries.size(), 2u);
  EXPECT_EQ(journal.entries[0], (std::vector<std::string>{"MESSAGE=debug_port: 3 inspection connections open",
                                                          "PRIORITY=6", "SYSLOG_IDENTIFIER=roamd",
                                                          "ROAMD_COMPONENT=debug_port"}));
  const auto& with_source = journal.entries[1];
  ASSERT_GE(with_source.size(), 6u);
  EXPECT_EQ(with_source[1], "PRIORITY=3");
  EXPECT_EQ(with_source[3], "ROAMD_COMPONENT=dns_enforcer");
  EXPECT_NE(with_source[4].find("journal_sink_test.cpp"), std::string::npos) << with_source[4];
  EXPECT_EQ(with_source[5].rfind("CODE_LINE=", 0), 0u) << with_source[5];
  EXPECT_EQ(fallback_text.str(), "");
  EXPECT_EQ(sink->refused(), 0u);
}

TEST_F(sink_test, refused_entries_go_to_the_fallback_announced_once) {
  journal.result = -ENOENT;
  logger->info("roamd: one");
  logger->warn("roamd: two");
  EXPECT_EQ(journal.entries.size(), 2u);  // each line is still offered to the journal first
  EXPECT_EQ(sink->refused(), 2u);
  EXPECT_EQ(fallback_text.str(),
            "warning roamd: the journal refused a log entry (No such file or directory); this and later refused "
            "entries go to stderr\n"
            "info roamd: one\n"
            "warning roamd: two\n");
  journal.result = 0;
  logger->info("roamd: three");
  EXPECT_EQ(journal.entries.size(), 3u);
  EXPECT_EQ(sink->refused(), 2u);
  EXPECT_EQ(fallback_text.str().find("three"), std::string::npos);
}

} // namespace
} // namespace roamd::logging
