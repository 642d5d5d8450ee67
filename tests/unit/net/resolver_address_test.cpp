// net/resolver_address: plain, DNS-over-TLS and DNS-over-HTTPS resolvers as configured, and the base64 of pins.
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

TEST(resolver_address, ParsesAndPrintsDohResolvers) {
  auto r = parse_resolver("https://9.9.9.9#DNS.Quad9.net.");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->tls);
  EXPECT_TRUE(r->https);
  EXPECT_EQ(r->endpoint.port(), 443);
  EXPECT_EQ(r->path, "/dns-query");
  EXPECT_EQ(r->tls_name, "dns.quad9.net");
  EXPECT_EQ(to_string(*r), "https://9.9.9.9:443/dns-query#dns.quad9.net");
  auto v6 = parse_resolver("https://[2620:fe::fe]:8443/q/%7Eu?");
  EXPECT_FALSE(v6);  // no query string
  v6 = parse_resolver("https://[2620:fe::fe]:8443/q/%7Eu");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->endpoint.port(), 8443);
  EXPECT_EQ(v6->path, "/q/%7Eu");
  EXPECT_EQ(to_string(*v6), "https://[2620:fe::fe]:8443/q/%7Eu");
  auto bare6 = parse_resolver("https://[::1]");
  ASSERT_TRUE(bare6);
  EXPECT_EQ(to_string(*bare6), "https://[::1]:443/dns-query");
  std::string pin = encode_base64(std::string(32, '\x02'));
  auto pinned = parse_resolver("https://1.1.1.1/dns#one.one;pin-sha256=" + pin);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->pin, std::string(32, '\x02'));
  EXPECT_EQ(pinned->path, "/dns");
  EXPECT_EQ(to_string(*pinned), "https://1.1.1.1:443/dns#one.one;pin-sha256=" + pin);
  // The canonical text parses back to the same resolver.
  for (const auto* text : {"https://9.9.9.9#DNS.Quad9.net.", "https://[2620:fe::fe]:8443/q/%7Eu", "https://10.1.2.3:444/"}) {
    auto a = parse_resolver(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(parse_resolver(to_string(*a)), a) << text;
  }
  std::string why;
  EXPECT_FALSE(parse_resolver("https://dns.quad9.net/dns-query", &why));
  EXPECT_NE(why.find("https://IP[:PORT][/PATH]"), std::string::npos) << why;
  EXPECT_NE(why.find("port 443"), std::string::npos) << why;
  for (const auto* bad : {"https://9.9.9.9/a b", "https://9.9.9.9/%zz", "https://9.9.9.9dns", "https://9.9.9.9:0",
                          "https://9.9.9.9/a;b", "https://9.9.9.9/%2"}) {
    EXPECT_FALSE(parse_resolver(bad, &why)) << bad;
    EXPECT_NE(why.find("https://"), std::string::npos) << bad << ": " << why;
  }
  EXPECT_FALSE(parse_resolver("https://9.9.9.9#bad name", &why));
  EXPECT_FALSE(parse_resolver("https://9.9.9.9#x;pin-sha256=abc", &why));
  EXPECT_NE(why.find("pin"), std::string::npos) << why;
  EXPECT_FALSE(parse_resolver("tls://9.9.9.9/dns-query", &why));  // a path is DoH's only
  EXPECT_FALSE(parse_resolver("http://9.9.9.9/dns-query", &why));
  EXPECT_NE(why.find("or https://"), std::string::npos) << why;
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
  auto doh = registry.get(*parse_resolver("https://127.0.0.1:853#a.test"));
  auto other_path = registry.get(*parse_resolver("https://127.0.0.1:853/q#a.test"));
  EXPECT_NE(doh, dot);
  EXPECT_NE(doh, other_path);
  EXPECT_EQ(doh, registry.get(*parse_resolver("https://127.0.0.1:853/dns-query#A.test")));
  EXPECT_TRUE(doh->tls);
  EXPECT_TRUE(doh->https);
  EXPECT_EQ(doh->https_path, "/dns-query");
  EXPECT_EQ(doh->name, "https://127.0.0.1:853/dns-query#a.test");
  EXPECT_FALSE(dot->https);
}

} // namespace
} // namespace roamd::net
