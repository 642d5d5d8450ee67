#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/resolver_address.hpp"

namespace roamd::net {

/// One upstream resolver as the data plane sees it. The `up` flag is written by the upstream-I/O actor and read by
/// the data plane when it orders a route's resolvers; everything else is immutable after creation.
struct upstream {
  uint32_t id = 0;
  boost::asio::ip::udp::endpoint endpoint;
  std::string interface;  // bind to this link; "" = let the routing table decide
  std::string name;       // "IP:PORT" or "IP:PORT%if" (DoT: "tls://IP:PORT#NAME", DoH: "https://IP:PORT/PATH#NAME")
  bool tls = false;       // DNS over TLS (RFC 7858) to `endpoint`, with the settings below ...
  bool https = false;     // ... or DNS over HTTPS (RFC 8484) when this is set too, to `https_path`
  std::string https_path;
  std::string tls_name;   // SNI and the certificate's name; "" = the certificate must carry the IP address
  std::string tls_pin;    // SHA-256 of a SubjectPublicKeyInfo of the verified chain (32 bytes), or ""
  std::atomic<bool> up{true};
};

/// Hands out one `upstream` object per (resolver, interface), with dense ids, so that routing snapshots built at
/// different times share health and counters. Thread-safe.
class upstream_registry {
public:
  std::shared_ptr<upstream> get(const resolver_address& r, const std::string& interface = {});
  /// A plain-DNS resolver.
  std::shared_ptr<upstream> get(const boost::asio::ip::udp::endpoint& ep, const std::string& interface = {}) {
    return get(resolver_address{ep, false, false, {}, {}, {}}, interface);
  }

  /// The upstream with this id, or null.
  std::shared_ptr<upstream> find(uint32_t id) const;

  std::vector<std::shared_ptr<upstream>> all() const;

  size_t size() const;

private:
  mutable std::mutex mtx_;
  std::vector<std::shared_ptr<upstream>> by_id_;
};

} // namespace roamd::net
