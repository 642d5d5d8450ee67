#include "actors/cloud_policy.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/ip/address.hpp>

#include "net/endpoint.hpp"
#include "net/resolver_address.hpp"
#include "os/hex.hpp"

namespace roamd::actors {

namespace {

using mode = proto::Policy::TransportMode;
using transport = proto::Policy::Resolver::Transport;

constexpr int max_domains = 4096;
constexpr int max_resolvers = 16;
constexpr size_t max_revision = 128;

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

bool encrypted(transport t) {
  return t == proto::Policy::Resolver::DOT || t == proto::Policy::Resolver::DOH;
}

mode effective(const proto::Policy& p, mode configured) {
  return p.transport_mode() == proto::Policy::TRANSPORT_MODE_UNSPECIFIED ? configured : p.transport_mode();
}

} // namespace

proto::Policy::TransportMode transport_mode(const std::string& text) {
  if (text == "plain")
    return proto::Policy::PLAIN;
  if (text == "encrypted-only")
    return proto::Policy::ENCRYPTED_ONLY;
  return proto::Policy::ENCRYPTED_WITH_FALLBACK;
}

std::string to_string(proto::Policy::TransportMode m) {
  switch (m) {
    case proto::Policy::PLAIN:
      return "plain";
    case proto::Policy::ENCRYPTED_ONLY:
      return "encrypted-only";
    case proto::Policy::ENCRYPTED_WITH_FALLBACK:
      return "encrypted-with-fallback";
    default:
      return "unspecified";
  }
}

std::string resolver_text(const proto::Policy::Resolver& r, std::string& why) {
  unsigned short port = 53;
  std::string scheme;
  switch (r.transport()) {
    case proto::Policy::Resolver::PLAIN:
      break;
    case proto::Policy::Resolver::DOT:
      port = net::dot_port;
      scheme = "tls://";
      break;
    case proto::Policy::Resolver::DOH:
      port = 443;
      scheme = "https://";
      break;
    default:
      why = "resolver " + r.address() + ": no transport this agent knows";
      return "";
  }
  auto ep = net::parse_endpoint(r.address(), port);
  if (!ep) {
    why = "resolver address '" + r.address() + "' is not IP:PORT";
    return "";
  }
  std::string text = scheme + net::to_string(*ep);
  if (r.transport() == proto::Policy::Resolver::DOH) {
    auto path = r.doh_path().empty() ? std::string{"/dns-query"} : r.doh_path();
    if (path.front() != '/' || !printable(path) || path.find_first_of("#;?") != std::string::npos) {
      why = "resolver " + r.address() + ": DoH path '" + r.doh_path() + "' is not an absolute path without '#', ';' or '?'";
      return "";
    }
    text += path;
  }
  if (!scheme.empty()) {
    if (!r.tls_name().empty())
      text += "#" + r.tls_name();
    if (!r.spki_pin_sha256().empty())
      text += ";pin-sha256=" + r.spki_pin_sha256();
  } else if (!r.tls_name().empty() || !r.spki_pin_sha256().empty()) {
    why = "resolver " + r.address() + ": a TLS name or pin on a plain resolver";
    return "";
  }
  std::string bad;
  auto parsed = net::parse_resolver(text, &bad);
  if (!parsed) {
    why = "resolver '" + text + "': " + bad;
    return "";
  }
  return net::to_string(*parsed);
}

std::vector<std::string> usable_resolvers(const proto::Policy& p, proto::Policy::TransportMode configured) {
  auto m = effective(p, configured);
  std::vector<std::string> enc, plain;
  for (const auto& r : p.resolvers()) {
    std::string why;
    auto text = resolver_text(r, why);
    if (text.empty())
      continue;
    (encrypted(r.transport()) ? enc : plain).push_back(text);
  }
  if (m == proto::Policy::PLAIN)
    return plain;
  if (m == proto::Policy::ENCRYPTED_ONLY)
    return enc;
  enc.insert(enc.end(), plain.begin(), plain.end());
  return enc;
}

std::string policy_problem(const proto::Policy& p, proto::Policy::TransportMode configured) {
  if (p.revision().empty())
    return "the policy has no revision";
  if (p.revision().size() > max_revision || !printable(p.revision()) || p.revision().find('"') != std::string::npos)
    return "the policy's revision is not up to 128 printable characters without '\"'";
  if (p.internal_domains_size() > max_domains)
    return "the policy lists " + std::to_string(p.internal_domains_size()) + " internal domains (at most " +
           std::to_string(max_domains) + ")";
  for (const auto& d : p.internal_domains())
    if (!net::normalize_domain(d))
      return "internal domain '" + d + "' is not a domain name";
  if (p.resolvers_size() > max_resolvers)
    return "the policy lists " + std::to_string(p.resolvers_size()) + " resolvers (at most " +
           std::to_string(max_resolvers) + ")";
  for (const auto& r : p.resolvers()) {
    if (r.transport() == proto::Policy::Resolver::TRANSPORT_UNSPECIFIED)
      continue;  // a transport this agent does not know: skipped, not an error (a newer cloud)
    std::string why;
    if (resolver_text(r, why).empty())
      return why;
  }
  if (p.resolvers_size() > 0 && usable_resolvers(p, configured).empty())
    return "no resolver of the policy is usable with transport mode " + to_string(effective(p, configured));
  const auto& probe = p.protected_probe();
  if (probe.name().empty() != probe.expect_address().empty())
    return "the protected-network probe needs both a name and an expected address";
  if (!probe.name().empty()) {
    if (!net::normalize_domain(probe.name()))
      return "protected-network probe name '" + probe.name() + "' is not a domain name";
    boost::system::error_code ec;
    boost::asio::ip::make_address(probe.expect_address(), ec);
    if (ec)
      return "protected-network probe address '" + probe.expect_address() + "' is not an IP address";
  }
  if (!p.trusted_network_domain().empty() && !net::normalize_domain(p.trusted_network_domain()))
    return "trusted-network domain '" + p.trusted_network_domain() + "' is not a domain name";
  if (p.sync_interval_s() != 0 && (p.sync_interval_s() < 60 || p.sync_interval_s() > 7 * 86'400))
    return "sync interval " + std::to_string(p.sync_interval_s()) + " s is outside 60 s to a week";
  if (p.sync_jitter_s() > 86'400)
    return "sync jitter " + std::to_string(p.sync_jitter_s()) + " s is over a day";
  return "";
}

std::string registration_problem(const std::string& id, const std::string& token) {
  if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return "device id '" + id.substr(0, 40) + "' is not 16 lowercase hexadecimal digits";
  if (token.empty() || token.size() > 512 || !printable(token))
    return "the device token is empty, over 512 characters or not printable";
  return "";
}

std::string org_problem(const proto::OrgInfo& org) {
  if (org.organization_id().empty())
    return "no organizationId";
  if (org.organization_id().size() > 64 || !printable(org.organization_id()) ||
      org.organization_id().find('/') != std::string::npos)
    return "organizationId is not up to 64 printable characters";
  if (org.fingerprint().empty())
    return "no fingerprint";
  return "";
}

proto::RouteUpdate to_route_update(const std::string& device_id_hex, const proto::Policy* policy,
                                   proto::Policy::TransportMode configured) {
  proto::RouteUpdate u;
  u.set_source("cloud");
  if (auto raw = os::from_hex(device_id_hex); raw && raw->size() == 8)
    u.set_device_id(*raw);
  if (!policy)
    return u;
  auto resolvers = usable_resolvers(*policy, configured);
  if (!resolvers.empty()) {
    auto* def = u.add_routes();
    def->set_source("cloud");
    def->set_tag_identity(true);
    for (auto& r : resolvers)
      def->add_resolvers(r);
  }
  for (const auto& d : policy->internal_domains()) {
    auto* r = u.add_routes();
    r->set_domain(net::normalize_domain(d).value_or(d));
    r->set_source("cloud");
    r->set_local(true);
  }
  return u;
}

std::chrono::milliseconds backoff_delay(uint32_t failures, std::chrono::milliseconds first,
                                        std::chrono::milliseconds max, double unit) {
  auto d = first;
  for (uint32_t i = 1; i < failures && d < max; ++i)
    d *= 2;
  d = std::min(d, max);
  unit = std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds{static_cast<int64_t>(std::llround(d.count() * (0.5 + 0.5 * unit)))};
}

std::chrono::milliseconds sync_delay(std::chrono::seconds interval, std::chrono::seconds jitter, double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(interval) +
         std::chrono::milliseconds{static_cast<int64_t>(std::llround(jitter.count() * 1000.0 * unit))};
}

} // namespace roamd::actors
