// The reference cloud's request handling as a pure function: registration (and the organisation check), the
// policy with ETags and conditional requests, bearer tokens, unknown devices, heartbeats, the injected faults,
// and devices persisted and restored. Randomness is a scripted source.
#include "tools/cloudsim/api.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "proto/json.hpp"

namespace roamd::cloudsim {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr const char* fingerprint = "0123456789abcdef0123456789abcdef";

proto::OrgInfo test_org() {
  proto::OrgInfo org;
  org.set_organization_id("2000001");
  org.set_fingerprint(fingerprint);
  org.set_user_id("3000001");
  return org;
}

proto::Policy test_policy(const std::string& revision) {
  proto::Policy p;
  p.set_revision(revision);
  p.add_internal_domains("corp.example");
  auto* r = p.add_resolvers();
  r->set_address("127.0.10.1:853");
  r->set_transport(proto::Policy::Resolver::DOT);
  r->set_tls_name("dns.cloud.test");
  p.set_fail_mode(proto::Policy::FAIL_CLOSED);
  p.set_sync_interval_s(300);
  return p;
}

/// Random bytes from a script: each call takes the next byte value and fills the buffer with it.
struct scripted_random {
  std::vector<unsigned char> values;
  size_t next = 0;
  void operator()(unsigned char* out, size_t n) {
    unsigned char v = next < values.size() ? values[next] : static_cast<unsigned char>(next);
    ++next;
    std::fill(out, out + n, v);
  }
};

struct api_fixture : ::testing::Test {
  scripted_random random;
  faults f;
  std::unique_ptr<cloud_api> api;

  void SetUp() override { make(); }
  void make() {
    api = std::make_unique<cloud_api>(test_org(), test_policy("r1"), f,
                                      [this](unsigned char* out, size_t n) { random(out, n); });
  }

  http_response call(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::string& authorization = "", const std::string& if_none_match = "") {
    return api->handle({method, target, authorization, if_none_match, body}, 1700000000);
  }

  std::string register_body(const std::string& org = "2000001", const std::string& fp = fingerprint) {
    return R"({"organizationId":")" + org + R"(","fingerprint":")" + fp +
           R"(","userId":"3000001","hostname":"laptop-7","os":"Debian 12","agentVersion":"0.1.0"})";
  }

  /// Registers and returns the answer (asserting 201).
  proto::RegisterResponse registered() {
    auto r = call("POST", "/v1/devices", register_body());
    EXPECT_EQ(r.status, 201) << r.body;
    proto::RegisterResponse out;
    EXPECT_EQ(proto::from_json(r.body, out), "");
    return out;
  }

  static std::string error_code(const http_response& r) {
    proto::ErrorBody e;
    return proto::from_json(r.body, e).empty() ? e.code() : "<not an ErrorBody: " + r.body + ">";
  }
};

TEST_F(api_fixture, registration_gives_a_device_id_and_token) {
  auto before = api->state_version();
  auto r = call("POST", "/v1/devices", register_body());
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  proto::RegisterResponse out;
  ASSERT_EQ(proto::from_json(r.body, out), "");
  EXPECT_EQ(out.device_id(), "0000000000000000");  // 8 bytes of the first random value, in lower-case hex
  std::string second_value;  // 32 bytes of the second random value
  for (int i = 0; i < 32; ++i)
    second_value += "01";
  EXPECT_EQ(out.device_token(), second_value);
  EXPECT_EQ(r.header("Location"), "/v1/devices/0000000000000000");
  EXPECT_EQ(api->state_version(), before + 1);
  auto state = api->state();
  ASSERT_EQ(state.devices_size(), 1);
  EXPECT_EQ(state.devices(0).hostname(), "laptop-7");
  EXPECT_EQ(state.devices(0).os(), "Debian 12");
  EXPECT_EQ(state.devices(0).registered_unix_s(), 1700000000);
}

TEST_F(api_fixture, device_ids_are_lower_case_hex_and_never_reused) {
  random.values = {0xab, 0x01, 0xab, 0xcd, 0x02};  // the second device's first id collides with the first's
  auto a = registered(), b = registered();
  EXPECT_EQ(a.device_id(), "abababababababab");
  EXPECT_EQ(b.device_id(), "cdcdcdcdcdcdcdcd");
  EXPECT_NE(a.device_token(), b.device_token());
}

