// roamd: the agent's entry point. Parses arguments and the configuration, then hands over to run_agent().
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/instance_lock.hpp"
#include "tools/config/config_loader.hpp"
#include "tools/logging/log_setup.hpp"
#include "tools/roamd/agent.hpp"

namespace {

constexpr const char* default_config = "/etc/roamd/roamd.toml";

/// The warning to give when the configuration carries a password (the API proxy's) in a file every user may read;
/// "" when not.
std::string exposed_secret(const roamd::proto::Config& cfg) {
  const auto& proxy = cfg.cloud().api_proxy();
  struct stat st {};
  if (proxy.find('@') == std::string::npos || cfg.source().empty() || ::stat(cfg.source().c_str(), &st) != 0 ||
      (st.st_mode & S_IROTH) == 0)
    return {};
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return "cloud.api_proxy carries a password and " + cfg.source() + " is readable by every user (mode " + mode +
         "): chmod o-r it";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"roamd: a roaming DNS-layer security agent (loopback DNS proxy with split routing and identity)"};
  std::string config_path = default_config;
  bool check_only = false;
  bool restore = false;
  bool if_stopped = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML)");
  auto* check = app.add_flag("--check-config", check_only, "validate the configuration, print the result and exit");
  auto* restore_flag = app.add_flag(
    "--restore", restore,
    "put back the resolver settings recorded in the takeover journal (and repair a copy of roamd's resolv.conf "
    "left naming a stopped roamd), then exit (0: restored or nothing to restore; 1 while roamd runs)");
  app.add_flag("--if-stopped", if_stopped,
               "with --restore: while roamd runs, do nothing and exit 0 (for the unit that repairs resolv.conf "
               "when it changes)")
    ->needs(restore_flag);
  check->excludes(restore_flag);
  app.set_version_flag("--version", "roamd " ROAMD_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  roamd::proto::Config cfg;
  std::string error;
  bool explicit_path = app.count("--config") > 0;
  if (!explicit_path && ::access(default_config, F_OK) != 0) {
    cfg = roamd::config::defaults();
  } else if (!roamd::config::load_file(config_path, cfg, error)) {
    if (!restore) {
      std::fprintf(stderr, "roamd: invalid configuration: %s\n", error.c_str());
      return 2;
    }
    // Giving the system its DNS back must not depend on a configuration someone broke since: restore from the
    // state_dir the file names if it can be found, else from the default one.
    std::fprintf(stderr, "roamd: invalid configuration (%s); restoring with the default state_dir\n", error.c_str());
    cfg = roamd::config::defaults();
  }
  auto exposed = exposed_secret(cfg);
  if (check_only) {
    std::printf("roamd: configuration %s is valid\n", cfg.source().empty() ? "(defaults)" : cfg.source().c_str());
    if (!exposed.empty())
      std::printf("roamd: warning: %s\n", exposed.c_str());
    return 0;
  }
  roamd::logging::setup(cfg.daemon().log_level(), cfg.daemon().log_target());
  // One roamd per state directory, before anything is opened or written: a second one (a manual run beside the
  // service, a double start) would share the journal and, stopping, restore the settings under the first.
  auto lock = roamd::os::instance_lock::acquire(cfg.system().state_dir());
  if (!lock.lock) {
    using refusal = roamd::os::instance_lock::refusal;
    if (restore && if_stopped && lock.why == refusal::held)
      return 0;  // roamd runs and owns the settings
    if (restore && lock.why == refusal::unavailable) {
      // roamd itself cannot run without the lock either, so nothing else restores now: go on.
      spdlog::warn("roamd: {}; restoring without the lock", lock.message);
    } else if (restore) {
      spdlog::error("roamd: not restoring: {}; it puts the settings back itself when it stops (systemctl stop roamd)",
                    lock.message);
      return 1;
    } else {
      spdlog::error("roamd: not starting: {}{}", lock.message,
                    lock.why == refusal::held ? " (is roamd already running? `systemctl status roamd`)" : "");
      return 1;
    }
  }
  if (!exposed.empty())
    spdlog::warn("roamd: {}", exposed);
  if (!explicit_path && cfg.source().empty())
    spdlog::info("roamd: no {} found, running with the built-in defaults", default_config);
  return restore ? roamd::run_restore(cfg) : roamd::run_agent(cfg);
}
