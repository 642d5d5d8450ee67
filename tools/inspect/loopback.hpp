#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace roamd::inspect {

/// Parses "IP:PORT" or "[IPv6]:PORT" (any address); nullopt when it is not one.
std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint(std::string_view text);

/// Parses a loopback "IP:PORT" or "[IPv6]:PORT" for a listener (port 0 lets the kernel pick one: tests); nullopt
/// for anything else, so that no listener of the debug port or the metrics endpoint is ever reachable from outside.
std::optional<boost::asio::ip::tcp::endpoint> loopback_endpoint(std::string_view text);

/// Opens `acceptor` for `where`, binds it (SO_REUSEADDR) and listens: "" on success, else "cannot listen on
/// `label`: why". Works for any Asio acceptor (TCP, or generic for the debug port's Unix and TCP listeners).
template <class Acceptor, class Endpoint>
std::string listen_on(Acceptor& acceptor, const Endpoint& where, std::string_view label) {
  boost::system::error_code ec;
  acceptor.open(where.protocol(), ec);
  if (!ec)
    acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(where, ec);
  if (!ec)
    acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  return ec ? "cannot listen on " + std::string{label} + ": " + ec.message() : "";
}

} // namespace roamd::inspect
