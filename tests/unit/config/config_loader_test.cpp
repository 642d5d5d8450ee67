// Valid configurations: defaults, a full file, value normalization, integer ranges, and reading files.
#include "tools/config/config_loader.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/config/load_helpers.hpp"

namespace roamd::config {
namespace {

using test::load;

TEST(config_defaults, match_the_documented_values) {
  auto c = defaults();
  ASSERT_EQ(c.listen().addresses_size(), 1);
  EXPECT_EQ(c.listen().addresses(0), "127.0.2.53:53");
  ASSERT_EQ(c.cloud().resolvers_size(), 2);
  EXPECT_EQ(c.cloud().resolvers(0), "208.67.222.222:53");
  EXPECT_EQ(c.cloud().resolvers(1), "208.67.220.220:53");
  EXPECT_EQ(c.cloud().device_id(), "");
  EXPECT_EQ(c.internal_size(), 0);
  EXPECT_EQ(c.cache().size(), 10000u);
  EXPECT_EQ(c.cache().max_ttl(), 86400u);
  EXPECT_EQ(c.cache().negative_max_ttl(), 3600u);
  EXPECT_EQ(c.upstream().timeout_ms(), 1000u);
  EXPECT_EQ(c.upstream().attempts(), 3u);
  EXPECT_EQ(c.upstream().source_ports(), 4u);
  EXPECT_EQ(c.upstream().down_after(), 3u);
  EXPECT_EQ(c.upstream().probe_interval_ms(), 2000u);
  EXPECT_EQ(c.upstream().port_rotation_ms(), 1000u);
  EXPECT_EQ(c.upstream().nxdomain_fallback(), "local-names");
  EXPECT_EQ(c.tcp().max_connections(), 256u);
  EXPECT_EQ(c.tcp().idle_timeout_ms(), 10000u);
  EXPECT_EQ(c.system().mode(), "auto");
  EXPECT_EQ(c.system().resolv_conf(), "/etc/resolv.conf");
  EXPECT_EQ(c.system().state_dir(), "/var/lib/roamd");
  EXPECT_EQ(c.system().canary_timeout_ms(), 5000u);
  EXPECT_TRUE(c.debug().enabled());
  EXPECT_EQ(c.debug().socket(), "/run/roamd/debug.sock");
  EXPECT_EQ(c.debug().tcp(), "");
  EXPECT_EQ(c.debug().metrics(), "");
  EXPECT_EQ(c.daemon().workers(), 1u);
  EXPECT_EQ(c.daemon().log_level(), "info");
  EXPECT_EQ(c.daemon().log_target(), "auto");
  EXPECT_EQ(c.source(), "");
}

TEST(config_load, empty_text_gives_the_defaults_and_the_source) {
  auto r = load("# nothing configured\n", "/etc/roamd.toml");
  ASSERT_TRUE(r.ok) << r.error;
  auto expected = defaults();
  expected.set_source("/etc/roamd.toml");
  EXPECT_EQ(r.config.DebugString(), expected.DebugString());
}

TEST(config_load, empty_sections_keep_the_defaults) {
  auto r = load("[listen]\n[cloud]\n[cache]\n[upstream]\n[tcp]\n[system]\n[daemon]\n");
  ASSERT_TRUE(r.ok) << r.error;
  auto expected = defaults();
  expected.set_source("roamd.toml");
  EXPECT_EQ(r.config.DebugString(), expected.DebugString());
}

TEST(config_load, full_file_round_trips_into_the_proto) {
  auto r = load(R"(# every key, each with a value different from its default
[listen]
addresses = ["127.0.0.1:5353", "[::1]:5353", "127.0.0.2"]

[cloud]
resolvers = ["192.0.2.1:53", "[2001:db8::53]:853", "tls://192.0.2.2#Dot.Example.;pin-sha256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "https://[2001:db8::443]#Doh.Example"]
device_id = "0123456789abcdef"
ca_file = "/etc/roamd/cloud-ca.pem"
org_file = "/etc/roamd/OrgInfo.json"
api = "https://api.cloud.example:8443/agent/"
api_ca_file = "/etc/roamd/api-ca.pem"
api_proxy = "http://proxy:secret@192.0.2.8:3128"
sync_interval_s = 600
sync_jitter_s = 60
heartbeat_interval_s = 0
api_timeout_ms = 5000
transport = "encrypted-only"

[[internal]]
domain = "Corp.Example.COM."
resolvers = ["10.0.0.53"]

[[internal]]
domain = "lab.example"
resolvers = ["10.1.0.53:5353", "fd00::53"]

[cache]
size = 12345
max_ttl = 300
negative_max_ttl = 60

[upstream]
timeout_ms = 500
attempts = 2
source_ports = 1024
down_after = 5
probe_interval_ms = 100
port_rotation_ms = 0
nxdomain_fallback = "any"

[tcp]
max_connections = 1
idle_timeout_ms = 600_000

[system]
mode = "file"
resolv_conf = "/run/test/resolv.conf/"
state_dir = "/srv/roamd"
canary_timeout_ms = 250

[arbitration]
contest_limit = 5
contest_window_ms = 30_000
quiet_ms = 200
cap_ms = 2_000
interception = false
socket_mark = 0x1234
yield_backoff_ms = 1_000
yield_backoff_max_ms = 60_000
intercept_always = false
link_settings_poll_ms = 2_500

[debug]
enabled = false
socket = "/run/test/roamd.sock"
tcp = "[::1]:5380"
metrics = "127.0.0.1:9153"
recent_queries = 500

[dnstap]
file = "/var/log/roamd.dnstap"
identity = "laptop-7"
client_queries = false
client_responses = false

[network]
detection = false
fail_mode = "closed"
trusted_domain = "Trusted.Example"
protected_probe_name = "probe.example"
protected_probe_address = "2001:db8:0::7"
probe_interval_ms = 5_000
stable_probe_interval_ms = 30_000
open_probe_interval_ms = 1_000

[daemon]
workers = 4
log_level = "debug"
log_target = "journald"
)");
  ASSERT_TRUE(r.ok) << r.error;
  proto::Config expected;
  expected.set_source("roamd.toml");
  for (auto a : {"127.0.0.1:5353", "[::1]:5353", "127.0.0.2:53"})
    expected.mutable_listen()->add_addresses(a);
  expected.mutable_cloud()->add_resolvers("192.0.2.1:53");
  expected.mutable_cloud()->add_resolvers("[2001:db8::53]:853");
  expected.mutable_cloud()->add_resolvers("tls://192.0.2.2:853#dot.example;pin-sha256=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
  expected.mutable_cloud()->add_resolvers("https://[2001:db8::443]:443/dns-query#doh.example");
  expected.mutable_cloud()->set_ca_file("/etc/roamd/cloud-ca.pem");
  expected.mutable_cloud()->set_device_id(std::string("\x01\x23\x45\x67\x89\xab\xcd\xef", 8));
  expected.mutable_cloud()->set_org_file("/etc/roamd/OrgInfo.json");
  expected.mutable_cloud()->set_api("https://api.cloud.example:8443/agent/");
  expected.mutable_cloud()->set_api_ca_file("/etc/roamd/api-ca.pem");
  expected.mutable_cloud()->set_api_proxy("http://proxy:secret@192.0.2.8:3128");
  expected.mutable_cloud()->set_sync_interval_s(600);
  expected.mutable_cloud()->set_sync_jitter_s(60);
  expected.mutable_cloud()->set_heartbeat_interval_s(0);
  expected.mutable_cloud()->set_api_timeout_ms(5000);
  expected.mutable_cloud()->set_transport("encrypted-only");
  auto* corp = expected.add_internal();
  corp->set_domain("corp.example.com");
  corp->add_resolvers("10.0.0.53:53");
  auto* lab = expected.add_internal();
  lab->set_domain("lab.example");
  lab->add_resolvers("10.1.0.53:5353");
  lab->add_resolvers("[fd00::53]:53");
  expected.mutable_cache()->set_size(12345);
  expected.mutable_cache()->set_max_ttl(300);
  expected.mutable_cache()->set_negative_max_ttl(60);
  expected.mutable_upstream()->set_timeout_ms(500);
  expected.mutable_upstream()->set_attempts(2);
  expected.mutable_upstream()->set_source_ports(1024);
  expected.mutable_upstream()->set_down_after(5);
  expected.mutable_upstream()->set_probe_interval_ms(100);
  expected.mutable_upstream()->set_port_rotation_ms(0);
  expected.mutable_upstream()->set_nxdomain_fallback("any");
  expected.mutable_tcp()->set_max_connections(1);
  expected.mutable_tcp()->set_idle_timeout_ms(600000);
  expected.mutable_system()->set_mode("file");
  expected.mutable_system()->set_resolv_conf("/run/test/resolv.conf");
  expected.mutable_system()->set_state_dir("/srv/roamd");
  expected.mutable_system()->set_canary_timeout_ms(250);
  auto* arb = expected.mutable_arbitration();
  arb->set_contest_limit(5);
  arb->set_contest_window_ms(30000);
  arb->set_quiet_ms(200);
  arb->set_cap_ms(2000);
  arb->set_interception(false);
  arb->set_socket_mark(0x1234);
  arb->set_yield_backoff_ms(1000);
  arb->set_yield_backoff_max_ms(60000);
  arb->set_link_settings_poll_ms(2500);
  expected.mutable_debug()->set_enabled(false);
  expected.mutable_debug()->set_socket("/run/test/roamd.sock");
  expected.mutable_debug()->set_tcp("[::1]:5380");
  expected.mutable_debug()->set_metrics("127.0.0.1:9153");
  expected.mutable_debug()->set_recent_queries(500);
  expected.mutable_dnstap()->set_file("/var/log/roamd.dnstap");
  expected.mutable_dnstap()->set_identity("laptop-7");
  auto* network = expected.mutable_network();
  network->set_detection(false);
  network->set_fail_mode("closed");
  network->set_trusted_domain("trusted.example");
  network->set_protected_probe_name("probe.example");
  network->set_protected_probe_address("2001:db8::7");
  network->set_probe_interval_ms(5000);
  network->set_stable_probe_interval_ms(30000);
  network->set_open_probe_interval_ms(1000);
  expected.mutable_daemon()->set_workers(4);
  expected.mutable_daemon()->set_log_level("debug");
  expected.mutable_daemon()->set_log_target("journald");
  EXPECT_EQ(r.config.DebugString(), expected.DebugString());
}

TEST(config_load, device_id_upper_case_gives_the_raw_bytes) {
  auto r = load("[cloud]\ndevice_id = \"0123456789ABCDEF\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  const auto& id = r.config.cloud().device_id();
  ASSERT_EQ(id.size(), 8u);
  const unsigned char expected[] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  for (size_t i = 0; i < 8; ++i)
    EXPECT_EQ(static_cast<unsigned char>(id[i]), expected[i]) << "byte " << i;
}

TEST(config_load, device_id_mixed_case_and_high_bytes) {
  auto r = load("[cloud]\ndevice_id = \"FfeE00a0B1c2D3e4\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.cloud().device_id(), std::string("\xff\xee\x00\xa0\xb1\xc2\xd3\xe4", 8));
}

TEST(config_load, ipv6_endpoints_are_normalized) {
  auto r = load("[listen]\naddresses = [\"[2001:DB8:0:0::1]:5353\", \"::1\", \"[fe80::2]\"]\n");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.config.listen().addresses_size(), 3);
  EXPECT_EQ(r.config.listen().addresses(0), "[2001:db8::1]:5353");
  EXPECT_EQ(r.config.listen().addresses(1), "[::1]:53");
  EXPECT_EQ(r.config.listen().addresses(2), "[fe80::2]:53");
}

TEST(config_load, bare_ip_gets_port_53) {
  auto r = load("[cloud]\nresolvers = [\"9.9.9.9\"]\n"
                "[[internal]]\ndomain = \"a.example\"\nresolvers = [\"10.0.0.1\"]\n");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.config.cloud().resolvers_size(), 1);
  EXPECT_EQ(r.config.cloud().resolvers(0), "9.9.9.9:53");
  ASSERT_EQ(r.config.internal_size(), 1);
  EXPECT_EQ(r.config.internal(0).resolvers(0), "10.0.0.1:53");
}

TEST(config_load, given_arrays_replace_the_default_ones) {
  auto r = load("[listen]\naddresses = [\"127.0.0.1:53\"]\n[cloud]\nresolvers = [\"9.9.9.9:53\"]\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.listen().addresses_size(), 1);
  EXPECT_EQ(r.config.cloud().resolvers_size(), 1);
}

TEST(config_load, internal_accepts_inline_tables_and_keeps_order) {
  auto r = load("internal = [{domain = \"b.example\", resolvers = [\"10.0.0.2\"]},\n"
                "            {domain = \"a.example\", resolvers = [\"10.0.0.1\"]}]\n");
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.config.internal_size(), 2);
  EXPECT_EQ(r.config.internal(0).domain(), "b.example");
  EXPECT_EQ(r.config.internal(1).domain(), "a.example");
}

TEST(config_load, every_system_mode_is_accepted_with_a_port_53_listener) {
  for (auto mode : {"none", "auto", "file", "resolvconf", "resolved", "networkmanager"}) {
    auto r = load(std::string("[system]\nmode = \"") + mode + "\"\n");
    ASSERT_TRUE(r.ok) << mode << ": " << r.error;
    EXPECT_EQ(r.config.system().mode(), mode);
  }
}

TEST(config_load, mode_none_needs_no_port_53_listener_and_the_default_mode_is_checked_by_the_agent) {
  EXPECT_TRUE(load("[listen]\naddresses = [\"127.0.0.1:5353\"]\n[system]\nmode = \"none\"\n").ok);
  auto r = load("[listen]\naddresses = [\"127.0.0.1:5353\"]\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.system().mode(), "auto");
}

TEST(config_load, debug_tcp_on_loopback_is_normalized_and_empty_strings_turn_listeners_off) {
  auto r = load("[debug]\ntcp = \"127.0.0.1:5380\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().tcp(), "127.0.0.1:5380");
  EXPECT_EQ(r.config.debug().socket(), "/run/roamd/debug.sock");
  r = load("[debug]\ntcp = \"127.9.9.9:1\"\nsocket = \"\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().tcp(), "127.9.9.9:1");
  EXPECT_EQ(r.config.debug().socket(), "");
  r = load("[debug]\ntcp = \"[0:0::1]:5380\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().tcp(), "[::1]:5380");
}

TEST(config_load, metrics_on_loopback_is_normalized_and_independent_of_the_inspection_port) {
  auto r = load("[debug]\nenabled = false\nmetrics = \"[0:0::1]:9153\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().metrics(), "[::1]:9153");
  EXPECT_FALSE(r.config.debug().enabled());
  r = load("[debug]\nmetrics = \"127.0.0.2:9153\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().metrics(), "127.0.0.2:9153");
  r = load("[debug]\nmetrics = \"\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().metrics(), "");
}

TEST(config_load, debug_tcp_anywhere_with_mutual_tls) {
  auto r = load("[debug]\ntcp = \"192.0.2.1:5380\"\ntls_cert = \"/etc/roamd/debug.pem\"\n"
                "tls_key = \"/etc/roamd/debug.key\"\ntls_client_ca = \"/etc/roamd/clients.pem\"\n"
                "tls_client_names = [\"ops.example\", \"alice\"]\n");
  ASSERT_TRUE(r.ok) << r.error;
  const auto& d = r.config.debug();
  EXPECT_EQ(d.tcp(), "192.0.2.1:5380");
  EXPECT_EQ(d.tls_cert(), "/etc/roamd/debug.pem");
  EXPECT_EQ(d.tls_key(), "/etc/roamd/debug.key");
  EXPECT_EQ(d.tls_client_ca(), "/etc/roamd/clients.pem");
  ASSERT_EQ(d.tls_client_names_size(), 2);
  EXPECT_EQ(d.tls_client_names(1), "alice");
  // Loopback may use TLS too; an empty names list means any certificate the CA signed.
  r = load("[debug]\ntcp = \"[::1]:5380\"\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\ntls_client_ca = \"/ca.pem\"\n"
           "tls_client_names = []\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().tcp(), "[::1]:5380");
  EXPECT_EQ(r.config.debug().tls_client_names_size(), 0);
  // Empty strings are the defaults: no TLS.
  r = load("[debug]\ntcp = \"127.0.0.1:5380\"\ntls_cert = \"\"\ntls_key = \"\"\ntls_client_ca = \"\"\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.debug().tls_cert(), "");
}

TEST(config_load, every_log_level_is_accepted) {
  for (auto level : {"trace", "debug", "info", "warn", "error", "off"}) {
    auto r = load(std::string("[daemon]\nlog_level = \"") + level + "\"\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.config.daemon().log_level(), level);
  }
}

TEST(config_load, every_log_target_is_accepted) {
  for (auto target : {"auto", "stderr", "journald"}) {
    auto r = load(std::string("[daemon]\nlog_target = \"") + target + "\"\n");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.config.daemon().log_target(), target);
  }
}

TEST(config_load_file, reads_a_file_and_names_it_as_the_source) {
  char dir_template[] = "/tmp/roamd_config_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::filesystem::path dir{dir_template};
  auto path = (dir / "roamd.toml").string();
  std::ofstream{path} << "[daemon]\nworkers = 8\n";
  proto::Config out;
  std::string error;
  bool ok = load_file(path, out, error);
  std::ofstream{path} << "[daemon]\nworkers = 0\n";
  proto::Config bad;
  std::string bad_error;
  bool bad_ok = load_file(path, bad, bad_error);
  std::string dir_error;
  bool dir_ok = load_file(dir.string(), bad, dir_error);
  std::filesystem::remove_all(dir);

  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(out.daemon().workers(), 8u);
  EXPECT_EQ(out.source(), path);
  EXPECT_FALSE(bad_ok);
  EXPECT_EQ(bad_error, path + ":2:11: daemon.workers: expected an integer from 1 to 64, got 0");
  EXPECT_FALSE(dir_ok);
  EXPECT_EQ(dir_error, dir.string() + ": cannot read: Is a directory");
}

TEST(config_load_file, missing_path_names_the_path_and_the_reason) {
  proto::Config out;
  out.set_source("before");
  std::string error;
  EXPECT_FALSE(load_file("/nonexistent/roamd/roamd.toml", out, error));
  EXPECT_EQ(error, "/nonexistent/roamd/roamd.toml: cannot read: No such file or directory");
  EXPECT_EQ(out.source(), "before");
}

} // namespace
} // namespace roamd::config
