#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "net/routing_table.hpp"
#include "net/upstream.hpp"
#include "proto/config.pb.h"
#include "proto/control.pb.h"
#include "proto/network.pb.h"

/// Pure functions behind the query-routing actor: configuration + learned routes -> snapshot -> data-plane table.
namespace roamd::actors {

/// The source name of the cloud's route set (the registration actor's): its default route replaces the configured
/// cloud resolvers, its device id the configured identity, and its `local` routes go to the local resolvers.
constexpr std::string_view cloud_source = "cloud";

/// The source name of the recorded original settings (the enforcer's): the physical network's own resolvers.
constexpr std::string_view system_source = "system";

/// Composes the routing snapshot. Configured [[internal]] domains win over learned ones for the same domain;
/// learned sets are applied in source order. The default route goes to the cloud resolvers with the identity tag;
/// its NXDOMAIN fallback (and the local routes' resolvers) are every source's fallback resolvers, each listed once,
/// in first-seen order. While the cloud does not answer (`reach`, from the network-state actor) fail-open sends it
/// to the recorded local resolvers untagged (when any are known: never a black hole) and fail-closed leaves it
/// without resolvers, so that its names get SERVFAIL at once. Either way it is marked source "network". On a network
/// whose resolvers rewrite NXDOMAIN (`reach.local_rewrites_nxdomain`) the physical network's resolvers are no
/// NXDOMAIN fallback in any mode (a VPN's, asked for any name, stay).
proto::RoutingSnapshot compile_routes(const proto::Config& cfg, const std::map<std::string, proto::RouteUpdate>& learned,
                                      uint64_t generation, const proto::CloudReachability& reach = {});

/// Where the network-state actor probes: the cloud's resolvers and the recorded local ones, as compile_routes
/// would use them.
proto::NetworkTargets network_targets(const proto::Config& cfg, const std::map<std::string, proto::RouteUpdate>& learned);

/// Builds the data plane's immutable table for a snapshot. Resolvers that do not parse are skipped (the config
/// loader and route sources validate them); the upstream objects come from `registry` so health is shared.
std::shared_ptr<const net::routing_table> to_table(const proto::RoutingSnapshot& snap, const proto::Config& cfg,
                                                   net::upstream_registry& registry);

} // namespace roamd::actors
