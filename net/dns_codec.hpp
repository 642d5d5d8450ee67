#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/dns_wire.hpp"

/// A minimal DNS codec: header, question, EDNS0 OPT, and a record walker for answers. Pure functions over byte
/// ranges: no I/O, no exceptions, no reads outside [data, data + size). Anything unexpected rejects the packet.
namespace roamd::net::dns {

/// A domain name in uncompressed wire format, lower-cased (the form used for routing and cache keys).
struct wire_name {
  std::array<uint8_t, max_name_wire> bytes{};
  uint8_t size = 0;  // including the final zero byte; 1 for the root

  bool operator==(const wire_name& other) const {
    return size == other.size && std::memcmp(bytes.data(), other.bytes.data(), size) == 0;
  }
  /// Presentation form without the trailing dot ("" for the root), for logs and the debug port.
  std::string to_text() const;
};

/// Reads the name at `offset`, following compression pointers strictly backwards (so loops are impossible),
/// validating label lengths and the 255-byte limit. On success returns the offset just past the name in place
/// (past the first pointer if any) and fills `out`; returns 0 on any error.
size_t read_name(const uint8_t* msg, size_t size, size_t offset, wire_name& out);

/// Validates the name at `offset` as read_name does (following pointers) without copying it. Returns the offset
/// past the name in place, or 0 on any error.
size_t check_name(const uint8_t* msg, size_t size, size_t offset);

/// Reads the (first) question at offset 12 into name, type and class; returns the offset past it, or 0.
size_t read_question(const uint8_t* msg, size_t size, wire_name& name, uint16_t& qtype, uint16_t& qclass);

/// Skips the name at `offset` without following pointers (a pointer must still point after the header and before
/// itself). Returns the offset past it, or 0 on error.
size_t skip_name(const uint8_t* msg, size_t size, size_t offset);

/// Why a message was rejected.
enum class parse_error : uint8_t {
  none,
  too_short,        // fewer than 12 bytes: no reply is possible
  bad_question,     // qdcount != 1, or the question name or fixed fields are malformed
  bad_record,       // a resource record runs past the end or is malformed
  bad_opt,          // more than one OPT, OPT not at the root, or malformed options
  trailing_garbage, // bytes after the last record
};

const char* to_string(parse_error e);

/// What the data plane needs to know about a client query.
struct query_info {
  uint16_t id = 0;
  uint16_t flags = 0;
  wire_name qname;           // lower-cased
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;   // offset just past the question
  bool has_edns = false;
  uint16_t edns_udp_size = 0;
  uint8_t edns_version = 0;
  uint16_t edns_flags = 0;   // the DO bit lives here
  size_t opt_offset = 0;     // offset of the OPT record (its owner name byte)
  size_t opt_end = 0;        // offset just past the OPT record
  bool has_other_additional = false;  // TSIG, SIG(0) or anything else besides OPT
  bool has_identity_option = false;   // the client itself sent option 0x6942
};

/// Parses a query. Header checks that decide the reply (QR, opcode) are the caller's; this checks structure:
/// exactly one question, no answer/authority records, a well-formed additional section with at most one OPT.
parse_error parse_query(const uint8_t* msg, size_t size, query_info& out);

/// What the data plane needs to know about an upstream answer.
struct response_info {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  wire_name qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;
  bool has_edns = false;
  size_t opt_offset = 0;
  size_t opt_end = 0;
  uint32_t min_ttl = 0xFFFFFFFF;   // over answer and authority records (OPT excluded)
  bool has_soa = false;            // an SOA in the authority section
  uint32_t soa_negative_ttl = 0;   // min(SOA TTL, SOA MINIMUM), RFC 2308
  uint16_t answer_count = 0;
  std::vector<uint16_t> ttl_offsets;  // every TTL field except OPT's, for cache aging
};

/// Parses an answer fully (every record walked). `collect_ttls` fills ttl_offsets (only the cache needs them).
parse_error parse_response(const uint8_t* msg, size_t size, response_info& out, bool collect_ttls);

} // namespace roamd::net::dns
