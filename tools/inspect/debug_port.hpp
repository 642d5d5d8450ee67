#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proto/inspect.pb.h"
#include "tools/inspect/frame.hpp"
#include "tools/inspect/tls.hpp"

namespace roamd::inspect {

/// What the port refused and answered since start (read from any thread).
struct debug_port_counters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> busy{0};               // refused: too many connections
  std::atomic<uint64_t> peer_refused{0};       // Unix peer neither root nor in the socket's group
  std::atomic<uint64_t> too_large{0};
  std::atomic<uint64_t> bad_request{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> auth_failed{0};
  std::atomic<uint64_t> tls_failed{0};         // TLS handshake refused, failed or not finished in time
  std::atomic<uint64_t> answered{0};
};

/// The counters as the status message carries them.
proto::DebugPortStatus to_proto(const debug_port_counters& c);

struct debug_port_options {
  std::string socket_path;    // Unix listener ("" = none): directory 0750 if created, socket 0660
  std::string tcp;            // TCP listener ("" = none): "IP:PORT", loopback unless `tls`; port 0 picks a free port
  std::string token_file;     // TCP without TLS: where the 32-byte token is written (0600), removed on stop
  tls_files tls;              // TCP with mutual TLS: the client certificate authenticates (no token)
  std::string version;        // sent in the hello
  size_t max_request = max_request_frame;
  size_t max_response = max_response_frame;
  size_t max_connections = 16;                    // more are accepted, sent BUSY and closed at once
  std::chrono::milliseconds frame_timeout{5000};  // a begun frame, and the auth answer, must be complete by then
  std::chrono::milliseconds idle_timeout{30000};  // a connection with nothing to say is closed after this
  std::shared_ptr<debug_port_counters> counters;  // where the port counts (shared with who shows them); null: its own
};

/// Answers one request. Calls `done` exactly once, from any thread, within a bounded time.
using request_handler =
  std::function<void(const proto::InspectRequest&, std::function<void(proto::InspectResponse)> done)>;

/// The inspection port: a small Boost.Asio server on its own thread and io_context, with bounded framing, bounded
/// time per frame, a cap on connections and on response size. The Unix listener lets in root, roamd's own user and
/// members of the socket's group (SO_PEERCRED). The TCP listener either speaks mutual TLS (any address: the client's
/// certificate, verified against `tls.ca` and `tls.names`, authenticates) or, on loopback only, first asks for an
/// HMAC of a fresh nonce keyed with the token it wrote to `token_file`. No CAF here: requests go to `handler`.
class debug_port {
public:
  debug_port(debug_port_options opts, request_handler handler);
  ~debug_port();
  debug_port(const debug_port&) = delete;
  debug_port& operator=(const debug_port&) = delete;

  /// Loads the TLS files, binds the listeners and writes the token file; "" on success, else what failed (nothing
  /// is left behind).
  std::string open();

  /// Serves on a thread of its own until stop().
  void start();

  /// Closes every connection and listener, removes the socket and token files, joins the thread. Idempotent.
  void stop();

  /// The bound TCP port (0 without a TCP listener).
  uint16_t tcp_port() const noexcept;

  /// Connections open now.
  size_t connections() const noexcept;

  const debug_port_counters& counters() const noexcept;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace roamd::inspect
