#pragma once

// Private to debug_port (and, for the gate, metrics_http): the server's shared parts and one connection's
// protocol, over a plain socket or over TLS.

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tools/inspect/debug_port.hpp"

namespace roamd::inspect::detail {

using socket_type = boost::asio::generic::stream_protocol::socket;
using tls_stream = boost::asio::ssl::stream<socket_type>;

/// Lets answers from other threads reach the io_context only while it exists.
struct gate {
  std::mutex mu;
  boost::asio::io_context* ioc = nullptr;
};

/// A `done` callback for the request handler (called on any thread): runs `member` of the object `weak` names with
/// the answer on the io_context's thread, while both still exist; the answer is dropped otherwise.
template <class T>
std::function<void(proto::InspectResponse)> deliver_to(std::shared_ptr<gate> g, std::weak_ptr<T> weak,
                                                       void (T::*member)(proto::InspectResponse)) {
  return [g = std::move(g), weak = std::move(weak), member](proto::InspectResponse r) {
    std::lock_guard<std::mutex> lock{g->mu};
    if (g->ioc)
      boost::asio::post(*g->ioc, [weak, member, r = std::move(r)]() mutable {
        if (auto self = weak.lock())
          ((*self).*member)(std::move(r));
      });
  };
}

/// Lets one warning through per period, and counts the ones held back (for a flood of refusals).
struct log_limit {
  std::chrono::steady_clock::time_point last{};
  uint64_t held_back = 0;

  /// Whether to log now; `held_back` then says how many were not logged since the last one.
  bool allow(std::chrono::seconds period = std::chrono::seconds(10));

  /// " (N more since the last such message)" after a logged one, or "" (and starts counting again).
  std::string held_back_text();
};

/// What every connection shares with the server (owned by debug_port::impl, outlives all connections).
struct shared {
  debug_port_options opts;
  request_handler handler;
  std::string token;                 // raw 32 bytes (TCP without TLS only)
  std::unique_ptr<boost::asio::ssl::context> tls;  // TCP with mutual TLS
  std::shared_ptr<gate> answers = std::make_shared<gate>();
  std::shared_ptr<debug_port_counters> counters;  // never null
  std::atomic<size_t> open{0};
  log_limit tls_log;                 // used on the server's thread only
};

/// The error response, ready to send.
proto::InspectResponse error_response(uint64_t id, proto::InspectError::Code code, std::string message);

/// Writes one frame without blocking and closes `sock`: for connections refused before they are served.
void refuse(socket_type& sock, proto::InspectError::Code code, const std::string& message);

/// "ADDRESS:PORT" of the TCP socket `fd`'s peer ("a Unix peer" otherwise), for the log.
std::string peer_text(int fd);

/// One served connection: (TLS) the handshake, the hello, (token) authentication, then requests answered one at a
/// time, in order. `Stream` is socket_type or tls_stream; both are instantiated in debug_connection.cpp.
template <class Stream>
class connection : public std::enable_shared_from_this<connection<Stream>> {
public:
  connection(shared& s, Stream stream, bool need_auth);
  ~connection();

  void start();

private:
  using clock = std::chrono::steady_clock;

  void handshake();
  std::string handshake_failure(const boost::system::error_code& ec);
  void tls_refused(const std::string& why);
  void greet();
  void read_more();
  void process();
  void handle(const std::string& payload);
  void answer(proto::InspectResponse r);
  void send(const proto::InspectResponse& r, bool close_after);
  void fail(proto::InspectError::Code code, std::string message);
  void arm(clock::time_point deadline);
  void on_timeout();
  void close();

  shared& s_;
  Stream stream_;
  std::string peer_;
  boost::asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  frame_decoder dec_;
  std::array<char, 4096> chunk_{};
  std::string out_;
  std::string nonce_;
  std::string refusal_;     // TLS: why the client's certificate was refused by name
  bool need_auth_;
  bool handshaking_ = false;
  bool busy_ = false;       // a request is with the handler
  bool writing_ = false;    // a frame is being written
  bool closing_ = false;
  bool counted_ = true;     // counts in shared::open until closed
  clock::time_point auth_deadline_;
  clock::time_point frame_started_{};
};

} // namespace roamd::inspect::detail
