#include "tools/config/sections.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "net/endpoint.hpp"
#include "net/https_client.hpp"
#include "os/sha256.hpp"
#include "tools/config/toml_reader.hpp"

namespace roamd::config::detail {

namespace {

constexpr std::string_view system_modes[] = {"none", "auto", "file", "resolvconf", "resolved", "networkmanager"};
constexpr std::string_view log_levels[] = {"trace", "debug", "info", "warn", "error", "off"};
constexpr std::string_view log_targets[] = {"auto", "stderr", "journald"};
constexpr std::string_view cloud_transports[] = {"plain", "encrypted-with-fallback", "encrypted-only"};
constexpr std::string_view fail_modes[] = {"open", "closed"};
constexpr std::string_view nxdomain_fallbacks[] = {"local-names", "any", "off"};

template <size_t N>
bool contains(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

template <size_t N>
std::string one_of(const std::string_view (&names)[N]) {
  std::string out = "expected one of ";
  for (size_t i = 0; i < N; ++i)
    out += (i == 0 ? "" : ", ") + std::string{names[i]};
  return out;
}

/// Decodes exactly 16 hexadecimal digits (either case) into 8 bytes.
std::optional<std::string> decode_device_id(std::string_view text) {
  if (text.size() != 16)
    return std::nullopt;
  return os::from_hex(text);
}

void set_endpoints(const std::vector<std::string>& from, google::protobuf::RepeatedPtrField<std::string>& to) {
  to.Clear();
  for (const auto& endpoint : from)
    to.Add()->assign(endpoint);
}

/// An absolute path without NUL bytes or "." / ".." components (the takeover must not be steered elsewhere).
bool good_path(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.find('\0') != std::string_view::npos)
    return false;
  return p.find("/./") == std::string_view::npos && p.find("/../") == std::string_view::npos &&
         !(p.size() >= 2 && p.substr(p.size() - 2) == "/.") && !(p.size() >= 3 && p.substr(p.size() - 3) == "/..");
}

void read_listen(toml_reader& r, const toml::table& t, proto::Config::Listen& out) {
  r.reject_unknown(t, "listen", "listen");
  if (auto addresses = r.endpoints(t, "listen", "addresses", true))
    set_endpoints(*addresses, *out.mutable_addresses());
}

/// The registration keys of [cloud]: org_file turns registration on and then needs api.
void read_registration(toml_reader& r, const toml::table& t, proto::Config::Cloud& out) {
  for (auto key : {"org_file", "api_ca_file"})
    if (auto path = r.string(t, "cloud", key)) {
      if (!path->empty() && (!good_path(*path) || path->back() == '/'))
        r.expected(*t.get(key), join("cloud", key),
                   std::string{key} == "org_file" ? "expected an absolute path of the organisation file (OrgInfo JSON) or \"\" (no registration)"
                                                  : "expected an absolute path of a PEM file or \"\" (the system's store)");
      else if (std::string{key} == "org_file")
        out.set_org_file(*path);
      else
        out.set_api_ca_file(*path);
    }
  if (auto url = r.string(t, "cloud", "api")) {
    std::string why;
    if (url->empty() || net::parse_https_url(*url, &why))
      out.set_api(*url);
    else
      r.expected(*t.get("api"), "cloud.api", "expected the cloud API's base URL, https://HOST[:PORT][/PATH] (" + why + ")");
  }
  if (auto proxy = r.string(t, "cloud", "api_proxy")) {
    std::string why;
    if (proxy->empty() || net::parse_http_proxy(*proxy, &why))
      out.set_api_proxy(*proxy);
    else
      r.fail(t.get("api_proxy")->source().begin, "cloud.api_proxy",  // not echoed: it may hold a password
             "expected an HTTP proxy's URL, http://[USER:PASSWORD@]HOST:PORT, or \"\" (" + why + ")");
  }
  if (auto v = r.integer(t, "cloud", "sync_interval_s", 60, 7 * 86'400))
    out.set_sync_interval_s(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "cloud", "sync_jitter_s", 0, 86'400))
    out.set_sync_jitter_s(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "cloud", "heartbeat_interval_s", 0, 86'400)) {
    if (*v != 0 && *v < 5)
      r.expected(*t.get("heartbeat_interval_s"), "cloud.heartbeat_interval_s", "expected 0 (no heartbeats) or at least 5");
    else
      out.set_heartbeat_interval_s(static_cast<uint32_t>(*v));
  }
  if (auto v = r.integer(t, "cloud", "api_timeout_ms", 1'000, 120'000))
    out.set_api_timeout_ms(static_cast<uint32_t>(*v));
  if (auto mode = r.string(t, "cloud", "transport")) {
    if (contains(cloud_transports, *mode))
      out.set_transport(*mode);
    else
      r.expected(*t.get("transport"), "cloud.transport", one_of(cloud_transports));
  }
  if (!out.org_file().empty() && out.api().empty())
    r.expected(*t.get("org_file"), "cloud.org_file", "needs cloud.api, the cloud API's URL, to register with");
}

void read_cloud(toml_reader& r, const toml::table& t, proto::Config::Cloud& out) {
  r.reject_unknown(t, "cloud", "cloud");
  if (auto resolvers = r.endpoints(t, "cloud", "resolvers", false, true))
    set_endpoints(*resolvers, *out.mutable_resolvers());
  if (auto path = r.string(t, "cloud", "ca_file")) {
    if (!path->empty() && (!good_path(*path) || path->back() == '/'))
      r.expected(*t.get("ca_file"), "cloud.ca_file", "expected an absolute path of a PEM file or \"\" (the system's store)");
    else
      out.set_ca_file(*path);
  }
  if (auto text = r.string(t, "cloud", "device_id")) {
    if (auto bytes = decode_device_id(*text))
      out.set_device_id(*bytes);
    else
      r.expected(*t.get("device_id"), "cloud.device_id", "expected 16 hexadecimal digits");
  }
  read_registration(r, t, out);
}

/// Where an [[internal]] domain was first seen, to name both entries of a duplicate.
struct seen_domain {
  std::string domain;
  size_t index;
  uint32_t line;
};

/// Reads an entry's domain, normalized; nullopt when it is missing, invalid or a repeat (recorded).
std::optional<std::string> read_domain(toml_reader& r, const toml::table& t, size_t index,
                                       std::vector<seen_domain>& seen) {
  auto path = join(at("internal", index), "domain");
  auto* node = t.get("domain");
  if (!node) {
    r.fail(t.source().begin, path, "missing required key");
    return std::nullopt;
  }
  auto text = r.string(t, at("internal", index), "domain");
  if (!text)
    return std::nullopt;
  auto domain = net::normalize_domain(*text);
  if (!domain) {
    r.expected(*node, path, "expected a domain name (dot-separated labels of letters, digits, '-' and '_')");
    return std::nullopt;
  }
  auto same = std::find_if(seen.begin(), seen.end(), [&](const seen_domain& s) { return s.domain == *domain; });
  if (same != seen.end()) {
    r.fail(node->source().begin, path,
           "expected each domain once, got " + quote(*text) + ", the same as " +
               join(at("internal", same->index), "domain") + " at line " + std::to_string(same->line) + " (" +
               *domain + ")");
    return std::nullopt;
  }
  seen.push_back({*domain, index, node->source().begin.line});
  return domain;
}

void read_internal_entry(toml_reader& r, const toml::table& t, size_t index, std::vector<seen_domain>& seen,
                         google::protobuf::RepeatedPtrField<proto::Config::Internal>& out) {
  auto path = at("internal", index);
  r.reject_unknown(t, path, "internal");
  auto domain = read_domain(r, t, index, seen);
  std::optional<std::vector<std::string>> resolvers;
  if (!t.get("resolvers"))
    r.fail(t.source().begin, join(path, "resolvers"), "missing required key");
  else
    resolvers = r.endpoints(t, path, "resolvers", false);
  if (!domain || !resolvers)
    return;
  auto* entry = out.Add();
  entry->set_domain(*domain);
  set_endpoints(*resolvers, *entry->mutable_resolvers());
}

void read_internal(toml_reader& r, const toml::node& node,
                   google::protobuf::RepeatedPtrField<proto::Config::Internal>& out) {
  auto* array = node.as_array();
  if (!array) {
    r.expected(node, "internal", "expected an array of tables ([[internal]])", true);
    return;
  }
  std::vector<seen_domain> seen;
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& element = *array->get(i);
    if (auto* entry = element.as_table())
      read_internal_entry(r, *entry, i, seen, out);
    else
      r.expected(element, at("internal", i), "expected a table", true);
  }
}

void read_cache(toml_reader& r, const toml::table& t, proto::Config::Cache& out) {
  r.reject_unknown(t, "cache", "cache");
  if (auto v = r.integer(t, "cache", "size", 0, 10'000'000))
    out.set_size(static_cast<uint64_t>(*v));
  if (auto v = r.integer(t, "cache", "max_ttl", 1, 604'800))
    out.set_max_ttl(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "cache", "negative_max_ttl", 0, 86'400))
    out.set_negative_max_ttl(static_cast<uint32_t>(*v));
}

void read_upstream(toml_reader& r, const toml::table& t, proto::Config::Upstream& out) {
  r.reject_unknown(t, "upstream", "upstream");
  if (auto v = r.integer(t, "upstream", "timeout_ms", 50, 30'000))
    out.set_timeout_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "upstream", "attempts", 1, 10))
    out.set_attempts(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "upstream", "source_ports", 1, 1024))
    out.set_source_ports(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "upstream", "down_after", 1, 100))
    out.set_down_after(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "upstream", "probe_interval_ms", 100, 600'000))
    out.set_probe_interval_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "upstream", "port_rotation_ms", 0, 3'600'000))
    out.set_port_rotation_ms(static_cast<uint32_t>(*v));
  if (auto mode = r.string(t, "upstream", "nxdomain_fallback")) {
    if (contains(nxdomain_fallbacks, *mode))
      out.set_nxdomain_fallback(*mode);
    else
      r.expected(*t.get("nxdomain_fallback"), "upstream.nxdomain_fallback", one_of(nxdomain_fallbacks));
  }
}

void read_tcp(toml_reader& r, const toml::table& t, proto::Config::Tcp& out) {
  r.reject_unknown(t, "tcp", "tcp");
  if (auto v = r.integer(t, "tcp", "max_connections", 1, 65'535))
    out.set_max_connections(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "tcp", "idle_timeout_ms", 100, 600'000))
    out.set_idle_timeout_ms(static_cast<uint32_t>(*v));
}

/// Whether one listen address is on port 53 (the only port resolv.conf can point at).
bool has_port53(const proto::Config::Listen& listen) {
  for (const auto& a : listen.addresses())
    if (auto ep = net::parse_endpoint(a); ep && ep->port() == 53)
      return true;
  return false;
}

void read_system(toml_reader& r, const toml::table& t, proto::Config::System& out,
                 const proto::Config::Listen& listen) {
  r.reject_unknown(t, "system", "system");
  if (auto mode = r.string(t, "system", "mode")) {
    if (contains(system_modes, *mode))
      out.set_mode(*mode);
    else
      r.expected(*t.get("mode"), "system.mode", one_of(system_modes));
  }
  for (auto key : {"resolv_conf", "state_dir"}) {
    auto path = r.string(t, "system", key);
    if (!path)
      continue;
    if (!good_path(*path)) {
      r.expected(*t.get(key), join("system", key), "expected an absolute path");
      continue;
    }
    std::string clean = *path;
    while (clean.size() > 1 && clean.back() == '/')
      clean.pop_back();
    if (std::string_view{key} == "resolv_conf")
      out.set_resolv_conf(clean);
    else
      out.set_state_dir(clean);
  }
  if (auto v = r.integer(t, "system", "canary_timeout_ms", 100, 60'000))
    out.set_canary_timeout_ms(static_cast<uint32_t>(*v));
  // Taking over writes "nameserver ADDRESS" somewhere, and resolv.conf cannot name a port.
  if (auto* node = t.get("mode"); node && out.mode() != "none" && !out.mode().empty() && !has_port53(listen))
    r.fail(node->source().begin, "system.mode",
           quote(out.mode()) + " needs a listen address on port 53 (resolv.conf cannot name a port); add one to "
           "listen.addresses or set mode = \"none\"");
}

void read_arbitration(toml_reader& r, const toml::table& t, proto::Config::Arbitration& out) {
  r.reject_unknown(t, "arbitration", "arbitration");
  if (auto v = r.integer(t, "arbitration", "contest_limit", 1, 100))
    out.set_contest_limit(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "contest_window_ms", 1'000, 3'600'000))
    out.set_contest_window_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "quiet_ms", 10, 10'000))
    out.set_quiet_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "cap_ms", 10, 60'000))
    out.set_cap_ms(static_cast<uint32_t>(*v));
  if (auto v = r.boolean(t, "arbitration", "interception"))
    out.set_interception(*v);
  if (auto v = r.boolean(t, "arbitration", "intercept_always"))
    out.set_intercept_always(*v);
  if (out.intercept_always() && !out.interception())
    if (auto* node = t.get("intercept_always"))
      r.fail(node->source().begin, "arbitration.intercept_always", "needs interception = true");
  if (auto v = r.integer(t, "arbitration", "link_settings_poll_ms", 0, 3'600'000); v && *v > 0 && *v < 500)
    r.fail(t.get("link_settings_poll_ms")->source().begin, "arbitration.link_settings_poll_ms",
           "must be 0 (off) or 500 to 3600000");
  else if (v)
    out.set_link_settings_poll_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "socket_mark", 0, 0xffffffffLL))
    out.set_socket_mark(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "yield_backoff_ms", 100, 3'600'000))
    out.set_yield_backoff_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "arbitration", "yield_backoff_max_ms", 100, 86'400'000))
    out.set_yield_backoff_max_ms(static_cast<uint32_t>(*v));
  if (out.cap_ms() < out.quiet_ms())
    if (auto* node = t.get(t.contains("cap_ms") ? "cap_ms" : "quiet_ms"))
      r.fail(node->source().begin, t.contains("cap_ms") ? "arbitration.cap_ms" : "arbitration.quiet_ms",
             "cap_ms (" + std::to_string(out.cap_ms()) + ") must not be shorter than quiet_ms (" +
               std::to_string(out.quiet_ms()) + ")");
  if (out.yield_backoff_max_ms() < out.yield_backoff_ms())
    if (auto* node = t.get(t.contains("yield_backoff_max_ms") ? "yield_backoff_max_ms" : "yield_backoff_ms"))
      r.fail(node->source().begin,
             t.contains("yield_backoff_max_ms") ? "arbitration.yield_backoff_max_ms" : "arbitration.yield_backoff_ms",
             "yield_backoff_max_ms must not be shorter than yield_backoff_ms");
}

/// Whether an endpoint text names its port ("IP:PORT" or "[IPv6]:PORT", not a bare address).
bool names_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  return text.front() == '[' ? text[colon - 1] == ']' : text.find(':') == colon;
}

/// A loopback "IP:PORT" (normalized) or "" at debug.`key`; nullopt when absent or refused (recorded). Anything
/// reachable from other machines is refused with `why`: neither listener can protect itself on a network.
std::optional<std::string> loopback_endpoint(toml_reader& r, const toml::table& t, const char* key,
                                             std::string_view example, std::string_view why) {
  auto text = r.string(t, "debug", key);
  if (!text || text->empty())
    return text;
  auto path = "debug." + std::string{key};
  auto ep = net::parse_endpoint(*text);
  if (!ep || !names_port(*text))
    r.expected(*t.get(key), path, "expected \"\" or a loopback \"IP:PORT\" such as \"" + std::string{example} + "\"");
  else if (!ep->address().is_loopback())
    r.fail(t.get(key)->source().begin, path, quote(*text) + " is not a loopback address: " + std::string{why});
  else
    return net::to_string(*ep);
  return std::nullopt;
}


/// Reads [debug] tls_client_names: an array of names (1 to 255 printable characters without spaces), possibly empty.
void read_client_names(toml_reader& r, const toml::node& node, proto::Config::Debug& out) {
  auto* array = node.as_array();
  if (!array) {
    r.expected(node, "debug.tls_client_names", "expected an array of name strings", true);
    return;
  }
  out.clear_tls_client_names();
  for (size_t i = 0; i < array->size(); ++i) {
    const auto& element = *array->get(i);
    auto* text = element.as_string();
    auto printable = text && !text->get().empty() && text->get().size() <= 255 &&
                     std::all_of(text->get().begin(), text->get().end(), [](char c) { return c > ' ' && c < 127; });
    if (!printable)
      r.expected(element, "debug.tls_client_names[" + std::to_string(i) + "]",
                 "expected a certificate name (CN or DNS name, 1 to 255 printable characters, no spaces)", true);
    else
      out.add_tls_client_names(text->get());
  }
}

/// [debug]: the inspection port and the metrics endpoint. The inspection port's TCP without TLS is only for loopback;
/// any other address needs mutual TLS, which needs the server's certificate and key and the CA of the clients, all
/// three. The metrics endpoint has no authentication: loopback only.
void read_debug(toml_reader& r, const toml::table& t, proto::Config::Debug& out) {
  r.reject_unknown(t, "debug", "debug");
  if (auto v = r.boolean(t, "debug", "enabled"))
    out.set_enabled(*v);
  if (auto path = r.string(t, "debug", "socket")) {
    if (path->empty())
      out.clear_socket();
    else if (!good_path(*path) || path->back() == '/' || path->size() > 107)  // sun_path holds 108 bytes
      r.expected(*t.get("socket"), "debug.socket", "expected an absolute path of a socket file (at most 107 bytes) or \"\"");
    else
      out.set_socket(*path);
  }
  struct tls_key {
    const char* key;
    std::string* value;
  };
  const tls_key tls_keys[] = {{"tls_cert", out.mutable_tls_cert()},
                              {"tls_key", out.mutable_tls_key()},
                              {"tls_client_ca", out.mutable_tls_client_ca()}};
  std::string missing;  // of the three, the ones not set
  size_t set = 0;
  for (const auto& k : tls_keys) {
    auto path = r.string(t, "debug", k.key);
    if (path && !path->empty() && !good_path(*path))
      r.expected(*t.get(k.key), std::string{"debug."} + k.key, "expected an absolute path of a PEM file or \"\"");
    else if (path)
      *k.value = *path;
    if (k.value->empty())
      missing += (missing.empty() ? "" : ", ") + std::string{k.key};
    else
      ++set;
  }
  if (auto* names = t.get("tls_client_names"))
    read_client_names(r, *names, out);
  bool tls = set == std::size(tls_keys);
  if (set > 0 && !tls)
    for (const auto& k : tls_keys)
      if (!k.value->empty()) {
        r.fail(t.get(k.key)->source().begin, std::string{"debug."} + k.key,
               "mutual TLS needs tls_cert, tls_key and tls_client_ca together; not set: " + missing);
        break;
      }
  if (!tls && !out.tls_client_names().empty())
    r.fail(t.get("tls_client_names")->source().begin, "debug.tls_client_names",
           "only used with mutual TLS (set tls_cert, tls_key and tls_client_ca)");
  if (auto tcp = r.string(t, "debug", "tcp")) {
    auto ep = tcp->empty() ? std::nullopt : net::parse_endpoint(*tcp);
    if (tcp->empty())
      out.clear_tcp();
    else if (!ep || !names_port(*tcp))
      r.expected(*t.get("tcp"), "debug.tcp", "expected \"\" or an \"IP:PORT\" such as \"127.0.0.1:5380\"");
    else if (!ep->address().is_loopback() && !tls)
      r.fail(t.get("tcp")->source().begin, "debug.tcp",
             quote(*tcp) + " is not a loopback address: a debug port reachable from other machines needs mutual TLS "
             "(set tls_cert, tls_key and tls_client_ca; not set: " + missing + "), or use 127.0.0.1, [::1] or the "
             "Unix socket");
    else
      out.set_tcp(net::to_string(*ep));
  }
  if (tls && out.tcp().empty())
    r.fail(t.get("tls_cert")->source().begin, "debug.tls_cert",
           "mutual TLS is for the TCP listener, but tcp is not set (set tcp = \"IP:PORT\")");
  if (auto metrics = loopback_endpoint(r, t, "metrics", "127.0.0.1:9153",
                                       "the metrics endpoint has no authentication and is served on loopback only "
                                       "(use 127.0.0.1 or [::1]; scrape from elsewhere through a proxy of your own)"))
    out.set_metrics(*metrics);
  if (auto v = r.integer(t, "debug", "recent_queries", 0, 10000))
    out.set_recent_queries(static_cast<uint32_t>(*v));
}

/// [dnstap]: the query log, to a reader's socket or to a file.
void read_dnstap(toml_reader& r, const toml::table& t, proto::Config::Dnstap& out) {
  r.reject_unknown(t, "dnstap", "dnstap");
  for (auto key : {"socket", "file"}) {
    auto path = r.string(t, "dnstap", key);
    if (!path)
      continue;
    std::string name = std::string{"dnstap."} + key;
    bool sock = std::string_view{key} == "socket";
    if (path->empty())
      sock ? out.clear_socket() : out.clear_file();
    else if (!good_path(*path) || path->back() == '/' || (sock && path->size() > 107))
      r.expected(*t.get(key), name, sock ? "expected an absolute path of a socket file (at most 107 bytes) or \"\""
                                         : "expected an absolute path of a file or \"\"");
    else
      sock ? out.set_socket(*path) : out.set_file(*path);
  }
  if (!out.socket().empty() && !out.file().empty())
    r.fail(t.get("file")->source().begin, "dnstap.file",
           "both dnstap.socket and dnstap.file are set: dnstap goes to one of them");
  if (auto id = r.string(t, "dnstap", "identity")) {
    if (id->size() > 255)
      r.expected(*t.get("identity"), "dnstap.identity", "expected at most 255 bytes");
    else
      out.set_identity(*id);
  }
  if (auto v = r.boolean(t, "dnstap", "client_queries"))
    out.set_client_queries(*v);
  if (auto v = r.boolean(t, "dnstap", "client_responses"))
    out.set_client_responses(*v);
}

/// [network]: network-state detection (fail mode, trusted networks, protected networks, probe cadence).
void read_network(toml_reader& r, const toml::table& t, proto::Config::Network& out) {
  r.reject_unknown(t, "network", "network");
  if (auto v = r.boolean(t, "network", "detection"))
    out.set_detection(*v);
  if (auto mode = r.string(t, "network", "fail_mode")) {
    if (contains(fail_modes, *mode))
      out.set_fail_mode(*mode);
    else
      r.expected(*t.get("fail_mode"), "network.fail_mode", one_of(fail_modes));
  }
  for (auto key : {"trusted_domain", "protected_probe_name"}) {
    auto name = r.string(t, "network", key);
    if (!name)
      continue;
    auto canonical = name->empty() ? std::optional<std::string>{""} : net::normalize_domain(*name);
    if (!canonical) {
      r.expected(*t.get(key), std::string{"network."} + key, "expected a domain name or \"\"");
      continue;
    }
    std::string_view{key} == "trusted_domain" ? out.set_trusted_domain(*canonical)
                                              : out.set_protected_probe_name(*canonical);
  }
  bool bad_address = false;
  if (auto address = r.string(t, "network", "protected_probe_address")) {
    boost::system::error_code ec;
    auto parsed = boost::asio::ip::make_address(*address, ec);
    bad_address = !address->empty() && ec;
    if (bad_address)
      r.expected(*t.get("protected_probe_address"), "network.protected_probe_address",
                 "expected an IPv4 or IPv6 address or \"\"");
    else
      out.set_protected_probe_address(address->empty() ? "" : parsed.to_string());
  }
  if (!bad_address && out.protected_probe_name().empty() != out.protected_probe_address().empty()) {
    auto* node = t.get(out.protected_probe_name().empty() ? "protected_probe_address" : "protected_probe_name");
    if (node)
      r.fail(node->source().begin, out.protected_probe_name().empty() ? "network.protected_probe_address"
                                                                      : "network.protected_probe_name",
             "protected_probe_name and protected_probe_address go together: set both or neither");
  }
  if (auto v = r.integer(t, "network", "probe_interval_ms", 500, 3'600'000))
    out.set_probe_interval_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "network", "stable_probe_interval_ms", 500, 86'400'000))
    out.set_stable_probe_interval_ms(static_cast<uint32_t>(*v));
  if (auto v = r.integer(t, "network", "open_probe_interval_ms", 100, 3'600'000))
    out.set_open_probe_interval_ms(static_cast<uint32_t>(*v));
  if (out.stable_probe_interval_ms() < out.probe_interval_ms())
    if (auto* node = t.get("stable_probe_interval_ms") ? t.get("stable_probe_interval_ms") : t.get("probe_interval_ms"))
      r.fail(node->source().begin,
             t.contains("stable_probe_interval_ms") ? "network.stable_probe_interval_ms" : "network.probe_interval_ms",
             "the stable interval (" + std::to_string(out.stable_probe_interval_ms()) +
               " ms) must not be shorter than probe_interval_ms (" + std::to_string(out.probe_interval_ms()) + " ms)");
}

void read_daemon(toml_reader& r, const toml::table& t, proto::Config::Daemon& out) {
  r.reject_unknown(t, "daemon", "daemon");
  if (auto v = r.integer(t, "daemon", "workers", 1, 64))
    out.set_workers(static_cast<uint32_t>(*v));
  if (auto level = r.string(t, "daemon", "log_level")) {
    if (contains(log_levels, *level))
      out.set_log_level(*level);
    else
      r.expected(*t.get("log_level"), "daemon.log_level", one_of(log_levels));
  }
  if (auto target = r.string(t, "daemon", "log_target")) {
    if (contains(log_targets, *target))
      out.set_log_target(*target);
    else
      r.expected(*t.get("log_target"), "daemon.log_target", one_of(log_targets));
  }
}

/// The metrics endpoint and the inspection port's TCP listener each need an address:port of their own, distinct
/// from the DNS listeners' (which take TCP on their port too): a clash would only show as "address in use" at start.
void check_debug_addresses(toml_reader& r, const toml::table& root, const proto::Config& cfg) {
  const auto& d = cfg.debug();
  const auto* debug = root.get("debug") ? root.get("debug")->as_table() : nullptr;
  if (!debug || d.metrics().empty() || !debug->get("metrics"))
    return;
  auto where = debug->get("metrics")->source().begin;
  if (d.metrics() == d.tcp()) {
    r.fail(where, "debug.metrics", quote(d.metrics()) + " is also debug.tcp: each needs an address:port of its own");
    return;
  }
  for (const auto& listen : cfg.listen().addresses())
    if (listen == d.metrics())
      r.fail(where, "debug.metrics", quote(d.metrics()) + " is also a DNS listener (listen.addresses; DNS takes TCP "
                                     "on it too): the metrics endpoint needs an address:port of its own");
}

} // namespace

void read_document(toml_reader& r, const toml::table& root, proto::Config& out) {
  r.reject_unknown(root, "", "");
  if (auto* t = r.table(root, "", "listen"))
    read_listen(r, *t, *out.mutable_listen());
  if (auto* t = r.table(root, "", "cloud"))
    read_cloud(r, *t, *out.mutable_cloud());
  if (auto* node = root.get("internal"))
    read_internal(r, *node, *out.mutable_internal());
  if (auto* t = r.table(root, "", "cache"))
    read_cache(r, *t, *out.mutable_cache());
  if (auto* t = r.table(root, "", "upstream"))
    read_upstream(r, *t, *out.mutable_upstream());
  if (auto* t = r.table(root, "", "tcp"))
    read_tcp(r, *t, *out.mutable_tcp());
  if (auto* t = r.table(root, "", "system"))
    read_system(r, *t, *out.mutable_system(), out.listen());
  if (auto* t = r.table(root, "", "arbitration"))
    read_arbitration(r, *t, *out.mutable_arbitration());
  if (auto* t = r.table(root, "", "debug"))
    read_debug(r, *t, *out.mutable_debug());
  if (auto* t = r.table(root, "", "dnstap"))
    read_dnstap(r, *t, *out.mutable_dnstap());
  if (auto* t = r.table(root, "", "network"))
    read_network(r, *t, *out.mutable_network());
  if (auto* t = r.table(root, "", "daemon"))
    read_daemon(r, *t, *out.mutable_daemon());
  check_debug_addresses(r, root, out);
}

} // namespace roamd::config::detail
