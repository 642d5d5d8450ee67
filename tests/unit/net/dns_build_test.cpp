// net/dns_build: identity option, upstream query rewriting, error replies and the OPT/TC helpers.
#include "net/dns_build.hpp"

#include <array>

#include <gtest/gtest.h>

#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net::dns {
namespace {

using test::bytes;
using test::concat;
using test::option;
using test::wire;

const std::array<uint8_t, 8> device_id = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

bytes identity_bytes() {
  auto opt = make_identity_option(device_id);
  return bytes(opt.begin(), opt.end());
}

query_info parsed(const bytes& m) {
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
  return q;
}

/// `m` with its ID replaced.
bytes with_id(bytes m, uint16_t id) {
  put16(m.data(), id);
  return m;
}

/// Runs build_upstream_query into a 4 KiB buffer and returns the written bytes (empty on failure).
struct built {
  bytes msg;
  bool tagged = true;
};
built upstream(const bytes& in, const identity_option* identity, uint16_t new_id = 0xABCD, uint16_t udp = 1400,
               size_t cap = 4096) {
  query_info q = parsed(in);
  built b;
  bytes out(cap);
  size_t n = build_upstream_query(in.data(), in.size(), q, new_id, identity, udp, out.data(), cap, b.tagged);
  out.resize(n);
  b.msg = out;
  return b;
}

// ---- make_identity_option ----

TEST(identity_option, bytes_are_exact) {
  bytes expected = {0x69, 0x42, 0x00, 0x0F, 0x4F, 0x70, 0x65, 0x6E, 0x44, 0x4E,
                    0x53, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
  EXPECT_EQ(identity_bytes(), expected);
}

// ---- build_upstream_query ----

TEST(build_upstream_query, no_client_edns_gets_an_opt_carrying_exactly_the_identity) {
  auto in = test::query("a.test");
  auto id = make_identity_option(device_id);
  auto b = upstream(in, &id, 0xABCD, 1400);
  EXPECT_TRUE(b.tagged);
  bytes expected = wire{}.raw(with_id(in, 0xABCD)).opt(1400, 0, identity_bytes()).set16(10, 1).get();
  EXPECT_EQ(b.msg, expected);
  query_info out = parsed(b.msg);
  EXPECT_TRUE(out.has_edns);
  EXPECT_TRUE(out.has_identity_option);
  EXPECT_EQ(out.edns_udp_size, 1400);
  EXPECT_EQ(out.edns_flags, 0);
  EXPECT_EQ(test::get16(b.msg, 10), 1);
}

TEST(build_upstream_query, client_edns_passes_through_with_identity_appended) {
  bytes cookie = option(10, {1, 2, 3, 4, 5, 6, 7, 8});
  auto in = test::edns_query("a.test", 4096, edns_do, cookie, 0x1111);
  auto id = make_identity_option(device_id);
  auto b = upstream(in, &id, 0x2222, 1400);
  EXPECT_TRUE(b.tagged);
  auto expected = test::edns_query("a.test", 4096, edns_do, concat({cookie, identity_bytes()}), 0x2222);
  EXPECT_EQ(b.msg, expected);
  query_info out = parsed(b.msg);
  EXPECT_EQ(out.edns_udp_size, 4096);  // the client's size, not the one for added OPTs
  EXPECT_EQ(out.edns_flags, edns_do);
}

TEST(build_upstream_query, client_opt_header_fields_are_kept_verbatim) {
  // Version 0, a Z bit besides DO, extended rcode byte 0, and two options.
  bytes opts = concat({option(10, bytes(24, 0xCC)), option(12, bytes(5, 0))});
  auto in = wire{}.header(0x1111, flag_rd | flag_cd, 1, 0, 0, 1).question("a.test", 28).opt(1232, 0x8001, opts).get();
  auto id = make_identity_option(device_id);
  auto b = upstream(in, &id, 0x3333);
  auto expected = wire{}.header(0x3333, flag_rd | flag_cd, 1, 0, 0, 1).question("a.test", 28)
                      .opt(1232, 0x8001, concat({opts, identity_bytes()})).get();
  EXPECT_EQ(b.msg, expected);
}

TEST(build_upstream_query, client_identity_option_is_replaced_by_ours_when_tagging) {
  bytes cookie = option(10, bytes(8, 0x0C));
  bytes theirs = option(identity_option_code, bytes(15, 0xEE));
  bytes padding = option(12, {0, 0});
  auto id = make_identity_option(device_id);
  for (const auto& opts : {concat({cookie, theirs, padding}), concat({theirs, cookie, padding}),
                           concat({cookie, padding, theirs})}) {
    auto in = test::edns_query("a.test", 4096, 0, opts);
    ASSERT_TRUE(parsed(in).has_identity_option);
    auto b = upstream(in, &id, 0x1234);
    EXPECT_TRUE(b.tagged);
    auto expected = test::edns_query("a.test", 4096, 0, concat({cookie, padding, identity_bytes()}));
    EXPECT_EQ(b.msg, expected);
  }
}

TEST(build_upstream_query, client_identity_option_is_removed_when_not_tagging) {
  bytes cookie = option(10, bytes(8, 0x0C));
  bytes theirs = option(identity_option_code, bytes(15, 0xEE));
  auto in = test::edns_query("a.test", 4096, edns_do, concat({theirs, cookie}), 0x1111);
  auto b = upstream(in, nullptr, 0x4444);
  EXPECT_FALSE(b.tagged);
  EXPECT_EQ(b.msg, test::edns_query("a.test", 4096, edns_do, cookie, 0x4444));
  EXPECT_FALSE(parsed(b.msg).has_identity_option);

  // The client's identity option as the only option: an empty OPT remains.
  auto only = test::edns_query("a.test", 1232, 0, theirs, 0x1111);
  auto b2 = upstream(only, nullptr, 0x4444);
  EXPECT_FALSE(b2.tagged);
  EXPECT_EQ(b2.msg, test::edns_query("a.test", 1232, 0, {}, 0x4444));
}

TEST(build_upstream_query, nothing_to_change_copies_bytes_with_new_id) {
  auto plain = test::query("Mixed.Case.Test", 28, 0x1111);
  auto b = upstream(plain, nullptr, 0x5555);
  EXPECT_FALSE(b.tagged);
  EXPECT_EQ(b.msg, with_id(plain, 0x5555));

  auto edns = test::edns_query("a.test", 4096, edns_do, option(10, bytes(8, 1)), 0x1111);
  auto b2 = upstream(edns, nullptr, 0x6666);
  EXPECT_FALSE(b2.tagged);
  EXPECT_EQ(b2.msg, with_id(edns, 0x6666));
}

TEST(build_upstream_query, signed_query_is_copied_unchanged) {
  bytes tsig_rdata = wire{}.name("hmac-sha256").u16(0).u32(0x5F5E1000).u16(300).u16(0).u16(0x1111).u16(0).u16(0)
                         .get();
  bytes theirs = option(identity_option_code, bytes(15, 0xEE));
  auto in = wire{}.header(0x1111, flag_rd, 1, 0, 0, 2).question("a.test").opt(1232, 0, theirs).name("key.test")
                .rr_fixed(250, 255, 0, static_cast<uint16_t>(tsig_rdata.size())).raw(tsig_rdata).get();
  ASSERT_TRUE(parsed(in).has_other_additional);
  auto id = make_identity_option(device_id);
  auto tagged_try = upstream(in, &id, 0x7777);
  EXPECT_FALSE(tagged_try.tagged);
  EXPECT_EQ(tagged_try.msg, with_id(in, 0x7777));
  auto untagged = upstream(in, nullptr, 0x7777);
  EXPECT_FALSE(untagged.tagged);
  EXPECT_EQ(untagged.msg, with_id(in, 0x7777));  // their identity option stays: the signature covers it
}

TEST(build_upstream_query, too_small_buffer_returns_zero) {
  auto id = make_identity_option(device_id);
  auto plain = test::query("a.test");
  // Copy path: exactly the query size fits, one less does not.
  EXPECT_EQ(upstream(plain, nullptr, 1, 1400, plain.size()).msg.size(), plain.size());
  auto b = upstream(plain, nullptr, 1, 1400, plain.size() - 1);
  EXPECT_TRUE(b.msg.empty());
  EXPECT_FALSE(b.tagged);
  // New OPT path: question + 11 + 19.
  size_t need = plain.size() + 11 + 19;
  EXPECT_EQ(upstream(plain, &id, 1, 1400, need).msg.size(), need);
  for (size_t cap : {need - 1, plain.size(), size_t{12}}) {
    auto c = upstream(plain, &id, 1, 1400, cap);
    EXPECT_TRUE(c.msg.empty()) << cap;
    EXPECT_FALSE(c.tagged) << cap;
  }
  // Client OPT path: question + OPT header + cookie + identity.
  auto edns = test::edns_query("a.test", 4096, 0, option(10, bytes(8, 1)));
  need = edns.size() + 19;
  EXPECT_EQ(upstream(edns, &id, 1, 1400, need).msg.size(), need);
  for (size_t cap : {need - 1, edns.size() - 1, size_t{24} + 10, size_t{20}}) {
    auto c = upstream(edns, &id, 1, 1400, cap);
    EXPECT_TRUE(c.msg.empty()) << cap;
    EXPECT_FALSE(c.tagged) << cap;
  }
}

// ---- build_error_reply ----

TEST(build_error_reply, formerr_without_question) {
  auto in = wire{}.header(0x2468, flag_rd | flag_aa | flag_tc | flag_ad, 0, 0, 0, 0).get();
  query_info q;  // parse failed: nothing known
  bytes out(512);
  size_t n = build_error_reply(in.data(), in.size(), q, false, static_cast<uint16_t>(rcode::formerr), out.data(),
                               out.size());
  ASSERT_EQ(n, 12u);
  out.resize(n);
  EXPECT_EQ(out, wire{}.header(0x2468, flag_qr | flag_ra | flag_rd | 1, 0, 0, 0, 0).get());
}

TEST(build_error_reply, formerr_with_question_echoes_it) {
  auto in = test::query("Echo.Test", 16, 0x1357);
  query_info q = parsed(in);
  bytes out(512);
  size_t n = build_error_reply(in.data(), in.size(), q, true, static_cast<uint16_t>(rcode::formerr), out.data(),
                               out.size());
  ASSERT_EQ(n, in.size());
  out.resize(n);
  auto expected = wire{}.header(0x1357, flag_qr | flag_ra | flag_rd | 1, 1, 0, 0, 0).question("Echo.Test", 16).get();
  EXPECT_EQ(out, expected);
}

TEST(build_error_reply, notimp_to_another_opcode_echoes_opcode_rd_and_cd_but_not_ra_or_ad) {
  uint16_t status_opcode = 2 << 11;
  auto in = wire{}.header(0x0101, status_opcode | flag_rd | flag_cd | flag_ad, 1, 0, 0, 0).question("a.test").get();
  query_info q = parsed(in);
  bytes out(512);
  size_t n = build_error_reply(in.data(), in.size(), q, true, static_cast<uint16_t>(rcode::notimp), out.data(),
                               out.size());
  ASSERT_EQ(n, in.size());
  uint16_t flags = flags_of(out.data());
  EXPECT_EQ(opcode_of(flags), 2);
  EXPECT_EQ(rcode_of(flags), 4);
  EXPECT_EQ(flags, flag_qr | status_opcode | flag_rd | flag_cd | 4) << "no RA: recursion is for queries (opcode 0)";
  EXPECT_EQ(id_of(out.data()), 0x0101);
}

TEST(build_error_reply, client_with_edns_gets_a_bare_opt) {
  auto in = test::edns_query("a.test", 4096, edns_do, option(10, bytes(8, 1)));
  query_info q = parsed(in);
  bytes out(512);
  size_t n = build_error_reply(in.data(), in.size(), q, true, static_cast<uint16_t>(rcode::servfail), out.data(),
                               out.size());
  ASSERT_EQ(n, 24u + 11);
  out.resize(n);
  auto expected = wire{}.header(0x1234, flag_qr | flag_ra | flag_rd | 2, 1, 0, 0, 1).question("a.test").opt(own_udp_size)
                      .get();
  EXPECT_EQ(out, expected);
  response_info r;
  EXPECT_EQ(parse_response(out.data(), out.size(), r, false), parse_error::none);
  EXPECT_TRUE(r.has_edns);
}

TEST(build_error_reply, badvers_carries_extended_rcode_16_in_opt) {
  auto in = wire{}.header(0x0F0F, flag_rd, 1, 0, 0, 1).question("a.test").opt(4096, edns_do, {}, 1).get();
  query_info q = parsed(in);
  ASSERT_EQ(q.edns_version, 1);
  bytes out(512);
  size_t n = build_error_reply(in.data(), in.size(), q, true, ext_rcode_badvers, out.data(), out.size());
  ASSERT_EQ(n, 24u + 11);
  EXPECT_EQ(rcode_of(flags_of(out.data())), 0);           // low 4 bits of 16
  EXPECT_EQ(test::get16(out, 10), 1);                     // arcount
  EXPECT_EQ(test::get16(out, 24 + 1), type_opt);
  EXPECT_EQ(test::get16(out, 24 + 3), own_udp_size);
  EXPECT_EQ(out[24 + 5], 1);                              // upper 8 bits of the 12-bit rcode
  EXPECT_EQ(out[24 + 6], 0);                              // version we speak
  EXPECT_EQ((out[24 + 5] << 4) | rcode_of(flags_of(out.data())), 16);

  // Even a client without EDNS gets the OPT needed to carry an extended rcode.
  auto plain = test::query("a.test");
  query_info p = parsed(plain);
  n = build_error_reply(plain.data(), plain.size(), p, true, ext_rcode_badvers, out.data(), out.size());
  ASSERT_EQ(n, 24u + 11);
  EXPECT_EQ(out[24 + 5], 1);
}

TEST(build_error_reply, too_small_buffers_return_zero) {
  auto in = test::edns_query("a.test", 4096, 0);
  query_info q = parsed(in);
  bytes out(512);
  EXPECT_EQ(build_error_reply(in.data(), 11, q, false, 1, out.data(), out.size()), 0u);
  EXPECT_EQ(build_error_reply(in.data(), in.size(), q, false, 1, out.data(), 11), 0u);
  EXPECT_EQ(build_error_reply(in.data(), in.size(), q, true, 1, out.data(), 24 + 10), 0u);  // OPT does not fit
  EXPECT_EQ(build_error_reply(in.data(), in.size(), q, true, 1, out.data(), 24 + 11), 24u + 11);
}

// ---- strip_trailing_opt / append_opt / truncate_to_question ----

wire answer_head(uint16_t an, uint16_t ar) {
  wire w;
  w.header(0x4242, flag_qr | flag_rd | flag_ra, 1, an, 0, ar).question("a.test");
  return w;
}

TEST(strip_trailing_opt, removes_last_opt_and_decrements_arcount) {
  auto m = answer_head(1, 2).rr("a.test", 1, 60, {1, 2, 3, 4}).rr("x.test", 1, 60, {5, 6, 7, 8})
               .opt(1232, edns_do, option(10, bytes(16, 9))).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  size_t n = strip_trailing_opt(m.data(), m.size(), r);
  EXPECT_EQ(n, r.opt_offset);
  EXPECT_EQ(test::get16(m, 10), 1);
  response_info again;
  ASSERT_EQ(parse_response(m.data(), n, again, false), parse_error::none);
  EXPECT_FALSE(again.has_edns);
}

TEST(strip_trailing_opt, leaves_messages_without_a_last_opt_alone) {
  auto none = answer_head(1, 0).rr("a.test", 1, 60, {1, 2, 3, 4}).get();
  response_info r;
  ASSERT_EQ(parse_response(none.data(), none.size(), r, false), parse_error::none);
  auto copy = none;
  EXPECT_EQ(strip_trailing_opt(none.data(), none.size(), r), none.size());
  EXPECT_EQ(none, copy);

  auto middle = answer_head(0, 2).opt(1232).rr("x.test", 1, 60, {5, 6, 7, 8}).get();
  ASSERT_EQ(parse_response(middle.data(), middle.size(), r, false), parse_error::none);
  ASSERT_TRUE(r.has_edns);
  copy = middle;
  EXPECT_EQ(strip_trailing_opt(middle.data(), middle.size(), r), middle.size());
  EXPECT_EQ(middle, copy);
}

TEST(append_opt, appends_an_opt_with_the_do_bit_and_counts_it) {
  auto m = answer_head(1, 0).rr("a.test", 1, 60, {1, 2, 3, 4}).get();
  size_t size = m.size();
  m.resize(size + 11);
  EXPECT_EQ(append_opt(m.data(), size, m.size(), 1232, true), size + 11);
  auto expected = answer_head(1, 1).rr("a.test", 1, 60, {1, 2, 3, 4}).opt(1232, edns_do).get();
  EXPECT_EQ(m, expected);

  auto m2 = answer_head(0, 0).get();
  size = m2.size();
  m2.resize(size + 11);
  EXPECT_EQ(append_opt(m2.data(), size, m2.size(), 4096, false), size + 11);
  response_info r;
  ASSERT_EQ(parse_response(m2.data(), m2.size(), r, false), parse_error::none);
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(test::get16(m2, size + 3), 4096);
  EXPECT_EQ(test::get16(m2, size + 7), 0);  // no DO
}

TEST(append_opt, refuses_when_it_does_not_fit_or_counts_overflow) {
  auto m = answer_head(0, 0).get();
  size_t size = m.size();
  m.resize(size + 11);
  EXPECT_EQ(append_opt(m.data(), size, size + 10, 1232, false), 0u);
  EXPECT_EQ(test::get16(m, 10), 0);  // untouched
  EXPECT_EQ(append_opt(m.data(), 11, m.size(), 1232, false), 0u);
  put16(m.data() + 10, 0xFFFF);
  EXPECT_EQ(append_opt(m.data(), size, m.size(), 1232, false), 0u);
  EXPECT_EQ(test::get16(m, 10), 0xFFFF);
}

TEST(truncate_to_question, sets_tc_and_drops_every_record) {
  // Two answers, one authority record, one additional OPT: every count must drop to zero.
  auto m = wire{}.header(0x4242, flag_qr | flag_rd | flag_ra, 1, 2, 1, 1).question("a.test")
               .rr("a.test", 1, 60, {1, 2, 3, 4}).rr("a.test", 1, 60, {5, 6, 7, 8})
               .rr("test", type_ns, 60, wire{}.name("ns.test").get()).opt(1232).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  size_t n = truncate_to_question(m.data(), r.question_end);
  EXPECT_EQ(n, 24u);
  uint16_t flags = flags_of(m.data());
  EXPECT_TRUE(flags & flag_tc);
  EXPECT_EQ(flags & ~flag_tc, flag_qr | flag_rd | flag_ra);
  EXPECT_EQ(test::get16(m, 4), 1);
  EXPECT_EQ(test::get16(m, 6), 0);
  EXPECT_EQ(test::get16(m, 8), 0);
  EXPECT_EQ(test::get16(m, 10), 0);
  response_info cut;
  ASSERT_EQ(parse_response(m.data(), n, cut, false), parse_error::none);
  EXPECT_EQ(cut.qname.to_text(), "a.test");
  EXPECT_EQ(cut.answer_count, 0);
}

// ---- client_udp_limit ----

TEST(client_udp_limit, classic_512_or_the_advertised_size_at_least_512) {
  query_info q;
  q.has_edns = false;
  q.edns_udp_size = 4096;  // ignored without EDNS
  EXPECT_EQ(client_udp_limit(q), 512u);
  q.has_edns = true;
  EXPECT_EQ(client_udp_limit(q), 4096u);
  q.edns_udp_size = 1232;
  EXPECT_EQ(client_udp_limit(q), 1232u);
  q.edns_udp_size = 100;
  EXPECT_EQ(client_udp_limit(q), 512u);
  q.edns_udp_size = 0;
  EXPECT_EQ(client_udp_limit(q), 512u);
  q.edns_udp_size = 65535;
  EXPECT_EQ(client_udp_limit(q), 65535u);
}

} // namespace
} // namespace roamd::net::dns
