#include "tools/roamctl/render.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <sstream>

#include <google/protobuf/util/json_util.h>

namespace roamd::roamctl {

namespace {

std::string join(const google::protobuf::RepeatedPtrField<std::string>& xs, const char* sep = ", ") {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out.empty() ? "-" : out;
}

std::string duration(int64_t ms) {
  if (ms < 0)
    ms = 0;
  auto s = ms / 1000;
  char buf[64];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

/// "HH:MM:SS (5m 02s ago)" in local time; "-" for 0.
std::string when(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return std::string{buf} + " (" + duration(now_ms - unix_ms) + " ago)";
}

std::string settings_text(const proto::ResolverSettings& s) {
  return "nameservers " + join(s.nameservers()) + "; search " + join(s.search()) +
         (s.options_size() ? "; options " + join(s.options(), " ") : "");
}

/// One link's settings as its manager holds them: "nameservers ...; search ...; routing ~corp.example ~.".
std::string interface_text(const proto::InterfaceSettings& i) {
  std::string routing;
  for (const auto& d : i.routing_domains())
    routing += (routing.empty() ? "" : " ") + ("~" + d);
  return settings_text(i.settings()) + (routing.empty() ? "" : "; routing " + routing);
}

/// The network-state part of `roamctl status`.
void network(std::ostream& o, const proto::NetworkStatus& n, int64_t now) {
  o << "network:    " << n.state();
  if (n.state() == "protected")
    o << (n.encrypted() ? " (encrypted transport)" : " (plain DNS)");
  o << ", since " << when(n.since_unix_ms(), now) << "; fail-" << (n.fail_mode().empty() ? "open" : n.fail_mode())
    << "; " << n.rounds() << " round(s), " << n.transitions() << " transition(s)\n";
  o << "            " << (n.reason().empty() ? "-" : n.reason()) << "\n";
  for (const auto& p : n.probes())
    o << "  probe " << p.kind() << " " << p.target() << ": " << (p.ok() ? "ok" : "failed")
      << (p.detail().empty() ? "" : ", " + p.detail()) << "\n";
  if (!n.nxdomain_probe().empty())
    o << "  NXDOMAIN " << (n.rewrites_nxdomain() ? "rewritten by the network's resolvers (no NXDOMAIN fallback to them): "
                                                 : "answered honestly by the network's resolvers: ")
      << n.nxdomain_probe() << "\n";
  if (n.next_probe_unix_ms() > now)
    o << "  next probe in " << duration(n.next_probe_unix_ms() - now) << "\n";
}

void status(std::ostream& o, const proto::AgentStatus& s, int64_t now) {
  o << "roamd " << s.version() << ", up " << duration(static_cast<int64_t>(s.uptime_ms())) << "\n";
  o << "state:      " << (s.state().empty() ? "-" : s.state()) << ", since " << when(s.since_unix_ms(), now) << "\n";
  o << "reason:     " << (s.reason().empty() ? "-" : s.reason()) << "\n";
  if (s.has_enforcer()) {
    const auto& e = s.enforcer();
    o << "enforcer:   " << e.state() << (e.backend().empty() ? "" : " via " + e.backend())
      << (e.owner().empty() ? "" : " (owner " + e.owner() + ")") << ", " << e.writes() << " write(s)";
    o << ", interception " << (e.intercepting() ? "on" : "off");
    if (!e.interception_reason().empty())
      o << " (unavailable: " << e.interception_reason() << ")";
    o << "\n";
  }
  o << "decisions:  " << s.decisions() << ", contests in window " << s.contests() << ", settings writes " << s.writes();
  std::string restarts;
  for (const auto& [who, n] : s.restarts())
    if (n)
      restarts += (restarts.empty() ? "" : ", ") + who + " " + std::to_string(n);
  o << ", restarts " << (restarts.empty() ? "none" : restarts) << "\n";
  const auto& c = s.config();
  o << "config:     " << (c.source().empty() ? "(built-in defaults)" : c.source()) << "; mode " << c.mode() << "; "
    << c.workers() << " worker(s); identity " << (c.identity() ? "on" : "off") << "\n";
  o << "listen:     " << join(c.listen()) << "\n";
  o << "cloud:      " << join(c.cloud_resolvers()) << "\n";
  o << "internal:   " << join(c.internal_domains()) << "\n";
  if (s.has_dnstap())
    o << "dnstap:     " << s.dnstap().target() << ": " << s.dnstap().written() << " message(s) written, "
      << s.dnstap().dropped() << " dropped (queue full)\n";
  if (s.has_debug_port()) {
    const auto& d = s.debug_port();
    std::string refused;
    for (const auto& [what, n] : std::initializer_list<std::pair<const char*, uint64_t>>{
           {"failed authentication", d.auth_failed()}, {"failed TLS", d.tls_failed()},
           {"peer not let in", d.peer_refused()}, {"busy", d.busy()}, {"too large", d.too_large()},
           {"not a request", d.bad_request()}, {"timed out", d.timeouts()}})
      if (n)
        refused += (refused.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    o << "inspection: " << d.accepted() << " connection(s), " << d.answered() << " request(s) answered; refused "
      << (refused.empty() ? "none" : refused) << "\n";
  }
  if (s.has_cloud()) {
    const auto& c = s.cloud();
    o << "registration: " << c.state() << (c.device_id().empty() ? "" : ", device " + c.device_id())
      << (c.organization_id().empty() ? "" : ", organisation " + c.organization_id()) << " (" << c.api() << ")\n";
    o << "  policy:   "
      << (c.policy_revision().empty() ? std::string{"none yet (the configuration's settings)"}
                                      : c.policy_revision() + ", since " + when(c.policy_unix_ms(), now) + "; " +
                                          std::to_string(c.internal_domains()) + " internal domain(s); resolvers " +
                                          (c.resolvers_size() ? join(c.resolvers()) : std::string{"as configured"}))
      << "\n";
    o << "  syncs:    " << c.syncs() << " answered" << (c.last_sync_unix_ms() ? ", last " + when(c.last_sync_unix_ms(), now) : "")
      << "; heartbeats " << c.heartbeats() << "; registrations " << c.registrations() << "; refused policies "
      << c.refused_policies() << "\n";
    if (c.next_attempt_unix_ms() > now)
      o << "  next:     in " << duration(c.next_attempt_unix_ms() - now) << "\n";
    if (!c.last_error().empty())
      o << "  problem:  " << c.last_error() << (c.failures() ? " (" + std::to_string(c.failures()) + " failure(s) in a row)" : "")
        << "\n";
  }
  if (s.has_network())
    network(o, s.network(), now);
}

/// Whether link settings `i` are `l`'s: by name, or by index when the manager names links by index (resolved).
bool belongs(const proto::InterfaceSettings& i, const proto::Link& l) {
  return i.link() == l.name() || (i.link().empty() && i.ifindex() == l.index());
}

void adapters(std::ostream& o, const proto::AdapterSnapshot& a, int64_t now) {
  o << "snapshot " << a.sequence() << " at " << when(a.unix_ms(), now) << "\n";
  for (const auto& l : a.links()) {
    o << l.index() << ": " << l.name() << (l.kind().empty() ? "" : " (" + l.kind() + ")") << (l.up() ? " up" : " down")
      << (l.carrier() ? " carrier" : " no-carrier") << (l.point_to_point() ? " point-to-point" : "") << "  "
      << join(l.addresses(), " ") << "\n";
    for (const auto& i : a.dns())
      if (belongs(i, l))
        o << "    dns: " << interface_text(i) << (i.name() == l.name() ? "" : " (" + i.name() + ")") << "\n";
  }
  for (const auto& i : a.dns()) {
    bool shown = false;
    for (const auto& l : a.links())
      shown = shown || belongs(i, l);
    if (!shown)
      o << "dns of " << i.name() << " (no such link now): " << interface_text(i) << "\n";
  }
  if (a.routes_size())
    o << "routes:\n";
  for (const auto& r : a.routes())
    o << "  " << r.destination() << (r.gateway().empty() ? "" : " via " + r.gateway()) << " dev "
      << (r.interface().empty() ? std::to_string(r.index()) : r.interface()) << " table " << r.table() << " metric "
      << r.metric() << "\n";
}

void settings(std::ostream& o, const proto::EnforcerStatus& e, int64_t now) {
  o << "enforcer:  " << e.state() << (e.backend().empty() ? "" : " via " + e.backend()) << ", since "
    << when(e.since_unix_ms(), now) << "\n";
  o << "reason:    " << (e.reason().empty() ? "-" : e.reason()) << "\n";
  o << "original:  " << settings_text(e.original()) << (e.owner().empty() ? "" : " (owner " + e.owner() + ")") << "\n";
  o << "current:   " << settings_text(e.current())
    << (e.current_owner().empty() ? "" : " (owner " + e.current_owner() + ")")
    << (e.settings_ours() ? ", roamd's" : ", not roamd's") << "\n";
  for (const auto& i : e.interfaces())
    o << "  " << i.name() << " (link " << (i.link().empty() ? "-" : i.link()) << "): " << interface_text(i) << "\n";
  o << "intercepting: " << (e.intercepting() ? "yes" : "no")
    << (e.interception_reason().empty() ? "" : " (unavailable: " + e.interception_reason() + ")") << "\n";
}

void routes(std::ostream& o, const proto::RoutingSnapshot& s) {
  o << "generation " << s.generation() << ", identity " << (s.device_id_hex().empty() ? "off" : s.device_id_hex())
    << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-8s %-10s %-10s %-3s %s\n", "DOMAIN", "SOURCE", "INTERFACE", "EGRESS",
                "ID", "RESOLVERS");
  o << line;
  for (const auto& r : s.routes()) {
    std::snprintf(line, sizeof line, "%-28s %-8s %-10s %-10s %-3s %s", r.domain().empty() ? "." : r.domain().c_str(),
                  r.source().c_str(), r.interface().empty() ? "-" : r.interface().c_str(),
                  r.egress().empty() ? "-" : r.egress().c_str(), r.tag_identity() ? "yes" : "no",
                  join(r.resolvers()).c_str());
    o << line;
    if (r.fallback_resolvers_size() && s.nxdomain_fallback() != "off") {
      google::protobuf::RepeatedPtrField<std::string> fb;
      for (const auto& x : r.fallback_resolvers()) {
        bool local_only = s.nxdomain_fallback() == "local-names" &&
                          std::find(r.local_only_fallback().begin(), r.local_only_fallback().end(), x) !=
                            r.local_only_fallback().end();
        *fb.Add() = local_only ? x + " for local names" : x;
      }
      o << " (NXDOMAIN fallback " << join(fb) << ")";
    }
    o << "\n";
  }
  if (!s.nxdomain_rewriting().empty() && s.nxdomain_fallback() != "off")
    o << "The network's resolvers are no NXDOMAIN fallback: they rewrite NXDOMAIN (" << s.nxdomain_rewriting() << ")\n";
}

void upstreams(std::ostream& o, const proto::UpstreamHealthList& l, int64_t now) {
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-10s %-5s %9s %8s %8s %8s %5s  %s\n", "UPSTREAM", "INTERFACE", "STATE",
                "SRTT(us)", "SENT", "ANSWERED", "TIMEOUTS", "FAILS", "SINCE / REASON");
  o << line;
  for (const auto& u : l.upstreams()) {
    std::snprintf(line, sizeof line, "%-24s %-10s %-5s %9llu %8llu %8llu %8llu %5u  %s%s\n", u.address().c_str(),
                  u.interface().empty() ? "-" : u.interface().c_str(), u.up() ? "up" : "DOWN",
                  static_cast<unsigned long long>(u.srtt_us()), static_cast<unsigned long long>(u.sent()),
                  static_cast<unsigned long long>(u.answered()), static_cast<unsigned long long>(u.timeouts()),
                  u.consecutive_failures(), when(u.changed_unix_ms(), now).c_str(),
                  u.reason().empty() ? "" : (": " + u.reason()).c_str());
    o << line;
  }
  if (l.upstreams_size() == 0)
    o << "(no upstream has been used yet)\n";
}

void events(std::ostream& o, const proto::ArbiterStatus& a, int64_t now) {
  o << "state " << (a.state().empty() ? "-" : a.state()) << " since " << when(a.since_unix_ms(), now) << ": "
    << (a.reason().empty() ? "-" : a.reason()) << "\n";
  o << a.decisions() << " arbitration decision(s) from " << a.coalesced_events()
    << " adapter/settings event(s); the last " << a.events_size() << " recorded action(s), oldest first:\n";
  for (const auto& e : a.events()) {
    o << when(e.unix_ms(), now) << "  " << e.action() << " -> " << e.state() << (e.ok() ? "" : " [FAILED]");
    if (!e.link().empty())
      o << " link " << e.link();
    if (!e.owner().empty())
      o << " owner " << e.owner();
    if (e.events())
      o << " (" << e.events() << " event(s))";
    o << "\n    " << e.reason() << "\n";
  }
}

/// The bound of the bucket holding quantile `q` ("<= 2.5 ms"), from per-bucket counts.
std::string quantile(const proto::LatencyHistogram& h, double q) {
  uint64_t total = 0;
  for (auto c : h.counts())
    total += c;
  uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total) + 0.999999);
  uint64_t seen = 0;
  for (int i = 0; i < h.counts_size(); ++i) {
    seen += h.counts(i);
    if (seen >= want && seen > 0) {
      if (i >= h.bounds_us_size())
        return h.bounds_us_size() ? "> " + std::to_string(h.bounds_us(h.bounds_us_size() - 1) / 1000) + " ms" : "?";
      auto us = h.bounds_us(i);
      return "<= " + (us < 1000 ? std::to_string(us) + " us"
                                : (us % 1000 ? std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100)
                                             : std::to_string(us / 1000)) + " ms");
    }
  }
  return "-";
}

