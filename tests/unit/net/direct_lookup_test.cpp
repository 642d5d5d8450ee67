// net/direct_lookup: the query it writes, the answers it reads (bounds, IDs), and a lookup over loopback against a
// responder thread of the test's own (port 0), including a resolver that never answers.
#include "net/direct_lookup.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "net/dns_codec.hpp"
#include "net/dns_wire.hpp"

namespace roamd::net {
namespace {

using bytes = std::vector<uint8_t>;

bytes query(const std::string& name, uint16_t type, uint16_t id) {
  bytes q(300);
  q.resize(build_lookup_query(name, type, id, q.data(), q.size()));
  return q;
}

/// The answer to `q` with one record per address (A for 4 bytes, AAAA for 16), names compressed to the question.
bytes answer(const bytes& q, uint8_t rcode, const std::vector<bytes>& rdatas) {
  bytes a = q;
  dns::put16(a.data() + 2, 0x8180 | rcode);
  dns::put16(a.data() + 6, static_cast<uint16_t>(rdatas.size()));
  for (const auto& rd : rdatas) {
    uint8_t rr[10] = {0, 0, 0, 1, 0, 0, 0, 60, 0, 0};
    dns::put16(rr, rd.size() == 4 ? 1 : 28);
    dns::put16(rr + 8, static_cast<uint16_t>(rd.size()));
    a.push_back(0xc0);
    a.push_back(12);
    a.insert(a.end(), rr, rr + 10);
    a.insert(a.end(), rd.begin(), rd.end());
  }
  return a;
}

TEST(direct_lookup, the_query_is_one_recursive_question_in_wire_format) {
  auto q = query("Corp.Example.", 1, 0x1234);
  ASSERT_FALSE(q.empty());
  dns::query_info info;
  ASSERT_EQ(dns::parse_query(q.data(), q.size(), info), dns::parse_error::none);
  EXPECT_EQ(info.qname.to_text(), "corp.example");
  EXPECT_EQ(info.qtype, 1);
  EXPECT_EQ(dns::id_of(q.data()), 0x1234);
  EXPECT_TRUE(dns::flags_of(q.data()) & 0x0100) << "RD";
  uint8_t small[10];
  EXPECT_EQ(build_lookup_query("corp.example", 1, 1, small, sizeof small), 0u);
  EXPECT_TRUE(query("bad name!", 1, 1).empty());
}

TEST(direct_lookup, answers_give_their_addresses_and_anything_else_is_refused) {
  auto q = query("corp.example", 1, 7);
  auto a = answer(q, 0, {{10, 1, 2, 3}, bytes{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}});
  auto r = parse_lookup_answer(a.data(), a.size(), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_EQ(r->addresses, (std::vector<std::string>{"10.1.2.3", "fd00::1"}));
  EXPECT_FALSE(parse_lookup_answer(a.data(), a.size(), 8)) << "another ID";
  EXPECT_FALSE(parse_lookup_answer(q.data(), q.size(), 7)) << "a query, not an answer";
  for (size_t cut = 0; cut < a.size(); ++cut)  // the header claims two records: every shorter cut is malformed
    EXPECT_FALSE(parse_lookup_answer(a.data(), cut, 7)) << cut;
  auto nx = answer(q, 3, {});
  r = parse_lookup_answer(nx.data(), nx.size(), 7);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 3);
  EXPECT_TRUE(r->addresses.empty());
}

/// A UDP responder on 127.0.0.1, port 0: answers each A query with 10.1.2.3 and each AAAA with NODATA, or stays
/// silent.
struct responder {
  int fd = -1;
  uint16_t port = 0;
  std::thread th;

  explicit responder(bool silent) {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    timeval tv{0, 200'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    th = std::thread{[this, silent] {
      for (int served = 0, polls = 0; served < 2 && polls < 50; ++polls) {  // at most ~10 s
        uint8_t buf[512];
        sockaddr_in from{};
        socklen_t flen = sizeof from;
        auto n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0)
          continue;
        ++served;
        if (silent)
          continue;
        bytes q(buf, buf + n);
        uint16_t type = dns::get16(q.data() + q.size() - 4);
        auto a = type == 1 ? answer(q, 0, {{10, 1, 2, 3}}) : answer(q, 0, {});
        ::sendto(fd, a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
      }
    }};
  }
  ~responder() {
    th.join();
    ::close(fd);
  }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(port);
  }
};

direct_answer look_up(const std::vector<std::string>& resolvers, std::chrono::milliseconds timeout) {
  std::promise<direct_answer> p;
  auto f = p.get_future();
  direct_lookup("corp.example", resolvers, timeout, 0, [&p](direct_answer a) { p.set_value(std::move(a)); });
  EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  return f.get();
}

TEST(direct_lookup, a_resolver_over_loopback_answers_and_a_silent_one_times_out) {
  {
    responder r{false};
    auto a = look_up({"tls://127.0.0.1:853#skipped", r.address()}, std::chrono::milliseconds(2000));
    EXPECT_TRUE(a.ok) << a.error;
    EXPECT_EQ(a.addresses, std::vector<std::string>{"10.1.2.3"});
  }
  {
    responder r{true};
    auto a = look_up({r.address()}, std::chrono::milliseconds(150));
    EXPECT_FALSE(a.ok);
    EXPECT_NE(a.error.find("timed out after 150 ms"), std::string::npos) << a.error;
  }
  auto none = look_up({}, std::chrono::milliseconds(100));
  EXPECT_FALSE(none.ok);
  EXPECT_NE(none.error.find("no plain-DNS local resolver"), std::string::npos);
}

} // namespace
} // namespace roamd::net
