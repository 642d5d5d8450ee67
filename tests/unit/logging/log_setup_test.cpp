// Choosing between stderr and the journal from the configuration and what the process sees.
#include "tools/logging/log_setup.hpp"

#include <gtest/gtest.h>

namespace roamd::logging {
namespace {

/// A process whose stderr is device 64769, inode 123456.
log_environment env(std::string journal_stream, bool socket) {
  log_environment e;
  e.journal_stream = std::move(journal_stream);
  e.stderr_open = true;
  e.stderr_device = 64769;
  e.stderr_inode = 123456;
  e.journal_socket = socket;
  return e;
}

TEST(log_setup, names_stream) {
  EXPECT_TRUE(names_stream("64769:123456", 64769, 123456));
  EXPECT_FALSE(names_stream("64769:123457", 64769, 123456));
  EXPECT_FALSE(names_stream("64768:123456", 64769, 123456));
  EXPECT_FALSE(names_stream("", 64769, 123456));
  EXPECT_FALSE(names_stream("64769", 64769, 123456));
  EXPECT_FALSE(names_stream("64769:", 64769, 123456));
  EXPECT_FALSE(names_stream(":123456", 64769, 123456));
  EXPECT_FALSE(names_stream("64769:123456x", 64769, 123456));
  EXPECT_FALSE(names_stream("-64769:123456", 64769, 123456));
  EXPECT_FALSE(names_stream("64769:123456:1", 64769, 123456));
}

TEST(log_setup, auto_follows_journal_stream) {
  auto journal = choose_destination("auto", env("64769:123456", true));
  EXPECT_EQ(journal.destination, log_destination::journal);
  EXPECT_EQ(journal.warning, "");
  // Unset, or naming another file (stderr redirected by a child of the service): stderr, silently.
  for (auto stream : {"", "64769:999", "garbage"}) {
    auto c = choose_destination("auto", env(stream, true));
    EXPECT_EQ(c.destination, log_destination::standard_error) << stream;
    EXPECT_EQ(c.warning, "") << stream;
  }
  auto closed = env("64769:123456", true);
  closed.stderr_open = false;
  EXPECT_EQ(choose_destination("auto", closed).destination, log_destination::standard_error);
}

TEST(log_setup, explicit_targets) {
  EXPECT_EQ(choose_destination("stderr", env("64769:123456", true)).destination, log_destination::standard_error);
  EXPECT_EQ(choose_destination("journald", env("", true)).destination, log_destination::journal);
}

TEST(log_setup, no_journal_socket_falls_back_with_a_warning) {
  for (auto target : {"journald", "auto"}) {
    auto c = choose_destination(target, env("64769:123456", false));
    EXPECT_EQ(c.destination, log_destination::standard_error) << target;
    EXPECT_EQ(c.warning, std::string{"roamd: log_target is \""} + target +
                             "\" but there is no journal socket at /run/systemd/journal/socket: logging to stderr");
  }
  EXPECT_EQ(choose_destination("stderr", env("64769:123456", false)).warning, "");
}

} // namespace
} // namespace roamd::logging
