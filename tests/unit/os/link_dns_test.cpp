#include <gtest/gtest.h>

#include "os/link_dns.hpp"

using namespace roamd::os;
using strings = std::vector<std::string>;

// Captured from Debian 12's systemd-resolved 252 in the lab: lan0 (ifindex 2) with two servers (IPv4 and IPv6), a
// routing domain, a search domain and "~.".
constexpr const char* resolved_output =
  "a(iiay) 2 2 2 4 192 0 2 53 2 10 16 32 1 13 184 0 0 0 0 0 0 0 0 0 0 0 83\n"
  "a(isb) 3 2 \"corp.example\" true 2 \"home.example\" false 2 \".\" true\n";

TEST(ResolvedLinks, EveryLinksServersSearchAndRoutingDomainsByIndex) {
  auto links = parse_resolved_links(resolved_output);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].ifindex, 2u);
  EXPECT_EQ(links[0].name, "ifindex 2");
  EXPECT_EQ(links[0].settings.nameservers, (strings{"192.0.2.53", "2001:db8::53"}));
  EXPECT_EQ(links[0].settings.search, (strings{"home.example"}));
  EXPECT_EQ(links[0].routing, (strings{"corp.example", "."}));
}

TEST(ResolvedLinks, GlobalSettingsAreLeftOutAndLinksComeInIndexOrder) {
  // resolved 252 lists a global server on a loopback address (roamd's, from its drop-in) under lo's index.
  auto links = parse_resolved_links("a(iiay) 4 0 2 4 198 51 100 1 1 2 4 127 0 2 53 7 2 4 10 8 0 1 4 2 4 192 0 2 1\n"
                                    "a(isb) 2 0 \".\" true 7 \"Corp.Example.\" false\n");
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].ifindex, 4u);
  EXPECT_EQ(links[0].settings.nameservers, (strings{"192.0.2.1"}));
  EXPECT_EQ(links[1].ifindex, 7u);
  EXPECT_EQ(links[1].settings.nameservers, (strings{"10.8.0.1"}));
  EXPECT_EQ(links[1].settings.search, (strings{"corp.example"})) << "lower case, no trailing dot";
}

TEST(ResolvedLinks, LinkLocalServersKeepTheirLink) {
  auto links = parse_resolved_links("a(iiay) 1 5 10 16 254 128 0 0 0 0 0 0 0 0 0 0 0 0 0 1\n");
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].settings.nameservers, (strings{"fe80::1%5"}));
}

TEST(ResolvedLinks, EscapedAndMalformedOutputGivesWhatWasReadBeforeIt) {
  auto links = parse_resolved_links("a(isb) 2 3 \"a\\x2db.example\" false 3 \"unterminated true\n");
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].settings.search, (strings{"a-b.example"}));
  EXPECT_TRUE(parse_resolved_links("a(iiay) 1 3 2 4 192 0\n").empty()) << "truncated address";
  EXPECT_TRUE(parse_resolved_links("a(iiay) 1 3 2 9 1 2 3 4 5 6 7 8 9\n").empty()) << "IPv4 of 9 bytes";
  EXPECT_TRUE(parse_resolved_links("a(iiay) 99999999999999999999999 3\n").empty());
  EXPECT_TRUE(parse_resolved_links("Failed to get property DNS on interface org.freedesktop.resolve1.Manager: "
                                   "The name org.freedesktop.resolve1 was not provided by any .service files\n")
                .empty());
}

// Captured from Debian 12's NetworkManager 1.42 in the lab (the terse output of the command link_settings_command
// gives), plus a VPN device whose IP interface differs.
constexpr const char* nmcli_output = "GENERAL.DEVICE:lo\n"
                                     "GENERAL.IP-IFACE:lo\n"
                                     "\n"
                                     "GENERAL.DEVICE:lan0\n"
                                     "GENERAL.IP-IFACE:lan0\n"
                                     "IP4.DNS[1]:192.0.2.53\n"
                                     "IP4.DNS[2]:192.0.2.54\n"
                                     "IP4.SEARCHES[1]:home.test\n"
                                     "IP4.SEARCHES[2]:~corp.example\n"
                                     "\n"
                                     "GENERAL.DEVICE:wan0\n"
                                     "GENERAL.IP-IFACE:wan0\n"
                                     "IP4.DNS[1]:198.51.100.53\n"
                                     "IP4.DOMAIN[1]:Dhcp.Example\n"
                                     "IP6.DNS[1]:2001:db8::53\n"
                                     "IP6.SEARCHES[1]:v6.test\n"
                                     "\n"
                                     "GENERAL.DEVICE:corp\n"
                                     "GENERAL.IP-IFACE:vpn0\n"
                                     "IP4.DNS[1]:10.8.0.1\n"
                                     "IP4.SEARCHES[1]:~.\n";

TEST(NmcliDevices, EachDevicesServersSearchAndRoutingDomains) {
  auto devices = parse_nmcli_devices(nmcli_output);
  ASSERT_EQ(devices.size(), 3u) << "lo has nothing";
  EXPECT_EQ(devices[0].link, "lan0");
  EXPECT_EQ(devices[0].settings.nameservers, (strings{"192.0.2.53", "192.0.2.54"}));
  EXPECT_EQ(devices[0].settings.search, (strings{"home.test"}));
  EXPECT_EQ(devices[0].routing, (strings{"corp.example"}));
  EXPECT_EQ(devices[1].settings.nameservers, (strings{"198.51.100.53", "2001:db8::53"}));
  EXPECT_EQ(devices[1].settings.search, (strings{"dhcp.example", "v6.test"}));
  EXPECT_EQ(devices[2].name, "corp");
  EXPECT_EQ(devices[2].link, "vpn0") << "the IP interface is the link";
  EXPECT_EQ(devices[2].routing, (strings{"."}));
}

TEST(NmcliDevices, LinesBeforeAnyDeviceAndErrorsAreIgnored) {
  EXPECT_TRUE(parse_nmcli_devices("IP4.DNS[1]:192.0.2.1\nError: NetworkManager is not running.\n").empty());
  EXPECT_TRUE(parse_nmcli_devices("").empty());
}

TEST(LinkSettings, EachBackendHasItsListingAndTheFileNone) {
  EXPECT_EQ(link_settings_command(backend_kind::resolvconf), (strings{"resolvconf", "-l"}));
  EXPECT_EQ(link_settings_command(backend_kind::resolved).at(0), "busctl");
  EXPECT_EQ(link_settings_command(backend_kind::networkmanager).at(0), "nmcli");
  EXPECT_TRUE(link_settings_command(backend_kind::file).empty());
  EXPECT_EQ(parse_link_settings(backend_kind::resolved, resolved_output).size(), 1u);
  EXPECT_EQ(parse_link_settings(backend_kind::networkmanager, nmcli_output).size(), 3u);
  EXPECT_EQ(parse_link_settings(backend_kind::resolvconf, "# resolv.conf from tun0.inet\nnameserver 10.8.0.1\n")
              .at(0)
              .link,
            "tun0");
  EXPECT_TRUE(parse_link_settings(backend_kind::file, nmcli_output).empty());
}
