// DNS over TLS from the data plane to a fake DoT server on 127.0.0.1 (Asio SSL, certificates made at test time by
// tests/tls/make_certs.sh): answers, pipelining on one connection with answers out of order, refusal of a wrong CA,
// name, expired certificate or pin (failover, SERVFAIL, counted), a server closing mid-stream, idle close, probes.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_dns.hpp"
#include "fake_dot.hpp"
#include "net/dataplane.hpp"
#include "net/endpoint.hpp"
#include "net/resolver_address.hpp"
#include "tests/unit/os/temp_dir.hpp"

using namespace roamd;
using namespace roamd::test;

namespace {

struct counts {
  uint64_t sent = 0, answered = 0, send_errors = 0, timeouts = 0;
};

class dot_test : public ::testing::Test {
protected:
  static inline std::unique_ptr<temp_dir> certs;

  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);  // a refused handshake must not kill the test with a write to a closed socket
    certs = std::make_unique<temp_dir>("dot-certs");
    auto command = std::string{ROAMD_MAKE_CERTS} + " " + certs->path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    certs.reset();
  }
  static std::string cert(const std::string& name) {
    return *certs / name;
  }
  static fake_dot_server::options server_opts(const std::string& leaf = "server") {
    fake_dot_server::options o;
    o.cert = cert(leaf + ".pem");
    o.key = cert(leaf + ".key");
    return o;
  }
  static std::string dot(const fake_dot_server& s, const std::string& name = "roamd.test", const std::string& pin = "") {
    return "tls://" + s.address() + "#" + name + (pin.empty() ? "" : ";pin-sha256=" + pin);
  }

  void start(const std::vector<std::string>& resolvers, net::dataplane_options opts = {}) {
    opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
    opts.stats_interval_ms = 20;
    if (opts.timeout_ms == 1000)
      opts.timeout_ms = 500;
    if (opts.tls_ca_file.empty())
      opts.tls_ca_file = cert("ca.pem");
    auto sink = [this](net::worker_stats&& s) {
      {
        std::lock_guard<std::mutex> g{mtx_};
        servfail_ += s.servfail_sent;
        for (auto& u : s.upstreams) {
          auto& c = counts_[u.id];
          c.sent += u.sent;
          c.answered += u.answered;
          c.send_errors += u.send_errors;
          c.timeouts += u.timeouts;
        }
      }
      waiter_.notify();
    };
    dp_ = std::make_unique<net::dataplane>(opts, registry_, sink);
    ASSERT_EQ(dp_->open(), "");
    dp_->start();
    net::route fallback;
    for (auto& r : resolvers) {
      auto parsed = net::parse_resolver(r);
      ASSERT_TRUE(parsed) << r;
      fallback.resolvers.push_back(registry_->get(*parsed));
    }
    dp_->set_routing(std::make_shared<net::routing_table>(std::vector<net::route>{}, fallback, std::nullopt, 1));
    addr_ = net::to_string(dp_->bound_endpoints().at(0));
  }

  void TearDown() override {
    if (dp_)
      dp_->stop();
  }

  counts counts_of(uint32_t upstream_id) {
    std::lock_guard<std::mutex> g{mtx_};
    return counts_[upstream_id];
  }
  /// Waits (bounded) until the counters of `upstream_id` satisfy `pred`.
  bool wait_counts(uint32_t upstream_id, const std::function<bool(const counts&)>& pred) {
    return waiter_.wait_for([&] { return pred(counts_of(upstream_id)); }, 3000);
  }

  /// Sends every query from one UDP socket at once, then collects the answers (bounded); keyed by DNS ID.
  std::map<uint16_t, bytes> burst(const std::vector<bytes>& queries, int timeout_ms = 5000) {
    std::map<uint16_t, bytes> answers;
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 1 << 20;  // room for every answer arriving at once (best effort: capped by net.core.rmem_max)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    auto to = *net::parse_endpoint(addr_);
    for (auto& q : queries)
      ::sendto(fd, q.data(), q.size(), 0, to.data(), static_cast<socklen_t>(to.size()));
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (answers.size() < queries.size()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      bytes buf(4096);
      auto n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n >= 12) {
        buf.resize(static_cast<size_t>(n));
        answers[id_of(buf)] = buf;
      }
    }
    ::close(fd);
    return answers;
  }

  std::vector<bytes> distinct_queries(size_t n, const std::string& suffix = ".dot.test") {
    std::vector<bytes> out;
    for (size_t i = 0; i < n; ++i)
      out.push_back(make_query(static_cast<uint16_t>(1000 + i), "q" + std::to_string(i) + suffix, 1));
    return out;
  }

  std::shared_ptr<net::upstream_registry> registry_ = std::make_shared<net::upstream_registry>();
  std::unique_ptr<net::dataplane> dp_;
  std::string addr_;
  std::mutex mtx_;
  std::map<uint32_t, counts> counts_;
  uint64_t servfail_ = 0;
  waiter waiter_;
};

