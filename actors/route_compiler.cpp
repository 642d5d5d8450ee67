#include "actors/route_compiler.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "net/resolver_address.hpp"
#include "os/sha256.hpp"

namespace roamd::actors {

namespace {

net::route to_net_route(const proto::Route& r, const std::string& mode, net::upstream_registry& registry) {
  net::route out;
  out.domain = r.domain();
  out.tag_identity = r.tag_identity();
  out.source = r.source();
  for (const auto& text : r.resolvers())
    if (auto res = net::parse_resolver(text))
      out.resolvers.push_back(registry.get(*res, r.interface()));
  if (mode == "off")
    return out;
  // The fallback resolvers leave through the route's link too: a VPN route's queries never leak to another link.
  for (const auto& text : r.fallback_resolvers())
    if (auto res = net::parse_resolver(text)) {
      bool local_only = mode != "any" && std::find(r.local_only_fallback().begin(), r.local_only_fallback().end(),
                                                   text) != r.local_only_fallback().end();
      (local_only ? out.local_fallback : out.fallback).push_back(registry.get(*res, r.interface()));
    }
  return out;
}

/// Zones whose names can be local whatever the network: mDNS and home networks (RFC 6762, RFC 8375), the common
/// `lan`, and the RFC 6303 reverse zones of private, link-local, loopback and unique-local addresses.
constexpr const char* always_local[] = {
  "local", "home.arpa", "lan", "internal",
  "10.in-addr.arpa", "16.172.in-addr.arpa", "17.172.in-addr.arpa", "18.172.in-addr.arpa", "19.172.in-addr.arpa",
  "20.172.in-addr.arpa", "21.172.in-addr.arpa", "22.172.in-addr.arpa", "23.172.in-addr.arpa", "24.172.in-addr.arpa",
  "25.172.in-addr.arpa", "26.172.in-addr.arpa", "27.172.in-addr.arpa", "28.172.in-addr.arpa", "29.172.in-addr.arpa",
  "30.172.in-addr.arpa", "31.172.in-addr.arpa", "168.192.in-addr.arpa", "254.169.in-addr.arpa", "127.in-addr.arpa",
  "0.in-addr.arpa", "64.100.in-addr.arpa", "d.f.ip6.arpa", "8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa",
  "b.e.f.ip6.arpa"};

/// Appends `resolver` unless `list` has it: the sources name the same local resolver (the enforcer's recorded
/// settings and the arbiter's adopted ones, both canonical "IP:PORT"), and the list keeps first-seen order.
void add_once(google::protobuf::RepeatedPtrField<std::string>& list, const std::string& resolver) {
  if (std::find(list.begin(), list.end(), resolver) == list.end())
    list.Add()->assign(resolver);
}

} // namespace

proto::RoutingSnapshot compile_routes(const proto::Config& cfg, const std::map<std::string, proto::RouteUpdate>& learned,
                                      uint64_t generation, const proto::CloudReachability& reach) {
  proto::RoutingSnapshot snap;
  snap.set_generation(generation);
  auto cloud = learned.find(std::string{cloud_source});
  const proto::RouteUpdate* from_cloud = cloud == learned.end() ? nullptr : &cloud->second;
  bool cloud_id = from_cloud && from_cloud->device_id().size() == 8;
  snap.set_device_id_hex(os::to_hex(cloud_id ? from_cloud->device_id() : cfg.cloud().device_id()));
  std::set<std::string> seen;
  auto* fallback = snap.add_routes();
  fallback->set_domain("");
  fallback->set_tag_identity(true);
  fallback->set_source("config");
  for (const auto& r : cfg.cloud().resolvers())
    fallback->add_resolvers(r);
  for (const auto& zone : cfg.internal()) {
    if (!seen.insert(zone.domain()).second)
      continue;
    auto* r = snap.add_routes();
    r->set_domain(zone.domain());
    r->set_source("config");
    r->set_tag_identity(false);
    for (const auto& res : zone.resolvers())
      r->add_resolvers(res);
  }
  // Learned default routes first: the cloud's resolvers replace the configured ones, and every source's fallback
  // resolvers (the recorded local DNS) are the default route's NXDOMAIN fallback and the local routes' resolvers.
  for (const auto& [source, update] : learned)
    for (const auto& lr : update.routes()) {
      if (!lr.domain().empty())
        continue;
      if (source == cloud_source && lr.resolvers_size() > 0) {
        *fallback->mutable_resolvers() = lr.resolvers();
        fallback->set_source(source);
      }
      for (const auto& f : lr.fallback_resolvers()) {
        add_once(*fallback->mutable_fallback_resolvers(), f);
        if (source == system_source)  // the physical network's own resolvers: local names only
          add_once(*fallback->mutable_local_only_fallback(), f);
      }
    }
  // A resolver also learned from a VPN or a competing proxy (adopted) is asked for any name.
  for (const auto& [source, update] : learned)
    if (source != system_source)
      for (const auto& lr : update.routes())
        for (const auto& f : lr.fallback_resolvers()) {
          auto& lo = *fallback->mutable_local_only_fallback();
          if (auto it = std::find(lo.begin(), lo.end(), f); it != lo.end())
            lo.erase(it);
        }
  // The names that can be local: always-local zones, the recorded search domains (the system source's routes) and
  // the policy's internal domains.
  for (auto zone : always_local)
    snap.add_local_names(zone);
  for (const auto& [source, update] : learned)
    for (const auto& lr : update.routes())
      if (!lr.domain().empty() && (source == system_source || lr.local()))
        add_once(*snap.mutable_local_names(), lr.domain());
  snap.set_nxdomain_fallback(cfg.upstream().nxdomain_fallback().empty() ? "local-names"
                                                                        : cfg.upstream().nxdomain_fallback());
  for (const auto& [source, update] : learned)
    for (const auto& lr : update.routes()) {
      if (lr.domain().empty() || (!lr.local() && lr.resolvers_size() == 0) ||
          (lr.local() && fallback->fallback_resolvers_size() == 0) || !seen.insert(lr.domain()).second)
        continue;  // a local route without known local resolvers stays with the cloud (never a black hole)
      auto* r = snap.add_routes();
      *r = lr;
      r->set_source(source);
      r->set_tag_identity(false);
      if (lr.local())
        *r->mutable_resolvers() = fallback->fallback_resolvers();
    }
  if (reach.mode() == proto::CloudReachability::FAIL_OPEN && fallback->fallback_resolvers_size() > 0) {
    fallback->mutable_resolvers()->Swap(fallback->mutable_fallback_resolvers());
    fallback->clear_fallback_resolvers();
    fallback->clear_local_only_fallback();
    fallback->set_tag_identity(false);
    fallback->set_source("network");
  } else if (reach.mode() == proto::CloudReachability::FAIL_CLOSED) {
    fallback->clear_resolvers();
    fallback->clear_fallback_resolvers();
    fallback->clear_local_only_fallback();
    fallback->set_source("network");
  } else if (reach.local_rewrites_nxdomain() && fallback->local_only_fallback_size() > 0) {
    // The physical network's resolvers answer names that do not exist: its "answers" to the cloud's NXDOMAIN would
    // be an advertiser's address.
    auto& fb = *fallback->mutable_fallback_resolvers();
    const auto& lo = fallback->local_only_fallback();
    fb.erase(std::remove_if(fb.begin(), fb.end(),
                            [&](const std::string& x) { return std::find(lo.begin(), lo.end(), x) != lo.end(); }),
             fb.end());
    fallback->clear_local_only_fallback();
    snap.set_nxdomain_rewriting(reach.rewriting().empty() ? "the network's resolvers rewrite NXDOMAIN"
                                                          : reach.rewriting());
  }
  return snap;
}

proto::NetworkTargets network_targets(const proto::Config& cfg, const std::map<std::string, proto::RouteUpdate>& learned) {
  proto::NetworkTargets out;
  auto snap = compile_routes(cfg, learned, 0);
  for (const auto& r : snap.routes())
    if (r.domain().empty()) {
      *out.mutable_cloud_resolvers() = r.resolvers();
      *out.mutable_local_resolvers() = r.fallback_resolvers();
    }
  return out;
}

std::shared_ptr<const net::routing_table> to_table(const proto::RoutingSnapshot& snap, const proto::Config& cfg,
                                                   net::upstream_registry& registry) {
  std::vector<net::route> routes;
  net::route fallback;
  const auto& mode = snap.nxdomain_fallback();
  for (const auto& r : snap.routes()) {
    if (r.domain().empty())
      fallback = to_net_route(r, mode, registry);
    else
      routes.push_back(to_net_route(r, mode, registry));
  }
  std::optional<std::array<uint8_t, 8>> id;
  auto raw = os::from_hex(snap.device_id_hex());
  if (raw && raw->size() == 8) {
    std::array<uint8_t, 8> bytes{};
    std::memcpy(bytes.data(), raw->data(), 8);
    id = bytes;
  }
  return std::make_shared<const net::routing_table>(std::move(routes), std::move(fallback), id, snap.generation(),
                                                    std::vector<std::string>(snap.local_names().begin(),
                                                                             snap.local_names().end()));
}

} // namespace roamd::actors
