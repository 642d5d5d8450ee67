#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace roamd::net {

/// Why the data plane dropped something. Every drop is counted under exactly one reason.
enum class drop_reason : uint8_t {
  too_short,          // client datagram under 12 bytes: no reply possible
  not_a_query,        // QR bit set on something sent to the listener
  oversized,          // client datagram larger than the receive buffer
  answer_malformed,   // upstream answer that does not parse
  answer_unmatched,   // upstream answer for no pending query (late, duplicate or forged ID/port)
  answer_wrong_source,// upstream answer from an address/port the query was not sent to
  answer_mismatch,    // upstream answer whose question differs from the query's
  overload,           // too many queries in flight: SERVFAIL sent
  tcp_limit,          // TCP connection refused at the connection limit (every slot busy with queries)
  tcp_evicted,        // idle TCP connection closed to make room for a new client at the limit
  tcp_bad_frame,      // TCP frame shorter than a DNS header
  tcp_idle,           // TCP connection closed after the idle timeout
  tcp_slow_reader,    // TCP connection closed because its reply queue overflowed
  send_failed,        // a reply could not be sent (socket buffer full, client gone)
  count_
};

constexpr size_t drop_reason_count = static_cast<size_t>(drop_reason::count_);

const char* to_string(drop_reason r);

/// Upper bounds (microseconds, inclusive) of the latency histogram's buckets; one more bucket counts the rest.
/// The same bounds as Prometheus's default buckets from 100 us to 5 s, so that a scrape needs no conversion.
constexpr std::array<uint32_t, 15> latency_bounds_us = {100,    250,    500,    1000,    2500,    5000,    10000,  25000,
                                                        50000,  100000, 250000, 500000, 1000000, 2500000, 5000000};
constexpr size_t latency_buckets = latency_bounds_us.size() + 1;

/// A latency histogram over one batch interval: per-bucket (not cumulative) counts and the sum.
struct latency_histogram {
  std::array<uint64_t, latency_buckets> counts{};
  uint64_t sum_us = 0;

  void add(uint64_t us) {
    size_t i = 0;
    while (i < latency_bounds_us.size() && us > latency_bounds_us[i])
      ++i;
    ++counts[i];
    sum_us += us;
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (auto c : counts)
      n += c;
    return n;
  }
};

/// Per-upstream counters over one batch interval.
struct upstream_counters {
  uint32_t id = 0;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t timeouts = 0;
  uint64_t bad_answers = 0;
  uint64_t servfail = 0;
  uint64_t rtt_sum_us = 0;
  uint64_t rtt_count = 0;
  uint64_t tcp_fallbacks = 0;
  uint64_t send_errors = 0;

  bool empty() const {
    return sent == 0 && answered == 0 && timeouts == 0 && bad_answers == 0 && send_errors == 0 && tcp_fallbacks == 0;
  }
};

/// One worker's counters over one batch interval, handed to the control plane every ~100 ms (never per query).
struct worker_stats {
  uint32_t worker = 0;
  uint64_t queries_udp = 0;
  uint64_t queries_tcp = 0;
  uint64_t answers = 0;  // every reply sent to a client (errors roamd made included)
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t servfail_sent = 0;
  uint64_t formerr_sent = 0;
  uint64_t notimp_sent = 0;
  uint64_t untagged_cloud = 0;  // cloud queries sent without identity (signed queries)
  uint64_t local_answers = 0;   // answered by roamd itself (canary names), also counted in `answers`
  uint64_t fallback_sent = 0;   // NXDOMAIN answers that sent the query on to the route's fallback resolvers
  uint64_t fallback_used = 0;   // ... of which the client got the fallback's (NOERROR) answer
  uint64_t intercepted = 0;     // queries that reached roamd through the interception rules
  uint64_t original_kept = 0;   // ... of which were sent to the server the client chose (an internal name)
  uint64_t loops_broken = 0;    // queries that came round again (the loop guard): answered SERVFAIL or re-routed
  std::array<uint64_t, drop_reason_count> drops{};
  std::vector<upstream_counters> upstreams;  // only those with activity
  /// From reading a client's query to queuing its answer, for every answered query (errors included) ...
  latency_histogram latency;
  /// ... and for those answered after an upstream exchange (cache misses).
  latency_histogram upstream_latency;
  /// Answers relayed from upstream, by route (the route's domain, "." for the default route).
  std::unordered_map<std::string, uint64_t> route_answers;

  bool empty() const;
};

} // namespace roamd::net
