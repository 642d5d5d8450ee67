// The cloud API's base URL parser, the proxy URL parser and the CONNECT exchange (net/https_client.hpp).
#include <future>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST(http_proxy, HostPortAndBasicAuthorization) {
  auto p = parse_http_proxy("http://192.0.2.8:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "192.0.2.8");
  EXPECT_EQ(p->port, "3128");
  EXPECT_EQ(p->authorization, "");
  p = parse_http_proxy("HTTP://u:p@proxy.example:8080/");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->authorization, "Basic dTpw");
  p = parse_http_proxy("http://me%40corp:a/b%3Ac@proxy.example:8080");  // curl's convention: %40 is '@'
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy.example");
  EXPECT_EQ(p->authorization, "Basic bWVAY29ycDphL2I6Yw==");  // base64("me@corp:a/b:c")
  p = parse_http_proxy("http://[2001:db8::8]:3128");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "2001:db8::8");
}

TEST(http_proxy, RefusalsSayWhy) {
  auto why = [](const std::string& text) {
    std::string w;
    EXPECT_FALSE(parse_http_proxy(text, &w)) << text;
    return w;
  };
  EXPECT_NE(why("https://192.0.2.8:3128").find("expected an http:// URL"), std::string::npos);
  EXPECT_NE(why("http://192.0.2.8").find("needs a port"), std::string::npos);
  EXPECT_NE(why("http://192.0.2.8:").find("empty port"), std::string::npos);
  EXPECT_NE(why("http://192.0.2.8:3128/wpad.dat").find("may not carry a path"), std::string::npos);
  EXPECT_NE(why("http://user@192.0.2.8:3128").find("USER:PASSWORD@"), std::string::npos);
  EXPECT_NE(why("http://bad_host:3128").find("not a host name"), std::string::npos);
  EXPECT_NE(why("http://u:p%4@proxy.example:3128").find("two hexadecimal digits"), std::string::npos);
}

/// A proxy on 127.0.0.1 that takes one connection, keeps the request head it got and answers `reply`.
class fake_proxy {
public:
  explicit fake_proxy(std::string reply) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("fake_proxy: cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, reply = std::move(reply)] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        request_.append(buf, static_cast<size_t>(n));
      }
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::shutdown(c, SHUT_WR);
      while (::recv(c, buf, sizeof buf, 0) > 0) {
      }
      ::close(c);
    });
  }
  ~fake_proxy() {
    stop();
    ::close(fd_);
  }
  std::string url(const std::string& user = "") const {
    return "http://" + user + "127.0.0.1:" + std::to_string(port_);
  }
  /// The request head it got; the proxy's thread has ended when this returns.
  const std::string& request() {
    stop();
    return request_;
  }

private:
  void stop() {
    if (!thread_.joinable())
      return;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept() if no client came
    thread_.join();
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

https_response exchange_through(const std::string& proxy) {
  https_options o;
  o.base_url = "https://cloud.example/api";
  o.proxy = proxy;
  std::string error;
  auto c = https_client::make(o, error);
  EXPECT_TRUE(c) << error;
  if (!c)
    return {};
  std::promise<https_response> got;
  c->request({}, [&](https_response r) { got.set_value(std::move(r)); });
  auto f = got.get_future();
  EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  return f.get();
}

TEST(https_client, AsksTheProxyToConnectAndReportsItsRefusal) {
  fake_proxy proxy{"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"};
  auto r = exchange_through(proxy.url("u:p@"));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("refused the tunnel to cloud.example:443: HTTP 407 Proxy Authentication Required"),
            std::string::npos) << r.error;
  EXPECT_EQ(proxy.request().rfind("CONNECT cloud.example:443 HTTP/1.1\r\n", 0), 0u) << proxy.request();
  EXPECT_NE(proxy.request().find("\r\nHost: cloud.example:443\r\n"), std::string::npos) << proxy.request();
  EXPECT_NE(proxy.request().find("\r\nProxy-Authorization: Basic dTpw\r\n"), std::string::npos) << proxy.request();
}

TEST(https_client, RefusesBytesFromTheProxyBeforeTls) {
  // The server speaks second in TLS: whatever comes before the ClientHello is not the API server's.
  fake_proxy proxy{"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{}"};
  auto r = exchange_through(proxy.url());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("sent data into the tunnel before TLS began"), std::string::npos) << r.error;
  EXPECT_EQ(proxy.request().find("Proxy-Authorization"), std::string::npos) << proxy.request();
}

TEST(https_client, ARefusedProxyConnectionNamesTheProxy) {
  auto r = exchange_through("http://127.0.0.1:1");
  EXPECT_NE(r.error.find("connecting to the proxy 127.0.0.1:1"), std::string::npos) << r.error;
}

} // namespace
} // namespace roamd::net
