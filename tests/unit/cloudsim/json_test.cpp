// The cloud API's JSON: every message round-trips through protobuf's JSON mapping, names are lowerCamelCase,
// defaults are written, Umbrella's OrgInfo.json parses (with its BOM and unknown keys), and the files are written
// whole with the asked permissions.
#include "proto/json.hpp"

#include <fstream>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/cloud.pb.h"
#include "tests/unit/os/temp_dir.hpp"

namespace roamd::cloudsim {
namespace {

using google::protobuf::util::MessageDifferencer;

template <class M>
void expect_round_trip(const M& msg) {
  auto text = proto::to_json(msg);
  M back;
  ASSERT_EQ(proto::from_json(text, back), "") << text;
  EXPECT_TRUE(MessageDifferencer::Equals(msg, back)) << text << "\nread back as\n" << back.DebugString();
}

TEST(cloud_json, org_info_as_umbrella_writes_it) {
  // Umbrella's OrgInfo.json as its deployment tool writes it: indented, a byte order mark, keys we do not use.
  const std::string file = "\xEF\xBB\xBF{\r\n    \"organizationId\" : \"2000001\",\r\n"
                           "    \"fingerprint\" : \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\",\r\n"
                           "    \"userId\" : \"3000001\",\r\n    \"deploymentId\" : \"x\"\r\n}\r\n";
  proto::OrgInfo org;
  ASSERT_EQ(proto::from_json(file, org), "");
  EXPECT_EQ(org.organization_id(), "2000001");
  EXPECT_EQ(org.fingerprint(), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
  EXPECT_EQ(org.user_id(), "3000001");
  ASSERT_EQ(proto::from_json(R"({"organization_id":"7","fingerprint":"f","user_id":"8"})", org), "");
  EXPECT_EQ(org.organization_id(), "7");
  EXPECT_EQ(org.user_id(), "8");
  expect_round_trip(org);
}

TEST(cloud_json, bad_json_is_refused_with_a_reason) {
  proto::OrgInfo org;
  EXPECT_NE(proto::from_json("", org), "");
  EXPECT_NE(proto::from_json("<html>", org), "");
  EXPECT_NE(proto::from_json(R"({"organizationId": 2000001})", org), "");  // a number is not a string
  EXPECT_NE(proto::from_json(R"({"organizationId": "2000001")", org), "");
  EXPECT_NE(proto::from_json(R"(["organizationId"])", org), "");
}

TEST(cloud_json, every_message_round_trips) {
  proto::RegisterRequest reg;
  reg.set_organization_id("2000001");
  reg.set_fingerprint("f");
  reg.set_user_id("3000001");
  reg.set_hostname("laptop-7");
  reg.set_os("Debian GNU/Linux 12 (bookworm)");
  reg.set_agent_version("0.1.0");
  expect_round_trip(reg);

  proto::RegisterResponse res;
  res.set_device_id("0123456789abcdef");
  res.set_device_token(std::string(64, 'a'));
  expect_round_trip(res);

  proto::Policy p;
  p.set_revision("2024-05-01/7");
  p.add_internal_domains("corp.example");
  p.add_internal_domains("lab.example");
  auto* r = p.add_resolvers();
  r->set_address("[2001:db8::53]:443");
  r->set_transport(proto::Policy::Resolver::DOH);
  r->set_tls_name("doh.cloud.test");
  r->set_doh_path("/dns-query");
  r->set_spki_pin_sha256("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  p.add_resolvers()->set_address("208.67.222.222:53");
  p.set_transport_mode(proto::Policy::ENCRYPTED_ONLY);
  p.set_fail_mode(proto::Policy::FAIL_CLOSED);
  p.mutable_protected_probe()->set_name("probe.cloud.test");
  p.mutable_protected_probe()->set_expect_address("146.112.255.155");
  p.set_trusted_network_domain("trusted.corp.example");
  p.set_sync_interval_s(3600);
  p.set_sync_jitter_s(300);
  expect_round_trip(p);

  proto::Heartbeat hb;
  hb.set_device_id("0123456789abcdef");
  hb.set_state("yielded");
  hb.set_reason("a VPN owns the settings");
  hb.set_agent_version("0.1.0");
  hb.set_uptime_s(86400);
  (*hb.mutable_counters())["queries"] = 18446744073709551615u;  // beyond a double's 53 bits: a JSON string
  (*hb.mutable_counters())["servfail_sent"] = 0;
  hb.set_policy_revision("2024-05-01/7");
  expect_round_trip(hb);
  EXPECT_NE(proto::to_json(hb).find(R"("queries":"18446744073709551615")"), std::string::npos) << proto::to_json(hb);

  proto::ErrorBody e;
  e.set_code("unknown_device");
  e.set_message("register again");
  expect_round_trip(e);

  proto::CloudState s;
  auto* d = s.add_devices();
  d->set_device_id("0123456789abcdef");
  d->set_device_token("t");
  d->set_registered_unix_s(1700000000);
  expect_round_trip(s);
  proto::HeartbeatLog log;
  *log.add_heartbeats() = hb;
  expect_round_trip(log);
}

TEST(cloud_json, names_are_lower_camel_case_and_defaults_are_written) {
  proto::Policy p;
  p.set_revision("r1");
  p.add_resolvers()->set_address("127.0.0.1:53");
  auto text = proto::to_json(p);
  for (const char* part : {R"("revision":"r1")", R"("internalDomains":[])",
                           R"("transportMode":"TRANSPORT_MODE_UNSPECIFIED")", R"("failMode":"FAIL_MODE_UNSPECIFIED")",
                           R"("transport":"TRANSPORT_UNSPECIFIED")", R"("tlsName":"")", R"("spkiPinSha256":"")",
                           R"("trustedNetworkDomain":"")", R"("syncIntervalS":0)", R"("syncJitterS":0)"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " not in " << text;
  EXPECT_EQ(text.find("internal_domains"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << "one line";

  proto::Policy q;  // enums are read by name, uint64 from strings or numbers
  ASSERT_EQ(proto::from_json(R"({"revision":"r","transportMode":"ENCRYPTED_WITH_FALLBACK",
                          "resolvers":[{"address":"1.2.3.4:853","transport":"DOT"}]})", q), "");
  EXPECT_EQ(q.transport_mode(), proto::Policy::ENCRYPTED_WITH_FALLBACK);
  EXPECT_EQ(q.resolvers(0).transport(), proto::Policy::Resolver::DOT);
  proto::Heartbeat hb;
  ASSERT_EQ(proto::from_json(R"({"uptimeS": 5, "counters": {"a": 1, "b": "2"}})", hb), "");
  EXPECT_EQ(hb.uptime_s(), 5u);
  EXPECT_EQ(hb.counters().at("b"), 2u);
  // A name from a newer cloud is read as "unspecified" (the agent keeps its own setting), never as a weaker one.
  ASSERT_EQ(proto::from_json(R"({"transportMode":"SOMETIMES","failMode":"FAIL_LATER",
                          "resolvers":[{"transport":"DOQ"}]})", q), "");
  EXPECT_EQ(q.transport_mode(), proto::Policy::TRANSPORT_MODE_UNSPECIFIED);
  EXPECT_EQ(q.fail_mode(), proto::Policy::FAIL_MODE_UNSPECIFIED);
  EXPECT_EQ(q.resolvers(0).transport(), proto::Policy::Resolver::TRANSPORT_UNSPECIFIED);
}

TEST(cloud_json, files_are_written_whole_with_their_mode) {
  test::temp_dir dir{"cloudsim-json"};
  ASSERT_FALSE(dir.path.empty());
  auto path = dir.path + "/state.json";
  std::ofstream{path} << "old";
  ::chmod(path.c_str(), 0644);
  proto::CloudState s;
  s.add_devices()->set_device_token("secret");
  ASSERT_EQ(proto::write_json_file(path, s, 0600), "");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);
  proto::CloudState back;
  ASSERT_EQ(proto::read_json_file(path, back), "");
  EXPECT_TRUE(MessageDifferencer::Equals(s, back));

  auto why = proto::read_json_file(dir.path + "/missing.json", back);
  EXPECT_NE(why.find("missing.json: cannot read"), std::string::npos) << why;
  std::ofstream{dir.path + "/bad.json"} << "{";
  why = proto::read_json_file(dir.path + "/bad.json", back);
  EXPECT_NE(why.find("bad.json: not a CloudState in JSON"), std::string::npos) << why;
  why = proto::write_json_file(dir.path + "/no/such/dir.json", s, 0600);
  EXPECT_NE(why.find("cannot create"), std::string::npos) << why;
}

} // namespace
} // namespace roamd::cloudsim
