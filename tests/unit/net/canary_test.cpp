// net/canary: canary names, the expected address, name classification and the local answer.
#include "net/canary.hpp"

#include <string>

#include <gtest/gtest.h>

#include "net/dns_build.hpp"
#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net {
namespace {

using test::bytes;
using test::wire;

dns::query_info parsed(const bytes& m) {
  dns::query_info q;
  EXPECT_EQ(dns::parse_query(m.data(), m.size(), q), dns::parse_error::none);
  return q;
}

canary_match classify(const bytes& query, std::string* label = nullptr) {
  auto q = parsed(query);
  std::string_view l;
  auto m = match_canary(q.qname, l);
  if (label)
    *label = std::string(l);
  return m;
}

/// The local answer to `query` (empty when none could be built).
bytes reply_to(const bytes& query, size_t cap = 512) {
  auto q = parsed(query);
  std::string_view label;
  auto m = match_canary(q.qname, label);
  bytes out(cap);
  size_t n = build_canary_reply(query.data(), query.size(), q, m, label, out.data(), out.size());
  out.resize(n);
  return out;
}

std::array<uint8_t, 4> addr(uint64_t fnv) {
  return {127, static_cast<uint8_t>(fnv >> 16), static_cast<uint8_t>(fnv >> 8), static_cast<uint8_t>(fnv)};
}

TEST(canary, name_is_sixteen_hex_digits_under_the_suffix) {
  EXPECT_EQ(canary_name(0x0123456789abcdefull), "0123456789abcdef.canary.roamd.arpa");
  EXPECT_EQ(canary_name(0), "0000000000000000.canary.roamd.arpa");
  EXPECT_EQ(canary_name(~0ull), "ffffffffffffffff.canary.roamd.arpa");
}

TEST(canary, address_is_127_and_the_low_bytes_of_fnv1a_of_the_lower_cased_label) {
  // Published FNV-1a-64 test vectors: "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8.
  EXPECT_EQ(canary_address("a"), addr(0xaf63dc4c8601ec8cull));
  EXPECT_EQ(canary_address("foobar"), addr(0x85944171f73967e8ull));
  EXPECT_EQ(canary_address("FooBar"), canary_address("foobar"));
  EXPECT_NE(canary_address("0123456789abcdef"), canary_address("0123456789abcdee"));
  EXPECT_EQ(canary_address(""), std::nullopt);
  EXPECT_EQ(canary_address(std::string(64, 'a')), std::nullopt);
  EXPECT_TRUE(canary_address(std::string(63, 'a')).has_value());
}

TEST(canary, names_are_classified_by_whole_labels) {
  std::string label;
  EXPECT_EQ(classify(test::query("0123456789ABCDEF.Canary.ROAMD.arpa"), &label), canary_match::leaf);
  EXPECT_EQ(label, "0123456789abcdef") << "query names are lower-cased by the parser";
  EXPECT_EQ(classify(test::query("canary.roamd.arpa")), canary_match::apex);
  EXPECT_EQ(classify(test::query("a.b.canary.roamd.arpa")), canary_match::deeper);
  EXPECT_EQ(classify(test::query("xcanary.roamd.arpa")), canary_match::none);
  EXPECT_EQ(classify(test::query("roamd.arpa")), canary_match::none);
  EXPECT_EQ(classify(test::query("canary.roamd.arpa.example")), canary_match::none);
  EXPECT_EQ(classify(test::query("example.com")), canary_match::none);
  // A label whose bytes happen to end like the suffix's wire form is not the suffix.
  bytes tricky = wire{}
                   .header(1, dns::flag_rd, 1, 0, 0, 0)
                   .raw({8, 'a', 6, 'c', 'a', 'n', 'a', 'r', 'y'})
                   .raw({5, 'r', 'o', 'a', 'm', 'd', 4, 'a', 'r', 'p', 'a', 0})
                   .u16(1)
                   .u16(1)
                   .get();
  auto q = parsed(tricky);
  EXPECT_TRUE(may_be_canary(q.qname));
  std::string_view l;
  EXPECT_EQ(match_canary(q.qname, l), canary_match::none);
}

TEST(canary, a_query_gets_one_a_record_with_ttl_zero) {
  bytes query = wire{}.header(0xBEEF, dns::flag_rd | dns::flag_cd, 1, 0, 0, 0).question("Nonce1.CANARY.roamd.arpa").get();
  auto a = reply_to(query);
  ASSERT_EQ(a.size(), query.size() + 16);
  EXPECT_EQ(test::get16(a, 0), 0xBEEF);
  uint16_t flags = test::get16(a, 2);
  EXPECT_TRUE(flags & dns::flag_qr);
  EXPECT_TRUE(flags & dns::flag_aa);
  EXPECT_TRUE(flags & dns::flag_rd);
  EXPECT_TRUE(flags & dns::flag_cd);
  EXPECT_EQ(dns::rcode_of(flags), 0);
  EXPECT_EQ(test::get16(a, 4), 1);
  EXPECT_EQ(test::get16(a, 6), 1);
  EXPECT_EQ(test::get16(a, 8), 0);
  EXPECT_EQ(test::get16(a, 10), 0);
  EXPECT_TRUE(std::equal(query.begin() + 12, query.end(), a.begin() + 12)) << "the client's question, its case";
  size_t rr = query.size();
  EXPECT_EQ(test::get16(a, rr), 0xC00C);
  EXPECT_EQ(test::get16(a, rr + 2), 1);
  EXPECT_EQ(test::get16(a, rr + 4), dns::class_in);
  EXPECT_EQ(test::get32(a, rr + 6), 0u);
  EXPECT_EQ(test::get16(a, rr + 10), 4);
  auto want = canary_address("nonce1");
  ASSERT_TRUE(want);
  EXPECT_TRUE(std::equal(want->begin(), want->end(), a.begin() + static_cast<long>(rr + 12)));
  dns::response_info r;
  EXPECT_EQ(dns::parse_response(a.data(), a.size(), r, true), dns::parse_error::none);
  EXPECT_EQ(r.min_ttl, 0u);
}

TEST(canary, other_types_get_nodata_and_deeper_names_nxdomain) {
  auto aaaa = reply_to(test::query("abc.canary.roamd.arpa", 28));
  ASSERT_FALSE(aaaa.empty());
  EXPECT_EQ(dns::rcode_of(test::get16(aaaa, 2)), 0);
  EXPECT_EQ(test::get16(aaaa, 6), 0);
  auto apex = reply_to(test::query("canary.roamd.arpa", 1));
  ASSERT_FALSE(apex.empty());
  EXPECT_EQ(dns::rcode_of(test::get16(apex, 2)), 0) << "the suffix exists (it has names below it)";
  EXPECT_EQ(test::get16(apex, 6), 0);
  auto deep = reply_to(test::query("x.abc.canary.roamd.arpa", 1));
  ASSERT_FALSE(deep.empty());
  EXPECT_EQ(dns::rcode_of(test::get16(deep, 2)), 3);
  EXPECT_EQ(test::get16(deep, 6), 0);
  EXPECT_EQ(test::get16(deep, 4), 1);
}

TEST(canary, an_edns_client_gets_an_opt_with_its_do_bit) {
  auto q = test::edns_query("n.canary.roamd.arpa", 4096, dns::edns_do);
  auto a = reply_to(q);
  ASSERT_FALSE(a.empty());
  dns::response_info r;
  ASSERT_EQ(dns::parse_response(a.data(), a.size(), r, false), dns::parse_error::none);
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(test::get16(a, 10), 1);
  EXPECT_EQ(test::get16(a, r.opt_offset + 3), dns::own_udp_size);
  EXPECT_EQ(test::get16(a, r.opt_offset + 7), dns::edns_do);
  auto plain = reply_to(test::query("n.canary.roamd.arpa"));
  EXPECT_EQ(test::get16(plain, 10), 0) << "no OPT for a client that sent none";
}

TEST(canary, reply_that_does_not_fit_is_not_written) {
  auto q = test::query("n.canary.roamd.arpa");
  EXPECT_TRUE(reply_to(q, q.size()).empty());
  EXPECT_EQ(reply_to(q, q.size() + 16).size(), q.size() + 16);
}

} // namespace
} // namespace roamd::net
