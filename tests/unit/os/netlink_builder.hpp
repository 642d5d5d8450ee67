#pragma once

// Test helpers: netlink messages built byte by byte as the kernel lays them out, and a populated model.
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "os/netlink_parse.hpp"

namespace roamd::os::nl_test {

/// Builds netlink messages byte by byte, the way the kernel lays them out (4-byte aligned, lengths patched last).
class nl_builder {
public:
  nl_builder& begin(std::uint16_t type, std::uint16_t flags = 0, std::uint32_t seq = 0) {
    start_ = bytes.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = seq;
    return raw(&h, sizeof(h));
  }
  template <class T>
  nl_builder& header(const T& family_header) {
    return raw(&family_header, sizeof(T));
  }
  nl_builder& attr(std::uint16_t type, const void* data, std::size_t n) {
    rtattr a{static_cast<std::uint16_t>(sizeof(rtattr) + n), type};
    raw(&a, sizeof(a));
    return raw(data, n);
  }
  nl_builder& attr_str(std::uint16_t type, const std::string& s) {
    return attr(type, s.c_str(), s.size() + 1);
  }
  nl_builder& attr_u32(std::uint16_t type, std::uint32_t v) {
    return attr(type, &v, sizeof(v));
  }
  nl_builder& attr_ip(std::uint16_t type, int family, const char* text) {
    std::uint8_t buf[16];
    EXPECT_EQ(inet_pton(family, text, buf), 1) << text;
    return attr(type, buf, family == AF_INET ? 4 : 16);
  }
  nl_builder& begin_nest(std::uint16_t type) {
    nests_.push_back(bytes.size());
    return attr(type, nullptr, 0);
  }
  nl_builder& end_nest() {
    patch16(nests_.back(), bytes.size() - nests_.back());
    nests_.pop_back();
    return *this;
  }
  nl_builder& end() {
    auto len = static_cast<std::uint32_t>(bytes.size() - start_);
    std::memcpy(bytes.data() + start_, &len, sizeof(len));
    return *this;
  }

  std::vector<std::uint8_t> bytes;

private:
  nl_builder& raw(const void* p, std::size_t n) {
    auto at = bytes.size();
    bytes.resize(at + ((n + 3) & ~std::size_t{3}), 0);
    if (n > 0)
      std::memcpy(bytes.data() + at, p, n);
    return *this;
  }
  void patch16(std::size_t at, std::size_t v) {
    auto len = static_cast<std::uint16_t>(v);
    std::memcpy(bytes.data() + at, &len, sizeof(len));
  }
  std::size_t start_ = 0;
  std::vector<std::size_t> nests_;
};

inline void add_link(nl_builder& b, std::uint16_t type, int index, const std::string& name, unsigned flags,
              const std::string& kind = "", std::uint8_t family = AF_UNSPEC) {
  ifinfomsg ifi{};
  ifi.ifi_family = family;
  ifi.ifi_index = index;
  ifi.ifi_flags = flags;
  b.begin(type).header(ifi).attr_str(IFLA_IFNAME, name).attr_u32(IFLA_MTU, 1500);
  if (!kind.empty())
    b.begin_nest(IFLA_LINKINFO).attr_str(IFLA_INFO_KIND, kind).end_nest();
  b.end();
}

inline void add_address(nl_builder& b, std::uint16_t type, int family, std::uint32_t index, std::uint8_t prefix,
                 const char* address, const char* local = nullptr) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<std::uint8_t>(family);
  ifa.ifa_prefixlen = prefix;
  ifa.ifa_index = index;
  b.begin(type).header(ifa).attr_ip(IFA_ADDRESS, family, address);
  if (local != nullptr)
    b.attr_ip(IFA_LOCAL, family, local);
  b.attr_str(IFA_LABEL, "x").end();
}

struct route_spec {
  std::uint16_t type = RTM_NEWROUTE;
  int family = AF_INET;
  const char* dst = nullptr;  // nullptr: default route
  std::uint8_t dst_len = 0;
  const char* gateway = nullptr;
  std::uint32_t oif = 0;
  std::uint32_t table = RT_TABLE_MAIN;
  std::uint32_t metric = 0;
  std::uint8_t rtm_type = RTN_UNICAST;
  std::uint32_t flags = 0;
  std::uint16_t nlmsg_flags = 0;  // NLM_F_REPLACE for `ip route replace`
};

inline void add_route(nl_builder& b, const route_spec& r) {
  rtmsg rtm{};
  rtm.rtm_family = static_cast<std::uint8_t>(r.family);
  rtm.rtm_dst_len = r.dst_len;
  rtm.rtm_table = static_cast<std::uint8_t>(r.table < 256 ? r.table : RT_TABLE_COMPAT);
  rtm.rtm_type = r.rtm_type;
  rtm.rtm_flags = r.flags;
  b.begin(r.type, r.nlmsg_flags).header(rtm).attr_u32(RTA_TABLE, r.table);
  if (r.dst != nullptr)
    b.attr_ip(RTA_DST, r.family, r.dst);
  if (r.gateway != nullptr)
    b.attr_ip(RTA_GATEWAY, r.family, r.gateway);
  if (r.oif != 0)
    b.attr_u32(RTA_OIF, r.oif);
  if (r.metric != 0)
    b.attr_u32(RTA_PRIORITY, r.metric);
  b.end();
}

inline nl_batch apply(const nl_builder& b, adapter_model& m) {
  return apply_netlink(b.bytes.data(), b.bytes.size(), m);
}

/// A model with lo (1) and a veth eth0 (2) carrying addresses and routes.
inline adapter_model populated() {
  adapter_model m;
  nl_builder b;
  add_link(b, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOWER_UP | IFF_LOOPBACK);
  add_link(b, RTM_NEWLINK, 2, "eth0", IFF_UP | IFF_LOWER_UP, "veth");
  add_address(b, RTM_NEWADDR, AF_INET, 1, 8, "127.0.0.1", "127.0.0.1");
  add_address(b, RTM_NEWADDR, AF_INET6, 2, 64, "2001:db8::2");
  add_address(b, RTM_NEWADDR, AF_INET, 2, 24, "192.0.2.2", "192.0.2.2");
  add_route(b, {RTM_NEWROUTE, AF_INET, nullptr, 0, "192.0.2.1", 2, RT_TABLE_MAIN, 100});
  add_route(b, {RTM_NEWROUTE, AF_INET, "192.0.2.0", 24, nullptr, 2, RT_TABLE_MAIN, 100});
  add_route(b, {RTM_NEWROUTE, AF_INET6, nullptr, 0, "fe80::1", 2, RT_TABLE_MAIN, 1024});
  auto r = apply(b, m);
  EXPECT_EQ(r.messages, 8u);
  EXPECT_EQ(r.malformed, 0u);
  EXPECT_TRUE(r.changed);
  return m;
}

} // namespace roamd::os::nl_test
