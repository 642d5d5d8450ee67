// Invalid configurations: each class of error names the source, the line, the column and the key path.
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/config/load_helpers.hpp"

namespace roamd::config {
namespace {

using test::contains_all;
using test::load;
using test::load_error;

TEST(config_error, device_id_of_the_wrong_length) {
  auto r = load("# roamd\n\n[listen]\naddresses = [\"127.0.0.1\"]\n\n[cloud]\ndevice_id = \"12ab\"\n",
                "/etc/roamd.toml");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "/etc/roamd.toml:7:13: cloud.device_id: expected 16 hexadecimal digits, got \"12ab\"");
}

TEST(config_error, device_id_with_a_non_hex_digit_or_of_the_wrong_type) {
  load_error("[cloud]\ndevice_id = \"0123456789abcdeg\"\n", {":2:13:", "cloud.device_id", "16 hexadecimal"});
  load_error("[cloud]\ndevice_id = \"0x0123456789abcd\"\n", {":2:13:", "cloud.device_id", "16 hexadecimal"});
  load_error("[cloud]\ndevice_id = 1234\n", {":2:13:", "cloud.device_id: expected a string, got integer 1234"});
}

TEST(config_error, unknown_key_suggests_the_close_spelling) {
  auto r = load("# roamd\n[listen]\nadresses = [\"127.0.0.1\"]\n");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "roamd.toml:3:1: listen.adresses: unknown key (did you mean listen.addresses?)");
}

TEST(config_error, unknown_key_in_the_wrong_section_suggests_the_right_one) {
  load_error("[listen]\ndevice_id = \"0123456789abcdef\"\n",
             {"roamd.toml:2:1: listen.device_id: unknown key (did you mean cloud.device_id?)"});
  load_error("workers = 2\n", {"roamd.toml:1:1: workers: unknown key (did you mean daemon.workers?)"});
}

TEST(config_error, unknown_key_without_a_close_match) {
  auto error = load_error("[tcp]\n\n  zzz = 1\n", {"roamd.toml:3:3: tcp.zzz: unknown key"});
  EXPECT_EQ(error.find("did you mean"), std::string::npos) << error;
  load_error("[cache]\n\"odd key\" = 1\n", {":2:1:", "cache.\"odd key\": unknown key"});
}

TEST(config_error, unknown_table) {
  load_error("[daemon]\nworkers = 2\n[cahce]\nsize = 5\n",
             {"roamd.toml:3:2: cahce: unknown table (did you mean cache?)"});
  load_error("[cache.extra]\nx = 1\n", {":1:8:", "cache.extra: unknown table"});
  auto error = load_error("[[plugins]]\nname = \"x\"\n", {":1:3:", "plugins: unknown table"});
  EXPECT_EQ(error.find("did you mean"), std::string::npos) << error;
}

TEST(config_error, unknown_key_in_an_internal_entry) {
  load_error("[[internal]]\ndomian = \"a.example\"\ndomain = \"a.example\"\nresolvers = [\"10.0.0.1\"]\n",
             {"roamd.toml:2:1: internal[0].domian: unknown key (did you mean internal[0].domain?)"});
}

TEST(config_error, section_of_the_wrong_type) {
  load_error("cache = 5\n", {"roamd.toml:1:9: cache: expected a table, got integer 5"});
  load_error("[internal]\ndomain = \"a.example\"\n",
             {"roamd.toml:1:1: internal: expected an array of tables ([[internal]]), got a table"});
  load_error("internal = [1]\n", {":1:13:", "internal[0]: expected a table, got integer 1"});
}

TEST(config_error, internal_missing_required_keys_point_at_the_entry) {
  auto r = load(R"(# line 1
[[internal]]
domain = "a.example"
resolvers = ["10.0.0.1"]

[cache]
size = 5

[upstream]
attempts = 2

[[internal]]
resolvers = ["10.0.0.2"]
)");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "roamd.toml:12:1: internal[1].domain: missing required key");
  load_error("[[internal]]\ndomain = \"a.example\"\n", {"roamd.toml:1:1: internal[0].resolvers: missing required key"});
}

