#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "net/query_log.hpp"

struct fstrm_iothr;
struct fstrm_iothr_queue;

namespace roamd::net {

struct dnstap_options {
  std::string socket;    // a Frame Streams reader's Unix socket (bidirectional handshake; reconnected when it goes)
  std::string file;      // or a file, created anew (exactly one of the two)
  std::string identity;  // the Dnstap.identity field
  std::string version;   // the Dnstap.version field
  bool client_queries = true;    // CLIENT_QUERY messages
  bool client_responses = true;  // CLIENT_RESPONSE messages
  uint32_t workers = 1;          // one single-producer queue per data-plane worker
  unsigned queue_size = 16384;   // frames per queue (a power of 2, at most 16384); a full queue drops and counts
};

/// The dnstap query log: each client query and answer becomes a Dnstap protobuf handed to libfstrm's I/O thread,
/// which writes Frame Streams (content type "protobuf:dnstap.Dnstap") to a socket or a file. The workers never
/// wait on it: a full queue (a slow or absent reader) drops the frame and counts it.
class dnstap_writer final : public query_observer {
public:
  /// Null and `error` set when the writer cannot be made (bad options, the file cannot be created).
  static std::unique_ptr<dnstap_writer> open(const dnstap_options& opts, std::string& error);
  ~dnstap_writer() override;
  dnstap_writer(const dnstap_writer&) = delete;
  dnstap_writer& operator=(const dnstap_writer&) = delete;

  void observe(const query_event& e) noexcept override;
  bool wants_queries() const noexcept override {
    return opts_.client_queries;
  }

  uint64_t written() const {
    return written_.load(std::memory_order_relaxed);
  }
  uint64_t dropped() const {
    return dropped_.load(std::memory_order_relaxed);
  }

  /// The serialized Dnstap message for one event (what observe() queues), for tests.
  std::string encode(const query_event& e) const;

private:
  explicit dnstap_writer(dnstap_options opts);

  dnstap_options opts_;
  fstrm_iothr* iothr_ = nullptr;
  std::unique_ptr<fstrm_iothr_queue*[]> queues_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
};

} // namespace roamd::net
