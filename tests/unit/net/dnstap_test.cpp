// The dnstap writer: the messages it encodes (decoded with the dnstap schema) and a Frame Streams file read back
// with libfstrm's own reader.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cstdio>
#include <fstrm.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "net/dnstap.hpp"
#include "net/dns_codec.hpp"
#include "proto/dnstap.pb.h"

using namespace roamd;

namespace {

sockaddr_in v4(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

const uint8_t query_bytes[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 4, 'c', 'o', 'r', 'p', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};

struct event_fixture {
  sockaddr_in client = v4("192.0.2.10", 40000);
  sockaddr_in server = v4("127.0.0.1", 53);
  std::vector<uint8_t> answer = std::vector<uint8_t>(std::begin(query_bytes), std::end(query_bytes));

  net::query_event make(net::query_event::kind_t kind) {
    answer[2] = 0x81;
    answer[3] = 0x83;  // NXDOMAIN
    net::query_event e;
    e.kind = kind;
    e.source = net::answer_source::upstream;
    e.client = reinterpret_cast<const sockaddr*>(&client);
    e.client_len = sizeof(client);
    e.server = reinterpret_cast<const sockaddr*>(&server);
    e.server_len = sizeof(server);
    e.message = kind == net::query_event::query ? query_bytes : answer.data();
    e.size = kind == net::query_event::query ? sizeof(query_bytes) : answer.size();
    e.query_time = std::chrono::system_clock::time_point{std::chrono::nanoseconds{1700000000123456789}};
    e.response_time = e.query_time + std::chrono::milliseconds(7);
    e.route = "corp.test";
    return e;
  }
};

std::unique_ptr<net::dnstap_writer> file_writer(const std::string& path, bool queries = true) {
  net::dnstap_options o;
  o.file = path;
  o.identity = "host-1";
  o.version = "roamd test";
  o.client_queries = queries;
  std::string err;
  auto w = net::dnstap_writer::open(o, err);
  EXPECT_TRUE(w) << err;
  return w;
}

TEST(dnstap, client_query_and_response_carry_the_published_fields) {
  auto path = ::testing::TempDir() + "dnstap-fields.fstrm";
  auto w = file_writer(path);
  event_fixture f;
  dnstap::Dnstap q;
  ASSERT_TRUE(q.ParseFromString(w->encode(f.make(net::query_event::query))));
  EXPECT_EQ(q.type(), dnstap::Dnstap::MESSAGE);
  EXPECT_EQ(q.identity(), "host-1");
  EXPECT_EQ(q.version(), "roamd test");
  const auto& m = q.message();
  EXPECT_EQ(m.type(), dnstap::Message::CLIENT_QUERY);
  EXPECT_EQ(m.socket_family(), dnstap::INET);
  EXPECT_EQ(m.socket_protocol(), dnstap::UDP);
  EXPECT_EQ(m.query_address(), std::string("\xC0\x00\x02\x0A", 4));
  EXPECT_EQ(m.query_port(), 40000u);
  EXPECT_EQ(m.response_address(), std::string("\x7F\x00\x00\x01", 4));
  EXPECT_EQ(m.response_port(), 53u);
  EXPECT_EQ(m.query_time_sec(), 1700000000u);
  EXPECT_EQ(m.query_time_nsec(), 123456789u);
  EXPECT_EQ(m.query_message(), std::string(reinterpret_cast<const char*>(query_bytes), sizeof(query_bytes)));
  EXPECT_FALSE(m.has_response_message());

  dnstap::Dnstap r;
  auto ev = f.make(net::query_event::response);
  ev.tcp = true;
  ASSERT_TRUE(r.ParseFromString(w->encode(ev)));
  const auto& rm = r.message();
  EXPECT_EQ(rm.type(), dnstap::Message::CLIENT_RESPONSE);
  EXPECT_EQ(rm.socket_protocol(), dnstap::TCP);
  EXPECT_EQ(rm.response_time_sec(), 1700000000u);
  EXPECT_EQ(rm.response_time_nsec(), 130456789u);
  EXPECT_EQ(rm.response_message().size(), f.answer.size());
  EXPECT_EQ(rm.query_zone(), std::string("\x04" "corp\x04" "test\x00", 11)) << "the route, in wire format";
  EXPECT_FALSE(rm.has_query_message());
}

TEST(dnstap, an_ipv6_client_is_inet6) {
  auto path = ::testing::TempDir() + "dnstap-v6.fstrm";
  auto w = file_writer(path);
  event_fixture f;
  sockaddr_in6 c6{};
  c6.sin6_family = AF_INET6;
  c6.sin6_port = htons(5353);
  inet_pton(AF_INET6, "2001:db8::1", &c6.sin6_addr);
  auto e = f.make(net::query_event::query);
  e.client = reinterpret_cast<const sockaddr*>(&c6);
  e.client_len = sizeof(c6);
  dnstap::Dnstap d;
  ASSERT_TRUE(d.ParseFromString(w->encode(e)));
  EXPECT_EQ(d.message().socket_family(), dnstap::INET6);
  EXPECT_EQ(d.message().query_address().size(), 16u);
  EXPECT_EQ(d.message().query_port(), 5353u);
}

TEST(dnstap, a_frame_streams_file_reads_back_with_libfstrm) {
  auto path = ::testing::TempDir() + "dnstap-file.fstrm";
  {
    auto w = file_writer(path, false);
    event_fixture f;
    ASSERT_FALSE(w->wants_queries());
    for (int i = 0; i < 5; ++i) {
      w->observe(f.make(net::query_event::query));  // not wanted: nothing written
      w->observe(f.make(net::query_event::response));
    }
    EXPECT_EQ(w->written(), 5u);
    EXPECT_EQ(w->dropped(), 0u);
  }  // destroyed: flushed and closed
  auto* fopt = fstrm_file_options_init();
  fstrm_file_options_set_file_path(fopt, path.c_str());
  auto* ropt = fstrm_reader_options_init();
  const char type[] = "protobuf:dnstap.Dnstap";
  fstrm_reader_options_add_content_type(ropt, type, sizeof(type) - 1);
  auto* r = fstrm_file_reader_init(fopt, ropt);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(fstrm_reader_open(r), fstrm_res_success) << "the content type must be dnstap's";
  int frames = 0;
  const uint8_t* data = nullptr;
  size_t len = 0;
  while (fstrm_reader_read(r, &data, &len) == fstrm_res_success) {
    dnstap::Dnstap d;
    ASSERT_TRUE(d.ParseFromArray(data, static_cast<int>(len)));
    EXPECT_EQ(d.message().type(), dnstap::Message::CLIENT_RESPONSE);
    ++frames;
  }
  EXPECT_EQ(frames, 5);
  fstrm_reader_destroy(&r);
  fstrm_reader_options_destroy(&ropt);
  fstrm_file_options_destroy(&fopt);
  ::unlink(path.c_str());
}

/// Frames in a Frame Streams file (data frames only), read with libfstrm's reader; -1 when it does not open.
int frames_in(const std::string& path) {
  auto* fopt = fstrm_file_options_init();
  fstrm_file_options_set_file_path(fopt, path.c_str());
  auto* ropt = fstrm_reader_options_init();
  auto* r = fstrm_file_reader_init(fopt, ropt);
  int frames = -1;
  if (r && fstrm_reader_open(r) == fstrm_res_success) {
    frames = 0;
    const uint8_t* data = nullptr;
    size_t len = 0;
    while (fstrm_reader_read(r, &data, &len) == fstrm_res_success)
      ++frames;
  }
  if (r)
    fstrm_reader_destroy(&r);
  fstrm_reader_options_destroy(&ropt);
  fstrm_file_options_destroy(&fopt);
  return frames;
}

long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(dnstap, the_file_is_private_written_while_running_and_the_previous_one_is_kept) {
  auto path = ::testing::TempDir() + "dnstap-live.fstrm";
  ::unlink((path + ".1").c_str());
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fputs("the previous run", f); std::fclose(f); }
  auto w = file_writer(path);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "it records who asked for what";
  EXPECT_EQ(file_size(path + ".1"), 16) << "the previous file is kept as .1";
  event_fixture f;
  w->observe(f.make(net::query_event::response));
  // libfstrm's I/O thread flushes within its 1 s flush timeout: wait for the frame, with a bound.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (frames_in(path) < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(frames_in(path), 1) << "a frame reaches the file while roamd runs, not only at exit";
  w.reset();
  EXPECT_EQ(frames_in(path), 1);
  ::unlink(path.c_str());
  ::unlink((path + ".1").c_str());
}

TEST(dnstap, bad_options_are_refused_with_a_reason) {
  std::string err;
  net::dnstap_options none;
  EXPECT_FALSE(net::dnstap_writer::open(none, err));
  EXPECT_NE(err.find("exactly one"), std::string::npos) << err;
  net::dnstap_options nowhere;
  nowhere.file = "/nonexistent-dir/roamd.dnstap";
  EXPECT_FALSE(net::dnstap_writer::open(nowhere, err));
  EXPECT_NE(err.find("/nonexistent-dir/roamd.dnstap"), std::string::npos) << err;
  net::dnstap_options odd;
  odd.file = ::testing::TempDir() + "dnstap-odd.fstrm";
  odd.queue_size = 1000;  // not a power of 2
  EXPECT_FALSE(net::dnstap_writer::open(odd, err));
  EXPECT_NE(err.find("power of 2"), std::string::npos) << err;
}

} // namespace