TEST(config_error, internal_domain_must_be_a_valid_name) {
  load_error("[[internal]]\ndomain = \"a..example\"\nresolvers = [\"10.0.0.1\"]\n",
             {":2:10:", "internal[0].domain: expected a domain name", "got \"a..example\""});
  load_error("[[internal]]\ndomain = \".\"\nresolvers = [\"10.0.0.1\"]\n",
             {":2:10:", "internal[0].domain", "got \".\""});
  load_error("[[internal]]\ndomain = 5\nresolvers = [\"10.0.0.1\"]\n",
             {":2:10:", "internal[0].domain: expected a string, got integer 5"});
}

TEST(config_error, duplicate_internal_domains_name_both_entries) {
  auto error = load_error(R"([[internal]]
domain = "corp.example"
resolvers = ["10.0.0.1"]

[[internal]]
domain = "lab.example"
resolvers = ["10.0.0.2"]

[[internal]]
domain = "CORP.example."
resolvers = ["10.0.0.3"]
)",
                          {"roamd.toml:10:10: internal[2].domain: expected each domain once",
                           "got \"CORP.example.\"", "internal[0].domain at line 2", "corp.example"});
  EXPECT_EQ(error.find("internal[1]"), std::string::npos) << error;
}

TEST(config_error, bad_endpoints) {
  load_error("[listen]\naddresses = [\"127.0.0.1:53\", \"127.0.0.1:0\"]\n",
             {":2:30:", "listen.addresses[1]: expected an endpoint", "got \"127.0.0.1:0\""});
  load_error("[cloud]\nresolvers = [\"dns.example:53\"]\n", {":2:14:", "cloud.resolvers[0]", "got \"dns.example:53\""});
  load_error("[cloud]\nresolvers = [\"2001:db8::1:53:\"]\n", {":2:14:", "cloud.resolvers[0]"});
  load_error("[cloud]\nresolvers = [53]\n",
             {":2:14:", "cloud.resolvers[0]: expected an endpoint string, got integer 53"});
  load_error("[[internal]]\ndomain = \"a.example\"\nresolvers = [\"10.0.0.1\", \"x\"]\n",
             {":3:26:", "internal[0].resolvers[1]", "got \"x\""});
}

TEST(config_error, bad_dot_resolvers_and_ca_file) {
  load_error("[cloud]\nresolvers = [\"tls://dns.quad9.net\"]\n",
             {":2:14:", "cloud.resolvers[0]: expected tls://IP[:PORT][#NAME][;pin-sha256=BASE64] with an IP address",
              "got \"tls://dns.quad9.net\""});
  load_error("[cloud]\nresolvers = [\"tls://9.9.9.9#not a name\"]\n",
             {":2:14:", "cloud.resolvers[0]: expected a host name after '#'"});
  load_error("[cloud]\nresolvers = [\"tls://9.9.9.9#dns.quad9.net;pin-sha256=abcd\"]\n",
             {":2:14:", "cloud.resolvers[0]: expected the pin as the base64 of a 32-byte SHA-256 digest"});
  load_error("[cloud]\nresolvers = [\"9.9.9.9:0\"]\n",
             {":2:14:", "cloud.resolvers[0]: expected an endpoint", "or tls://IP[:PORT]"});
  // DNS over TLS and over HTTPS are for the cloud: internal resolvers are plain.
  load_error("[[internal]]\ndomain = \"a.example\"\nresolvers = [\"tls://10.0.0.1#ns.a.example\"]\n",
             {":3:14:", "internal[0].resolvers[0]", "DNS over TLS and DNS over HTTPS are for [cloud] resolvers only"});
  load_error("[[internal]]\ndomain = \"a.example\"\nresolvers = [\"https://10.0.0.1#ns.a.example\"]\n",
             {":3:14:", "internal[0].resolvers[0]", "DNS over TLS and DNS over HTTPS are for [cloud] resolvers only"});
  load_error("[cloud]\nresolvers = [\"9.9.9.9:0\"]\n",
             {":2:14:", "or https://IP[:PORT][/PATH][#NAME][;pin-sha256=BASE64]"});
  load_error("[cloud]\nresolvers = [\"https://dns.quad9.net/dns-query\"]\n",
             {":2:14:", "cloud.resolvers[0]: expected https://IP[:PORT][/PATH][#NAME][;pin-sha256=BASE64] with an IP "
                        "address (port 443 by default)"});
  load_error("[cloud]\nresolvers = [\"https://9.9.9.9/dns query\"]\n",
             {":2:14:", "with an absolute PATH of URI characters"});
  load_error("[cloud]\nca_file = \"certs/ca.pem\"\n",
             {":2:11:", "cloud.ca_file: expected an absolute path of a PEM file or \"\" (the system's store), got "
                        "\"certs/ca.pem\""});
  load_error("[cloud]\nca_file = 5\n", {":2:11:", "cloud.ca_file: expected a string, got integer 5"});
}

