// net/dns_codec: read_name, skip_name, wire_name::to_text, parse_query and parse_response over hand-built bytes.
#include "net/dns_codec.hpp"

#include <string>

#include <gtest/gtest.h>

#include "tests/unit/net/dns_test_util.hpp"

namespace roamd::net::dns {
namespace {

using test::bytes;
using test::option;
using test::wire;

/// A label of `n` copies of `c`, for names near the length limits.
std::string label(size_t n, char c = 'a') {
  return std::string(n, c);
}

/// RCODE 3 in the flags word.
constexpr uint16_t nxdomain = 3;

/// The wire form of `dotted` as read_name produces it.
wire_name wire_of(const std::string& dotted) {
  auto m = wire{}.header(0, 0, 1, 0, 0, 0).name(dotted).get();
  wire_name w;
  EXPECT_NE(read_name(m.data(), m.size(), 12, w), 0u) << dotted;
  return w;
}

/// "www.example.com" at offset 12 is 17 bytes: the question ends at 12 + 17 + 4.
constexpr size_t www_example_com_end = 33;

// ---- read_name / skip_name / to_text ----

TEST(read_name, lowercases_and_returns_offset_past_name) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).question("WwW.Example.COM").get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 12, n), 29u);
  EXPECT_EQ(n.size, 17);
  EXPECT_EQ(n.to_text(), "www.example.com");
  EXPECT_EQ(n, wire_of("www.example.com"));
  bytes expected = wire{}.name("www.example.com").get();
  EXPECT_EQ(bytes(n.bytes.begin(), n.bytes.begin() + n.size), expected);
}

TEST(read_name, root_name) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).question("").get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 12, n), 13u);
  EXPECT_EQ(n.size, 1);
  EXPECT_EQ(n.bytes[0], 0);
  EXPECT_EQ(n.to_text(), "");
}

TEST(read_name, backward_pointer_is_followed_and_end_is_past_the_pointer) {
  // Question name at 12, then at 33 "mail" + pointer to 16 ("example.com").
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).question("www.example.com").u8(4).raw({'m', 'a', 'i', 'l'}).pointer(16)
               .get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 33, n), 33u + 5 + 2);
  EXPECT_EQ(n.to_text(), "mail.example.com");
}

TEST(read_name, chain_of_strictly_backward_pointers_is_followed) {
  // 12: www.example.com (no type/class); 29: "a" + ptr(12); 33: "b" + ptr(29)  ->  b.a.www.example.com
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("www.example.com").u8(1).u8('a').pointer(12).u8(1).u8('b').pointer(29)
               .get();
  ASSERT_EQ(m.size(), 37u);
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 33, n), 37u);
  EXPECT_EQ(n.to_text(), "b.a.www.example.com");
}

TEST(read_name, forward_pointer_is_rejected) {
  // 12: ptr(14); 14: root. The target lies after the pointer.
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).pointer(14).u8(0).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 12, n), 0u);
  // Also from a later offset: 21 holds ptr(23), 23 holds a valid name.
  auto m2 = wire{}.header(1, 0, 1, 0, 0, 0).name("abcdefg").pointer(23).name("x").get();
  ASSERT_EQ(m2.size(), 26u);
  EXPECT_EQ(read_name(m2.data(), m2.size(), 21, n), 0u);
}

TEST(read_name, self_pointer_is_rejected) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").pointer(25).get();
  ASSERT_EQ(m.size(), 27u);
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 25, n), 0u);
}

TEST(read_name, pointer_to_own_start_after_labels_is_rejected) {
  // 25: "x" + ptr(25): the pointer targets the start of the name that contains it.
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").u8(1).u8('x').pointer(25).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 25, n), 0u);
}

TEST(read_name, compression_loop_is_rejected) {
  // 25: ptr(27); 27: ptr(25) -- and entered from either end.
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").pointer(27).pointer(25).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 25, n), 0u);
  EXPECT_EQ(read_name(m.data(), m.size(), 27, n), 0u);
  // 25: "a" + ptr(29); 29: "b" + ptr(25): each pointer lands on labels that lead back.
  auto m2 = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").u8(1).u8('a').pointer(29).u8(1).u8('b').pointer(25)
                .get();
  EXPECT_EQ(read_name(m2.data(), m2.size(), 25, n), 0u);
  EXPECT_EQ(read_name(m2.data(), m2.size(), 29, n), 0u);
}

TEST(read_name, pointer_into_header_is_rejected) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").pointer(4).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 25, n), 0u);
}

