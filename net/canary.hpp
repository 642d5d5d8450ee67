#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "net/dns_codec.hpp"

/// Canary names: a takeover of the system's DNS settings is verified by resolving, through the system resolver,
/// a unique name that only roamd answers. Pure functions, no I/O.
///
/// Under `canary.roamd.arpa` (class IN, case-insensitive) roamd answers locally, never from the cache and never
/// upstream: `<label>.canary.roamd.arpa` has one A record, canary_address(label), with TTL 0 (other types: NODATA);
/// the suffix itself is an empty non-terminal (NODATA); every deeper name is NXDOMAIN.
namespace roamd::net {

/// The domain under which roamd answers canary queries itself.
constexpr std::string_view canary_suffix = "canary.roamd.arpa";

/// A fresh canary name for `nonce`: 16 lower-case hex digits, then ".canary.roamd.arpa".
std::string canary_name(uint64_t nonce);

/// The address roamd answers for `<first_label>.canary.roamd.arpa`: 127.a.b.c, where a, b and c are the three low
/// bytes (most significant first) of the FNV-1a-64 hash of the lower-cased label. Nullopt for an empty label or
/// one longer than 63 bytes (not a DNS label).
std::optional<std::array<uint8_t, 4>> canary_address(std::string_view first_label);

/// Where a query name stands relative to the canary suffix.
enum class canary_match : uint8_t {
  none,   // not at or under canary.roamd.arpa
  leaf,   // exactly one label under it: answered with canary_address
  apex,   // canary.roamd.arpa itself: NODATA
  deeper, // two or more labels under it: NXDOMAIN
};

namespace detail {
/// "\6canary\5roamd\4arpa\0": the suffix in wire format.
constexpr uint8_t canary_wire[] = {6, 'c', 'a', 'n', 'a', 'r', 'y', 5, 'r', 'o', 'a', 'm', 'd', 4, 'a', 'r', 'p', 'a', 0};
} // namespace detail

/// A cheap first test for the per-query path: the (lower-cased) name ends with the suffix's wire bytes. A name
/// that passes may still not be under the suffix (a label could contain those bytes): match_canary decides.
inline bool may_be_canary(const dns::wire_name& qname) {
  constexpr size_t n = sizeof(detail::canary_wire);
  return qname.size >= n && std::memcmp(qname.bytes.data() + qname.size - n, detail::canary_wire, n) == 0;
}

/// Classifies a lower-cased wire name (as in query_info). For `leaf`, `label` is set to the first label's bytes
/// (pointing into `qname`).
canary_match match_canary(const dns::wire_name& qname, std::string_view& label);

/// Writes roamd's own answer to a canary query `q` (already parsed; match_canary(q.qname) != none, class IN):
/// the client's ID, opcode, RD and CD bits and question (its spelling), QR, AA and RA set; NOERROR with one A
/// record (TTL 0) for a leaf A query, NOERROR without records for other types and for the apex, NXDOMAIN for
/// deeper names; an OPT record (roamd's buffer size, the client's DO bit) when the client sent one. Returns the
/// size, or 0 when it does not fit in `cap`.
size_t build_canary_reply(const uint8_t* query, size_t size, const dns::query_info& q, canary_match match,
                          std::string_view label, uint8_t* out, size_t cap);

} // namespace roamd::net