TEST(config_error, bad_cloud_registration_keys) {
  load_error("[cloud]\norg_file = \"/etc/roamd/OrgInfo.json\"\n",
             {":2:12:", "cloud.org_file: needs cloud.api, the cloud API's URL, to register with"});
  load_error("[cloud]\napi = \"http://cloud.example\"\n",
             {":2:7:", "cloud.api: expected the cloud API's base URL, https://HOST[:PORT][/PATH] (expected an https:// URL)"});
  load_error("[cloud]\napi = \"https://cloud.example:99999\"\n", {":2:7:", "'99999' is not a port (1-65535)"});
  load_error("[cloud]\napi = \"https://user@cloud.example\"\n", {":2:7:", "may not carry user information"});
  load_error("[cloud]\napi_proxy = \"https://192.0.2.8:3128\"\n",
             {":2:13:", "cloud.api_proxy: expected an HTTP proxy's URL, http://[USER:PASSWORD@]HOST:PORT, or \"\" "
                        "(expected an http:// URL"});
  load_error("[cloud]\napi_proxy = \"http://proxy.example\"\n", {":2:13:", "the URL needs a port (HOST:PORT)"});
  load_error("[cloud]\napi_proxy = \"http://user@proxy.example:3128\"\n", {":2:13:", "expected USER:PASSWORD@"});
  // The value is not echoed: it may hold a password.
  auto err = load_error("[cloud]\napi_proxy = \"http://user:s3cret@proxy.example\"\n", {":2:13:", "needs a port"});
  EXPECT_EQ(err.find("s3cret"), std::string::npos) << err;
  load_error("[cloud]\napi_proxy = \"http://proxy.example:3128/pac\"\n", {":2:13:", "may not carry a path"});
  load_error("[cloud]\norg_file = \"OrgInfo.json\"\n", {":2:12:", "cloud.org_file: expected an absolute path"});
  load_error("[cloud]\nsync_interval_s = 10\n", {":2:19:", "cloud.sync_interval_s"});
  load_error("[cloud]\nheartbeat_interval_s = 2\n",
             {":2:24:", "cloud.heartbeat_interval_s: expected 0 (no heartbeats) or at least 5"});
  load_error("[cloud]\ntransport = \"tls\"\n",
             {":2:13:", "cloud.transport: expected one of plain, encrypted-with-fallback, encrypted-only"});
}

TEST(config_error, endpoint_arrays_must_be_non_empty_arrays) {
  load_error("[listen]\naddresses = []\n",
             {"roamd.toml:2:13: listen.addresses: expected a non-empty array of endpoint strings, got an empty array"});
  load_error("[cloud]\nresolvers = \"9.9.9.9\"\n", {":2:13:", "cloud.resolvers", "got string \"9.9.9.9\""});
  load_error("[[internal]]\ndomain = \"a.example\"\nresolvers = []\n", {":3:13:", "internal[0].resolvers"});
}

TEST(config_error, duplicate_listen_addresses_after_normalization) {
  load_error("[listen]\naddresses = [\"127.0.0.1\", \"[::1]:53\", \"127.0.0.1:53\"]\n",
             {":2:39:", "listen.addresses[2]: expected each endpoint once", "got \"127.0.0.1:53\"",
              "listen.addresses[0]"});
  load_error("[listen]\naddresses = [\"::1\", \"[0:0::1]:53\"]\n", {"listen.addresses[1]", "listen.addresses[0]"});
}