TEST_F(dot_test, AnswersOverTlsAndKeepsTheConnection) {
  fake_dot_server server{server_opts()};
  start({dot(server)});
  auto a = udp_exchange(addr_, make_query(7, "www.dot.test", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(id_of(a), 7);
  EXPECT_EQ(rcode_of(a), 0);
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.7"});
  auto b = udp_exchange(addr_, make_query(8, "other.dot.test", 1));
  EXPECT_EQ(answer_addresses(b), std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(server.connections(), 1u);  // persistent: the second query reused the first connection
  EXPECT_EQ(server.queries(), 2u);
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.answered == 2 && c.sent == 2; }));
}

TEST_F(dot_test, PipelinesManyQueriesOnOneConnectionAndMatchesAnswersOutOfOrder) {
  // The server answers nothing until 40 queries wait on one connection, then answers them newest first.
  auto o = server_opts();
  o.batch = 40;
  fake_dot_server server{o};
  net::dataplane_options opts;
  opts.timeout_ms = 4000;
  start({dot(server)}, opts);
  auto queries = distinct_queries(40);
  auto answers = burst(queries);
  ASSERT_EQ(answers.size(), 40u);
  for (size_t i = 0; i < queries.size(); ++i) {
    auto& a = answers[id_of(queries[i])];
    ASSERT_FALSE(a.empty()) << i;
    EXPECT_EQ(rcode_of(a), 0);
    // Each answer carries its own query's question: matched by DNS ID, not by order.
    EXPECT_TRUE(std::equal(queries[i].begin() + 12, queries[i].end(), a.begin() + 12)) << i;
  }
  EXPECT_EQ(server.connections(), 1u);
  EXPECT_EQ(server.handshakes(), 1u);
}

TEST_F(dot_test, SealsEachQueryInATlsRecordOfItsOwn) {
  // The 39 queries after the first wait for the handshake the first one starts, then leave in one write: each must
  // still be a record of its own (a server that reads a query per record, as NSD 4.6 does, stalls on the rest).
  fake_dot_server server{server_opts()};
  start({dot(server)});
  auto answers = burst(distinct_queries(40));
  EXPECT_EQ(answers.size(), 40u);
  EXPECT_EQ(server.queries(), 40u);
  EXPECT_EQ(server.shared_records(), 0u);
  EXPECT_EQ(server.connections(), 1u);
}

TEST_F(dot_test, SealsALargeBatchInSeveralWrites) {
  // 150 queries waiting for the handshake are more than the session's output buffer takes at once (17 KiB, with
  // room kept for each record's overhead): the rest leave when the first write completes, each still a record of
  // its own, and every one is answered.
  fake_dot_server server{server_opts()};
  net::dataplane_options opts;
  opts.timeout_ms = 4000;
  start({dot(server)}, opts);
  auto answers = burst(distinct_queries(150, ".a-rather-longer-name.to-fill-the-buffer.dot.test"));
  EXPECT_EQ(answers.size(), 150u);
  EXPECT_EQ(server.queries(), 150u);
  EXPECT_EQ(server.shared_records(), 0u);
}

TEST_F(dot_test, ReconnectsAndRetriesWhenTheServerClosesMidStream) {
  auto o = server_opts();
  o.close_first_after = 3;  // the first connection is cut after 3 queries were read, none answered
  fake_dot_server server{o};
  net::dataplane_options opts;
  opts.timeout_ms = 2000;
  start({dot(server)}, opts);
  auto answers = burst(distinct_queries(10));
  ASSERT_EQ(answers.size(), 10u);
  for (auto& [id, a] : answers)
    EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.7"}) << id;
  EXPECT_EQ(server.connections(), 2u);
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.send_errors >= 1 && c.answered == 10; }));
}

TEST_F(dot_test, TakesAnswersLargerThanATlsRecord) {
  auto o = server_opts();
  o.txt_size = 40000;  // three TLS records, more than the connection's first read buffer
  fake_dot_server server{o};
  start({dot(server)});
  auto answers = tcp_exchange(addr_, {make_query(7, "big.dot.test", 16), make_query(8, "big2.dot.test", 16)}, 2);
  ASSERT_EQ(answers.size(), 2u);
  for (auto& a : answers) {
    EXPECT_EQ(rcode_of(a), 0);
    EXPECT_GT(a.size(), 40000u);
  }
}

