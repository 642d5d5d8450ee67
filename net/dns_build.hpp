#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "net/dns_codec.hpp"

/// Builders that write DNS messages into caller-provided buffers. Each returns the new size, or 0 when the result
/// would not fit in `cap` bytes. None allocates or throws.
namespace roamd::net::dns {

/// The EDNS0 option that carries the device identity: code 0x6942, length 15, "OpenDNS" + the 8-byte device id.
using identity_option = std::array<uint8_t, 19>;
identity_option make_identity_option(const std::array<uint8_t, 8>& device_id);

/// roamd's loop mark: an EDNS0 option from the local/experimental range (RFC 6891) carrying a random nonce of this
/// process, added to the queries that may come back to it (sent to a local proxy, or on behalf of an intercepted
/// client). Seen again on a query arriving at roamd, it proves a loop at its first turn. Resolvers ignore unknown
/// options; forwarders that pass options on (dnsmasq, another roamd) bring it back.
constexpr uint16_t loop_mark_code = 65432;
using loop_mark = std::array<uint8_t, 12>;  // code, length 8, the nonce
loop_mark make_loop_mark(uint64_t nonce);
/// Whether the query's OPT record carries `mark` (compared whole).
bool has_loop_mark(const uint8_t* msg, const query_info& q, const loop_mark& mark);

/// The UDP payload size roamd advertises in OPT records it creates itself (DNS flag day 2020).
constexpr uint16_t own_udp_size = 1232;

/// Writes the query to send upstream: the client's header and question with `new_id`; the client's OPT record kept
/// (DO bit, buffer size, version and every option) except any identity option the client sent itself; `identity`,
/// when non-null, appended to that OPT, or to a new OPT advertising `added_udp_size` when the client had none.
/// A query with additional records other than OPT (TSIG, SIG(0)) is copied unchanged apart from the ID, since
/// editing it would break its signature; `tagged` tells whether the identity went out. `mark`, when non-null, is
/// appended after the identity (an option already there from another agent stays).
size_t build_upstream_query(const uint8_t* query, size_t size, const query_info& q, uint16_t new_id,
                            const identity_option* identity, uint16_t added_udp_size, uint8_t* out, size_t cap,
                            bool& tagged, const loop_mark* mark = nullptr);

/// Writes an error reply (FORMERR, NOTIMP, SERVFAIL, REFUSED, or BADVERS with `extended` = 16) to a query. The
/// question is echoed when `with_question` (the caller parsed it); an OPT is added when the client sent one. The
/// opcode, RD and CD are echoed, AA, TC and AD never are; RA is set only for a query (opcode 0), so the NOTIMP to
/// another opcode has it clear, as unbound's has (BIND's also echoes RD and CD and clears AD).
size_t build_error_reply(const uint8_t* query, size_t size, const query_info& q, bool with_question,
                         uint16_t extended_rcode, uint8_t* out, size_t cap);

/// Removes the OPT record from a response when it is the last record (the usual place). Returns the new size;
/// the same size when there was no OPT or it was not last (then it is left in place).
size_t strip_trailing_opt(uint8_t* msg, size_t size, const response_info& r);

/// Appends an OPT record advertising `udp_size`, with the DO bit when `dnssec_ok`. Returns the new size or 0.
size_t append_opt(uint8_t* msg, size_t size, size_t cap, uint16_t udp_size, bool dnssec_ok);

/// Cuts a message down to header and question with TC set and no records, for a client whose buffer is too small.
/// Returns the new size (question_end).
size_t truncate_to_question(uint8_t* msg, size_t question_end);

/// Fits an answer to a UDP client of query `q`: unchanged when it fits client_udp_limit(q), else cut to header and
/// question (ending at `question_end`) with TC set, plus an OPT when the client sent one. The buffer must hold the
/// original message (the cut one with its OPT is always shorter). Returns the new size.
size_t fit_to_udp_client(uint8_t* msg, size_t size, size_t question_end, const query_info& q);

/// The largest UDP answer a client can take: 512 without EDNS, else its advertised size (at least 512).
inline size_t client_udp_limit(const query_info& q) {
  if (!q.has_edns)
    return max_udp_classic;
  return q.edns_udp_size < max_udp_classic ? max_udp_classic : q.edns_udp_size;
}

inline size_t fit_to_udp_client(uint8_t* msg, size_t size, size_t question_end, const query_info& q) {
  if (size <= client_udp_limit(q))
    return size;
  size = truncate_to_question(msg, question_end);
  if (q.has_edns)
    size = append_opt(msg, size, size + 11, own_udp_size, (q.edns_flags & edns_do) != 0);
  return size;
}

} // namespace roamd::net::dns
