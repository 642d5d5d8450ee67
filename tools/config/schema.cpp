#include "tools/config/schema.hpp"

#include <algorithm>
#include <vector>

namespace roamd::config::detail {

namespace {

/// Every key the loader accepts, as {section, key}. The one list that unknown-key checks and suggestions read.
constexpr suggestion known_keys[] = {
  {"listen", "addresses"},
  {"cloud", "resolvers"},
  {"cloud", "device_id"},
  {"cloud", "ca_file"},
  {"cloud", "org_file"},
  {"cloud", "api"},
  {"cloud", "api_ca_file"},
  {"cloud", "api_proxy"},
  {"cloud", "sync_interval_s"},
  {"cloud", "sync_jitter_s"},
  {"cloud", "heartbeat_interval_s"},
  {"cloud", "api_timeout_ms"},
  {"cloud", "transport"},
  {"internal", "domain"},
  {"internal", "resolvers"},
  {"cache", "size"},
  {"cache", "max_ttl"},
  {"cache", "negative_max_ttl"},
  {"upstream", "timeout_ms"},
  {"upstream", "attempts"},
  {"upstream", "source_ports"},
  {"upstream", "down_after"},
  {"upstream", "probe_interval_ms"},
  {"upstream", "port_rotation_ms"},
  {"upstream", "nxdomain_fallback"},
  {"tcp", "max_connections"},
  {"tcp", "idle_timeout_ms"},
  {"system", "mode"},
  {"system", "resolv_conf"},
  {"system", "state_dir"},
  {"system", "canary_timeout_ms"},
  {"arbitration", "contest_limit"},
  {"arbitration", "contest_window_ms"},
  {"arbitration", "quiet_ms"},
  {"arbitration", "cap_ms"},
  {"arbitration", "interception"},
  {"arbitration", "socket_mark"},
  {"arbitration", "yield_backoff_ms"},
  {"arbitration", "yield_backoff_max_ms"},
  {"arbitration", "intercept_always"},
  {"arbitration", "link_settings_poll_ms"},
  {"debug", "enabled"},
  {"debug", "socket"},
  {"debug", "tcp"},
  {"debug", "tls_cert"},
  {"debug", "tls_key"},
  {"debug", "tls_client_ca"},
  {"debug", "tls_client_names"},
  {"debug", "metrics"},
  {"debug", "recent_queries"},
  {"dnstap", "socket"},
  {"dnstap", "file"},
  {"dnstap", "identity"},
  {"dnstap", "client_queries"},
  {"dnstap", "client_responses"},
  {"network", "detection"},
  {"network", "fail_mode"},
  {"network", "trusted_domain"},
  {"network", "protected_probe_name"},
  {"network", "protected_probe_address"},
  {"network", "probe_interval_ms"},
  {"network", "stable_probe_interval_ms"},
  {"network", "open_probe_interval_ms"},
  {"daemon", "workers"},
  {"daemon", "log_level"},
  {"daemon", "log_target"},
};

/// Whether `typed` is close enough to `known` to be a typo of it: a third of its letters, at most two edits.
bool close(std::string_view typed, std::string_view known) {
  auto limit = std::min<size_t>(2, std::max<size_t>(1, known.size() / 3));
  return edit_distance(typed, known) <= limit;
}

} // namespace

std::vector<suggestion> all_keys() {
  return {std::begin(known_keys), std::end(known_keys)};
}

bool is_section(std::string_view section) {
  return std::any_of(std::begin(known_keys), std::end(known_keys),
                     [&](const suggestion& k) { return k.section == section; });
}

bool is_key(std::string_view section, std::string_view key) {
  return std::any_of(std::begin(known_keys), std::end(known_keys),
                     [&](const suggestion& k) { return k.section == section && k.key == key; });
}

std::optional<suggestion> suggest(std::string_view section, std::string_view key) {
  // A typo of a sibling first, then of a section name (top level only), then the same key elsewhere.
  for (const auto& k : known_keys)
    if (!section.empty() && k.section == section && close(key, k.key))
      return k;
  for (const auto& k : known_keys)
    if (section.empty() && close(key, k.section))
      return suggestion{k.section, {}};
  for (const auto& k : known_keys)
    if (k.section != section && k.key == key)
      return k;
  return std::nullopt;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows of the classic dynamic programme: d[i][j] for prefixes a[0..i) and b[0..j).
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

} // namespace roamd::config::detail
