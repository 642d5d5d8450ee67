#include "os/netlink_parse.hpp"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace roamd::os {

namespace {

/// A view of packet bytes; every read is checked against `size`.
struct bytes_view {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;

  bytes_view tail(std::size_t from) const {
    return from >= size ? bytes_view{} : bytes_view{data + from, size - from};
  }
};

enum class outcome { applied, unchanged, ignored, malformed };

constexpr std::size_t align4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

/// Copies a T out of the front of `v` (never a cast of packet bytes).
template <class T>
bool read(bytes_view v, T& out) {
  if (v.size < sizeof(T))
    return false;
  std::memcpy(&out, v.data, sizeof(T));
  return true;
}

/// Calls `fn(type, payload)` for each attribute in `v` (RTA_OK/RTA_NEXT done by hand). Returns false when an
/// attribute's length lies or `fn` rejects its payload.
template <class Fn>
bool for_each_attr(bytes_view v, Fn fn) {
  std::size_t off = 0;
  while (v.size - off >= sizeof(rtattr)) {
    rtattr a;
    std::memcpy(&a, v.data + off, sizeof(a));
    if (a.rta_len < sizeof(rtattr) || a.rta_len > v.size - off)
      return false;
    if (!fn(a.rta_type & NLA_TYPE_MASK, bytes_view{v.data + off + sizeof(rtattr), a.rta_len - sizeof(rtattr)}))
      return false;
    std::size_t step = align4(a.rta_len);
    if (step >= v.size - off)
      return true;
    off += step;
  }
  return true;  // fewer than 4 bytes left: padding, as RTA_OK would stop
}

bool read_u32(bytes_view v, std::uint32_t& out) {
  return v.size == sizeof(out) && read(v, out);
}

/// A NUL-terminated (or length-bounded) string of at most `max` bytes.
bool read_string(bytes_view v, std::size_t max, std::string& out) {
  auto end = std::find(v.data, v.data + v.size, std::uint8_t{0});
  auto n = static_cast<std::size_t>(end - v.data);
  if (n == 0 || n > max)
    return false;
  out.assign(reinterpret_cast<const char*>(v.data), n);
  return true;
}

std::size_t family_size(std::uint8_t family) {
  return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

bool read_ip(bytes_view v, std::uint8_t family, ip_bytes& out) {
  if (family_size(family) == 0 || v.size != family_size(family))
    return false;
  out.family = family;
  out.bytes.fill(0);
  std::memcpy(out.bytes.data(), v.data, v.size);
  return true;
}

outcome apply_link(const nlmsghdr& h, bytes_view payload, adapter_model& model, nl_batch& batch) {
  ifinfomsg ifi;
  if (!read(payload, ifi) || ifi.ifi_index <= 0)
    return outcome::malformed;
  if (ifi.ifi_family != AF_UNSPEC)
    return outcome::ignored;  // e.g. AF_BRIDGE port messages: a DELLINK there does not delete the link
  auto index = static_cast<std::uint32_t>(ifi.ifi_index);
  if (h.nlmsg_type == RTM_DELLINK) {
    batch.routes_stale = true;
    return model.erase_link(index) ? outcome::applied : outcome::unchanged;
  }
  link_state l;
  l.index = index;
  bool ok = for_each_attr(payload.tail(align4(sizeof(ifi))), [&](unsigned type, bytes_view v) {
    if (type == IFLA_IFNAME)
      return read_string(v, IFNAMSIZ - 1, l.name);
    if (type == IFLA_LINKINFO)
      return for_each_attr(v, [&](unsigned t, bytes_view k) {
        return t != IFLA_INFO_KIND || read_string(k, 64, l.kind);
      });
    return true;
  });
  if (!ok)
    return outcome::malformed;
  const link_state* old = model.find_link(index);
  if (l.name.empty()) {
    if (old == nullptr)
      return outcome::malformed;  // the kernel always names a link; nothing to show without a name
    l.name = old->name;
  }
  l.up = (ifi.ifi_flags & IFF_UP) != 0;
  l.carrier = (ifi.ifi_flags & IFF_LOWER_UP) != 0;
  l.loopback = (ifi.ifi_flags & IFF_LOOPBACK) != 0;
  l.point_to_point = (ifi.ifi_flags & IFF_POINTOPOINT) != 0;
  if (l.kind.empty() && l.loopback)
    l.kind = "loopback";
  if (old != nullptr && ((old->up && !l.up) || (old->carrier && !l.carrier)))
    batch.routes_stale = true;
  return model.put_link(l) ? outcome::applied : outcome::unchanged;
}

outcome apply_address(const nlmsghdr& h, bytes_view payload, adapter_model& model, nl_batch& batch) {
  ifaddrmsg ifa;
  if (!read(payload, ifa) || ifa.ifa_index == 0)
    return outcome::malformed;
  if (family_size(ifa.ifa_family) == 0)
    return outcome::ignored;
  if (ifa.ifa_prefixlen > family_size(ifa.ifa_family) * 8)
    return outcome::malformed;
  ip_bytes address, local;
  bool has_address = false, has_local = false;
  bool ok = for_each_attr(payload.tail(align4(sizeof(ifa))), [&](unsigned type, bytes_view v) {
    if (type == IFA_ADDRESS)
      return has_address = read_ip(v, ifa.ifa_family, address);
    if (type == IFA_LOCAL)
      return has_local = read_ip(v, ifa.ifa_family, local);
    return true;
  });
  if (!ok || (!has_address && !has_local))
    return outcome::malformed;
  address_key key;
  key.index = ifa.ifa_index;
  key.prefix = ifa.ifa_prefixlen;
  // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  // IPv6: IFA_ADDRESS is the address.
  bool prefer_local = ifa.ifa_family == AF_INET ? has_local : !has_address;
  key.address = prefer_local ? local : address;
  if (h.nlmsg_type == RTM_DELADDR) {
    batch.routes_stale = true;
    return model.erase_address(key) ? outcome::applied : outcome::unchanged;
  }
  return model.put_address(key) ? outcome::applied : outcome::unchanged;
}

/// Reads RTA_GATEWAY or RTA_VIA into `r`.
bool read_gateway(unsigned type, bytes_view v, route_key& r) {
  if (type == RTA_GATEWAY)
    return r.has_gateway = read_ip(v, r.family, r.gateway);
  // RTA_VIA: a 16-bit family, then the address (an IPv4 route through an IPv6 next hop).
  std::uint16_t family = 0;
  if (!read(v, family) || family > 0xff)
    return false;
  return r.has_gateway = read_ip(v.tail(sizeof(family)), static_cast<std::uint8_t>(family), r.gateway);
}

/// Splits RTA_MULTIPATH into one route per next hop, appended to `out`.
bool read_multipath(bytes_view v, const route_key& base, std::vector<route_key>& out) {
  std::size_t off = 0;
  while (v.size - off >= sizeof(rtnexthop)) {
    rtnexthop nh;
    std::memcpy(&nh, v.data + off, sizeof(nh));
    if (nh.rtnh_len < sizeof(nh) || nh.rtnh_len > v.size - off || nh.rtnh_ifindex < 0)
      return false;
    route_key r = base;
    r.oif = static_cast<std::uint32_t>(nh.rtnh_ifindex);
    bytes_view attrs{v.data + off + sizeof(nh), nh.rtnh_len - sizeof(nh)};
    if (!for_each_attr(attrs, [&](unsigned type, bytes_view a) {
          return (type != RTA_GATEWAY && type != RTA_VIA) || read_gateway(type, a, r);
        }))
      return false;
    out.push_back(r);
    std::size_t step = align4(nh.rtnh_len);
    if (step >= v.size - off)
      return true;
    off += step;
  }
  return v.size - off == 0;
}

outcome apply_route(const nlmsghdr& h, bytes_view payload, adapter_model& model) {
  rtmsg rtm;
  if (!read(payload, rtm))
    return outcome::malformed;
  if (family_size(rtm.rtm_family) == 0)
    return outcome::ignored;
  if (rtm.rtm_dst_len > family_size(rtm.rtm_family) * 8)
    return outcome::malformed;
  if ((rtm.rtm_flags & RTM_F_CLONED) != 0 || rtm.rtm_type != RTN_UNICAST)
    return outcome::ignored;  // cached clones, local, broadcast, multicast, unreachable, ...
  route_key base;
  base.family = rtm.rtm_family;
  base.table = rtm.rtm_table;
  base.prefix = rtm.rtm_dst_len;
  base.destination.family = rtm.rtm_family;
  bytes_view multipath;
  bool has_multipath = false;
  bool ok = for_each_attr(payload.tail(align4(sizeof(rtm))), [&](unsigned type, bytes_view v) {
    switch (type) {
      case RTA_DST: return read_ip(v, rtm.rtm_family, base.destination);
      case RTA_GATEWAY:
      case RTA_VIA: return read_gateway(type, v, base);
      case RTA_OIF: return read_u32(v, base.oif);
      case RTA_TABLE: return read_u32(v, base.table);
      case RTA_PRIORITY: return read_u32(v, base.metric);
      case RTA_MULTIPATH:
        multipath = v;
        has_multipath = true;
        return true;
      default: return true;
    }
  });
  std::vector<route_key> routes;
  if (!ok || (has_multipath && !read_multipath(multipath, base, routes)))
    return outcome::malformed;
  if (routes.empty())
    routes.push_back(base);
  bool changed = false;
  bool replace = h.nlmsg_type == RTM_NEWROUTE && (h.nlmsg_flags & NLM_F_REPLACE) != 0 && routes.size() == 1;
  for (const auto& r : routes)
    changed |= h.nlmsg_type == RTM_DELROUTE ? model.erase_route(r) : replace ? model.replace_route(r) : model.put_route(r);
  return changed ? outcome::applied : outcome::unchanged;
}

/// NLMSG_DONE (optionally with an int error) and NLMSG_ERROR (an int error, then the request's header).
outcome apply_reply(const nlmsghdr& h, bytes_view payload, nl_batch& batch) {
  nl_reply reply;
  reply.seq = h.nlmsg_seq;
  reply.done = h.nlmsg_type == NLMSG_DONE;
  std::int32_t error = 0;
  if (!read(payload, error)) {
    if (!reply.done)
      return outcome::malformed;
  } else if (error > 0 || error == INT32_MIN) {
    return outcome::malformed;
  }
  reply.error = -error;
  batch.replies.push_back(reply);
  return outcome::unchanged;
}

outcome apply_message(const nlmsghdr& h, bytes_view payload, adapter_model& model, nl_batch& batch) {
  switch (h.nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: return apply_link(h, payload, model, batch);
    case RTM_NEWADDR:
    case RTM_DELADDR: return apply_address(h, payload, model, batch);
    case RTM_NEWROUTE:
    case RTM_DELROUTE: return apply_route(h, payload, model);
    case NLMSG_DONE:
    case NLMSG_ERROR: return apply_reply(h, payload, batch);
    case NLMSG_OVERRUN: batch.overrun = true; return outcome::unchanged;
    default: return outcome::ignored;  // NLMSG_NOOP and types not subscribed to
  }
}

} // namespace

nl_batch apply_netlink(const std::uint8_t* data, std::size_t size, adapter_model& model) {
  nl_batch batch;
  if (data == nullptr)
    size = 0;
  std::size_t off = 0;
  while (off < size) {
    nlmsghdr h;
    if (size - off < sizeof(h)) {
      ++batch.malformed;  // trailing bytes too short for a header
      break;
    }
    std::memcpy(&h, data + off, sizeof(h));
    if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > size - off) {
      ++batch.malformed;  // a lying length: nothing after it can be framed
      break;
    }
    ++batch.messages;
    if ((h.nlmsg_flags & NLM_F_DUMP_INTR) != 0
        && std::find(batch.interrupted.begin(), batch.interrupted.end(), h.nlmsg_seq) == batch.interrupted.end())
      batch.interrupted.push_back(h.nlmsg_seq);
    bytes_view payload{data + off + sizeof(h), h.nlmsg_len - sizeof(h)};
    switch (apply_message(h, payload, model, batch)) {
      case outcome::applied: batch.changed = true; break;
      case outcome::unchanged: break;
      case outcome::ignored: ++batch.ignored; break;
      case outcome::malformed:
        --batch.messages;
        ++batch.malformed;
        break;
    }
    std::size_t step = align4(h.nlmsg_len);
    if (step >= size - off)
      break;
    off += step;
  }
  return batch;
}

std::vector<std::uint8_t> make_dump_request(nl_table table, std::uint32_t seq) {
  nlmsghdr h{};
  std::size_t body = 0;
  switch (table) {
    case nl_table::links:
      h.nlmsg_type = RTM_GETLINK;
      body = sizeof(ifinfomsg);
      break;
    case nl_table::addresses:
      h.nlmsg_type = RTM_GETADDR;
      body = sizeof(ifaddrmsg);
      break;
    case nl_table::routes:
      h.nlmsg_type = RTM_GETROUTE;
      body = sizeof(rtmsg);
      break;
  }
  h.nlmsg_len = static_cast<std::uint32_t>(sizeof(h) + body);
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h.nlmsg_seq = seq;
  std::vector<std::uint8_t> out(h.nlmsg_len, 0);  // the family header stays zero: AF_UNSPEC, every entry
  std::memcpy(out.data(), &h, sizeof(h));
  return out;
}

} // namespace roamd::os