TEST(read_name, truncated_pointer_and_missing_terminator_are_rejected) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").u8(0xC0).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 25, n), 0u);
  auto m2 = wire{}.header(1, 0, 1, 0, 0, 0).u8(3).raw({'w', 'w', 'w'}).get();  // no zero byte
  EXPECT_EQ(read_name(m2.data(), m2.size(), 12, n), 0u);
  auto m3 = wire{}.header(1, 0, 1, 0, 0, 0).u8(5).raw({'w', 'w'}).get();  // label runs past the end
  EXPECT_EQ(read_name(m3.data(), m3.size(), 12, n), 0u);
  EXPECT_EQ(read_name(m3.data(), m3.size(), m3.size(), n), 0u);  // offset at the end
  EXPECT_EQ(read_name(m3.data(), m3.size(), 1000, n), 0u);       // offset far past the end
}

TEST(read_name, reserved_label_types_are_rejected) {
  for (uint8_t type : {uint8_t{0x40}, uint8_t{0x80}, uint8_t{0x41}, uint8_t{0xBF}}) {
    auto m = wire{}.header(1, 0, 1, 0, 0, 0).u8(type).raw({'a', 'b'}).u8(0).get();
    wire_name n;
    EXPECT_EQ(read_name(m.data(), m.size(), 12, n), 0u) << "label byte " << int{type};
  }
}

TEST(read_name, name_of_255_bytes_is_accepted_and_256_rejected) {
  // 3 * (1 + 63) + (1 + 61) + 1 = 255.
  std::string ok = label(63) + "." + label(63, 'b') + "." + label(63, 'c') + "." + label(61, 'd');
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).name(ok).get();
  wire_name n;
  EXPECT_EQ(read_name(m.data(), m.size(), 12, n), 12u + 255);
  EXPECT_EQ(n.size, 255);
  std::string too_long = label(63) + "." + label(63, 'b') + "." + label(63, 'c') + "." + label(62, 'd');
  auto m2 = wire{}.header(1, 0, 1, 0, 0, 0).name(too_long).get();
  EXPECT_EQ(read_name(m2.data(), m2.size(), 12, n), 0u);
}

TEST(read_name, length_limit_counts_labels_reached_through_pointers) {
  // 12: 3 * 63-byte labels + root (193 bytes); then "d"*62 + ptr(12) = 64 + 193 = 257 bytes uncompressed.
  std::string base = label(63) + "." + label(63, 'b') + "." + label(63, 'c');
  wire w;
  w.header(1, 0, 1, 0, 0, 0).name(base);
  size_t at = w.size();
  w.u8(62).raw(bytes(62, 'd')).pointer(12);
  wire_name n;
  EXPECT_EQ(read_name(w.data(), w.size(), at, n), 0u);
  // With a 61-byte label the result is 255 bytes and fits.
  wire w2;
  w2.header(1, 0, 1, 0, 0, 0).name(base);
  at = w2.size();
  w2.u8(61).raw(bytes(61, 'd')).pointer(12);
  EXPECT_EQ(read_name(w2.data(), w2.size(), at, n), at + 64);
  EXPECT_EQ(n.size, 255);
}

TEST(skip_name, stops_at_first_pointer_without_following_it) {
  // "a" then a pointer back to offset 12: the pointer ends the name in place and is not followed.
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').pointer(12).get();
  EXPECT_EQ(skip_name(m.data(), m.size(), 12), 16u);
  // A pointer forward (or into the header) is refused without being followed.
  auto fwd = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').pointer(0x3FFF).get();
  EXPECT_EQ(skip_name(fwd.data(), fwd.size(), 12), 0u);
  auto hdr = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').pointer(4).get();
  EXPECT_EQ(skip_name(hdr.data(), hdr.size(), 12), 0u);
  auto plain = wire{}.header(1, 0, 1, 0, 0, 0).name("example.com").get();
  EXPECT_EQ(skip_name(plain.data(), plain.size(), 12), 25u);
}

TEST(skip_name, rejects_truncation_reserved_types_and_overlong_names) {
  auto cut = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').u8(0xC0).get();
  EXPECT_EQ(skip_name(cut.data(), cut.size(), 12), 0u);
  auto reserved = wire{}.header(1, 0, 1, 0, 0, 0).u8(0x40).u8(0).get();
  EXPECT_EQ(skip_name(reserved.data(), reserved.size(), 12), 0u);
  std::string too_long = label(63) + "." + label(63) + "." + label(63) + "." + label(62);
  auto big = wire{}.header(1, 0, 1, 0, 0, 0).name(too_long).get();
  EXPECT_EQ(skip_name(big.data(), big.size(), 12), 0u);
}