TEST_F(dot_test, ClosesAnIdleConnection) {
  fake_dot_server server{server_opts()};
  net::dataplane_options opts;
  opts.dot_idle_timeout_ms = 100;
  start({dot(server)}, opts);
  EXPECT_FALSE(udp_exchange(addr_, make_query(7, "www.dot.test", 1)).empty());
  EXPECT_TRUE(server.wait_for([&] { return server.closed() == 1; }, 3000));
  EXPECT_FALSE(udp_exchange(addr_, make_query(8, "again.dot.test", 1)).empty());  // reconnects on demand
  EXPECT_EQ(server.connections(), 2u);
}

TEST_F(dot_test, AcceptsTheRightPin) {
  std::ifstream f(cert("server.pin"));
  std::string pin;
  f >> pin;
  fake_dot_server server{server_opts()};
  start({dot(server, "roamd.test", pin)});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(7, "www.dot.test", 1))),
            std::vector<std::string>{"192.0.2.7"});
}

TEST_F(dot_test, VerifiesTheIpAddressWithoutAName) {
  fake_dot_server server{server_opts()};  // its certificate carries IP:127.0.0.1
  start({"tls://" + server.address()});
  EXPECT_EQ(answer_addresses(udp_exchange(addr_, make_query(7, "www.dot.test", 1))),
            std::vector<std::string>{"192.0.2.7"});
}

struct refusal {
  const char* what;
  const char* leaf;     // the server's certificate
  const char* ca;       // the client's trust anchor
  const char* name;     // the name asked for
  bool bad_pin;
};

class dot_refusal_test : public dot_test, public ::testing::WithParamInterface<refusal> {};

TEST_P(dot_refusal_test, RefusesAndFailsOverToTheNextResolver) {
  const refusal& r = GetParam();
  fake_dot_server bad{server_opts(r.leaf)};
  fake_server plain{answer_with({"192.0.2.99"})};
  net::dataplane_options opts;
  opts.tls_ca_file = cert(r.ca);
  std::string pin = r.bad_pin ? net::encode_base64(std::string(32, 'x')) : "";
  start({dot(bad, r.name, pin), plain.address()}, opts);
  auto a = udp_exchange(addr_, make_query(7, "www.dot.test", 1));
  EXPECT_EQ(answer_addresses(a), std::vector<std::string>{"192.0.2.99"}) << r.what;
  EXPECT_EQ(bad.queries(), 0u) << r.what;  // nothing was sent over the refused session
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.send_errors >= 1 && c.answered == 0; })) << r.what;
}

INSTANTIATE_TEST_SUITE_P(all, dot_refusal_test,
                         ::testing::Values(refusal{"wrong CA", "server", "other-ca.pem", "roamd.test", false},
                                           refusal{"wrong name", "server", "ca.pem", "wrong.test", false},
                                           refusal{"expired", "server-expired", "ca.pem", "roamd.test", false},
                                           refusal{"wrong pin", "server", "ca.pem", "roamd.test", true}),
                         [](const ::testing::TestParamInfo<refusal>& info) {
                           std::string name = info.param.what;
                           std::replace(name.begin(), name.end(), ' ', '_');
                           return name;
                         });

TEST_F(dot_test, ServfailWhenTheOnlyResolverIsRefused) {
  fake_dot_server server{server_opts()};
  net::dataplane_options opts;
  opts.tls_ca_file = cert("other-ca.pem");
  opts.attempts = 3;
  start({dot(server)}, opts);
  auto a = udp_exchange(addr_, make_query(7, "www.dot.test", 1));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(rcode_of(a), 2);
  EXPECT_EQ(server.queries(), 0u);
  // The first attempt fails the handshake; the backoff that follows refuses the others at once.
  EXPECT_TRUE(wait_counts(0, [](const counts& c) { return c.send_errors == 3; }));
  EXPECT_EQ(server.connections(), 1u);
}

TEST_F(dot_test, ProbesADotUpstream) {
  fake_dot_server server{server_opts()};
  start({dot(server)});
  std::promise<bool> done;
  dp_->probe(0, [&](uint32_t, bool ok, uint64_t) { done.set_value(ok); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_EQ(server.queries(), 1u);
}

TEST_F(dot_test, OpenFailsOnAnUnreadableCaFile) {
  net::dataplane_options opts;
  opts.listen = {boost::asio::ip::udp::endpoint{boost::asio::ip::make_address("127.0.0.1"), 0}};
  opts.tls_ca_file = cert("missing.pem");
  net::dataplane dp{opts, registry_, nullptr};
  auto err = dp.open();
  EXPECT_NE(err.find("missing.pem"), std::string::npos) << err;
  opts.tls_ca_file = cert("server.pin");  // not PEM
  net::dataplane dp2{opts, registry_, nullptr};
  err = dp2.open();
  EXPECT_NE(err.find("no PEM certificate"), std::string::npos) << err;
}

} // namespace
