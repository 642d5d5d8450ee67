// `roamctl queries`: what a person reads about each recent query, and the same in --json.
#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include "tools/roamctl/render.hpp"

using namespace roamd;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

void add_query(proto::RecentQueries& q, const std::string& route, const std::string& resolver, uint32_t rcode,
               const std::string& fallback) {
  auto* e = q.add_queries();
  e->set_client("192.0.2.10:40001");
  e->set_transport("udp");
  e->set_name("printer.home.arpa");
  e->set_qtype(1);
  e->set_rcode(rcode);
  e->set_source("upstream");
  e->set_route(route);
  e->set_resolver(resolver);
  e->set_nxdomain_fallback(fallback);
  e->set_latency_us(900);
}

} // namespace

TEST(render_queries, an_nxdomain_fallback_that_ran_is_told_with_the_resolver_whose_answer_the_client_got) {
  proto::InspectResponse r;
  auto& q = *r.mutable_queries();
  q.set_capacity(5);
  add_query(q, ".", "192.168.1.1:53", 0, "used");
  add_query(q, ".", "208.67.222.222:53", 3, "kept_nxdomain");
  add_query(q, "vpn.example", "10.8.0.1:53", 3, "kept_nxdomain");
  add_query(q, ".", "208.67.222.222:53", 3, "");
  auto lines = lines_of(roamctl::render_text(r, 0));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_NE(lines[1].find("NOERROR  upstream via . -> 192.168.1.1:53  fallback: used  900 us"), std::string::npos)
    << lines[1];
  EXPECT_NE(lines[2].find("NXDOMAIN  upstream via . -> 208.67.222.222:53  fallback: tried, kept the cloud's NXDOMAIN"),
            std::string::npos)
    << lines[2];
  EXPECT_NE(lines[3].find("via vpn.example -> 10.8.0.1:53  fallback: tried, kept the route's NXDOMAIN"),
            std::string::npos)
    << lines[3];
  EXPECT_EQ(lines[4].find("fallback"), std::string::npos) << "no fallback ran: " << lines[4];

  auto json = roamctl::render_json(r, false);
  EXPECT_NE(json.find(R"("resolver":"208.67.222.222:53","latency_us":900,"nxdomain_fallback":"kept_nxdomain")"),
            std::string::npos)
    << json;
  EXPECT_NE(json.find(R"("nxdomain_fallback":"")"), std::string::npos) << "always printed, empty when none ran";
}

TEST(render_routes, a_network_that_rewrites_nxdomain_is_named_as_no_fallback_with_the_evidence) {
  proto::InspectResponse r;
  auto& s = *r.mutable_routes();
  s.set_nxdomain_fallback("local-names");
  auto* def = s.add_routes();
  def->set_source("config");
  def->add_resolvers("208.67.222.222:53");
  def->add_fallback_resolvers("10.8.0.1:53");
  EXPECT_EQ(roamctl::render_text(r, 0).find("rewrite NXDOMAIN"), std::string::npos);
  s.set_nxdomain_rewriting("qzvhkwmrptxa.com \u2192 198.51.100.7");
  auto lines = lines_of(roamctl::render_text(r, 0));
  ASSERT_EQ(lines.size(), 4u) << roamctl::render_text(r, 0);
  EXPECT_EQ(lines[3], "The network's resolvers are no NXDOMAIN fallback: they rewrite NXDOMAIN (qzvhkwmrptxa.com \u2192 "
                      "198.51.100.7)");
}

TEST(render_adapters, each_links_dns_settings_follow_it_and_settings_of_a_link_gone_are_told_apart) {
  proto::InspectResponse r;
  auto& a = *r.mutable_adapters();
  auto* lan = a.add_links();
  lan->set_index(2);
  lan->set_name("lan0");
  lan->set_up(true);
  auto* tun = a.add_links();
  tun->set_index(5);
  tun->set_name("tun0");
  auto* by_index = a.add_dns();  // resolved names links by index
  by_index->set_name("ifindex 5");
  by_index->set_ifindex(5);
  by_index->mutable_settings()->add_nameservers("10.8.0.1");
  by_index->add_routing_domains("corp.example");
  by_index->add_routing_domains(".");
  auto* by_name = a.add_dns();  // NetworkManager's device
  by_name->set_name("lan0");
  by_name->set_link("lan0");
  by_name->mutable_settings()->add_nameservers("192.0.2.53");
  by_name->mutable_settings()->add_search("home.test");
  auto* gone = a.add_dns();
  gone->set_name("ifindex 9");
  gone->set_ifindex(9);
  gone->mutable_settings()->add_nameservers("198.51.100.53");
  auto lines = lines_of(roamctl::render_text(r, 0));
  ASSERT_GE(lines.size(), 6u);
  EXPECT_NE(lines[1].find("2: lan0"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2], "    dns: nameservers 192.0.2.53; search home.test");
  EXPECT_NE(lines[3].find("5: tun0"), std::string::npos) << lines[3];
  EXPECT_EQ(lines[4], "    dns: nameservers 10.8.0.1; search -; routing ~corp.example ~. (ifindex 5)");
  EXPECT_EQ(lines[5], "dns of ifindex 9 (no such link now): nameservers 198.51.100.53; search -");
}
