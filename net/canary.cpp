#include "net/canary.hpp"

#include "net/dns_build.hpp"

namespace roamd::net {

namespace {

constexpr uint16_t type_a = 1;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

} // namespace

std::string canary_name(uint64_t nonce) {
  static const char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, nonce >>= 4)
    out[static_cast<size_t>(i)] = digits[nonce & 15];
  out += '.';
  out += canary_suffix;
  return out;
}

std::optional<std::array<uint8_t, 4>> canary_address(std::string_view first_label) {
  if (first_label.empty() || first_label.size() > 63)
    return std::nullopt;
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a-64
  for (char c : first_label) {
    h ^= static_cast<uint8_t>(lower(c));
    h *= 0x100000001b3ull;
  }
  return std::array<uint8_t, 4>{127, static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 8),
                                static_cast<uint8_t>(h)};
}

canary_match match_canary(const dns::wire_name& qname, std::string_view& label) {
  if (!may_be_canary(qname))
    return canary_match::none;
  // The suffix must start at a label boundary: walk the labels (a wire_name is well formed) and count those
  // in front of it.
  size_t suffix_at = qname.size - sizeof(detail::canary_wire);
  size_t off = 0;
  size_t labels = 0;
  while (off < suffix_at) {
    ++labels;
    off += qname.bytes[off] + 1u;
  }
  if (off != suffix_at)
    return canary_match::none;
  if (labels == 0)
    return canary_match::apex;
  if (labels > 1)
    return canary_match::deeper;
  label = std::string_view(reinterpret_cast<const char*>(qname.bytes.data() + 1), qname.bytes[0]);
  return canary_match::leaf;
}

size_t build_canary_reply(const uint8_t* query, size_t size, const dns::query_info& q, canary_match match,
                          std::string_view label, uint8_t* out, size_t cap) {
  if (q.question_end < dns::header_size || q.question_end > size || q.question_end > cap)
    return 0;
  std::optional<std::array<uint8_t, 4>> addr;
  if (match == canary_match::leaf && q.qtype == type_a)
    addr = canary_address(label);
  uint16_t rc = static_cast<uint16_t>(match == canary_match::deeper ? dns::rcode::nxdomain : dns::rcode::noerror);
  uint16_t in_flags = dns::flags_of(query);
  uint16_t flags = dns::flag_qr | dns::flag_aa | dns::flag_ra | (in_flags & (dns::flag_rd | dns::flag_cd)) | rc;
  std::memcpy(out, query, q.question_end);  // ID and the question as the client spelled it
  dns::put16(out + 2, flags);
  dns::put16(out + 4, 1);
  dns::put16(out + 6, addr ? 1 : 0);
  dns::put16(out + 8, 0);
  dns::put16(out + 10, 0);
  size_t pos = q.question_end;
  if (addr) {
    constexpr size_t record_size = 2 + 2 + 2 + 4 + 2 + 4;
    if (pos + record_size > cap)
      return 0;
    dns::put16(out + pos, 0xC00C);  // the question's name
    dns::put16(out + pos + 2, type_a);
    dns::put16(out + pos + 4, dns::class_in);
    dns::put32(out + pos + 6, 0);  // TTL 0: nobody keeps it
    dns::put16(out + pos + 10, 4);
    std::memcpy(out + pos + 12, addr->data(), 4);
    pos += record_size;
  }
  if (q.has_edns)
    pos = dns::append_opt(out, pos, cap, dns::own_udp_size, (q.edns_flags & dns::edns_do) != 0);
  return pos;
}

} // namespace roamd::net
