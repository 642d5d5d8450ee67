#include "tools/config/config_loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <system_error>

#include "tools/config/sections.hpp"
#include "tools/config/toml_reader.hpp"

namespace roamd::config {

namespace {

/// A configuration file larger than this is refused rather than read (e.g. a path pointing at a device).
constexpr size_t max_file_size = size_t{1} << 20;

/// Reads all of `path` into `text`; returns 0 or an errno value.
int read_file(const std::string& path, std::string& text) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"), &std::fclose};
  if (!file)
    return errno;
  char buffer[4096];
  for (;;) {
    errno = 0;
    auto n = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, n);
    if (text.size() > max_file_size)
      return EFBIG;
    if (n < sizeof buffer)
      return std::ferror(file.get()) ? (errno != 0 ? errno : EIO) : 0;
  }
}

std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

} // namespace

proto::Config defaults() {
  proto::Config config;
  config.mutable_listen()->add_addresses("127.0.2.53:53");
  config.mutable_cloud()->add_resolvers("208.67.222.222:53");
  config.mutable_cloud()->add_resolvers("208.67.220.220:53");
  config.mutable_cloud()->set_sync_interval_s(3'600);
  config.mutable_cloud()->set_sync_jitter_s(1'200);
  config.mutable_cloud()->set_heartbeat_interval_s(900);
  config.mutable_cloud()->set_api_timeout_ms(10'000);
  config.mutable_cloud()->set_transport("encrypted-with-fallback");
  auto* cache = config.mutable_cache();
  cache->set_size(10'000);
  cache->set_max_ttl(86'400);
  cache->set_negative_max_ttl(3'600);
  auto* upstream = config.mutable_upstream();
  upstream->set_timeout_ms(1'000);
  upstream->set_attempts(3);
  upstream->set_source_ports(4);
  upstream->set_down_after(3);
  upstream->set_probe_interval_ms(2'000);
  upstream->set_port_rotation_ms(1'000);
  upstream->set_nxdomain_fallback("local-names");
  auto* tcp = config.mutable_tcp();
  tcp->set_max_connections(256);
  tcp->set_idle_timeout_ms(10'000);
  auto* system = config.mutable_system();
  system->set_mode("auto");
  system->set_resolv_conf("/etc/resolv.conf");
  system->set_state_dir("/var/lib/roamd");
  system->set_canary_timeout_ms(5'000);
  auto* arbitration = config.mutable_arbitration();
  arbitration->set_contest_limit(3);
  arbitration->set_contest_window_ms(20'000);
  arbitration->set_quiet_ms(300);
  arbitration->set_cap_ms(3'000);
  arbitration->set_interception(true);
  arbitration->set_socket_mark(0x524f4d44);  // "ROMD"
  arbitration->set_yield_backoff_ms(5'000);
  arbitration->set_yield_backoff_max_ms(300'000);
  arbitration->set_link_settings_poll_ms(5'000);
  auto* network = config.mutable_network();
  network->set_detection(true);
  network->set_fail_mode("open");
  network->set_probe_interval_ms(10'000);
  network->set_stable_probe_interval_ms(60'000);
  network->set_open_probe_interval_ms(2'000);
  config.mutable_debug()->set_enabled(true);
  config.mutable_debug()->set_socket("/run/roamd/debug.sock");
  config.mutable_dnstap()->set_client_queries(true);
  config.mutable_dnstap()->set_client_responses(true);
  config.mutable_daemon()->set_workers(1);
  config.mutable_daemon()->set_log_level("info");
  config.mutable_daemon()->set_log_target("auto");
  return config;
}

bool load_string(std::string_view text, std::string_view source_name, proto::Config& out, std::string& error) {
  try {
    auto parsed = toml::parse(text, std::string_view{source_name});
    if (!parsed) {
      const auto& failure = parsed.error();
      auto where = failure.source().begin;
      error = one_line(std::string{source_name} + ':' + std::to_string(where.line) + ':' +
                       std::to_string(where.column) + ": TOML syntax error: " + std::string{failure.description()});
      return false;
    }
    auto config = defaults();
    config.set_source(std::string{source_name});
    detail::toml_reader reader;
    detail::read_document(reader, parsed.table(), config);
    if (reader.failed()) {
      error = reader.message(source_name);
      return false;
    }
    out = std::move(config);
    return true;
  } catch (const std::exception& e) {  // only std::bad_alloc is expected here
    error = one_line(std::string{source_name} + ": cannot load: " + e.what());
    return false;
  }
}

bool load_file(const std::string& path, proto::Config& out, std::string& error) {
  try {
    std::string text;
    if (int code = read_file(path, text); code != 0) {
      error = one_line(path + ": cannot read: " + std::generic_category().message(code));
      return false;
    }
    return load_string(text, path, out, error);
  } catch (const std::exception& e) {
    error = one_line(path + ": cannot load: " + e.what());
    return false;
  }
}

} // namespace roamd::config
