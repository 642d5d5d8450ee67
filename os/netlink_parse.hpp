#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "os/adapter_model.hpp"

/// rtnetlink bytes as data: a pure, bounds-checked walk over a buffer of netlink messages that applies link, address
/// and route messages to an `adapter_model`. No I/O and no exceptions; headers are copied out with memcpy, never
/// cast from the packet, and a message that is not exactly what the kernel sends is counted and skipped.
namespace roamd::os {

/// The end of a request: NLMSG_DONE of a dump, or NLMSG_ERROR (an error or, with `error == 0`, an ack).
struct nl_reply {
  std::uint32_t seq = 0;
  bool done = false;       // NLMSG_DONE (else NLMSG_ERROR)
  int error = 0;           // a positive errno, 0 for success
};

/// What one buffer of messages did to the model.
struct nl_batch {
  std::size_t messages = 0;   // well-formed messages seen
  std::size_t malformed = 0;  // messages (or trailing bytes) skipped as malformed
  std::size_t ignored = 0;    // well-formed but not tracked (other families, route types, cloned routes, ...)
  bool changed = false;       // the model changed
  bool routes_stale = false;  // a link or address left, or a link went down or lost carrier: routes may have
                              // gone without RTM_DELROUTE, so they need a new dump
  bool overrun = false;       // NLMSG_OVERRUN: events were lost
  std::vector<nl_reply> replies;          // NLMSG_DONE and NLMSG_ERROR, in order
  std::vector<std::uint32_t> interrupted; // sequence numbers of dump messages flagged NLM_F_DUMP_INTR
};

/// Applies every message in `data[0, size)` to `model`. Walks like NLMSG_OK/NLMSG_NEXT, but a header whose length
/// is too small or runs past the buffer ends the walk (the rest cannot be framed) and counts as malformed.
nl_batch apply_netlink(const std::uint8_t* data, std::size_t size, adapter_model& model);

/// A dump request (RTM_GETLINK, RTM_GETADDR or RTM_GETROUTE for all families) with sequence number `seq`.
std::vector<std::uint8_t> make_dump_request(nl_table table, std::uint32_t seq);

} // namespace roamd::os
