// DNS over HTTPS: net/doh_client against a fake HTTP/2 DoH server on 127.0.0.1 (nghttp2's server API over Asio SSL,
// certificates made at test time by tests/tls/make_certs.sh), driven on the test's own io_context; then through the
// data plane (answers, failover and counters, probes). Every refusal and failure is checked with its logged reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "doh_test_server.hpp"
#include "fake_dns.hpp"
#include "net/dataplane.hpp"
#include "net/doh_client.hpp"
#include "net/endpoint.hpp"
#include "net/resolver_address.hpp"
#include "tests/unit/os/temp_dir.hpp"

using namespace roamd;
using namespace roamd::test;
using failure = net::doh_client::failure;

namespace {

struct outcome {
  bytes answer;
  failure why = failure::none;
};

class doh_test : public ::testing::Test {
protected:
  static inline std::unique_ptr<temp_dir> certs;

  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);  // a refused handshake must not kill the test with a write to a closed socket
    certs = std::make_unique<temp_dir>("doh-certs");
    auto command = std::string{ROAMD_MAKE_CERTS} + " " + certs->path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    certs.reset();
  }
  static std::string cert(const std::string& name) {
    return *certs / name;
  }
  static fake_doh_server::options server_opts(const std::string& leaf = "server") {
    fake_doh_server::options o;
    o.cert = cert(leaf + ".pem");
    o.key = cert(leaf + ".key");
    return o;
  }
  static std::string doh(const fake_doh_server& s, const std::string& name = "roamd.test", const std::string& pin = "") {
    return "https://" + s.address() + (name.empty() ? "" : "#" + name) + (pin.empty() ? "" : ";pin-sha256=" + pin);
  }

  void SetUp() override {
    // Every log line of the client is kept: the tests check the reasons it gives.
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("doh-test", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    client_.reset();
    spdlog::set_default_logger(previous_);
  }
  std::string log() {
    spdlog::default_logger()->flush();
    return log_.str();
  }

  /// A client of `resolver` on the test's io_context, trusting `ca`.
  void connect(const std::string& resolver, net::doh_options opts = {}, const std::string& ca = "ca.pem") {
    std::string error;
    auto tls = net::make_dot_tls(cert(ca), error);
    ASSERT_TRUE(tls) << error;
    auto parsed = net::parse_resolver(resolver);
    ASSERT_TRUE(parsed) << resolver;
    up_ = registry_.get(*parsed);
    client_ = std::make_unique<net::doh_client>(ioc_, tls, up_, opts, rng_,
                                                [this](uint64_t tag, uint8_t* msg, size_t size, failure why) {
      outcome& o = outcomes_[tag];
      o.why = why;
      if (msg)
        o.answer.assign(msg, msg + size);
    });
  }
  /// Sends `queries` with tags 0..n-1 (plus `first_tag`).
  void send_all(const std::vector<bytes>& queries, uint64_t first_tag = 0) {
    for (size_t i = 0; i < queries.size(); ++i)
      ASSERT_TRUE(client_->send(queries[i].data(), queries[i].size(), first_tag + i)) << i;
  }
  /// Runs the client's io_context until `n` queries have ended (bounded).
  bool run_until(size_t n, int timeout_ms = 5000) {
    return run_while_not([&] { return outcomes_.size() >= n; }, timeout_ms);
  }
  /// Runs the io_context until `pred` holds (bounded): for what the server sees too.
  bool run_while_not(const std::function<bool()>& pred, int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      ioc_.restart();  // it stops whenever it runs out of work (no connection open)
      ioc_.run_one_for(std::chrono::milliseconds(50));
    }
    return pred();
  }

  static std::vector<bytes> distinct_queries(size_t n, uint16_t first_id = 1000) {
    std::vector<bytes> out;
    for (size_t i = 0; i < n; ++i)
      out.push_back(make_query(static_cast<uint16_t>(first_id + i), "q" + std::to_string(i) + ".doh.test", 1));
    return out;
  }

  /// The one failure expected of a refused session: every query fails as a transport failure, the reason is
  /// logged, and nothing reached the server's HTTP layer.
  void expect_refused(fake_doh_server& server, const std::string& reason) {
    send_all(distinct_queries(3));
    ASSERT_TRUE(run_until(3));
    for (auto& [tag, o] : outcomes_)
      EXPECT_EQ(o.why, failure::transport) << tag;
    EXPECT_NE(log().find(reason), std::string::npos) << log();
    EXPECT_EQ(server.requests(), 0u);
    // Backing off: the next query is refused at once, without a new connection.
    auto q = make_query(9, "again.doh.test", 1);
    EXPECT_FALSE(client_->send(q.data(), q.size(), 99));
    EXPECT_EQ(client_->connects(), 1u);
  }

  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
  boost::asio::io_context ioc_;
  net::random_source rng_{42};
  net::upstream_registry registry_;
  std::shared_ptr<net::upstream> up_;
  std::unique_ptr<net::doh_client> client_;
  std::map<uint64_t, outcome> outcomes_;
};

