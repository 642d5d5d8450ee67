#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace roamd::os {

/// The result of running a helper program (resolvconf -u, systemctl, nmcli).
struct command_result {
  int exit_code = -1;   // -1 when it could not be started or was killed on timeout
  std::string output;   // stdout and stderr, capped
};

/// Runs helper programs; a fake records them in tests.
class command_runner {
public:
  virtual ~command_runner() = default;
  virtual command_result run(const std::vector<std::string>& argv) = 0;
};

/// fork/exec without a shell, stdin from /dev/null, killed after `timeout`.
std::unique_ptr<command_runner> make_process_runner(std::chrono::milliseconds timeout);

} // namespace roamd::os
