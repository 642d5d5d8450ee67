#include "net/dns_codec.hpp"

#include <cstdio>

namespace roamd::net::dns {

namespace {

inline uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

/// TTLs with the top bit set are treated as zero (RFC 2181 section 8).
inline uint32_t sane_ttl(uint32_t ttl) {
  return ttl > 0x7FFFFFFFu ? 0 : ttl;
}

struct rr_view {
  size_t start;      // owner name
  size_t name_end;   // type field
  uint16_t type;
  uint16_t klass;
  uint32_t ttl;
  size_t rdata;
  uint16_t rdlen;
  size_t end;
};

/// Reads the fixed part of the record at `pos`; false if anything runs past `size`.
bool read_rr(const uint8_t* msg, size_t size, size_t pos, rr_view& rr) {
  rr.start = pos;
  rr.name_end = check_name(msg, size, pos);  // the owner must decode, pointers and all
  if (rr.name_end == 0 || rr.name_end + 10 > size)
    return false;
  const uint8_t* p = msg + rr.name_end;
  rr.type = get16(p);
  rr.klass = get16(p + 2);
  rr.ttl = get32(p + 4);
  rr.rdlen = get16(p + 8);
  rr.rdata = rr.name_end + 10;
  rr.end = rr.rdata + rr.rdlen;
  return rr.end <= size;
}

/// Validates an OPT record's placement and option list; returns false if malformed.
bool check_opt(const uint8_t* msg, const rr_view& rr, bool& has_identity) {
  if (rr.name_end != rr.start + 1)  // owner must be the root
    return false;
  size_t o = rr.rdata;
  while (o < rr.end) {
    if (o + 4 > rr.end)
      return false;
    uint16_t code = get16(msg + o);
    uint16_t len = get16(msg + o + 2);
    if (o + 4 + len > rr.end)
      return false;
    if (code == identity_option_code)
      has_identity = true;
    o += 4 + len;
  }
  return true;
}

} // namespace

std::string wire_name::to_text() const {
  std::string out;
  size_t i = 0;
  while (i < size && bytes[i] != 0) {
    uint8_t len = bytes[i];
    if (!out.empty())
      out.push_back('.');
    for (size_t k = 1; k <= len && i + k < size; ++k) {
      char c = static_cast<char>(bytes[i + k]);
      if (c == '.' || c == '\\' || c <= ' ' || c > '~') {
        char buf[5];
        std::snprintf(buf, sizeof(buf), "\\%03u", static_cast<unsigned>(static_cast<uint8_t>(c)));
        out += buf;
      } else {
        out.push_back(c);
      }
    }
    i += len + 1u;
  }
  return out;
}

namespace {

/// read_name's walk: follows pointers strictly backwards, checks every label and the 255-byte limit; copies the
/// lower-cased name into `out` when it is not null.
size_t walk_name(const uint8_t* msg, size_t size, size_t offset, wire_name* out) {
  size_t pos = offset;
  size_t limit = offset;  // a pointer must target strictly before the sequence that contains it
  size_t end_in_place = 0;
  size_t n = 0;
  for (;;) {
    if (pos >= size)
      return 0;
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= size)
        return 0;
      size_t target = (size_t{len & 0x3Fu} << 8) | msg[pos + 1];
      if (end_in_place == 0)
        end_in_place = pos + 2;
      if (target >= limit || target < header_size)
        return 0;
      limit = target;
      pos = target;
      continue;
    }
    if (len & 0xC0)  // 0x40 and 0x80 label types are not in use
      return 0;
    if (len == 0) {
      if (n + 1 > max_name_wire)
        return 0;
      if (out) {
        out->bytes[n] = 0;
        out->size = static_cast<uint8_t>(n + 1);
      }
      return end_in_place != 0 ? end_in_place : pos + 1;
    }
    if (pos + 1 + len > size || n + 1 + len + 1 > max_name_wire)
      return 0;
    if (out) {
      out->bytes[n] = len;
      for (size_t i = 1; i <= len; ++i)
        out->bytes[n + i] = lower(msg[pos + i]);
    }
    n += 1u + len;
    pos += 1 + len;
  }
}

} // namespace

size_t read_name(const uint8_t* msg, size_t size, size_t offset, wire_name& out) {
  return walk_name(msg, size, offset, &out);
}

size_t read_question(const uint8_t* msg, size_t size, wire_name& name, uint16_t& qtype, uint16_t& qclass) {
  size_t pos = read_name(msg, size, header_size, name);
  if (pos == 0 || pos + 4 > size)
    return 0;
  qtype = get16(msg + pos);
  qclass = get16(msg + pos + 2);
  return pos + 4;
}

size_t check_name(const uint8_t* msg, size_t size, size_t offset) {
  return walk_name(msg, size, offset, nullptr);
}

