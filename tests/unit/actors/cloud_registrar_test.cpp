// The cloud registrar on CAF's test coordinator (virtual time, scripted HTTP answers, an in-memory file system),
// and the pure policy functions behind it.

#include <deque>

#include <caf/send.hpp>
#include <gtest/gtest.h>

#include "actor_test_util.hpp"
#include "actors/cloud_policy.hpp"
#include "actors/cloud_registrar.hpp"
#include "proto/json.hpp"
#include "tests/fakes/fake_file_system.hpp"

namespace roamd::actors {
namespace {

using namespace std::chrono_literals;

constexpr char org_path[] = "/etc/roamd/OrgInfo.json";
constexpr char state_dir[] = "/var/lib/roamd";
constexpr char device[] = "0123456789abcdef";

proto::Policy policy(const std::string& revision, const std::string& resolver = "192.0.2.10:53") {
  proto::Policy p;
  p.set_revision(revision);
  p.add_internal_domains("corp.example");
  auto* r = p.add_resolvers();
  r->set_address(resolver);
  r->set_transport(proto::Policy::Resolver::PLAIN);
  return p;
}

// --- pure functions ------------------------------------------------------------------------------------------

TEST(CloudPolicy, ResolversFollowTheTransportMode) {
  proto::Policy p = policy("r1");
  auto* dot = p.add_resolvers();
  dot->set_address("192.0.2.20");
  dot->set_transport(proto::Policy::Resolver::DOT);
  dot->set_tls_name("dns.cloud.test");
  EXPECT_EQ(usable_resolvers(p, proto::Policy::ENCRYPTED_WITH_FALLBACK),
            (std::vector<std::string>{"tls://192.0.2.20:853#dns.cloud.test", "192.0.2.10:53"}));
  EXPECT_EQ(usable_resolvers(p, proto::Policy::PLAIN), (std::vector<std::string>{"192.0.2.10:53"}));
  p.set_transport_mode(proto::Policy::ENCRYPTED_ONLY);  // the policy's mode wins over the configured one
  EXPECT_EQ(usable_resolvers(p, proto::Policy::PLAIN), (std::vector<std::string>{"tls://192.0.2.20:853#dns.cloud.test"}));
}

TEST(CloudPolicy, DohResolversBecomeHttpsUrls) {
  proto::Policy::Resolver r;
  r.set_address("192.0.2.30");
  r.set_transport(proto::Policy::Resolver::DOH);
  r.set_tls_name("doh.cloud.test");
  std::string why;
  EXPECT_EQ(resolver_text(r, why), "https://192.0.2.30:443/dns-query#doh.cloud.test") << why;
  r.set_address("[2001:db8::30]:8443");
  r.set_doh_path("/q");
  r.set_spki_pin_sha256("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
  EXPECT_EQ(resolver_text(r, why), "https://[2001:db8::30]:8443/q#doh.cloud.test;pin-sha256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
      << why;
  r.set_doh_path("no-slash");
  EXPECT_EQ(resolver_text(r, why), "");
  EXPECT_NE(why.find("DoH path 'no-slash'"), std::string::npos) << why;
}

TEST(CloudPolicy, ProblemsAreNamed) {
  auto bad = [](auto edit) {
    proto::Policy p = policy("r1");
    edit(p);
    return policy_problem(p, proto::Policy::ENCRYPTED_WITH_FALLBACK);
  };
  EXPECT_EQ(bad([](proto::Policy&) {}), "");
  EXPECT_EQ(bad([](proto::Policy& p) { p.clear_revision(); }), "the policy has no revision");
  EXPECT_NE(bad([](proto::Policy& p) { p.set_revision("a\"b"); }).find("revision"), std::string::npos);
  EXPECT_EQ(bad([](proto::Policy& p) { p.add_internal_domains("bad..name"); }),
            "internal domain 'bad..name' is not a domain name");
  EXPECT_EQ(bad([](proto::Policy& p) { p.mutable_resolvers(0)->set_address("not-an-ip:53"); }),
            "resolver address 'not-an-ip:53' is not IP:PORT");
  EXPECT_EQ(bad([](proto::Policy& p) { p.set_transport_mode(proto::Policy::ENCRYPTED_ONLY); }),
            "no resolver of the policy is usable with transport mode encrypted-only");
  EXPECT_EQ(bad([](proto::Policy& p) { p.mutable_protected_probe()->set_name("probe.cloud.test"); }),
            "the protected-network probe needs both a name and an expected address");
  EXPECT_EQ(bad([](proto::Policy& p) {
              p.mutable_protected_probe()->set_name("probe.cloud.test");
              p.mutable_protected_probe()->set_expect_address("192.0.2.999");
            }),
            "protected-network probe address '192.0.2.999' is not an IP address");
  EXPECT_EQ(bad([](proto::Policy& p) { p.set_sync_interval_s(10); }), "sync interval 10 s is outside 60 s to a week");
  EXPECT_NE(bad([](proto::Policy& p) {
              auto* r = p.add_resolvers();
              r->set_address("192.0.2.30");
              r->set_transport(proto::Policy::Resolver::DOT);
              r->set_spki_pin_sha256("not base64!");
            }).find("pin"),
            std::string::npos);
  // A transport this agent does not know (a newer cloud's) is skipped, not refused.
  EXPECT_EQ(bad([](proto::Policy& p) { p.add_resolvers()->set_address("192.0.2.40:53"); }), "");
}

TEST(CloudPolicy, RouteUpdateCarriesIdentityResolversAndLocalDomains) {
  auto p = policy("r1");
  auto u = to_route_update(device, &p, proto::Policy::ENCRYPTED_WITH_FALLBACK);
  EXPECT_EQ(u.source(), "cloud");
  EXPECT_EQ(u.device_id(), std::string("\x01\x23\x45\x67\x89\xab\xcd\xef", 8));
  ASSERT_EQ(u.routes_size(), 2);
  EXPECT_EQ(u.routes(0).domain(), "");
  EXPECT_TRUE(u.routes(0).tag_identity());
  EXPECT_EQ(u.routes(0).resolvers(0), "192.0.2.10:53");
  EXPECT_EQ(u.routes(1).domain(), "corp.example");
  EXPECT_TRUE(u.routes(1).local());
  EXPECT_EQ(to_route_update(device, nullptr, proto::Policy::PLAIN).routes_size(), 0);
}

TEST(CloudPolicy, BackoffDoublesUpToTheCapAndSpreads) {
  EXPECT_EQ(backoff_delay(1, 5s, 60s, 1.0), 5s);
  EXPECT_EQ(backoff_delay(2, 5s, 60s, 1.0), 10s);
  EXPECT_EQ(backoff_delay(4, 5s, 60s, 1.0), 40s);
  EXPECT_EQ(backoff_delay(5, 5s, 60s, 1.0), 60s);
  EXPECT_EQ(backoff_delay(40, 5s, 60s, 1.0), 60s);
  EXPECT_EQ(backoff_delay(2, 5s, 60s, 0.0), 5s);  // spread over [half, full]
  EXPECT_EQ(sync_delay(3600s, 1200s, 0.0), 3600s);
  EXPECT_EQ(sync_delay(3600s, 1200s, 0.5), 4200s);
}

TEST(CloudPolicy, RegistrationAndOrgProblems) {
  proto::RegisterResponse r;
  r.set_device_id("0123456789ABCDEF");
  r.set_device_token("t");
  EXPECT_NE(registration_problem(r.device_id(), r.device_token()), "");
  r.set_device_id(device);
  EXPECT_EQ(registration_problem(r.device_id(), r.device_token()), "");
  r.set_device_token("");
  EXPECT_NE(registration_problem(r.device_id(), r.device_token()), "");
  proto::OrgInfo org;
  EXPECT_EQ(org_problem(org), "no organizationId");
  org.set_organization_id("2000001");
  EXPECT_EQ(org_problem(org), "no fingerprint");
  org.set_fingerprint("f");
  EXPECT_EQ(org_problem(org), "");
}

// --- the actor -----------------------------------------------------------------------------------------------

struct scripted_http {
  struct call {
    net::https_request req;
    std::function<void(net::https_response)> done;
  };
  std::deque<call> calls;

  http_fn fn() {
    return [this](net::https_request req, std::function<void(net::https_response)> done) {
      calls.push_back({std::move(req), std::move(done)});
    };
  }
  /// Answers the oldest request.
  net::https_request answer(int status, std::string body = "", std::string error = "") {
    EXPECT_FALSE(calls.empty());
    if (calls.empty())
      return {};
    auto c = std::move(calls.front());
    calls.pop_front();
    net::https_response r;
    r.status = status;
    r.body = std::move(body);
    r.error = std::move(error);
    c.done(std::move(r));
    return c.req;
  }
};

std::string header(const net::https_request& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name)
      return v;
  return "";
}

std::string registered_body(const std::string& id = device) {
  proto::RegisterResponse r;
  r.set_device_id(id);
  r.set_device_token("secret-token");
  return proto::to_json(r);
}

struct registrar_fixture : ::testing::Test {
  test::test_system t;
  std::shared_ptr<test::fake_file_system> fs = std::make_shared<test::fake_file_system>();
  std::shared_ptr<peers> directory = std::make_shared<peers>();
  scripted_http http;
  int64_t wall = 1'800'000'000'000;
  double unit = 0.999999;  // jitter/backoff draw: the top of each range
  cloud_registrar_actor actor;

  registrar_fixture() {
    fs->put_file(org_path, R"({"organizationId": "2000001", "fingerprint": "f00d", "userId": "3"})");
  }

  cloud_registrar_options options() {
    cloud_registrar_options o;
    o.org_file = org_path;
    o.api = "https://cloud.test";
    o.state_dir = state_dir;
    o.hostname = "laptop";
    o.sync_interval = 3600s;
    o.sync_jitter = 0s;
    o.heartbeat_interval = 0s;
    o.api_timeout = 10s;
    o.retry_first = 5s;
    o.retry_max = 60s;
    return o;
  }

  void start(cloud_registrar_options o) {
    cloud_registrar_deps deps{fs, http.fn(), [this] { return wall; }, [this] { return unit; }, directory};
    actor = t.sys.spawn(cloud_registrar, std::move(o), std::move(deps));
    t.sched.run();
  }
  void start() { start(options()); }

  proto::CloudStatus& status() { return t.state_of<cloud_registrar_state>(actor).status; }

  void settle() {
    t.sched.run();
  }
  /// Lets virtual time pass, firing due timers.
  void advance(std::chrono::milliseconds d) {
    t.sched.advance_time(d);
    t.sched.run();
    wall += d.count();
  }
  void register_and_sync(const proto::Policy& p) {
    ASSERT_EQ(http.calls.size(), 1u);
    http.answer(201, registered_body());
    settle();
    ASSERT_EQ(http.calls.size(), 1u);
    http.answer(200, proto::to_json(p));
    settle();
  }
  proto::RouteUpdate cloud_routes() { return directory->routes()["cloud"]; }

  ~registrar_fixture() override {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    t.sched.run();
  }
};

TEST_F(registrar_fixture, RegistersKeepsAndPublishesThePolicy) {
  start();
  ASSERT_EQ(http.calls.size(), 1u);
  const auto& reg = http.calls.front().req;
  EXPECT_EQ(reg.method, "POST");
  EXPECT_EQ(reg.path, "/v1/devices");
  proto::RegisterRequest body;
  ASSERT_EQ(proto::from_json(reg.body, body), "");
  EXPECT_EQ(body.organization_id(), "2000001");
  EXPECT_EQ(body.fingerprint(), "f00d");
  EXPECT_EQ(body.hostname(), "laptop");
  http.answer(201, registered_body());
  settle();
  EXPECT_EQ(status().state(), "registered");
  EXPECT_EQ(cloud_routes().device_id().size(), 8u);  // the identity is in force before any policy
  ASSERT_EQ(http.calls.size(), 1u);
  auto sync = http.calls.front().req;
  EXPECT_EQ(sync.path, std::string{"/v1/devices/"} + device + "/policy");
  EXPECT_EQ(header(sync, "Authorization"), "Bearer secret-token");
  EXPECT_EQ(header(sync, "If-None-Match"), "");
  http.answer(200, proto::to_json(policy("r1")));
  settle();
  EXPECT_EQ(status().policy_revision(), "r1");
  auto routes = cloud_routes();
  ASSERT_EQ(routes.routes_size(), 2);
  EXPECT_EQ(routes.routes(0).resolvers(0), "192.0.2.10:53");
  // Kept, private, with the token and the policy.
  auto file = fs->at(std::string{state_dir} + "/cloud.pb");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->mode, 0600u);
  proto::CloudRegistration kept;
  ASSERT_TRUE(kept.ParseFromString(file->content));
  EXPECT_EQ(kept.device_id(), device);
  EXPECT_EQ(kept.device_token(), "secret-token");
  EXPECT_EQ(kept.policy().revision(), "r1");
  // The next sync comes at the interval, conditional.
  advance(3599s);
  EXPECT_TRUE(http.calls.empty());
  advance(2s);
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(header(http.calls.front().req, "If-None-Match"), "\"r1\"");
  http.answer(304);
  settle();
  EXPECT_EQ(status().syncs(), 2u);
}

TEST_F(registrar_fixture, ARestartUsesTheKeptRegistrationAtOnce) {
  proto::CloudRegistration kept;
  kept.set_organization_id("2000001");
  kept.set_api("https://cloud.test");
  kept.set_device_id(device);
  kept.set_device_token("secret-token");
  *kept.mutable_policy() = policy("r7");
  fs->put_file(std::string{state_dir} + "/cloud.pb", kept.SerializeAsString(), 0600);
  start();
  // In force before the cloud answered anything.
  EXPECT_EQ(status().policy_revision(), "r7");
  EXPECT_EQ(cloud_routes().routes_size(), 2);
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(http.calls.front().req.path, std::string{"/v1/devices/"} + device + "/policy");
  EXPECT_EQ(header(http.calls.front().req, "If-None-Match"), "\"r7\"");
}

TEST_F(registrar_fixture, AnotherOrganisationDropsTheKeptRegistration) {
  proto::CloudRegistration kept;
  kept.set_organization_id("1999999");
  kept.set_api("https://cloud.test");
  kept.set_device_id(device);
  kept.set_device_token("secret-token");
  fs->put_file(std::string{state_dir} + "/cloud.pb", kept.SerializeAsString(), 0600);
  start();
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(http.calls.front().req.path, "/v1/devices");
}

TEST_F(registrar_fixture, UnknownDeviceRegistersAgainKeepingThePolicy) {
  start();
  register_and_sync(policy("r1"));
  advance(3601s);  // an hour later the cloud has forgotten the device
  http.answer(404, R"({"code": "unknown_device", "message": "gone"})");
  settle();
  EXPECT_EQ(status().state(), "registering");    // again, at once (the registration was an hour old)
  EXPECT_EQ(status().policy_revision(), "r1");  // still in force
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(http.calls.front().req.path, "/v1/devices");
  http.answer(201, registered_body("fedcba9876543210"));
  settle();
  EXPECT_EQ(status().device_id(), "fedcba9876543210");
  EXPECT_EQ(cloud_routes().device_id(), std::string("\xfe\xdc\xba\x98\x76\x54\x32\x10", 8));
}

TEST_F(registrar_fixture, ACloudThatForgetsEveryDeviceGetsNoLoop) {
  start();
  register_and_sync(policy("r1"));
  // 404 for a device registered seconds ago: register again only after the backoff, not at once.
  caf::anon_send(actor, proto::AdapterSnapshot{});
  settle();
  advance(2s);
  ASSERT_EQ(http.calls.size(), 1u);
  http.answer(404, R"({"code": "unknown_device"})");
  settle();
  EXPECT_TRUE(http.calls.empty());
  EXPECT_EQ(status().failures(), 1u);
  advance(5s);
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(http.calls.front().req.path, "/v1/devices");
}

TEST_F(registrar_fixture, UnreachableCloudBacksOffExponentially) {
  start();
  std::vector<int64_t> delays;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(http.calls.size(), 1u) << i;
    http.answer(0, "", "connecting to cloud.test:443: Connection refused");
    settle();
    auto delay = status().next_attempt_unix_ms() - wall;
    delays.push_back(delay);
    advance(std::chrono::milliseconds{delay - 1});
    EXPECT_TRUE(http.calls.empty()) << "retried early after failure " << i + 1;
    advance(1ms);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{5000, 10000, 20000, 40000, 60000, 60000}));
  EXPECT_EQ(status().failures(), 6u);
  EXPECT_NE(status().last_error().find("Connection refused"), std::string::npos);
  // A link change: a fresh start, soon.
  http.answer(0, "", "still down");
  settle();
  caf::anon_send(actor, proto::AdapterSnapshot{});
  settle();
  EXPECT_EQ(status().failures(), 0u);
  advance(2s);
  EXPECT_EQ(http.calls.size(), 1u);
}

