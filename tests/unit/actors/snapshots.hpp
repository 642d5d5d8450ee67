#pragma once

// Adapter snapshots for actor tests: a LAN, and the LAN with a VPN tunnel.

#include <cstdint>
#include <string>

#include "proto/control.pb.h"

namespace roamd::test {

inline proto::Link* add_link(proto::AdapterSnapshot& s, uint32_t index, const std::string& name,
                             const std::string& kind) {
  auto* l = s.add_links();
  l->set_index(index);
  l->set_name(name);
  l->set_kind(kind);
  l->set_up(true);
  l->set_carrier(true);
  return l;
}

inline void add_route(proto::AdapterSnapshot& s, const std::string& dst, uint32_t index, const std::string& name,
               uint32_t metric = 0) {
  auto* r = s.add_routes();
  r->set_destination(dst);
  r->set_index(index);
  r->set_interface(name);
  r->set_table(254);
  r->set_metric(metric);
}

inline proto::AdapterSnapshot lan_only() {
  proto::AdapterSnapshot s;
  add_link(s, 1, "lo", "loopback")->set_loopback(true);
  add_link(s, 2, "eth0", "veth");
  add_route(s, "0.0.0.0/0", 2, "eth0", 100);
  add_route(s, "192.0.2.0/24", 2, "eth0");
  return s;
}

inline proto::AdapterSnapshot with_tunnel() {
  auto s = lan_only();
  add_link(s, 7, "tun0", "tun")->set_point_to_point(true);
  add_route(s, "10.8.0.0/16", 7, "tun0");
  return s;
}

} // namespace roamd::test
