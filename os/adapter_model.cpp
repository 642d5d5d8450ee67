#include "os/adapter_model.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <tuple>

namespace roamd::os {

namespace {

std::size_t address_size(std::uint8_t family) {
  return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/// Erases every entry of `m` for which `drop` holds; returns whether it erased any.
template <class Map, class Pred>
bool erase_if(Map& m, Pred drop) {
  bool changed = false;
  for (auto i = m.begin(); i != m.end();) {
    if (drop(*i)) {
      i = m.erase(i);
      changed = true;
    } else {
      ++i;
    }
  }
  return changed;
}

/// Inserts `key` stamped with `epoch`, or refreshes the stamp of an equal entry. Returns whether it was new.
template <class Map, class Key>
bool stamp(Map& m, const Key& key, std::uint64_t epoch) {
  auto [i, inserted] = m.emplace(key, epoch);
  i->second = epoch;
  return inserted;
}

} // namespace

bool link_state::operator==(const link_state& o) const {
  return std::tie(index, name, kind, up, carrier, loopback, point_to_point)
         == std::tie(o.index, o.name, o.kind, o.up, o.carrier, o.loopback, o.point_to_point);
}

bool ip_bytes::operator<(const ip_bytes& o) const {
  return std::tie(family, bytes) < std::tie(o.family, o.bytes);
}

bool ip_bytes::operator==(const ip_bytes& o) const {
  return family == o.family && bytes == o.bytes;
}

bool address_key::operator<(const address_key& o) const {
  return std::tie(index, address, prefix) < std::tie(o.index, o.address, o.prefix);
}

bool route_key::operator<(const route_key& o) const {
  return std::tie(family, table, destination, prefix, metric, oif, has_gateway, gateway)
         < std::tie(o.family, o.table, o.destination, o.prefix, o.metric, o.oif, o.has_gateway, o.gateway);
}

std::string to_string(const ip_bytes& a) {
  if (address_size(a.family) == 0)
    return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(a.family, a.bytes.data(), text, sizeof(text)) == nullptr)
    return {};
  return text;
}

bool adapter_model::put_link(const link_state& l) {
  auto [i, inserted] = links_.try_emplace(l.index);
  i->second.seen = epoch_;
  if (!inserted && i->second.link == l)
    return false;
  i->second.link = l;
  return true;
}

bool adapter_model::erase_link(std::uint32_t index) {
  bool changed = links_.erase(index) > 0;
  changed |= erase_if(addresses_, [&](const auto& e) { return e.first.index == index; });
  changed |= erase_if(routes_, [&](const auto& e) { return e.first.oif == index; });
  return changed;
}

bool adapter_model::put_address(const address_key& a) {
  return stamp(addresses_, a, epoch_);
}

bool adapter_model::erase_address(const address_key& a) {
  return addresses_.erase(a) > 0;
}

bool adapter_model::put_route(const route_key& r) {
  return stamp(routes_, r, epoch_);
}

bool adapter_model::replace_route(const route_key& r) {
  bool changed = erase_if(routes_, [&](const auto& e) {
    const auto& k = e.first;
    return k.family == r.family && k.table == r.table && k.destination == r.destination && k.prefix == r.prefix &&
           k.metric == r.metric && (k.oif != r.oif || k.has_gateway != r.has_gateway || !(k.gateway == r.gateway));
  });
  return put_route(r) || changed;
}

bool adapter_model::erase_route(const route_key& r) {
  return routes_.erase(r) > 0;
}

const link_state* adapter_model::find_link(std::uint32_t index) const {
  auto i = links_.find(index);
  return i == links_.end() ? nullptr : &i->second.link;
}

std::uint64_t adapter_model::begin_sweep(nl_table) {
  return ++epoch_;
}

bool adapter_model::end_sweep(nl_table t, std::uint64_t mark) {
  switch (t) {
    case nl_table::links: {
      bool changed = false;
      for (auto i = links_.begin(); i != links_.end();) {
        auto current = i++;  // erase_link invalidates `current` only
        if (current->second.seen < mark)
          changed |= erase_link(current->first);
      }
      return changed;
    }
    case nl_table::addresses:
      return erase_if(addresses_, [&](const auto& e) { return e.second < mark; });
    case nl_table::routes:
      return erase_if(routes_, [&](const auto& e) { return e.second < mark; });
  }
  return false;
}

proto::AdapterSnapshot adapter_model::snapshot() const {
  proto::AdapterSnapshot s;
  auto addr = addresses_.begin();
  for (const auto& [index, entry] : links_) {
    auto* l = s.add_links();
    l->set_index(index);
    l->set_name(entry.link.name);
    l->set_kind(entry.link.kind);
    l->set_up(entry.link.up);
    l->set_carrier(entry.link.carrier);
    l->set_loopback(entry.link.loopback);
    l->set_point_to_point(entry.link.point_to_point);
    // Both maps are ordered by link index first: walk them together.
    while (addr != addresses_.end() && addr->first.index < index)
      ++addr;
    for (; addr != addresses_.end() && addr->first.index == index; ++addr)
      l->add_addresses(to_string(addr->first.address) + "/" + std::to_string(addr->first.prefix));
  }
  for (const auto& [r, seen] : routes_) {
    auto* k = s.add_routes();
    k->set_destination(to_string(r.destination) + "/" + std::to_string(r.prefix));
    if (r.has_gateway)
      k->set_gateway(to_string(r.gateway));
    k->set_index(r.oif);
    if (const auto* l = find_link(r.oif))
      k->set_interface(l->name);
    k->set_table(r.table);
    k->set_metric(r.metric);
  }
  return s;
}

} // namespace roamd::os
