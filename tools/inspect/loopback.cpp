#include "tools/inspect/loopback.hpp"

#include <charconv>
#include <string>

namespace roamd::inspect {

std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return std::nullopt;
  boost::system::error_code bad;
  auto addr = boost::asio::ip::make_address(std::string{host}, bad);
  if (bad)
    return std::nullopt;
  return boost::asio::ip::tcp::endpoint{addr, static_cast<unsigned short>(port)};
}

std::optional<boost::asio::ip::tcp::endpoint> loopback_endpoint(std::string_view text) {
  auto ep = tcp_endpoint(text);
  if (!ep || !ep->address().is_loopback())
    return std::nullopt;
  return ep;
}

} // namespace roamd::inspect
