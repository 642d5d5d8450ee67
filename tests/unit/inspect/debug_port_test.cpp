// The debug port for real, on a private Unix socket and 127.0.0.1 (kernel-chosen port), with a scripted handler:
// hello, authentication, answers in order, and every refusal (too large, garbage, truncated, slow, idle, busy,
// unauthenticated, answer too large), each with its error frame. Waiting is on the socket, never by sleeping.
#include "tools/inspect/debug_port.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/os/temp_dir.hpp"
#include "tools/inspect/auth.hpp"
#include "tools/inspect/client.hpp"

namespace roamd::inspect {
namespace {

using code = proto::InspectError;

struct debug_port_fixture : ::testing::Test {
  test::temp_dir dir{"debug-port"};
  debug_port_options opts;
  std::unique_ptr<debug_port> port;

  void SetUp() override {
    opts.socket_path = dir / "run/debug.sock";
    opts.tcp = "127.0.0.1:0";
    opts.token_file = dir / "state/debug.token";
    opts.version = "test";
    opts.max_connections = 4;
    opts.frame_timeout = std::chrono::milliseconds(300);
    opts.idle_timeout = std::chrono::milliseconds(800);
  }

  /// Answers with the routing snapshot whose generation is the query number; QUERY_STATS with 2 MiB.
  void start() {
    port = std::make_unique<debug_port>(opts, [](const proto::InspectRequest& req, auto done) {
      proto::InspectResponse r;
      r.set_id(req.id());
      if (req.query() == proto::QUERY_STATS)
        (*r.mutable_stats()->mutable_drops())[std::string(2 << 20, 'x')] = 1;
      else
        r.mutable_routes()->set_generation(static_cast<uint64_t>(req.query()));
      done(std::move(r));
    });
    ASSERT_EQ(port->open(), "");
    port->start();
  }

  std::string tcp() const { return "127.0.0.1:" + std::to_string(port->tcp_port()); }

  std::string token() const {
    std::ifstream f{opts.token_file};
    std::stringstream s;
    s << f.rdbuf();
    return token_from_text(s.str()).value_or("");
  }