void latency(std::ostream& o, const char* label, const proto::LatencyHistogram& h) {
  uint64_t total = 0;
  for (auto c : h.counts())
    total += c;
  if (total == 0)
    return;
  o << label << " mean " << h.sum_us() / total << " us, p50 " << quantile(h, 0.5) << ", p90 " << quantile(h, 0.9)
    << ", p99 " << quantile(h, 0.99) << " (" << total << " answers)\n";
}

void stats(std::ostream& o, const proto::StatsBatch& s) {
  auto hits = s.cache_hits(), misses = s.cache_misses();
  o << "queries:        " << s.queries_udp() + s.queries_tcp() << " (udp " << s.queries_udp() << ", tcp "
    << s.queries_tcp() << ")\n";
  o << "answers:        " << s.answers() << " (of which servfail made here " << s.servfail_sent() << ", answered locally "
    << s.local_answers() << ")\n";
  o << "cache:          " << hits << " hit(s), " << misses << " miss(es)";
  if (hits + misses)
    o << ", " << (100 * hits / (hits + misses)) << "% hits";
  o << "\n";
  o << "fallback:       " << s.fallback_sent() << " NXDOMAIN re-asked, " << s.fallback_used() << " answered\n";
  o << "intercepted:    " << s.intercepted() << " (to the server the client chose " << s.original_kept()
    << "), loops broken " << s.loops_broken() << "\n";
  uint64_t dropped = 0;
  for (const auto& [reason, n] : s.drops())
    dropped += n;
  o << "drops:          " << dropped << "\n";
  for (const auto& [reason, n] : s.drops())
    o << "  " << reason << ": " << n << "\n";
  o << "errors sent:    servfail " << s.servfail_sent() << ", formerr " << s.formerr_sent() << ", notimp "
    << s.notimp_sent() << "\n";
  if (s.untagged_cloud())
    o << "untagged:       " << s.untagged_cloud() << " cloud queries sent without the identity (signed)\n";
  latency(o, "latency:        ", s.latency());
  latency(o, "  from upstream:", s.upstream_latency());
  if (!s.route_answers().empty()) {
    o << "upstream answers by route:\n";
    std::vector<std::pair<std::string, uint64_t>> routes(s.route_answers().begin(), s.route_answers().end());
    std::sort(routes.begin(), routes.end());
    for (const auto& [route, n] : routes)
      o << "  " << route << ": " << n << "\n";
  }
}

