// The debug port with mutual TLS on 127.0.0.1, with certificates made at test time by tests/tls/make_certs.sh: the
// good client is answered without a token; a missing, foreign, expired or unlisted client certificate, a server
// certificate for another name or CA, plain text and silent half-open handshakes are refused, and the good client is
// answered after each. Waiting is on the socket, never by sleeping.
#include "tools/inspect/debug_port.hpp"

#include <csignal>
#include <cstdlib>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/unit/os/temp_dir.hpp"
#include "tools/inspect/client.hpp"

namespace roamd::inspect {
namespace {

struct tls_port_fixture : ::testing::Test {
  static inline std::unique_ptr<test::temp_dir> certs;

  static void SetUpTestSuite() {
    std::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes to the socket with write(): a refused client must not die
    certs = std::make_unique<test::temp_dir>("tls-certs");
    auto command = std::string{ROAMD_MAKE_CERTS} + " " + certs->path;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() { certs.reset(); }

  static std::string cert(const std::string& name) { return *certs / name; }

  /// The client's files: `name`.pem/.key, trusting `ca`.pem.
  static tls_files identity(const std::string& name, const std::string& ca = "ca") {
    return {cert(name + ".pem"), cert(name + ".key"), cert(ca + ".pem"), {}};
  }

  test::temp_dir dir{"tls-port"};
  debug_port_options opts;
  std::unique_ptr<debug_port> port;

  void SetUp() override {
    opts.tcp = "127.0.0.1:0";
    opts.token_file = dir / "state/debug.token";
    opts.tls = {cert("server.pem"), cert("server.key"), cert("ca.pem"), {}};
    opts.version = "test";
    opts.max_connections = 4;
    opts.frame_timeout = std::chrono::milliseconds(300);
    opts.idle_timeout = std::chrono::milliseconds(2000);
  }

  std::string open() {
    port = std::make_unique<debug_port>(opts, [](const proto::InspectRequest& req, auto done) {
      proto::InspectResponse r;
      r.set_id(req.id());
      r.mutable_routes()->set_generation(static_cast<uint64_t>(req.query()));
      done(std::move(r));
    });
    return port->open();
  }

  void start() {
    ASSERT_EQ(open(), "");
    port->start();
  }

  std::string tcp() const { return "127.0.0.1:" + std::to_string(port->tcp_port()); }

  outcome connect(client& c, const tls_files& files, const std::string& name = "127.0.0.1") {
    return c.connect_tls(tcp(), files, name);
  }

  /// The good client connects, is not asked for a token, and is answered.
  void expect_good_client_answered() {
    client c{std::chrono::seconds(5)};
    auto o = connect(c, identity("client"));
    ASSERT_TRUE(o) << o.message;
    EXPECT_FALSE(c.hello().auth_required());
    EXPECT_TRUE(c.hello().nonce().empty());
    proto::InspectResponse r;
    ASSERT_TRUE(c.ask(proto::QUERY_UPSTREAMS, r));
    EXPECT_EQ(r.routes().generation(), static_cast<uint64_t>(proto::QUERY_UPSTREAMS));
  }

  /// `files` are refused as an authentication failure whose message has `words`; the good client still gets in.
  void expect_refused(const tls_files& files, const std::string& words, const std::string& name = "127.0.0.1") {
    client c{std::chrono::seconds(5)};
    auto o = connect(c, files, name);
    EXPECT_EQ(o.kind, failure::auth_refused) << o.message;
    EXPECT_NE(o.message.find(words), std::string::npos) << o.message;
    expect_good_client_answered();
  }
};

TEST_F(tls_port_fixture, the_good_client_is_answered_without_a_token) {
  start();
  expect_good_client_answered();
  struct stat st{};
  EXPECT_NE(::stat(opts.token_file.c_str(), &st), 0) << "a token file was written for a mutual TLS port";
  EXPECT_EQ(port->counters().tls_failed.load(), 0u);
  EXPECT_EQ(port->counters().answered.load(), 1u);
}

TEST_F(tls_port_fixture, bad_client_certificates_are_refused_and_the_good_client_keeps_being_answered) {
  start();
  expect_refused({"", "", cert("ca.pem"), {}}, "roamctl sent no certificate");
  expect_refused(identity("stranger"), "not signed by the agent's tls_client_ca");
  expect_refused(identity("expired"), "expired");
  EXPECT_EQ(port->counters().tls_failed.load(), 3u);
  EXPECT_EQ(port->counters().answered.load(), 3u);
}

TEST_F(tls_port_fixture, a_client_name_not_listed_is_refused) {
  opts.tls.names = {"Operator.test"};  // the good client's DNS SAN, compared without regard to case
  start();
  expect_refused(identity("intruder"), "tls_client_names");
  opts.tls.names = {"operator"};       // its CN
  port.reset();
  start();
  expect_refused(identity("intruder"), "tls_client_names");
  EXPECT_EQ(port->counters().tls_failed.load(), 1u);
}

TEST_F(tls_port_fixture, roamctl_refuses_a_server_certificate_for_another_name_or_from_another_ca) {
  start();
  expect_refused(identity("client"), "IP address mismatch", "192.0.2.9");
  expect_refused(identity("client"), "hostname mismatch", "other.test");
  expect_refused(identity("client", "other-ca"), "roamctl refused the agent's certificate");
  client by_name{std::chrono::seconds(5)};
  EXPECT_TRUE(connect(by_name, identity("client"), "roamd.test"));  // a DNS SAN of the server certificate
}

TEST_F(tls_port_fixture, plain_text_is_refused_without_an_answer) {
  start();
  client raw{std::chrono::seconds(5)};
  ASSERT_TRUE(raw.connect_raw_tcp(tcp()));
  ASSERT_TRUE(raw.send_bytes("GET / HTTP/1.0\r\n\r\n" + std::string(200, 'x')));
  proto::InspectResponse r;
  EXPECT_EQ(raw.read_response(r).kind, failure::cannot_connect);  // closed: no hello, no frame in clear text
  EXPECT_EQ(port->counters().tls_failed.load(), 1u);
  expect_good_client_answered();
}

TEST_F(tls_port_fixture, half_open_handshakes_count_against_the_cap_and_time_out) {
  start();
  std::vector<std::unique_ptr<client>> silent;
  for (size_t i = 0; i < opts.max_connections; ++i) {
    silent.push_back(std::make_unique<client>(std::chrono::seconds(5)));
    ASSERT_TRUE(silent.back()->connect_raw_tcp(tcp()));
  }
  client extra{std::chrono::seconds(5)};
  auto o = connect(extra, identity("client"));
  EXPECT_EQ(o.kind, failure::cannot_connect) << o.message;
  EXPECT_NE(o.message.find("during the TLS handshake"), std::string::npos) << o.message;
  for (auto& c : silent) {  // each is closed after the frame timeout, without a byte
    proto::InspectResponse r;
    EXPECT_EQ(c->read_response(r).kind, failure::cannot_connect);
  }
  EXPECT_GE(port->counters().busy.load(), 1u);
  EXPECT_EQ(port->counters().tls_failed.load(), opts.max_connections);
  expect_good_client_answered();
}

TEST_F(tls_port_fixture, a_tls_client_at_a_plain_port_is_told_so) {
  opts.tls = {};
  start();
  client c{std::chrono::seconds(5)};
  auto o = connect(c, identity("client"));
  EXPECT_EQ(o.kind, failure::protocol) << o.message;
  EXPECT_NE(o.message.find("does not speak TLS"), std::string::npos) << o.message;
}

TEST_F(tls_port_fixture, unusable_files_and_a_non_loopback_address_without_tls_are_refused_at_open) {
  opts.tls.key = dir / "missing.key";
  EXPECT_EQ(open(), "debug TCP listener 127.0.0.1:0: debug.tls_key " + opts.tls.key +
                      ": cannot read: No such file or directory");
  opts.tls.key = cert("client.key");
  EXPECT_NE(open().find("debug.tls_key " + opts.tls.key + ": does not belong to the certificate in debug.tls_cert"),
            std::string::npos);
  opts.tls.key = cert("server.key");
  opts.tls.ca = cert("server.key");
  EXPECT_NE(open().find("debug.tls_client_ca " + opts.tls.ca + ": not a PEM CA certificate"), std::string::npos);
  opts.tls = {};
  opts.tcp = "192.0.2.1:0";
  EXPECT_NE(open().find("only a loopback address is allowed without mutual TLS"), std::string::npos);
}

} // namespace
} // namespace roamd::inspect