TEST_F(registrar_fixture, AnInvalidPolicyIsRefusedAndTheLastGoodStays) {
  start();
  register_and_sync(policy("r1"));
  advance(3601s);
  auto bad = policy("r2");
  bad.add_internal_domains("not a domain");
  http.answer(200, proto::to_json(bad));
  settle();
  EXPECT_EQ(status().policy_revision(), "r1");
  EXPECT_EQ(status().refused_policies(), 1u);
  EXPECT_NE(status().last_error().find("internal domain 'not a domain'"), std::string::npos);
  EXPECT_EQ(cloud_routes().routes(1).domain(), "corp.example");
  advance(3601s);
  http.answer(200, "<html>not json</html>");
  settle();
  EXPECT_EQ(status().refused_policies(), 2u);
  EXPECT_EQ(status().policy_revision(), "r1");
}

TEST_F(registrar_fixture, APolicyChangeReachesTheRoutesAtTheNextSync) {
  start();
  register_and_sync(policy("r1"));
  caf::anon_send(actor, proto::AdapterSnapshot{});  // a new network: sync after 2 s, not in an hour
  settle();
  advance(1999ms);
  EXPECT_TRUE(http.calls.empty());
  advance(1ms);
  http.answer(200, proto::to_json(policy("r2", "192.0.2.11:53")));
  settle();
  EXPECT_EQ(cloud_routes().routes(0).resolvers(0), "192.0.2.11:53");
  EXPECT_EQ(status().policy_revision(), "r2");
}

