#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "net/dns_wire.hpp"

/// A test-only DNS message writer: every byte is placed by hand, counts included, so tests can build malformed
/// messages as easily as valid ones. It never validates anything.
namespace roamd::net::test {

using bytes = std::vector<uint8_t>;

class wire {
public:
  wire& u8(uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  wire& u16(uint16_t v) {
    b_.push_back(static_cast<uint8_t>(v >> 8));
    b_.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  wire& u32(uint32_t v) {
    return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
  }
  wire& raw(std::initializer_list<uint8_t> v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  wire& raw(const bytes& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }

  /// A 12-byte header.
  wire& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }

  /// An uncompressed name from dotted text ("" or "." is the root). Labels are written as given (no case change).
  wire& name(std::string_view dotted) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string_view::npos)
        dot = dotted.size();
      u8(static_cast<uint8_t>(dot - start));
      for (size_t i = start; i < dot; ++i)
        u8(static_cast<uint8_t>(dotted[i]));
      start = dot + 1;
    }
    return u8(0);
  }

  /// A compression pointer to `target`.
  wire& pointer(uint16_t target) {
    return u16(static_cast<uint16_t>(0xC000 | target));
  }

  wire& question(std::string_view qname, uint16_t qtype = 1, uint16_t qclass = dns::class_in) {
    return name(qname).u16(qtype).u16(qclass);
  }

  /// TYPE, CLASS, TTL and RDLENGTH of a record whose owner name was just written.
  wire& rr_fixed(uint16_t type, uint16_t klass, uint32_t ttl, uint16_t rdlen) {
    return u16(type).u16(klass).u32(ttl).u16(rdlen);
  }

  /// A complete record with an uncompressed owner.
  wire& rr(std::string_view owner, uint16_t type, uint32_t ttl, const bytes& rdata) {
    name(owner).rr_fixed(type, dns::class_in, ttl, static_cast<uint16_t>(rdata.size()));
    return raw(rdata);
  }

  /// An OPT record (root owner): CLASS = udp size, TTL = extended rcode | version | flags, RDATA = options.
  wire& opt(uint16_t udp_size, uint16_t flags = 0, const bytes& options = {}, uint8_t version = 0,
            uint8_t ext_rcode = 0) {
    u8(0).u16(dns::type_opt).u16(udp_size).u8(ext_rcode).u8(version).u16(flags);
    return u16(static_cast<uint16_t>(options.size())).raw(options);
  }

  /// Overwrites a 16-bit field already written (e.g. a count).
  wire& set16(size_t offset, uint16_t v) {
    dns::put16(b_.data() + offset, v);
    return *this;
  }

  size_t size() const {
    return b_.size();
  }
  const uint8_t* data() const {
    return b_.data();
  }
  const bytes& get() const {
    return b_;
  }

private:
  bytes b_;
};

/// One EDNS option: code, length, data.
inline bytes option(uint16_t code, const bytes& data) {
  bytes out;
  out.push_back(static_cast<uint8_t>(code >> 8));
  out.push_back(static_cast<uint8_t>(code));
  out.push_back(static_cast<uint8_t>(data.size() >> 8));
  out.push_back(static_cast<uint8_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

/// A plain recursive query with no additional records.
inline bytes query(std::string_view qname, uint16_t qtype = 1, uint16_t id = 0x1234) {
  return wire{}.header(id, dns::flag_rd, 1, 0, 0, 0).question(qname, qtype).get();
}

/// A query carrying one OPT record.
inline bytes edns_query(std::string_view qname, uint16_t udp_size, uint16_t edns_flags, const bytes& options = {},
                        uint16_t id = 0x1234) {
  return wire{}.header(id, dns::flag_rd, 1, 0, 0, 1).question(qname).opt(udp_size, edns_flags, options).get();
}

/// SOA RDATA with uncompressed MNAME and RNAME.
inline bytes soa_rdata(uint32_t minimum, std::string_view mname = "ns.example", std::string_view rname = "h.example") {
  return wire{}.name(mname).name(rname).u32(2024010101).u32(7200).u32(900).u32(1209600).u32(minimum).get();
}

inline uint16_t get16(const bytes& b, size_t offset) {
  return dns::get16(b.data() + offset);
}
inline uint32_t get32(const bytes& b, size_t offset) {
  return dns::get32(b.data() + offset);
}

} // namespace roamd::net::test
