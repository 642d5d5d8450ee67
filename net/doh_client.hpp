#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "net/dot_client.hpp"
#include "net/random.hpp"
#include "net/upstream.hpp"

namespace roamd::net {

struct doh_options {
  /// Bounds the TCP connect plus TLS handshake; a connection that has queries waiting and read nothing for this
  /// long when one of them times out is reset (a silent path).
  std::chrono::milliseconds timeout{2000};
  /// A connection with no stream open for this long is closed.
  std::chrono::milliseconds idle_timeout{10000};
  /// Connections per client. HTTP/2 multiplexes, so one carries the load; another opens when it is full, draining
  /// after a GOAWAY, or out of stream ids. With every one full, send() refuses (the query fails over at once).
  uint32_t max_connections = 4;
  /// Queries per connection, and no more than the server's SETTINGS_MAX_CONCURRENT_STREAMS once its SETTINGS came
  /// (the queries sent before wait in nghttp2 for a free stream, never above the server's limit).
  uint32_t max_inflight = 100;
  /// Reconnect backoff, as for DoT (see dot_options).
  std::chrono::milliseconds backoff{250};
  std::chrono::milliseconds max_backoff{10000};
  std::string link;   // bind to this link (see bind_to_link); "" = none
  uint32_t mark = 0;  // SO_MARK; 0 = none
  size_t max_body = 65535;  // an answer body larger than this fails its query
};

/// DNS over HTTPS (RFC 8484) to one upstream, for one data-plane worker: HTTP/2 over TLS (ALPN "h2" required, the
/// TLS session verified as for DoT), each query a POST of application/dns-message on its own stream, many streams
/// at once on one persistent connection. The DNS ID is 0 on the wire (RFC 8484 §4.1: it makes answers cacheable by
/// HTTP caches); the answer gets the query's ID back before it is handed over. Runs on the worker's thread only;
/// requests made in one loop round leave in one TLS write.
class doh_client {
public:
  /// How a query ended when no answer is given.
  enum class failure : uint8_t {
    none,        // an answer (msg set)
    transport,   // connect, handshake, verification, ALPN, the connection or the stream ending before the answer
    bad_answer,  // an HTTP answer that is not a DNS message: :status other than 200, another content-type, too large
  };
  /// An answer (`msg`, `size`, failure::none) or, with `msg` null, the failure of the query sent with `tag`.
  /// Called from a fresh handler, never from send() or forget().
  using answer_handler = std::function<void(uint64_t tag, uint8_t* msg, size_t size, failure why)>;

  doh_client(boost::asio::io_context& ctx, std::shared_ptr<dot_tls> tls, std::shared_ptr<const upstream> to,
             doh_options opts, random_source& rng, answer_handler on_answer);
  ~doh_client();
  doh_client(const doh_client&) = delete;
  doh_client& operator=(const doh_client&) = delete;

  /// Queues query `wire` (copied) on a connection, opening one if needed. False when none can take it now (backing
  /// off after a failed connect, every connection full or draining): the caller fails the attempt at once.
  bool send(const uint8_t* wire, size_t size, uint64_t tag);

  /// Forgets the query sent with `tag` (it timed out or was given up): its stream is reset.
  void forget(uint64_t tag, bool timed_out);

  /// Connections opened so far (successful or not), for tests and counters.
  uint64_t connects() const {
    return connects_;
  }

  /// Closes every connection without reporting their queries (the worker is stopping).
  void close();

private:
  struct connection;
  friend struct connection;
  template <class>
  friend struct tls_connection;

  connection* pick_connection();
  /// Ends connection `c`: its queries fail (reported from here, a fresh handler) unless `quiet`.
  /// `connect_failed` starts the backoff; `why` is logged once per failing period.
  void end(connection& c, bool connect_failed, const std::string& why, bool quiet = false);
  void connected(connection& c);
  /// Reports the queries of `c` that ended while nghttp2 ran (a stream failure is logged once until an answer).
  void report(connection& c);

  boost::asio::io_context& ctx_;
  std::shared_ptr<dot_tls> tls_;
  std::shared_ptr<const upstream> to_;
  doh_options opts_;
  random_source& rng_;
  answer_handler on_answer_;
  std::string authority_;                           // the :authority of every request
  std::vector<std::shared_ptr<connection>> conns_;  // by index; null where none
  std::unordered_map<uint64_t, uint8_t> conn_of_;   // tag -> connection index, for queries in flight
  reconnect_backoff backoff_;
  std::string stream_error_;  // the last stream failure logged ("" after an answer)
  uint64_t connects_ = 0;
};

} // namespace roamd::net