TEST_F(api_fixture, proto_field_names_are_accepted_too) {
  auto r = call("POST", "/v1/devices", R"({"organization_id":"2000001","fingerprint":")" + std::string{fingerprint} +
                                           R"(","hostname":"h","futureField":1})");
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST_F(api_fixture, another_organisation_or_fingerprint_is_refused) {
  auto r = call("POST", "/v1/devices", register_body("2000002"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_code(r), "wrong_organization");
  r = call("POST", "/v1/devices", register_body("2000001", "0123456789abcdef0123456789abcdeF"));
  EXPECT_EQ(r.status, 403);
  r = call("POST", "/v1/devices", register_body("2000001", ""));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(api->state().devices_size(), 0);
}

TEST_F(api_fixture, bad_requests) {
  auto r = call("POST", "/v1/devices", "organizationId=2000001");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_code(r), "bad_request");
  r = call("POST", "/v1/devices", R"({"organizationId": 2000001})");  // a number where a string belongs
  EXPECT_EQ(r.status, 400);
  r = call("GET", "/v1/devices");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "POST");
  EXPECT_EQ(error_code(r), "method_not_allowed");
  r = call("GET", "/v2/devices");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_code(r), "not_found");
  EXPECT_EQ(call("GET", "/").status, 404);
  EXPECT_EQ(call("GET", "/v1/devices/0000000000000000/policy/x").status, 404);
}

TEST_F(api_fixture, policy_with_etag_and_conditional_requests) {
  auto dev = registered();
  auto path = "/v1/devices/" + dev.device_id() + "/policy";
  auto bearer = "Bearer " + dev.device_token();
  auto r = call("GET", path, "", bearer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("ETag"), "\"r1\"");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  proto::Policy got;
  ASSERT_EQ(proto::from_json(r.body, got), "");
  EXPECT_TRUE(MessageDifferencer::Equals(got, test_policy("r1")));

  for (const char* same : {"\"r1\"", "W/\"r1\"", "\"r0\", \"r1\"", " \"r0\",W/\"r1\" ", "*"}) {
    r = call("GET", path, "", bearer, same);
    EXPECT_EQ(r.status, 304) << same;
    EXPECT_EQ(r.body, "") << same;
    EXPECT_EQ(r.header("ETag"), "\"r1\"") << same;
  }
  for (const char* other : {"\"r0\"", "r1", "\"r1", "\"R1\""}) {
    r = call("GET", path, "", bearer, other);
    EXPECT_EQ(r.status, 200) << other;
  }
  EXPECT_EQ(call("GET", path + "?since=r0", "", bearer, "\"r1\"").status, 304);  // the query string is ignored

  api->set_policy(test_policy("r2"));
  r = call("GET", path, "", bearer, "\"r1\"");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("ETag"), "\"r2\"");
  EXPECT_EQ(call("GET", path, "", bearer, "\"r2\"").status, 304);
  EXPECT_EQ(call("POST", path, "{}", bearer).status, 405);
}

TEST_F(api_fixture, bearer_token_is_required) {
  auto dev = registered(), other = registered();
  auto path = "/v1/devices/" + dev.device_id() + "/policy";
  for (const std::string& auth : std::vector<std::string>{"", "Bearer", "Bearer ", "Basic " + dev.device_token(),
                                  "Bearer " + other.device_token(), "Bearer " + dev.device_token() + "0",
                                  "Bearer " + dev.device_token().substr(1)}) {
    auto r = call("GET", path, "", auth);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(error_code(r), "unauthorized") << auth;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"roamd\"") << auth;
  }
  EXPECT_EQ(call("GET", path, "", "bearer  " + dev.device_token() + " ").status, 200);
}

TEST_F(api_fixture, unknown_devices_get_404) {
  auto dev = registered();
  auto bearer = "Bearer " + dev.device_token();
  for (const char* id : {"1111111111111111", "0000000000000000x", "000000000000000", "ABABABABABABABAB", ""}) {
    auto r = call("GET", std::string{"/v1/devices/"} + id + "/policy", "", bearer);
    EXPECT_EQ(r.status, 404) << id;
    EXPECT_EQ(error_code(r), "unknown_device") << id;
  }
  f.forget_devices = true;
  auto state = api->state();
  make();
  api->restore(state);
  auto r = call("GET", "/v1/devices/" + dev.device_id() + "/policy", "", bearer);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_code(r), "unknown_device");
  EXPECT_EQ(call("POST", "/v1/devices/" + dev.device_id() + "/heartbeat", "{}", bearer).status, 404);
  EXPECT_EQ(call("POST", "/v1/devices", register_body()).status, 201);  // registering still works
}

