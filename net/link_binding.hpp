#pragma once

#include <cstdint>
#include <string>

/// Sending a socket's packets out of one network link, whatever the routing table says: the way queries for a
/// VPN's domains reach the VPN's resolvers when the same address is also reachable (or routed) elsewhere.
namespace roamd::net {

/// Binds socket `fd` to link `name` (index `ifindex`): SO_BINDTODEVICE, or, when that is refused with EPERM
/// (no CAP_NET_RAW), IP_UNICAST_IF (IPv4, index in network byte order) or IPV6_UNICAST_IF. Call it before
/// bind()/connect(). Returns 0 or the errno value of the failure (ENODEV when `ifindex` is 0: no such link).
int bind_to_link(int fd, bool v6, const std::string& name, unsigned ifindex);

/// Sets SO_MARK `mark` on socket `fd` (nothing when `mark` is 0): roamd's own upstream traffic carries it so that
/// interception rules let it pass. Returns 0 or the errno value (EPERM without CAP_NET_ADMIN).
int set_socket_mark(int fd, uint32_t mark);

/// The index of link `name`, or 0 when there is none.
unsigned link_index(const std::string& name);

} // namespace roamd::net