size_t skip_name(const uint8_t* msg, size_t size, size_t offset) {
  size_t pos = offset;
  size_t total = 0;
  for (;;) {
    if (pos >= size)
      return 0;
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      // A pointer must refer to a prior occurrence (RFC 1035 4.1.4): after the header, before itself.
      if (pos + 2 > size)
        return 0;
      size_t target = (size_t{len & 0x3Fu} << 8) | msg[pos + 1];
      return target >= header_size && target < pos ? pos + 2 : 0;
    }
    if (len & 0xC0)
      return 0;
    if (len == 0)
      return pos + 1;
    total += 1u + len;
    if (total + 1 > max_name_wire || pos + 1 + len > size)
      return 0;
    pos += 1 + len;
  }
}

const char* to_string(parse_error e) {
  switch (e) {
    case parse_error::none:
      return "none";
    case parse_error::too_short:
      return "too_short";
    case parse_error::bad_question:
      return "bad_question";
    case parse_error::bad_record:
      return "bad_record";
    case parse_error::bad_opt:
      return "bad_opt";
    case parse_error::trailing_garbage:
      return "trailing_garbage";
  }
  return "unknown";
}

parse_error parse_query(const uint8_t* msg, size_t size, query_info& out) {
  if (size < header_size)
    return parse_error::too_short;
  out.id = id_of(msg);
  out.flags = flags_of(msg);
  uint16_t qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);
  if (qd != 1)
    return parse_error::bad_question;
  size_t pos = read_question(msg, size, out.qname, out.qtype, out.qclass);
  if (pos == 0)
    return parse_error::bad_question;
  out.question_end = pos;
  if (an != 0 || ns != 0)
    return parse_error::bad_record;
  out.has_edns = false;
  out.has_other_additional = false;
  out.has_identity_option = false;
  for (uint16_t i = 0; i < ar; ++i) {
    rr_view rr;
    if (!read_rr(msg, size, pos, rr))
      return parse_error::bad_record;
    if (rr.type == type_opt) {
      if (out.has_edns || !check_opt(msg, rr, out.has_identity_option))
        return parse_error::bad_opt;
      out.has_edns = true;
      out.edns_udp_size = rr.klass;
      out.edns_version = static_cast<uint8_t>(rr.ttl >> 16);
      out.edns_flags = static_cast<uint16_t>(rr.ttl);
      out.opt_offset = rr.start;
      out.opt_end = rr.end;
    } else {
      out.has_other_additional = true;
    }
    pos = rr.end;
  }
  if (pos != size)
    return parse_error::trailing_garbage;
  return parse_error::none;
}

parse_error parse_response(const uint8_t* msg, size_t size, response_info& out, bool collect_ttls) {
  if (size < header_size)
    return parse_error::too_short;
  out.id = id_of(msg);
  out.flags = flags_of(msg);
  out.qdcount = get16(msg + 4);
  uint16_t an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);
  out.answer_count = an;
  size_t pos = header_size;
  if (out.qdcount > 1)
    return parse_error::bad_question;
  if (out.qdcount == 1) {
    pos = read_question(msg, size, out.qname, out.qtype, out.qclass);
    if (pos == 0)
      return parse_error::bad_question;
  }
  out.question_end = pos;
  out.has_edns = false;
  out.has_soa = false;
  out.min_ttl = 0xFFFFFFFFu;
  out.ttl_offsets.clear();
  uint32_t total = uint32_t{an} + ns + ar;
  for (uint32_t i = 0; i < total; ++i) {
    rr_view rr;
    if (!read_rr(msg, size, pos, rr))
      return parse_error::bad_record;
    bool additional = i >= uint32_t{an} + ns;
    if (rr.type == type_opt) {
      bool ignored = false;
      if (!additional || out.has_edns || !check_opt(msg, rr, ignored))
        return parse_error::bad_opt;
      out.has_edns = true;
      out.opt_offset = rr.start;
      out.opt_end = rr.end;
    } else {
      uint32_t ttl = sane_ttl(rr.ttl);
      if (!additional && ttl < out.min_ttl)
        out.min_ttl = ttl;
      bool authority = i >= an && !additional;
      if (authority && rr.type == type_soa && rr.rdlen >= 22) {
        // MNAME and RNAME (possibly compressed) are followed by five 32-bit fields; MINIMUM is last.
        size_t p = skip_name(msg, rr.end, rr.rdata);
        p = p ? skip_name(msg, rr.end, p) : 0;
        if (p == 0 || p + 20 != rr.end)
          return parse_error::bad_record;
        uint32_t minimum = sane_ttl(get32(msg + rr.end - 4));
        out.has_soa = true;
        out.soa_negative_ttl = ttl < minimum ? ttl : minimum;
      }
      if (collect_ttls && rr.name_end + 4 <= 0xFFFF)
        out.ttl_offsets.push_back(static_cast<uint16_t>(rr.name_end + 4));
    }
    pos = rr.end;
  }
  if (pos != size)
    return parse_error::trailing_garbage;
  return parse_error::none;
}

} // namespace roamd::net::dns
