#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace roamd::net {

/// One query over a fresh TCP connection to an upstream (RFC 7766), used when a UDP answer came back truncated.
/// The whole exchange (connect, write, read) is bounded by `timeout`; answers are at most 65535 bytes by framing.
/// With a non-empty `link` the connection is bound to that network link (see bind_to_link); a nonzero `mark` is set
/// as its SO_MARK (a refusal is left to the worker's UDP sockets to report: the query goes out unmarked).
class tcp_exchange : public std::enable_shared_from_this<tcp_exchange> {
public:
  using callback = std::function<void(bool ok, std::vector<uint8_t>& answer)>;

  tcp_exchange(boost::asio::io_context& ctx, boost::asio::ip::tcp::endpoint to, const std::vector<uint8_t>& query,
               std::chrono::milliseconds timeout, std::string link = {}, uint32_t mark = 0);

  void start(callback done);

private:
  void fail();
  void complete(bool ok);

  boost::asio::ip::tcp::socket sock_;
  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::endpoint to_;
  std::vector<uint8_t> out_;
  uint8_t len_[2] = {0, 0};
  std::vector<uint8_t> in_;
  std::chrono::milliseconds timeout_;
  std::string link_;
  uint32_t mark_;
  callback done_;
};

} // namespace roamd::net
