#include "net/dns_build.hpp"

#include <cstring>
#include <tuple>

namespace roamd::net::dns {

namespace {

constexpr uint8_t opendns_tag[7] = {'O', 'p', 'e', 'n', 'D', 'N', 'S'};

/// Writes an OPT record header (root owner, type, class = udp size, TTL = ext rcode/version/flags) at `p`.
void write_opt_header(uint8_t* p, uint16_t udp_size, uint8_t ext_rcode, uint16_t flags, uint16_t rdlen) {
  p[0] = 0;
  put16(p + 1, type_opt);
  put16(p + 3, udp_size);
  p[5] = ext_rcode;
  p[6] = 0;  // version
  put16(p + 7, flags);
  put16(p + 9, rdlen);
}

constexpr size_t opt_header_size = 11;

} // namespace

identity_option make_identity_option(const std::array<uint8_t, 8>& device_id) {
  identity_option out{};
  put16(out.data(), identity_option_code);
  put16(out.data() + 2, 15);
  std::memcpy(out.data() + 4, opendns_tag, sizeof(opendns_tag));
  std::memcpy(out.data() + 11, device_id.data(), device_id.size());
  return out;
}

loop_mark make_loop_mark(uint64_t nonce) {
  loop_mark m{};
  put16(m.data(), loop_mark_code);
  put16(m.data() + 2, 8);
  for (int i = 0; i < 8; ++i)
    m[4 + i] = static_cast<uint8_t>(nonce >> (56 - 8 * i));
  return m;
}

bool has_loop_mark(const uint8_t* msg, const query_info& q, const loop_mark& mark) {
  if (!q.has_edns)
    return false;
  for (size_t o = q.opt_offset + opt_header_size; o + 4 <= q.opt_end;) {
    size_t len = 4u + get16(msg + o + 2);
    if (o + len > q.opt_end)
      return false;
    if (len == mark.size() && std::memcmp(msg + o, mark.data(), len) == 0)
      return true;
    o += len;
  }
  return false;
}

size_t build_upstream_query(const uint8_t* query, size_t size, const query_info& q, uint16_t new_id,
                            const identity_option* identity, uint16_t added_udp_size, uint8_t* out, size_t cap,
                            bool& tagged, const loop_mark* mark) {
  tagged = false;
  // Ours to append: the identity, then the loop mark.
  uint8_t own[std::tuple_size<identity_option>::value + std::tuple_size<loop_mark>::value];
  size_t own_size = 0;
  if (identity) {
    std::memcpy(own, identity->data(), identity->size());
    own_size = identity->size();
  }
  if (mark) {
    std::memcpy(own + own_size, mark->data(), mark->size());
    own_size += mark->size();
  }
  if (q.has_other_additional || (own_size == 0 && !q.has_identity_option)) {
    // Nothing to edit: the bytes go out as they came, with our ID.
    if (size > cap)
      return 0;
    std::memcpy(out, query, size);
    set_id(out, new_id);
    return size;
  }
  size_t pos = q.question_end;
  if (pos > cap)
    return 0;
  std::memcpy(out, query, pos);
  set_id(out, new_id);
  put16(out + 10, 0);
  if (!q.has_edns) {
    // own_size > 0 here: the client had no OPT, so it had no identity option either.
    if (pos + opt_header_size + own_size > cap)
      return 0;
    write_opt_header(out + pos, added_udp_size, 0, 0, static_cast<uint16_t>(own_size));
    std::memcpy(out + pos + opt_header_size, own, own_size);
    put16(out + 10, 1);
    tagged = identity != nullptr;
    return pos + opt_header_size + own_size;
  }
  // Copy the client's OPT header, then its options without any identity option, then ours.
  if (pos + opt_header_size > cap)
    return 0;
  std::memcpy(out + pos, query + q.opt_offset, opt_header_size);
  size_t opt_start = pos;
  pos += opt_header_size;
  size_t o = q.opt_offset + opt_header_size;
  while (o + 4 <= q.opt_end) {
    uint16_t code = get16(query + o);
    size_t len = 4u + get16(query + o + 2);
    if (code != identity_option_code) {
      if (pos + len > cap)
        return 0;
      std::memcpy(out + pos, query + o, len);
      pos += len;
    }
    o += len;
  }
  if (own_size > 0) {
    if (pos + own_size > cap)
      return 0;
    std::memcpy(out + pos, own, own_size);
    pos += own_size;
    tagged = identity != nullptr;
  }
  size_t rdlen = pos - opt_start - opt_header_size;
  if (rdlen > 0xFFFF)
    return 0;
  put16(out + opt_start + 9, static_cast<uint16_t>(rdlen));
  put16(out + 10, 1);
  return pos;
}

size_t build_error_reply(const uint8_t* query, size_t size, const query_info& q, bool with_question,
                         uint16_t extended_rcode, uint8_t* out, size_t cap) {
  if (size < header_size || cap < header_size)
    return 0;
  uint16_t in_flags = flags_of(query);
  // RA offers recursion, which only a query (opcode 0) can ask for: the NOTIMP to another opcode leaves it clear.
  uint16_t ra = opcode_of(in_flags) == 0 ? flag_ra : 0;
  uint16_t flags = flag_qr | ra | (in_flags & (0x7800 | flag_rd | flag_cd)) | (extended_rcode & 0x0F);
  std::memcpy(out, query, 2);
  put16(out + 2, flags);
  put16(out + 4, 0);
  put16(out + 6, 0);
  put16(out + 8, 0);
  put16(out + 10, 0);
  size_t pos = header_size;
  if (with_question && q.question_end > header_size && q.question_end <= size && q.question_end <= cap) {
    std::memcpy(out + pos, query + pos, q.question_end - pos);
    pos = q.question_end;
    put16(out + 4, 1);
  }
  if (q.has_edns || extended_rcode > 15) {
    if (pos + opt_header_size > cap)
      return 0;
    write_opt_header(out + pos, own_udp_size, static_cast<uint8_t>(extended_rcode >> 4), 0, 0);
    pos += opt_header_size;
    put16(out + 10, 1);
  }
  return pos;
}

size_t strip_trailing_opt(uint8_t* msg, size_t size, const response_info& r) {
  if (!r.has_edns || r.opt_end != size || r.opt_offset >= size)
    return size;
  uint16_t ar = get16(msg + 10);
  if (ar == 0)
    return size;
  put16(msg + 10, static_cast<uint16_t>(ar - 1));
  return r.opt_offset;
}

size_t append_opt(uint8_t* msg, size_t size, size_t cap, uint16_t udp_size, bool dnssec_ok) {
  if (size < header_size || size + opt_header_size > cap)
    return 0;
  uint16_t ar = get16(msg + 10);
  if (ar == 0xFFFF)
    return 0;
  write_opt_header(msg + size, udp_size, 0, dnssec_ok ? edns_do : 0, 0);
  put16(msg + 10, static_cast<uint16_t>(ar + 1));
  return size + opt_header_size;
}

size_t truncate_to_question(uint8_t* msg, size_t question_end) {
  put16(msg + 2, flags_of(msg) | flag_tc);
  put16(msg + 6, 0);
  put16(msg + 8, 0);
  put16(msg + 10, 0);
  return question_end;
}

} // namespace roamd::net::dns