  /// The error frame the server sends before closing, then the close itself.
  static void expect_refusal(client& c, code::Code expected, const std::string& words) {
    proto::InspectResponse r;
    ASSERT_TRUE(c.read_response(r)) << "no error frame";
    ASSERT_TRUE(r.has_error()) << r.ShortDebugString();
    EXPECT_EQ(r.error().code(), expected) << r.error().message();
    EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
    auto after = c.read_response(r);
    EXPECT_EQ(after.kind, failure::cannot_connect) << "still open after the refusal";
  }
};

TEST_F(debug_port_fixture, unix_socket_greets_and_answers_in_order_with_private_modes) {
  start();
  struct stat st{};
  ASSERT_EQ(::stat(opts.socket_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(::stat((dir / "run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  client c;
  ASSERT_TRUE(c.connect_unix(opts.socket_path));
  EXPECT_EQ(c.hello().version(), "test");
  EXPECT_FALSE(c.hello().auth_required());
  EXPECT_EQ(c.hello().max_request(), max_request_frame);
  for (auto q : {proto::QUERY_ROUTES, proto::QUERY_STATUS, proto::QUERY_EVENTS}) {
    proto::InspectResponse r;
    ASSERT_TRUE(c.ask(q, r));
    EXPECT_EQ(r.routes().generation(), static_cast<uint64_t>(q));
  }
  port->stop();
  EXPECT_NE(::stat(opts.socket_path.c_str(), &st), 0) << "the socket file stays after stop";
  EXPECT_NE(::stat(opts.token_file.c_str(), &st), 0) << "the token file stays after stop";
}

TEST_F(debug_port_fixture, tcp_needs_the_token_written_0600_and_refuses_a_wrong_one) {
  start();
  struct stat st{};
  ASSERT_EQ(::stat(opts.token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(token().size(), token_size);

  client good;
  ASSERT_TRUE(good.connect_tcp(tcp(), token()));
  EXPECT_TRUE(good.hello().auth_required());
  EXPECT_EQ(good.hello().nonce().size(), nonce_size);
  proto::InspectResponse r;
  ASSERT_TRUE(good.ask(proto::QUERY_ADAPTERS, r));
  EXPECT_EQ(r.routes().generation(), static_cast<uint64_t>(proto::QUERY_ADAPTERS));

  client wrong;
  auto bad = token();
  bad[0] ^= 1;
  auto o = wrong.connect_tcp(tcp(), bad);
  EXPECT_EQ(o.kind, failure::auth_refused);
  EXPECT_NE(o.message.find("authentication failed"), std::string::npos) << o.message;

  client none;
  EXPECT_EQ(none.connect_tcp(tcp(), std::nullopt).kind, failure::auth_refused);
  EXPECT_EQ(port->counters().auth_failed.load(), 1u);
}

TEST_F(debug_port_fixture, a_query_before_authentication_is_refused_and_closed) {
  start();
  client c;
  ASSERT_TRUE(c.connect_raw_tcp(tcp()));
  proto::InspectResponse hello;
  ASSERT_TRUE(c.read_response(hello));
  ASSERT_TRUE(hello.hello().auth_required());
  proto::InspectRequest req;
  req.set_id(1);
  req.set_query(proto::QUERY_STATUS);
  ASSERT_TRUE(c.send_bytes(encode_frame(req.SerializeAsString())));
  expect_refusal(c, code::AUTH_REQUIRED, "authenticate first");
}

TEST_F(debug_port_fixture, a_2_gib_length_header_is_refused_at_once) {
  start();
  client c;
  ASSERT_TRUE(c.connect_unix(opts.socket_path));
  ASSERT_TRUE(c.send_bytes(std::string("\x7f\xff\xff\xff", 4)));
  expect_refusal(c, code::TOO_LARGE, "2147483647 bytes exceeds the limit of 65536");
  EXPECT_EQ(port->counters().too_large.load(), 1u);
}

TEST_F(debug_port_fixture, a_frame_that_is_no_request_is_refused) {
  start();
  client c;
  ASSERT_TRUE(c.connect_unix(opts.socket_path));
  ASSERT_TRUE(c.send_bytes(encode_frame("\x07\x07\x07")));
  expect_refusal(c, code::BAD_REQUEST, "not a request");
  client empty;
  ASSERT_TRUE(empty.connect_unix(opts.socket_path));
  ASSERT_TRUE(empty.send_bytes(encode_frame("")));  // parses, but asks nothing
  expect_refusal(empty, code::BAD_REQUEST, "not a request");
}

TEST_F(debug_port_fixture, a_truncated_frame_times_out) {
  start();
  client c;
  ASSERT_TRUE(c.connect_unix(opts.socket_path));
  ASSERT_TRUE(c.send_bytes(std::string("\0\0\0\x64", 4) + "only ten b"));
  expect_refusal(c, code::TIMEOUT, "incomplete request: 14 bytes in 300 ms");
}

TEST_F(debug_port_fixture, an_idle_connection_and_a_silent_unauthenticated_one_are_closed) {
  start();
  client idle;
  ASSERT_TRUE(idle.connect_unix(opts.socket_path));
  expect_refusal(idle, code::TIMEOUT, "idle for 800 ms");
  client silent;
  ASSERT_TRUE(silent.connect_raw_tcp(tcp()));
  proto::InspectResponse hello;
  ASSERT_TRUE(silent.read_response(hello));
  expect_refusal(silent, code::TIMEOUT, "no authentication within 300 ms");  // not the 800 ms idle allowance
}

TEST_F(debug_port_fixture, connections_beyond_the_cap_get_busy_and_the_others_keep_working) {
  start();
  std::vector<std::unique_ptr<client>> held;
  for (size_t i = 0; i < opts.max_connections; ++i) {
    held.push_back(std::make_unique<client>());
    ASSERT_TRUE(held.back()->connect_unix(opts.socket_path));
  }
  client extra;
  auto o = extra.connect_unix(opts.socket_path);
  EXPECT_EQ(o.kind, failure::cannot_connect);
  EXPECT_NE(o.message.find("too many inspection connections (4)"), std::string::npos) << o.message;
  proto::InspectResponse r;
  ASSERT_TRUE(held.front()->ask(proto::QUERY_ROUTES, r));
  EXPECT_EQ(port->counters().busy.load(), 1u);
  held.pop_back();  // a slot frees once the server sees the close
  held.front()->ask(proto::QUERY_ROUTES, r);  // a round trip: by now the close was processed
  client again;
  EXPECT_TRUE(again.connect_unix(opts.socket_path));
}

TEST_F(debug_port_fixture, an_answer_beyond_the_response_cap_becomes_an_error) {
  start();
  client c;
  ASSERT_TRUE(c.connect_unix(opts.socket_path));
  proto::InspectResponse r;
  ASSERT_TRUE(c.ask(proto::QUERY_STATS, r));
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error().code(), code::RESPONSE_TOO_LARGE);
  ASSERT_TRUE(c.ask(proto::QUERY_ROUTES, r));  // the connection goes on
  EXPECT_FALSE(r.has_error());
}

TEST_F(debug_port_fixture, a_live_socket_is_not_taken_over_but_a_stale_one_is) {
  start();
  debug_port second{opts, [](const proto::InspectRequest&, auto) {}};
  auto err = second.open();
  EXPECT_NE(err.find("already running"), std::string::npos) << err;
  port->stop();
  // A socket file left by a killed run (nobody listens): replaced.
  {
    debug_port_options o = opts;
    o.tcp.clear();
    debug_port left{o, [](const proto::InspectRequest&, auto) {}};
    ASSERT_EQ(left.open(), "");
  }  // never started; its destructor removes the file, so plant one by hand
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", opts.socket_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);
  debug_port third{opts, [](const proto::InspectRequest&, auto) {}};
  EXPECT_EQ(third.open(), "");
  // Anything else at the path is left alone.
  third.stop();
  test::write_plain(opts.socket_path, "not a socket");
  debug_port fourth{opts, [](const proto::InspectRequest&, auto) {}};
  EXPECT_NE(fourth.open().find("is not a socket"), std::string::npos);
}

} // namespace
} // namespace roamd::inspect
