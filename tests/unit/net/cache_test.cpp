// net/cache: hits and misses, TTL aging and expiry on an injected clock, negative caching, OPT stripping, LRU.
#include "net/cache.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net {
namespace {

using dns::response_info;
using test::bytes;
using test::wire;

constexpr uint16_t qr_rd_ra = dns::flag_qr | dns::flag_rd | dns::flag_ra;
constexpr uint16_t nxdomain = 3;

/// An answer to `qname` A: one A record (owner compressed to the question) with `ttl`, optionally an OPT last.
bytes positive(const std::string& qname, uint32_t ttl, uint8_t last_octet = 1, bool with_opt = false,
               uint16_t flags = qr_rd_ra) {
  wire w;
  w.header(0x4242, flags, 1, 1, 0, with_opt ? 1 : 0).question(qname).pointer(12)
      .rr_fixed(1, dns::class_in, ttl, 4).raw({10, 0, 0, last_octet});
  if (with_opt)
    w.opt(1232, dns::edns_do);
  return w.get();
}

/// A negative answer (NXDOMAIN or NODATA by `rcode`) with an SOA in the authority section.
bytes negative(const std::string& qname, uint16_t rcode, uint32_t soa_ttl, uint32_t minimum) {
  return wire{}.header(0x4242, qr_rd_ra | rcode, 1, 0, 1, 0).question(qname)
      .rr("test", dns::type_soa, soa_ttl, test::soa_rdata(minimum)).get();
}

response_info info(const bytes& m) {
  response_info r;
  EXPECT_EQ(dns::parse_response(m.data(), m.size(), r, true), dns::parse_error::none);
  return r;
}

/// A stored message together with what parse_response said about it, and the cache key for it.
struct answer {
  bytes msg;
  response_info r;
  bool dnssec_ok = false;
  bool checking_disabled = false;

  explicit answer(bytes m, bool do_bit = false, bool cd = false)
      : msg(std::move(m)), r(info(msg)), dnssec_ok(do_bit), checking_disabled(cd) {}

