#pragma once

// A DNS-over-HTTPS server on 127.0.0.1 for data-plane tests: HTTP/2 by nghttp2's server API over Asio SSL, on its own
// thread. Answers each POST of application/dns-message with an A record, or, as told: a status other than 200,
// another content-type, a body larger than 65535 bytes; holding answers until a batch of requests is open on the
// connection (then answering them newest first); closing its first connection after some requests; a GOAWAY after
// some requests; a small SETTINGS_MAX_CONCURRENT_STREAMS; or an ALPN without h2. It records what the requests carried.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "fake_dns.hpp"

namespace roamd::test {

class fake_doh_server {
public:
  struct options {
    std::string cert;  // PEM chain file
    std::string key;   // PEM key file
    std::string alpn = "h2";  // the protocol the server selects ("http/1.1": no h2)
    int status = 200;
    std::string content_type = "application/dns-message";
    size_t body_size = 0;          // else: a body of this many bytes (a valid answer padded with zeros)
    size_t batch = 1;              // answer once this many requests are open on a connection, newest first
    size_t close_first_after = 0;  // close the first connection after this many requests (0: never)
    size_t goaway_first_after = 0; // GOAWAY on the first connection after this many requests, which are answered
    uint32_t max_streams = 100;    // SETTINGS_MAX_CONCURRENT_STREAMS
    std::string address = "192.0.2.8";  // the A record of every answer
  };

  explicit fake_doh_server(options opts);
  ~fake_doh_server();

  std::string address() const;  // "127.0.0.1:PORT"
  size_t connections() const { return connections_; }  // accepted (TCP)
  size_t sessions() const { return sessions_; }        // TLS handshakes completed (with any ALPN)
  size_t closed() const { return closed_; }            // connections that ended (either side)
  size_t requests() const { return requests_; }        // complete requests read
  size_t answered() const { return answered_; }        // responses submitted
  size_t resets() const { return resets_; }            // streams the client reset
  size_t max_open() const { return max_open_; }        // the most streams open at once on one connection
  /// Requests that were not a well-formed RFC 8484 POST (method, path, content-type, accept, DNS ID 0).
  size_t bad_requests() const { return bad_requests_; }
  std::string last_authority() const;
  std::string last_path() const;
  /// Waits (bounded) until `pred` holds, re-checked whenever a counter above changes.
  bool wait_for(const std::function<bool()>& pred, int timeout_ms) { return changed_.wait_for(pred, timeout_ms); }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<size_t> connections_{0}, sessions_{0}, closed_{0}, requests_{0}, answered_{0}, resets_{0},
      max_open_{0}, bad_requests_{0};
  mutable std::mutex mtx_;
  std::string authority_, path_;
  waiter changed_;
};

} // namespace roamd::test