TEST(config_error, system_mode) {
  auto r = load("[listen]\naddresses = [\"127.0.0.1:5353\"]\n[system]\nmode = \"file\"\n");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "roamd.toml:4:8: system.mode: \"file\" needs a listen address on port 53 (resolv.conf cannot "
                     "name a port); add one to listen.addresses or set mode = \"none\"");
  load_error("[system]\nmode = \"systemd\"\n",
             {"roamd.toml:2:8: system.mode: expected one of none, auto, file, resolvconf, resolved, networkmanager, "
              "got \"systemd\""});
  load_error("[system]\nmode = false\n", {":2:8:", "system.mode: expected a string, got boolean false"});
}

TEST(config_error, system_paths) {
  load_error("[system]\nresolv_conf = \"etc/resolv.conf\"\n",
             {"roamd.toml:2:15: system.resolv_conf: expected an absolute path, got \"etc/resolv.conf\""});
  load_error("[system]\nstate_dir = \"/var/lib/../../tmp\"\n", {"system.state_dir: expected an absolute path"});
  load_error("[system]\nstate_dir = \"\"\n", {"system.state_dir: expected an absolute path"});
  load_error("[system]\ncanary_timeout_ms = 5\n", {"system.canary_timeout_ms"});
  load_error("[arbitration]\ninterception = \"yes\"\n", {"arbitration.interception", "true or false"});
  load_error("[arbitration]\ncontest_limit = 0\n", {"arbitration.contest_limit"});
  load_error("[arbitration]\nquiet_ms = 500\ncap_ms = 100\n", {"arbitration.cap_ms", "quiet_ms"});
  load_error("[arbitration]\nlink_settings_poll_ms = 100\n", {"arbitration.link_settings_poll_ms", "0 (off) or 500"});
  load_error("[arbitration]\nyield_backoff_ms = 9000\nyield_backoff_max_ms = 1000\n",
             {"arbitration.yield_backoff_max_ms", "shorter"});
  load_error("[arbitration]\nintercepton = true\n", {"arbitration.intercepton", "interception"});
  load_error("[arbitration]\ninterception = false\nintercept_always = true\n",
             {"arbitration.intercept_always", "needs interception = true"});
}

TEST(config_error, log_level) {
  load_error("[daemon]\nlog_level = \"verbose\"\n",
             {"roamd.toml:2:13: daemon.log_level: expected one of trace, debug, info, warn, error, off, "
              "got \"verbose\""});
  load_error("[daemon]\nlog_level = \"INFO\"\n", {":2:13:", "daemon.log_level", "got \"INFO\""});
}

TEST(config_error, log_target) {
  load_error("[daemon]\nlog_target = \"syslog\"\n",
             {"roamd.toml:2:14: daemon.log_target: expected one of auto, stderr, journald, got \"syslog\""});
  load_error("[daemon]\nlog_target = 1\n", {":2:14:", "daemon.log_target", "expected a string"});
  load_error("[daemon]\nlog_targt = \"auto\"\n", {"daemon.log_targt", "log_target"});
}

TEST(config_error, toml_syntax_error) {
  load_error("[cache]\nsize = = 5\n", {"roamd.toml:2:", "TOML syntax error: "});
  load_error("[cache]\nsize = 1\nsize = 2\n", {"roamd.toml:3:", "TOML syntax error: "});
  load_error("[listen]\naddresses = [\"127.0.0.1\"\n", {"roamd.toml:", "TOML syntax error: "});
}

