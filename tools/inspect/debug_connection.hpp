#pragma once

// Private to debug_port (and, for the gate, metrics_http): the server's shared parts and one connection's protocol.

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tools/inspect/debug_port.hpp"

namespace roamd::inspect::detail {

using socket_type = boost::asio::generic::stream_protocol::socket;

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

/// What every connection shares with the server (owned by debug_port::impl, outlives all connections).
struct shared {
  debug_port_options opts;
  request_handler handler;
  std::string token;                 // raw 32 bytes (TCP only)
  std::shared_ptr<gate> answers = std::make_shared<gate>();
  debug_port_counters counters;
  std::atomic<size_t> open{0};
};

/// The error response, ready to send.
proto::InspectResponse error_response(uint64_t id, proto::InspectError::Code code, std::string message);

/// Writes one frame without blocking and closes `sock`: for connections refused before they are served.
void refuse(socket_type& sock, proto::InspectError::Code code, const std::string& message);

/// One served connection: hello, (TCP) authentication, then requests answered one at a time, in order.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(shared& s, socket_type sock, bool need_auth);
  ~connection();

  void start();

private:
  using clock = std::chrono::steady_clock;

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
  socket_type sock_;
  boost::asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  frame_decoder dec_;
  std::array<char, 4096> chunk_{};
  std::string out_;
  std::string nonce_;
  bool need_auth_;
  bool busy_ = false;       // a request is with the handler
  bool writing_ = false;    // a frame is being written
  bool closing_ = false;
  bool counted_ = true;     // counts in shared::open until closed
  clock::time_point auth_deadline_;
  clock::time_point frame_started_{};
};

} // namespace roamd::inspect::detail