const char* rcode_name(uint32_t rc) {
  static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  return rc < 6 ? names[rc] : "RCODE";
}

std::string type_name(uint32_t t) {
  switch (t) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 255: return "ANY";
    default: return "TYPE" + std::to_string(t);
  }
}

void queries(std::ostream& o, const proto::RecentQueries& q) {
  o << q.queries_size() << " recent quer" << (q.queries_size() == 1 ? "y" : "ies") << " (the agent keeps "
    << q.capacity() << " per worker), oldest first\n";
  for (const auto& e : q.queries()) {
    std::time_t t = static_cast<std::time_t>(e.time_unix_us() / 1000000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char clock[32];
    std::snprintf(clock, sizeof clock, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(e.time_unix_us() / 1000 % 1000));
    o << clock << "  " << e.client() << " " << e.transport() << "  " << (e.name().empty() ? "?" : e.name()) << " "
      << type_name(e.qtype()) << "  " << rcode_name(e.rcode()) << "  " << e.source();
    if (!e.route().empty())
      o << " via " << e.route() << " -> " << e.resolver();
    if (e.nxdomain_fallback() == "used")
      o << "  fallback: used";
    else if (e.nxdomain_fallback() == "kept_nxdomain")
      o << "  fallback: tried, kept the " << (e.route() == "." ? "cloud's" : "route's") << " NXDOMAIN";
    o << "  " << (e.latency_us() >= 10000 ? std::to_string(e.latency_us() / 1000) + " ms"
                                           : std::to_string(e.latency_us()) + " us")
      << "\n";
  }
}

} // namespace