TEST_F(doh_test, ManyConcurrentQueriesOnOneConnectionAnsweredOutOfOrder) {
  // The server answers nothing until 40 streams are open on the connection, then answers them newest first.
  auto o = server_opts();
  o.batch = 40;
  fake_doh_server server{o};
  connect(doh(server));
  auto queries = distinct_queries(40);
  send_all(queries);
  ASSERT_TRUE(run_until(40));
  for (size_t i = 0; i < queries.size(); ++i) {
    auto& a = outcomes_[i];
    ASSERT_EQ(a.why, failure::none) << i;
    ASSERT_GE(a.answer.size(), queries[i].size()) << i;
    EXPECT_EQ(id_of(a.answer), id_of(queries[i])) << i;  // 0 on the wire, restored for the client
    EXPECT_EQ(answer_addresses(a.answer), std::vector<std::string>{"192.0.2.8"}) << i;
    // Each answer carries its own query's question: matched by stream, not by order.
    EXPECT_TRUE(std::equal(queries[i].begin() + 12, queries[i].end(), a.answer.begin() + 12)) << i;
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.max_open(), 40u);
  EXPECT_EQ(server.bad_requests(), 0u);  // POST, application/dns-message both ways, DNS ID 0
  EXPECT_EQ(server.last_path(), "/dns-query");
  EXPECT_EQ(server.last_authority(), "roamd.test:" + std::to_string(up_->endpoint.port()));
  EXPECT_EQ(client_->connects(), 1u);
}

TEST_F(doh_test, RespectsTheServersMaxConcurrentStreams) {
  auto o = server_opts();
  o.max_streams = 4;
  fake_doh_server server{o};
  connect("https://" + server.address() + "/custom/path#roamd.test");
  send_all(distinct_queries(40));
  ASSERT_TRUE(run_until(40));
  for (auto& [tag, a] : outcomes_)
    EXPECT_EQ(a.why, failure::none) << tag;
  EXPECT_LE(server.max_open(), 4u);
  EXPECT_GE(server.max_open(), 1u);
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.last_path(), "/custom/path");
  // The limit known, the connection takes 4 queries at once; the other 16 open a second one (whose limit comes
  // with its SETTINGS: until then nghttp2 holds what is above it).
  send_all(distinct_queries(20, 3000), 100);
  ASSERT_TRUE(run_until(60));
  for (auto& [tag, a] : outcomes_)
    EXPECT_EQ(a.why, failure::none) << tag;
  EXPECT_LE(server.max_open(), 4u);
  EXPECT_EQ(server.connections(), 2u);
}

TEST_F(doh_test, AConnectionCutMidwayFailsItsQueriesAndTheNextOnesReconnect) {
  auto o = server_opts();
  o.batch = 100;               // nothing is answered before the cut
  o.close_first_after = 3;     // the first connection is cut after 3 requests were read
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(10));
  ASSERT_TRUE(run_until(10));
  for (auto& [tag, a] : outcomes_)
    EXPECT_EQ(a.why, failure::transport) << tag;
  EXPECT_NE(log().find("closed by the resolver"), std::string::npos) << log();
  // Not a connect failure: no backoff, the next query opens a new connection at once.
  outcomes_.clear();
  auto q = distinct_queries(1, 77);
  EXPECT_EQ(server.requests(), 3u);  // counted before the cut the client saw
  ASSERT_TRUE(client_->send(q[0].data(), q[0].size(), 500));
  EXPECT_TRUE(run_while_not([&] { return server.requests() == 4; }));  // the server holds it (batch)
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_EQ(client_->connects(), 2u);
}

TEST_F(doh_test, AGoawayDrainsTheConnectionAndNewQueriesTakeAnother) {
  auto o = server_opts();
  o.goaway_first_after = 2;  // GOAWAY after the second request; both are answered
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(2));
  ASSERT_TRUE(run_until(2));
  EXPECT_EQ(outcomes_[0].why, failure::none);
  EXPECT_EQ(outcomes_[1].why, failure::none);
  // The drained connection is closed by the client; the next query goes on a new one.
  ASSERT_TRUE(run_while_not([&] { return server.closed() == 1; }));
  send_all(distinct_queries(1, 50), 10);
  ASSERT_TRUE(run_until(3));
  EXPECT_EQ(outcomes_[10].why, failure::none);
  EXPECT_EQ(server.connections(), 2u);
}