TEST_F(registrar_fixture, SyncNowSkipsTheBackoff) {
  start();
  register_and_sync(policy("r1"));
  advance(3601s);
  http.answer(0, "", "down");
  settle();
  EXPECT_EQ(status().failures(), 1u);
  caf::anon_send(actor, sync_atom::value);  // SIGHUP
  settle();
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(status().failures(), 0u);
  http.answer(304);
  settle();
  EXPECT_EQ(status().last_error(), "");
}

TEST_F(registrar_fixture, TheSyncIntervalComesFromThePolicyWithJitter) {
  unit = 0.5;
  start();
  auto p = policy("r1");
  p.set_sync_interval_s(600);
  p.set_sync_jitter_s(100);
  register_and_sync(p);
  advance(649s);
  EXPECT_TRUE(http.calls.empty());
  advance(1s);
  EXPECT_EQ(http.calls.size(), 1u);
}

TEST_F(registrar_fixture, ARequestThatNeverReturnsIsGivenUp) {
  start();
  ASSERT_EQ(http.calls.size(), 1u);
  advance(15s);  // api_timeout 10 s + 5 s
  EXPECT_EQ(status().failures(), 1u);
  EXPECT_NE(status().last_error().find("no answer within 10000 ms"), std::string::npos);
  http.answer(201, registered_body());  // too late: ignored
  settle();
  EXPECT_EQ(status().state(), "unregistered");
}

