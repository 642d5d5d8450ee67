#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

/// Constants and bounds-checked big-endian accessors for DNS wire format (RFC 1035, RFC 6891).
/// Nothing here allocates or throws; every read is checked by the caller against the packet's real size.
namespace roamd::net::dns {

constexpr size_t header_size = 12;
constexpr size_t max_name_wire = 255;
constexpr size_t max_udp_classic = 512;
constexpr size_t max_message = 65535;

constexpr uint16_t flag_qr = 0x8000;
constexpr uint16_t flag_aa = 0x0400;
constexpr uint16_t flag_tc = 0x0200;
constexpr uint16_t flag_rd = 0x0100;
constexpr uint16_t flag_ra = 0x0080;
constexpr uint16_t flag_ad = 0x0020;
constexpr uint16_t flag_cd = 0x0010;

constexpr uint16_t type_soa = 6;
constexpr uint16_t type_opt = 41;
constexpr uint16_t type_ns = 2;
constexpr uint16_t class_in = 1;

constexpr uint16_t edns_do = 0x8000;
constexpr uint16_t identity_option_code = 0x6942;

enum class rcode : uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
};
constexpr uint16_t ext_rcode_badvers = 16;

inline uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline uint16_t id_of(const uint8_t* msg) {
  return get16(msg);
}
inline void set_id(uint8_t* msg, uint16_t id) {
  put16(msg, id);
}
inline uint16_t flags_of(const uint8_t* msg) {
  return get16(msg + 2);
}
inline uint8_t opcode_of(uint16_t flags) {
  return static_cast<uint8_t>((flags >> 11) & 0x0F);
}
inline uint8_t rcode_of(uint16_t flags) {
  return static_cast<uint8_t>(flags & 0x0F);
}

} // namespace roamd::net::dns
