#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <sys/uio.h>

namespace roamd::logging {

/// Sends one entry to the journal: sd_journal_sendv's contract (0, or a negative errno).
using journal_sender = std::function<int(const struct iovec* fields, int count)>;

/// The real sender: sd_journal_sendv, over /run/systemd/journal/socket.
int send_to_journal(const struct iovec* fields, int count);

/// An spdlog sink that writes each log line as a structured journal entry (fields: see journal_fields()).
/// An entry the journal refuses goes to `fallback` instead, so that nothing is lost while journald restarts; the
/// first refusal is announced there with its reason, later ones are only counted.
class journal_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  journal_sink(journal_sender send, std::shared_ptr<spdlog::sinks::sink> fallback);

  /// Entries the journal refused so far.
  uint64_t refused() const;

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

private:
  journal_sender send_;
  std::shared_ptr<spdlog::sinks::sink> fallback_;
  std::atomic<uint64_t> refused_{0};
};

} // namespace roamd::logging
