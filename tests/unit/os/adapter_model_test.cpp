#include "os/adapter_model.hpp"

#include "netlink_builder.hpp"

namespace roamd::os {
namespace {

using namespace nl_test;

TEST(adapter_model, a_dump_sweep_drops_what_it_did_not_mention_and_keeps_new_events) {
  auto m = populated();
  auto mark = m.begin_sweep(nl_table::links);
  nl_builder dump;  // eth0 vanished while events were lost; a new tun0 appeared during the dump
  add_link(dump, RTM_NEWLINK, 1, "lo", IFF_UP | IFF_LOWER_UP | IFF_LOOPBACK);
  add_link(dump, RTM_NEWLINK, 9, "tun0", IFF_UP, "tun");
  apply(dump, m);
  EXPECT_TRUE(m.end_sweep(nl_table::links, mark));
  auto s = m.snapshot();
  ASSERT_EQ(s.links_size(), 2);
  EXPECT_EQ(s.links(1).name(), "tun0");
  EXPECT_EQ(s.routes_size(), 0);  // they went through eth0
  EXPECT_EQ(m.address_count(), 1u);
  auto again = m.begin_sweep(nl_table::addresses);
  nl_builder none;
  add_address(none, RTM_NEWADDR, AF_INET, 9, 32, "10.8.0.1", "10.8.0.1");
  apply(none, m);
  EXPECT_TRUE(m.end_sweep(nl_table::addresses, again));  // 127.0.0.1 was not in this dump
  EXPECT_EQ(m.snapshot().links(1).addresses(0), "10.8.0.1/32");
  EXPECT_EQ(m.snapshot().links(0).addresses_size(), 0);
  EXPECT_FALSE(m.end_sweep(nl_table::routes, m.begin_sweep(nl_table::routes)));
}

TEST(adapter_model, to_string_prints_both_families_and_nothing_for_others) {
  ip_bytes a;
  a.family = AF_INET;
  a.bytes[0] = 192;
  a.bytes[3] = 1;
  EXPECT_EQ(to_string(a), "192.0.0.1");
  a.family = AF_INET6;
  a.bytes.fill(0);
  a.bytes[15] = 1;
  EXPECT_EQ(to_string(a), "::1");
  a.family = 99;
  EXPECT_EQ(to_string(a), "");
}

} // namespace
} // namespace roamd::os