  dns_cache::key key() const {
    return dns_cache::key{r.qname, r.qtype, r.qclass, dnssec_ok, checking_disabled};
  }
  bool insert_into(dns_cache& c, uint64_t now_ms) const {
    return c.insert(key(), msg.data(), msg.size(), r, now_ms);
  }
};

/// The cached copy for `a`'s key (empty on a miss).
bytes lookup(dns_cache& c, const answer& a, uint64_t now_ms, uint16_t id = 0x9999, size_t cap = 4096) {
  bytes out(cap);
  out.resize(c.lookup(a.key(), id, now_ms, out.data(), cap));
  return out;
}

dns_cache::limits limits(size_t capacity = 1000, uint32_t max_ttl = 86400, uint32_t negative_max_ttl = 3600) {
  dns_cache::limits l;
  l.capacity = capacity;
  l.max_ttl = max_ttl;
  l.negative_max_ttl = negative_max_ttl;
  return l;
}

/// The TTL of the first answer record in a positive() message: owner pointer (2) + type + class after the question.
uint32_t first_ttl(const bytes& m, const response_info& r) {
  return test::get32(m, r.question_end + 2 + 4);
}

TEST(dns_cache, miss_then_hit_with_the_callers_id) {
  dns_cache c(limits());
  answer a(positive("a.test", 300));
  EXPECT_TRUE(lookup(c, a, 0).empty());
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_EQ(c.size(), 1u);
  auto hit = lookup(c, a, 0, 0x9999);
  bytes expected = a.msg;
  dns::put16(expected.data(), 0x9999);
  EXPECT_EQ(hit, expected);
  EXPECT_EQ(dns::id_of(lookup(c, a, 0, 0x0001).data()), 0x0001);
}

TEST(dns_cache, insert_leaves_the_message_untouched) {
  dns_cache c(limits(1000, 60));
  answer a(positive("a.test", 300, 1, true));
  bytes before = a.msg;
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_EQ(a.msg, before);
}

TEST(dns_cache, ttls_age_by_elapsed_whole_seconds) {
  dns_cache c(limits());
  answer a(positive("a.test", 300));
  ASSERT_TRUE(a.insert_into(c, 10'000));
  EXPECT_EQ(first_ttl(lookup(c, a, 10'000), a.r), 300u);
  EXPECT_EQ(first_ttl(lookup(c, a, 10'999), a.r), 300u);
  EXPECT_EQ(first_ttl(lookup(c, a, 11'000), a.r), 299u);
  EXPECT_EQ(first_ttl(lookup(c, a, 12'500), a.r), 298u);
  EXPECT_EQ(first_ttl(lookup(c, a, 10'000 + 299'999), a.r), 1u);
}

TEST(dns_cache, entry_expires_at_its_ttl) {
  dns_cache c(limits());
  answer a(positive("a.test", 300));
  ASSERT_TRUE(a.insert_into(c, 10'000));
  EXPECT_FALSE(lookup(c, a, 10'000 + 299'999).empty());
  EXPECT_TRUE(lookup(c, a, 10'000 + 300'000).empty());
  EXPECT_EQ(c.size(), 0u);  // the expired entry is dropped
  EXPECT_TRUE(lookup(c, a, 10'000 + 1'000).empty());
}

TEST(dns_cache, max_ttl_caps_stored_ttls_and_lifetime) {
  dns_cache c(limits(1000, 60));
  answer a(positive("a.test", 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_EQ(first_ttl(lookup(c, a, 0), a.r), 60u);
  EXPECT_EQ(first_ttl(lookup(c, a, 59'999), a.r), 1u);
  EXPECT_TRUE(lookup(c, a, 60'000).empty());
}

TEST(dns_cache, served_ttls_never_outlive_the_entry) {
  dns_cache c(limits());
  // Two answers (TTL 100 and 500) and an additional record (TTL 7200): the entry lives 100 s.
  auto m = wire{}.header(0x4242, qr_rd_ra, 1, 2, 0, 1).question("a.test")
               .pointer(12).rr_fixed(1, dns::class_in, 500, 4).raw({1, 1, 1, 1})
               .pointer(12).rr_fixed(1, dns::class_in, 100, 4).raw({2, 2, 2, 2})
               .rr("ns.test", 1, 7200, {3, 3, 3, 3}).get();
  answer a(m);
  ASSERT_EQ(a.r.ttl_offsets.size(), 3u);
  ASSERT_TRUE(a.insert_into(c, 0));
  auto hit = lookup(c, a, 40'000);
  ASSERT_FALSE(hit.empty());
  for (uint16_t off : a.r.ttl_offsets)
    EXPECT_LE(test::get32(hit, off), 60u) << "TTL at " << off;
  EXPECT_TRUE(lookup(c, a, 100'000).empty());
}

TEST(dns_cache, nxdomain_with_soa_is_cached_for_min_of_soa_ttl_and_minimum) {
  dns_cache c(limits());
  answer a(negative("gone.test", nxdomain, 900, 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  auto hit = lookup(c, a, 0);
  ASSERT_FALSE(hit.empty());
  EXPECT_EQ(dns::rcode_of(dns::flags_of(hit.data())), nxdomain);
  ASSERT_EQ(a.r.ttl_offsets.size(), 1u);
  EXPECT_EQ(test::get32(hit, a.r.ttl_offsets[0]), 300u);  // the SOA's TTL as served (RFC 2308 section 5)
  EXPECT_EQ(test::get32(lookup(c, a, 10'000), a.r.ttl_offsets[0]), 290u);
  EXPECT_FALSE(lookup(c, a, 299'999).empty());
  EXPECT_TRUE(lookup(c, a, 300'000).empty());
}

TEST(dns_cache, negative_ttl_is_capped_by_negative_max_ttl) {
  dns_cache c(limits(1000, 86400, 100));
  answer a(negative("gone.test", nxdomain, 900, 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_EQ(test::get32(lookup(c, a, 0), a.r.ttl_offsets[0]), 100u);
  EXPECT_FALSE(lookup(c, a, 99'999).empty());
  EXPECT_TRUE(lookup(c, a, 100'000).empty());
}

TEST(dns_cache, nodata_is_cached_as_negative) {
  // max_ttl is 30 but a NODATA answer follows the SOA rule: min(120, 600) = 120 s.
  dns_cache c(limits(1000, 30, 3600));
  answer a(negative("a.test", 0, 120, 600));
  ASSERT_EQ(a.r.answer_count, 0);
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_FALSE(lookup(c, a, 119'999).empty());
  EXPECT_TRUE(lookup(c, a, 120'000).empty());
}

TEST(dns_cache, negative_answer_without_soa_is_not_cached) {
  dns_cache c(limits());
  answer nx(wire{}.header(1, qr_rd_ra | nxdomain, 1, 0, 0, 0).question("gone.test").get());
  EXPECT_FALSE(nx.insert_into(c, 0));
  answer nodata(wire{}.header(1, qr_rd_ra, 1, 0, 0, 0).question("a.test").get());
  EXPECT_FALSE(nodata.insert_into(c, 0));
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(lookup(c, nx, 0).empty());
}

TEST(dns_cache, negative_answer_without_soa_is_not_cached_with_a_reused_response_info) {
  // The data plane reuses one response_info per worker: an earlier answer's SOA must not leak into a later one.
  dns_cache c(limits());
  auto with_soa = negative("old.test", nxdomain, 600, 600);
  auto without = wire{}.header(1, qr_rd_ra | nxdomain, 1, 0, 0, 0).question("gone.test").get();
  response_info r;
  ASSERT_EQ(dns::parse_response(with_soa.data(), with_soa.size(), r, true), dns::parse_error::none);
  ASSERT_TRUE(r.has_soa);
  ASSERT_EQ(dns::parse_response(without.data(), without.size(), r, true), dns::parse_error::none);
  EXPECT_FALSE(r.has_soa);
  dns_cache::key k{r.qname, r.qtype, r.qclass, false, false};
  EXPECT_FALSE(c.insert(k, without.data(), without.size(), r, 0));
  EXPECT_EQ(c.size(), 0u);
}

TEST(dns_cache, servfail_refused_and_truncated_answers_are_not_cached) {
  dns_cache c(limits());
  EXPECT_FALSE(answer(positive("a.test", 300, 1, false, qr_rd_ra | 2)).insert_into(c, 0));
  EXPECT_FALSE(answer(positive("a.test", 300, 1, false, qr_rd_ra | 5)).insert_into(c, 0));
  EXPECT_FALSE(answer(positive("a.test", 300, 1, false, qr_rd_ra | dns::flag_tc)).insert_into(c, 0));
  EXPECT_EQ(c.size(), 0u);
}

TEST(dns_cache, zero_ttls_are_not_cached) {
  dns_cache c(limits());
  EXPECT_FALSE(answer(positive("a.test", 0)).insert_into(c, 0));
  EXPECT_FALSE(answer(positive("a.test", 0x80000000u)).insert_into(c, 0));  // counts as 0
  EXPECT_FALSE(answer(negative("gone.test", nxdomain, 0, 300)).insert_into(c, 0));
  EXPECT_EQ(c.size(), 0u);
}

TEST(dns_cache, answer_without_exactly_one_question_is_not_cached) {
  dns_cache c(limits());
  answer a(wire{}.header(1, qr_rd_ra, 0, 0, 0, 0).get());
  EXPECT_FALSE(a.insert_into(c, 0));
}

TEST(dns_cache, opt_is_stripped_from_the_stored_copy) {
  dns_cache c(limits());
  answer a(positive("a.test", 300, 1, true));
  ASSERT_TRUE(a.r.has_edns);
  ASSERT_TRUE(a.insert_into(c, 0));
  auto hit = lookup(c, a, 0);
  ASSERT_EQ(hit.size(), a.r.opt_offset);
  EXPECT_EQ(test::get16(hit, 10), 0);  // arcount 1 -> 0
  response_info served;
  ASSERT_EQ(dns::parse_response(hit.data(), hit.size(), served, false), dns::parse_error::none);
  EXPECT_FALSE(served.has_edns);
  EXPECT_EQ(served.answer_count, 1);
}

TEST(dns_cache, opt_that_is_not_last_prevents_caching) {
  dns_cache c(limits());
  auto m = wire{}.header(1, qr_rd_ra, 1, 1, 0, 2).question("a.test").pointer(12).rr_fixed(1, dns::class_in, 60, 4)
               .raw({1, 2, 3, 4}).opt(1232).rr("x.test", 1, 60, {5, 6, 7, 8}).get();
  EXPECT_FALSE(answer(m).insert_into(c, 0));
}

TEST(dns_cache, capacity_one_evicts_the_previous_entry) {
  dns_cache c(limits(1));
  answer a(positive("a.test", 300)), b(positive("b.test", 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  ASSERT_TRUE(b.insert_into(c, 0));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_TRUE(lookup(c, a, 0).empty());
  EXPECT_FALSE(lookup(c, b, 0).empty());
}

// The header promises "Least recently used entries go first when full" and a capacity in entries.
TEST(dns_cache, holds_as_many_entries_as_its_capacity) {
  dns_cache c(limits(8));
  std::vector<answer> answers;
  for (int i = 0; i < 8; ++i)
    answers.emplace_back(positive("h" + std::to_string(i) + ".test", 300));
  for (const auto& a : answers)
    ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_EQ(c.size(), 8u);
  for (const auto& a : answers)
    EXPECT_FALSE(lookup(c, a, 0).empty()) << a.r.qname.to_text() << " was evicted before the cache was full";
}

TEST(dns_cache, evicts_the_least_recently_used_entry_when_full) {
  dns_cache c(limits(3));
  answer a(positive("a.test", 300)), b(positive("b.test", 300)), cc(positive("c.test", 300)),
      d(positive("d.test", 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  ASSERT_TRUE(b.insert_into(c, 1));
  ASSERT_TRUE(cc.insert_into(c, 2));
  ASSERT_FALSE(lookup(c, a, 3).empty()) << "a was evicted before the cache held more than 3 entries";
  // a is now the most recently used; b the least.
  ASSERT_TRUE(d.insert_into(c, 4));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(lookup(c, b, 5).empty()) << "b (least recently used) should have been evicted";
  EXPECT_FALSE(lookup(c, a, 5).empty());
  EXPECT_FALSE(lookup(c, cc, 5).empty());
  EXPECT_FALSE(lookup(c, d, 5).empty());
}

TEST(dns_cache, capacity_zero_disables_the_cache) {
  dns_cache c(limits(0));
  answer a(positive("a.test", 300));
  EXPECT_FALSE(a.insert_into(c, 0));
  EXPECT_TRUE(lookup(c, a, 0).empty());
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.capacity(), 0u);
  c.clear();
}

TEST(dns_cache, do_and_cd_bits_key_separate_entries) {
  dns_cache c(limits());
  std::vector<answer> variants;
  uint8_t octet = 1;
  for (bool do_bit : {false, true})
    for (bool cd : {false, true})
      variants.emplace_back(positive("a.test", 300, octet++), do_bit, cd);
  ASSERT_TRUE(variants[0].insert_into(c, 0));
  EXPECT_TRUE(lookup(c, variants[1], 0).empty());
  EXPECT_TRUE(lookup(c, variants[2], 0).empty());
  EXPECT_TRUE(lookup(c, variants[3], 0).empty());
  for (size_t i = 1; i < variants.size(); ++i)
    ASSERT_TRUE(variants[i].insert_into(c, 0));
  EXPECT_EQ(c.size(), 4u);
  for (size_t i = 0; i < variants.size(); ++i) {
    auto hit = lookup(c, variants[i], 0);
    ASSERT_FALSE(hit.empty()) << i;
    EXPECT_EQ(hit.back(), variants[i].msg.back()) << "variant " << i << " served another variant's answer";
  }
}

TEST(dns_cache, qtype_and_qclass_key_separate_entries) {
  dns_cache c(limits());
  answer a(positive("a.test", 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  dns_cache::key aaaa{a.r.qname, 28, dns::class_in, false, false};
  dns_cache::key chaos{a.r.qname, 1, 3, false, false};
  bytes out(512);
  EXPECT_EQ(c.lookup(aaaa, 1, 0, out.data(), out.size()), 0u);
  EXPECT_EQ(c.lookup(chaos, 1, 0, out.data(), out.size()), 0u);
  EXPECT_EQ(c.lookup(a.key(), 1, 0, out.data(), out.size()), a.msg.size());
}

TEST(dns_cache, question_case_does_not_split_entries) {
  // The answer's question is in mixed case on the wire; keys carry the lower-cased name parse_response produces.
  dns_cache c(limits());
  answer mixed(positive("WwW.Example.TEST", 300));
  ASSERT_EQ(mixed.r.qname.to_text(), "www.example.test");
  ASSERT_TRUE(mixed.insert_into(c, 0));
  answer lower(positive("www.example.test", 300));
  auto hit = lookup(c, lower, 0);
  ASSERT_EQ(hit.size(), mixed.msg.size());
  EXPECT_EQ(hit[13], 'W');  // served as stored, the original case kept
}

TEST(dns_cache, answer_for_another_question_than_the_key_is_not_stored) {
  dns_cache c(limits());
  answer a(positive("a.test", 300)), b(positive("b.test", 300));
  EXPECT_FALSE(c.insert(b.key(), a.msg.data(), a.msg.size(), a.r, 0));  // name differs
  dns_cache::key aaaa{a.r.qname, 28, dns::class_in, false, false};
  EXPECT_FALSE(c.insert(aaaa, a.msg.data(), a.msg.size(), a.r, 0));  // type differs
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(lookup(c, b, 0).empty());
}

TEST(dns_cache, buffer_smaller_than_entry_is_a_miss_that_keeps_the_entry) {
  dns_cache c(limits());
  answer a(positive("a.test", 300));
  ASSERT_TRUE(a.insert_into(c, 0));
  EXPECT_TRUE(lookup(c, a, 0, 1, a.msg.size() - 1).empty());
  EXPECT_EQ(lookup(c, a, 0, 1, a.msg.size()).size(), a.msg.size());
  EXPECT_EQ(c.size(), 1u);
}

TEST(dns_cache, reinsert_replaces_the_entry) {
  dns_cache c(limits());
  answer first(positive("a.test", 300, 1)), second(positive("a.test", 60, 2));
  ASSERT_TRUE(first.insert_into(c, 0));
  ASSERT_TRUE(second.insert_into(c, 1'000));
  EXPECT_EQ(c.size(), 1u);
  auto hit = lookup(c, first, 1'000);
  ASSERT_FALSE(hit.empty());
  EXPECT_EQ(hit.back(), 2);
  EXPECT_EQ(first_ttl(hit, first.r), 60u);
  EXPECT_TRUE(lookup(c, first, 61'000).empty());
}

TEST(dns_cache, clear_empties_every_entry) {
  dns_cache c(limits());
  std::vector<answer> answers;
  for (int i = 0; i < 50; ++i)
    answers.emplace_back(positive("n" + std::to_string(i) + ".test", 300));
  for (const auto& a : answers)
    ASSERT_TRUE(a.insert_into(c, 0));
  ASSERT_EQ(c.size(), 50u);
  c.clear();
  EXPECT_EQ(c.size(), 0u);
  for (const auto& a : answers)
    EXPECT_TRUE(lookup(c, a, 0).empty());
}

} // namespace
} // namespace roamd::net