TEST(config_error, toml_syntax_errors_that_trip_toml_plus_plus_assertions) {
  // toml++ 3.3 asserts on these (marzer/tomlplusplus#301); the loader must report them, not abort.
  load_error("[daemon]\n[,upstream]\n", {"roamd.toml:2:", "TOML syntax error: "});
  load_error("[daemon]\n[\n]\n", {"roamd.toml:2:", "TOML syntax error: "});
  load_error("[[[internal]]]\n", {"roamd.toml:1:", "TOML syntax error: "});
  load_error("[listen]\naddresses = [\"127.0.0.1\",}\n", {"roamd.toml:2:", "TOML syntax error: "});
  load_error("[cache]\nsize = 1979-05-27T:\n", {"roamd.toml:2:", "TOML syntax error: "});
}

TEST(config_error, the_first_problem_in_the_file_is_reported) {
  // Whichever order the loader checks sections and keys in, the problem nearest the top is the one reported.
  load_error("[upstream]\nattempts = 0\n[cache]\nsize = -1\n", {"roamd.toml:2:12: upstream.attempts"});
  load_error("[cache]\nsize = -1\n[upstream]\nattempts = 0\n", {"roamd.toml:2:8: cache.size"});
  load_error("[cache]\nmax_ttl = 0\nsize = -1\n", {"roamd.toml:2:11: cache.max_ttl"});
  load_error("[cache]\nsize = -1\nmax_ttl = 0\n", {"roamd.toml:2:8: cache.size"});
  load_error("[cache]\nsize = -1 # first\nbogus = 1\n", {"roamd.toml:2:8: cache.size"});
  load_error("[cache]\nbogus = 1\nsize = -1\n", {"roamd.toml:2:1: cache.bogus"});
}

TEST(config_error, messages_stay_on_one_line) {
  auto error = load_error("[cloud]\ndevice_id = \"\"\"ab\ncd\"\"\"\n",
                          {":2:13:", "cloud.device_id", "got \"ab\\u000acd\""});
  auto long_value = std::string(200, 'a');
  error = load_error("[daemon]\nlog_level = \"" + long_value + "\"\n", {"daemon.log_level", "\"..."});
  EXPECT_LT(error.size(), 200u) << error;
}

TEST(config_error, debug_port) {
  load_error("[debug]\ntcp = \"192.0.2.1:5380\"\n",
             {":2:7:", "debug.tcp", "\"192.0.2.1:5380\" is not a loopback address", "needs mutual TLS",
              "not set: tls_cert, tls_key, tls_client_ca"});
  load_error("[debug]\ntcp = \"0.0.0.0:5380\"\n", {"debug.tcp", "not a loopback address", "mutual TLS"});
  load_error("[debug]\ntcp = \"[::]:5380\"\n", {"debug.tcp", "not a loopback address"});
  load_error("[debug]\ntcp = \"127.0.0.1\"\n", {"debug.tcp", "\"IP:PORT\""});
  load_error("[debug]\ntcp = \"localhost:5380\"\n", {"debug.tcp", "\"IP:PORT\""});
  load_error("[debug]\ntcp = \"127.0.0.1:0\"\n", {"debug.tcp"});
  load_error("[debug]\nsocket = \"debug.sock\"\n", {"debug.socket", "absolute path"});
  load_error("[debug]\nsocket = \"/run/roamd/\"\n", {"debug.socket", "absolute path"});
  load_error("[debug]\nsocket = \"/" + std::string(120, 'a') + "\"\n", {"debug.socket", "107 bytes"});
  load_error("[debug]\nenabled = 1\n", {"debug.enabled", "true or false"});
  load_error("[debug]\nport = 5380\n", {"debug.port: unknown key"});
  load_error("[debug]\nrecent_queries = 10001\n", {"debug.recent_queries", "10000"});
  load_error("[debug]\nrecent_queries = -1\n", {"debug.recent_queries"});
}

TEST(config_error, debug_listeners_need_addresses_of_their_own) {
  load_error("[debug]\ntcp = \"127.0.0.1:9160\"\nmetrics = \"127.0.0.1:9160\"\n",
             {":3:11:", "debug.metrics", "\"127.0.0.1:9160\" is also debug.tcp"});
  load_error("[listen]\naddresses = [\"127.0.0.1:9161\"]\n[debug]\nmetrics = \"127.0.0.1:9161\"\n",
             {"debug.metrics", "is also a DNS listener"});
}

