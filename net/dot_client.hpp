#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "net/random.hpp"
#include "net/upstream.hpp"

namespace roamd::net {

/// The trust anchors every DNS-over-TLS and DNS-over-HTTPS connection of a data plane verifies against (an OpenSSL
/// client context, shared read-only by the workers). Opaque here: Asio's SSL headers stay in net/tls_upstream.hpp.
class dot_tls;

/// Makes the client context: certificates must chain to the PEM bundle `ca_file` ("" = the system's store), TLS 1.2
/// or later. Null with a reason in `error` when the bundle cannot be read or holds no certificate.
std::shared_ptr<dot_tls> make_dot_tls(const std::string& ca_file, std::string& error);

/// The client context of a data plane, made on first use: OpenSSL's initialisation costs about 4 MB of RSS that a
/// configuration without DoT resolvers should not pay. Thread-safe.
class dot_tls_source {
public:
  explicit dot_tls_source(std::string ca_file) : ca_file_(std::move(ca_file)) {}
  /// The context, or null when it cannot be made (logged once, with `error` set).
  std::shared_ptr<dot_tls> get(std::string* error = nullptr);

private:
  std::mutex mtx_;
  std::string ca_file_;
  std::shared_ptr<dot_tls> tls_;
  std::string error_;
};

/// The reconnect policy of an encrypted upstream: after a failed connect or handshake the first wait is `first`,
/// doubling up to `max`, each drawn from half to all of it (so that workers and machines do not reconnect in step);
/// a session that comes up resets it.
class reconnect_backoff {
public:
  reconnect_backoff(std::chrono::milliseconds first, std::chrono::milliseconds max) : first_(first), max_(max) {}

  /// Whether a new connect must wait still.
  bool waiting() const {
    return std::chrono::steady_clock::now() < retry_at_;
  }
  /// A connect failed: starts the next wait. True when it begins a failing period (log the reason then).
  bool failed(random_source& rng);
  /// A session came up. True when it ends a failing period.
  bool succeeded();

private:
  std::chrono::milliseconds first_, max_;
  std::chrono::milliseconds current_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  bool failing_ = false;
};

template <class>
struct tls_connection;

struct dot_options {
  /// Bounds the TCP connect plus TLS handshake; a connection that has queries waiting and read nothing for this
  /// long when one of them times out is reset (a silent path), and the next query reconnects.
  std::chrono::milliseconds timeout{2000};
  /// A connection with nothing in flight for this long is closed.
  std::chrono::milliseconds idle_timeout{10000};
  /// Connections per client: a new one is opened only when every open one has max_inflight queries waiting.
  uint32_t max_connections = 4;
  uint32_t max_inflight = 100;  // per connection: more spreads a burst over a frontend's threads (dnsdist runs
                                // each connection on one)
  /// The first wait after a failed connect or handshake; it doubles (with jitter) up to max_backoff and is reset
  /// by a successful handshake. While it runs, send() refuses at once, so queries fail over without waiting.
  std::chrono::milliseconds backoff{250};
  std::chrono::milliseconds max_backoff{10000};
  std::string link;   // bind to this link (see bind_to_link); ""= none
  uint32_t mark = 0;  // SO_MARK; 0 = none
};

/// DNS over TLS (RFC 7858) to one upstream, for one data-plane worker: a few persistent connections, each carrying
/// many queries at once (pipelined; RFC 7766 framing), their answers matched by DNS ID in any order. The client
/// picks each query's ID (unique among its queries in flight), so answers need no other bookkeeping. Runs on the
/// worker's thread only; queries queued in one loop round leave in one TLS write.
class dot_client {
public:
  /// An answer (`msg`, `size`) or, with `msg` null, the failure of the query sent with `tag` (connect, handshake,
  /// verification or the connection closing before its answer). Called from a fresh handler, never from send().
  using answer_handler = std::function<void(uint64_t tag, uint8_t* msg, size_t size)>;

  dot_client(boost::asio::io_context& ctx, std::shared_ptr<dot_tls> tls, std::shared_ptr<const upstream> to,
             dot_options opts, random_source& rng, answer_handler on_answer);
  ~dot_client();
  dot_client(const dot_client&) = delete;
  dot_client& operator=(const dot_client&) = delete;

  /// Queues query `wire` (its first two bytes are replaced by the ID chosen) on a connection, opening one if needed.
  /// False when none can take it now (backing off after a failed connect, every connection full): the caller fails
  /// the attempt at once.
  bool send(uint8_t* wire, size_t size, uint64_t tag);

  /// Forgets the query with `id` and `tag` (it timed out or was given up); its answer, if one comes, is dropped.
  void forget(uint16_t id, uint64_t tag, bool timed_out);

  /// Connections opened so far (successful or not), for tests and counters.
  uint64_t connects() const {
    return connects_;
  }

  /// Closes every connection without reporting their queries (the worker is stopping).
  void close();

private:
  struct connection;
  struct entry {
    uint64_t tag = 0;
    uint16_t id = 0;
    uint8_t conn = 0;
    bool used = false;
  };

  connection* pick_connection();
  void on_frame(connection& c, uint8_t* msg, size_t size);
  /// Ends connection `c`: its queries fail (reported from here, a fresh handler) unless `quiet`. `handshake_failed`
  /// starts the backoff; `why` is logged once per failing period.
  void end(connection& c, bool handshake_failed, const std::string& why, bool quiet = false);
  void connected(connection& c);
  friend struct connection;
  template <class>
  friend struct tls_connection;

  boost::asio::io_context& ctx_;
  std::shared_ptr<dot_tls> tls_;
  std::shared_ptr<const upstream> to_;
  dot_options opts_;
  random_source& rng_;
  answer_handler on_answer_;
  std::vector<std::shared_ptr<connection>> conns_;  // by index; null where none
  std::vector<entry> table_;                        // queries in flight, at id & mask_ (one per slot)
  uint32_t mask_ = 0;
  std::vector<uint64_t> failed_;  // reused: the tags of a connection that ended
  reconnect_backoff backoff_;
  uint64_t connects_ = 0;
};

} // namespace roamd::net
