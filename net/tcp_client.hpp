#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace roamd::net {

class worker;

/// A DNS-over-TCP client connection (RFC 7766): length-prefixed queries, pipelined and answered out of order,
/// closed after an idle period, when the client stops reading its answers, or on a frame too short to be DNS.
class tcp_client : public std::enable_shared_from_this<tcp_client> {
public:
  static constexpr size_t max_in_flight = 32;          // stop reading while this many queries are unanswered
  static constexpr size_t max_queued_bytes = 1 << 20;  // a client that does not read its answers is dropped
  static constexpr size_t max_query_size = 4096;       // as for UDP: a larger query frame closes the connection

  /// `listener`: the index of the worker's listener that accepted it.
  tcp_client(worker& w, boost::asio::ip::tcp::socket sock, uint16_t listener);

  void start();
  /// Closes the connection to make room for another client (counted as tcp_evicted).
  void evict();
  /// True when no query of this client is unanswered: it may be evicted at the connection limit.
  bool idle() const {
    return !closed_ && in_flight_ == 0 && out_.empty();
  }
  bool closed() const {
    return closed_;
  }
  std::chrono::steady_clock::time_point last_active() const {
    return last_active_;
  }
  /// Queues one answer (framed here). Safe after close: then it is dropped.
  void send(const uint8_t* msg, size_t size);
  /// One of this client's queries was dropped without an answer (counted by the worker): it no longer counts as
  /// in flight.
  void dropped();

private:
  void read_length();
  void read_body(size_t n);
  void write_next();
  void arm_idle();
  void close();

  worker& worker_;
  boost::asio::ip::tcp::socket sock_;
  boost::asio::steady_timer idle_;
  uint16_t listener_ = 0;
  sockaddr_storage peer_{};  // the client's address, for query observers
  socklen_t peer_len_ = 0;
  uint8_t len_[2] = {0, 0};
  std::vector<uint8_t> body_;
  std::deque<std::vector<uint8_t>> out_;
  size_t queued_bytes_ = 0;
  size_t in_flight_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  uint64_t activity_ = 0;  // bumped on every complete frame and every answer written
  std::chrono::steady_clock::time_point last_active_ = std::chrono::steady_clock::now();
};

} // namespace roamd::net