TEST(wire_name, to_text_escapes_dots_and_non_printable_bytes) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).u8(3).raw({'a', '.', 'b'}).u8(2).raw({0x01, 0xFF}).u8(0).get();
  wire_name n;
  ASSERT_NE(read_name(m.data(), m.size(), 12, n), 0u);
  EXPECT_EQ(n.to_text(), "a\\046b.\\001\\255");
}

// ---- parse_query ----

TEST(parse_query, valid_query) {
  auto m = wire{}.header(0xBEEF, flag_rd | flag_cd, 1, 0, 0, 0).question("WWW.Example.com", 28).get();
  query_info q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
  EXPECT_EQ(q.id, 0xBEEF);
  EXPECT_EQ(q.flags, flag_rd | flag_cd);
  EXPECT_EQ(q.qname.to_text(), "www.example.com");
  EXPECT_EQ(q.qtype, 28);
  EXPECT_EQ(q.qclass, class_in);
  EXPECT_EQ(q.question_end, www_example_com_end);
  EXPECT_FALSE(q.has_edns);
  EXPECT_FALSE(q.has_other_additional);
  EXPECT_FALSE(q.has_identity_option);
}

TEST(parse_query, shorter_than_header_is_too_short) {
  auto m = test::query("example.com");
  query_info q;
  EXPECT_EQ(parse_query(m.data(), 11, q), parse_error::too_short);
  EXPECT_EQ(parse_query(m.data(), 0, q), parse_error::too_short);
}

TEST(parse_query, qdcount_must_be_one) {
  auto zero = wire{}.header(1, 0, 0, 0, 0, 0).get();
  query_info q;
  EXPECT_EQ(parse_query(zero.data(), zero.size(), q), parse_error::bad_question);
  auto two = wire{}.header(1, 0, 2, 0, 0, 0).question("a.test").question("b.test").get();
  EXPECT_EQ(parse_query(two.data(), two.size(), q), parse_error::bad_question);
}

TEST(parse_query, truncated_question_is_rejected) {
  auto m = test::query("www.example.com");
  query_info q;
  for (size_t n = 12; n < m.size(); ++n)
    EXPECT_EQ(parse_query(m.data(), n, q), parse_error::bad_question) << "cut at " << n;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
}

TEST(parse_query, label_of_63_accepted_and_over_63_rejected) {
  auto ok = test::query(label(63) + ".test");
  query_info q;
  EXPECT_EQ(parse_query(ok.data(), ok.size(), q), parse_error::none);
  // A length byte of 64 is not a valid label length (its top bits make it the reserved 0x40 type).
  auto bad = wire{}.header(1, 0, 1, 0, 0, 0).u8(64).raw(bytes(64, 'a')).u8(0).u16(1).u16(1).get();
  EXPECT_EQ(parse_query(bad.data(), bad.size(), q), parse_error::bad_question);
}

TEST(parse_query, name_over_255_bytes_is_rejected) {
  std::string ok = label(63) + "." + label(63) + "." + label(63) + "." + label(61);
  auto m = test::query(ok);
  query_info q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
  EXPECT_EQ(q.qname.size, 255);
  auto big = test::query(ok + "x");
  EXPECT_EQ(parse_query(big.data(), big.size(), q), parse_error::bad_question);
}

TEST(parse_query, compression_pointer_in_question_is_rejected) {
  query_info q;
  // Pointer to the header, pointer to itself, pointer to its own first label, pointer forward.
  for (uint16_t target : {uint16_t{0}, uint16_t{11}, uint16_t{12}}) {
    auto m = wire{}.header(1, 0, 1, 0, 0, 0).pointer(target).u16(1).u16(1).get();
    EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_question) << "target " << target;
  }
  auto own_start = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').pointer(12).u16(1).u16(1).get();
  EXPECT_EQ(parse_query(own_start.data(), own_start.size(), q), parse_error::bad_question);
  auto forward = wire{}.header(1, 0, 1, 0, 0, 0).pointer(14).u16(1).u16(1).name("x").get();
  EXPECT_EQ(parse_query(forward.data(), forward.size(), q), parse_error::bad_question);
}

TEST(parse_query, compression_loop_in_question_is_rejected) {
  // 12: "a" + ptr(16); 16: ptr(12).
  auto m = wire{}.header(1, 0, 1, 0, 0, 0).u8(1).u8('a').pointer(16).pointer(12).u16(1).u16(1).get();
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_question);
}

