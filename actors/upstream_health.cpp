#include "actors/upstream_health.hpp"

#include <algorithm>

namespace roamd::actors {

upstream_health::upstream_health(uint32_t down_after, uint32_t probe_interval_ms)
    : down_after_(std::max<uint32_t>(1, down_after)), probe_interval_ms_(std::max<uint32_t>(1, probe_interval_ms)) {
}

upstream_health::entry& upstream_health::get(uint32_t id) {
  auto [it, fresh] = entries_.try_emplace(id);
  if (fresh) {
    it->second.h.set_id(id);
    it->second.h.set_up(true);
  }
  return it->second;
}

void upstream_health::track(uint32_t id, const std::string& address, const std::string& interface) {
  auto& e = get(id);
  e.h.set_address(address);
  e.h.set_interface(interface);
}

health_change upstream_health::mark(entry& e, bool up, std::string reason, int64_t now_ms) {
  e.h.set_up(up);
  e.h.set_changed_unix_ms(now_ms);
  e.h.set_reason(reason);
  e.probing = false;
  e.failed_probes = 0;
  e.next_probe_ms = now_ms + probe_interval_ms_;
  if (up)
    e.h.set_consecutive_failures(0);
  return health_change{e.h.id(), up, std::move(reason)};
}

std::optional<health_change> upstream_health::on_counters(const proto::UpstreamCounters& c, int64_t now_ms) {
  auto& e = get(c.id());
  auto& h = e.h;
  h.set_sent(h.sent() + c.sent());
  h.set_answered(h.answered() + c.answered());
  h.set_timeouts(h.timeouts() + c.timeouts());
  if (c.rtt_count() > 0) {
    uint64_t avg = c.rtt_sum_us() / c.rtt_count();
    h.set_srtt_us(h.srtt_us() == 0 ? avg : (7 * h.srtt_us() + avg) / 8);
  }
  if (c.answered() > 0) {
    h.set_consecutive_failures(0);
    if (!h.up())
      return mark(e, true, "answered queries again", now_ms);
    return std::nullopt;
  }
  uint64_t failures = c.timeouts() + c.send_errors();
  if (failures == 0)
    return std::nullopt;
  h.set_consecutive_failures(static_cast<uint32_t>(std::min<uint64_t>(h.consecutive_failures() + failures, 1u << 30)));
  if (h.up() && h.consecutive_failures() >= down_after_)
    return mark(e, false, std::to_string(h.consecutive_failures()) + " consecutive failures (timeouts or send errors)",
                now_ms);
  return std::nullopt;
}

std::optional<health_change> upstream_health::on_probe(const proto::ProbeResult& r, int64_t now_ms) {
  auto& e = get(r.id());
  e.probing = false;
  if (r.ok()) {
    if (!e.h.up())
      return mark(e, true, "probe answered in " + std::to_string(r.rtt_us()) + " us", now_ms);
    return std::nullopt;
  }
  e.failed_probes = std::min<uint32_t>(e.failed_probes + 1, 3);
  e.next_probe_ms = now_ms + int64_t{probe_interval_ms_} * (int64_t{1} << e.failed_probes);
  return std::nullopt;
}

std::vector<uint32_t> upstream_health::probes_due(int64_t now_ms) {
  std::vector<uint32_t> due;
  for (auto& [id, e] : entries_)
    if (!e.h.up() && !e.probing && now_ms >= e.next_probe_ms) {
      e.probing = true;
      due.push_back(id);
    }
  return due;
}

proto::UpstreamHealthList upstream_health::snapshot() const {
  proto::UpstreamHealthList out;
  for (auto& [id, e] : entries_)
    *out.add_upstreams() = e.h;
  return out;
}

bool upstream_health::is_up(uint32_t id) const {
  auto it = entries_.find(id);
  return it == entries_.end() || it->second.h.up();
}

} // namespace roamd::actors
