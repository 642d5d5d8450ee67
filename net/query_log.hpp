#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <sys/socket.h>

namespace roamd::net {

namespace dns {
struct query_info;
}
struct upstream;

/// How a client's query was answered.
enum class answer_source : uint8_t {
  cache,     // from the shared cache
  upstream,  // relayed from a resolver (after the NXDOMAIN fallback, when one ran)
  local,     // by roamd itself (canary names)
  error,     // an error roamd made: SERVFAIL (no resolver answered, overload, no route), FORMERR, NOTIMP, BADVERS
};

const char* to_string(answer_source s);

/// What the NXDOMAIN fallback did for an answer relayed from upstream.
enum class fallback_result : uint8_t {
  not_run,  // the route's resolvers' answer was not NXDOMAIN, or the route has no fallback resolvers
  used,     // they said NXDOMAIN and a fallback resolver's answer (NOERROR) was relayed
  kept,     // they said NXDOMAIN, and so did the fallback (or it failed): their NXDOMAIN was relayed
};

/// "" (not_run), "used" or "kept_nxdomain".
const char* to_string(fallback_result r);

/// One event of the per-query path, as an observer sees it. Every pointer is valid only during the call.
struct query_event {
  enum kind_t : uint8_t {
    query,     // a client's query arrived (before it is parsed: `message` may be malformed)
    response,  // an answer left for the client
  } kind = query;
  answer_source source = answer_source::error;  // response only
  bool tcp = false;
  uint32_t worker = 0;
  const sockaddr* client = nullptr;  // the client's address and port
  socklen_t client_len = 0;
  const sockaddr* server = nullptr;  // the listener's address and port
  socklen_t server_len = 0;
  const uint8_t* message = nullptr;  // the client's query (query) or the answer sent (response), wire format
  size_t size = 0;
  const dns::query_info* question = nullptr;  // response only; null when the query's question did not parse
  std::chrono::system_clock::time_point query_time;
  std::chrono::system_clock::time_point response_time;  // response only
  std::string_view route;           // response from upstream: the route's domain ("" for the default route)
  const upstream* resolver = nullptr;  // response from upstream: the resolver whose answer the client got
  fallback_result fallback = fallback_result::not_run;  // response from upstream: what the NXDOMAIN fallback did
};

/// Sees every client query and answer of the data plane (dnstap, the recent-queries ring). Called on the workers'
/// threads, concurrently from different workers, never twice at once for the same worker index; must not block
/// (a full queue drops and counts). Absent (no observer configured), the per-query path pays nothing but a branch.
class query_observer {
public:
  virtual ~query_observer() = default;
  virtual void observe(const query_event& e) noexcept = 0;
  /// False when only responses are wanted (their events then carry no query message).
  virtual bool wants_queries() const noexcept {
    return true;
  }
};

} // namespace roamd::net
