#pragma once

#include <optional>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace roamd::inspect {

/// Parses "IP:PORT" or "[IPv6]:PORT" (any address); nullopt when it is not one.
std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint(std::string_view text);

/// Parses a loopback "IP:PORT" or "[IPv6]:PORT" for a listener (port 0 lets the kernel pick one: tests); nullopt
/// for anything else, so that no listener of the debug port or the metrics endpoint is ever reachable from outside.
std::optional<boost::asio::ip::tcp::endpoint> loopback_endpoint(std::string_view text);

} // namespace roamd::inspect