TEST(config_error, dnstap) {
  load_error("[dnstap]\nsocket = \"/run/dnstap.sock\"\nfile = \"/var/log/roamd.dnstap\"\n",
             {":3:8:", "dnstap.file", "both dnstap.socket and dnstap.file are set"});
  load_error("[dnstap]\nfile = \"roamd.dnstap\"\n", {"dnstap.file", "absolute path"});
  load_error("[dnstap]\nsocket = \"/" + std::string(120, 'a') + "\"\n", {"dnstap.socket", "107 bytes"});
  load_error("[dnstap]\nidentity = \"" + std::string(300, 'x') + "\"\n", {"dnstap.identity", "255 bytes"});
  load_error("[dnstap]\nclient_queries = \"yes\"\n", {"dnstap.client_queries", "true or false"});
  load_error("[dnstap]\nfiel = \"/x\"\n", {"dnstap.fiel: unknown key", "did you mean dnstap.file?"});
}

TEST(config_error, metrics_endpoint) {
  load_error("[debug]\nmetrics = \"192.0.2.1:9153\"\n",
             {":2:11:", "debug.metrics", "\"192.0.2.1:9153\" is not a loopback address", "no authentication",
              "loopback only"});
  load_error("[debug]\nmetrics = \"0.0.0.0:9153\"\n", {"debug.metrics", "not a loopback address"});
  load_error("[debug]\nmetrics = \"[::]:9153\"\n", {"debug.metrics", "not a loopback address"});
  load_error("[debug]\nmetrics = \"127.0.0.1\"\n", {"debug.metrics", "loopback \"IP:PORT\" such as \"127.0.0.1:9153\""});
  load_error("[debug]\nmetrics = \"localhost:9153\"\n", {"debug.metrics", "loopback \"IP:PORT\""});
  load_error("[debug]\nmetrics = \"127.0.0.1:0\"\n", {"debug.metrics"});
  load_error("[debug]\nmetrics = 9153\n", {"debug.metrics"});
  load_error("[debug]\nmetric = \"127.0.0.1:9153\"\n", {"debug.metric: unknown key (did you mean debug.metrics?)"});
}

TEST(config_error, debug_port_mutual_tls) {
  const std::string tls = "tls_cert = \"/etc/roamd/debug.pem\"\ntls_key = \"/etc/roamd/debug.key\"\n";
  // A non-loopback address with only part of the TLS files: the error names what is missing.
  load_error("[debug]\n" + tls + "tcp = \"192.0.2.1:5380\"\n",
             {"roamd.toml:2:12: debug.tls_cert: mutual TLS needs tls_cert, tls_key and tls_client_ca together; "
              "not set: tls_client_ca"});
  load_error("[debug]\ntls_key = \"/k.pem\"\ntcp = \"127.0.0.1:5380\"\n",
             {":2:11:", "debug.tls_key", "not set: tls_cert, tls_client_ca"});
  load_error("[debug]\ntcp = \"192.0.2.1:5380\"\ntls_client_ca = \"/ca.pem\"\n",
             {":2:7:", "debug.tcp", "not a loopback address", "not set: tls_cert, tls_key"});
  load_error("[debug]\ntls_cert = \"debug.pem\"\n", {":2:12:", "debug.tls_cert", "absolute path"});
  load_error("[debug]\ntls_client_ca = \"/etc/../ca.pem\"\n", {"debug.tls_client_ca", "absolute path"});
  load_error("[debug]\ntls_key = 5\n", {"debug.tls_key: expected a string"});
  // TLS without a TCP listener, names without TLS, names that are no names.
  load_error("[debug]\n" + tls + "tls_client_ca = \"/ca.pem\"\n",
             {":2:12:", "debug.tls_cert", "tcp is not set"});
  load_error("[debug]\ntcp = \"127.0.0.1:5380\"\ntls_client_names = [\"ops\"]\n",
             {":3:20:", "debug.tls_client_names", "only used with mutual TLS"});
  load_error("[debug]\ntls_client_names = \"ops\"\n", {"debug.tls_client_names", "expected an array"});
  load_error("[debug]\ntls_client_names = [\"ops\", \"two words\"]\n" + tls + "tls_client_ca = \"/ca.pem\"\n",
             {":2:28:", "debug.tls_client_names[1]", "certificate name"});
  load_error("[debug]\ntls_client_names = [\"\"]\n", {"debug.tls_client_names[0]", "certificate name"});
}

