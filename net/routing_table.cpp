#include "net/routing_table.hpp"

#include <algorithm>
#include <cstring>

namespace roamd::net {

namespace {

uint64_t hash_bytes(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h | 1;  // never 0
}

} // namespace

std::optional<dns::wire_name> routing_table::to_wire(const std::string& domain) {
  dns::wire_name w;
  size_t n = 0;
  size_t start = 0;
  while (start < domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string::npos)
      dot = domain.size();
    size_t len = dot - start;
    if (len == 0 || len > 63 || n + len + 2 > dns::max_name_wire)
      return std::nullopt;
    w.bytes[n++] = static_cast<uint8_t>(len);
    for (size_t i = 0; i < len; ++i) {
      char c = domain[start + i];
      w.bytes[n++] = static_cast<uint8_t>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    start = dot + 1;
  }
  w.bytes[n++] = 0;
  w.size = static_cast<uint8_t>(n);
  return w;
}

routing_table::routing_table(std::vector<route> routes, route fallback,
                             std::optional<std::array<uint8_t, 8>> device_id, uint64_t generation,
                             std::vector<std::string> local_names)
    : routes_(std::move(routes)), fallback_(std::move(fallback)), generation_(generation) {
  auto complete = [](route& r) {
    r.any_fallback = r.fallback;
    r.any_fallback.insert(r.any_fallback.end(), r.local_fallback.begin(), r.local_fallback.end());
    r.to_loopback = std::any_of(r.resolvers.begin(), r.resolvers.end(),
                                [](const auto& u) { return u->endpoint.address().is_loopback(); });
  };
  complete(fallback_);
  for (auto& r : routes_)
    complete(r);
  for (const auto& n : local_names)
    if (auto w = to_wire(n))
      local_names_.push_back(*w);
  if (device_id)
    identity_ = dns::make_identity_option(*device_id);
  size_t cap = 8;
  while (cap < routes_.size() * 2)
    cap <<= 1;
  slots_.resize(routes_.empty() ? 0 : cap);
  wire_.reserve(routes_.size());
  for (size_t i = 0; i < routes_.size(); ++i) {
    auto w = to_wire(routes_[i].domain);
    wire_.push_back(w ? *w : dns::wire_name{});
    if (!w)
      continue;  // the config loader validated domains; an invalid one simply never matches
    uint64_t h = hash_bytes(w->bytes.data(), w->size);
    size_t mask = slots_.size() - 1;
    size_t pos = h & mask;
    while (slots_[pos].index != 0)
      pos = (pos + 1) & mask;
    slots_[pos] = slot{h, static_cast<uint32_t>(i + 1)};
  }
}

const route& routing_table::lookup(const dns::wire_name& qname) const {
  if (slots_.empty())
    return fallback_;
  size_t mask = slots_.size() - 1;
  // Try every suffix at a label boundary, longest first.
  size_t off = 0;
  while (off < qname.size && qname.bytes[off] != 0) {
    const uint8_t* p = qname.bytes.data() + off;
    size_t n = qname.size - off;
    uint64_t h = hash_bytes(p, n);
    for (size_t pos = h & mask; slots_[pos].index != 0; pos = (pos + 1) & mask) {
      if (slots_[pos].hash != h)
        continue;
      const auto& w = wire_[slots_[pos].index - 1];
      if (w.size == n && std::memcmp(w.bytes.data(), p, n) == 0)
        return routes_[slots_[pos].index - 1];
    }
    off += qname.bytes[off] + 1u;
  }
  return fallback_;
}

bool routing_table::may_be_local(const dns::wire_name& qname) const {
  if (qname.size < 2 || qname.bytes[0] == 0)
    return false;  // the root
  size_t first = qname.bytes[0] + 1u;
  if (first < qname.size && qname.bytes[first] == 0)
    return true;  // a single label ("printer", "nas")
  for (size_t off = 0; off < qname.size && qname.bytes[off] != 0; off += qname.bytes[off] + 1u) {
    size_t n = qname.size - off;
    for (const auto& w : local_names_)
      if (w.size == n && std::memcmp(w.bytes.data(), qname.bytes.data() + off, n) == 0)
        return true;
  }
  return false;
}

} // namespace roamd::net
