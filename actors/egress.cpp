#include "actors/egress.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "net/resolver_address.hpp"

namespace roamd::actors {

namespace {

constexpr uint32_t main_table = 254;

/// Whether the first `prefix` bits of two same-family addresses agree.
bool in_prefix(const boost::asio::ip::address& a, const boost::asio::ip::address& net, unsigned prefix) {
  if (a.is_v4() != net.is_v4())
    return false;
  auto bytes_of = [](const boost::asio::ip::address& x) {
    if (x.is_v4()) {
      auto b = x.to_v4().to_bytes();
      return std::string(b.begin(), b.end());
    }
    auto b = x.to_v6().to_bytes();
    return std::string(b.begin(), b.end());
  };
  auto x = bytes_of(a), y = bytes_of(net);
  if (prefix > x.size() * 8)
    return false;
  for (unsigned bit = 0; bit < prefix; ++bit) {
    auto mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((static_cast<uint8_t>(x[bit / 8]) & mask) != (static_cast<uint8_t>(y[bit / 8]) & mask))
      return false;
  }
  return true;
}

std::optional<boost::asio::ip::address> address_of(const std::string& text) {
  if (auto r = net::parse_resolver(text))  // "IP:PORT" or "tls://IP:PORT#NAME"
    return r->endpoint.address();
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(text, ec);
  if (ec)
    return std::nullopt;
  return a;
}

} // namespace

namespace {

/// The main-table route with carrier that covers `addr` most specifically, and its prefix length.
const proto::KernelRoute* best_route(const boost::asio::ip::address& addr, const proto::AdapterSnapshot& adapters,
                                     int& best_prefix) {
  const proto::KernelRoute* best = nullptr;
  best_prefix = -1;
  for (const auto& r : adapters.routes()) {
    if (r.table() != main_table && r.table() != 0)
      continue;
    auto slash = r.destination().find('/');
    auto net_addr = address_of(r.destination().substr(0, slash));
    if (!net_addr || slash == std::string::npos)
      continue;
    int prefix = std::atoi(r.destination().c_str() + slash + 1);
    bool carrier = false;
    for (const auto& l : adapters.links())
      if (l.index() == r.index())
        carrier = l.up() && l.carrier();
    if (!carrier || !in_prefix(addr, *net_addr, static_cast<unsigned>(prefix)))
      continue;
    if (prefix > best_prefix || (prefix == best_prefix && best && r.metric() < best->metric())) {
      best = &r;
      best_prefix = prefix;
    }
  }
  return best;
}

} // namespace

std::string egress_for(const std::string& address, const proto::AdapterSnapshot& adapters) {
  auto addr = address_of(address);
  if (!addr)
    return {};
  if (addr->is_loopback())
    return "lo";
  int prefix = -1;
  auto* best = best_route(*addr, adapters, prefix);
  return best ? best->interface() : std::string{};
}

std::string owning_link(const std::string& address, const proto::AdapterSnapshot& adapters) {
  auto addr = address_of(address);
  if (!addr || addr->is_loopback())
    return {};
  int prefix = -1;
  auto* best = best_route(*addr, adapters, prefix);
  return best && prefix > 0 ? best->interface() : std::string{};
}

const proto::Link* find_link(const proto::AdapterSnapshot& snap, const std::string& name) {
  for (const auto& l : snap.links())
    if (l.name() == name)
      return &l;
  return nullptr;
}

bool link_alive(const proto::AdapterSnapshot& snap, const std::string& name) {
  auto* l = find_link(snap, name);
  return l && l->up() && l->carrier();
}

bool all_loopback(const std::vector<std::string>& servers) {
  return !servers.empty() && std::all_of(servers.begin(), servers.end(), [](const std::string& s) {
    auto a = address_of(s);
    return a && a->is_loopback();
  });
}

void annotate_egress(proto::RoutingSnapshot& snap, const proto::AdapterSnapshot& adapters) {
  for (auto& r : *snap.mutable_routes())
    r.set_egress(r.resolvers_size() > 0 ? egress_for(r.resolvers(0), adapters) : std::string{});
}

} // namespace roamd::actors
