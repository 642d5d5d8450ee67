// net/routing_table: longest-suffix lookup over wire names, identity tagging, to_wire.
#include "net/routing_table.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net {
namespace {

using test::wire;

route make_route(std::string domain, bool tag = false, std::string source = "config") {
  route r;
  r.domain = std::move(domain);
  r.tag_identity = tag;
  r.source = std::move(source);
  return r;
}

dns::wire_name name(const std::string& text) {
  auto w = routing_table::to_wire(text);
  EXPECT_TRUE(w.has_value()) << text;
  return w.value_or(dns::wire_name{});
}

/// The domain of the route chosen for `qname` ("" = the fallback).
std::string routed(const routing_table& t, const std::string& qname) {
  return t.lookup(name(qname)).domain;
}

const std::array<uint8_t, 8> device_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

TEST(routing_table, names_that_can_be_local) {
  routing_table t({}, make_route(""), std::nullopt, 1, {"home.test", "168.192.in-addr.arpa", "not..valid"});
  EXPECT_TRUE(t.may_be_local(name("printer"))) << "a single label";
  EXPECT_TRUE(t.may_be_local(name("home.test")));
  EXPECT_TRUE(t.may_be_local(name("nas.home.test")));
  EXPECT_TRUE(t.may_be_local(name("1.0.168.192.in-addr.arpa")));
  EXPECT_FALSE(t.may_be_local(name("www.example")));
  EXPECT_FALSE(t.may_be_local(name("myhome.test"))) << "label boundaries only";
  EXPECT_FALSE(t.may_be_local(name("home.test.example")));
  EXPECT_FALSE(t.may_be_local(dns::wire_name{})) << "the root";
}

TEST(routing_table, longest_suffix_wins) {
  routing_table t({make_route("corp.test"), make_route("a.corp.test")}, make_route(""), std::nullopt, 1);
  EXPECT_EQ(routed(t, "x.a.corp.test"), "a.corp.test");
  EXPECT_EQ(routed(t, "a.corp.test"), "a.corp.test");
  EXPECT_EQ(routed(t, "b.corp.test"), "corp.test");
  EXPECT_EQ(routed(t, "x.y.b.corp.test"), "corp.test");
  EXPECT_EQ(routed(t, "corp.test"), "corp.test");
  // The order the routes are given in does not matter.
  routing_table reversed({make_route("a.corp.test"), make_route("corp.test")}, make_route(""), std::nullopt, 1);
  EXPECT_EQ(routed(reversed, "x.a.corp.test"), "a.corp.test");
  EXPECT_EQ(routed(reversed, "b.corp.test"), "corp.test");
}

TEST(routing_table, exact_domain_matches) {
  routing_table t({make_route("vpn.example")}, make_route(""), std::nullopt, 1);
  EXPECT_EQ(&t.lookup(name("vpn.example")), &t.routes()[0]);
}

TEST(routing_table, matching_is_case_insensitive) {
  EXPECT_EQ(name("WWW.Corp.TEST"), name("www.corp.test"));
  // A route given in mixed case still matches, and so does a query parsed from mixed-case bytes.
  routing_table t({make_route("Corp.Test")}, make_route(""), std::nullopt, 1);
  EXPECT_EQ(routed(t, "HOST.CORP.TEST"), "Corp.Test");
  auto m = test::query("Host.CoRp.TeSt");
  dns::query_info q;
  ASSERT_EQ(dns::parse_query(m.data(), m.size(), q), dns::parse_error::none);
  EXPECT_EQ(t.lookup(q.qname).domain, "Corp.Test");
}

TEST(routing_table, sibling_and_parent_names_do_not_match) {
  routing_table t({make_route("corp.test")}, make_route(""), std::nullopt, 1);
  EXPECT_EQ(routed(t, "xcorp.test"), "");
  EXPECT_EQ(routed(t, "a.xcorp.test"), "");
  EXPECT_EQ(routed(t, "test"), "");
  EXPECT_EQ(routed(t, "corp.test.evil"), "");
  EXPECT_EQ(routed(t, "corp"), "");
}

TEST(routing_table, falls_back_to_the_default_route) {
  route fallback = make_route("", false, "cloud");
  routing_table empty({}, fallback, std::nullopt, 7);
  EXPECT_EQ(&empty.lookup(name("anything.example")), &empty.fallback());
  EXPECT_EQ(empty.lookup(name("")).source, "cloud");
  routing_table t({make_route("corp.test")}, fallback, std::nullopt, 7);
  EXPECT_EQ(&t.lookup(name("")), &t.fallback());  // the root query
  EXPECT_EQ(&t.lookup(name("example.com")), &t.fallback());
  EXPECT_EQ(t.generation(), 7u);
  EXPECT_EQ(t.routes().size(), 1u);
}

TEST(routing_table, identity_only_for_tagging_routes_with_a_device_id) {
  routing_table t({make_route("cloud.test", true), make_route("corp.test", false)}, make_route("", true), device_id,
                  1);
  const auto* id = t.identity_for(t.lookup(name("a.cloud.test")));
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(*id, dns::make_identity_option(device_id));
  EXPECT_EQ(t.identity_for(t.lookup(name("a.corp.test"))), nullptr);
  EXPECT_NE(t.identity_for(t.lookup(name("elsewhere.example"))), nullptr);  // tagging fallback

  routing_table no_device({make_route("cloud.test", true)}, make_route("", true), std::nullopt, 1);
  EXPECT_EQ(no_device.identity_for(no_device.lookup(name("a.cloud.test"))), nullptr);
  EXPECT_EQ(no_device.identity_for(no_device.fallback()), nullptr);
}

TEST(routing_table, a_thousand_routes_resolve_correctly) {
  std::vector<route> routes;
  for (int i = 0; i < 1000; ++i)
    routes.push_back(make_route("d" + std::to_string(i) + ".example", false, std::to_string(i)));
  // Nested routes under a few of them.
  for (int i = 0; i < 1000; i += 97)
    routes.push_back(make_route("sub.d" + std::to_string(i) + ".example", false, "sub" + std::to_string(i)));
  routing_table t(std::move(routes), make_route("", false, "default"), std::nullopt, 1);
  for (int i = 0; i < 1000; ++i) {
    std::string d = "d" + std::to_string(i) + ".example";
    ASSERT_EQ(t.lookup(name(d)).source, std::to_string(i)) << d;
    ASSERT_EQ(t.lookup(name("host." + d)).source, std::to_string(i)) << d;
    std::string expect_sub = i % 97 == 0 ? "sub" + std::to_string(i) : std::to_string(i);
    ASSERT_EQ(t.lookup(name("x.sub." + d)).source, expect_sub) << d;
  }
  EXPECT_EQ(t.lookup(name("d1000.example")).source, "default");
  EXPECT_EQ(t.lookup(name("example")).source, "default");
  EXPECT_EQ(t.lookup(name("xd1.example")).source, "default");
}

TEST(routing_table, an_invalid_route_domain_never_matches_and_harms_nothing) {
  std::string too_long_label(64, 'a');
  routing_table t({make_route(too_long_label + ".test"), make_route("ok.test"), make_route("a..test")},
                  make_route(""), std::nullopt, 1);
  EXPECT_EQ(routed(t, "x.ok.test"), "ok.test");
  EXPECT_EQ(routed(t, "x.test"), "");
}

TEST(routing_table, to_wire_encodes_lower_case_wire_format) {
  auto w = routing_table::to_wire("Corp.Test");
  ASSERT_TRUE(w);
  test::bytes expected = wire{}.name("corp.test").get();
  EXPECT_EQ(test::bytes(w->bytes.begin(), w->bytes.begin() + w->size), expected);
  auto root = routing_table::to_wire("");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->size, 1);
  EXPECT_EQ(root->bytes[0], 0);
  EXPECT_FALSE(routing_table::to_wire("a..b"));
  EXPECT_FALSE(routing_table::to_wire(".a"));
  EXPECT_FALSE(routing_table::to_wire(std::string(64, 'a')));
  EXPECT_TRUE(routing_table::to_wire(std::string(63, 'a')));
  // 4 labels of 63 are 257 bytes on the wire; 3 of 63 and one of 61 are exactly 255.
  std::string l63(63, 'a');
  EXPECT_FALSE(routing_table::to_wire(l63 + "." + l63 + "." + l63 + "." + l63));
  auto max = routing_table::to_wire(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'a'));
  ASSERT_TRUE(max);
  EXPECT_EQ(max->size, 255);
}

} // namespace
} // namespace roamd::net