TEST(parse_query, reserved_label_types_are_rejected) {
  for (uint8_t type : {uint8_t{0x40}, uint8_t{0x80}}) {
    auto m = wire{}.header(1, 0, 1, 0, 0, 0).u8(type).u8(0).u16(1).u16(1).get();
    query_info q;
    EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_question) << int{type};
  }
}

TEST(parse_query, answer_or_authority_records_are_rejected) {
  query_info q;
  auto an = wire{}.header(1, 0, 1, 1, 0, 0).question("a.test").rr("a.test", 1, 60, {1, 2, 3, 4}).get();
  EXPECT_EQ(parse_query(an.data(), an.size(), q), parse_error::bad_record);
  auto ns = wire{}.header(1, 0, 1, 0, 1, 0).question("a.test").rr("test", type_ns, 60, wire{}.name("ns.test").get())
                .get();
  EXPECT_EQ(parse_query(ns.data(), ns.size(), q), parse_error::bad_record);
}

TEST(parse_query, opt_fields_are_read) {
  auto m = wire{}.header(1, flag_rd, 1, 0, 0, 1).question("a.test").opt(4096, edns_do, {}, 1, 0xAB).get();
  query_info q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
  EXPECT_TRUE(q.has_edns);
  EXPECT_EQ(q.edns_udp_size, 4096);
  EXPECT_EQ(q.edns_version, 1);  // not mixed with the extended rcode byte
  EXPECT_EQ(q.edns_flags, edns_do);
  EXPECT_EQ(q.opt_offset, 12u + 8 + 4);
  EXPECT_EQ(q.opt_end, m.size());
  EXPECT_FALSE(q.has_other_additional);
  EXPECT_FALSE(q.has_identity_option);

  auto no_do = test::edns_query("a.test", 1232, 0);
  ASSERT_EQ(parse_query(no_do.data(), no_do.size(), q), parse_error::none);
  EXPECT_EQ(q.edns_flags & edns_do, 0);
  EXPECT_EQ(q.edns_udp_size, 1232);
  EXPECT_EQ(q.edns_version, 0);
}

TEST(parse_query, reused_info_is_reset_by_a_plain_query) {
  query_info q;
  auto with = test::edns_query("a.test", 4096, edns_do, option(identity_option_code, bytes(15, 1)));
  ASSERT_EQ(parse_query(with.data(), with.size(), q), parse_error::none);
  ASSERT_TRUE(q.has_edns);
  ASSERT_TRUE(q.has_identity_option);
  auto plain = test::query("b.test");
  ASSERT_EQ(parse_query(plain.data(), plain.size(), q), parse_error::none);
  EXPECT_FALSE(q.has_edns);
  EXPECT_FALSE(q.has_identity_option);
  EXPECT_FALSE(q.has_other_additional);
  EXPECT_EQ(q.qname.to_text(), "b.test");
}

TEST(parse_query, two_opt_records_are_rejected) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 2).question("a.test").opt(4096).opt(1232).get();
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_opt);
}

TEST(parse_query, opt_with_non_root_owner_is_rejected) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 1).question("a.test").name("a.test").rr_fixed(type_opt, 4096, 0, 0).get();
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_opt);
  // A compressed owner that points at the root-terminated question name is not the root either.
  auto ptr = wire{}.header(1, 0, 1, 0, 0, 1).question("a.test").pointer(12).rr_fixed(type_opt, 4096, 0, 0).get();
  EXPECT_EQ(parse_query(ptr.data(), ptr.size(), q), parse_error::bad_opt);
}

TEST(parse_query, malformed_option_lengths_are_rejected) {
  query_info q;
  // An option claiming 8 bytes of data with only 2 present in RDATA.
  bytes overrun = {0x00, 0x0A, 0x00, 0x08, 0xAA, 0xBB};
  auto m = test::edns_query("a.test", 4096, 0, overrun);
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_opt);
  // An option header cut short: 3 bytes of RDATA.
  auto cut = test::edns_query("a.test", 4096, 0, {0x00, 0x0A, 0x00});
  EXPECT_EQ(parse_query(cut.data(), cut.size(), q), parse_error::bad_opt);
  // A valid option followed by 2 stray bytes.
  auto stray = test::edns_query("a.test", 4096, 0, test::concat({option(10, bytes(8, 7)), {0x00, 0x0A}}));
  EXPECT_EQ(parse_query(stray.data(), stray.size(), q), parse_error::bad_opt);
  // Zero-length options are fine.
  auto empty = test::edns_query("a.test", 4096, 0, test::concat({option(12, {}), option(10, {})}));
  EXPECT_EQ(parse_query(empty.data(), empty.size(), q), parse_error::none);
}

