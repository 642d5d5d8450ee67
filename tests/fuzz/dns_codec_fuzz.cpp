// Fuzz target for net/dns_codec and net/dns_build. Arbitrary bytes go through read_name/skip_name, parse_query and
// parse_response; whatever parses goes on through the builders, whose output must parse again and keep the question.
// A broken invariant aborts with a message (a crash to libFuzzer, a failure to the corpus replay under ctest).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net/dns_build.hpp"
#include "net/dns_codec.hpp"

namespace {

using namespace roamd::net::dns;

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

constexpr uint16_t new_id = 0xBEEF;
constexpr uint16_t added_udp_size = 1232;

const identity_option& identity() {
  static const identity_option id = make_identity_option({0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF});
  return id;
}

/// A wire_name is well formed: labels of 1..63 lower-case bytes ending in the root exactly at `size`.
void check_name(const wire_name& n) {
  FUZZ_CHECK(n.size >= 1 && n.size <= max_name_wire);
  size_t i = 0;
  while (n.bytes[i] != 0) {
    uint8_t len = n.bytes[i];
    FUZZ_CHECK(len <= 63);
    FUZZ_CHECK(i + 1 + len < n.size);
    for (size_t k = 1; k <= len; ++k)
      FUZZ_CHECK(!(n.bytes[i + k] >= 'A' && n.bytes[i + k] <= 'Z'));
    i += 1u + len;
  }
  FUZZ_CHECK(i + 1 == n.size);
  (void)n.to_text();
}

void fuzz_read_name(const uint8_t* data, size_t size, size_t offset) {
  wire_name n;
  size_t end = read_name(data, size, offset, n);
  if (end == 0)
    return;
  FUZZ_CHECK(end > offset && end <= size);
  check_name(n);
  // The in-place part is the same for both walkers, so they must agree on where the name ends.
  FUZZ_CHECK(skip_name(data, size, offset) == end);
}

bool same_question(const wire_name& a, uint16_t at, uint16_t ac, const wire_name& b, uint16_t bt, uint16_t bc) {
  return a == b && at == bt && ac == bc;
}

/// Builds the upstream query into a buffer of exactly `cap` bytes (so ASan sees any overrun).
size_t build_upstream(const uint8_t* data, size_t size, const query_info& q, const identity_option* id,
                      std::vector<uint8_t>& out, size_t cap, bool& tagged) {
  out.assign(cap, 0);
  return build_upstream_query(data, size, q, new_id, id, added_udp_size, out.data(), cap, tagged);
}

void fuzz_upstream_query(const uint8_t* data, size_t size, const query_info& q, const identity_option* id) {
  std::vector<uint8_t> out;
  bool tagged = false;
  size_t n = build_upstream(data, size, q, id, out, size + 64, tagged);
  if (n == 0) {
    FUZZ_CHECK(size > 65000);  // only an OPT growing past 65535 bytes of RDATA may fail with room to spare
    return;
  }
  out.resize(n);
  FUZZ_CHECK(tagged == (id != nullptr && !q.has_other_additional));

  query_info b;
  FUZZ_CHECK(parse_query(out.data(), n, b) == parse_error::none);
  FUZZ_CHECK(b.id == new_id);
  FUZZ_CHECK(b.flags == q.flags);
  FUZZ_CHECK(same_question(b.qname, b.qtype, b.qclass, q.qname, q.qtype, q.qclass));
  FUZZ_CHECK(b.question_end == q.question_end);
  FUZZ_CHECK(b.has_other_additional == q.has_other_additional);
  if (q.has_edns) {
    FUZZ_CHECK(b.has_edns);
    FUZZ_CHECK(b.edns_udp_size == q.edns_udp_size);
    FUZZ_CHECK(b.edns_version == q.edns_version);
    FUZZ_CHECK(b.edns_flags == q.edns_flags);
  }
  if (tagged) {
    FUZZ_CHECK(b.has_edns && b.has_identity_option);
    FUZZ_CHECK(std::memcmp(out.data() + n - id->size(), id->data(), id->size()) == 0);
    if (!q.has_edns)
      FUZZ_CHECK(b.edns_udp_size == added_udp_size && n == q.question_end + 11 + id->size());
  } else if (!q.has_other_additional) {
    FUZZ_CHECK(!b.has_identity_option);
  }
  if (q.has_other_additional || (id == nullptr && !q.has_identity_option)) {
    // Nothing to edit: the same bytes but the ID.
    FUZZ_CHECK(n == size && std::memcmp(out.data() + 2, data + 2, size - 2) == 0);
  }

  // Building again from our own output changes nothing.
  std::vector<uint8_t> again;
  bool tagged_again = false;
  size_t n2 = build_upstream(out.data(), n, b, id, again, n + 64, tagged_again);
  FUZZ_CHECK(n2 == n && std::memcmp(again.data(), out.data(), n) == 0);

  // Less room than needed never writes past the buffer (sized exactly) and fails cleanly.
  for (size_t cap : {n - 1, q.question_end + 10, q.question_end - 1, size_t{1}}) {
    if (cap >= n)
      continue;
    std::vector<uint8_t> small;
    bool tagged_small = true;
    FUZZ_CHECK(build_upstream(data, size, q, id, small, cap, tagged_small) == 0);
    FUZZ_CHECK(!tagged_small);
  }

  // With roamd's loop mark too: still a valid query, the identity as before, and the mark found in it (a signed
  // query is never edited).
  static const loop_mark mark = make_loop_mark(0x0123456789abcdefull);
  (void)has_loop_mark(data, q, mark);
  std::vector<uint8_t> marked(size + 64);
  bool tagged_marked = false;
  size_t m = build_upstream_query(data, size, q, new_id, id, added_udp_size, marked.data(), marked.size(),
                                  tagged_marked, &mark);
  if (m != 0) {
    query_info c;
    FUZZ_CHECK(parse_query(marked.data(), m, c) == parse_error::none);
    FUZZ_CHECK(has_loop_mark(marked.data(), c, mark) == !q.has_other_additional);
    FUZZ_CHECK(tagged_marked == tagged);
  }
}

void fuzz_error_reply(const uint8_t* data, size_t size, const query_info& q, bool with_question) {
  for (uint16_t rc : {uint16_t{1}, uint16_t{2}, uint16_t{4}, uint16_t{5}, ext_rcode_badvers}) {
    std::vector<uint8_t> out(q.question_end + 11);
    size_t n = build_error_reply(data, size, q, with_question, rc, out.data(), out.size());
    FUZZ_CHECK(n >= header_size && n <= out.size());
    response_info r;
    FUZZ_CHECK(parse_response(out.data(), n, r, true) == parse_error::none);
    FUZZ_CHECK(r.id == q.id);
    FUZZ_CHECK(r.flags & flag_qr);
    FUZZ_CHECK(rcode_of(r.flags) == (rc & 0x0F));
    FUZZ_CHECK(opcode_of(r.flags) == opcode_of(q.flags));
    FUZZ_CHECK(((r.flags & flag_ra) != 0) == (opcode_of(q.flags) == 0));
    FUZZ_CHECK(r.qdcount == (with_question ? 1 : 0));
    if (with_question)
      FUZZ_CHECK(same_question(r.qname, r.qtype, r.qclass, q.qname, q.qtype, q.qclass));
    FUZZ_CHECK(r.has_edns == (q.has_edns || rc > 15));
    if (r.has_edns)
      FUZZ_CHECK(((out[r.opt_offset + 5] << 4) | rcode_of(r.flags)) == rc);

    // Tighter buffers: a smaller reply (question left out) or nothing, never an overrun.
    for (size_t cap : {size_t{11}, header_size, q.question_end - 1, q.question_end + 10}) {
      std::vector<uint8_t> small(cap);
      size_t m = build_error_reply(data, size, q, with_question, rc, small.data(), cap);
      FUZZ_CHECK(m == 0 || (m >= header_size && m <= cap));
      if (m != 0)
        FUZZ_CHECK(parse_response(small.data(), m, r, false) == parse_error::none && r.id == q.id);
    }
  }
}

void fuzz_query(const uint8_t* data, size_t size) {
  query_info q;
  parse_error e = parse_query(data, size, q);
  if (e != parse_error::none) {
    if (e != parse_error::too_short) {
      // FORMERR without the question is always possible once there is a header.
      query_info blank;
      std::vector<uint8_t> out(header_size);
      FUZZ_CHECK(build_error_reply(data, size, blank, false, 1, out.data(), out.size()) == header_size);
    }
    return;
  }
  check_name(q.qname);
  // No compression is allowed in the question, so its size follows from the name.
  FUZZ_CHECK(q.question_end == header_size + q.qname.size + 4u && q.question_end <= size);
  if (q.has_edns) {
    FUZZ_CHECK(q.opt_offset >= q.question_end && q.opt_offset + 11 <= q.opt_end && q.opt_end <= size);
    FUZZ_CHECK(data[q.opt_offset] == 0 && get16(data + q.opt_offset + 1) == type_opt);
  }
  FUZZ_CHECK(!q.has_identity_option || q.has_edns);
  fuzz_upstream_query(data, size, q, nullptr);
  fuzz_upstream_query(data, size, q, &identity());
  fuzz_error_reply(data, size, q, false);
  fuzz_error_reply(data, size, q, true);
}

void check_response(const uint8_t* data, size_t size, const response_info& r, bool collect_ttls) {
  FUZZ_CHECK(r.question_end >= header_size && r.question_end <= size);
  FUZZ_CHECK(r.qdcount <= 1);
  if (r.qdcount == 1)
    check_name(r.qname);
  FUZZ_CHECK(r.min_ttl <= 0x7FFFFFFFu || r.min_ttl == 0xFFFFFFFFu);
  FUZZ_CHECK(!r.has_soa || r.soa_negative_ttl <= 0x7FFFFFFFu);
  if (r.has_edns)
    FUZZ_CHECK(r.opt_offset >= r.question_end && r.opt_offset + 11 <= r.opt_end && r.opt_end <= size);
  if (!collect_ttls)
    FUZZ_CHECK(r.ttl_offsets.empty());
  for (uint16_t off : r.ttl_offsets)
    FUZZ_CHECK(off >= r.question_end + 5u && off + 6u <= size);  // owner >= 1, type, class | TTL, RDLENGTH
}

void fuzz_response(const uint8_t* data, size_t size) {
  response_info plain, with_ttls;
  parse_error e1 = parse_response(data, size, plain, false);
  parse_error e2 = parse_response(data, size, with_ttls, true);
  FUZZ_CHECK(e1 == e2);
  if (e1 != parse_error::none)
    return;
  check_response(data, size, plain, false);
  check_response(data, size, with_ttls, true);
  FUZZ_CHECK(plain.min_ttl == with_ttls.min_ttl && plain.has_soa == with_ttls.has_soa &&
             plain.has_edns == with_ttls.has_edns && plain.question_end == with_ttls.question_end);

  // strip_trailing_opt, append_opt and truncate_to_question keep the message parseable.
  std::vector<uint8_t> copy(data, data + size);
  copy.resize(size + 11);
  size_t n = strip_trailing_opt(copy.data(), size, with_ttls);
  bool stripped = with_ttls.has_edns && with_ttls.opt_end == size;
  FUZZ_CHECK(n == (stripped ? with_ttls.opt_offset : size));
  response_info r;
  FUZZ_CHECK(parse_response(copy.data(), n, r, true) == parse_error::none);
  FUZZ_CHECK(r.has_edns == (with_ttls.has_edns && !stripped));
  if (!r.has_edns && get16(copy.data() + 10) != 0xFFFF) {
    size_t m = append_opt(copy.data(), n, copy.size(), added_udp_size, true);
    FUZZ_CHECK(m == n + 11);
    FUZZ_CHECK(parse_response(copy.data(), m, r, true) == parse_error::none && r.has_edns);
  }
  std::vector<uint8_t> cut(data, data + size);
  size_t t = truncate_to_question(cut.data(), with_ttls.question_end);
  FUZZ_CHECK(t == with_ttls.question_end);
  FUZZ_CHECK(parse_response(cut.data(), t, r, true) == parse_error::none);
  FUZZ_CHECK((r.flags & flag_tc) && r.answer_count == 0 && r.ttl_offsets.empty());
  if (with_ttls.qdcount == 1)
    FUZZ_CHECK(r.qname == with_ttls.qname);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t limit = size < 40 ? size : 40;
  for (size_t off = 0; off < limit; ++off)
    fuzz_read_name(data, size, off);
  if (size > 0) {
    fuzz_read_name(data, size, size / 2);
    fuzz_read_name(data, size, size - 1);
    fuzz_read_name(data, size, data[0] % size);
  }
  fuzz_read_name(data, size, size);
  fuzz_query(data, size);
  fuzz_response(data, size);
  return 0;
}
