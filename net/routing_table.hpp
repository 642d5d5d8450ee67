#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/dns_build.hpp"
#include "net/dns_codec.hpp"
#include "net/upstream.hpp"

namespace roamd::net {

/// Where the queries for one domain (and everything below it) go.
struct route {
  std::string domain;  // canonical text (lower case, no trailing dot); "" for the default route
  std::vector<std::shared_ptr<upstream>> resolvers;
  /// Asked when `resolvers` answer NXDOMAIN (never with the identity option); their NOERROR answer (NODATA too)
  /// replaces the NXDOMAIN, anything else keeps it. Empty: the NXDOMAIN is final.
  std::vector<std::shared_ptr<upstream>> fallback;
  /// Asked like `fallback`, but only for names that can be local (routing_table::may_be_local): the physical
  /// network's resolvers, which must not learn every name the cloud does not know.
  std::vector<std::shared_ptr<upstream>> local_fallback;
  /// `fallback` then `local_fallback` (filled by the routing table): what a name that can be local may ask.
  std::vector<std::shared_ptr<upstream>> any_fallback;
  bool tag_identity = false;
  /// Some resolver is on loopback (a local proxy, which may forward back to roamd): set by the routing table; such
  /// queries are counted by the loop guard (net/interception.hpp).
  bool to_loopback = false;
  std::string source;  // "config", "cloud", "vpn", ... for inspection
};

/// An immutable routing snapshot: longest-suffix match of a query name over the routes, case-insensitive,
/// falling back to the default route. Built by the query-routing actor, read by every data-plane worker.
class routing_table {
public:
  /// `routes` must have distinct domains; `fallback` is the default route (domain ""). `device_id` is the
  /// identity tagged onto queries of routes with tag_identity (absent: nothing is tagged).
  routing_table(std::vector<route> routes, route fallback, std::optional<std::array<uint8_t, 8>> device_id,
                uint64_t generation, std::vector<std::string> local_names = {});

  /// Whether `qname` (lower-cased wire format) can be a local name: a single label, or at or below one of the
  /// table's local names (the network's search domains, local, home.arpa, lan, the RFC 6303 zones, ...).
  bool may_be_local(const dns::wire_name& qname) const;

  /// The fallback resolvers of `r` that `qname` may ask after an NXDOMAIN (empty: the NXDOMAIN is final).
  const std::vector<std::shared_ptr<upstream>>& fallback_for(const route& r, const dns::wire_name& qname) const {
    return r.local_fallback.empty() || !may_be_local(qname) ? r.fallback : r.any_fallback;
  }

  /// The route for a (lower-cased, wire-format) query name.
  const route& lookup(const dns::wire_name& qname) const;

  /// The identity option to add for `r`, or null.
  const dns::identity_option* identity_for(const route& r) const {
    return r.tag_identity && identity_ ? &*identity_ : nullptr;
  }

  uint64_t generation() const {
    return generation_;
  }
  const std::vector<route>& routes() const {
    return routes_;
  }
  const route& fallback() const {
    return fallback_;
  }

  /// Encodes a canonical text domain ("corp.test") as lower-case wire format, for tests and lookups by text.
  static std::optional<dns::wire_name> to_wire(const std::string& domain);

private:
  struct slot {
    uint64_t hash = 0;
    uint32_t index = 0;  // into routes_, +1; 0 = empty
  };

  std::vector<route> routes_;
  std::vector<dns::wire_name> wire_;  // per route
  std::vector<slot> slots_;           // open addressing, power-of-two size
  route fallback_;
  std::vector<dns::wire_name> local_names_;
  std::optional<dns::identity_option> identity_;
  uint64_t generation_;
};

} // namespace roamd::net
