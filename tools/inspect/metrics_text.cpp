#include "tools/inspect/metrics_text.hpp"

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>

#include "net/stats.hpp"

namespace roamd::inspect {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc{})
    return "NaN";
  double mag = std::fabs(value);
  if (std::string_view(buf, end - buf).find('e') != std::string_view::npos && mag >= 1e-4 && mag < 1e21) {
    // Like Prometheus's own clients (Go's 'g' format): plain decimals within this range ("0.0001", not "1e-04"),
    // so that bucket bounds read the same as every other exporter's.
    auto [fend, fec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
    if (fec == std::errc{})
      end = fend;
  }
  return std::string(buf, end);
}

void metrics_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  name_ = name;
  // HELP text escapes backslash and line feed (not quotes).
  out_ += "# HELP " + name_ + " ";
  for (char c : help)
    out_ += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
  out_ += "\n# TYPE " + name_ + " " + std::string{type} + "\n";
}

void metrics_writer::sample(const metric_labels& labels, double value, std::string_view suffix) {
  out_ += name_;
  out_ += suffix;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      out_ += i == 0 ? "" : ",";
      out_ += labels[i].first;
      out_ += "=\"" + escape_label_value(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + format_value(value) + '\n';
}

void metrics_writer::single(std::string_view name, std::string_view type, std::string_view help, double value) {
  family(name, type, help);
  sample({}, value);
}

void histogram_series(metrics_writer& w, const metric_labels& labels, const std::vector<histogram_bucket>& buckets,
                      double sum, uint64_t count) {
  auto with_le = [&labels](std::string le) {
    auto l = labels;
    l.emplace_back("le", std::move(le));
    return l;
  };
  for (const auto& b : buckets)
    w.sample(with_le(format_value(b.le)), static_cast<double>(b.count), "_bucket");
  if (buckets.empty() || !std::isinf(buckets.back().le))
    w.sample(with_le("+Inf"), static_cast<double>(count), "_bucket");
  w.sample(labels, sum, "_sum");
  w.sample(labels, static_cast<double>(count), "_count");
}

namespace {

double seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

/// The counts of a proto map, with every name of `always` present (zero when the map lacks it), sorted by name.
template <class Map>
std::map<std::string, double> with_zeros(const Map& counts, const std::vector<std::string>& always) {
  std::map<std::string, double> out;
  for (const auto& [name, n] : counts)
    out[name] = static_cast<double>(n);
  for (const auto& name : always)
    out.try_emplace(name, 0.0);
  return out;
}

void render_status(metrics_writer& w, const proto::AgentStatus& s, const std::vector<std::string>& actors) {
  w.family("roamd_build_info", "gauge", "Always 1; the version of the running roamd.");
  w.sample({{"version", s.version()}}, 1);
  w.single("roamd_start_time_seconds", "gauge", "When roamd started, in seconds since the Unix epoch.",
           seconds(s.started_unix_ms()));
  w.single("roamd_uptime_seconds", "gauge", "Seconds since roamd started.", seconds(static_cast<int64_t>(s.uptime_ms())));
  w.family("roamd_protection_state", "gauge", "Always 1; the conflict arbiter's protection state.");
  w.sample({{"state", s.state()}}, 1);
  if (s.since_unix_ms() != 0)
    w.single("roamd_protection_state_since_seconds", "gauge",
             "When the protection state was entered, in seconds since the Unix epoch.", seconds(s.since_unix_ms()));
  w.single("roamd_arbiter_decisions_total", "counter", "Decisions the conflict arbiter made since start.", s.decisions());
  w.single("roamd_arbiter_contests", "gauge",
           "Contests of roamd's resolver settings counted in the arbiter's current window (not since start).",
           s.contests());
  w.single("roamd_settings_writes_total", "counter", "Resolver-settings writes roamd made since start.", s.writes());
  w.family("roamd_actor_restarts_total", "counter", "Restarts of each supervised actor since start.");
  for (const auto& [actor, n] : with_zeros(s.restarts(), actors))
    w.sample({{"actor", actor}}, n);
  if (s.has_dnstap()) {
    w.family("roamd_dnstap_messages_total", "counter",
             "dnstap messages since start: written (handed to the writer thread) or dropped (its queue was full).");
    w.sample({{"result", "written"}}, static_cast<double>(s.dnstap().written()));
    w.sample({{"result", "dropped"}}, static_cast<double>(s.dnstap().dropped()));
  }
  if (s.has_debug_port()) {
    const auto& d = s.debug_port();
    w.single("roamd_debug_port_connections_total", "counter", "Connections the inspection port accepted since start.",
             static_cast<double>(d.accepted()));
    w.single("roamd_debug_port_requests_total", "counter", "Requests the inspection port answered since start.",
             static_cast<double>(d.answered()));
    w.family("roamd_debug_port_refused_total", "counter",
             "Connections or requests the inspection port refused since start, by reason (auth and tls: failed "
             "authentication; peer: a Unix peer not let in).");
    for (const auto& [reason, n] : std::initializer_list<std::pair<const char*, uint64_t>>{
           {"busy", d.busy()}, {"peer", d.peer_refused()}, {"tls", d.tls_failed()}, {"auth", d.auth_failed()},
           {"too_large", d.too_large()}, {"bad_request", d.bad_request()}, {"timeout", d.timeouts()}})
      w.sample({{"reason", reason}}, static_cast<double>(n));
  }
  if (s.has_cloud()) {
    const auto& c = s.cloud();
    w.family("roamd_cloud_registration_state", "gauge", "Always 1; the cloud registrar's state.");
    w.sample({{"state", c.state()}}, 1);
    w.family("roamd_cloud_requests_total", "counter",
             "Cloud API exchanges since start that succeeded: registrations, policy syncs (200 or 304), heartbeats.");
    w.sample({{"kind", "register"}}, static_cast<double>(c.registrations()));
    w.sample({{"kind", "policy"}}, static_cast<double>(c.syncs()));
    w.sample({{"kind", "heartbeat"}}, static_cast<double>(c.heartbeats()));
    w.single("roamd_cloud_failures", "gauge", "Consecutive failed cloud API requests (the retry backoff's exponent).",
             c.failures());
    w.single("roamd_cloud_policies_refused_total", "counter",
             "Policies the cloud sent that were refused as invalid (the last good one stayed in force).",
             static_cast<double>(c.refused_policies()));
    if (c.policy_unix_ms() != 0)
      w.single("roamd_cloud_policy_time_seconds", "gauge",
               "When the policy in force arrived, in seconds since the Unix epoch.", seconds(c.policy_unix_ms()));
  }
  if (s.has_network()) {
    const auto& n = s.network();
    w.family("roamd_network_state", "gauge", "1 for the network state in force, 0 for the others (network detection).");
    for (auto state : {"probing", "protected", "open", "closed", "trusted network", "behind a protected network", "off"})
      w.sample({{"state", state}}, n.state() == state ? 1 : 0);
    w.single("roamd_network_encrypted", "gauge", "1 while the cloud answers over an encrypted transport.",
             n.encrypted() ? 1 : 0);
    w.single("roamd_network_transitions_total", "counter", "Network-state changes since start.", n.transitions());
  }
  if (s.has_enforcer()) {
    const auto& e = s.enforcer();
    w.family("roamd_enforcer_state", "gauge", "Always 1; what the DNS enforcer has done and through which backend.");
    w.sample({{"state", e.state()}, {"backend", e.backend()}}, 1);
    w.single("roamd_interception_active", "gauge", "1 while port-53 interception rules are installed.",
             e.intercepting() ? 1 : 0);
  }
}

/// A histogram family from the data plane's per-bucket counts (bounds in microseconds); the buckets are written even
/// before the first answer, from the data plane's own bounds.
void latency_family(metrics_writer& w, std::string_view name, std::string_view help, const proto::LatencyHistogram& h) {
  w.family(name, "histogram", help);
  std::vector<histogram_bucket> buckets;
  uint64_t seen = 0;
  for (int i = 0; i < h.bounds_us_size(); ++i) {
    seen += i < h.counts_size() ? h.counts(i) : 0;
    buckets.push_back({h.bounds_us(i) / 1e6, seen});
  }
  uint64_t total = 0;
  for (auto c : h.counts())
    total += c;
  if (buckets.empty())
    for (auto b : net::latency_bounds_us)
      buckets.push_back({b / 1e6, 0});
  histogram_series(w, {}, buckets, static_cast<double>(h.sum_us()) / 1e6, total);
}

void render_stats(metrics_writer& w, const proto::StatsBatch& s, const std::vector<std::string>& drop_reasons) {
  w.family("roamd_queries_total", "counter", "Client queries received since start, by transport.");
  w.sample({{"transport", "udp"}}, static_cast<double>(s.queries_udp()));
  w.sample({{"transport", "tcp"}}, static_cast<double>(s.queries_tcp()));
  w.single("roamd_answers_total", "counter",
           "Replies sent to clients since start, the error replies roamd made (roamd_responses_total) included.",
           static_cast<double>(s.answers()));
  w.single("roamd_local_answers_total", "counter",
           "Answers roamd gave itself (canary names), also counted in roamd_answers_total.",
           static_cast<double>(s.local_answers()));
  w.single("roamd_cache_hits_total", "counter", "Queries answered from the cache.", static_cast<double>(s.cache_hits()));
  w.single("roamd_cache_misses_total", "counter", "Queries the cache could not answer.",
           static_cast<double>(s.cache_misses()));
  w.family("roamd_responses_total", "counter",
           "Error answers roamd made itself instead of relaying an upstream's, by rcode.");
  w.sample({{"rcode", "servfail"}}, static_cast<double>(s.servfail_sent()));
  w.sample({{"rcode", "formerr"}}, static_cast<double>(s.formerr_sent()));
  w.sample({{"rcode", "notimp"}}, static_cast<double>(s.notimp_sent()));
  w.single("roamd_untagged_cloud_queries_total", "counter",
           "Cloud queries sent without the device identity (the client's query was signed).",
           static_cast<double>(s.untagged_cloud()));
  w.family("roamd_route_answers_total", "counter",
           "Answers relayed from upstream, by route (the route's domain; \".\" is the default route).");
  for (const auto& [route, n] : s.route_answers())
    w.sample({{"route", route}}, static_cast<double>(n));
  latency_family(w, "roamd_query_duration_seconds",
                 "From reading a client's query to queuing its answer, for every answered query.", s.latency());
  latency_family(w, "roamd_upstream_query_duration_seconds",
                 "From reading a client's query to queuing its answer, for queries answered after an upstream "
                 "exchange (cache misses).",
                 s.upstream_latency());
  w.single("roamd_fallback_queries_total", "counter",
           "NXDOMAIN answers re-asked at the route's fallback resolvers.", static_cast<double>(s.fallback_sent()));
  w.single("roamd_fallback_answers_total", "counter", "Fallback queries whose answer went to the client.",
           static_cast<double>(s.fallback_used()));
  w.single("roamd_intercepted_queries_total", "counter", "Queries that reached roamd through the interception rules.",
           static_cast<double>(s.intercepted()));
  w.single("roamd_intercepted_original_total", "counter",
           "Intercepted queries for internal names sent to the server the client chose.",
           static_cast<double>(s.original_kept()));
  w.single("roamd_loops_broken_total", "counter",
           "Queries that came round to roamd again (loop guard): answered SERVFAIL, or a local proxy's re-routed.",
           static_cast<double>(s.loops_broken()));
  w.family("roamd_drops_total", "counter", "Packets and connections the data plane dropped, by reason.");
  for (const auto& [reason, n] : with_zeros(s.drops(), drop_reasons))
    w.sample({{"reason", reason}}, n);
}

void render_upstreams(metrics_writer& w, const proto::UpstreamHealthList& list) {
  struct column {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const proto::UpstreamHealth&);
  };
  static const column columns[] = {
    {"roamd_upstream_queries_total", "counter", "Queries sent to each upstream resolver since start.",
     [](const proto::UpstreamHealth& u) { return static_cast<double>(u.sent()); }},
    {"roamd_upstream_answers_total", "counter", "Answers received from each upstream resolver since start.",
     [](const proto::UpstreamHealth& u) { return static_cast<double>(u.answered()); }},
    {"roamd_upstream_timeouts_total", "counter", "Queries to each upstream resolver that timed out since start.",
     [](const proto::UpstreamHealth& u) { return static_cast<double>(u.timeouts()); }},
    {"roamd_upstream_up", "gauge", "1 while the upstream resolver is considered up, 0 while down.",
     [](const proto::UpstreamHealth& u) { return u.up() ? 1.0 : 0.0; }},
    {"roamd_upstream_rtt_seconds", "gauge", "Smoothed round-trip time of each upstream resolver (0 before any answer).",
     [](const proto::UpstreamHealth& u) { return static_cast<double>(u.srtt_us()) / 1e6; }},
    {"roamd_upstream_consecutive_failures", "gauge", "Timeouts and send errors since the upstream's last answer.",
     [](const proto::UpstreamHealth& u) { return static_cast<double>(u.consecutive_failures()); }},
    {"roamd_upstream_last_change_seconds", "gauge",
     "When the upstream last went up or down, in seconds since the Unix epoch (0: never).",
     [](const proto::UpstreamHealth& u) { return seconds(u.changed_unix_ms()); }},
  };
  // One series per (address, interface); the data plane tracks each at most once.
  std::map<std::pair<std::string, std::string>, const proto::UpstreamHealth*> sorted;
  for (const auto& u : list.upstreams())
    sorted.try_emplace({u.address(), u.interface()}, &u);
  for (const auto& c : columns) {
    w.family(c.name, c.type, c.help);
    for (const auto& [key, u] : sorted)
      w.sample({{"upstream", key.first}, {"interface", key.second}}, c.value(*u));
  }
}

void render_endpoint(metrics_writer& w, const metrics_scrape& s, const metrics_endpoint_counts& c) {
  bool all = s.status && s.stats && s.upstreams && s.arbiter;
  w.single("roamd_up", "gauge", "1 when every actor asked for this scrape answered in time, else 0.", all ? 1 : 0);
  const std::pair<const char*, std::pair<bool, uint64_t>> sources[] = {
    {"status", {s.status.has_value(), c.status_missing}},
    {"stats", {s.stats.has_value(), c.stats_missing}},
    {"upstreams", {s.upstreams.has_value(), c.upstreams_missing}},
    {"arbiter", {s.arbiter.has_value(), c.arbiter_missing}},
  };
  w.family("roamd_scrape_source_up", "gauge", "1 when this source answered for this scrape, 0 when it did not.");
  for (const auto& [name, v] : sources)
    w.sample({{"source", name}}, v.first ? 1 : 0);
  w.family("roamd_scrape_errors_total", "counter", "Scrapes for which a source did not answer in time, by source.");
  for (const auto& [name, v] : sources)
    w.sample({{"source", name}}, static_cast<double>(v.second));
  w.single("roamd_metrics_scrapes_total", "counter", "Metrics requests answered (GET and HEAD /metrics).",
           static_cast<double>(c.scrapes));
  w.family("roamd_metrics_refused_total", "counter", "Metrics endpoint requests refused or cut, by reason.");
  const std::pair<const char*, uint64_t> refused[] = {
    {"bad_method", c.bad_method}, {"bad_request", c.bad_request}, {"busy", c.busy},
    {"not_found", c.not_found},   {"timeout", c.timeouts},        {"too_large", c.too_large},
  };
  for (const auto& [reason, n] : refused)
    w.sample({{"reason", reason}}, static_cast<double>(n));
}

} // namespace

std::string render_metrics(const metrics_scrape& scrape, const metrics_endpoint_counts& counts,
                           const metrics_names& names) {
  metrics_writer w;
  render_endpoint(w, scrape, counts);
  if (scrape.status)
    render_status(w, *scrape.status, names.actors);
  if (scrape.arbiter)
    w.single("roamd_arbiter_coalesced_events_total", "counter",
             "Adapter and settings events folded into the arbiter's decisions since start.",
             scrape.arbiter->coalesced_events());
  if (scrape.stats)
    render_stats(w, *scrape.stats, names.drop_reasons);
  if (scrape.upstreams)
    render_upstreams(w, *scrape.upstreams);
  return w.text();
}

} // namespace roamd::inspect
