// net/resolver_address: plain and DNS-over-TLS resolvers as configured, and the base64 of pins.
#include "net/resolver_address.hpp"

#include <string>

#include <gtest/gtest.h>

#include "net/upstream.hpp"

namespace roamd::net {
namespace {

TEST(resolver_address, ParsesAndPrintsDotResolvers) {
  auto r = parse_resolver("tls://9.9.9.9#DNS.Quad9.net.");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->tls);
  EXPECT_EQ(r->endpoint.port(), 853);
  EXPECT_EQ(to_string(*r), "tls://9.9.9.9:853#dns.quad9.net");
  auto v6 = parse_resolver("tls://[2620:fe::fe]:8853");
  ASSERT_TRUE(v6);
  EXPECT_EQ(to_string(*v6), "tls://[2620:fe::fe]:8853");
  std::string pin = encode_base64(std::string(32, '\x01'));
  auto pinned = parse_resolver("tls://1.1.1.1:853#one.one;pin-sha256=" + pin);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->pin, std::string(32, '\x01'));
  EXPECT_EQ(to_string(*pinned), "tls://1.1.1.1:853#one.one;pin-sha256=" + pin);
  auto plain = parse_resolver("9.9.9.9");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(to_string(*plain), "9.9.9.9:53");
  std::string why;
  EXPECT_FALSE(parse_resolver("tls://dns.quad9.net", &why));
  EXPECT_NE(why.find("IP address"), std::string::npos) << why;
  EXPECT_FALSE(parse_resolver("tls://9.9.9.9#bad name", &why));
  EXPECT_FALSE(parse_resolver("tls://9.9.9.9#x;pin-sha256=abc", &why));
  EXPECT_NE(why.find("pin"), std::string::npos) << why;
  EXPECT_EQ(decode_base64("YWJj"), std::string("abc"));
  EXPECT_EQ(decode_base64("YQ=="), std::string("a"));
  EXPECT_FALSE(decode_base64("Y=Q="));
}

TEST(resolver_address, RegistryTellsDotFromPlainAtTheSameAddress) {
  upstream_registry registry;
  auto plain = registry.get(*parse_resolver("127.0.0.1:853"));
  auto dot = registry.get(*parse_resolver("tls://127.0.0.1#a.test"));
  auto other_name = registry.get(*parse_resolver("tls://127.0.0.1#b.test"));
  EXPECT_NE(plain, dot);
  EXPECT_NE(dot, other_name);
  EXPECT_EQ(dot, registry.get(*parse_resolver("tls://127.0.0.1:853#A.test")));
  EXPECT_TRUE(dot->tls);
  EXPECT_EQ(dot->tls_name, "a.test");
  EXPECT_EQ(dot->name, "tls://127.0.0.1:853#a.test");
  EXPECT_FALSE(plain->tls);
}

} // namespace
} // namespace roamd::net