TEST(parse_query, opt_rdata_past_end_is_a_bad_record) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 1).question("a.test").u8(0).rr_fixed(type_opt, 4096, 0, 10).raw({1, 2}).get();
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_record);
}

TEST(parse_query, additional_count_beyond_data_is_a_bad_record) {
  auto m = wire{}.header(1, 0, 1, 0, 0, 2).question("a.test").opt(4096).get();
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::bad_record);
}

TEST(parse_query, client_identity_option_is_detected) {
  query_info q;
  auto alone = test::edns_query("a.test", 4096, 0, option(identity_option_code, bytes(15, 0x11)));
  ASSERT_EQ(parse_query(alone.data(), alone.size(), q), parse_error::none);
  EXPECT_TRUE(q.has_identity_option);
  auto among = test::edns_query("a.test", 4096, 0,
                                test::concat({option(10, bytes(8, 1)), option(identity_option_code, {}),
                                              option(12, bytes(3, 0))}));
  ASSERT_EQ(parse_query(among.data(), among.size(), q), parse_error::none);
  EXPECT_TRUE(q.has_identity_option);
  auto none = test::edns_query("a.test", 4096, 0, option(10, bytes(8, 1)));
  ASSERT_EQ(parse_query(none.data(), none.size(), q), parse_error::none);
  EXPECT_FALSE(q.has_identity_option);
}

TEST(parse_query, tsig_like_additional_record_is_flagged) {
  bytes tsig_rdata = wire{}.name("hmac-sha256").u16(0).u32(0x5F5E1000).u16(300).u16(0).u16(0x1234).u16(0).u16(0)
                         .get();
  auto m = wire{}.header(1, 0, 1, 0, 0, 2).question("a.test").opt(1232).name("key.test")
               .rr_fixed(250, 255, 0, static_cast<uint16_t>(tsig_rdata.size())).raw(tsig_rdata).get();
  query_info q;
  ASSERT_EQ(parse_query(m.data(), m.size(), q), parse_error::none);
  EXPECT_TRUE(q.has_other_additional);
  EXPECT_TRUE(q.has_edns);
  auto alone = wire{}.header(1, 0, 1, 0, 0, 1).question("a.test").name("key.test")
                   .rr_fixed(250, 255, 0, static_cast<uint16_t>(tsig_rdata.size())).raw(tsig_rdata).get();
  ASSERT_EQ(parse_query(alone.data(), alone.size(), q), parse_error::none);
  EXPECT_TRUE(q.has_other_additional);
  EXPECT_FALSE(q.has_edns);
}

TEST(parse_query, trailing_garbage_is_rejected) {
  auto m = test::query("a.test");
  m.push_back(0);
  query_info q;
  EXPECT_EQ(parse_query(m.data(), m.size(), q), parse_error::trailing_garbage);
  auto e = test::edns_query("a.test", 4096, 0);
  e.insert(e.end(), {1, 2, 3});
  EXPECT_EQ(parse_query(e.data(), e.size(), q), parse_error::trailing_garbage);
}

TEST(parse_error, every_value_has_a_name) {
  EXPECT_STREQ(to_string(parse_error::none), "none");
  EXPECT_STREQ(to_string(parse_error::too_short), "too_short");
  EXPECT_STREQ(to_string(parse_error::bad_question), "bad_question");
  EXPECT_STREQ(to_string(parse_error::bad_record), "bad_record");
  EXPECT_STREQ(to_string(parse_error::bad_opt), "bad_opt");
  EXPECT_STREQ(to_string(parse_error::trailing_garbage), "trailing_garbage");
}

// ---- parse_response ----

/// Header + question "a.test" A (question ends at 24); records are appended by the caller.
wire response_head(uint16_t flags, uint16_t an, uint16_t ns, uint16_t ar) {
  wire w;
  w.header(0x4242, static_cast<uint16_t>(flag_qr | flag_rd | flag_ra | flags), 1, an, ns, ar).question("a.test");
  return w;
}

