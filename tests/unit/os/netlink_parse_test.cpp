#include "os/netlink_parse.hpp"

#include <random>

#include "netlink_builder.hpp"

namespace roamd::os {
namespace {

using namespace nl_test;

TEST(netlink_parse, links_addresses_and_routes_make_a_sorted_snapshot) {
  auto s = populated().snapshot();
  ASSERT_EQ(s.links_size(), 2);
  EXPECT_EQ(s.links(0).index(), 1u);
  EXPECT_EQ(s.links(0).name(), "lo");
  EXPECT_EQ(s.links(0).kind(), "loopback");
  EXPECT_TRUE(s.links(0).loopback() && s.links(0).up() && s.links(0).carrier());
  EXPECT_EQ(s.links(0).addresses(0), "127.0.0.1/8");
  EXPECT_EQ(s.links(1).name(), "eth0");
  EXPECT_EQ(s.links(1).kind(), "veth");
  EXPECT_FALSE(s.links(1).loopback() || s.links(1).point_to_point());
  ASSERT_EQ(s.links(1).addresses_size(), 2);
  EXPECT_EQ(s.links(1).addresses(0), "192.0.2.2/24");  // IPv4 first
  EXPECT_EQ(s.links(1).addresses(1), "2001:db8::2/64");
  ASSERT_EQ(s.routes_size(), 3);
  EXPECT_EQ(s.routes(0).destination(), "0.0.0.0/0");
  EXPECT_EQ(s.routes(0).gateway(), "192.0.2.1");
  EXPECT_EQ(s.routes(0).interface(), "eth0");
  EXPECT_EQ(s.routes(0).index(), 2u);
  EXPECT_EQ(s.routes(0).table(), unsigned{RT_TABLE_MAIN});
  EXPECT_EQ(s.routes(0).metric(), 100u);
  EXPECT_EQ(s.routes(1).destination(), "192.0.2.0/24");
  EXPECT_EQ(s.routes(1).gateway(), "");
  EXPECT_EQ(s.routes(2).destination(), "::/0");
  EXPECT_EQ(s.routes(2).gateway(), "fe80::1");
}

TEST(netlink_parse, a_repeated_message_is_not_a_change) {
  auto m = populated();
  nl_builder b;
  add_link(b, RTM_NEWLINK, 2, "eth0", IFF_UP | IFF_LOWER_UP, "veth");
  add_address(b, RTM_NEWADDR, AF_INET, 2, 24, "192.0.2.2", "192.0.2.2");
  add_route(b, {RTM_NEWROUTE, AF_INET, "192.0.2.0", 24, nullptr, 2, RT_TABLE_MAIN, 100});
  auto r = apply(b, m);
  EXPECT_EQ(r.messages, 3u);
  EXPECT_FALSE(r.changed);
  EXPECT_FALSE(r.routes_stale);
}

TEST(netlink_parse, rename_keeps_the_index_and_routes_follow_the_name) {
  auto m = populated();
  nl_builder b;
  add_link(b, RTM_NEWLINK, 2, "wan0", IFF_UP | IFF_LOWER_UP, "veth");
  EXPECT_TRUE(apply(b, m).changed);
  auto s = m.snapshot();
  EXPECT_EQ(s.links(1).name(), "wan0");
  EXPECT_EQ(s.links(1).addresses_size(), 2);
  EXPECT_EQ(s.routes(0).interface(), "wan0");
}

TEST(netlink_parse, flag_changes_and_carrier_loss_mark_routes_stale) {
  auto m = populated();
  nl_builder up;
  add_link(up, RTM_NEWLINK, 2, "eth0", IFF_UP | IFF_LOWER_UP | IFF_POINTOPOINT, "veth");
  auto r = apply(up, m);
  EXPECT_TRUE(r.changed);
  EXPECT_FALSE(r.routes_stale);
  EXPECT_TRUE(m.find_link(2)->point_to_point);
  nl_builder no_carrier;
  add_link(no_carrier, RTM_NEWLINK, 2, "eth0", IFF_UP | IFF_POINTOPOINT, "veth");
  r = apply(no_carrier, m);
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(r.routes_stale);
  EXPECT_FALSE(m.find_link(2)->carrier);
  EXPECT_TRUE(m.find_link(2)->up);
  nl_builder down;
  add_link(down, RTM_NEWLINK, 2, "eth0", IFF_POINTOPOINT, "veth");
  r = apply(down, m);
  EXPECT_TRUE(r.routes_stale);
  EXPECT_FALSE(m.find_link(2)->up);
}

TEST(netlink_parse, ipv4_prefers_the_local_address_and_deladdr_removes_it) {
  adapter_model m;
  nl_builder b;
  add_link(b, RTM_NEWLINK, 5, "tun0", IFF_UP | IFF_POINTOPOINT, "tun");
  add_address(b, RTM_NEWADDR, AF_INET, 5, 32, "10.8.0.2", "10.8.0.1");  // IFA_ADDRESS is the peer
  add_address(b, RTM_NEWADDR, AF_INET6, 5, 128, "fd00::1");
  apply(b, m);
  auto s = m.snapshot();
  ASSERT_EQ(s.links(0).addresses_size(), 2);
  EXPECT_EQ(s.links(0).addresses(0), "10.8.0.1/32");
  EXPECT_EQ(s.links(0).addresses(1), "fd00::1/128");
  EXPECT_EQ(s.links(0).kind(), "tun");
  nl_builder del;
  add_address(del, RTM_DELADDR, AF_INET, 5, 32, "10.8.0.2", "10.8.0.1");
  auto r = apply(del, m);
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(r.routes_stale);
  EXPECT_EQ(m.snapshot().links(0).addresses(0), "fd00::1/128");
}

TEST(netlink_parse, routes_keep_unicast_only_and_take_the_table_attribute) {
  adapter_model m;
  nl_builder b;
  add_route(b, {RTM_NEWROUTE, AF_INET, "10.0.0.0", 8, "192.0.2.1", 2, 1000, 5});
  add_route(b, {RTM_NEWROUTE, AF_INET, "127.0.0.1", 32, nullptr, 1, RT_TABLE_LOCAL, 0, RTN_LOCAL});
  add_route(b, {RTM_NEWROUTE, AF_INET, "127.255.255.255", 32, nullptr, 1, RT_TABLE_LOCAL, 0, RTN_BROADCAST});
  add_route(b, {RTM_NEWROUTE, AF_INET6, "2001:db8::5", 128, "fe80::1", 2, RT_TABLE_MAIN, 0, RTN_UNICAST,
                RTM_F_CLONED});
  auto r = apply(b, m);
  EXPECT_EQ(r.ignored, 3u);
  auto s = m.snapshot();
  ASSERT_EQ(s.routes_size(), 1);
  EXPECT_EQ(s.routes(0).destination(), "10.0.0.0/8");
  EXPECT_EQ(s.routes(0).table(), 1000u);
  EXPECT_EQ(s.routes(0).metric(), 5u);
  EXPECT_EQ(s.routes(0).interface(), "");  // link not known (yet)
  nl_builder del;
  add_route(del, {RTM_DELROUTE, AF_INET, "10.0.0.0", 8, "192.0.2.1", 2, 1000, 5});
  EXPECT_TRUE(apply(del, m).changed);
  EXPECT_EQ(m.route_count(), 0u);
}

TEST(netlink_parse, a_replaced_route_takes_the_place_of_the_one_it_replaces) {
  // `ip route replace default dev tun0` sends one RTM_NEWROUTE with NLM_F_REPLACE and no RTM_DELROUTE for the
  // route it replaced (same table, destination and metric): the old default route must go.
  adapter_model m;
  nl_builder b;
  add_route(b, {RTM_NEWROUTE, AF_INET, nullptr, 0, "192.0.2.254", 2, RT_TABLE_MAIN, 0});
  add_route(b, {RTM_NEWROUTE, AF_INET, nullptr, 0, "192.0.2.253", 2, RT_TABLE_MAIN, 100});
  add_route(b, {RTM_NEWROUTE, AF_INET, "10.8.0.0", 24, nullptr, 7, RT_TABLE_MAIN, 0});
  apply(b, m);
  ASSERT_EQ(m.route_count(), 3u);
  nl_builder rep;
  add_route(rep, {RTM_NEWROUTE, AF_INET, nullptr, 0, nullptr, 7, RT_TABLE_MAIN, 0, RTN_UNICAST, 0,
                  NLM_F_REPLACE | NLM_F_CREATE});
  EXPECT_TRUE(apply(rep, m).changed);
  auto s = m.snapshot();
  ASSERT_EQ(s.routes_size(), 3);
  int defaults = 0;
  for (const auto& r : s.routes()) {
    if (r.destination() != "0.0.0.0/0")
      continue;
    ++defaults;
    if (r.metric() == 0)
      EXPECT_EQ(r.index(), 7u) << "the replaced default route now leaves through tun0";
    else
      EXPECT_EQ(r.gateway(), "192.0.2.253") << "another metric is another route";
  }
  EXPECT_EQ(defaults, 2);
}

TEST(netlink_parse, a_multipath_route_is_one_route_per_next_hop) {
  std::vector<std::uint8_t> hops;  // RTA_MULTIPATH's payload: rtnexthop, then its own attributes, per hop
  for (int index : {2, 3}) {
    nl_builder gw;
    gw.attr_ip(RTA_GATEWAY, AF_INET, index == 2 ? "192.0.2.1" : "198.51.100.1");
    rtnexthop h{};
    h.rtnh_len = static_cast<unsigned short>(sizeof(h) + gw.bytes.size());
    h.rtnh_ifindex = index;
    auto at = hops.size();
    hops.resize(at + sizeof(h));
    std::memcpy(hops.data() + at, &h, sizeof(h));
    hops.insert(hops.end(), gw.bytes.begin(), gw.bytes.end());
  }
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_type = RTN_UNICAST;
  nl_builder b;
  b.begin(RTM_NEWROUTE).header(rtm).attr(RTA_MULTIPATH, hops.data(), hops.size()).end();
  adapter_model m;
  auto r = apply(b, m);
  EXPECT_EQ(r.malformed, 0u);
  auto s = m.snapshot();
  ASSERT_EQ(s.routes_size(), 2);
  EXPECT_EQ(s.routes(0).destination(), "0.0.0.0/0");
  EXPECT_EQ(s.routes(0).index(), 2u);
  EXPECT_EQ(s.routes(0).gateway(), "192.0.2.1");
  EXPECT_EQ(s.routes(1).index(), 3u);
  EXPECT_EQ(s.routes(1).gateway(), "198.51.100.1");
}

TEST(netlink_parse, deleting_a_link_drops_its_addresses_and_routes) {
  auto m = populated();
  nl_builder b;
  add_link(b, RTM_DELLINK, 2, "eth0", 0, "veth");
  auto r = apply(b, m);
  EXPECT_TRUE(r.changed);
  EXPECT_TRUE(r.routes_stale);
  auto s = m.snapshot();
  ASSERT_EQ(s.links_size(), 1);
  EXPECT_EQ(s.links(0).name(), "lo");
  EXPECT_EQ(s.links(0).addresses_size(), 1);
  EXPECT_EQ(s.routes_size(), 0);
  EXPECT_EQ(m.address_count(), 1u);
}

TEST(netlink_parse, a_bridge_port_dellink_does_not_delete_the_link) {
  auto m = populated();
  nl_builder b;
  add_link(b, RTM_DELLINK, 2, "eth0", 0, "", AF_BRIDGE);
  auto r = apply(b, m);
  EXPECT_EQ(r.ignored, 1u);
  EXPECT_FALSE(r.changed);
  EXPECT_NE(m.find_link(2), nullptr);
}

TEST(netlink_parse, done_and_error_are_reported_with_their_sequence_numbers) {
  adapter_model m;
  nl_builder b;
  add_link(b, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOOPBACK);
  std::int32_t zero = 0, eperm = -EPERM;
  b.begin(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 7).header(zero).end();
  nlmsghdr request{};
  b.begin(NLMSG_ERROR, 0, 8).header(eperm).header(request).end();
  b.begin(NLMSG_ERROR, 0, 9).header(zero).header(request).end();  // an ack
  b.begin(NLMSG_NOOP).end();
  auto r = apply(b, m);
  EXPECT_EQ(r.messages, 5u);
  EXPECT_EQ(r.ignored, 1u);
  EXPECT_EQ(r.malformed, 0u);
  EXPECT_TRUE(r.changed);
  ASSERT_EQ(r.replies.size(), 3u);
  EXPECT_TRUE(r.replies[0].done);
  EXPECT_EQ(r.replies[0].seq, 7u);
  EXPECT_EQ(r.replies[0].error, 0);
  EXPECT_FALSE(r.replies[1].done);
  EXPECT_EQ(r.replies[1].seq, 8u);
  EXPECT_EQ(r.replies[1].error, EPERM);
  EXPECT_EQ(r.replies[2].error, 0);
  EXPECT_EQ(r.interrupted, std::vector<std::uint32_t>{7});
}

TEST(netlink_parse, a_truncated_message_ends_the_walk_after_the_good_ones) {
  nl_builder b;
  add_link(b, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOOPBACK);
  auto good = b.bytes.size();
  add_link(b, RTM_NEWLINK, 2, "eth0", IFF_UP, "veth");
  for (std::size_t cut = good; cut < b.bytes.size(); ++cut) {
    adapter_model m;
    auto r = apply_netlink(b.bytes.data(), cut, m);
    EXPECT_EQ(r.messages, 1u) << cut;
    EXPECT_EQ(r.malformed, cut == good ? 0u : 1u) << cut;
    EXPECT_EQ(m.link_count(), 1u) << cut;
  }
}

TEST(netlink_parse, lying_lengths_are_counted_and_never_read_past_the_buffer) {
  nl_builder b;
  add_link(b, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOOPBACK);
  for (std::uint32_t len : {0u, 15u, 100000u, static_cast<std::uint32_t>(b.bytes.size() + 1)}) {
    auto bytes = b.bytes;
    std::memcpy(bytes.data(), &len, sizeof(len));
    adapter_model m;
    auto r = apply_netlink(bytes.data(), bytes.size(), m);
    EXPECT_EQ(r.malformed, 1u) << len;
    EXPECT_EQ(m.link_count(), 0u) << len;
  }
  // An attribute claiming more than its message holds: that message is skipped, the next one is applied.
  nl_builder c;
  add_link(c, RTM_NEWLINK, 3, "bad0", IFF_UP);
  std::uint16_t lie = 200;
  std::memcpy(c.bytes.data() + sizeof(nlmsghdr) + sizeof(ifinfomsg), &lie, sizeof(lie));
  add_link(c, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOOPBACK);
  adapter_model m;
  auto r = apply(c, m);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.messages, 1u);
  EXPECT_EQ(m.find_link(3), nullptr);
  EXPECT_NE(m.find_link(1), nullptr);
}

TEST(netlink_parse, wrong_sized_or_missing_fields_are_malformed) {
  adapter_model m;
  nl_builder b;
  std::uint8_t five[5] = {192, 0, 2, 1, 0};
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_index = 1;
  b.begin(RTM_NEWADDR).header(ifa).attr(IFA_LOCAL, five, sizeof(five)).end();  // 5-byte IPv4 address
  ifa.ifa_prefixlen = 33;
  b.begin(RTM_NEWADDR).header(ifa).attr_ip(IFA_LOCAL, AF_INET, "192.0.2.1").end();  // prefix > 32
  ifinfomsg ifi{};
  ifi.ifi_index = 4;
  b.begin(RTM_NEWLINK).header(ifi).end();  // an unknown link without a name
  b.begin(RTM_NEWLINK).end();                // no ifinfomsg at all
  b.begin(NLMSG_ERROR).end();                // no error code
  route_spec rs;
  rs.dst = "10.0.0.0";
  rs.dst_len = 40;
  add_route(b, rs);  // prefix > 32
  auto r = apply(b, m);
  EXPECT_EQ(r.malformed, 6u);
  EXPECT_EQ(r.messages, 0u);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(m.snapshot().links_size(), 0);
}

TEST(netlink_parse, random_bytes_never_crash) {
  std::mt19937 rng(20240501);
  auto base = [] {
    nl_builder b;
    add_link(b, RTM_NEWLINK, 2, "eth0", IFF_UP, "veth");
    add_address(b, RTM_NEWADDR, AF_INET6, 2, 64, "2001:db8::2");
    add_route(b, {RTM_NEWROUTE, AF_INET, nullptr, 0, "192.0.2.1", 2});
    return b.bytes;
  }();
  adapter_model m;
  for (int i = 0; i < 20000; ++i) {
    auto bytes = base;
    if (i % 2 == 0) {  // flip a few bytes of real messages
      for (int k = 0; k < 1 + i % 5; ++k)
        bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
    } else {           // pure noise of any length
      bytes.resize(rng() % 200);
      for (auto& x : bytes)
        x = static_cast<std::uint8_t>(rng());
    }
    bytes.resize(rng() % (bytes.size() + 1));
    adapter_model fresh;
    auto r = apply_netlink(bytes.data(), bytes.size(), fresh);
    EXPECT_LE(r.messages + r.malformed, bytes.size() / sizeof(nlmsghdr) + 1);
    (void)fresh.snapshot();
    apply_netlink(bytes.data(), bytes.size(), m);  // and everything into one model
  }
  (void)m.snapshot();
  EXPECT_EQ(apply_netlink(nullptr, 0, m).messages, 0u);
}

TEST(netlink_parse, dump_requests_ask_for_every_family) {
  auto req = make_dump_request(nl_table::routes, 42);
  ASSERT_EQ(req.size(), sizeof(nlmsghdr) + sizeof(rtmsg));
  nlmsghdr h;
  std::memcpy(&h, req.data(), sizeof(h));
  EXPECT_EQ(h.nlmsg_len, req.size());
  EXPECT_EQ(h.nlmsg_type, RTM_GETROUTE);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(h.nlmsg_seq, 42u);
  EXPECT_EQ(req[sizeof(nlmsghdr)], AF_UNSPEC);
  EXPECT_EQ(make_dump_request(nl_table::links, 1).size(), sizeof(nlmsghdr) + sizeof(ifinfomsg));
  EXPECT_EQ(make_dump_request(nl_table::addresses, 1).size(), sizeof(nlmsghdr) + sizeof(ifaddrmsg));
}

} // namespace
} // namespace roamd::os
