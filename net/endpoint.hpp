#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/udp.hpp>

namespace roamd::net {

/// Parses "IP:PORT", "[IPv6]:PORT", or a bare IP (port `default_port`). Returns nullopt on anything else,
/// including port 0, a bare IPv6 address with a port-like suffix, or trailing garbage.
std::optional<boost::asio::ip::udp::endpoint> parse_endpoint(std::string_view text, unsigned short default_port = 53);

/// Formats an endpoint as parse_endpoint accepts it: "1.2.3.4:53" or "[::1]:53".
std::string to_string(const boost::asio::ip::udp::endpoint& ep);

/// Validates a domain name given as text and returns it in canonical form: lower case, no trailing dot.
/// Accepts letters, digits, '-' and '_' in labels of 1..63 characters, at most 253 characters in all.
/// "." and "" (the root) are rejected: the default route is not a domain.
std::optional<std::string> normalize_domain(std::string_view text);

} // namespace roamd::net