TEST(parse_response, min_ttl_over_answer_and_authority_only) {
  auto m = response_head(0, 2, 1, 1)
               .rr("a.test", 1, 300, {1, 1, 1, 1})
               .rr("a.test", 1, 120, {2, 2, 2, 2})
               .rr("test", type_ns, 90, wire{}.name("ns.test").get())
               .rr("ns.test", 1, 5, {3, 3, 3, 3})  // additional: ignored for min_ttl
               .get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  EXPECT_EQ(r.id, 0x4242);
  EXPECT_EQ(r.qdcount, 1);
  EXPECT_EQ(r.qname.to_text(), "a.test");
  EXPECT_EQ(r.qtype, 1);
  EXPECT_EQ(r.question_end, 24u);
  EXPECT_EQ(r.answer_count, 2);
  EXPECT_EQ(r.min_ttl, 90u);
  EXPECT_FALSE(r.has_soa);
  EXPECT_FALSE(r.has_edns);
  EXPECT_TRUE(r.ttl_offsets.empty());  // not collected
}

TEST(parse_response, no_records_leaves_min_ttl_at_maximum) {
  auto m = response_head(0, 0, 0, 0).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, true), parse_error::none);
  EXPECT_EQ(r.min_ttl, 0xFFFFFFFFu);
  EXPECT_EQ(r.answer_count, 0);
  EXPECT_TRUE(r.ttl_offsets.empty());
}

TEST(parse_response, ttl_with_top_bit_set_counts_as_zero) {
  auto m = response_head(0, 2, 0, 0).rr("a.test", 1, 300, {1, 1, 1, 1}).rr("a.test", 1, 0x80000000u, {2, 2, 2, 2})
               .get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  EXPECT_EQ(r.min_ttl, 0u);
  auto max_ok = response_head(0, 1, 0, 0).rr("a.test", 1, 0x7FFFFFFFu, {1, 1, 1, 1}).get();
  ASSERT_EQ(parse_response(max_ok.data(), max_ok.size(), r, false), parse_error::none);
  EXPECT_EQ(r.min_ttl, 0x7FFFFFFFu);
}

TEST(parse_response, soa_negative_ttl_is_min_of_soa_ttl_and_minimum) {
  response_info r;
  auto ttl_smaller = response_head(nxdomain, 0, 1, 0).rr("test", type_soa, 60, test::soa_rdata(300)).get();
  ASSERT_EQ(parse_response(ttl_smaller.data(), ttl_smaller.size(), r, false), parse_error::none);
  EXPECT_TRUE(r.has_soa);
  EXPECT_EQ(r.soa_negative_ttl, 60u);
  auto min_smaller = response_head(nxdomain, 0, 1, 0).rr("test", type_soa, 3600, test::soa_rdata(30)).get();
  ASSERT_EQ(parse_response(min_smaller.data(), min_smaller.size(), r, false), parse_error::none);
  EXPECT_TRUE(r.has_soa);
  EXPECT_EQ(r.soa_negative_ttl, 30u);
  EXPECT_EQ(r.min_ttl, 3600u);
  auto min_top_bit = response_head(nxdomain, 0, 1, 0).rr("test", type_soa, 3600, test::soa_rdata(0x80000001u))
                         .get();
  ASSERT_EQ(parse_response(min_top_bit.data(), min_top_bit.size(), r, false), parse_error::none);
  EXPECT_EQ(r.soa_negative_ttl, 0u);
}

TEST(parse_response, soa_with_compressed_names_is_understood) {
  // Owner and MNAME = ptr(14) ("test" inside the question name), RNAME = "h" + ptr(14).
  bytes rdata = wire{}.pointer(14).u8(1).u8('h').pointer(14).u32(1).u32(2).u32(3).u32(4).u32(45).get();
  auto m = response_head(0, 0, 1, 0).pointer(14).rr_fixed(type_soa, class_in, 900, static_cast<uint16_t>(rdata.size()))
               .raw(rdata).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, true), parse_error::none);
  EXPECT_TRUE(r.has_soa);
  EXPECT_EQ(r.soa_negative_ttl, 45u);
}

TEST(parse_response, soa_rdata_with_wrong_length_is_rejected) {
  bytes rdata = test::soa_rdata(300);
  rdata.push_back(0);  // one byte after MINIMUM
  auto m = response_head(nxdomain, 0, 1, 0).rr("test", type_soa, 60, rdata).get();
  response_info r;
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::bad_record);
}

TEST(parse_response, soa_in_answer_section_is_not_a_negative_answer) {
  auto m = response_head(0, 1, 0, 0).rr("test", type_soa, 60, test::soa_rdata(300)).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  EXPECT_FALSE(r.has_soa);
  EXPECT_EQ(r.min_ttl, 60u);
}

