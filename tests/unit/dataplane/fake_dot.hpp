#pragma once

// A DNS-over-TLS server on 127.0.0.1 for data-plane tests (Asio SSL on its own thread): answers every query with an
// A record (or a large TXT record), optionally holding answers until a batch of queries has arrived on the connection (then answering them
// in reverse order), or closing its first connection after reading some queries without answering them.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fake_dns.hpp"

namespace roamd::test {

class fake_dot_server {
public:
  struct options {
    std::string cert;            // PEM chain file
    std::string key;             // PEM key file
    size_t batch = 1;            // answer once this many queries wait on a connection, newest first
    size_t close_first_after = 0;  // close the first connection after reading this many queries (0: never)
    std::string address = "192.0.2.7";  // the A record of every answer
    size_t txt_size = 0;                // else: one TXT record of this many bytes instead
  };

  explicit fake_dot_server(options opts);
  ~fake_dot_server();

  std::string address() const;  // "127.0.0.1:PORT"
  size_t connections() const { return connections_; }  // accepted (TCP)
  size_t handshakes() const { return handshakes_; }    // completed TLS handshakes
  size_t closed() const { return closed_; }            // connections that ended (either side)
  size_t queries() const { return queries_; }
  size_t answered() const { return answered_; }
  /// Reads (each the plaintext of one TLS record) that held more than one whole query: servers that read a query
  /// per record (NSD 4.6) stall on those.
  size_t shared_records() const { return shared_records_; }
  /// Waits (bounded) until `pred` holds, re-checked whenever a counter above changes.
  bool wait_for(const std::function<bool()>& pred, int timeout_ms) { return changed_.wait_for(pred, timeout_ms); }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<size_t> connections_{0}, handshakes_{0}, closed_{0}, queries_{0}, answered_{0}, shared_records_{0};
  waiter changed_;
};

} // namespace roamd::test
