// The metrics endpoint for real on 127.0.0.1 (kernel-chosen port) with a scripted handler: GET and HEAD /metrics,
// a source that never answers (served without it after the gather bound), 404, 405, 400, an oversized header
// (431), a request body (413), a slow request cut at the read bound, the connection cap (503), and service after
// all of it. Clients are plain sockets with a receive timeout; waiting is on the socket, never by sleeping.
#include "tools/inspect/metrics_http.hpp"

#include <chrono>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace roamd::inspect {
namespace {

using namespace std::chrono_literals;

struct metrics_http_fixture : ::testing::Test {
  metrics_http_options opts;
  std::unique_ptr<metrics_http> server;
  bool events_answer = false;  // QUERY_EVENTS never answers unless set (the arbiter "hangs")

  void SetUp() override {
    opts.address = "127.0.0.1:0";
    opts.header_limit = 1024;
    opts.max_connections = 2;
    opts.read_timeout = 300ms;
    opts.gather_timeout = 200ms;
    opts.names.drop_reasons = {"too_short"};
  }

  void start() {
    server = std::make_unique<metrics_http>(opts, [this](const proto::InspectRequest& req, auto done) {
      proto::InspectResponse r;
      r.set_id(req.id());
      switch (req.query()) {
        case proto::QUERY_STATUS:
          r.mutable_status()->set_version("test");
          break;
        case proto::QUERY_STATS:
          r.mutable_stats()->set_queries_udp(3);
          break;
        case proto::QUERY_UPSTREAMS:
          r.mutable_upstreams()->add_upstreams()->set_address("127.0.0.1:53");
          break;
        default:
          if (!events_answer)
            return;  // never calls done
          r.mutable_events()->set_coalesced_events(5);
      }
      done(std::move(r));
    });
    ASSERT_EQ(server->open(), "");
    server->start();
  }

  int connect() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(server->port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }

  /// Everything the server sends until it closes (or 3 s pass).
  static std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }

  /// Sends `request` on a fresh connection; the whole answer.
  std::string exchange(const std::string& request) const {
    int fd = connect();
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    auto out = read_all(fd);
    ::close(fd);
    return out;
  }

  static std::string get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"; }
};

TEST_F(metrics_http_fixture, get_serves_the_exposition_without_the_source_that_did_not_answer) {
  start();
  auto t0 = std::chrono::steady_clock::now();
  auto out = exchange(get("/metrics"));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nroamd_up 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nroamd_scrape_source_up{source=\"arbiter\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nroamd_queries_total{transport=\"udp\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nroamd_build_info{version=\"test\"} 1\n"), std::string::npos) << out;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s);
  EXPECT_NE(out.find("\nroamd_scrape_errors_total{source=\"arbiter\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nroamd_scrape_errors_total{source=\"stats\"} 0\n"), std::string::npos) << out;
  EXPECT_EQ(server->counts().arbiter_missing, 1u);
  EXPECT_EQ(server->counts().scrapes, 1u);
  out = exchange(get("/metrics"));
  EXPECT_NE(out.find("\nroamd_scrape_errors_total{source=\"arbiter\"} 2\n"), std::string::npos) << out;
}

TEST_F(metrics_http_fixture, all_sources_answered_head_and_query_strings) {
  events_answer = true;
  start();
  auto t0 = std::chrono::steady_clock::now();
  auto got = exchange(get("/metrics?x=1"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms) << "no need to wait for the bound";
  EXPECT_NE(got.find("\nroamd_up 1\n"), std::string::npos) << got;
  EXPECT_NE(got.find("\nroamd_arbiter_coalesced_events_total 5\n"), std::string::npos) << got;
  auto head = exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: "), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "HEAD has no body";
  auto http10 = exchange("GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(http10.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << http10;
}

TEST_F(metrics_http_fixture, refusals) {
  start();
  auto out = exchange(get("/"));
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << out;
  out = exchange(get("/metricsx"));
  EXPECT_EQ(out.rfind("HTTP/1.1 404 ", 0), 0u) << out;
  out = exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Allow: GET, HEAD\r\n"), std::string::npos) << out;
  out = exchange("DELETE /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 405 ", 0), 0u) << out;
  out = exchange("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1");
  EXPECT_EQ(out.rfind("HTTP/1.1 405 ", 0), 0u) << "the method before the body: " << out;
  out = exchange("POST /other HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1");
  EXPECT_EQ(out.rfind("HTTP/1.1 404 ", 0), 0u) << out;
  out = exchange("HELLO\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  out = exchange("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0u) << out;
  out = exchange("GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0u) << out;
  auto c = server->counts();
  EXPECT_EQ(c.not_found, 3u);
  EXPECT_EQ(c.bad_method, 3u);
  EXPECT_EQ(c.bad_request, 1u);
  EXPECT_EQ(c.too_large, 2u);
  EXPECT_EQ(c.scrapes, 0u);
}

TEST_F(metrics_http_fixture, a_slow_request_is_cut_and_the_cap_holds) {
  start();
  int slow1 = connect(), slow2 = connect();
  ::send(slow1, "GET /met", 8, MSG_NOSIGNAL);
  // Both slots are taken: the third connection is answered 503 at once.
  for (int i = 0; i < 100 && server->counts().busy == 0; ++i) {
    auto out = exchange(get("/metrics"));
    if (out.rfind("HTTP/1.1 503 ", 0) == 0)
      break;
  }
  EXPECT_GE(server->counts().busy, 1u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(slow1), "") << "closed without an answer";
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1s);
  EXPECT_EQ(read_all(slow2), "");
  ::close(slow1);
  ::close(slow2);
  auto out = exchange(get("/metrics"));
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  // Counted by then: the timeouts' handlers ran on the server's thread before this later connection was served.
  EXPECT_EQ(server->counts().timeouts, 2u);
}

TEST_F(metrics_http_fixture, only_loopback) {
  opts.address = "0.0.0.0:0";
  metrics_http wide{opts, [](const proto::InspectRequest&, auto) {}};
  EXPECT_NE(wide.open().find("only a loopback"), std::string::npos);
  opts.address = "[::1]:0";
  metrics_http v6{opts, [](const proto::InspectRequest&, auto) {}};
  auto err = v6.open();
  EXPECT_TRUE(err.empty() || err.find("cannot listen") != std::string::npos) << err;  // no IPv6 in some sandboxes
}

} // namespace
} // namespace roamd::inspect