TEST(parse_response, backward_compression_pointers_in_answers_are_accepted) {
  // Two answers whose owners point at the question name (offset 12), rdata a CNAME pointing back too.
  auto m = response_head(0, 2, 0, 0)
               .pointer(12).rr_fixed(5, class_in, 100, 4).u8(1).u8('b').pointer(12)
               .pointer(36).rr_fixed(1, class_in, 200, 4).raw({9, 9, 9, 9})
               .get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, true), parse_error::none);
  EXPECT_EQ(r.min_ttl, 100u);
  ASSERT_EQ(r.ttl_offsets.size(), 2u);
  EXPECT_EQ(r.ttl_offsets[0], 24u + 2 + 4);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[0]), 100u);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[1]), 200u);
}

// RFC 1035 4.1.4: a pointer refers to a *prior* occurrence of a name. The codec documents that anything unexpected
// rejects the packet, so an answer owner that points forward, at itself, or outside the message must be refused.
TEST(parse_response, forward_compression_pointer_in_answer_is_rejected) {
  // Answer owner at 24 points to 36, its own RDATA, where a valid name "x" sits.
  auto m = response_head(0, 1, 0, 0).pointer(36).rr_fixed(16, class_in, 60, 4).raw({1, 'x', 0, 0}).get();
  ASSERT_EQ(m.size(), 40u);
  wire_name n;
  ASSERT_EQ(read_name(m.data(), m.size(), 24, n), 0u);  // read_name itself refuses it
  response_info r;
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::bad_record);
}

TEST(parse_response, self_compression_pointer_in_answer_is_rejected) {
  auto m = response_head(0, 1, 0, 0).pointer(24).rr_fixed(1, class_in, 60, 4).raw({1, 2, 3, 4}).get();
  response_info r;
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::bad_record);
}

TEST(parse_response, compression_pointer_outside_message_is_rejected) {
  auto m = response_head(0, 1, 0, 0).pointer(0x3FFF).rr_fixed(1, class_in, 60, 4).raw({1, 2, 3, 4}).get();
  response_info r;
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::bad_record);
}

// A backward pointer is necessary but not sufficient: the name it leads to must itself be a valid name.
TEST(parse_response, backward_pointer_to_bytes_that_are_not_a_name_is_rejected) {
  // Answer 1 (at 24) has RDATA 41 00 00 00 at 36; answer 2's owner (at 40) points there: a reserved 0x40 label.
  auto m = response_head(0, 2, 0, 0).pointer(12).rr_fixed(1, class_in, 60, 4).raw({0x41, 0, 0, 0})
               .pointer(36).rr_fixed(1, class_in, 60, 4).raw({1, 2, 3, 4}).get();
  wire_name n;
  ASSERT_EQ(read_name(m.data(), m.size(), 40, n), 0u);  // the name does not decode
  response_info r;
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::bad_record);
}

TEST(parse_response, compressed_owner_longer_than_255_bytes_is_rejected) {
  // A TXT answer's RDATA holds a 193-byte name (3 x 63-byte labels); the next owner is a 62-byte label + a pointer
  // to it: 63 + 193 = 256 bytes uncompressed.
  std::string base = label(63) + "." + label(63, 'b') + "." + label(63, 'c');
  bytes base_wire = wire{}.name(base).get();
  ASSERT_EQ(base_wire.size(), 193u);
  wire w = response_head(0, 2, 0, 0);
  w.pointer(12).rr_fixed(16, class_in, 60, static_cast<uint16_t>(base_wire.size())).raw(base_wire);
  size_t owner = w.size();
  w.u8(62).raw(bytes(62, 'd')).pointer(36).rr_fixed(1, class_in, 60, 4).raw({1, 2, 3, 4});
  wire_name n;
  ASSERT_EQ(read_name(w.data(), w.size(), owner, n), 0u);
  response_info r;
  EXPECT_EQ(parse_response(w.data(), w.size(), r, false), parse_error::bad_record);
}

TEST(parse_response, opt_location_is_recorded_and_excluded_from_ttls) {
  auto m = response_head(0, 1, 0, 2).rr("a.test", 1, 300, {1, 1, 1, 1}).rr("ns.test", 1, 30, {2, 2, 2, 2})
               .opt(1232, edns_do, option(10, bytes(16, 5)))
               .get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, true), parse_error::none);
  EXPECT_TRUE(r.has_edns);
  EXPECT_EQ(r.opt_offset, m.size() - 11 - 20);
  EXPECT_EQ(r.opt_end, m.size());
  EXPECT_EQ(m[r.opt_offset], 0);
  EXPECT_EQ(test::get16(m, r.opt_offset + 1), type_opt);
  ASSERT_EQ(r.ttl_offsets.size(), 2u);  // the answer and the additional A, not the OPT
  EXPECT_EQ(test::get32(m, r.ttl_offsets[0]), 300u);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[1]), 30u);
  EXPECT_EQ(r.min_ttl, 300u);
}

