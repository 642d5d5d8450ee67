// The cloud API's base URL parser (net/https_client.hpp).
#include <future>

#include <gtest/gtest.h>

#include "net/https_client.hpp"

namespace roamd::net {
namespace {

TEST(https_url, NamesAddressesPortsAndPaths) {
  auto u = parse_https_url("https://api.cloud.example");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "api.cloud.example");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->path, "");
  EXPECT_FALSE(u->host_is_ip);
  u = parse_https_url("HTTPS://127.0.0.1:8443/agent/v2/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->path, "/agent/v2");  // no trailing slash: request paths start with one
  EXPECT_TRUE(u->host_is_ip);
  u = parse_https_url("https://[2001:db8::1]:443");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_TRUE(u->host_is_ip);
}

TEST(https_url, RefusalsSayWhy) {
  auto why = [](const std::string& text) {
    std::string w;
    EXPECT_FALSE(parse_https_url(text, &w)) << text;
    return w;
  };
  EXPECT_EQ(why("http://api.cloud.example"), "expected an https:// URL");
  EXPECT_EQ(why("https://"), "the URL has no host");
  EXPECT_EQ(why("https://user:pw@api.cloud.example"), "the URL may not carry user information");
  EXPECT_EQ(why("https://api.cloud.example/x?y=1"), "the URL may not carry a query or a fragment");
  EXPECT_EQ(why("https://api.cloud.example:0"), "'0' is not a port (1-65535)");
  EXPECT_EQ(why("https://api.cloud.example:"), "empty port in the URL");
  EXPECT_EQ(why("https://[2001:db8::1"), "unclosed '[' in the URL's host");
  EXPECT_EQ(why("https://[not-v6]:443"), "'not-v6' in brackets is not an IPv6 address");
  EXPECT_EQ(why("https://bad_host!"), "'bad_host!' is not a host name or an IPv4 address");
}

TEST(https_client, AnUnreadableCaBundleIsNamed) {
  https_options o;
  o.base_url = "https://127.0.0.1:1";
  o.ca_file = "/nonexistent/ca.pem";
  std::string error;
  EXPECT_EQ(https_client::make(o, error), nullptr);
  EXPECT_NE(error.find("/nonexistent/ca.pem"), std::string::npos) << error;
}

TEST(https_client, ARefusedConnectionIsAnErrorNotAStatus) {
  https_options o;
  o.base_url = "https://127.0.0.1:1";  // nothing listens on port 1
  std::string error;
  auto c = https_client::make(o, error);
  ASSERT_TRUE(c) << error;
  std::promise<https_response> got;
  c->request({}, [&](https_response r) { got.set_value(std::move(r)); });
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto r = f.get();
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("connecting to 127.0.0.1:1"), std::string::npos) << r.error;
}

} // namespace
} // namespace roamd::net
