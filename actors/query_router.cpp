#include "actors/query_router.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/egress.hpp"
#include "actors/route_compiler.hpp"

namespace roamd::actors {

namespace {

/// Whether the NXDOMAIN fallback asks `resolver` of `r` for names that can be local only.
bool is_local_only(const proto::RoutingSnapshot& snap, const proto::Route& r, const std::string& resolver) {
  return snap.nxdomain_fallback() == "local-names" &&
         std::find(r.local_only_fallback().begin(), r.local_only_fallback().end(), resolver) !=
           r.local_only_fallback().end();
}

/// One line per route for the log: "corp.example -> 10.0.0.53:53 via tun0 (system)".
std::string describe(const proto::RoutingSnapshot& snap) {
  std::string out;
  for (const auto& r : snap.routes()) {
    out += "\n  " + (r.domain().empty() ? std::string{"."} : r.domain()) + " ->";
    for (const auto& x : r.resolvers())
      out += " " + x;
    if (!r.interface().empty())
      out += " bound to " + r.interface();
    if (!r.egress().empty())
      out += " via " + r.egress();
    if (r.fallback_resolvers_size() > 0 && snap.nxdomain_fallback() != "off") {
      out += ", NXDOMAIN fallback";
      for (const auto& x : r.fallback_resolvers())
        out += " " + x + (is_local_only(snap, r, x) ? " (local names only)" : "");
    }
    out += " (" + r.source() + ")";
  }
  return out;
}

/// A learned route whose link is gone or has no carrier is left out: its resolvers cannot be reached through it.
std::map<std::string, proto::RouteUpdate> live_routes(const query_router_state& st) {
  auto out = st.learned;
  if (st.adapters.links_size() == 0)
    return out;  // no adapter snapshot yet: nothing is known to be gone
  for (auto& [source, update] : out) {
    auto* routes = update.mutable_routes();
    for (int i = routes->size(); i-- > 0;) {
      const auto& ifname = routes->Get(i).interface();
      if (!ifname.empty() && !link_alive(st.adapters, ifname))
        routes->DeleteSubrange(i, 1);
    }
  }
  return out;
}

/// Compiles the next snapshot and hands it to the data plane, unless nothing but the generation would change
/// (a netlink burst that moves no route must not clear the cache).
void rebuild(query_router_ptr self, bool force = false) {
  auto& st = self->state;
  auto next = compile_routes(st.config, live_routes(st), st.generation + 1, st.reach);
  annotate_egress(next, st.adapters);
  auto same = next.routes_size() == st.current.routes_size() && next.device_id_hex() == st.current.device_id_hex();
  for (int i = 0; same && i < next.routes_size(); ++i)
    same = next.routes(i).SerializeAsString() == st.current.routes(i).SerializeAsString();
  if (same && !force)
    return;
  st.current = std::move(next);
  ++st.generation;
  auto table = to_table(st.current, st.config, *st.registry);
  spdlog::info("query_router: routing generation {}:{}", st.generation, describe(st.current));
  if (st.publish)
    st.publish(std::move(table));
}

} // namespace

query_router_actor::behavior_type query_router(query_router_ptr self, proto::Config config,
                                               std::shared_ptr<net::upstream_registry> registry, publish_fn publish) {
  self->state.config = std::move(config);
  self->state.registry = std::move(registry);
  self->state.publish = std::move(publish);
  rebuild(self, true);
  return {
    [self](const proto::RouteUpdate& update) {
      auto& learned = self->state.learned;
      if (update.routes_size() == 0 && update.device_id().empty())
        learned.erase(update.source());
      else
        learned[update.source()] = update;
      rebuild(self);
    },
    [self](const proto::AdapterSnapshot& snap) {
      self->state.adapters = snap;
      rebuild(self);
    },
    [self](const proto::CloudReachability& reach) {
      auto& was = self->state.reach;
      if (reach.mode() == was.mode() && reach.local_rewrites_nxdomain() == was.local_rewrites_nxdomain())
        return;
      if (reach.mode() != was.mode())
        spdlog::info("query_router: cloud route {}: {}", proto::CloudReachability::Mode_Name(reach.mode()),
                     reach.reason());
      if (reach.local_rewrites_nxdomain() != was.local_rewrites_nxdomain())
        spdlog::info("query_router: NXDOMAIN fallback to the network's resolvers {}",
                     reach.local_rewrites_nxdomain() ? "off: they rewrite NXDOMAIN (" + reach.rewriting() + ")"
                                                     : std::string{"back: they no longer rewrite NXDOMAIN"});
      was = reach;
      rebuild(self);
    },
    [self](caf::get_atom, network_atom) -> proto::NetworkTargets {
      return network_targets(self->state.config, live_routes(self->state));
    },
    [self](caf::get_atom, routes_atom) -> proto::RoutingSnapshot { return self->state.current; },
  };
}

} // namespace roamd::actors
