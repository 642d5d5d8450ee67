#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/udp.hpp>

namespace roamd::net {

/// One upstream resolver as the data plane sees it. The `up` flag is written by the upstream-I/O actor and read by
/// the data plane when it orders a route's resolvers; everything else is immutable after creation.
struct upstream {
  uint32_t id = 0;
  boost::asio::ip::udp::endpoint endpoint;
  std::string interface;  // bind to this link; "" = let the routing table decide
  std::string name;       // "IP:PORT" or "IP:PORT%if", for logs
  std::atomic<bool> up{true};
};

/// Hands out one `upstream` object per (endpoint, interface), with dense ids, so that routing snapshots built at
/// different times share health and counters. Thread-safe.
class upstream_registry {
public:
  std::shared_ptr<upstream> get(const boost::asio::ip::udp::endpoint& ep, const std::string& interface = {});

  /// The upstream with this id, or null.
  std::shared_ptr<upstream> find(uint32_t id) const;

  std::vector<std::shared_ptr<upstream>> all() const;

  size_t size() const;

private:
  mutable std::mutex mtx_;
  std::vector<std::shared_ptr<upstream>> by_id_;
};

} // namespace roamd::net