TEST(parse_response, opt_outside_additional_section_or_twice_is_rejected) {
  response_info r;
  auto in_answer = response_head(0, 1, 0, 0).opt(1232).get();
  EXPECT_EQ(parse_response(in_answer.data(), in_answer.size(), r, false), parse_error::bad_opt);
  auto in_authority = response_head(0, 0, 1, 0).opt(1232).get();
  EXPECT_EQ(parse_response(in_authority.data(), in_authority.size(), r, false), parse_error::bad_opt);
  auto twice = response_head(0, 0, 0, 2).opt(1232).opt(4096).get();
  EXPECT_EQ(parse_response(twice.data(), twice.size(), r, false), parse_error::bad_opt);
  auto bad_option = response_head(0, 0, 0, 1).opt(1232, 0, {0, 10, 0, 9}).get();
  EXPECT_EQ(parse_response(bad_option.data(), bad_option.size(), r, false), parse_error::bad_opt);
}

TEST(parse_response, ttl_offsets_point_at_every_ttl_field) {
  auto m = response_head(0, 2, 1, 1)
               .rr("a.test", 1, 0x01020304, {1, 1, 1, 1})
               .pointer(12).rr_fixed(1, class_in, 0x05060708, 4).raw({2, 2, 2, 2})
               .rr("test", type_soa, 0x090A0B0C, test::soa_rdata(7))
               .rr("x.test", 16, 0x0D0E0F10, {3, 'a', 'b', 'c'})
               .get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, true), parse_error::none);
  ASSERT_EQ(r.ttl_offsets.size(), 4u);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[0]), 0x01020304u);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[1]), 0x05060708u);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[2]), 0x090A0B0Cu);
  EXPECT_EQ(test::get32(m, r.ttl_offsets[3]), 0x0D0E0F10u);
  // Each offset is 4 bytes past the TYPE field: the two bytes before the TTL are the class.
  for (uint16_t off : r.ttl_offsets)
    EXPECT_EQ(test::get16(m, off - 2u), class_in) << off;
}

TEST(parse_response, reused_info_is_reset) {
  response_info r;
  auto first = response_head(nxdomain, 1, 1, 1).rr("a.test", 1, 5, {1, 1, 1, 1})
                   .rr("test", type_soa, 60, test::soa_rdata(60)).opt(1232).get();
  ASSERT_EQ(parse_response(first.data(), first.size(), r, true), parse_error::none);
  ASSERT_TRUE(r.has_soa && r.has_edns && !r.ttl_offsets.empty());
  auto second = response_head(0, 0, 0, 0).get();
  ASSERT_EQ(parse_response(second.data(), second.size(), r, true), parse_error::none);
  EXPECT_FALSE(r.has_soa);
  EXPECT_FALSE(r.has_edns);
  EXPECT_TRUE(r.ttl_offsets.empty());
  EXPECT_EQ(r.min_ttl, 0xFFFFFFFFu);
}

TEST(parse_response, question_count_zero_allowed_two_rejected) {
  response_info r;
  auto none = wire{}.header(7, flag_qr | 1, 0, 0, 0, 0).get();
  ASSERT_EQ(parse_response(none.data(), none.size(), r, false), parse_error::none);
  EXPECT_EQ(r.qdcount, 0);
  EXPECT_EQ(r.question_end, 12u);
  auto two = wire{}.header(7, flag_qr, 2, 0, 0, 0).question("a.test").question("b.test").get();
  EXPECT_EQ(parse_response(two.data(), two.size(), r, false), parse_error::bad_question);
  EXPECT_EQ(parse_response(two.data(), 11, r, false), parse_error::too_short);
}

TEST(parse_response, truncated_records_and_trailing_bytes_are_rejected) {
  auto m = response_head(0, 1, 0, 0).rr("a.test", 1, 60, {1, 2, 3, 4}).get();
  response_info r;
  ASSERT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::none);
  for (size_t n = 24; n < m.size(); ++n)
    EXPECT_EQ(parse_response(m.data(), n, r, false), parse_error::bad_record) << "cut at " << n;
  m.push_back(0);
  EXPECT_EQ(parse_response(m.data(), m.size(), r, false), parse_error::trailing_garbage);
}

} // namespace
} // namespace roamd::net::dns
