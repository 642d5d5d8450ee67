#pragma once

#include <string>
#include <vector>

#include "proto/control.pb.h"

namespace roamd::actors {

/// The link named `name` in `snap`, or null.
const proto::Link* find_link(const proto::AdapterSnapshot& snap, const std::string& name);

/// Whether link `name` exists, is up and has carrier (it can carry packets).
bool link_alive(const proto::AdapterSnapshot& snap, const std::string& name);

/// The link the kernel would send packets to `address` ("IP" or "IP:PORT", "[v6]:port") out of, by longest prefix
/// over the main table's routes whose link has carrier (lowest metric wins a tie); "lo" for loopback addresses;
/// "" when no route matches or the address does not parse.
std::string egress_for(const std::string& address, const proto::AdapterSnapshot& adapters);

/// The link whose own (non-default) route covers `address`: a VPN's tunnel for the VPN's servers, the LAN for the
/// LAN's. "" when only a default route reaches it, for loopback and for what does not parse: such a server is not
/// bound to a link (the kernel's routing decides, and follows later changes).
std::string owning_link(const std::string& address, const proto::AdapterSnapshot& adapters);

/// Whether `servers` ("IP", "IP:PORT", "[v6]:PORT") is not empty and every one is a loopback address: a local DNS
/// proxy (127.0.0.53, ::1, ...).
bool all_loopback(const std::vector<std::string>& servers);

/// Fills `Route.egress` of every route from its first resolver.
void annotate_egress(proto::RoutingSnapshot& snap, const proto::AdapterSnapshot& adapters);

} // namespace roamd::actors