struct bad_answer_case {
  const char* what;
  int status;
  const char* content_type;
  size_t body_size;
  const char* reason;  // in the log
};

class doh_bad_answer_test : public doh_test, public ::testing::WithParamInterface<bad_answer_case> {};

TEST_P(doh_bad_answer_test, FailsTheQueryAsABadAnswerWithTheReason) {
  const auto& c = GetParam();
  auto o = server_opts();
  o.status = c.status;
  o.content_type = c.content_type;
  o.body_size = c.body_size;
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(2));
  ASSERT_TRUE(run_until(2));
  EXPECT_EQ(outcomes_[0].why, failure::bad_answer);
  EXPECT_EQ(outcomes_[1].why, failure::bad_answer);
  EXPECT_TRUE(outcomes_[0].answer.empty());
  EXPECT_NE(log().find(c.reason), std::string::npos) << log();
  EXPECT_EQ(server.connections(), 1u);  // the connection itself is fine: both went on it
}

INSTANTIATE_TEST_SUITE_P(
    all, doh_bad_answer_test,
    ::testing::Values(bad_answer_case{"status_503", 503, "application/dns-message", 0, "HTTP status 503 (not 200)"},
                      bad_answer_case{"status_404", 404, "application/dns-message", 0, "HTTP status 404 (not 200)"},
                      bad_answer_case{"text_html", 200, "text/html", 0,
                                      "content-type \"text/html\", not application/dns-message"},
                      bad_answer_case{"oversized", 200, "application/dns-message", 70000,
                                      "answer body larger than 65535 bytes"}),
    [](const ::testing::TestParamInfo<bad_answer_case>& info) { return std::string{info.param.what}; });

TEST_F(doh_test, TakesTheLargestBodyAllowed) {
  auto o = server_opts();
  o.body_size = 65535;
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(1));
  ASSERT_TRUE(run_until(1));
  EXPECT_EQ(outcomes_[0].why, failure::none);
  EXPECT_EQ(outcomes_[0].answer.size(), 65535u);
}

TEST_F(doh_test, AcceptsContentTypeParametersAndCase) {
  auto o = server_opts();
  o.content_type = "Application/DNS-Message; charset=binary";
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(1));
  ASSERT_TRUE(run_until(1));
  EXPECT_EQ(outcomes_[0].why, failure::none);
}

TEST_F(doh_test, RefusesAServerWithoutH2) {
  auto o = server_opts();
  o.alpn = "http/1.1";
  fake_doh_server server{o};
  connect(doh(server));
  expect_refused(server, "did not negotiate ALPN \"h2\" (it chose none)");
  EXPECT_TRUE(server.wait_for([&] { return server.sessions() == 1; }, 3000));  // the TLS session itself was fine
}

TEST_F(doh_test, RefusesAnotherCa) {
  fake_doh_server server{server_opts()};
  connect(doh(server), {}, "other-ca.pem");
  expect_refused(server, "certificate refused: unable to get local issuer certificate");
}

TEST_F(doh_test, RefusesAnotherName) {
  fake_doh_server server{server_opts()};
  connect(doh(server, "wrong.test"));
  expect_refused(server, "certificate refused: hostname mismatch");
}

TEST_F(doh_test, RefusesAnExpiredCertificate) {
  fake_doh_server server{server_opts("server-expired")};
  connect(doh(server));
  expect_refused(server, "certificate refused: certificate has expired");
}

TEST_F(doh_test, RefusesAPinMismatch) {
  fake_doh_server server{server_opts()};
  connect(doh(server, "roamd.test", net::encode_base64(std::string(32, 'x'))));
  expect_refused(server, "certificate refused: no key of its chain matches the pin");
}

TEST_F(doh_test, AcceptsTheRightPinAndTheIpWithoutAName) {
  std::ifstream f(cert("server.pin"));
  std::string pin;
  f >> pin;
  fake_doh_server server{server_opts()};
  connect(doh(server, "", pin));  // no name: the certificate's IP SAN 127.0.0.1 is checked, and the pin
  send_all(distinct_queries(1));
  ASSERT_TRUE(run_until(1));
  EXPECT_EQ(outcomes_[0].why, failure::none);
  EXPECT_EQ(server.last_authority(), server.address());
}

