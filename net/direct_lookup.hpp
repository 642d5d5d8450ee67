#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

/// Looking a name up at given resolvers, bypassing the system's resolver and roamd's own routes: the network-state
/// detection asks the network's own resolvers whether a name resolves (a trusted domain, a protected-network
/// probe). Rare control-plane traffic, never on the per-query path.
namespace roamd::net {

struct direct_answer {
  bool ok = false;                     // some resolver answered NOERROR with at least one address
  std::vector<std::string> addresses;  // A then AAAA, as text
  std::string error;                   // why not ("timed out after 1000 ms", "NXDOMAIN from 192.0.2.1:53", ...)
  bool nxdomain = false;               // the (last) resolver asked answered NXDOMAIN
};

/// Writes a recursive query for `name` (text, no trailing dot needed) of type `qtype` with `id`. Returns the size,
/// or 0 when the name is not a valid domain name or `cap` is too small.
size_t build_lookup_query(const std::string& name, uint16_t qtype, uint16_t id, uint8_t* out, size_t cap);

/// Reads an answer to the query with `id`: nullopt when it is not one (too short, another ID, not a response,
/// malformed); else its rcode and the A/AAAA addresses of its answer section. Never reads past `size`.
struct parsed_answer {
  uint8_t rcode = 0;
  std::vector<std::string> addresses;
};
std::optional<parsed_answer> parse_lookup_answer(const uint8_t* msg, size_t size, uint16_t id);

/// Asks the plain-DNS `resolvers` ("IP:PORT"; others are skipped) in turn for A and AAAA records of `name`, each
/// within `timeout`, on a thread of its own, and calls `done` once from that thread. `socket_mark` (non-zero) is
/// set on the socket, so that interception rules exempt it like roamd's other upstream traffic.
void direct_lookup(const std::string& name, const std::vector<std::string>& resolvers, std::chrono::milliseconds timeout,
                   uint32_t socket_mark, std::function<void(direct_answer)> done);

} // namespace roamd::net