TEST(config_error, failure_leaves_the_output_untouched) {
  proto::Config out;
  out.set_source("previous");
  out.mutable_daemon()->set_workers(7);
  std::string error;
  EXPECT_FALSE(load_string("[daemon]\nworkers = 2\n[cache]\nsize = -1\n", "roamd.toml", out, error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(out.source(), "previous");
  EXPECT_EQ(out.daemon().workers(), 7u);
  EXPECT_FALSE(out.has_cache());
}

} // namespace
} // namespace roamd::config

namespace roamd::config {
namespace {

TEST(config_error, nxdomain_fallback_names_the_key_and_the_choices) {
  test::load_error("[upstream]\nnxdomain_fallback = \"sometimes\"\n",
                   {":2:21:", "upstream.nxdomain_fallback", "expected one of local-names, any, off"});
  auto r = test::load("[upstream]\nnxdomain_fallback = \"off\"\n");
  EXPECT_EQ(r.config.upstream().nxdomain_fallback(), "off");
}

TEST(config_error, network_values_name_the_key_and_the_reason) {
  using test::load_error;
  load_error("[network]\nfail_mode = \"sometimes\"\n", {":2:13:", "network.fail_mode", "expected one of open, closed"});
  load_error("[network]\ndetection = \"yes\"\n", {"network.detection", "true or false"});
  load_error("[network]\ntrusted_domain = \"not a domain!\"\n", {"network.trusted_domain", "domain name"});
  load_error("[network]\nprotected_probe_name = \"probe.example\"\nprotected_probe_address = \"300.1.2.3\"\n",
             {"network.protected_probe_address", "IPv4 or IPv6 address"});
  load_error("[network]\nprotected_probe_name = \"probe.example\"\n",
             {"network.protected_probe_name", "set both or neither"});
  load_error("[network]\nprobe_interval_ms = 10\n", {"network.probe_interval_ms"});
  load_error("[network]\nprobe_interval_ms = 20000\nstable_probe_interval_ms = 5000\n",
             {"network.stable_probe_interval_ms", "must not be shorter"});
  load_error("[network]\nfail_mod = \"open\"\n", {"network.fail_mod: unknown key (did you mean network.fail_mode?)"});
}

TEST(config_error, network_defaults_and_a_full_section) {
  auto d = test::load("");
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_TRUE(d.config.network().detection());
  EXPECT_EQ(d.config.network().fail_mode(), "open");
  EXPECT_EQ(d.config.network().probe_interval_ms(), 10'000u);
  EXPECT_EQ(d.config.network().stable_probe_interval_ms(), 60'000u);
  auto r = test::load("[network]\ndetection = false\nfail_mode = \"closed\"\ntrusted_domain = \"Corp.Example.\"\n"
                      "protected_probe_name = \"probe.example\"\nprotected_probe_address = \"203.0.113.7\"\n"
                      "probe_interval_ms = 5000\nstable_probe_interval_ms = 30000\nopen_probe_interval_ms = 1000\n");
  ASSERT_TRUE(r.ok) << r.error;
  const auto& n = r.config.network();
  EXPECT_FALSE(n.detection());
  EXPECT_EQ(n.fail_mode(), "closed");
  EXPECT_EQ(n.trusted_domain(), "corp.example");
  EXPECT_EQ(n.protected_probe_name(), "probe.example");
  EXPECT_EQ(n.protected_probe_address(), "203.0.113.7");
  EXPECT_EQ(n.probe_interval_ms(), 5000u);
  EXPECT_EQ(n.stable_probe_interval_ms(), 30000u);
  EXPECT_EQ(n.open_probe_interval_ms(), 1000u);
}

} // namespace
} // namespace roamd::config
