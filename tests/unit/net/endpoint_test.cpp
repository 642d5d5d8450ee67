// net/endpoint: parse_endpoint, to_string and normalize_domain.
#include "net/endpoint.hpp"

#include <string>

#include <gtest/gtest.h>

namespace roamd::net {
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::udp;

TEST(parse_endpoint, ipv4_with_port) {
  auto ep = parse_endpoint("1.2.3.4:53");
  ASSERT_TRUE(ep);
  EXPECT_EQ(*ep, udp::endpoint(make_address("1.2.3.4"), 53));
  auto high = parse_endpoint("10.0.0.1:65535");
  ASSERT_TRUE(high);
  EXPECT_EQ(high->port(), 65535);
}

TEST(parse_endpoint, bare_ipv4_takes_the_default_port) {
  auto ep = parse_endpoint("1.2.3.4");
  ASSERT_TRUE(ep);
  EXPECT_EQ(*ep, udp::endpoint(make_address("1.2.3.4"), 53));
  auto other = parse_endpoint("1.2.3.4", 5353);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->port(), 5353);
}

TEST(parse_endpoint, bracketed_ipv6_with_port) {
  auto ep = parse_endpoint("[::1]:5353");
  ASSERT_TRUE(ep);
  EXPECT_EQ(*ep, udp::endpoint(make_address("::1"), 5353));
  auto full = parse_endpoint("[2001:db8::53]:853");
  ASSERT_TRUE(full);
  EXPECT_EQ(*full, udp::endpoint(make_address("2001:db8::53"), 853));
}

TEST(parse_endpoint, ipv6_without_port_takes_the_default_port) {
  auto bare = parse_endpoint("::1");
  ASSERT_TRUE(bare);
  EXPECT_EQ(*bare, udp::endpoint(make_address("::1"), 53));
  auto bracketed = parse_endpoint("[::1]", 5300);
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(*bracketed, udp::endpoint(make_address("::1"), 5300));
  auto doc = parse_endpoint("2001:db8::1");
  ASSERT_TRUE(doc);
  EXPECT_TRUE(doc->address().is_v6());
  EXPECT_EQ(doc->port(), 53);
}

TEST(parse_endpoint, bad_ports_are_rejected) {
  for (const char* text : {"1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:x", "1.2.3.4:", "1.2.3.4:53x", "1.2.3.4:-1",
                           "1.2.3.4:+53", "1.2.3.4: 53", "1.2.3.4:999999", "1.2.3.4:000053", "[::1]:0",
                           "[::1]:65536", "[::1]:", "[::1]:x"})
    EXPECT_FALSE(parse_endpoint(text)) << text;
}

TEST(parse_endpoint, garbage_is_rejected) {
  for (const char* text : {"", "garbage", "localhost:53", "1.2.3", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
                           "1.2.3.4:53:54", "[::1", "[::1]53", "[::1]x:53", "[1.2.3.4]:53", "[]:53", "::1]:53",
                           "[garbage]:53", ":53", "[::1]:53]"})
    EXPECT_FALSE(parse_endpoint(text)) << text;
}

TEST(endpoint_to_string, formats_what_parse_endpoint_accepts) {
  udp::endpoint v4(make_address("192.0.2.1"), 53);
  udp::endpoint v6(make_address("2001:db8::1"), 5353);
  EXPECT_EQ(to_string(v4), "192.0.2.1:53");
  EXPECT_EQ(to_string(v6), "[2001:db8::1]:5353");
  EXPECT_EQ(parse_endpoint(to_string(v4)), v4);
  EXPECT_EQ(parse_endpoint(to_string(v6)), v6);
}

TEST(normalize_domain, lower_cases_and_drops_the_trailing_dot) {
  EXPECT_EQ(normalize_domain("Corp.Test."), "corp.test");
  EXPECT_EQ(normalize_domain("corp.test"), "corp.test");
  EXPECT_EQ(normalize_domain("_sip._tcp.Example-1.test"), "_sip._tcp.example-1.test");
  EXPECT_EQ(normalize_domain("localhost"), "localhost");
}

TEST(normalize_domain, rejects_root_empty_labels_and_bad_characters) {
  for (const char* text : {"", ".", "..", "a..b", ".a", "a.b..", "a b", "a/b", "a*b.test", "caf\xC3\xA9.test",
                           "a.b\n", "under score.test", "a:b"})
    EXPECT_FALSE(normalize_domain(text)) << text;
}

TEST(normalize_domain, enforces_label_and_name_lengths) {
  std::string l63(63, 'a');
  EXPECT_TRUE(normalize_domain(l63 + ".test"));
  EXPECT_FALSE(normalize_domain(std::string(64, 'a') + ".test"));
  // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters: the longest name.
  std::string max = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  ASSERT_EQ(max.size(), 253u);
  EXPECT_EQ(normalize_domain(max), max);
  EXPECT_EQ(normalize_domain(max + "."), max);  // the trailing dot does not count
  EXPECT_FALSE(normalize_domain(max + "b"));
}

} // namespace
} // namespace roamd::net
