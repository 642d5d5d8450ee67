#include "net/stats.hpp"

#include "net/query_log.hpp"

namespace roamd::net {

const char* to_string(answer_source s) {
  switch (s) {
    case answer_source::cache:
      return "cache";
    case answer_source::upstream:
      return "upstream";
    case answer_source::local:
      return "local";
    case answer_source::error:
      return "error";
  }
  return "unknown";
}

const char* to_string(fallback_result r) {
  switch (r) {
    case fallback_result::not_run:
      return "";
    case fallback_result::used:
      return "used";
    case fallback_result::kept:
      return "kept_nxdomain";
  }
  return "unknown";
}

const char* to_string(drop_reason r) {
  switch (r) {
    case drop_reason::too_short:
      return "too_short";
    case drop_reason::not_a_query:
      return "not_a_query";
    case drop_reason::oversized:
      return "oversized";
    case drop_reason::answer_malformed:
      return "answer_malformed";
    case drop_reason::answer_unmatched:
      return "answer_unmatched";
    case drop_reason::answer_wrong_source:
      return "answer_wrong_source";
    case drop_reason::answer_mismatch:
      return "answer_mismatch";
    case drop_reason::overload:
      return "overload";
    case drop_reason::tcp_limit:
      return "tcp_limit";
    case drop_reason::tcp_evicted:
      return "tcp_evicted";
    case drop_reason::tcp_bad_frame:
      return "tcp_bad_frame";
    case drop_reason::tcp_idle:
      return "tcp_idle";
    case drop_reason::tcp_slow_reader:
      return "tcp_slow_reader";
    case drop_reason::send_failed:
      return "send_failed";
    case drop_reason::count_:
      break;
  }
  return "unknown";
}

bool worker_stats::empty() const {
  if (queries_udp || queries_tcp || answers || cache_hits || cache_misses || servfail_sent || formerr_sent
      || notimp_sent || untagged_cloud || local_answers || fallback_sent || fallback_used || intercepted || original_kept || loops_broken || !upstreams.empty()
      || latency.sum_us || latency.counts[0] || !route_answers.empty())
    return false;
  for (auto d : drops)
    if (d)
      return false;
  return true;
}

} // namespace roamd::net