TEST_F(registrar_fixture, ARefusalIsAnErrorWithAHintAndWaitsAMinute) {
  start();
  http.answer(403, R"({"code": "wrong_organization", "message": "not served here"})");
  settle();
  EXPECT_EQ(status().state(), "refused");
  EXPECT_NE(status().reason().find("check the organisation file"), std::string::npos);
  EXPECT_EQ(status().next_attempt_unix_ms() - wall, 60000);
}

TEST_F(registrar_fixture, AMissingOrganisationFileIsNamed) {
  fs->erase(org_path);
  start();
  EXPECT_TRUE(http.calls.empty());
  EXPECT_EQ(status().state(), "unregistered");
  EXPECT_NE(status().reason().find(org_path), std::string::npos);
}

TEST_F(registrar_fixture, HeartbeatsCarryTheRevision) {
  auto o = options();
  o.heartbeat_interval = 60s;
  start(o);
  register_and_sync(policy("r1"));
  advance(66s);  // interval + up to a tenth of jitter
  ASSERT_EQ(http.calls.size(), 1u);
  auto req = http.answer(204);
  EXPECT_EQ(req.path, std::string{"/v1/devices/"} + device + "/heartbeat");
  proto::Heartbeat hb;
  ASSERT_EQ(proto::from_json(req.body, hb), "");
  EXPECT_EQ(hb.policy_revision(), "r1");
  EXPECT_EQ(header(req, "Authorization"), "Bearer secret-token");
  settle();
  EXPECT_EQ(status().heartbeats(), 1u);
  // The next one a period later; a failed one does not stop them.
  advance(66s);
  ASSERT_EQ(http.calls.size(), 1u);
  http.answer(0, "", "connecting: refused");
  settle();
  advance(66s);
  EXPECT_EQ(http.calls.size(), 1u);
}

TEST_F(registrar_fixture, HeartbeatsWaitForTheRegistration) {
  auto o = options();
  o.heartbeat_interval = 60s;
  start(o);
  // The cloud is down for the first 70 s (a heartbeat period passes meanwhile), then answers.
  int64_t registered_at = -1, first_beat = -1;
  for (int64_t t = 0; t <= 200; ++t) {
    while (!http.calls.empty()) {
      auto path = http.calls.front().req.path;
      if (path == "/v1/devices") {
        if (t < 70) {
          http.answer(0, "", "down");
        } else {
          http.answer(201, registered_body());
          registered_at = t;
        }
      } else if (path.find("/heartbeat") != std::string::npos) {
        EXPECT_GE(registered_at, 0) << "a heartbeat before the registration";
        if (first_beat < 0)
          first_beat = t;
        http.answer(204);
      } else {
        http.answer(200, proto::to_json(policy("r1")));
      }
      settle();
    }
    advance(1s);
  }
  ASSERT_GE(registered_at, 70);
  EXPECT_GT(first_beat, registered_at);  // they did not stop for good while the device was unregistered
  EXPECT_GE(status().heartbeats(), 1u);
}

} // namespace
} // namespace roamd::actors
