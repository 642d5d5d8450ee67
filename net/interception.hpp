#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/dns_build.hpp"
#include "net/dns_codec.hpp"
#include "net/routing_table.hpp"
#include "net/upstream.hpp"

/// The data plane's side of interception: queries the nftables rules redirected to roamd arrive on listeners of
/// their own, so that only they pay for finding out where they were meant to go, and roamd honours that server for
/// internal names (see worker::handle_query). The loop guard keeps queries that come back to roamd from circling.
namespace roamd::net {

/// Where a redirected query was meant to go: called on a worker's own thread with the transport, the listener's
/// local endpoint and the client's; nullopt when that is unknown (the flow was not redirected, or has expired).
using original_destination_fn = std::function<std::optional<boost::asio::ip::udp::endpoint>(
  bool tcp, const boost::asio::ip::udp::endpoint& local, const boost::asio::ip::udp::endpoint& peer)>;

/// Makes one original_destination_fn per worker (a lookup socket is not shared between threads).
using original_destination_factory = std::function<original_destination_fn()>;

/// Counts the questions roamd has in flight where a loop can close: queries that came in through interception, and
/// queries sent to a loopback resolver (a local proxy, which may forward them back to roamd). A query whose question
/// is already in flight `limit` times is taken to have come round again: every turn of a loop adds one, while
/// clients asking the same name at the same moment rarely add more than one or two. Shared by every worker (a
/// looping query can come back on another worker's socket); only these queries take the lock, never the plain path.
///
/// The queries it counts also carry roamd's loop mark (dns::loop_mark, a nonce of this guard): a forwarder that
/// passes options on brings it back, which proves a loop at its first turn, before any count would (and where a
/// forwarder that merges identical questions, as dnsmasq and unbound do, keeps the count from ever growing). Two
/// marks: one on queries sent to a local proxy, one on the rest. A proxy may rightly pass the first on to a server
/// of its choice, and roamd's rules redirect that back: not a loop while roamd sends it on to that server. Either
/// mark back on roamd's own listener, or the second back in any way, is one.
class loop_guard {
public:
  explicit loop_guard(uint32_t limit, uint64_t nonce = 0)
      : limit_(limit), mark_(dns::make_loop_mark(nonce)), proxy_mark_(dns::make_loop_mark(nonce ^ 1)) {
  }

  /// The mark for a query sent to a local proxy (`to_proxy`) or elsewhere.
  const dns::loop_mark& mark(bool to_proxy) const {
    return to_proxy ? proxy_mark_ : mark_;
  }

  /// Counts `q` in flight and returns its key, with `turns` set to how many times the question was in flight before
  /// (at or above `limit`: it came round again). At twice the limit nothing is counted any more (key 0): a query
  /// sent elsewhere after a loop that loops there too must end. limit 0 turns the guard off: turns stays 0 and
  /// nothing is counted.
  uint64_t enter(const dns::query_info& q, uint32_t& turns);

  uint32_t limit() const {
    return limit_;
  }

  /// The question with `key` (from enter) is no longer in flight. key 0 is ignored.
  void leave(uint64_t key);

  /// Questions in flight (all of them), for tests.
  size_t in_flight() const;

private:
  struct entry {
    std::string question;
    uint32_t count = 0;
  };
  uint32_t limit_;
  dns::loop_mark mark_;
  dns::loop_mark proxy_mark_;
  mutable std::mutex mtx_;
  std::unordered_multimap<uint64_t, entry> by_hash_;  // collisions kept apart by the question's bytes
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, std::pair<uint64_t, std::string>> keys_;  // key -> (hash, question)
};

/// The upstreams a worker asks for the server an intercepted client chose: the table's own upstream for that address
/// when a route has one (bound to its link, like the VPN's server learnt from tun0), else an unbound one from the
/// registry (the kernel's routes pick the link, as they did for the client). Per worker; cleared with each table.
class chosen_servers {
public:
  /// Addresses not in the table are registered only while the registry holds fewer upstreams than this (a local
  /// program asking thousands of made-up servers for internal names must not grow it without bound); beyond, null.
  static constexpr size_t registry_cap = 4096;

  explicit chosen_servers(std::shared_ptr<upstream_registry> registry) : registry_(std::move(registry)) {
  }

  using list = std::shared_ptr<const std::vector<std::shared_ptr<upstream>>>;

  /// A one-element resolver list for `server` under `table` (kept by the queries that use it), or null when the
  /// registry is at its cap.
  list get(const routing_table& table, const boost::asio::ip::udp::endpoint& server);

private:
  std::shared_ptr<upstream_registry> registry_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, list> by_server_;
};

} // namespace roamd::net