TEST_F(doh_test, ForgettingAQueryResetsItsStream) {
  auto o = server_opts();
  o.batch = 2;  // the first request is held
  fake_doh_server server{o};
  connect(doh(server));
  send_all(distinct_queries(1));
  ASSERT_TRUE(run_while_not([&] { return server.requests() == 1; }));
  client_->forget(0, false);
  EXPECT_TRUE(run_while_not([&] { return server.resets() == 1; }));
  EXPECT_TRUE(outcomes_.empty());  // a forgotten query is not reported
}

TEST_F(doh_test, ClosesAnIdleConnection) {
  fake_doh_server server{server_opts()};
  net::doh_options opts;
  opts.idle_timeout = std::chrono::milliseconds(100);
  connect(doh(server), opts);
  send_all(distinct_queries(1));
  ASSERT_TRUE(run_until(1));
  EXPECT_TRUE(run_while_not([&] { return server.closed() == 1; }));
  send_all(distinct_queries(1, 60), 1);
  ASSERT_TRUE(run_until(2));
  EXPECT_EQ(outcomes_[1].why, failure::none);
  EXPECT_EQ(server.connections(), 2u);
}

// Through the data plane: a DoH attempt feeds failover and the upstream's counters.
struct counts {
  uint64_t sent = 0, answered = 0, send_errors = 0, bad_answers = 0;
};

class doh_dataplane_test : public doh_test {
protected:
  void start(const std::vector<std::string>& resolvers, const std::string& ca = "ca.pem") {
    net::dataplane_options opts;
    opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.stats_interval_ms = 20;
    opts.timeout_ms = 1000;
    opts.tls_ca_file = cert(ca);
    dp_ = std::make_unique<net::dataplane>(opts, dp_registry_, [this](net::worker_stats&& s) {
      {
        std::lock_guard<std::mutex> g{mtx_};
        for (auto& u : s.upstreams) {
          auto& c = counts_[u.id];
          c.sent += u.sent;
          c.answered += u.answered;
          c.send_errors += u.send_errors;
          c.bad_answers += u.bad_answers;
        }
      }
      waiter_.notify();
    });
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    net::route fallback;
    for (auto& r : resolvers)
      fallback.resolvers.push_back(dp_registry_->get(*net::parse_resolver(r)));
    dp_->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, fallback, std::nullopt, 1));
    addr_ = net::to_string(dp_->bound_endpoints().at(0));
  }
  void TearDown() override {
    if (dp_)
      dp_->stop();
    doh_test::TearDown();
  }
  bool wait_counts(uint32_t id, const std::function<bool(const counts&)>& pred) {
    return waiter_.wait_for([&] {
      std::lock_guard<std::mutex> g{mtx_};
      return pred(counts_[id]);
    }, 3000);
  }

  std::shared_ptr<net::upstream_registry> dp_registry_ = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp_;
  std::string addr_;
  std::mutex mtx_;
  std::map<uint32_t, counts> counts_;
  waiter waiter_;
};

TEST_F(doh_dataplane_test, AnswersOverDohAndCountsIt) {
  fake_doh_server server{server_opts()};
  start({doh(server)});
  auto a = udp_exchange(addr_, make_query(7, "www.doh.test", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(id_of(a), 7);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.8"});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(8, "other.doh.test", 1))),
            std::vector<std::string>{"192.0.2.8"});
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.bad_requests(), 0u);
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.sent == 2 && c.answered == 2; }));
}

TEST_F(doh_dataplane_test, ARefusedSessionFailsOverToTheNextResolver) {
  fake_doh_server bad{server_opts()};
  fake_server plain{answer_with({"192.0.2.99"})};
  start({doh(bad, "wrong.test"), plain.address()});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(7, "www.doh.test", 1))),
            std::vector<std::string>{"192.0.2.99"});
  EXPECT_EQ(bad.requests(), 0u);
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.send_errors >= 1 && c.answered == 0; }));
  EXPECT_NE(log().find("hostname mismatch"), std::string::npos) << log();
}

TEST_F(doh_dataplane_test, ANon200AnswerCountsAsBadAndFailsOver) {
  auto o = server_opts();
  o.status = 500;
  fake_doh_server bad{o};
  fake_server plain{answer_with({"192.0.2.99"})};
  start({doh(bad), plain.address()});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(7, "www.doh.test", 1))),
            std::vector<std::string>{"192.0.2.99"});
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.bad_answers >= 1 && c.answered == 0; }));
}

TEST_F(doh_dataplane_test, ProbesADohUpstream) {
  fake_doh_server server{server_opts()};
  start({doh(server)});
  std::promise<bool> done;
  dp_->probe(0, [&](uint32_t, bool ok, uint64_t) { done.set_value(ok); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_EQ(server.requests(), 1u);
}

} // namespace
