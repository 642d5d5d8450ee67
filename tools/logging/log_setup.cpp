#include "tools/logging/log_setup.hpp"

#include <charconv>
#include <cstdlib>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/logging/journal_sink.hpp"

namespace roamd::logging {

namespace {

/// Parses all of `text` as a decimal unsigned number.
bool parse_number(std::string_view text, unsigned long long& out) {
  auto end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc{} && ptr == end;
}

std::shared_ptr<spdlog::sinks::sink> stderr_sink() {
  // color_mode::automatic: escape codes only when stderr is a terminal (and TERM says it has colours).
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  return sink;
}

} // namespace

bool names_stream(std::string_view journal_stream, dev_t device, ino_t inode) {
  auto colon = journal_stream.find(':');
  unsigned long long dev = 0, ino = 0;
  if (colon == std::string_view::npos || !parse_number(journal_stream.substr(0, colon), dev) ||
      !parse_number(journal_stream.substr(colon + 1), ino))
    return false;
  return dev == static_cast<unsigned long long>(device) && ino == static_cast<unsigned long long>(inode);
}

log_choice choose_destination(std::string_view target, const log_environment& env) {
  if (target == "stderr")
    return {};
  bool wanted = target == "journald" ||
                (env.stderr_open && names_stream(env.journal_stream, env.stderr_device, env.stderr_inode));
  if (!wanted)
    return {};
  if (!env.journal_socket)
    return {log_destination::standard_error,
            "roamd: log_target is \"" + std::string{target} + "\" but there is no journal socket at " +
                journal_socket_path + ": logging to stderr"};
  return {log_destination::journal, {}};
}

log_environment current_environment() {
  log_environment env;
  if (const char* stream = std::getenv("JOURNAL_STREAM"))
    env.journal_stream = stream;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) == 0) {
    env.stderr_open = true;
    env.stderr_device = st.st_dev;
    env.stderr_inode = st.st_ino;
  }
  env.journal_socket = ::stat(journal_socket_path, &st) == 0 && S_ISSOCK(st.st_mode);
  return env;
}

void setup(std::string_view level, std::string_view target) {
  auto choice = choose_destination(target, current_environment());
  std::shared_ptr<spdlog::sinks::sink> sink = stderr_sink();
  if (choice.destination == log_destination::journal)
    sink = std::make_shared<journal_sink>(send_to_journal, sink);
  auto logger = std::make_shared<spdlog::logger>("roamd", sink);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(std::string{level}));
  if (!choice.warning.empty())
    spdlog::warn("{}", choice.warning);
}

} // namespace roamd::logging
