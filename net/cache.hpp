#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "net/dns_codec.hpp"

namespace roamd::net {

/// A bounded, TTL-respecting answer cache shared by the data-plane workers. Entries hold an answer without its OPT
/// record; their TTL is the smallest TTL of the answer and authority records capped at `max_ttl`, or for NXDOMAIN
/// and NODATA answers min(SOA TTL, SOA MINIMUM) capped at `negative_max_ttl` (RFC 2308; no SOA: not cached).
/// Served copies have every TTL reduced by the entry's age. Least recently used entries go first when full
/// (exactly for up to 16383 entries; beyond that across 16 lock stripes, approximately).
/// `now_ms` is a monotonic clock reading supplied by the caller (injected time).
///
/// Memory: one allocation per entry holding a small header, the answer and its TTL offsets; the key is not stored
/// apart, it is the answer's own question (compared case-insensitively) plus the DO and CD bits.
class dns_cache {
public:
  struct key {
    const dns::wire_name& qname;
    uint16_t qtype;
    uint16_t qclass;
    bool dnssec_ok;
    bool checking_disabled;
    uint32_t generation = 0;  // of the routing table the answer was resolved under: a swap never serves stale routes
  };

  struct limits {
    size_t capacity = 10000;
    uint32_t max_ttl = 86400;
    uint32_t negative_max_ttl = 3600;
    /// Bytes the entries may take in all (0: 512 per entry of capacity, at least 1 MiB), so that a client asking
    /// for huge answers cannot grow the cache past the size its entry count suggests.
    size_t max_bytes = 0;
  };

  explicit dns_cache(limits lim);
  ~dns_cache();

  /// Copies a live entry into `out` with the caller's ID and aged TTLs. Returns its size, or 0 on a miss (absent,
  /// expired, or larger than `cap`).
  size_t lookup(const key& k, uint16_t id, uint64_t now_ms, uint8_t* out, size_t cap);

  /// Stores an answer when it is cacheable (NOERROR or NXDOMAIN, not truncated, one question equal to the key's,
  /// OPT absent or last). `msg` is not modified. Returns true when stored.
  bool insert(const key& k, const uint8_t* msg, size_t size, const dns::response_info& r, uint64_t now_ms);

  void clear();
  size_t size() const;
  size_t capacity() const {
    return lim_.capacity;
  }

  class stripe;

private:
  limits lim_;
  std::vector<std::unique_ptr<stripe>> stripes_;
};

} // namespace roamd::net
