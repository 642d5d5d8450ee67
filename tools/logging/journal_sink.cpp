#include "tools/logging/journal_sink.hpp"

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

// Without this, sd_journal_sendv() (a macro) adds CODE_FILE/CODE_LINE/CODE_FUNC of this very file to every entry;
// the fields come from the log call's own source location instead (journal_fields).
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "tools/logging/journal_fields.hpp"

namespace roamd::logging {

int send_to_journal(const struct iovec* fields, int count) {
  return sd_journal_sendv(fields, count);
}

journal_sink::journal_sink(journal_sender send, std::shared_ptr<spdlog::sinks::sink> fallback)
    : send_(std::move(send)), fallback_(std::move(fallback)) {
}

uint64_t journal_sink::refused() const {
  return refused_.load();
}

void journal_sink::sink_it_(const spdlog::details::log_msg& msg) {
  auto fields = journal_fields(msg.level, std::string_view{msg.payload.data(), msg.payload.size()}, msg.source);
  std::vector<struct iovec> iov(fields.size());
  for (size_t i = 0; i < fields.size(); ++i)
    iov[i] = {fields[i].data(), fields[i].size()};
  int rc = send_(iov.data(), static_cast<int>(iov.size()));
  if (rc >= 0)
    return;
  if (refused_++ == 0) {
    std::string note = "roamd: the journal refused a log entry (" + std::string{std::strerror(-rc)} +
                       "); this and later refused entries go to stderr";
    fallback_->log(spdlog::details::log_msg{msg.logger_name, spdlog::level::warn, note});
  }
  fallback_->log(msg);
}

void journal_sink::flush_() {
  fallback_->flush();
}

} // namespace roamd::logging
