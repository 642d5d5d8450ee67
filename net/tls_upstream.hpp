#pragma once

// The TLS client side that DNS over TLS and DNS over HTTPS share: the client context, one verified connect (socket
// mark, link binding, name or IP check, pin, ALPN) and the reconnect backoff. Includes Asio's SSL headers: only the
// two transports' translation units include it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "net/dot_client.hpp"

namespace roamd::net {

class dot_tls {
public:
  boost::asio::ssl::context ctx{boost::asio::ssl::context::tls_client};
};

using tls_stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

struct tls_connect_options {
  std::chrono::milliseconds timeout{2000};  // the TCP connect plus the handshake
  std::string link;                         // bind to this link; "" = none
  uint32_t mark = 0;                        // SO_MARK; 0 = none
  std::string_view alpn;                    // the protocol the server must select ("h2"); "" = no ALPN
};

/// Connects `stream` (fresh, from the context of a dot_tls) to `to` and verifies the session: the chain to the
/// context's anchors, `to.tls_name` (sent as SNI) or else the IP address, then `to.tls_pin` and the ALPN protocol.
/// Calls `done("")` once the session is up, or `done(why)` with the reason it failed; exactly once, never from inside
/// this call. `timer` bounds it. The caller keeps `stream` and `timer` alive through `done` (capture the owner).
void tls_connect(tls_stream& stream, boost::asio::steady_timer& timer, const upstream& to,
                 const tls_connect_options& opts, std::function<void(const std::string& why)> done);

/// What a DoT and a DoH connection share: the TLS stream, the timer (the connect deadline, then the idle timer),
/// batched writes and the idle close. `Derived` has `owner`, its client (null once the connection ended; the client
/// has `ctx_`, `opts_.idle_timeout` and `end(Derived&, bool, const std::string&, bool quiet)` and befriends this
/// template), `bool idle() const` (nothing in flight) and `void flush()` (fills `out`, then calls write_out()).
/// Handlers hold the connection by shared_ptr and only return once `owner` is null.
template <class Derived>
struct tls_connection : std::enable_shared_from_this<Derived> {
  using clock = std::chrono::steady_clock;

  tls_connection(boost::asio::io_context& ctx, dot_tls& tls) : stream(ctx, tls.ctx), timer(ctx) {}

  tls_stream stream;
  boost::asio::steady_timer timer;
  bool ready = false;  // the session is up
  bool write_busy = false;
  bool flush_posted = false;
  bool idle_armed = false;
  std::vector<uint8_t> out;      // bytes waiting for the next write
  std::vector<uint8_t> writing;  // the write in progress
  clock::time_point last_read{};
  clock::time_point idle_since{};

  Derived& derived() {
    return static_cast<Derived&>(*this);
  }

  /// Flushes after the handlers ready in this loop round: what they queue leaves in one write.
  void schedule_flush() {
    if (!ready || write_busy || flush_posted)
      return;
    flush_posted = true;
    boost::asio::post(derived().owner->ctx_, [self = this->shared_from_this()] {
      self->flush_posted = false;
      self->flush();
    });
  }

  /// Whether a write can start now: the session is up, no write is in progress and `out` holds bytes.
  bool can_write() {
    return derived().owner && ready && !write_busy && !out.empty();
  }

  /// Writes what `out` holds (unless a write is in progress); flush() again once it is written.
  void write_out() {
    if (!can_write())
      return;
    writing.swap(out);
    out.clear();
    write_writing();
  }

  /// Writes what `writing` holds through the session, with whatever the session holds already (records sealed
  /// ahead of it) in the same socket write; flush() again once it is written.
  void write_writing() {
    write_busy = true;
    boost::asio::async_write(stream, boost::asio::buffer(writing),
                             [self = this->shared_from_this()](const boost::system::error_code& ec, size_t) {
      self->write_busy = false;
      self->writing.clear();
      if (!self->owner)
        return;
      if (ec)
        return self->owner->end(*self, false, "write failed: " + ec.message(), false);
      self->flush();
    });
  }

  /// The connection has nothing in flight from now: it closes after the idle timeout unless busy again.
  void arm_idle() {
    idle_since = clock::now();
    if (!idle_armed)
      wait_idle();
  }

  void wait_idle() {
    idle_armed = true;
    timer.expires_at(idle_since + derived().owner->opts_.idle_timeout);
    timer.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      auto& c = *self;
      c.idle_armed = false;
      if (ec || !c.owner || !c.ready || !c.idle())
        return;  // busy again: armed anew when its last query ends
      if (clock::now() - c.idle_since >= c.owner->opts_.idle_timeout)
        return c.owner->end(c, false, {}, true);
      c.wait_idle();  // it became idle again since: wait from then
    });
  }

  /// Closes the socket and stops the timer (the client's end() does the rest).
  void shut() {
    ready = false;
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
    timer.cancel();
  }

  /// What a failed read means, as logged.
  static std::string read_failure(const boost::system::error_code& ec) {
    bool closed = ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
    return closed ? "closed by the resolver" : "read failed: " + ec.message();
  }
};

} // namespace roamd::net
