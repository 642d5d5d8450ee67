#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/dns_codec.hpp"
#include "net/query_log.hpp"

namespace roamd::net {

/// One answered query as the recent-queries ring keeps it: fixed size, so recording never allocates.
struct recent_query {
  int64_t unix_us = 0;  // when the query was read
  uint32_t latency_us = 0;
  uint16_t qtype = 0;
  uint8_t rcode = 0;  // the answer's (header) rcode
  answer_source source = answer_source::error;
  fallback_result fallback = fallback_result::not_run;
  bool tcp = false;
  sockaddr_storage client{};
  dns::wire_name qname;  // size 0: the question did not parse
  char route[96] = {};     // the route's domain ("." = default; cut at 95 bytes), "" when not relayed from upstream
  char resolver[64] = {};  // the resolver whose answer the client got ("IP:PORT" or "IP:PORT%if"), "" when none
};

/// The opt-in ring of recent queries the debug port shows (`roamctl queries`): the last `capacity` answers of each
/// worker, each worker writing its own shard under its own (uncontended) lock.
class query_ring final : public query_observer {
public:
  static constexpr size_t max_capacity = 10000;

  query_ring(size_t capacity, uint32_t workers);

  void observe(const query_event& e) noexcept override;
  bool wants_queries() const noexcept override {
    return false;
  }

  /// The newest `limit` entries over every worker (0: all kept), oldest first.
  std::vector<recent_query> snapshot(size_t limit) const;

  size_t capacity() const {
    return capacity_;
  }

private:
  struct shard {
    mutable std::mutex mtx;
    std::vector<recent_query> entries;  // a ring once full
    size_t next = 0;
  };
  size_t capacity_;
  std::vector<std::unique_ptr<shard>> shards_;
};

/// "IP:PORT" ("[IP]:PORT" for IPv6) of a socket address; "" when it is neither.
std::string address_text(const sockaddr* sa, socklen_t len);

} // namespace roamd::net