TEST_F(api_fixture, heartbeats_are_kept_for_the_debug_endpoint) {
  auto dev = registered();
  auto path = "/v1/devices/" + dev.device_id() + "/heartbeat";
  auto bearer = "Bearer " + dev.device_token();
  auto r = call("POST", path, R"({"state":"protected by settings","uptimeS":"12","counters":{"queries":"5"}})",
                bearer);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(call("POST", path, R"({"deviceId":"1111111111111111"})", bearer).status, 400);
  EXPECT_EQ(call("POST", path, "not json", bearer).status, 400);
  EXPECT_EQ(call("GET", path, "", bearer).status, 405);
  EXPECT_EQ(call("POST", path, "{}", "Bearer x").status, 401);

  r = call("GET", "/v1/debug/heartbeats");
  ASSERT_EQ(r.status, 200);
  proto::HeartbeatLog log;
  ASSERT_EQ(proto::from_json(r.body, log), "");
  ASSERT_EQ(log.heartbeats_size(), 1);
  EXPECT_EQ(log.heartbeats(0).device_id(), dev.device_id());  // filled in from the path
  EXPECT_EQ(log.heartbeats(0).state(), "protected by settings");
  EXPECT_EQ(log.heartbeats(0).uptime_s(), 12u);
  EXPECT_EQ(log.heartbeats(0).counters().at("queries"), 5u);

  for (int i = 0; i < 100; ++i)
    call("POST", path, R"({"uptimeS":)" + std::to_string(i) + "}", bearer);
  ASSERT_EQ(proto::from_json(call("GET", "/v1/debug/heartbeats").body, log), "");
  ASSERT_EQ(log.heartbeats_size(), static_cast<int>(heartbeats_kept));
  EXPECT_EQ(log.heartbeats(0).uptime_s(), 100 - heartbeats_kept);  // oldest first
  EXPECT_EQ(log.heartbeats(heartbeats_kept - 1).uptime_s(), 99u);
  EXPECT_EQ(call("POST", "/v1/debug/heartbeats").status, 405);
}

TEST_F(api_fixture, injected_status) {
  f.status = 503;
  make();
  auto r = call("POST", "/v1/devices", register_body());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_code(r), "injected");
  EXPECT_EQ(call("GET", "/v1/devices/0000000000000000/policy").status, 503);
  EXPECT_EQ(call("GET", "/v1/debug/heartbeats").status, 200);  // the test endpoint is never faulted
  EXPECT_EQ(api->state().devices_size(), 0);
  f.status = 204;
  make();
  r = call("POST", "/v1/devices", register_body());
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(r.headers.empty());
}

TEST_F(api_fixture, injected_garbage_and_oversized_bodies) {
  f.garbage = true;
  make();
  auto r = call("POST", "/v1/devices", register_body());
  EXPECT_EQ(r.status, 200);
  proto::RegisterResponse out;
  EXPECT_NE(proto::from_json(r.body, out), "");

  f.garbage = false;
  f.oversized = true;
  make();
  r = call("POST", "/v1/devices", register_body());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), oversized_bytes);
  EXPECT_EQ(proto::from_json(r.body, out), "");  // valid JSON, just too big: a client must refuse it by its size
  EXPECT_EQ(out.device_id().size(), 16u);
  r = call("POST", "/v1/devices/" + out.device_id() + "/heartbeat", "{}", "Bearer " + out.device_token());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), oversized_bytes);
}

TEST_F(api_fixture, devices_survive_a_restart_through_the_state) {
  auto dev = registered();
  auto state = api->state();
  auto* bad = state.add_devices();  // entries that cannot be a device are skipped
  bad->set_device_id("xyz");
  bad->set_device_token("t");
  state.add_devices()->set_device_id("1111111111111111");  // no token
  make();
  EXPECT_EQ(api->restore(state), 1u);
  EXPECT_EQ(call("GET", "/v1/devices/" + dev.device_id() + "/policy", "", "Bearer " + dev.device_token()).status,
            200);
}

TEST(cloud_policy, revision_must_make_an_etag) {
  EXPECT_EQ(policy_problem(test_policy("r1")), "");
  EXPECT_EQ(policy_problem(test_policy("2024-05-01T10:00:00Z/7")), "");
  EXPECT_NE(policy_problem(test_policy("")), "");
  EXPECT_NE(policy_problem(test_policy("a\"b")), "");
  EXPECT_NE(policy_problem(test_policy("a b")), "");
  EXPECT_NE(policy_problem(test_policy("a\nb")), "");
  EXPECT_EQ(policy_etag(test_policy("r7")), "\"r7\"");
}

TEST(cloud_etag, matching) {
  EXPECT_TRUE(etag_matches("\"a\"", "\"a\""));
  EXPECT_TRUE(etag_matches("\"b\", \"a\"", "\"a\""));
  EXPECT_TRUE(etag_matches("W/\"a\"", "\"a\""));
  EXPECT_TRUE(etag_matches("*", "\"a\""));
  EXPECT_FALSE(etag_matches("", "\"a\""));
  EXPECT_FALSE(etag_matches("\"ab\"", "\"a\""));
  EXPECT_FALSE(etag_matches(",", "\"a\""));
}

} // namespace
} // namespace roamd::cloudsim
