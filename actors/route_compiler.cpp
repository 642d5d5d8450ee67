#include "actors/route_compiler.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "net/resolver_address.hpp"
#include "os/sha256.hpp"

namespace roamd::actors {

namespace {

net::route to_net_route(const proto::Route& r, net::upstream_registry& registry) {
  net::route out;
  out.domain = r.domain();
  out.tag_identity = r.tag_identity();
  out.source = r.source();
  for (const auto& text : r.resolvers())
    if (auto res = net::parse_resolver(text))
      out.resolvers.push_back(registry.get(*res, r.interface()));
  // The fallback resolvers leave through the route's link too: a VPN route's queries never leak to another link.
  for (const auto& text : r.fallback_resolvers())
    if (auto res = net::parse_resolver(text))
      out.fallback.push_back(registry.get(*res, r.interface()));
  return out;
}

/// Appends `resolver` unless `list` has it: the sources name the same local resolver (the enforcer's recorded
/// settings and the arbiter's adopted ones, both canonical "IP:PORT"), and the list keeps first-seen order.
void add_once(google::protobuf::RepeatedPtrField<std::string>& list, const std::string& resolver) {
  if (std::find(list.begin(), list.end(), resolver) == list.end())
    list.Add()->assign(resolver);
}

} // namespace

proto::RoutingSnapshot compile_routes(const proto::Config& cfg, const std::map<std::string, proto::RouteUpdate>& learned,
                                      uint64_t generation, proto::CloudReachability::Mode reach) {
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
      for (const auto& f : lr.fallback_resolvers())
        add_once(*fallback->mutable_fallback_resolvers(), f);
    }
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
  if (reach == proto::CloudReachability::FAIL_OPEN && fallback->fallback_resolvers_size() > 0) {
    fallback->mutable_resolvers()->Swap(fallback->mutable_fallback_resolvers());
    fallback->clear_fallback_resolvers();
    fallback->set_tag_identity(false);
    fallback->set_source("network");
  } else if (reach == proto::CloudReachability::FAIL_CLOSED) {
    fallback->clear_resolvers();
    fallback->clear_fallback_resolvers();
    fallback->set_source("network");
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
  for (const auto& r : snap.routes()) {
    if (r.domain().empty())
      fallback = to_net_route(r, registry);
    else
      routes.push_back(to_net_route(r, registry));
  }
  std::optional<std::array<uint8_t, 8>> id;
  auto raw = os::from_hex(snap.device_id_hex());
  if (raw && raw->size() == 8) {
    std::array<uint8_t, 8> bytes{};
    std::memcpy(bytes.data(), raw->data(), 8);
    id = bytes;
  }
  return std::make_shared<const net::routing_table>(std::move(routes), std::move(fallback), id, snap.generation());
}

} // namespace roamd::actors
