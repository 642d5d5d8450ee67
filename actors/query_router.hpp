#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/proto_inspect.hpp"
#include "net/routing_table.hpp"
#include "net/upstream.hpp"
#include "proto/config.pb.h"
#include "proto/control.pb.h"
#include "proto/network.pb.h"

namespace roamd::actors {

/// The query-routing actor owns the routing configuration: it composes the configured routes with the route sets
/// learned from adapters, VPNs and the cloud, and hands the data plane a new immutable snapshot on every change.
using query_router_actor = caf::typed_actor<
  caf::reacts_to<proto::RouteUpdate>,                                        // replace one source's routes
  caf::reacts_to<proto::AdapterSnapshot>,                                    // links, addresses, kernel routes
  caf::reacts_to<proto::CloudReachability>,                                  // fail-open / fail-closed / normal
  caf::replies_to<caf::get_atom, network_atom>::with<proto::NetworkTargets>, // where network detection probes
  caf::replies_to<caf::get_atom, routes_atom>::with<proto::RoutingSnapshot>  // the snapshot in force
  >;

/// Where compiled tables go: the data plane in the agent, a recorder in tests.
using publish_fn = std::function<void(std::shared_ptr<const net::routing_table>)>;

struct query_router_state {
  proto::Config config;
  std::shared_ptr<net::upstream_registry> registry;
  publish_fn publish;
  std::map<std::string, proto::RouteUpdate> learned;
  proto::AdapterSnapshot adapters;
  proto::CloudReachability reach;  // the default route's mode, and whether the network rewrites NXDOMAIN
  proto::RoutingSnapshot current;
  uint64_t generation = 0;

  static inline const char* name = "query_router";
};

using query_router_ptr = query_router_actor::stateful_pointer<query_router_state>;

query_router_actor::behavior_type query_router(query_router_ptr self, proto::Config config,
                                               std::shared_ptr<net::upstream_registry> registry, publish_fn publish);

} // namespace roamd::actors
