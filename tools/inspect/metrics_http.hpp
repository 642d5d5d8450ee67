#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tools/inspect/debug_port.hpp"
#include "tools/inspect/metrics_text.hpp"

namespace roamd::inspect {

struct metrics_http_options {
  std::string address;                              // a loopback "IP:PORT"; port 0 picks a free port (tests)
  size_t header_limit = 8192;                       // request line and headers; larger: 431 and closed
  size_t max_connections = 8;                       // more are accepted, answered 503 and closed at once
  std::chrono::milliseconds read_timeout{5000};     // the whole request must arrive by then (slow-loris)
  std::chrono::milliseconds write_timeout{5000};    // a reader that does not read is cut after this
  std::chrono::milliseconds gather_timeout{3000};   // answers not in by then are left out of the scrape
  metrics_names names;
};

/// The Prometheus endpoint: a minimal HTTP/1.1 server (Boost.Beast's parser) on its own thread and io_context,
/// loopback only. GET and HEAD /metrics ask `handler` for the agent's status, stats, upstreams and arbiter status
/// in parallel and answer the text exposition of whatever came within gather_timeout; other paths get 404, other
/// methods 405. One request per connection (Connection: close); bounded request size, time and connections.
class metrics_http {
public:
  metrics_http(metrics_http_options opts, request_handler handler);
  ~metrics_http();
  metrics_http(const metrics_http&) = delete;
  metrics_http& operator=(const metrics_http&) = delete;

  /// Binds the listener; "" on success, else what failed.
  std::string open();

  /// Serves on a thread of its own until stop().
  void start();

  /// Closes the listener and every connection, joins the thread. Idempotent.
  void stop();

  /// The bound port (0 before open()).
  uint16_t port() const noexcept;

  /// What the endpoint served and refused since start (read from any thread).
  metrics_endpoint_counts counts() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace roamd::inspect