std::string render_text(const proto::InspectResponse& r, int64_t now_ms) {
  std::ostringstream o;
  using P = proto::InspectResponse;
  switch (r.payload_case()) {
    case P::kStatus: status(o, r.status(), now_ms); break;
    case P::kAdapters: adapters(o, r.adapters(), now_ms); break;
    case P::kSettings: settings(o, r.settings(), now_ms); break;
    case P::kRoutes: routes(o, r.routes()); break;
    case P::kUpstreams: upstreams(o, r.upstreams(), now_ms); break;
    case P::kEvents: events(o, r.events(), now_ms); break;
    case P::kStats: stats(o, r.stats()); break;
    case P::kQueries: queries(o, r.queries()); break;
    case P::kError: o << "error: " << r.error().message() << "\n"; break;
    default: o << r.ShortDebugString() << "\n"; break;
  }
  return o.str();
}

std::string render_json(const proto::InspectResponse& r, bool pretty) {
  const google::protobuf::Message* payload = &r;
  const auto* field = r.GetDescriptor()->FindFieldByNumber(static_cast<int>(r.payload_case()));
  if (field && field->message_type())
    payload = &r.GetReflection()->GetMessage(r, field);
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = pretty;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(*payload, &out, opts).ok())
    return "{}\n";
  return out;
}

} // namespace roamd::roamctl
