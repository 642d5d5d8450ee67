#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "proto/control.pb.h"

namespace roamd::os {

/// The three kernel tables the link monitor mirrors, one dump request each.
enum class nl_table { links, addresses, routes };

/// One network link as the kernel reports it in RTM_NEWLINK.
struct link_state {
  std::uint32_t index = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND ("veth", "tun", ...), "loopback" for IFF_LOOPBACK without one, "" otherwise
  bool up = false;             // IFF_UP
  bool carrier = false;        // IFF_LOWER_UP
  bool loopback = false;       // IFF_LOOPBACK
  bool point_to_point = false; // IFF_POINTOPOINT

  bool operator==(const link_state& o) const;
  bool operator!=(const link_state& o) const {
    return !(*this == o);
  }
};

/// An IP address (4 or 16 bytes used) with its family.
struct ip_bytes {
  std::uint8_t family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};

  bool operator<(const ip_bytes& o) const;
  bool operator==(const ip_bytes& o) const;
};

/// One interface address: the identity the kernel uses for RTM_NEWADDR/RTM_DELADDR.
struct address_key {
  std::uint32_t index = 0;
  ip_bytes address;
  std::uint8_t prefix = 0;

  bool operator<(const address_key& o) const;
};

/// One unicast route (a multipath route is stored as one entry per next hop).
struct route_key {
  std::uint8_t family = 0;
  std::uint32_t table = 0;
  ip_bytes destination;  // all zero for a default route
  std::uint8_t prefix = 0;
  std::uint32_t metric = 0;
  std::uint32_t oif = 0;
  bool has_gateway = false;
  ip_bytes gateway;

  bool operator<(const route_key& o) const;
};

/// "192.0.2.1" or "2001:db8::1" ("" for an unknown family).
std::string to_string(const ip_bytes& a);

/// The link monitor's picture of the kernel: links, addresses and routes, updated message by message, with a
/// mark-and-sweep for dumps (entries a complete dump did not mention are gone). Pure data, no I/O.
class adapter_model {
public:
  /// Inserts or replaces a link. Returns whether the model changed.
  bool put_link(const link_state& l);

  /// Removes a link together with its addresses and the routes through it. Returns whether the model changed.
  bool erase_link(std::uint32_t index);

  bool put_address(const address_key& a);
  bool erase_address(const address_key& a);
  bool put_route(const route_key& r);
  /// `ip route replace`: drops the routes `r` takes the place of (same family, table, destination and metric),
  /// then puts `r`.
  bool replace_route(const route_key& r);
  bool erase_route(const route_key& r);

  /// The link with this index, or nullptr.
  const link_state* find_link(std::uint32_t index) const;

  /// Starts a dump of `t`: returns the mark to hand to `end_sweep` when the dump is complete.
  std::uint64_t begin_sweep(nl_table t);

  /// Ends a complete dump of `t`: drops the entries neither the dump nor an event mentioned since `mark`.
  /// Returns whether the model changed.
  bool end_sweep(nl_table t, std::uint64_t mark);

  std::size_t link_count() const {
    return links_.size();
  }
  std::size_t address_count() const {
    return addresses_.size();
  }
  std::size_t route_count() const {
    return routes_.size();
  }

  /// The whole picture: links by index (each with its addresses, IPv4 first), routes sorted (IPv4 first, then by
  /// table, destination, metric, link, gateway). `sequence` and `unix_ms` are left for the caller.
  proto::AdapterSnapshot snapshot() const;

private:
  struct stamped_link {
    link_state link;
    std::uint64_t seen = 0;
  };

  std::uint64_t epoch_ = 0;
  std::map<std::uint32_t, stamped_link> links_;
  std::map<address_key, std::uint64_t> addresses_;
  std::map<route_key, std::uint64_t> routes_;
};

} // namespace roamd::os
