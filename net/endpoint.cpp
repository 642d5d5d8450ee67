#include "net/endpoint.hpp"

#include <charconv>

namespace roamd::net {

namespace {

std::optional<unsigned short> parse_port(std::string_view s) {
  unsigned value = 0;
  if (s.empty() || s.size() > 5)
    return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<unsigned short>(value);
}

std::optional<boost::asio::ip::address> parse_address(std::string_view s) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string{s}, ec);
  if (ec)
    return std::nullopt;
  return addr;
}

} // namespace

std::optional<boost::asio::ip::udp::endpoint> parse_endpoint(std::string_view text, unsigned short default_port) {
  using boost::asio::ip::udp;
  if (text.empty())
    return std::nullopt;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    auto addr = parse_address(text.substr(1, close - 1));
    if (!addr || !addr->is_v6())
      return std::nullopt;
    auto rest = text.substr(close + 1);
    if (rest.empty())
      return udp::endpoint{*addr, default_port};
    if (rest.front() != ':')
      return std::nullopt;
    auto port = parse_port(rest.substr(1));
    if (!port)
      return std::nullopt;
    return udp::endpoint{*addr, *port};
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    auto addr = parse_address(text);
    if (!addr || !addr->is_v4())
      return std::nullopt;
    return udp::endpoint{*addr, default_port};
  }
  if (text.find(':', colon + 1) != std::string_view::npos) {
    // A bare IPv6 address: allowed without a port only.
    auto addr = parse_address(text);
    if (!addr)
      return std::nullopt;
    return udp::endpoint{*addr, default_port};
  }
  auto addr = parse_address(text.substr(0, colon));
  auto port = parse_port(text.substr(colon + 1));
  if (!addr || !addr->is_v4() || !port)
    return std::nullopt;
  return udp::endpoint{*addr, *port};
}

std::string to_string(const boost::asio::ip::udp::endpoint& ep) {
  auto addr = ep.address().to_string();
  auto port = std::to_string(ep.port());
  if (ep.address().is_v6())
    return "[" + addr + "]:" + port;
  return addr + ":" + port;
}

std::optional<std::string> normalize_domain(std::string_view text) {
  if (!text.empty() && text.back() == '.')
    text.remove_suffix(1);
  if (text.empty() || text.size() > 253)
    return std::nullopt;
  std::string out;
  out.reserve(text.size());
  size_t label = 0;
  for (char c : text) {
    if (c == '.') {
      if (label == 0)
        return std::nullopt;
      label = 0;
      out.push_back('.');
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63)
      return std::nullopt;
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (label == 0)
    return std::nullopt;
  return out;
}

} // namespace roamd::net
