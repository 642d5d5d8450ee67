#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/address.hpp>

/// The destination a client meant before the interception rules DNAT'd its DNS query to roamd: conntrack keeps both
/// directions of every NAT'd flow, so the reply tuple roamd sees (its own endpoint -> the client's) finds the
/// original tuple and with it the server the client chose. Works for UDP and TCP, IPv4 and IPv6, for rules that die
/// with roamd (an owned nftables table): no policy routing or transparent sockets are involved (TPROXY would need an
/// `ip rule` for locally generated traffic, which outlives a killed process).
namespace roamd::os {

struct flow_end {
  boost::asio::ip::address address;
  uint16_t port = 0;
};

class original_destination {
public:
  virtual ~original_destination() = default;

  /// The original destination of the flow whose packets reached roamd at `local` from `peer` (`tcp` or UDP) in
  /// conntrack zone `zone` (the interception rules put redirected flows in os::intercepted_zone); nullopt when
  /// conntrack has no such flow (the query was not redirected, or the entry already expired) or the lookup failed.
  virtual std::optional<flow_end> lookup(bool tcp, const flow_end& local, const flow_end& peer, uint16_t zone) = 0;

  /// Why the last lookup found nothing ("no such flow", the kernel's error, "no answer"); "" after a success.
  virtual std::string last_error() const = 0;
};

/// A conntrack netlink socket (libnetfilter_conntrack; needs CAP_NET_ADMIN). Not thread-safe: one per thread.
/// Returns null and sets `error` when the socket cannot be opened.
std::unique_ptr<original_destination> make_conntrack_lookup(std::string& error);

} // namespace roamd::os
