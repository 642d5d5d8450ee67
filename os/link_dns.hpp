#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "os/resolv_conf.hpp"
#include "os/resolver_plan.hpp"

/// The DNS settings a resolver manager holds per link (what a DHCP lease, a VPN client or an operator gave each
/// interface), read through the manager's own command-line client so that roamd needs no D-Bus library:
///   resolvconf (openresolv)  `resolvconf -l`
///   resolved                 `busctl get-property` of org.freedesktop.resolve1.Manager's DNS and Domains (D-Bus;
///                            one call lists every link's servers and domains, by ifindex)
///   networkmanager           `nmcli -t device show` (each device's IPv4/IPv6 DNS, search and ~routing domains)
/// Pure parsers; the enforcer runs the command.
namespace roamd::os {

/// The command that lists the per-link settings `backend` holds (empty: the plain file holds none).
std::vector<std::string> link_settings_command(backend_kind backend);

/// Parses that command's output. Links without a server and without a domain are left out; so are resolved's
/// global settings (ifindex 0: its configuration files, roamd's own drop-in among them). Malformed output gives what
/// could be read before it, never an exception. (resolved lists a global server on a loopback address, roamd's own,
/// under ifindex 1, lo's: left out too.)
std::vector<interface_settings> parse_link_settings(backend_kind backend, std::string_view output);

/// resolved: `busctl get-property ... DNS Domains` (two lines: "a(iiay) N IFINDEX FAMILY LEN BYTES..." and
/// "a(isb) N IFINDEX \"DOMAIN\" ROUTE_ONLY..."). Links are named "ifindex N" until the caller maps the index.
std::vector<interface_settings> parse_resolved_links(std::string_view output);

/// NetworkManager: `nmcli -t -f GENERAL.DEVICE,GENERAL.IP-IFACE,IP4.DNS,IP4.SEARCHES,IP4.DOMAIN,IP6.DNS,IP6.SEARCHES,
/// IP6.DOMAIN device show` ("GENERAL.DEVICE:lan0", "IP4.DNS[1]:192.0.2.53", "IP4.SEARCHES[2]:~corp.example", ...).
std::vector<interface_settings> parse_nmcli_devices(std::string_view output);

} // namespace roamd::os
