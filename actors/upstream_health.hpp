#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/control.pb.h"

namespace roamd::actors {

/// A change of an upstream between up and down, with the reason to log and show.
struct health_change {
  uint32_t id = 0;
  bool up = true;
  std::string reason;
};

/// The upstream health policy, free of actors and clocks (time comes in as `now_ms`): an upstream is marked down
/// after `down_after` consecutive failures with no answer in between, probed every `probe_interval_ms` (backing off
/// up to 8x while probes fail), and marked up again by an answered probe or any answered query.
class upstream_health {
public:
  upstream_health(uint32_t down_after, uint32_t probe_interval_ms);

  /// Registers an upstream so it shows in snapshots before it has traffic.
  void track(uint32_t id, const std::string& address, const std::string& interface);

  std::optional<health_change> on_counters(const proto::UpstreamCounters& c, int64_t now_ms);
  std::optional<health_change> on_probe(const proto::ProbeResult& r, int64_t now_ms);

  /// The down upstreams whose next probe is due; they count as probing until on_probe.
  std::vector<uint32_t> probes_due(int64_t now_ms);

  proto::UpstreamHealthList snapshot() const;
  bool is_up(uint32_t id) const;

private:
  struct entry {
    proto::UpstreamHealth h;
    bool probing = false;
    int64_t next_probe_ms = 0;
    uint32_t failed_probes = 0;
  };

  entry& get(uint32_t id);
  health_change mark(entry& e, bool up, std::string reason, int64_t now_ms);

  uint32_t down_after_;
  uint32_t probe_interval_ms_;
  std::map<uint32_t, entry> entries_;
};

} // namespace roamd::actors
